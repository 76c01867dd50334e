"""Metric questions against a real Prometheus backfilled with tests/fixtures/prometheus/*.om.

The window is 02:00..04:00 UTC on the fixture day, around the 03:00 error incident (see the
shapes in tests/fixtures/prometheus/generate.py). Every number in a reply is checked
against a direct range query of the same PromQL and step.

The shared fixtures have no latency histogram, so latency is checked twice: on the shared
server (an honest "not found" reply) and on a second Prometheus backfilled with a small
histogram written here, where p99 is exact by construction.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from PIL import Image

from agents.charts import format_value
from agents.metric_questions import answer_metric_question, plan_metric_query
from agents.reply import Reply
from tests.servers.process import ServerProcess, ServerStartError, find_binary
from tests.servers.prometheus import FIXTURE_START, start_prometheus
from tools.config import PrometheusConfig
from tools.prometheus_client import PrometheusClient

pytestmark = pytest.mark.integration

START = FIXTURE_START + timedelta(hours=2)
END = FIXTURE_START + timedelta(hours=4)
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"

# Per-minute increments of the cumulative buckets, before and after the 03:00 incident.
# p99 is rank 594 of 600: exactly the 0.25 bucket before, the 2.5 bucket after.
_BUCKETS = ("0.05", "0.1", "0.25", "0.5", "1", "2.5", "5", "+Inf")
_BEFORE = (300, 540, 594, 600, 600, 600, 600, 600)
_AFTER = (60, 120, 300, 480, 570, 594, 600, 600)


@pytest.fixture
async def client(prometheus_server: ServerProcess) -> AsyncIterator[PrometheusClient]:
    prometheus = PrometheusClient(PrometheusConfig(base_url=prometheus_server.url))
    yield prometheus
    await prometheus.aclose()


def _latency_openmetrics() -> str:
    start = int(FIXTURE_START.timestamp())
    lines = [
        "# HELP http_request_duration_seconds Request latency.",
        "# TYPE http_request_duration_seconds histogram",
    ]
    samples = range(6 * 60 + 1)

    def cumulative(index: int, minute: int) -> int:
        before = min(minute, 180)
        return _BEFORE[index] * before + _AFTER[index] * (minute - before)

    for index, le in enumerate(_BUCKETS):
        labels = f'le="{le}",service="checkout"'
        lines += [
            f"http_request_duration_seconds_bucket{{{labels}}} {cumulative(index, m)} "
            f"{start + 60 * m}"
            for m in samples
        ]
    for suffix in ("count", "sum"):
        lines += [
            f'http_request_duration_seconds_{suffix}{{service="checkout"}} '
            f"{cumulative(len(_BUCKETS) - 1, m)} {start + 60 * m}"
            for m in samples
        ]
    return "\n".join([*lines, "# EOF"]) + "\n"


@pytest.fixture(scope="module")
def latency_server(
    prometheus_server: ServerProcess, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerProcess]:
    # prometheus_server already skipped (or failed under CI) when the binaries are missing
    binary, promtool = find_binary("prometheus"), find_binary("promtool")
    assert binary and promtool
    workdir = tmp_path_factory.mktemp("prometheus-latency")
    fixture = workdir / "latency.om"
    fixture.write_text(_latency_openmetrics())
    try:
        server = start_prometheus(
            binary=binary, promtool=promtool, workdir=workdir / "server", fixtures=[fixture]
        )
    except ServerStartError as exc:
        pytest.fail(f"could not start the latency test server: {exc}", pytrace=False)
    try:
        yield server
    finally:
        server.stop()


async def ask(question: str, source: PrometheusClient, chart_dir: Path) -> Reply:
    return await answer_metric_question(
        question=question, source=source, start=START, end=END, chart_dir=chart_dir
    )


async def assert_matches_direct_query(
    reply: Reply, source: PrometheusClient, *, question: str, unit: str
) -> None:
    """The reply's PromQL is the plan's, and its numbers are those of a direct query."""
    plan = await plan_metric_query(question=question, source=source, start=START, end=END)
    assert plan is not None
    assert reply.promql == [plan.promql]
    direct = await source.query_range(plan.promql, start=START, end=END, step_s=plan.step_s)
    [series] = direct.series
    values = [v for _, v in series.values]
    assert len(values) == 121  # 2 h at the chosen 60 s step, both ends included
    body = reply.sections[0].body
    for label, value in (
        ("last", values[-1]),
        ("min", min(values)),
        ("max", max(values)),
        ("mean", sum(values) / len(values)),
    ):
        assert f"{label} {format_value(value, unit)}" in body
    assert f"now {format_value(values[-1], unit)}" in reply.text or "(flat" in reply.text


def assert_chart(reply: Reply, chart_dir: Path) -> None:
    [chart] = reply.attachments
    path = Path(chart.path)
    assert path.parent == chart_dir
    assert path.read_bytes()[:8] == PNG_MAGIC
    with Image.open(path) as image:
        assert image.size == (1000, 450)


async def test_request_rate_of_checkout(client: PrometheusClient, tmp_path: Path) -> None:
    question = "what is the request rate of checkout?"
    reply = await ask(question, client, tmp_path)
    assert reply.kind == "answer", reply
    assert reply.promql == ['sum by (service) (rate(http_requests_total{service="checkout"}[5m]))']
    # 10/s of 200s plus 0.1/s of 500s, then 2/s of 500s from 03:00
    assert reply.text == (
        "checkout request rate rose from 10.1 req/s to 12 req/s; now 12 req/s (rising)."
    )
    await assert_matches_direct_query(reply, client, question=question, unit="req/s")
    assert_chart(reply, tmp_path)


async def test_error_ratio_for_checkout(client: PrometheusClient, tmp_path: Path) -> None:
    question = "error ratio for checkout"
    reply = await ask(question, client, tmp_path)
    assert reply.kind == "answer", reply
    total = 'sum by (service) (rate(http_requests_total{service="checkout"}[5m]))'
    errors = 'sum by (service) (rate(http_requests_total{service="checkout", code=~"5.."}[5m]))'
    assert reply.promql == [f"({errors} or {total} * 0) / {total}"]
    # 0.1 / 10.1 before the incident, 2 / 12 after
    assert reply.text == "checkout error ratio (5xx) rose from 0.99% to 16.7%; now 16.7% (rising)."
    await assert_matches_direct_query(reply, client, question=question, unit="ratio")
    assert_chart(reply, tmp_path)


async def test_error_ratio_is_zero_for_a_service_without_5xx_series(
    client: PrometheusClient, tmp_path: Path
) -> None:
    reply = await ask("error ratio for payments", client, tmp_path)
    assert reply.kind == "answer", reply
    assert reply.text == "payments error ratio (5xx) is 0% (flat)."
    assert_chart(reply, tmp_path)


async def test_cpu_of_a_node_is_the_non_idle_ratio(
    client: PrometheusClient, tmp_path: Path
) -> None:
    question = "CPU usage of node-1"
    reply = await ask(question, client, tmp_path)
    assert reply.promql == [
        "1 - avg by (instance) "
        '(rate(node_cpu_seconds_total{instance="node-1:9100", mode="idle"}[5m]))'
    ]
    assert reply.text == "node-1:9100 CPU busy is 25% (flat)."
    await assert_matches_direct_query(reply, client, question=question, unit="ratio")


async def test_all_services_when_none_is_named(client: PrometheusClient, tmp_path: Path) -> None:
    reply = await ask("what is the request rate?", client, tmp_path)
    assert reply.promql == ["sum by (service) (rate(http_requests_total[5m]))"]
    assert reply.text.endswith("the highest of 2 series.")
    assert [line.split("*")[1] for line in reply.sections[0].body.splitlines()] == [
        "checkout",
        "payments",
    ]


async def test_raw_promql_runs_as_is(client: PrometheusClient, tmp_path: Path) -> None:
    reply = await ask("promql: sum(rate(http_requests_total[5m]))", client, tmp_path)
    assert reply.promql == ["sum(rate(http_requests_total[5m]))"]
    assert reply.text == (
        "`sum(rate(http_requests_total[5m]))` rose from 12.1/s to 14/s; now 14/s (rising)."
    )
    assert_chart(reply, tmp_path)


async def test_latency_without_a_histogram_says_what_exists(
    client: PrometheusClient, tmp_path: Path
) -> None:
    reply = await ask("p99 latency of checkout", client, tmp_path)
    assert reply.kind == "info"
    assert "no latency quantile metric exists" in reply.text
    assert "http_request_duration_seconds_bucket" in reply.sections[0].body
    assert "• http_requests_total" in reply.sections[1].body
    assert not reply.attachments


async def test_unknown_service_lists_the_services_found(
    client: PrometheusClient, tmp_path: Path
) -> None:
    reply = await ask("request rate of billing", client, tmp_path)
    assert reply.kind == "info"
    assert "http_requests_total service: checkout, payments" in reply.sections[1].body


async def test_p99_latency_of_checkout(latency_server: ServerProcess, tmp_path: Path) -> None:
    source = PrometheusClient(PrometheusConfig(base_url=latency_server.url))
    try:
        question = "p99 latency of checkout"
        reply = await ask(question, source, tmp_path)
        assert reply.kind == "answer", reply
        assert reply.promql == [
            "histogram_quantile(0.99, sum by (le, service) "
            '(rate(http_request_duration_seconds_bucket{service="checkout"}[5m])))'
        ]
        assert reply.text == "checkout p99 latency rose from 250 ms to 2.5 s; now 2.5 s (rising)."
        await assert_matches_direct_query(reply, source, question=question, unit="s")
        assert_chart(reply, tmp_path)
    finally:
        await source.aclose()


async def test_unreachable_prometheus_is_a_failed_source(dead_url: str, tmp_path: Path) -> None:
    source = PrometheusClient(PrometheusConfig(base_url=dead_url, timeout_s=2.0))
    try:
        reply = await ask("request rate of checkout", source, tmp_path)
    finally:
        await source.aclose()
    assert reply.kind == "error"
    [failure] = reply.failed_sources
    assert dead_url in failure.source
    assert "discovery: metric names" in failure.error
    assert not reply.attachments
