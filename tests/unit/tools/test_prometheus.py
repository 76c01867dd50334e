"""Prometheus client and tools against httpx.MockTransport (no server)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from memory.errors import ConfigError, UpstreamHTTPError
from tools.base import HealthState, ToolRegistry, ToolResult, ToolStatus
from tools.config import PrometheusConfig
from tools.prometheus import PrometheusIntegration, QueryRangeArgs
from tools.prometheus_client import MAX_POINTS_PER_SERIES, PrometheusClient, choose_step

BASE = "http://prom.test:9090"
NOW = datetime(2026, 1, 10, 6, 0, tzinfo=UTC)
Handler = Callable[[httpx.Request], httpx.Response]


def ok(data: Any, **extra: Any) -> httpx.Response:
    return httpx.Response(200, json={"status": "success", "data": data, **extra})


def matrix(*series: tuple[dict[str, str], list[tuple[float, str]]]) -> httpx.Response:
    result = [{"metric": m, "values": [[t, v] for t, v in values]} for m, values in series]
    return ok({"resultType": "matrix", "result": result})


class Recorder:
    """A MockTransport handler that records requests and answers from a function."""

    def __init__(self, answer: Handler) -> None:
        self.answer = answer
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return self.answer(request)

    @property
    def last(self) -> httpx.Request:
        return self.requests[-1]


def integration_for(answer: Handler, **config: Any) -> tuple[PrometheusIntegration, Recorder]:
    recorder = Recorder(answer)
    integration = PrometheusIntegration(
        PrometheusConfig(base_url=BASE, **config),
        transport=httpx.MockTransport(recorder),
        clock=lambda: NOW,
    )
    return integration, recorder


@pytest.fixture
async def closing() -> AsyncIterator[list[PrometheusIntegration]]:
    opened: list[PrometheusIntegration] = []
    yield opened
    for integration in opened:
        await integration.aclose()


async def run(integration: PrometheusIntegration, name: str, **args: Any) -> ToolResult:
    tool = next(t for t in integration.tools() if t.name == name)
    return await tool.run(args)


# --- step choice -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("span", "step", "expected"),
    [
        (timedelta(hours=1), 60.0, (60.0, False)),
        (timedelta(hours=1), 0.5, (0.5, False)),  # 7,200 points: allowed as asked
        (timedelta(days=14), 60.0, (110.0, True)),  # ceil(1,209,600 s / 11,000)
        (timedelta(days=14), 110.0, (110.0, False)),
        (timedelta(seconds=110_000), 10.0, (10.0, False)),  # exactly 11,000: accepted
        (timedelta(seconds=110_001), 10.0, (11.0, True)),
        (timedelta(days=365), 1.0, (2867.0, True)),
    ],
)
def test_choose_step_clamps_to_the_point_limit(
    span: timedelta, step: float, expected: tuple[float, bool]
) -> None:
    used, clamped = choose_step(start=NOW - span, end=NOW, step_s=step)
    assert (used, clamped) == expected
    assert span.total_seconds() / used <= MAX_POINTS_PER_SERIES


@pytest.mark.parametrize(
    ("span", "expected"),
    [
        (timedelta(minutes=5), 2.0),
        (timedelta(hours=1), 15.0),
        (timedelta(hours=6), 120.0),
        (timedelta(days=1), 600.0),
        (timedelta(days=14), 7200.0),
        (timedelta(0), 1.0),
    ],
)
def test_choose_step_default_is_round(span: timedelta, expected: float) -> None:
    assert choose_step(start=NOW - span, end=NOW) == (expected, False)


def test_choose_step_rejects_inverted_range_and_bad_step() -> None:
    with pytest.raises(ValueError, match="before start"):
        choose_step(start=NOW, end=NOW - timedelta(seconds=1))
    with pytest.raises(ValueError, match="positive"):
        choose_step(start=NOW - timedelta(hours=1), end=NOW, step_s=0)


# --- requests ----------------------------------------------------------------------------


async def test_query_range_sends_times_and_clamped_step(closing: list[Any]) -> None:
    integration, recorder = integration_for(
        lambda _: matrix(({"job": "api"}, [(1767225600, "1"), (1767225660, "NaN")]))
    )
    closing.append(integration)
    result = await run(
        integration,
        "prometheus_query_range",
        query="up",
        start="now-14d",
        end="now",
        step="15s",
    )
    assert result.status is ToolStatus.OK
    params = recorder.last.url.params
    assert recorder.last.method == "GET"
    assert recorder.last.url.path == "/api/v1/query_range"
    assert params["query"] == "up"
    assert float(params["end"]) == NOW.timestamp()
    assert float(params["start"]) == (NOW - timedelta(days=14)).timestamp()
    assert params["step"] == "110"
    assert result.data["step_clamped"] is True
    assert result.data["requested_step_s"] == 15
    assert result.time_range is not None
    assert result.time_range.step_s == 110
    [series] = result.data["series"]
    assert series["summary"] == {"points": 2, "min": 1.0, "max": 1.0, "avg": 1.0, "last": 1.0}


async def test_long_query_is_posted_as_a_form(closing: list[Any]) -> None:
    integration, recorder = integration_for(lambda _: ok({"resultType": "vector", "result": []}))
    closing.append(integration)
    long_query = "sum(" + " + ".join(f'up{{job="j{i}"}}' for i in range(200)) + ")"
    await run(integration, "prometheus_query_instant", query=long_query, time=1768003200)
    assert recorder.last.method == "POST"
    form = httpx.QueryParams(recorder.last.content.decode())
    assert form["query"] == long_query
    assert form["time"] == "1768003200.000"


async def test_bearer_token_and_base_path_are_used(closing: list[Any]) -> None:
    recorder = Recorder(lambda _: ok(["up"]))
    integration = PrometheusIntegration(
        PrometheusConfig(base_url="http://gw.test/prometheus", bearer_token=SecretStr("t0k")),
        transport=httpx.MockTransport(recorder),
    )
    closing.append(integration)
    result = await run(integration, "prometheus_list_metrics", match=['{job="api"}'])
    assert result.data["metrics"] == ["up"]
    assert recorder.last.headers["Authorization"] == "Bearer t0k"
    assert recorder.last.url.path == "/prometheus/api/v1/label/__name__/values"
    assert recorder.last.url.params.get_list("match[]") == ['{job="api"}']
    assert result.source == "prometheus http://gw.test/prometheus"


async def test_instant_query_resolves_relative_time_and_truncates(closing: list[Any]) -> None:
    vector = [{"metric": {"i": str(i)}, "value": [NOW.timestamp(), str(i)]} for i in range(5)]
    integration, recorder = integration_for(
        lambda _: ok({"resultType": "vector", "result": vector}, warnings=["partial"])
    )
    closing.append(integration)
    result = await run(
        integration, "prometheus_query_instant", query="x", time="now-1h", max_series=2
    )
    assert float(recorder.last.url.params["time"]) == (NOW - timedelta(hours=1)).timestamp()
    assert [s["value"] for s in result.data["series"]] == [0.0, 1.0]
    assert result.data["series_total"] == 5
    assert result.data["truncated"] is True
    assert result.data["warnings"] == ["partial"]


async def test_scalar_result_is_one_unlabelled_series(closing: list[Any]) -> None:
    integration, _ = integration_for(lambda _: ok({"resultType": "scalar", "result": [5, "42"]}))
    closing.append(integration)
    result = await run(integration, "prometheus_query_instant", query="scalar(42)")
    assert result.data["series"] == [{"metric": {}, "timestamp": 5.0, "value": 42.0}]


# --- errors ------------------------------------------------------------------------------


async def test_bad_promql_keeps_status_message_query_and_range(closing: list[Any]) -> None:
    body = {"status": "error", "errorType": "bad_data", "error": "1:5: parse error: oops"}
    integration, _ = integration_for(lambda _: httpx.Response(400, json=body))
    closing.append(integration)
    result = await run(
        integration,
        "prometheus_query_range",
        query="rate(x[5m]",
        start="2026-01-10T00:00:00Z",
        end="2026-01-10T01:00:00Z",
    )
    assert result.status is ToolStatus.ERROR
    assert result.upstream_status == 400
    assert result.error == (
        f"HTTP 400 from {BASE}/api/v1/query_range: bad_data: 1:5: parse error: oops"
    )
    assert result.query == "rate(x[5m]"
    assert result.time_range is not None
    assert result.time_range.end == datetime(2026, 1, 10, 1, tzinfo=UTC)


async def test_gateway_error_with_text_body(closing: list[Any]) -> None:
    integration, _ = integration_for(lambda _: httpx.Response(502, text="<h1>Bad Gateway</h1>"))
    closing.append(integration)
    result = await run(integration, "prometheus_list_labels")
    assert result.upstream_status == 502
    assert result.error == f"HTTP 502 from {BASE}/api/v1/labels: <h1>Bad Gateway</h1>"


async def test_non_api_answers_are_errors(closing: list[Any]) -> None:
    integration, _ = integration_for(lambda _: httpx.Response(200, text="<html>login</html>"))
    closing.append(integration)
    result = await run(integration, "prometheus_list_alerts")
    assert result.status is ToolStatus.ERROR
    assert result.error is not None
    assert result.error.startswith(f"invalid JSON from {BASE}/api/v1/alerts")


async def test_timeout_and_refused_connection(closing: list[Any]) -> None:
    def timeout(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("timed out", request=request)

    integration, _ = integration_for(timeout, timeout_s=2.5)
    closing.append(integration)
    result = await run(integration, "prometheus_query_instant", query="up")
    assert result.error == f"timeout: no answer from {BASE}/api/v1/query within 2.5s (read timeout)"
    assert result.query == "up"

    def refused(request: httpx.Request) -> httpx.Response:
        try:
            raise ConnectionRefusedError(111, "Connection refused")
        except ConnectionRefusedError as exc:
            raise httpx.ConnectError("All connection attempts failed", request=request) from exc

    integration, _ = integration_for(refused)
    closing.append(integration)
    result = await run(integration, "prometheus_list_targets")
    assert result.error == f"cannot connect to {BASE}/api/v1/targets: connection refused"


async def test_inverted_range_and_bad_arguments_are_errors(closing: list[Any]) -> None:
    integration, recorder = integration_for(lambda _: ok([]))
    closing.append(integration)
    inverted = await run(
        integration, "prometheus_query_range", query="up", start="now", end="now-1h"
    )
    assert inverted.status is ToolStatus.ERROR
    assert inverted.error is not None
    assert inverted.error.startswith("invalid range")
    bad_time = await run(integration, "prometheus_query_instant", query="up", time="yesterday")
    assert bad_time.status is ToolStatus.ERROR
    assert bad_time.error is not None
    assert "invalid arguments: time" in bad_time.error
    bad_label = await run(integration, "prometheus_list_label_values", label="not-a-label")
    assert bad_label.status is ToolStatus.ERROR
    extra = await run(integration, "prometheus_query_instant", query="up", promql="up")
    assert extra.status is ToolStatus.ERROR
    assert recorder.requests == []


async def test_empty_answers_are_no_data(closing: list[Any]) -> None:
    integration, _ = integration_for(lambda r: ok([]) if "label" in r.url.path else matrix())
    closing.append(integration)
    result = await run(
        integration,
        "prometheus_query_range",
        query='up{job="gone"}',
        start="2026-01-10T00:00:00Z",
        end="2026-01-10T01:00:00Z",
    )
    assert result.status is ToolStatus.NO_DATA
    assert result.error is not None
    assert 'up{job="gone"} returned no series between 2026-01-10T00:00:00+00:00' in result.error
    values = await run(integration, "prometheus_list_label_values", label="service")
    assert values.status is ToolStatus.NO_DATA


# --- integration surface -----------------------------------------------------------------


def test_tools_are_read_only_named_and_described() -> None:
    integration = PrometheusIntegration(PrometheusConfig())
    tools = integration.tools()
    assert [t.name for t in tools] == [
        "prometheus_query_instant",
        "prometheus_query_range",
        "prometheus_list_metrics",
        "prometheus_list_labels",
        "prometheus_list_label_values",
        "prometheus_list_alerts",
        "prometheus_list_rules",
        "prometheus_list_targets",
    ]
    assert not any(t.mutating for t in tools)
    assert all(t.integration == "prometheus" and t.summary for t in tools)
    schema = next(t for t in tools if t.name == "prometheus_query_range").input_schema()
    assert schema["required"] == ["query"]
    assert "11,000" in json.dumps(schema)
    assert QueryRangeArgs(query="up").start == "now-1h"


async def test_not_configured_integration() -> None:
    integration = PrometheusIntegration(PrometheusConfig())
    assert not integration.configured
    assert (await integration.health()).state is HealthState.NOT_CONFIGURED
    with pytest.raises(ConfigError):
        _ = integration.client
    registry = ToolRegistry(integrations=[integration])
    result = await registry.run("prometheus_query_instant", {"query": "up"})
    assert result.status is ToolStatus.ERROR
    assert result.error == "prometheus is not configured: no settings"
    await integration.aclose()


async def test_health_falls_back_to_ready_when_buildinfo_is_missing(closing: list[Any]) -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("buildinfo"):
            return httpx.Response(404, text="404 page not found")
        return httpx.Response(200, text="Prometheus Server is Ready.")

    integration, recorder = integration_for(answer)
    closing.append(integration)
    health = await integration.health()
    assert health.state is HealthState.HEALTHY
    assert [r.url.path for r in recorder.requests] == ["/api/v1/status/buildinfo", "/-/ready"]


async def test_client_models_parse_rules_targets_and_alerts() -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/api/v1/rules":
            rule = {"name": "r", "type": "alerting", "query": "up == 0", "health": "err",
                    "lastError": "boom", "duration": 300, "alerts": []}  # fmt: skip
            return ok({"groups": [{"name": "g", "file": "f.yml", "interval": 30, "rules": [rule]}]})
        if request.url.path == "/api/v1/targets":
            return ok(
                {
                    "activeTargets": [{"scrapePool": "p", "health": "down", "labels": {"a": "b"}}],
                    "droppedTargets": [{"discoveredLabels": {"__address__": "x:1"}}],
                }
            )
        raise AssertionError(request.url)

    client = PrometheusClient(
        PrometheusConfig(base_url=BASE), transport=httpx.MockTransport(answer)
    )
    try:
        [group] = await client.rules(rule_type="alert")
        assert (group.interval_s, group.rules[0].last_error) == (30, "boom")
        assert group.rules[0].duration_s == 300
        targets = await client.targets(state="any")
        assert [t.health for t in targets] == ["down", "dropped"]
        assert targets[1].labels == {"__address__": "x:1"}
        with pytest.raises(ValueError):
            await client.series([])
    finally:
        await client.aclose()


async def test_error_envelope_with_200_raises_http_error() -> None:
    body = {"status": "error", "errorType": "internal", "error": "weird"}
    client = PrometheusClient(
        PrometheusConfig(base_url=BASE),
        transport=httpx.MockTransport(lambda _: httpx.Response(200, json=body)),
    )
    try:
        with pytest.raises(UpstreamHTTPError, match="internal: weird"):
            await client.label_names()
    finally:
        await client.aclose()
