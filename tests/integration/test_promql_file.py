"""Differential tests: FilePrometheusClient against a real Prometheus over the same OpenMetrics.

Every PromQL expression runs on both sources at fixed instants and over a fixed range;
label sets, timestamps and values must agree (relative tolerance 1e-6), and so must the
HTTP status of errors (400 bad_data with the same ``line:column``, 422 execution).

Data:

* ``tests/fixtures/prometheus/{http,node}.om`` on the session ``prometheus_server``
  (window 2026-01-10 00:00..06:00 UTC), compared with ``from_openmetrics`` of each file;
* the bundled demo scenario ``checkout-db-pool/metrics.om`` and the edge-case data of
  ``promql_edge_data.py`` (counter resets, jitter, a scrape gap, NaN/Inf, awkward
  histograms, duplicate label sets) on a Prometheus started for this module.
"""

from __future__ import annotations

import math
import re
from collections.abc import AsyncIterator, Awaitable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from agents.signals import MetricNames, Probe, probes
from memory.errors import IntegrationError, UpstreamHTTPError
from tests.integration.conftest import require_binary
from tests.integration.promql_edge_data import EDGE_END, EDGE_START, render_edge_metrics
from tests.servers.process import ServerProcess, ServerStartError
from tests.servers.prometheus import (
    FIXTURE_DIR,
    FIXTURE_END,
    FIXTURE_START,
    INCIDENT_START,
    start_prometheus,
)
from tools.config import PrometheusConfig
from tools.metrics import MetricsSource
from tools.prometheus_client import PrometheusClient, QueryResult
from tools.promql_file import FilePrometheusClient
from tools.scenario import bundled_scenario_dir, load_scenario

pytestmark = pytest.mark.integration

REL_TOL = 1e-6
ABS_TOL = 1e-9  # float noise around zero (e.g. the slope of a flat line)
SCENARIO = load_scenario(bundled_scenario_dir())

FIXTURE_TIMES = [
    FIXTURE_START + timedelta(hours=1),
    INCIDENT_START + timedelta(seconds=30),
    INCIDENT_START + timedelta(minutes=2, seconds=17.25),
    FIXTURE_END - timedelta(seconds=14.5),
    FIXTURE_END + timedelta(minutes=4, seconds=30),  # only the lookback still sees samples
    FIXTURE_START - timedelta(minutes=1),  # before any data
]
FIXTURE_RANGE = (INCIDENT_START - timedelta(minutes=40), INCIDENT_START + timedelta(minutes=40), 45)

EDGE_TIMES = [
    EDGE_START + timedelta(minutes=m, seconds=s)
    for m, s in [(0, 0), (5, 7), (20, 3), (21, 0), (22, 30), (40, 0), (50, 0), (52, 0)]
    + [(64, 0), (66, 0), (76, 0), (95, 0), (125, 0)]
]
EDGE_RANGE = (EDGE_START, EDGE_END + timedelta(minutes=10), 37)

SCENARIO_TIMES = [
    SCENARIO.meta.start + timedelta(minutes=30),
    SCENARIO.meta.start + timedelta(hours=3),
    SCENARIO.meta.start + timedelta(hours=3, minutes=45),
    SCENARIO.meta.end - timedelta(seconds=36),
]
SCENARIO_RANGE = (SCENARIO.meta.start, SCENARIO.meta.end, None)

FIXTURE_CASES = [
    ("http.om", "http_requests_total"),
    ("http.om", 'http_requests_total{code!="500", service=~"check.*"}'),
    ("http.om", 'http_requests_total{service!~"pay.+"} offset 10m'),
    ("http.om", "http_requests_total[3m]"),
    ("http.om", "rate(http_requests_total[5m])"),
    ("http.om", "irate(http_requests_total[2m])"),
    ("http.om", "increase(http_requests_total[10m] offset 1h)"),
    ("http.om", "sum by (service, code) (rate(http_requests_total[5m]))"),
    ("http.om", "sum(rate(http_requests_total[5m])) without (instance, job)"),
    ("http.om", "avg(rate(http_requests_total[5m])) by (code)"),
    ("http.om", "max by (service) (http_requests_total) / min by (service) (http_requests_total)"),
    ("http.om", "count(http_requests_total) by (job)"),
    ("http.om", "topk(2, rate(http_requests_total[5m]))"),
    ("http.om", "bottomk(1, rate(http_requests_total[5m])) by (service)"),
    ("http.om", "quantile(0.75, rate(http_requests_total[5m]))"),
    (
        "http.om",
        'sum by (service) (rate(http_requests_total{code=~"5.."}[5m]))'
        " / sum by (service) (rate(http_requests_total[5m]))",
    ),
    (
        "http.om",
        'rate(http_requests_total{code="500"}[5m])'
        ' / ignoring(code) rate(http_requests_total{code="200"}[5m])',
    ),
    (
        "http.om",
        "rate(http_requests_total[5m])"
        " / on(service) group_left sum by (service) (rate(http_requests_total[5m]))",
    ),
    (
        "http.om",
        "sum by (service) (rate(http_requests_total[5m]))"
        " / on(service) group_right rate(http_requests_total[5m])",
    ),
    ("http.om", "rate(http_requests_total[5m]) > 1"),
    ("http.om", "rate(http_requests_total[5m]) >= bool 2"),
    ("http.om", "1 < rate(http_requests_total[5m])"),
    ("http.om", 'http_requests_total and on(service) http_requests_total{code="500"}'),
    ("http.om", 'http_requests_total unless http_requests_total{service="payments"}'),
    ("http.om", 'http_requests_total{code="500"} or http_requests_total{service="payments"}'),
    ("http.om", "quantile_over_time(0.9, http_requests_total[10m])"),
    ("http.om", "last_over_time(http_requests_total[2m])"),
    ("http.om", "count_over_time(http_requests_total[1h])"),
    ("http.om", 'timestamp(http_requests_total{code="500"})'),
    ("http.om", 'absent(http_requests_total{code="404", job="checkout"})'),
    ("http.om", "absent(http_requests_total)"),
    ("http.om", 'scalar(sum(rate(http_requests_total{service="payments"}[5m]))) * 60'),
    ("http.om", 'http_requests_total{code="500"} % 7 - -3 ^ 2'),
    ("node.om", "rate(node_cpu_seconds_total[5m])"),
    ("node.om", '1 - avg by (instance) (rate(node_cpu_seconds_total{mode="idle"}[5m]))'),
    ("node.om", "sum without (mode) (rate(node_cpu_seconds_total[5m]))"),
    (
        "node.om",
        "rate(node_cpu_seconds_total[5m]) * on(instance) group_left(job)"
        " node_memory_MemAvailable_bytes / 2 ^ 30",
    ),
    ("node.om", "deriv(node_memory_MemAvailable_bytes[30m])"),
    ("node.om", "predict_linear(node_memory_MemAvailable_bytes[1h], 4 * 3600) < 8.4e9"),
    ("node.om", "delta(node_memory_MemAvailable_bytes[15m])"),
    (
        "node.om",
        "avg_over_time(node_memory_MemAvailable_bytes[10m])"
        " - min_over_time(node_memory_MemAvailable_bytes[10m])",
    ),
    (
        "node.om",
        'sum_over_time(node_cpu_seconds_total{mode="user"}[5m])'
        ' / count_over_time(node_cpu_seconds_total{mode="user"}[5m])',
    ),
    ("node.om", "max_over_time(node_memory_MemAvailable_bytes[7m] offset 1h)"),
    ("node.om", "abs(-node_memory_MemAvailable_bytes) == bool node_memory_MemAvailable_bytes"),
    (
        "node.om",
        "clamp_max(rate(node_cpu_seconds_total[5m]), 0.5)"
        " + clamp_min(rate(node_cpu_seconds_total[5m]), 0.1)",
    ),
    ("node.om", "time() - timestamp(node_memory_MemAvailable_bytes)"),
    ("node.om", "vector(time() % 3600)"),
    ("node.om", '{__name__=~"node_.+", mode!="idle"}'),
    ("node.om", "2 * 3 + 4 ^ 2 ^ 0.5 - 10 % 4 > bool 10"),
    ("node.om", "-node_memory_MemAvailable_bytes offset 1h"),
]

EDGE_CASES = [
    "edge_requests_total",
    "rate(edge_requests_total[5m])",
    "rate(edge_requests_total[20s])",
    "irate(edge_requests_total[1m])",
    "increase(edge_requests_total[30m] offset 10m)",
    "delta(edge_gauge[10m])",
    "deriv(edge_gauge[10m])",
    "predict_linear(edge_gauge[15m], 600)",
    "avg_over_time(edge_gauge[10m])",
    "max_over_time(edge_gauge[10m]) - min_over_time(edge_gauge[10m])",
    "sum_over_time(edge_gauge[10m])",
    "quantile_over_time(0.75, edge_gauge[10m])",
    "quantile_over_time(1.5, edge_gauge[10m])",
    "max(edge_gauge) + min(edge_gauge)",
    "avg(edge_gauge)",
    "quantile(0.3, edge_gauge)",
    "topk(1, edge_gauge)",
    "histogram_quantile(0.5, edge_hist_bucket)",
    "histogram_quantile(0.99, edge_hist_bucket)",
    "histogram_quantile(0, edge_hist_bucket)",
    "histogram_quantile(-1, edge_hist_bucket)",
    "histogram_quantile(0.9, sum by (le, case) (rate(edge_hist_bucket[5m])))",
    'rate({__name__=~"edge_dup_.*"}[5m])',
    "edge_requests_total + on(job) edge_requests_total",
    "edge_requests_total * on(job) sum by (job) (edge_requests_total)",
    "edge_gauge / 0",
    "edge_gauge % 0",
    "edge_gauge ^ 0.5",
    "edge_gauge > bool edge_gauge",
    "clamp_min(edge_gauge, 55)",
    "timestamp((edge_requests_total))",
    'absent(edge_requests_total{instance="zzz", instance="yyy", job="edge"})',
    'scalar(edge_gauge{instance="a"}) + scalar(edge_gauge)',
    "topk(NaN, edge_gauge)",
    "edge_gauge unless on() vector(1) > 2",
]

SCENARIO_CASES = [
    "pg_stat_activity_count / on(instance) group_left pg_settings_max_connections",
    "histogram_quantile(0.99, sum by (le) (rate(http_request_duration_seconds_bucket[5m])))",
    "histogram_quantile(0.5, http_request_duration_seconds_bucket)",
    'sum by (service) (rate(http_requests_total{code=~"5.."}[5m]))'
    " / sum by (service) (rate(http_requests_total[5m]))",
    "predict_linear(node_filesystem_avail_bytes[1h], 4 * 3600) / node_filesystem_size_bytes < 0.5",
    "deriv(container_memory_working_set_bytes[30m])",
    "topk(2, sum by (service) (rate(http_requests_total[5m])))",
    "increase(http_requests_total[1h])",
]

BAD_QUERIES = [
    "foo +* 1",
    "rate(foo)",
    "1 > 2",
    "sum(1)",
    "{}",
    'foo{a="b"',
    "sum(x",
    "x[5]",
    "x and 1",
    "1 + on(a) x",
    "x + bool y",
    "foo(1)",
    "rate(x[5m], 1)",
    "histogram_quantile(x, y)",
    'x{a=~"("}',
    "x == on(a) group_left(a) y",
    "sum(x) offset 5m",
    "(x)[5m]",
    "x offset 5m [5m]",
    "x[5m] + 1",
    'x{__name__="y"}',
    "x offset 5m offset 1m",
    "x or on(a) group_left y",
    "5m",
    "",
]

UNSUPPORTED_QUERIES = [
    'label_replace(http_requests_total, "a", "$1", "code", "(.*)")',
    "max_over_time(rate(http_requests_total[5m])[30m:1m])",
    "http_requests_total @ 1768003200",
    "stddev(http_requests_total)",
    'count_values("v", http_requests_total)',
    "http_requests_total atan2 http_requests_total",
    "sort(http_requests_total)",
]


# -- comparison -------------------------------------------------------------------------


Outcome = QueryResult | UpstreamHTTPError
Labels = tuple[tuple[str, str], ...]


@dataclass
class Pair:
    """A real Prometheus and the file client holding the same data."""

    prometheus: PrometheusClient
    file: FilePrometheusClient


async def _outcome(answer: Awaitable[QueryResult]) -> Outcome:
    try:
        return await answer
    except UpstreamHTTPError as exc:
        return exc


def _close(expected: float, actual: float) -> bool:
    if math.isnan(expected) or math.isnan(actual):
        return math.isnan(expected) and math.isnan(actual)
    return math.isclose(actual, expected, rel_tol=REL_TOL, abs_tol=ABS_TOL)


def _points(result: QueryResult) -> dict[Labels, list[tuple[float, float]]]:
    return {tuple(sorted(s.metric.items())): s.values for s in result.series}


def assert_same(what: str, expected: Outcome, actual: Outcome) -> None:
    """The file client's answer equals Prometheus's (or both failed with one status)."""
    if isinstance(expected, UpstreamHTTPError) or isinstance(actual, UpstreamHTTPError):
        assert isinstance(expected, UpstreamHTTPError), f"{what}: only the file client failed"
        assert isinstance(actual, UpstreamHTTPError), f"{what}: Prometheus said {expected}"
        assert actual.status_code == expected.status_code, f"{what}: {expected} / {actual}"
        return
    assert actual.result_type == expected.result_type, what
    want, got = _points(expected), _points(actual)
    assert set(got) == set(want), f"{what}: label sets differ"
    for labels, points in want.items():
        assert [t for t, _ in got[labels]] == [t for t, _ in points], f"{what} {labels}: times"
        for (t, w), (_, g) in zip(points, got[labels], strict=True):
            assert _close(w, g), f"{what} {labels} at {t}: file {g} != Prometheus {w}"


async def assert_same_answers(
    pair: Pair,
    query: str,
    *,
    times: list[datetime],
    window: tuple[datetime, datetime, float | None],
) -> None:
    """Compare instant queries at ``times`` and one range query over ``window``."""
    for at in times:
        expected = await _outcome(pair.prometheus.query(query, at=at))
        actual = await _outcome(pair.file.query(query, at=at))
        assert_same(f"{query} @ {at.isoformat()}", expected, actual)
    start, end, step = window
    expected = await _outcome(pair.prometheus.query_range(query, start=start, end=end, step_s=step))
    actual = await _outcome(pair.file.query_range(query, start=start, end=end, step_s=step))
    assert_same(f"{query} over {start.isoformat()}..{end.isoformat()}", expected, actual)


# -- fixtures ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def fixture_files() -> dict[str, FilePrometheusClient]:
    return {
        name: FilePrometheusClient.from_openmetrics(FIXTURE_DIR / name)
        for name in ("http.om", "node.om")
    }


@pytest.fixture(scope="module")
def edge_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("promql-edge") / "edge.om"
    path.write_text(render_edge_metrics(), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def module_prometheus(
    tmp_path_factory: pytest.TempPathFactory, edge_file: Path
) -> Iterator[ServerProcess]:
    """A Prometheus backfilled with the demo scenario and the edge-case data."""
    binary = require_binary("prometheus")
    promtool = require_binary("promtool")
    try:
        server = start_prometheus(
            binary=binary,
            promtool=promtool,
            workdir=tmp_path_factory.mktemp("promql-prometheus"),
            fixtures=[SCENARIO.path / "metrics.om", edge_file],
        )
    except ServerStartError as exc:
        pytest.fail(f"could not start the test server: {exc}", pytrace=False)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
async def prometheus(prometheus_server: ServerProcess) -> AsyncIterator[PrometheusClient]:
    client = PrometheusClient(PrometheusConfig(base_url=prometheus_server.url))
    yield client
    await client.aclose()


@pytest.fixture
async def module_client(module_prometheus: ServerProcess) -> AsyncIterator[PrometheusClient]:
    client = PrometheusClient(PrometheusConfig(base_url=module_prometheus.url))
    yield client
    await client.aclose()


# -- differential tests -----------------------------------------------------------------


def test_file_client_is_a_metrics_source(fixture_files: dict[str, FilePrometheusClient]) -> None:
    client = fixture_files["http.om"]
    assert isinstance(client, MetricsSource)
    assert client.base_url == f"file://{(FIXTURE_DIR / 'http.om').resolve()}"


@pytest.mark.parametrize(("fixture", "query"), FIXTURE_CASES, ids=[q for _, q in FIXTURE_CASES])
async def test_fixture_query_matches_prometheus(
    prometheus: PrometheusClient,
    fixture_files: dict[str, FilePrometheusClient],
    fixture: str,
    query: str,
) -> None:
    pair = Pair(prometheus, fixture_files[fixture])
    await assert_same_answers(pair, query, times=FIXTURE_TIMES, window=FIXTURE_RANGE)


@pytest.mark.parametrize("query", EDGE_CASES)
async def test_edge_case_query_matches_prometheus(
    module_client: PrometheusClient, edge_file: Path, query: str
) -> None:
    pair = Pair(module_client, FilePrometheusClient.from_openmetrics(edge_file))
    await assert_same_answers(pair, query, times=EDGE_TIMES, window=EDGE_RANGE)


@pytest.mark.parametrize("query", SCENARIO_CASES)
async def test_scenario_query_matches_prometheus(
    module_client: PrometheusClient, query: str
) -> None:
    pair = Pair(module_client, FilePrometheusClient.from_openmetrics(SCENARIO.path / "metrics.om"))
    await assert_same_answers(pair, query, times=SCENARIO_TIMES, window=SCENARIO_RANGE)
    answer = await pair.file.query_range(query, start=SCENARIO.meta.start, end=SCENARIO.meta.end)
    assert not answer.empty, "the scenario case should exercise data, not two empty answers"


@pytest.mark.parametrize("probe", probes(MetricNames()), ids=lambda p: p.key)
async def test_signal_probe_matches_prometheus_on_the_scenario(
    module_client: PrometheusClient, probe: Probe
) -> None:
    pair = Pair(module_client, FilePrometheusClient.from_openmetrics(SCENARIO.path / "metrics.om"))
    await assert_same_answers(pair, probe.promql, times=SCENARIO_TIMES[-1:], window=SCENARIO_RANGE)


@pytest.mark.parametrize("query", BAD_QUERIES)
async def test_bad_query_fails_like_prometheus(
    prometheus: PrometheusClient, fixture_files: dict[str, FilePrometheusClient], query: str
) -> None:
    with pytest.raises(UpstreamHTTPError) as expected:
        await prometheus.query(query, at=FIXTURE_END)
    with pytest.raises(UpstreamHTTPError) as actual:
        await fixture_files["http.om"].query(query, at=FIXTURE_END)
    assert actual.value.status_code == expected.value.status_code == 400
    position = re.compile(r"\d+:\d+: parse error")
    want = position.search(str(expected.value))
    got = position.search(str(actual.value))
    assert want and got and got.group() == want.group(), f"{expected.value} / {actual.value}"
    assert str(actual.value).startswith(f"HTTP 400 from {fixture_files['http.om'].base_url}: ")


@pytest.mark.parametrize("query", UNSUPPORTED_QUERIES)
async def test_valid_promql_outside_the_subset_says_to_use_prometheus(
    prometheus: PrometheusClient, fixture_files: dict[str, FilePrometheusClient], query: str
) -> None:
    await prometheus.query(query, at=FIXTURE_END)  # valid PromQL: Prometheus answers
    with pytest.raises(IntegrationError, match="use a live Prometheus") as caught:
        await fixture_files["http.om"].query(query, at=FIXTURE_END)
    assert not isinstance(caught.value, UpstreamHTTPError)


async def test_metadata_matches_prometheus(
    prometheus: PrometheusClient, fixture_files: dict[str, FilePrometheusClient]
) -> None:
    http, node = fixture_files["http.om"], fixture_files["node.om"]
    window = {"start": FIXTURE_START, "end": FIXTURE_END}
    hour = {"start": FIXTURE_START - timedelta(hours=1), "end": FIXTURE_START}
    after = {"start": FIXTURE_END + timedelta(hours=1), "end": FIXTURE_END + timedelta(hours=2)}
    for source, match, scope in [
        (http, ["http_requests_total"], window),
        (http, ['{job=~"checkout|payments"}'], hour),  # the window's first sample counts
        (node, ['node_cpu_seconds_total{mode!="idle"}'], window),
        (node, ['{__name__=~"node_.+"}'], after),
    ]:
        for label in ("__name__", "job", "code", "mode"):
            assert await source.label_values(label, match=match, **scope) == (
                await prometheus.label_values(label, match=match, **scope)
            ), (label, match, scope)
        assert await source.metric_names(match=match, **scope) == (
            await prometheus.metric_names(match=match, **scope)
        )
        assert await source.label_names(match=match, **scope) == (
            await prometheus.label_names(match=match, **scope)
        )
        got = await source.series(match, **scope)
        want = await prometheus.series(match, **scope)
        assert _label_sets(got) == _label_sets(want)


def _label_sets(series: list[dict[str, str]]) -> list[Labels]:
    return sorted(tuple(sorted(s.items())) for s in series)
