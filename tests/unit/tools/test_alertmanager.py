"""Alertmanager client and tools against httpx.MockTransport (no server)."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from tools.alertmanager import AlertmanagerIntegration, CreateSilenceArgs, Matcher
from tools.base import HealthState, ToolRegistry, ToolResult, ToolStatus
from tools.config import AlertmanagerConfig

BASE = "http://am.test:9093"
NOW = datetime(2026, 1, 10, 6, 0, tzinfo=UTC)

ALERT = {
    "fingerprint": "abc",
    "labels": {"alertname": "HighErrorRate", "service": "checkout"},
    "annotations": {"summary": "5xx above 5%"},
    "startsAt": "2026-01-10T03:02:00.000Z",
    "endsAt": "2026-01-10T06:10:00.000Z",
    "updatedAt": "2026-01-10T06:00:00.000Z",
    "generatorURL": "http://prom/graph",
    "receivers": [{"name": "pager"}],
    "status": {"state": "suppressed", "silencedBy": ["s-1"], "inhibitedBy": []},
}
SILENCE = {
    "id": "s-1",
    "status": {"state": "active"},
    "matchers": [{"name": "service", "value": "checkout", "isRegex": False, "isEqual": True}],
    "startsAt": "2026-01-10T05:00:00.000Z",
    "endsAt": "2026-01-10T07:00:00.000Z",
    "updatedAt": "2026-01-10T05:00:00.000Z",
    "createdBy": "alice",
    "comment": "deploy",
}


class Recorder:
    def __init__(self, answer: Callable[[httpx.Request], httpx.Response]) -> None:
        self.answer = answer
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return self.answer(request)


@pytest.fixture
async def make() -> Any:
    opened: list[AlertmanagerIntegration] = []

    def factory(
        answer: Callable[[httpx.Request], httpx.Response],
    ) -> tuple[AlertmanagerIntegration, Recorder]:
        recorder = Recorder(answer)
        integration = AlertmanagerIntegration(
            AlertmanagerConfig(base_url=BASE),
            transport=httpx.MockTransport(recorder),
            clock=lambda: NOW,
        )
        opened.append(integration)
        return integration, recorder

    yield factory
    for integration in opened:
        await integration.aclose()


async def run(integration: AlertmanagerIntegration, name: str, **args: Any) -> ToolResult:
    tool = next(t for t in integration.tools() if t.name == name)
    return await tool.run(args)


@pytest.mark.parametrize(
    ("text", "expected", "rendered"),
    [
        ('service="checkout"', Matcher(name="service", value="checkout"), 'service="checkout"'),
        ("service=checkout", Matcher(name="service", value="checkout"), 'service="checkout"'),
        ('env != "dev"', Matcher(name="env", value="dev", is_equal=False), 'env!="dev"'),
        (
            'severity=~"crit.*|page"',
            Matcher(name="severity", value="crit.*|page", is_regex=True),
            'severity=~"crit.*|page"',
        ),
        (
            'team!~"a"',
            Matcher(name="team", value="a", is_regex=True, is_equal=False),
            'team!~"a"',
        ),
        ('msg="say \\"hi\\""', Matcher(name="msg", value='say "hi"'), 'msg="say \\"hi\\""'),
    ],
)
def test_matcher_parse_and_render(text: str, expected: Matcher, rendered: str) -> None:
    parsed = Matcher.parse(text)
    assert parsed == expected
    assert str(parsed) == rendered
    assert Matcher.parse(str(parsed)) == parsed


@pytest.mark.parametrize("text", ["", "service", '="x"', "1abc=x", "a b"])
def test_matcher_parse_rejects_garbage(text: str) -> None:
    with pytest.raises(ValueError):
        Matcher.parse(text)


async def test_list_alerts_sends_filters_and_flattens_status(make: Any) -> None:
    integration, recorder = make(lambda _: httpx.Response(200, json=[ALERT]))
    result = await run(
        integration,
        "alertmanager_list_alerts",
        filters=["service=checkout"],
        active=False,
        receiver="pager",
    )
    params = recorder.requests[0].url.params
    assert recorder.requests[0].url.path == "/api/v2/alerts"
    assert params.get_list("filter") == ['service="checkout"']
    assert (params["active"], params["silenced"], params["inhibited"]) == ("false", "true", "true")
    assert params["receiver"] == "pager"
    assert result.status is ToolStatus.OK
    assert result.source == f"alertmanager {BASE}"
    [alert] = result.data["alerts"]
    assert alert["state"] == "suppressed"
    assert alert["silenced_by"] == ["s-1"]
    assert alert["receivers"] == ["pager"]
    assert alert["starts_at"] == "2026-01-10T03:02:00Z"
    assert result.data["by_state"] == {"suppressed": 1}


async def test_list_alerts_empty_is_no_data_and_bad_filter_is_invalid(make: Any) -> None:
    integration, recorder = make(lambda _: httpx.Response(200, json=[]))
    empty = await run(integration, "alertmanager_list_alerts", filters=['service="x"'])
    assert empty.status is ToolStatus.NO_DATA
    bad = await run(integration, "alertmanager_list_alerts", filters=["not a matcher"])
    assert bad.status is ToolStatus.ERROR
    assert bad.error is not None
    assert "invalid matcher" in bad.error
    assert len(recorder.requests) == 1


async def test_list_silences_hides_expired_unless_asked(make: Any) -> None:
    expired = {**SILENCE, "id": "s-0", "status": {"state": "expired"}}
    integration, _ = make(lambda _: httpx.Response(200, json=[SILENCE, expired]))
    current = await run(integration, "alertmanager_list_silences")
    assert [s["id"] for s in current.data["silences"]] == ["s-1"]
    assert current.data["silences"][0]["matchers"] == ['service="checkout"']
    everything = await run(integration, "alertmanager_list_silences", include_expired=True)
    assert [s["id"] for s in everything.data["silences"]] == ["s-1", "s-0"]


async def test_create_silence_payload_uses_clock_and_duration(make: Any) -> None:
    integration, recorder = make(lambda _: httpx.Response(200, json={"silenceID": "new-id"}))
    result = await run(
        integration,
        "alertmanager_create_silence",
        matchers=['alertname="HighErrorRate"', 'service=~"check.*"'],
        duration="2h",
        created_by="alice",
        comment="INC-42",
    )
    assert result.status is ToolStatus.OK, result.describe()
    request = recorder.requests[0]
    assert (request.method, request.url.path) == ("POST", "/api/v2/silences")
    body = json.loads(request.content)
    assert body == {
        "matchers": [
            {"name": "alertname", "value": "HighErrorRate", "isRegex": False, "isEqual": True},
            {"name": "service", "value": "check.*", "isRegex": True, "isEqual": True},
        ],
        "startsAt": "2026-01-10T06:00:00.000Z",
        "endsAt": "2026-01-10T08:00:00.000Z",
        "createdBy": "alice",
        "comment": "INC-42",
    }
    assert result.data["silence_id"] == "new-id"
    assert result.time_range is not None
    assert result.time_range.end == NOW + timedelta(hours=2)


async def test_create_silence_with_explicit_window_and_inverted_window(make: Any) -> None:
    integration, recorder = make(lambda _: httpx.Response(200, json={"silenceID": "x"}))
    ok = await run(
        integration,
        "alertmanager_create_silence",
        matchers=["a=b"],
        starts_at="now+1h",
        ends_at="2026-01-10T09:00:00Z",
        created_by="a",
        comment="c",
    )
    assert json.loads(recorder.requests[0].content)["startsAt"] == "2026-01-10T07:00:00.000Z"
    assert ok.status is ToolStatus.OK
    inverted = await run(
        integration,
        "alertmanager_create_silence",
        matchers=["a=b"],
        ends_at="now-1h",
        created_by="a",
        comment="c",
    )
    assert inverted.status is ToolStatus.ERROR
    assert len(recorder.requests) == 1


def test_create_silence_args_validation() -> None:
    with pytest.raises(ValueError):
        CreateSilenceArgs(matchers=[], created_by="a", comment="c")
    with pytest.raises(ValueError):
        CreateSilenceArgs(matchers=["a=b"], created_by="", comment="c")
    with pytest.raises(ValueError):
        CreateSilenceArgs(matchers=["a=b"], created_by="a", comment="c", duration="0s")
    with pytest.raises(ValueError):
        CreateSilenceArgs(matchers=["a=b"], created_by="a", comment="c", ends_at="soon")


async def test_expire_silence_quotes_the_id_and_maps_upstream_errors(make: Any) -> None:
    integration, recorder = make(lambda _: httpx.Response(500, json="silence not found"))
    result = await run(integration, "alertmanager_expire_silence", silence_id="a/../b")
    assert recorder.requests[0].method == "DELETE"
    assert recorder.requests[0].url.raw_path == b"/api/v2/silence/a%2F..%2Fb"
    assert result.status is ToolStatus.ERROR
    assert result.upstream_status == 500
    assert result.error is not None
    assert result.error.endswith(": silence not found")


async def test_mutating_tools_are_declared_and_refused_by_the_registry(make: Any) -> None:
    integration, recorder = make(lambda _: httpx.Response(200, json={}))
    flags = {t.name: t.mutating for t in integration.tools()}
    assert flags == {
        "alertmanager_list_alerts": False,
        "alertmanager_list_silences": False,
        "alertmanager_create_silence": True,
        "alertmanager_expire_silence": True,
    }
    registry = ToolRegistry(integrations=[integration])
    result = await registry.run("alertmanager_expire_silence", {"silence_id": "s-1"})
    assert result.status is ToolStatus.APPROVAL_REQUIRED
    assert recorder.requests == []


async def test_health_reports_version(make: Any) -> None:
    status = {"versionInfo": {"version": "0.25.0"}, "cluster": {"status": "disabled"}}
    integration, _ = make(lambda _: httpx.Response(200, json=status))
    health = await integration.health()
    assert health.state is HealthState.HEALTHY
    assert health.reason == f"Alertmanager 0.25.0 at {BASE}"
    unconfigured = AlertmanagerIntegration(AlertmanagerConfig())
    assert (await unconfigured.health()).state is HealthState.NOT_CONFIGURED


async def test_unexpected_body_is_an_error(make: Any) -> None:
    integration, _ = make(lambda _: httpx.Response(200, json={"oops": 1}))
    result = await run(integration, "alertmanager_list_alerts")
    assert result.status is ToolStatus.ERROR
    assert result.error == f"unexpected answer from {BASE}/api/v2/alerts: expected a JSON list"
