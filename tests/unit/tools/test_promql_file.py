"""FilePrometheusClient without a server: API contract, result shapes, errors, semantics.

Exact values here are worked out by hand; agreement with a real Prometheus on many more
expressions is checked by tests/integration/test_promql_file.py.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from memory.errors import IntegrationError, UpstreamHTTPError
from tools.metrics import MetricsSource
from tools.prometheus_client import QueryResult
from tools.promql_file import FilePrometheusClient
from tools.promql_math import bucket_quantile, go_div, go_max, go_mod, go_pow, quantile
from tools.scenario import Series as ScenarioSeries
from tools.scenario import bundled_scenario_dir, parse_openmetrics

T0 = datetime(2026, 1, 10, tzinfo=UTC)
BASE = T0.timestamp()


def counter(values: list[float], *, every_s: float = 60, **labels: str) -> ScenarioSeries:
    samples = [(BASE + i * every_s, v) for i, v in enumerate(values)]
    return ScenarioSeries(name="reqs_total", labels=labels, samples=samples)


@pytest.fixture
def client() -> FilePrometheusClient:
    buckets = [
        ScenarioSeries(name="lat_bucket", labels={"le": le}, samples=[(BASE, count)])
        for le, count in [("0.1", 10.0), ("0.5", 30.0), ("1", 40.0), ("+Inf", 40.0)]
    ]
    series = [
        counter([0, 60, 120, 180, 240, 300, 360], job="a", code="200"),
        counter([0, 6, 12, 3, 9, 15, 21], job="a", code="500"),  # reset after 12
        counter([100, 100, 100], job="b", code="200"),
        *buckets,
    ]
    return FilePrometheusClient(series, source="/data/m.om")


def values(result: QueryResult) -> dict[tuple[tuple[str, str], ...], list[float]]:
    return {tuple(sorted(s.metric.items())): [v for _, v in s.values] for s in result.series}


async def test_is_a_metrics_source_with_a_file_url(client: FilePrometheusClient) -> None:
    assert isinstance(client, MetricsSource)
    assert client.base_url == "file:///data/m.om"
    await client.aclose()


async def test_from_openmetrics_loads_the_bundled_scenario() -> None:
    path = bundled_scenario_dir() / "metrics.om"
    client = FilePrometheusClient.from_openmetrics(path)
    assert client.base_url == f"file://{path.resolve()}"
    names = await client.metric_names()
    assert "pg_stat_activity_count" in names


async def test_instant_vector_uses_evaluation_time_and_keeps_names(
    client: FilePrometheusClient,
) -> None:
    at = T0 + timedelta(minutes=2, seconds=30)
    result = await client.query('reqs_total{code="500"}', at=at)
    assert result.result_type == "vector"
    assert result.query == 'reqs_total{code="500"}'
    assert result.time_range.start == result.time_range.end == at
    [series] = result.series
    assert series.metric == {"__name__": "reqs_total", "job": "a", "code": "500"}
    assert series.values == [(at.timestamp(), 12.0)]


async def test_lookback_is_five_minutes_inclusive(client: FilePrometheusClient) -> None:
    last = T0 + timedelta(minutes=2)  # job="b" ends here
    at_edge = await client.query('reqs_total{job="b"}', at=last + timedelta(minutes=5))
    after = await client.query('reqs_total{job="b"}', at=last + timedelta(minutes=5, seconds=1))
    assert len(at_edge.series) == 1
    assert after.empty


async def test_rate_adds_counter_resets_and_extrapolates(client: FilePrometheusClient) -> None:
    at = T0 + timedelta(minutes=6)
    result = await client.query('increase(reqs_total{code="500"}[6m])', at=at)
    # 21 - 0 plus 12 lost at the reset; the window edges hold samples: no extrapolation
    assert values(result) == {(("code", "500"), ("job", "a")): [33.0]}
    rate = await client.query('rate(reqs_total{code="200"}[5m])', at=at)
    assert values(rate)[(("code", "200"), ("job", "a"))] == [pytest.approx(1.0)]


async def test_scalar_string_and_matrix_results(client: FilePrometheusClient) -> None:
    at = T0 + timedelta(minutes=3)
    scalar = await client.query("2 * 3 ^ 2", at=at)
    assert scalar.result_type == "scalar"
    assert scalar.series[0].metric == {}
    assert scalar.series[0].values == [(at.timestamp(), 18.0)]
    text = await client.query('"hello"', at=at)
    assert text.result_type == "string"
    matrix = await client.query('reqs_total{job="b"}[2m]', at=at)
    assert matrix.result_type == "matrix"
    assert matrix.series[0].values == [(BASE + 60, 100.0), (BASE + 120, 100.0)]


async def test_histogram_quantile_interpolates_within_a_bucket(
    client: FilePrometheusClient,
) -> None:
    result = await client.query("histogram_quantile(0.5, lat_bucket)", at=T0)
    # rank 20 of 40 falls in (0.1, 0.5], which holds observations 10..30
    assert values(result) == {(): [pytest.approx(0.3)]}


async def test_aggregation_matching_and_filters(client: FilePrometheusClient) -> None:
    at = T0 + timedelta(minutes=2)
    by_job = await client.query("sum by (job) (reqs_total)", at=at)
    assert values(by_job) == {(("job", "a"),): [132.0], (("job", "b"),): [100.0]}
    ratio = await client.query(
        'reqs_total{code="500"} / ignoring(code) reqs_total{code="200"}', at=at
    )
    assert values(ratio) == {(("job", "a"),): [0.1]}
    grouped = await client.query("reqs_total / on(job) group_left sum by (job) (reqs_total)", at=at)
    assert len(grouped.series) == 3
    top = await client.query("topk(1, reqs_total)", at=at)
    assert values(top) == {(("__name__", "reqs_total"), ("code", "200"), ("job", "a")): [120.0]}
    over = await client.query("reqs_total > bool 50", at=at)
    assert sorted(v[0] for v in values(over).values()) == [0.0, 1.0, 1.0]


A = (("code", "200"), ("job", "a"))
E = (("code", "500"), ("job", "a"))
B = (("code", "200"), ("job", "b"))


def named(labels: tuple[tuple[str, str], ...]) -> tuple[tuple[str, str], ...]:
    return tuple(sorted((*labels, ("__name__", "reqs_total"))))


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ('irate(reqs_total{code="500"}[2m])', {E: 0.1}),
        ('irate(reqs_total{code="500"}[2m] offset 3m)', {E: 0.05}),  # 12 -> 3: a reset
        ('delta(reqs_total{code="200", job="a"}[6m])', {A: 360}),
        ('deriv(reqs_total{code="200", job="a"}[6m])', {A: 1}),
        ('predict_linear(reqs_total{code="200", job="a"}[6m], 60)', {A: 420}),
        ('avg_over_time(reqs_total{code="500"}[6m])', {E: 66 / 7}),
        ('max_over_time(reqs_total{code="500"}[6m])', {E: 21}),
        ('min_over_time(reqs_total{code="500"}[6m])', {E: 0}),
        ('sum_over_time(reqs_total{code="500"}[6m])', {E: 66}),
        ('count_over_time(reqs_total{code="500"}[6m])', {E: 7}),
        ('quantile_over_time(0.5, reqs_total{code="500"}[6m])', {E: 9}),
        ('last_over_time(reqs_total{code="500"}[6m])', {named(E): 21}),
        ('abs(-reqs_total{code="500"})', {E: 21}),
        ('clamp_min(reqs_total{job="a"}, 100)', {A: 360, E: 100}),
        ('clamp_max(reqs_total{job="a"}, 100)', {A: 100, E: 21}),
        ('vector(scalar(reqs_total{code="500"}))', {(): 21}),
        ('timestamp(reqs_total{code="500"})', {E: BASE + 360}),
        ('absent(nope{job="x"})', {(("job", "x"),): 1}),
        ("absent(reqs_total)", {}),
        ("count(reqs_total)", {(): 3}),
        ("avg by (job) (reqs_total)", {(("job", "a"),): 190.5, (("job", "b"),): 100}),
        ("min(reqs_total) + max(reqs_total)", {(): 381}),
        ("bottomk(1, reqs_total)", {named(E): 21}),
        ("quantile(0.5, reqs_total)", {(): 100}),
        ("sum without (code) (reqs_total)", {(("job", "a"),): 381, (("job", "b"),): 100}),
        ('reqs_total and reqs_total{code="500"}', {named(E): 21}),
        ('reqs_total unless on(job) reqs_total{code="500"}', {named(B): 100}),
        ('reqs_total{job="b"} or reqs_total{code="500"}', {named(B): 100, named(E): 21}),
        (
            "sum by (job) (reqs_total) * on(job) group_right reqs_total",
            {A: 381 * 360, E: 381 * 21, B: 100 * 100},
        ),
        ("50 < reqs_total", {named(A): 360, named(B): 100}),
        ('-reqs_total{job="b"}', {B: -100}),
        ('reqs_total{code="500"} % 4', {E: 1}),
        ('reqs_total{job="b"} ^ 0.5', {B: 10}),
        ('reqs_total{job="b"} / 0', {B: math.inf}),
        ("vector(time())", {(): BASE + 360}),
    ],
)
async def test_supported_functions_and_operators(
    client: FilePrometheusClient, query: str, expected: dict[tuple[tuple[str, str], ...], float]
) -> None:
    result = await client.query(query, at=T0 + timedelta(minutes=6))
    got = {labels: v[0] for labels, v in values(result).items()}
    assert got == pytest.approx(expected)


async def test_range_query_steps_like_prometheus(client: FilePrometheusClient) -> None:
    result = await client.query_range(
        'reqs_total{job="b"}', start=T0, end=T0 + timedelta(minutes=10), step_s=150
    )
    assert result.result_type == "matrix"
    assert result.time_range.step_s == 150
    [series] = result.series
    # 00:00, 02:30, 05:00, 07:30 (the 02:00 sample is 5.5 min old at 07:30: stale)
    assert [t - BASE for t, _ in series.values] == [0, 150, 300]
    default = await client.query_range("time()", start=T0, end=T0 + timedelta(hours=6))
    assert default.time_range.step_s == 120  # 6 h / 250 points, rounded up
    assert default.series[0].metric == {}
    assert len(default.series[0].values) == 181


async def test_range_query_clamps_the_step_and_checks_the_window(
    client: FilePrometheusClient,
) -> None:
    start = T0 - timedelta(days=14)
    result = await client.query_range("vector(1)", start=start, end=T0, step_s=1)
    assert result.step_clamped is True
    assert result.requested_step_s == 1
    assert result.time_range.step_s == 110
    with pytest.raises(ValueError, match="end is before start"):
        await client.query_range("vector(1)", start=T0, end=start)
    with pytest.raises(UpstreamHTTPError, match="invalid expression type") as caught:
        await client.query_range("reqs_total[5m]", start=start, end=T0)
    assert caught.value.status_code == 400


async def test_errors_name_the_source_and_mirror_prometheus(
    client: FilePrometheusClient,
) -> None:
    with pytest.raises(UpstreamHTTPError) as bad:
        await client.query("rate(reqs_total[5m]", at=T0)
    assert bad.value.status_code == 400
    assert str(bad.value) == (
        'HTTP 400 from file:///data/m.om: bad_data: invalid parameter "query": '
        "1:20: parse error: unclosed left parenthesis"
    )
    with pytest.raises(UpstreamHTTPError) as execution:
        await client.query("reqs_total + on(job) reqs_total", at=T0)
    assert execution.value.status_code == 422
    assert "execution: found duplicate series for the match group" in str(execution.value)
    with pytest.raises(IntegrationError, match=r"^file:///data/m.om: function sort\(\)"):
        await client.query("sort(reqs_total)", at=T0)


async def test_metadata_is_scoped_by_selectors_and_time(client: FilePrometheusClient) -> None:
    assert await client.metric_names() == ["lat_bucket", "reqs_total"]
    assert await client.label_values("code", match=['reqs_total{job="a"}']) == ["200", "500"]
    later = {"start": T0 + timedelta(minutes=3), "end": T0 + timedelta(hours=1)}
    assert await client.label_values("job", **later) == ["a"]
    assert await client.label_names(match=["lat_bucket"]) == ["__name__", "le"]
    series = await client.series(['reqs_total{job="b"}', "lat_bucket"], end=T0)
    assert len(series) == 5
    with pytest.raises(ValueError, match="at least one selector"):
        await client.series([])
    with pytest.raises(UpstreamHTTPError, match="bad_data") as bad:
        await client.label_values("job", match=["sum(reqs_total)"])
    assert bad.value.status_code == 400


async def test_duplicate_input_series_are_merged_in_time_order(tmp_path: Path) -> None:
    path = tmp_path / "m.om"
    path.write_text('x{a="1"} 2 120\nx{a="1"} 1 60\n# EOF\n', encoding="utf-8")
    client = FilePrometheusClient.from_openmetrics(path)
    extra = ScenarioSeries(name="x", labels={"a": "1"}, samples=[(180.0, 9.0), (180.0, 3.0)])
    parsed = parse_openmetrics(path.read_text(encoding="utf-8"))
    merged = FilePrometheusClient([*parsed, extra], source=str(path))
    at = datetime.fromtimestamp(180, UTC)
    single = await client.query("x[3m]", at=at)
    both = await merged.query("x[3m]", at=at)
    assert [v for _, v in single.series[0].values] == [1.0, 2.0]
    assert [v for _, v in both.series[0].values] == [1.0, 2.0, 3.0]


def test_go_float_semantics() -> None:
    assert go_div(1, 0) == math.inf
    assert go_div(-1, 0) == -math.inf
    assert go_div(1, -0.0) == -math.inf
    assert math.isnan(go_div(0, 0))
    assert go_mod(-7, 3) == -1
    assert math.isnan(go_mod(1, 0))
    assert math.isnan(go_mod(math.inf, 2))
    assert go_pow(0, -1) == math.inf
    assert go_pow(-0.0, -1) == -math.inf
    assert go_pow(10, 400) == math.inf
    assert math.isnan(go_pow(-8, 1 / 3))
    assert math.isnan(go_max(1, math.nan))


def test_quantiles_follow_prometheus_edge_cases() -> None:
    assert quantile(0.5, [3, 1, 2]) == 2
    assert quantile(0.25, [1, 2, 3, 4, 5]) == 2
    assert quantile(-1, [1]) == -math.inf
    assert quantile(2, [1]) == math.inf
    assert math.isnan(quantile(0.5, []))
    inf = math.inf
    assert math.isnan(bucket_quantile(0.5, [(1, 5)]))  # no +Inf bucket
    assert math.isnan(bucket_quantile(0.5, [(inf, 5)]))  # fewer than two buckets
    assert math.isnan(bucket_quantile(0.5, [(1, 0), (inf, 0)]))  # no observations
    assert bucket_quantile(0.99, [(1, 5), (2, 6), (inf, 10)]) == 2  # lands in +Inf
    assert bucket_quantile(0.1, [(-1, 5), (inf, 10)]) == -1  # first bound not positive
    assert bucket_quantile(0.5, [(1, 8), (2, 4), (inf, 10)]) == pytest.approx(0.625)
