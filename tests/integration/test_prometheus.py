"""Prometheus tools against a real Prometheus backfilled with tests/fixtures/prometheus/*.om.

All data queries use explicit times inside the fixture window (2026-01-10 00:00..06:00 UTC),
so the asserted values are exact (see the shapes in generate.py).
"""

from __future__ import annotations

import asyncio
import importlib.util
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta
from typing import Any

import pytest

from tests.servers.process import ServerProcess
from tests.servers.prometheus import (
    ALWAYS_FIRING_ALERT,
    FIXTURE_DIR,
    FIXTURE_END,
    FIXTURE_START,
    INCIDENT_START,
)
from tools.base import HealthState, ToolResult, ToolStatus
from tools.config import PrometheusConfig
from tools.prometheus import PrometheusIntegration

pytestmark = pytest.mark.integration

CHECKOUT_BY_CODE = 'sum by (code) (rate(http_requests_total{service="checkout"}[5m]))'


@pytest.fixture
async def prometheus(prometheus_server: ServerProcess) -> AsyncIterator[PrometheusIntegration]:
    integration = PrometheusIntegration(PrometheusConfig(base_url=prometheus_server.url))
    yield integration
    await integration.aclose()


async def run(integration: PrometheusIntegration, name: str, **args: Any) -> ToolResult:
    tool = next(t for t in integration.tools() if t.name == name)
    return await tool.run(args)


async def eventually(check: Callable[[], Awaitable[bool]], *, attempts: int = 150) -> None:
    """Poll ``check`` (every 0.2 s) until it holds; fail after ``attempts`` tries."""
    for _ in range(attempts):
        if await check():
            return
        await asyncio.sleep(0.2)
    pytest.fail("condition never became true")


def _by_code(result: ToolResult) -> dict[str, dict[float, float]]:
    return {s["metric"]["code"]: dict(s["values"]) for s in result.data["series"]}


def test_fixture_files_match_generator() -> None:
    spec = importlib.util.spec_from_file_location("om_generate", FIXTURE_DIR / "generate.py")
    assert spec and spec.loader
    generate = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(generate)
    assert generate.START == FIXTURE_START
    for name, render in generate.RENDERERS.items():
        text = (FIXTURE_DIR / name).read_text()
        assert text == render(), f"{name} is stale: run python {FIXTURE_DIR / 'generate.py'}"
        assert text.endswith("# EOF\n")


async def test_health_is_healthy_with_version(prometheus: PrometheusIntegration) -> None:
    health = await prometheus.health()
    assert health.state is HealthState.HEALTHY
    assert health.reason.startswith("Prometheus 2.")


async def test_query_instant_returns_backfilled_values(
    prometheus: PrometheusIntegration, prometheus_server: ServerProcess
) -> None:
    query = 'rate(http_requests_total{service="checkout",code="500"}[5m])'
    before = await run(
        prometheus, "prometheus_query_instant", query=query, time="2026-01-10T01:00:00Z"
    )
    during = await run(
        prometheus,
        "prometheus_query_instant",
        query=query,
        time=(INCIDENT_START + timedelta(hours=1)).timestamp(),
    )
    assert before.status is ToolStatus.OK, before.describe()
    assert before.query == query
    assert before.source == f"prometheus {prometheus_server.url}"
    assert before.time_range is not None
    assert before.time_range.start == FIXTURE_START + timedelta(hours=1)
    [sample] = before.data["series"]
    assert sample["metric"]["service"] == "checkout"
    assert sample["value"] == pytest.approx(0.1)
    assert during.data["series"][0]["value"] == pytest.approx(2.0)


async def test_query_range_returns_series_with_exact_values(
    prometheus: PrometheusIntegration,
) -> None:
    result = await run(
        prometheus,
        "prometheus_query_range",
        query=CHECKOUT_BY_CODE,
        start="2026-01-10T02:00:00Z",
        end="2026-01-10T04:00:00Z",
        step="1m",
    )
    assert result.status is ToolStatus.OK, result.describe()
    assert result.query == CHECKOUT_BY_CODE
    assert result.time_range is not None
    assert result.time_range.step_s == 60
    assert result.data["step_clamped"] is False
    series = _by_code(result)
    assert set(series) == {"200", "500"}
    assert len(series["500"]) == 121  # 2 h at 60 s, both ends included
    t = FIXTURE_START.timestamp()
    assert series["500"][t + 2.5 * 3600] == pytest.approx(0.1)
    assert series["500"][t + 3.5 * 3600] == pytest.approx(2.0)
    assert all(v == pytest.approx(10.0) for v in series["200"].values())
    summary = next(s for s in result.data["series"] if s["metric"]["code"] == "500")["summary"]
    assert summary["min"] == pytest.approx(0.1)
    assert summary["max"] == pytest.approx(2.0)


async def test_query_range_clamps_a_too_fine_step_under_11000_points(
    prometheus: PrometheusIntegration,
) -> None:
    start = FIXTURE_END - timedelta(days=14)
    result = await run(
        prometheus,
        "prometheus_query_range",
        query='http_requests_total{service="payments"}',
        start=start.isoformat(),
        end=FIXTURE_END.isoformat(),
        step="1s",
    )
    assert result.status is ToolStatus.OK, result.describe()  # Prometheus accepted it
    assert result.data["step_clamped"] is True
    assert result.data["requested_step_s"] == 1
    assert result.time_range is not None
    assert result.time_range.step_s == 110  # ceil(14 d / 11,000)
    assert 14 * 86400 / result.time_range.step_s <= 11_000


async def test_query_range_picks_a_round_default_step(prometheus: PrometheusIntegration) -> None:
    result = await run(
        prometheus,
        "prometheus_query_range",
        query='node_memory_MemAvailable_bytes{job="node"}',
        start=FIXTURE_START.isoformat(),
        end=FIXTURE_END.isoformat(),
    )
    assert result.status is ToolStatus.OK, result.describe()
    assert result.time_range is not None
    assert result.time_range.step_s == 120  # 6 h / 250 points, rounded up to 2 min
    [series] = result.data["series"]
    assert series["summary"]["max"] == 8 * 2**30
    assert series["summary"]["last"] == 8 * 2**30 - 360 * 2**20


async def test_relative_times_resolve_against_the_clock(prometheus_server: ServerProcess) -> None:
    integration = PrometheusIntegration(
        PrometheusConfig(base_url=prometheus_server.url), clock=lambda: FIXTURE_END
    )
    try:
        result = await run(
            integration,
            "prometheus_query_range",
            query='rate(http_requests_total{service="payments"}[5m])',
            start="now-1h",
            end="now",
            step="5m",
        )
    finally:
        await integration.aclose()
    assert result.status is ToolStatus.OK, result.describe()
    assert result.time_range is not None
    assert result.time_range.start == FIXTURE_END - timedelta(hours=1)
    assert result.time_range.end == FIXTURE_END
    [series] = result.data["series"]
    assert len(series["values"]) == 13
    assert all(v == pytest.approx(2.0) for _, v in series["values"])


async def test_bad_promql_is_an_error_with_status_400_and_prometheus_message(
    prometheus: PrometheusIntegration, prometheus_server: ServerProcess
) -> None:
    query = 'rate(http_requests_total{code="500"}[5m'
    result = await run(
        prometheus,
        "prometheus_query_range",
        query=query,
        start="2026-01-10T02:00:00Z",
        end="2026-01-10T03:00:00Z",
    )
    assert result.status is ToolStatus.ERROR
    assert result.upstream_status == 400
    assert result.query == query
    assert result.time_range is not None
    assert result.time_range.start == FIXTURE_START + timedelta(hours=2)
    assert result.error is not None
    assert "parse error" in result.error
    assert f"{prometheus_server.url}/api/v1/query_range" in result.error


async def test_execution_error_is_reported_with_status_422(
    prometheus: PrometheusIntegration,
) -> None:
    result = await run(
        prometheus,
        "prometheus_query_instant",
        query="http_requests_total / on() http_requests_total",
        time="2026-01-10T04:00:00Z",
    )
    assert result.status is ToolStatus.ERROR
    assert result.upstream_status == 422
    assert result.error is not None
    assert "many-to-many matching not allowed" in result.error


async def test_empty_result_is_no_data_naming_query_and_range(
    prometheus: PrometheusIntegration,
) -> None:
    query = 'http_requests_total{service="does-not-exist"}'
    result = await run(
        prometheus,
        "prometheus_query_range",
        query=query,
        start="2026-01-10T00:00:00Z",
        end="2026-01-10T06:00:00Z",
    )
    assert result.status is ToolStatus.NO_DATA
    assert result.query == query
    assert result.error is not None
    assert query in result.error
    assert "2026-01-10T00:00:00+00:00" in result.error
    before_fixture = await run(
        prometheus,
        "prometheus_query_instant",
        query='http_requests_total{service="checkout"}',
        time="2025-06-01T00:00:00Z",
    )
    assert before_fixture.status is ToolStatus.NO_DATA


async def test_metric_and_label_discovery(prometheus: PrometheusIntegration) -> None:
    window = {"start": "2026-01-10T00:00:00Z", "end": "2026-01-10T06:00:00Z"}
    metrics = await run(prometheus, "prometheus_list_metrics", **window)
    assert metrics.status is ToolStatus.OK, metrics.describe()
    assert {
        "http_requests_total",
        "node_cpu_seconds_total",
        "node_memory_MemAvailable_bytes",
    } <= set(metrics.data["metrics"])
    http_only = await run(prometheus, "prometheus_list_metrics", contains="HTTP_req", **window)
    assert http_only.data["metrics"] == ["http_requests_total"]

    labels = await run(prometheus, "prometheus_list_labels", match=["http_requests_total"])
    assert {"__name__", "code", "instance", "job", "service"} == set(labels.data["labels"])

    services = await run(
        prometheus,
        "prometheus_list_label_values",
        label="service",
        match=["http_requests_total"],
        **window,
    )
    assert services.data["values"] == ["checkout", "payments"]
    modes = await run(
        prometheus, "prometheus_list_label_values", label="mode", match=["node_cpu_seconds_total"]
    )
    assert modes.data["values"] == ["idle", "system", "user"]

    series = await prometheus.client.series(
        ['http_requests_total{code="500"}'], start=FIXTURE_START, end=FIXTURE_END
    )
    assert [s["service"] for s in series] == ["checkout"]


async def test_alerts_rules_and_targets(prometheus: PrometheusIntegration) -> None:
    async def firing() -> bool:
        result = await run(prometheus, "prometheus_list_alerts", state="firing")
        return result.ok and any(
            a["labels"]["alertname"] == ALWAYS_FIRING_ALERT for a in result.data["alerts"]
        )

    await eventually(firing)

    rules = await run(prometheus, "prometheus_list_rules")
    assert rules.status is ToolStatus.OK, rules.describe()
    by_name = {r["name"]: r for r in rules.data["rules"]}
    assert by_name[ALWAYS_FIRING_ALERT]["type"] == "alerting"
    assert by_name[ALWAYS_FIRING_ALERT]["query"] == "vector(1)"
    assert by_name["job:up:sum"]["type"] == "recording"
    only_alerting = await run(prometheus, "prometheus_list_rules", type="alert")
    assert [r["name"] for r in only_alerting.data["rules"]] == [ALWAYS_FIRING_ALERT]

    async def both_scraped() -> bool:
        result = await run(prometheus, "prometheus_list_targets")
        if result.status is ToolStatus.NO_DATA:  # service discovery syncs every 5 s
            return False
        assert result.ok, result.describe()
        health = {t["labels"]["job"]: t["health"] for t in result.data["targets"]}
        return health == {"prometheus": "up", "dead-exporter": "down"}

    await eventually(both_scraped)
    unhealthy = await run(prometheus, "prometheus_list_targets", only_unhealthy=True)
    [dead] = unhealthy.data["targets"]
    assert dead["labels"]["job"] == "dead-exporter"
    assert "connection refused" in dead["last_error"]


async def test_dead_server_is_an_error_naming_the_url(dead_url: str) -> None:
    integration = PrometheusIntegration(PrometheusConfig(base_url=dead_url))
    try:
        result = await run(integration, "prometheus_query_instant", query="up")
        health = await integration.health()
    finally:
        await integration.aclose()
    assert result.status is ToolStatus.ERROR
    assert result.error == f"cannot connect to {dead_url}/api/v1/query: connection refused"
    assert result.source == f"prometheus {dead_url}"
    assert result.query == "up"
    assert result.upstream_status is None
    assert health.state is HealthState.UNHEALTHY
    assert "connection refused" in health.reason


async def test_slow_server_is_a_timeout_error(slow_server: Any) -> None:
    integration = PrometheusIntegration(PrometheusConfig(base_url=slow_server.url, timeout_s=0.3))
    try:
        result = await run(
            integration,
            "prometheus_query_range",
            query="up",
            start="2026-01-10T00:00:00Z",
            end="2026-01-10T01:00:00Z",
        )
        health = await integration.health()
    finally:
        await integration.aclose()
    assert result.status is ToolStatus.ERROR
    assert result.error == (
        f"timeout: no answer from {slow_server.url}/api/v1/query_range within 0.3s (read timeout)"
    )
    assert result.query == "up"
    assert health.state is HealthState.UNHEALTHY
    assert "within 0.3s" in health.reason
    assert any(p.startswith("/api/v1/query_range?") for p in slow_server.requests)
