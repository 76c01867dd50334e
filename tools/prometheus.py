"""Prometheus integration: read-only PromQL and discovery tools.

:class:`PrometheusIntegration` owns one :class:`~tools.prometheus_client.PrometheusClient`
and exposes eight tools (all read-only):

``prometheus_query_instant``, ``prometheus_query_range``, ``prometheus_list_metrics``,
``prometheus_list_labels``, ``prometheus_list_label_values``, ``prometheus_list_alerts``,
``prometheus_list_rules``, ``prometheus_list_targets``.

Every result carries ``source`` (``prometheus <base URL>``), ``query`` (the exact PromQL or
API call) and, where there is one, ``time_range``. Upstream trouble is a result, not an
exception: a bad expression is ``status=error`` with ``upstream_status=400`` and
Prometheus's own message; an empty answer is ``status=no_data`` naming the query and
window. Times accept RFC 3339, unix seconds or ``now-1h`` (:mod:`tools.prometheus_time`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

import httpx

from memory.errors import ConfigError, IntegrationError, UpstreamHTTPError
from tools.base import Health, HealthState, TimeRange, Tool, ToolResult, ToolStatus
from tools.config import PrometheusConfig
from tools.http import describe_source, error_result
from tools.prometheus_args import (
    ListLabelsArgs,
    ListLabelValuesArgs,
    ListMetricsArgs,
    ListPrometheusAlertsArgs,
    ListRulesArgs,
    ListTargetsArgs,
    QueryInstantArgs,
    QueryRangeArgs,
    TimeArg,
)
from tools.prometheus_client import PrometheusClient, QueryResult, Series
from tools.prometheus_time import parse_duration, parse_time, utc_now

__all__ = [
    "ListLabelValuesArgs",
    "ListLabelsArgs",
    "ListMetricsArgs",
    "ListPrometheusAlertsArgs",
    "ListRulesArgs",
    "ListTargetsArgs",
    "PrometheusClient",
    "PrometheusIntegration",
    "QueryInstantArgs",
    "QueryRangeArgs",
    "QueryResult",
    "Series",
]

logger = logging.getLogger(__name__)

HEALTH_TIMEOUT_S = 5.0


class PrometheusIntegration:
    """Prometheus as a set of read-only tools, plus its typed client for jobs.

    Args:
        config: Base URL, timeout, TLS verification and optional bearer token.
        transport: Optional httpx transport (``httpx.MockTransport`` in unit tests).
        clock: What "now" is, for relative times (aware UTC; injectable for tests).
    """

    name = "prometheus"

    def __init__(
        self,
        config: PrometheusConfig,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self._config = config
        self._clock = clock
        self._client = PrometheusClient(config, transport=transport) if config.configured else None
        self.source = describe_source(self.name, config.base_url)
        self._tools: list[Tool[Any]] = [
            Tool.define(func, args_model=model, integration=self.name, name=func.__name__)
            for func, model in (
                (self.prometheus_query_instant, QueryInstantArgs),
                (self.prometheus_query_range, QueryRangeArgs),
                (self.prometheus_list_metrics, ListMetricsArgs),
                (self.prometheus_list_labels, ListLabelsArgs),
                (self.prometheus_list_label_values, ListLabelValuesArgs),
                (self.prometheus_list_alerts, ListPrometheusAlertsArgs),
                (self.prometheus_list_rules, ListRulesArgs),
                (self.prometheus_list_targets, ListTargetsArgs),
            )
        ]

    @property
    def configured(self) -> bool:
        """Whether a base URL is set."""
        return self._client is not None

    @property
    def client(self) -> PrometheusClient:
        """The typed client (for jobs and agents that need raw series).

        Raises:
            ConfigError: No base URL is configured.
        """
        if self._client is None:
            raise ConfigError("Prometheus is not configured: set SRE_COPILOT_PROMETHEUS__BASE_URL")
        return self._client

    def tools(self) -> list[Tool[Any]]:
        """The eight read-only Prometheus tools."""
        return list(self._tools)

    async def aclose(self) -> None:
        """Close the HTTP connection pool."""
        if self._client is not None:
            await self._client.aclose()

    async def health(self) -> Health:
        """Probe ``/api/v1/status/buildinfo`` (falling back to ``/-/ready``) within 5 s."""
        if self._client is None:
            return Health(
                integration=self.name, state=HealthState.NOT_CONFIGURED, reason="no base URL set"
            )
        timeout_s = min(self._config.timeout_s, HEALTH_TIMEOUT_S)
        try:
            try:
                info = await self._client.build_info(timeout_s=timeout_s)
                reason = f"Prometheus {info.version} at {self._client.base_url}"
            except UpstreamHTTPError as exc:
                if exc.status_code != 404:  # compatible servers may lack buildinfo
                    raise
                await self._client.ready(timeout_s=timeout_s)
                reason = f"ready at {self._client.base_url}"
        except IntegrationError as exc:
            return Health(integration=self.name, state=HealthState.UNHEALTHY, reason=str(exc))
        return Health(integration=self.name, state=HealthState.HEALTHY, reason=reason)

    def _require(self) -> PrometheusClient:
        if self._client is None:
            raise IntegrationError("Prometheus is not configured (no base URL)")
        return self._client

    def _result(self, tool: str, **fields: Any) -> ToolResult:
        return ToolResult(tool=tool, source=self.source, **fields)

    def _window(
        self, start: TimeArg | None, end: TimeArg | None
    ) -> tuple[datetime | None, datetime | None, TimeRange | None]:
        now = self._clock()
        since = parse_time(start, now=now) if start is not None else None
        until = parse_time(end, now=now) if end is not None else None
        window = TimeRange(start=since or until, end=until or now) if since or until else None
        return since, until, window

    async def prometheus_query_instant(self, args: QueryInstantArgs) -> ToolResult:
        """Evaluate a PromQL expression at one instant (default: now).

        Use it for "what is the value now / at 03:00" questions, e.g. current error ratio
        per service or top CPU consumers. Returns each series' labels and value; when
        nothing matches, the status is no_data and names the query and time.
        """
        tool = "prometheus_query_instant"
        at = parse_time(args.time, now=self._clock())
        window = TimeRange(start=at, end=at)
        try:
            result = await self._require().query(args.query, at=at)
        except IntegrationError as exc:
            return error_result(
                tool=tool, exc=exc, source=self.source, query=args.query, time_range=window
            )
        if result.empty:
            return self._no_data(tool, args.query, window, f"at {at.isoformat()}")
        shown = result.series[: args.max_series]
        series = [
            {"metric": s.metric, "timestamp": s.values[0][0], "value": s.values[0][1]}
            for s in shown
            if s.values
        ]
        return self._result(
            tool,
            status=ToolStatus.OK,
            query=args.query,
            time_range=window,
            data=_payload(result, series, len(shown)),
        )

    async def prometheus_query_range(self, args: QueryRangeArgs) -> ToolResult:
        """Evaluate a PromQL expression over a time range and return the series.

        Use it for trends, "since when", before/after comparisons and charts. Returns each
        series' labels, (unix seconds, value) points and min/max/avg/last. The step used is
        in time_range.step_s: too fine a step is raised so the query stays under
        Prometheus's 11,000 points per series.
        """
        tool = "prometheus_query_range"
        now = self._clock()
        start, end = parse_time(args.start, now=now), parse_time(args.end, now=now)
        window = TimeRange(start=start, end=end)
        if end < start:
            message = f"invalid range: end {end.isoformat()} is before start {start.isoformat()}"
            return self._result(
                tool, status=ToolStatus.ERROR, query=args.query, time_range=window, error=message
            )
        step_s = parse_duration(args.step).total_seconds() if args.step is not None else None
        try:
            result = await self._require().query_range(
                args.query, start=start, end=end, step_s=step_s
            )
        except IntegrationError as exc:
            return error_result(
                tool=tool, exc=exc, source=self.source, query=args.query, time_range=window
            )
        span = f"between {start.isoformat()} and {end.isoformat()}"
        if result.empty:
            return self._no_data(tool, args.query, result.time_range, span)
        shown = result.series[: args.max_series]
        series = [{"metric": s.metric, "values": s.values, "summary": s.summary()} for s in shown]
        data = _payload(result, series, len(shown))
        data.update(
            step_s=result.time_range.step_s,
            requested_step_s=result.requested_step_s,
            step_clamped=result.step_clamped,
        )
        return self._result(
            tool, status=ToolStatus.OK, query=args.query, time_range=result.time_range, data=data
        )

    async def prometheus_list_metrics(self, args: ListMetricsArgs) -> ToolResult:
        """List metric names Prometheus knows, optionally filtered by text, selector or window.

        Use it before writing PromQL, to find the exact metric name (e.g. whether requests
        are counted in http_requests_total or http_server_requests_seconds_count).
        """
        tool = "prometheus_list_metrics"
        start, end, window = self._window(args.start, args.end)
        query = _describe("GET /api/v1/label/__name__/values", args.match)
        try:
            names = await self._require().metric_names(match=args.match, start=start, end=end)
        except IntegrationError as exc:
            return error_result(
                tool=tool, exc=exc, source=self.source, query=query, time_range=window
            )
        if args.contains:
            needle = args.contains.lower()
            names = [n for n in names if needle in n.lower()]
            query += f" contains={args.contains!r}"
        return self._listing(tool, query, window, "metrics", names, args.limit)

    async def prometheus_list_labels(self, args: ListLabelsArgs) -> ToolResult:
        """List label names, optionally only those on series matching a selector.

        Use it to learn how series are broken down (service, instance, code, ...) before
        grouping or filtering in PromQL.
        """
        tool = "prometheus_list_labels"
        start, end, window = self._window(args.start, args.end)
        query = _describe("GET /api/v1/labels", args.match)
        try:
            names = await self._require().label_names(match=args.match, start=start, end=end)
        except IntegrationError as exc:
            return error_result(
                tool=tool, exc=exc, source=self.source, query=query, time_range=window
            )
        return self._listing(tool, query, window, "labels", names, 10000)

    async def prometheus_list_label_values(self, args: ListLabelValuesArgs) -> ToolResult:
        """List the values of one label (e.g. every service, job or instance).

        Use it to find the exact spelling of a service or instance before querying it.
        """
        tool = "prometheus_list_label_values"
        start, end, window = self._window(args.start, args.end)
        query = _describe(f"GET /api/v1/label/{args.label}/values", args.match)
        try:
            values = await self._require().label_values(
                args.label, match=args.match, start=start, end=end
            )
        except IntegrationError as exc:
            return error_result(
                tool=tool, exc=exc, source=self.source, query=query, time_range=window
            )
        return self._listing(tool, query, window, "values", values, args.limit)

    async def prometheus_list_alerts(self, args: ListPrometheusAlertsArgs) -> ToolResult:
        """List alerts Prometheus's rules are currently firing or pending, with labels and values.

        Use it to see what the rule evaluator thinks right now, independently of silences
        and routing in Alertmanager.
        """
        tool = "prometheus_list_alerts"
        query = f"GET /api/v1/alerts state={args.state}"
        try:
            alerts = await self._require().alerts()
        except IntegrationError as exc:
            return error_result(tool=tool, exc=exc, source=self.source, query=query)
        if args.state != "any":
            alerts = [a for a in alerts if a.state == args.state]
        items = [a.model_dump(mode="json") for a in alerts]
        return self._listing(tool, query, None, "alerts", items, 10000)

    async def prometheus_list_rules(self, args: ListRulesArgs) -> ToolResult:
        """List alerting and recording rules with their health, state and last error.

        Use it to check whether an alert exists for a symptom, what its expression and
        threshold are, or whether a rule is failing to evaluate.
        """
        tool = "prometheus_list_rules"
        query = f"GET /api/v1/rules type={args.type} only_unhealthy={args.only_unhealthy}"
        rule_type = None if args.type == "any" else args.type
        try:
            groups = await self._require().rules(rule_type=rule_type)
        except IntegrationError as exc:
            return error_result(tool=tool, exc=exc, source=self.source, query=query)
        rules = [
            {"group": g.name, "file": g.file, **r.model_dump(mode="json", exclude={"alerts"})}
            | {"active_alerts": len(r.alerts)}
            for g in groups
            for r in g.rules
            if not args.only_unhealthy or r.health != "ok"
        ]
        return self._listing(tool, query, None, "rules", rules, 10000)

    async def prometheus_list_targets(self, args: ListTargetsArgs) -> ToolResult:
        """List scrape targets with health (up/down), last error and last scrape time.

        Use it when metrics are missing or stale: a down target explains gaps.
        """
        tool = "prometheus_list_targets"
        query = f"GET /api/v1/targets state={args.state} only_unhealthy={args.only_unhealthy}"
        try:
            targets = await self._require().targets(state=args.state)
        except IntegrationError as exc:
            return error_result(tool=tool, exc=exc, source=self.source, query=query)
        items = [
            t.model_dump(mode="json")
            for t in targets
            if not args.only_unhealthy or t.health not in ("up", "dropped")
        ]
        return self._listing(tool, query, None, "targets", items, 10000)

    def _no_data(self, tool: str, query: str, window: TimeRange, when: str) -> ToolResult:
        return self._result(
            tool,
            status=ToolStatus.NO_DATA,
            query=query,
            time_range=window,
            error=f"no data: {query} returned no series {when}; check metric and label names "
            "with prometheus_list_metrics / prometheus_list_label_values",
        )

    def _listing(
        self,
        tool: str,
        query: str,
        window: TimeRange | None,
        key: str,
        items: Sequence[Any],
        limit: int,
    ) -> ToolResult:
        if not items:
            when = f" in {window.describe()}" if window else ""
            return self._result(
                tool,
                status=ToolStatus.NO_DATA,
                query=query,
                time_range=window,
                error=f"no {key} found for {query}{when}",
            )
        data = {key: list(items[:limit]), "total": len(items), "truncated": len(items) > limit}
        return self._result(tool, status=ToolStatus.OK, query=query, time_range=window, data=data)


def _describe(call: str, match: Sequence[str]) -> str:
    return call + "".join(f" match[]={m}" for m in match)


def _payload(result: QueryResult, series: list[dict[str, Any]], shown: int) -> dict[str, Any]:
    return {
        "result_type": result.result_type,
        "series": series,
        "series_total": len(result.series),
        "truncated": shown < len(result.series),
        "warnings": result.warnings,
    }
