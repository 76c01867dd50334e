"""Metric questions against a small in-memory MetricsSource (no server, no mocks)."""

from __future__ import annotations

import math
import sys
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from PIL import Image

from agents.charts import format_value, render_timeseries_png
from agents.metric_questions import (
    MAX_SERIES_SHOWN,
    answer_metric_question,
    plan_metric_query,
    summarize_series,
)
from memory.errors import CopilotError, IntegrationError, UpstreamHTTPError, UpstreamTimeout
from tools.base import TimeRange
from tools.metrics import MetricsSource
from tools.prometheus_client import QueryResult, Series

START = datetime(2026, 1, 10, tzinfo=UTC)
END = START + timedelta(hours=6)
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
NODE_1_FS = '{instance="node-1:9100", fstype!~"tmpfs|overlay|squashfs"}'


class FakeSource:
    """A MetricsSource over fixed label sets, answering range queries from canned series.

    ``series`` maps metric names to the label sets that exist; discovery is answered
    from it (``match`` selectors are bare metric names, as the planner sends them).
    ``answers`` maps PromQL to the series returned; any other query gets ``default``.
    ``fail`` makes the named method raise the given error.
    """

    def __init__(
        self,
        series: dict[str, list[dict[str, str]]],
        *,
        answers: dict[str, list[Series]] | None = None,
        default: list[Series] | None = None,
        fail: dict[str, CopilotError] | None = None,
    ) -> None:
        self.series = series
        self.answers = answers or {}
        self.default = default or []
        self.fail = fail or {}
        self.range_queries: list[tuple[str, float | None]] = []
        self.calls: list[str] = []

    @property
    def base_url(self) -> str:
        return "file:///fake"

    def _maybe_fail(self, method: str) -> None:
        self.calls.append(method)
        if method in self.fail:
            raise self.fail[method]

    async def query(self, promql: str, *, at: datetime) -> QueryResult:
        self._maybe_fail("query")
        return QueryResult(
            query=promql, result_type="vector", time_range=TimeRange(start=at, end=at)
        )

    async def query_range(
        self, promql: str, *, start: datetime, end: datetime, step_s: float | None = None
    ) -> QueryResult:
        self._maybe_fail("query_range")
        self.range_queries.append((promql, step_s))
        return QueryResult(
            query=promql,
            result_type="matrix",
            series=self.answers.get(promql, self.default),
            time_range=TimeRange(start=start, end=end, step_s=step_s),
        )

    async def metric_names(
        self,
        *,
        match: Sequence[str] = (),
        start: datetime | None = None,
        end: datetime | None = None,
    ) -> list[str]:
        self._maybe_fail("metric_names")
        return sorted(self.series)

    async def label_values(
        self,
        label: str,
        *,
        match: Sequence[str] = (),
        start: datetime | None = None,
        end: datetime | None = None,
    ) -> list[str]:
        self._maybe_fail("label_values")
        metrics = list(match) or list(self.series)
        found = {ls[label] for m in metrics for ls in self.series.get(m, []) if label in ls}
        return sorted(found)


def ramp(
    first: float, last: float, *, points: int = 181, step_s: float = 120.0
) -> list[tuple[float, float]]:
    t0 = START.timestamp()
    return [(t0 + i * step_s, first + (last - first) * i / (points - 1)) for i in range(points)]


def http(*services: str, extra: dict[str, str] | None = None) -> dict[str, list[dict[str, str]]]:
    label_sets = [
        {"service": s, "job": s, "code": c, **(extra or {})}
        for s in services
        for c in ("200", "500")
    ]
    return {"http_requests_total": label_sets}


async def plan(question: str, source: FakeSource, **kwargs: str):
    return await plan_metric_query(question=question, source=source, start=START, end=END, **kwargs)


async def answer(question: str, source: FakeSource, tmp_path: Path, **kwargs: str):
    return await answer_metric_question(
        question=question, source=source, start=START, end=END, chart_dir=tmp_path, **kwargs
    )


def assert_png(path: Path) -> None:
    assert path.read_bytes()[:8] == PNG_MAGIC
    with Image.open(path) as image:
        assert image.size == (1000, 450)


# --- the fake itself --------------------------------------------------------------------


def test_fake_source_conforms_to_the_protocol() -> None:
    assert isinstance(FakeSource({}), MetricsSource)


# --- discovery and planning -------------------------------------------------------------


async def test_request_rate_uses_the_service_label_and_value_found() -> None:
    found = await plan(
        "what is the request rate of checkout?", FakeSource(http("checkout", "payments"))
    )
    assert found is not None
    assert found.kind == "request_rate"
    assert found.promql == 'sum by (service) (rate(http_requests_total{service="checkout"}[5m]))'
    assert (found.service_label, found.service, found.unit) == ("service", "checkout", "req/s")


async def test_service_label_falls_back_to_app_when_there_is_no_service_label() -> None:
    source = FakeSource(
        {
            "http_requests_total": [
                {"app": "checkout-api", "code": "200"},
                {"app": "search", "code": "200"},
            ]
        }
    )
    found = await plan("checkout api request rate", source)
    assert found is not None
    assert found.promql == 'sum by (app) (rate(http_requests_total{app="checkout-api"}[5m]))'
    assert found.service_label == "app"


@pytest.mark.parametrize(
    ("question", "expected"),
    [
        ("request rate of CHECKOUT", "checkout"),  # case-insensitive
        ("request rate of checkout", "checkout"),  # exact beats the checkout-api prefix
        ("request rate of checkout-api", "checkout-api"),
        ("checkout api throughput", "checkout-api"),  # words as a phrase
        ("payment request rate", "payments"),  # substring
        ("request rate of chekout", "checkout"),  # fuzzy
    ],
)
async def test_service_matching(question: str, expected: str) -> None:
    found = await plan(question, FakeSource(http("checkout", "checkout-api", "payments")))
    assert found is not None
    assert found.service == expected


async def test_explicit_service_overrides_the_question() -> None:
    found = await plan(
        "request rate of checkout", FakeSource(http("checkout", "payments")), service="Payments"
    )
    assert found is not None
    assert found.service == "payments"


async def test_no_service_named_groups_by_the_discovered_label() -> None:
    found = await plan("what is the request rate?", FakeSource(http("checkout", "payments")))
    assert found is not None
    assert found.promql == "sum by (service) (rate(http_requests_total[5m]))"
    assert found.service is None


@pytest.mark.parametrize(
    ("question", "quantile", "title"),
    [
        ("p99 latency of checkout", "0.99", "p99 latency"),
        ("99th percentile latency of checkout", "0.99", "p99 latency"),
        ("95 percentile response time for checkout", "0.95", "p95 latency"),
        ("p90 of checkout", "0.9", "p90 latency"),
        ("p99.9 latency of checkout", "0.999", "p99.9 latency"),
        ("median latency of checkout", "0.5", "p50 latency"),
        ("how slow is checkout", "0.99", "p99 latency"),  # default quantile
    ],
)
async def test_latency_quantiles(question: str, quantile: str, title: str) -> None:
    source = FakeSource(
        {"http_request_duration_seconds_bucket": [{"service": "checkout", "le": "0.1"}]}
    )
    found = await plan(question, source)
    assert found is not None
    assert found.promql == (
        f"histogram_quantile({quantile}, sum by (le, service) "
        '(rate(http_request_duration_seconds_bucket{service="checkout"}[5m])))'
    )
    assert (found.title, found.unit) == (title, "s")


@pytest.mark.parametrize("label", ["code", "status"])
async def test_error_ratio_uses_the_status_label_that_exists(label: str) -> None:
    source = FakeSource({"http_requests_total": [{"service": "checkout", label: "500"}]})
    found = await plan("error ratio for checkout", source)
    assert found is not None
    total = 'sum by (service) (rate(http_requests_total{service="checkout"}[5m]))'
    errors = (
        f'sum by (service) (rate(http_requests_total{{service="checkout", {label}=~"5.."}}[5m]))'
    )
    assert found.promql == f"({errors} or {total} * 0) / {total}"
    assert found.unit == "ratio"


async def test_error_ratio_without_a_status_label_is_no_match(tmp_path: Path) -> None:
    source = FakeSource({"http_requests_total": [{"service": "checkout"}]})
    assert await plan("error ratio for checkout", source) is None
    reply = await answer("error ratio for checkout", source, tmp_path)
    assert reply.kind == "info"
    assert "code/status/status_code" in reply.sections[1].body
    assert source.range_queries == []


async def test_cpu_prefers_containers_then_falls_back_to_the_node_that_matches() -> None:
    source = FakeSource(
        {
            "container_cpu_usage_seconds_total": [{"container": "checkout", "pod": "checkout-1"}],
            "node_cpu_seconds_total": [{"instance": "node-1:9100", "job": "node", "mode": "idle"}],
        }
    )
    containers = await plan("CPU of checkout", source)
    node = await plan("CPU usage on node-1", source)
    assert containers is not None and node is not None
    assert containers.promql == (
        "sum by (pod) (rate(container_cpu_usage_seconds_total"
        '{container="checkout", container!=""}[5m]))'
    )
    assert node.promql == (
        "1 - avg by (instance) (rate(node_cpu_seconds_total"
        '{instance="node-1:9100", mode="idle"}[5m]))'
    )
    assert (node.unit, node.service_label) == ("ratio", "instance")


async def test_memory_against_limits_falls_back_to_bytes_when_empty(tmp_path: Path) -> None:
    source = FakeSource(
        {
            "container_memory_working_set_bytes": [{"container": "checkout", "pod": "checkout-1"}],
            "kube_pod_container_resource_limits": [{"pod": "checkout-1", "resource": "memory"}],
        },
        default=[Series(metric={"pod": "checkout-1"}, values=ramp(2**30, 2**30))],
    )
    found = await plan("memory of checkout", source)
    assert found is not None and found.fallback is not None
    assert found.unit == "ratio" and found.threshold == 1.0
    assert "/ on (namespace, pod)" in found.promql
    assert found.fallback.promql == (
        'sum by (pod) (container_memory_working_set_bytes{container="checkout", container!=""})'
    )
    source.answers[found.promql] = []  # no limits set: the ratio query is empty
    reply = await answer("memory of checkout", source, tmp_path)
    assert reply.promql == [found.fallback.promql]
    assert reply.text == "checkout-1 memory working set is 1 GiB (flat)."


@pytest.mark.parametrize(
    ("question", "series", "expected"),
    [
        (
            "disk space on node-1",
            {
                "node_filesystem_avail_bytes": [{"instance": "node-1:9100"}],
                "node_filesystem_size_bytes": [{"instance": "node-1:9100"}],
            },
            f"min by (mountpoint, instance) (node_filesystem_avail_bytes{NODE_1_FS}"
            f" / node_filesystem_size_bytes{NODE_1_FS})",
        ),
        (
            "db connections of orders-db",
            {
                "pg_stat_activity_count": [{"job": "orders-db"}],
                "pg_settings_max_connections": [{"job": "orders-db"}],
            },
            'sum by (job) (pg_stat_activity_count{job="orders-db"}) / '
            'max by (job) (pg_settings_max_connections{job="orders-db"})',
        ),
        (
            "restarts of checkout",
            {"kube_pod_container_status_restarts_total": [{"container": "checkout", "pod": "c-1"}]},
            "sum by (pod) (increase("
            'kube_pod_container_status_restarts_total{container="checkout"}[1h]))',
        ),
    ],
)
async def test_other_families(
    question: str, series: dict[str, list[dict[str, str]]], expected: str
) -> None:
    found = await plan(question, FakeSource(series))
    assert found is not None
    assert found.promql == expected


async def test_step_aims_at_about_200_points_and_widens_the_rate_window() -> None:
    source = FakeSource(http("checkout"))
    six_hours = await plan("request rate of checkout", source)
    two_weeks = await plan_metric_query(
        question="request rate of checkout", source=source, start=END - timedelta(days=14), end=END
    )
    assert six_hours is not None and two_weeks is not None
    assert six_hours.step_s == 120  # 6 h / 200 = 108 s, rounded up to a round step
    assert two_weeks.step_s == 7200
    assert "[2h]" in two_weeks.promql  # a 5m rate would skip most samples between steps


# --- raw PromQL ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("question", "expected"),
    [
        ("promql: sum(rate(http_requests_total[5m]))", "sum(rate(http_requests_total[5m]))"),
        ("PromQL:`up`", "up"),
        ("is `rate(errors_total[5m])` high?", "rate(errors_total[5m])"),
        ("```promql\nhistogram_quantile(0.9, x_bucket)\n```", "histogram_quantile(0.9, x_bucket)"),
    ],
)
async def test_raw_promql_runs_as_is_without_discovery(question: str, expected: str) -> None:
    source = FakeSource({})
    found = await plan(question, source)
    assert found is not None
    assert (found.kind, found.promql) == ("raw", expected)
    assert source.calls == []


async def test_a_backticked_service_name_is_not_promql() -> None:
    found = await plan("request rate of `checkout`", FakeSource(http("checkout")))
    assert found is not None
    assert found.kind == "request_rate"


# --- replies ------------------------------------------------------------------------------


async def test_answer_summarises_trend_units_and_attaches_the_chart(tmp_path: Path) -> None:
    latency = ramp(0.21, 2.4, points=91)
    latency.append((latency[-1][0] + 120, 2.3))
    source = FakeSource(
        {"http_request_duration_seconds_bucket": [{"service": "checkout", "le": "1"}]},
        default=[Series(metric={"service": "checkout"}, values=latency)],
    )
    reply = await answer("checkout p99 latency", source, tmp_path)
    assert reply.kind == "answer"
    assert reply.text == "checkout p99 latency rose from 210 ms to 2.4 s; now 2.3 s (rising)."
    assert reply.promql == [source.range_queries[0][0]]
    assert source.range_queries[0][1] == 120
    [section] = reply.sections
    assert section.body.startswith("• *checkout*: last 2.3 s · min 210 ms · max 2.4 s")
    assert section.body.endswith("· rising")
    [chart] = reply.attachments
    assert chart.mimetype == "image/png"
    assert Path(chart.path).parent == tmp_path
    assert_png(Path(chart.path))


async def test_answer_caps_series_at_the_top_five_by_last_value(tmp_path: Path) -> None:
    series = [Series(metric={"service": f"svc{i}"}, values=ramp(i, i)) for i in range(7)]
    source = FakeSource(http(*(f"svc{i}" for i in range(7))), default=series)
    reply = await answer("request rate", source, tmp_path)
    [section] = reply.sections
    lines = section.body.splitlines()
    assert [line.split("*")[1] for line in lines[:MAX_SERIES_SHOWN]] == [
        "svc6",
        "svc5",
        "svc4",
        "svc3",
        "svc2",
    ]
    assert lines[-1] == "_2 more series omitted (showing the top 5 by last value)._"
    assert "top 5 of 7 series" in section.title
    assert reply.text == "svc6 request rate is 6 req/s (flat), the highest of 7 series."


async def test_no_data_is_an_info_reply_with_the_query(tmp_path: Path) -> None:
    source = FakeSource(http("checkout"), default=[Series(metric={}, values=[(1.0, math.nan)])])
    reply = await answer("request rate of checkout", source, tmp_path)
    assert reply.kind == "info"
    assert reply.text.startswith("No data for checkout request rate in 2026-01-10 00:00")
    assert reply.promql and not reply.attachments


async def test_unknown_family_lists_what_was_looked_for_and_found(tmp_path: Path) -> None:
    source = FakeSource({"node_cpu_seconds_total": [{"instance": "n1"}]})
    assert await plan("p99 latency of checkout", source) is None
    reply = await answer("p99 latency of checkout", source, tmp_path)
    assert reply.kind == "info"
    assert "no latency quantile metric" in reply.text
    looked, found = reply.sections
    assert looked.body == "• http_request_duration_seconds_bucket"
    assert found.body == "• node_cpu_seconds_total"
    assert "rephras" in reply.notes[0]
    assert source.range_queries == []


async def test_question_with_no_known_kind_lists_every_family(tmp_path: Path) -> None:
    reply = await answer("how is the weather in Paris?", FakeSource(http("checkout")), tmp_path)
    assert reply.kind == "info"
    assert "pg_stat_activity_count" in reply.sections[0].body
    assert reply.sections[1].body == "• http_requests_total"


async def test_unknown_service_says_which_values_exist(tmp_path: Path) -> None:
    source = FakeSource(http("checkout", "payments"))
    assert await plan("request rate of billing", source) is None
    reply = await answer("request rate of billing", source, tmp_path)
    assert reply.kind == "info"
    assert "'billing'" in reply.text
    assert "http_requests_total service: checkout, payments" in reply.sections[1].body
    assert source.range_queries == []


@pytest.mark.parametrize(
    ("method", "error", "query"),
    [
        (
            "query_range",
            UpstreamHTTPError(
                "HTTP 422 from http://prom/api/v1/query_range: bad_data", status_code=422
            ),
            'sum by (service) (rate(http_requests_total{service="checkout"}[5m]))',
        ),
        ("metric_names", UpstreamTimeout("no answer within 5s"), "discovery: metric names"),
        (
            "label_values",
            IntegrationError("cannot connect: refused"),
            "discovery: values of service for http_requests_total",
        ),
    ],
)
async def test_source_errors_become_failed_sources(
    tmp_path: Path, method: str, error: CopilotError, query: str
) -> None:
    source = FakeSource(http("checkout"), fail={method: error})
    reply = await answer("request rate of checkout", source, tmp_path)
    assert reply.kind == "error"
    [failure] = reply.failed_sources
    assert failure.source == "metrics file:///fake"
    assert str(error) in failure.error and query in failure.error
    assert query in reply.text
    assert reply.promql == ([] if query.startswith("discovery") else [query])


async def test_plan_raises_the_source_error() -> None:
    source = FakeSource(http("checkout"), fail={"metric_names": UpstreamTimeout("slow")})
    with pytest.raises(UpstreamTimeout):
        await plan("request rate of checkout", source)


async def test_empty_window_is_an_error_reply(tmp_path: Path) -> None:
    reply = await answer_metric_question(
        question="request rate", source=FakeSource({}), start=END, end=START, chart_dir=tmp_path
    )
    assert reply.kind == "error"
    assert "window is empty" in reply.text


async def test_unwritable_chart_dir_still_answers(tmp_path: Path) -> None:
    blocker = tmp_path / "charts"
    blocker.write_text("a file where the directory should be")
    source = FakeSource(
        http("checkout"), default=[Series(metric={"service": "checkout"}, values=ramp(1, 1))]
    )
    reply = await answer("request rate of checkout", source, blocker)
    assert reply.kind == "answer"
    assert not reply.attachments
    assert reply.notes[-1].startswith("No chart:")


# --- summaries and formatting -------------------------------------------------------------


@pytest.mark.parametrize(
    ("points", "trend"),
    [
        (ramp(1.0, 1.05), "flat"),
        (ramp(1.0, 2.0), "rising"),
        (ramp(2.0, 1.0), "falling"),
        (ramp(0.0, 0.0), "flat"),
        (ramp(-1.0, 1.0), "rising"),  # mean 0: relative to the largest magnitude
    ],
)
def test_trend_is_the_least_squares_change_relative_to_the_mean(
    points: list[tuple[float, float]], trend: str
) -> None:
    stats = summarize_series("s", points)
    assert stats is not None
    assert stats.trend == trend


def test_summary_ignores_non_finite_samples() -> None:
    stats = summarize_series("s", [(0.0, math.nan), (60.0, 1.0), (120.0, math.inf), (180.0, 3.0)])
    assert stats is not None
    assert (stats.first, stats.last, stats.minimum, stats.maximum, stats.mean) == (1, 3, 1, 3, 2)
    assert summarize_series("s", [(0.0, math.nan)]) is None


@pytest.mark.parametrize(
    ("value", "unit", "text"),
    [
        (2.4, "s", "2.4 s"),
        (0.21, "s", "210 ms"),
        (0.0000042, "s", "4.2 µs"),
        (0.16667, "ratio", "16.7%"),
        (0.0, "ratio", "0%"),
        (8 * 2**30 - 360 * 2**20, "bytes", "7.65 GiB"),
        (1536, "bytes", "1.5 KiB"),
        (512, "bytes", "512 B"),
        (10.0, "req/s", "10 req/s"),
        (2.0, "/s", "2/s"),
        (12345.0, "", "12,345"),
        (math.nan, "s", "n/a"),
    ],
)
def test_format_value(value: float, unit: str, text: str) -> None:
    assert format_value(value, unit) == text


# --- charts ---------------------------------------------------------------------------------


def test_chart_is_a_1000x450_png_with_threshold_band_and_capped_legend(tmp_path: Path) -> None:
    series = [(f"series-{i}-" + "x" * 60, ramp(i, i + 1)) for i in range(12)]
    band = [(t, v - 0.5, v + 0.5) for t, v in ramp(1, 2)]
    path = render_timeseries_png(
        title="p99 latency",
        series=series,
        unit="s",
        path=tmp_path / "c.png",
        threshold=5.0,
        band=band,
    )
    assert path == tmp_path / "c.png"
    assert_png(path)
    pyplot = sys.modules.get("matplotlib.pyplot")
    assert pyplot is None or pyplot.get_fignums() == []  # no global figure state


def test_chart_without_data_still_renders(tmp_path: Path) -> None:
    path = render_timeseries_png(
        title="nothing", series=[("a", [])], unit="ratio", path=tmp_path / "e.png"
    )
    assert_png(path)
