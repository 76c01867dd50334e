"""PagerDuty tools through the real ``pagerduty`` client against the HTTPS loopback stub."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest
from pydantic import SecretStr

from tests.servers.process import free_port
from tests.stubs.pagerduty_api import STUB_TOKEN, PagerDutyStub, serve_pagerduty_stub
from tools.base import HealthState, Integration, Tool, ToolRegistry, ToolStatus
from tools.config import PagerDutyConfig
from tools.pagerduty import PagerDutyIntegration

FROM = "oncall@example.com"


@pytest.fixture(scope="module")
def pd_server() -> Iterator[PagerDutyStub]:
    with serve_pagerduty_stub() as stub:
        yield stub


@pytest.fixture
def stub(pd_server: PagerDutyStub) -> PagerDutyStub:
    pd_server.reset()
    return pd_server


@pytest.fixture
async def make_integration() -> AsyncIterator[Callable[[PagerDutyConfig], PagerDutyIntegration]]:
    made: list[PagerDutyIntegration] = []

    def make(config: PagerDutyConfig) -> PagerDutyIntegration:
        made.append(PagerDutyIntegration(config))
        return made[-1]

    yield make
    for integration in made:
        await integration.aclose()


@pytest.fixture
def pagerduty(
    stub: PagerDutyStub, make_integration: Callable[[PagerDutyConfig], PagerDutyIntegration]
) -> PagerDutyIntegration:
    return make_integration(stub.config(from_email=FROM))


def tool(integration: PagerDutyIntegration, name: str) -> Tool[Any]:
    return next(t for t in integration.tools() if t.name == name)


async def test_pagerduty_health_accepts_token(
    pagerduty: PagerDutyIntegration, stub: PagerDutyStub
) -> None:
    health = await pagerduty.health()

    assert health.state is HealthState.HEALTHY, health.reason
    [request] = stub.requests
    assert (request.method, request.path) == ("GET", "/abilities")
    assert request.headers["authorization"] == f"Token token={STUB_TOKEN}"
    assert request.headers["accept"] == "application/vnd.pagerduty+json;version=2"


async def test_pagerduty_not_configured_makes_no_call() -> None:
    integration = PagerDutyIntegration(PagerDutyConfig())

    health = await integration.health()

    assert not integration.configured
    assert health.state is HealthState.NOT_CONFIGURED
    assert len(integration.tools()) == 9


def test_pagerduty_tools_catalogue() -> None:
    integration = PagerDutyIntegration(PagerDutyConfig())

    tools = {t.name: t for t in integration.tools()}

    assert set(tools) == {
        "pagerduty_list_incidents",
        "pagerduty_get_incident",
        "pagerduty_list_log_entries",
        "pagerduty_list_notes",
        "pagerduty_list_incident_alerts",
        "pagerduty_list_oncalls",
        "pagerduty_list_services",
        "pagerduty_list_change_events",
        "pagerduty_add_note",
    }
    assert isinstance(integration, Integration)
    assert [n for n, t in tools.items() if t.mutating] == ["pagerduty_add_note"]
    assert all(t.integration == "pagerduty" and t.summary for t in tools.values())


async def test_pagerduty_list_incidents_follows_every_page(
    pagerduty: PagerDutyIntegration, stub: PagerDutyStub
) -> None:
    stub.max_page_size = 3

    result = await tool(pagerduty, "pagerduty_list_incidents").run({"statuses": [], "limit": 100})

    assert result.status is ToolStatus.OK, result.error
    assert [i["id"] for i in result.data] == [
        "PGHI301",
        "PABC124",
        "PABC123",
        "PABC125",
        "PDEF203",
        "PDEF202",
        "PDEF201",
    ]
    pages = stub.requests_to("/incidents")
    assert [p.param("offset") for p in pages] == ["0", "3", "6"]
    assert all(p.param("sort_by") == "created_at:desc" for p in pages)
    assert result.query == "GET /incidents?sort_by=created_at:desc"
    assert result.source == f"pagerduty {stub.base_url}"


async def test_pagerduty_list_incidents_stops_at_limit(
    pagerduty: PagerDutyIntegration, stub: PagerDutyStub
) -> None:
    stub.max_page_size = 2

    result = await tool(pagerduty, "pagerduty_list_incidents").run({"statuses": [], "limit": 3})

    assert [i["number"] for i in result.data] == [1044, 1043, 1042]
    assert len(stub.requests_to("/incidents")) == 2


async def test_pagerduty_list_incidents_filters_and_compacts(
    pagerduty: PagerDutyIntegration, stub: PagerDutyStub
) -> None:
    args = {
        "service_ids": ["PSVC001"],
        "since": "2026-03-02T09:00:00Z",
        "until": "2026-03-02T10:00:00Z",
    }

    result = await tool(pagerduty, "pagerduty_list_incidents").run(args)

    assert result.status is ToolStatus.OK, result.error
    assert result.data[1] == {
        "id": "PABC123",
        "number": 1042,
        "title": "High 5xx rate on checkout-api",
        "status": "triggered",
        "urgency": "high",
        "priority": "P1",
        "service": "checkout-api",
        "service_id": "PSVC001",
        "escalation_policy": "Checkout On-Call",
        "assignees": ["Alice Martin"],
        "created_at": "2026-03-02T09:14:07Z",
        "last_status_change_at": "2026-03-02T09:14:07Z",
        "html_url": "https://acme.pagerduty.com/incidents/PABC123",
    }
    [request] = stub.requests_to("/incidents")
    assert request.query["statuses[]"] == ["triggered", "acknowledged"]
    assert request.query["service_ids[]"] == ["PSVC001"]
    assert request.param("since") == "2026-03-02T09:00:00Z"
    assert result.query is not None and "service_ids[]=PSVC001" in result.query
    assert result.time_range is not None


async def test_pagerduty_list_incidents_no_match_is_no_data(
    pagerduty: PagerDutyIntegration,
) -> None:
    result = await tool(pagerduty, "pagerduty_list_incidents").run({"service_ids": ["PNONE99"]})

    assert result.status is ToolStatus.NO_DATA
    assert result.error == "no incident matched"
    assert result.data == []


async def test_pagerduty_get_incident_details(pagerduty: PagerDutyIntegration) -> None:
    result = await tool(pagerduty, "pagerduty_get_incident").run({"incident_id": "PABC124"})

    assert result.status is ToolStatus.OK, result.error
    assert result.data["acknowledged_by"] == ["Bob Okafor"]
    assert result.data["alert_counts"]["all"] == 2
    assert result.query == "GET /incidents/PABC124"


async def test_pagerduty_get_unknown_incident_is_404_error(
    pagerduty: PagerDutyIntegration,
) -> None:
    result = await tool(pagerduty, "pagerduty_get_incident").run({"incident_id": "PNOPE00"})

    assert result.status is ToolStatus.ERROR
    assert result.upstream_status == 404
    assert "GET /incidents/PNOPE00" in (result.error or "")


async def test_pagerduty_rejects_malformed_incident_id(
    pagerduty: PagerDutyIntegration, stub: PagerDutyStub
) -> None:
    result = await tool(pagerduty, "pagerduty_get_incident").run({"incident_id": "../users"})

    assert result.status is ToolStatus.ERROR
    assert (result.error or "").startswith("invalid arguments: incident_id")
    assert stub.requests == []


@pytest.mark.parametrize(
    ("name", "args", "path", "key", "expected"),
    [
        (
            "pagerduty_list_log_entries",
            {"incident_id": "PABC123"},
            "/incidents/PABC123/log_entries",
            "type",
            ["trigger", "notify", "escalate", "annotate"],
        ),
        (
            "pagerduty_list_notes",
            {"incident_id": "PABC123"},
            "/incidents/PABC123/notes",
            "user",
            ["Bob Okafor"],
        ),
        (
            "pagerduty_list_incident_alerts",
            {"incident_id": "PABC123"},
            "/incidents/PABC123/alerts",
            "severity",
            ["critical", "error"],
        ),
        (
            "pagerduty_list_oncalls",
            {"escalation_policy_ids": ["PEP0002"]},
            "/oncalls",
            "user",
            ["Bob Okafor", "Dave Schmidt"],
        ),
        ("pagerduty_list_services", {"query": "pay"}, "/services", "name", ["payments-db"]),
        (
            "pagerduty_list_change_events",
            {"service_id": "PSVC001"},
            "/services/PSVC001/change_events",
            "id",
            ["PCE0001"],
        ),
        (
            "pagerduty_list_change_events",
            {"since": "2026-03-02T00:00:00Z", "until": "2026-03-02T12:00:00Z"},
            "/change_events",
            "id",
            ["PCE0002", "PCE0001"],
        ),
    ],
)
async def test_pagerduty_read_tools(
    pagerduty: PagerDutyIntegration,
    stub: PagerDutyStub,
    name: str,
    args: dict[str, Any],
    path: str,
    key: str,
    expected: list[str],
) -> None:
    result = await tool(pagerduty, name).run(args)

    assert result.status is ToolStatus.OK, result.error
    assert [item[key] for item in result.data] == expected
    assert len(stub.requests_to(path)) == 1
    assert result.query is not None and result.query.startswith(f"GET {path}")


async def test_pagerduty_rate_limit_honours_retry_after_then_succeeds(
    pagerduty: PagerDutyIntegration, stub: PagerDutyStub, caplog: pytest.LogCaptureFixture
) -> None:
    stub.fail_next("/incidents/PABC123", status=429, retry_after="1")

    with caplog.at_level(logging.WARNING, logger="pagerduty"):
        result = await tool(pagerduty, "pagerduty_get_incident").run({"incident_id": "PABC123"})

    assert result.status is ToolStatus.OK, result.error
    assert [r.status for r in stub.requests_to("/incidents/PABC123")] == [429, 200]
    # the library's own retry log line shows the wait it used: the server's Retry-After
    assert "HTTP error (429); retrying in 1 seconds" in caplog.text


async def test_pagerduty_rate_limit_exhausted_is_an_error(
    pagerduty: PagerDutyIntegration, stub: PagerDutyStub
) -> None:
    stub.fail_next("/services", status=429, times=10, retry_after="0")

    result = await tool(pagerduty, "pagerduty_list_services").run({})

    assert result.status is ToolStatus.ERROR
    assert result.upstream_status == 429
    assert "after 3 retries" in (result.error or "")
    assert len(stub.requests_to("/services")) == 4  # first try + 3 retries


async def test_pagerduty_token_refused(
    stub: PagerDutyStub, make_integration: Callable[[PagerDutyConfig], PagerDutyIntegration]
) -> None:
    integration = make_integration(stub.config(api_token=SecretStr("not-the-token")))

    result = await tool(integration, "pagerduty_list_incidents").run({})
    health = await integration.health()

    assert result.status is ToolStatus.ERROR
    assert result.upstream_status == 401
    assert "refused the API token" in (result.error or "")
    assert "not-the-token" not in (result.error or "")
    assert [r.status for r in stub.requests_to("/incidents")] == [401]  # never retried
    assert health.state is HealthState.UNHEALTHY
    assert "401" in health.reason


async def test_pagerduty_server_error_names_status(
    pagerduty: PagerDutyIntegration, stub: PagerDutyStub
) -> None:
    stub.fail_next("/incidents/PABC123/alerts", status=500)

    result = await tool(pagerduty, "pagerduty_list_incident_alerts").run({"incident_id": "PABC123"})

    assert result.status is ToolStatus.ERROR
    assert result.upstream_status == 500
    assert "HTTP 500" in (result.error or "")
    assert result.query == "GET /incidents/PABC123/alerts"
    assert len(stub.requests_to("/incidents/PABC123/alerts")) == 1


async def test_pagerduty_connection_refused_names_url(
    make_integration: Callable[[PagerDutyConfig], PagerDutyIntegration],
) -> None:
    base_url = f"https://127.0.0.1:{free_port()}"
    integration = make_integration(
        PagerDutyConfig(api_token=SecretStr(STUB_TOKEN), base_url=base_url)
    )

    result = await tool(integration, "pagerduty_list_services").run({})
    health = await integration.health()

    assert result.status is ToolStatus.ERROR
    assert result.upstream_status is None
    assert f"cannot reach PagerDuty at {base_url}" in (result.error or "")
    assert result.source == f"pagerduty {base_url}"
    assert health.state is HealthState.UNHEALTHY


async def test_pagerduty_untrusted_certificate_is_refused(
    stub: PagerDutyStub, make_integration: Callable[[PagerDutyConfig], PagerDutyIntegration]
) -> None:
    integration = make_integration(stub.config(ca_bundle=None))

    result = await tool(integration, "pagerduty_list_services").run({})

    assert result.status is ToolStatus.ERROR
    assert "CERTIFICATE_VERIFY_FAILED" in (result.error or "")
    assert stub.requests == []


async def test_pagerduty_plain_http_base_url_is_a_config_error(
    make_integration: Callable[[PagerDutyConfig], PagerDutyIntegration],
) -> None:
    config = PagerDutyConfig(api_token=SecretStr(STUB_TOKEN), base_url="http://127.0.0.1:9")
    integration = make_integration(config)

    result = await tool(integration, "pagerduty_list_services").run({})
    health = await integration.health()

    assert result.status is ToolStatus.ERROR
    assert "https" in (result.error or "")
    assert health.state is HealthState.UNHEALTHY


async def test_pagerduty_add_note_posts_body_with_from_header(
    pagerduty: PagerDutyIntegration, stub: PagerDutyStub
) -> None:
    add_note = tool(pagerduty, "pagerduty_add_note")
    text = "SRE Copilot: rollback of checkout-api 2026.03.02-1 approved by @alice."

    result = await add_note.run({"incident_id": "PABC123", "content": text})

    assert add_note.mutating
    assert result.status is ToolStatus.OK, result.error
    assert result.data["content"] == text
    [request] = stub.requests_to("/incidents/PABC123/notes", method="POST")
    assert request.body == {"note": {"content": text}}
    assert request.headers["from"] == FROM
    assert request.headers["content-type"] == "application/json"
    assert request.headers["authorization"] == f"Token token={STUB_TOKEN}"
    assert result.query == "POST /incidents/PABC123/notes"
    notes = await tool(pagerduty, "pagerduty_list_notes").run({"incident_id": "PABC123"})
    assert notes.data[-1]["content"] == text


async def test_pagerduty_add_note_needs_from_email(
    stub: PagerDutyStub, make_integration: Callable[[PagerDutyConfig], PagerDutyIntegration]
) -> None:
    integration = make_integration(stub.config())

    result = await tool(integration, "pagerduty_add_note").run(
        {"incident_id": "PABC123", "content": "hello"}
    )

    assert result.status is ToolStatus.ERROR
    assert "from_email" in (result.error or "")
    assert stub.requests == []


async def test_pagerduty_registry_never_runs_add_note(
    pagerduty: PagerDutyIntegration, stub: PagerDutyStub
) -> None:
    registry = ToolRegistry(integrations=[pagerduty])
    await registry.refresh_health()

    result = await registry.run("pagerduty_add_note", {"incident_id": "PABC123", "content": "x"})

    assert result.status is ToolStatus.APPROVAL_REQUIRED
    assert "pagerduty_add_note" not in {t.name for t in registry.read_only_tools()}
    assert stub.requests_to("/incidents/PABC123/notes", method="POST") == []
