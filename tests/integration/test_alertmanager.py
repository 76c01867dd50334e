"""Alertmanager tools against a real Alertmanager fed by a real Prometheus."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from tests.servers.process import ServerProcess
from tests.servers.prometheus import ALWAYS_FIRING_ALERT, ALWAYS_FIRING_LABELS
from tools.alertmanager import AlertmanagerIntegration
from tools.base import HealthState, ToolRegistry, ToolResult, ToolStatus
from tools.config import AlertmanagerConfig

pytestmark = pytest.mark.integration


@pytest.fixture
async def alertmanager(
    alertmanager_server: ServerProcess,
) -> AsyncIterator[AlertmanagerIntegration]:
    integration = AlertmanagerIntegration(AlertmanagerConfig(base_url=alertmanager_server.url))
    yield integration
    await integration.aclose()


async def run(integration: AlertmanagerIntegration, name: str, **args: Any) -> ToolResult:
    tool = next(t for t in integration.tools() if t.name == name)
    return await tool.run(args)


async def eventually(check: Callable[[], Awaitable[bool]], *, attempts: int = 150) -> None:
    """Poll ``check`` (every 0.2 s) until it holds; fail after ``attempts`` tries."""
    for _ in range(attempts):
        if await check():
            return
        await asyncio.sleep(0.2)
    pytest.fail("condition never became true")


async def post_alert(url: str, labels: dict[str, str]) -> None:
    """Push an alert the way Prometheus does (API v2), for tests that need their own alert."""
    now = datetime.now(UTC)
    alert = {
        "labels": labels,
        "annotations": {"summary": "posted by the test"},
        "startsAt": now.isoformat(),
        "endsAt": (now + timedelta(minutes=10)).isoformat(),
    }
    async with httpx.AsyncClient(base_url=url) as client:
        response = await client.post("/api/v2/alerts", json=[alert])
        response.raise_for_status()


async def test_health_is_healthy_with_version(alertmanager: AlertmanagerIntegration) -> None:
    health = await alertmanager.health()
    assert health.state is HealthState.HEALTHY
    assert health.reason.startswith("Alertmanager 0.")


async def test_prometheus_fired_alert_is_listed(
    alertmanager: AlertmanagerIntegration,
    alertmanager_server: ServerProcess,
    prometheus_server: ServerProcess,
) -> None:
    matcher = f'alertname="{ALWAYS_FIRING_ALERT}"'
    seen: list[ToolResult] = []

    async def listed() -> bool:
        result = await run(alertmanager, "alertmanager_list_alerts", filters=[matcher])
        seen.append(result)
        return result.ok

    await eventually(listed)
    result = seen[-1]
    assert result.source == f"alertmanager {alertmanager_server.url}"
    assert matcher in (result.query or "")
    [alert] = result.data["alerts"]
    assert alert["labels"] == {"alertname": ALWAYS_FIRING_ALERT, **ALWAYS_FIRING_LABELS}
    assert alert["state"] == "active"
    assert alert["receivers"] == ["blackhole"]
    assert alert["generator_url"].startswith(prometheus_server.url)
    assert result.data["by_state"] == {"active": 1}


async def test_silence_create_list_suppress_expire(
    alertmanager: AlertmanagerIntegration, alertmanager_server: ServerProcess
) -> None:
    alertname = f"CopilotSilenceTest{uuid.uuid4().hex[:8]}"
    await post_alert(alertmanager_server.url, {"alertname": alertname, "service": "payments"})
    created = await run(
        alertmanager,
        "alertmanager_create_silence",
        matchers=[f'alertname="{alertname}"', 'service=~"pay.*"'],
        duration="2h",
        created_by="sre-copilot tests",
        comment="silence lifecycle test",
    )
    assert created.status is ToolStatus.OK, created.describe()
    silence_id = created.data["silence_id"]
    assert created.time_range is not None
    assert created.time_range.end - created.time_range.start == timedelta(hours=2)
    assert created.data["url"] == f"{alertmanager_server.url}/#/silences/{silence_id}"

    listed = await run(
        alertmanager, "alertmanager_list_silences", filters=[f'alertname="{alertname}"']
    )
    assert listed.status is ToolStatus.OK, listed.describe()
    [silence] = listed.data["silences"]
    assert silence["id"] == silence_id
    assert silence["state"] == "active"
    assert silence["created_by"] == "sre-copilot tests"
    assert sorted(silence["matchers"]) == [f'alertname="{alertname}"', 'service=~"pay.*"']

    async def suppressed() -> bool:
        result = await run(
            alertmanager,
            "alertmanager_list_alerts",
            filters=[f'alertname="{alertname}"'],
            active=False,
        )
        return result.ok and result.data["alerts"][0]["silenced_by"] == [silence_id]

    await eventually(suppressed)

    expired = await run(alertmanager, "alertmanager_expire_silence", silence_id=silence_id)
    assert expired.status is ToolStatus.OK, expired.describe()
    assert expired.query == f"DELETE /api/v2/silence/{silence_id}"

    current = await run(
        alertmanager, "alertmanager_list_silences", filters=[f'alertname="{alertname}"']
    )
    assert current.status is ToolStatus.NO_DATA
    history = await run(
        alertmanager,
        "alertmanager_list_silences",
        filters=[f'alertname="{alertname}"'],
        include_expired=True,
    )
    assert [s["state"] for s in history.data["silences"]] == ["expired"]
    assert (await alertmanager.client.silence(silence_id)).state == "expired"


async def test_client_methods_create_and_expire(alertmanager: AlertmanagerIntegration) -> None:
    now = datetime.now(UTC)
    silence_id = await alertmanager.client.create_silence(
        matchers=['alertname="CopilotClientTest"'],
        starts_at=now,
        ends_at=now + timedelta(minutes=5),
        created_by="tests",
        comment="client method",
    )
    silences = await alertmanager.client.silences(filters=['alertname="CopilotClientTest"'])
    assert silence_id in {s.id for s in silences if s.state == "active"}
    await alertmanager.client.expire_silence(silence_id)
    assert (await alertmanager.client.silence(silence_id)).state == "expired"


async def test_registry_refuses_to_run_mutating_tools(
    alertmanager: AlertmanagerIntegration,
) -> None:
    registry = ToolRegistry(integrations=[alertmanager])
    await registry.refresh_health()
    result = await registry.run(
        "alertmanager_create_silence",
        {"matchers": ['alertname="X"'], "created_by": "llm", "comment": "please"},
    )
    assert result.status is ToolStatus.APPROVAL_REQUIRED
    assert {t.name for t in registry.read_only_tools()} == {
        "alertmanager_list_alerts",
        "alertmanager_list_silences",
    }
    silences = await alertmanager.client.silences(filters=['alertname="X"'])
    assert silences == []


async def test_no_matching_alerts_is_no_data(alertmanager: AlertmanagerIntegration) -> None:
    result = await run(alertmanager, "alertmanager_list_alerts", filters=['alertname="Nope"'])
    assert result.status is ToolStatus.NO_DATA
    assert result.error is not None
    assert 'alertname="Nope"' in result.error


async def test_upstream_refusals_carry_status_and_message(
    alertmanager: AlertmanagerIntegration,
) -> None:
    match_all = await run(
        alertmanager,
        "alertmanager_create_silence",
        matchers=['alertname=~".*"'],
        created_by="tests",
        comment="too broad",
    )
    assert match_all.status is ToolStatus.ERROR
    assert match_all.upstream_status == 400
    assert match_all.error is not None
    assert "at least one matcher must not match the empty string" in match_all.error

    unknown = await run(
        alertmanager, "alertmanager_expire_silence", silence_id=str(uuid.UUID(int=0))
    )
    assert unknown.status is ToolStatus.ERROR
    assert unknown.upstream_status == 500
    assert unknown.error is not None
    assert "silence not found" in unknown.error

    not_uuid = await run(alertmanager, "alertmanager_expire_silence", silence_id="not-a-uuid")
    assert not_uuid.upstream_status == 422


async def test_dead_server_is_an_error_naming_the_url(dead_url: str) -> None:
    integration = AlertmanagerIntegration(AlertmanagerConfig(base_url=dead_url))
    try:
        result = await run(integration, "alertmanager_list_alerts")
        health = await integration.health()
    finally:
        await integration.aclose()
    assert result.status is ToolStatus.ERROR
    assert result.error == f"cannot connect to {dead_url}/api/v2/alerts: connection refused"
    assert health.state is HealthState.UNHEALTHY


async def test_slow_server_is_a_timeout_error(slow_server: Any) -> None:
    integration = AlertmanagerIntegration(
        AlertmanagerConfig(base_url=slow_server.url, timeout_s=0.3)
    )
    try:
        result = await run(integration, "alertmanager_list_silences")
    finally:
        await integration.aclose()
    assert result.status is ToolStatus.ERROR
    assert result.error == (
        f"timeout: no answer from {slow_server.url}/api/v2/silences within 0.3s (read timeout)"
    )
