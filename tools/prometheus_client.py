"""Typed async client of the Prometheus HTTP API (``/api/v1``).

Used by the Prometheus tools and directly by jobs (forecasts, anomalies), so every
method returns pydantic models rather than raw JSON, and raises the
:mod:`memory.errors` tree (through :mod:`tools.http`) for upstream trouble.

Range queries: Prometheus refuses a range query when ``(end - start) / step`` exceeds
11,000 (``exceeded maximum resolution of 11,000 points per timeseries``). The client
therefore raises a too-fine step to ``ceil((end - start) / 11000)`` seconds
(:func:`choose_step`), and reports the step actually used in the result's
``time_range.step_s`` (``step_clamped`` says whether it was raised). Fourteen days thus
need a step of at least 110 s.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from datetime import datetime
from typing import Any, Literal

import httpx
from pydantic import BaseModel, ConfigDict, Field

from memory.errors import IntegrationError, UpstreamHTTPError
from tools.base import TimeRange
from tools.config import PrometheusConfig
from tools.http import build_client, display_url, read_json, send
from tools.prometheus_time import as_utc, to_api_time

logger = logging.getLogger(__name__)

MAX_POINTS_PER_SERIES = 11_000
"""Prometheus's hard limit on ``(end - start) / step`` for one range query."""
DEFAULT_POINTS = 250
"""Points per series aimed at when no step is given (enough for a chart, cheap for an LLM)."""
_NICE_STEPS_S = (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 21600, 86400)
_POST_ABOVE_CHARS = 2000  # long PromQL goes in a form body, not the URL (proxy URL limits)


class Series(BaseModel):
    """One time series: its labels and ``(unix seconds, value)`` samples."""

    metric: dict[str, str] = Field(default_factory=dict)
    values: list[tuple[float, float]] = Field(default_factory=list)

    @property
    def name(self) -> str | None:
        """The ``__name__`` label, when the result kept it."""
        return self.metric.get("__name__")

    def summary(self) -> dict[str, float | int | None]:
        """Point count and min/max/avg/last of the values, ignoring NaN (None when all NaN)."""
        values = [v for _, v in self.values if not math.isnan(v)]
        if not values:
            return {"points": len(self.values), "min": None, "max": None, "avg": None, "last": None}
        return {
            "points": len(self.values),
            "min": min(values),
            "max": max(values),
            "avg": sum(values) / len(values),
            "last": values[-1],
        }


class QueryResult(BaseModel):
    """Answer to an instant or range query.

    Attributes:
        query: The exact PromQL sent.
        result_type: ``vector``, ``matrix``, ``scalar`` or ``string``.
        series: Every returned series (a scalar is one series with no labels).
        time_range: The evaluation instant (start == end) or the range with the step used.
        step_clamped: Whether the requested step was raised to stay under the point limit.
        requested_step_s: The step asked for (``None`` when chosen automatically).
        warnings: Warnings Prometheus attached to the answer.
    """

    query: str
    result_type: str
    series: list[Series] = Field(default_factory=list)
    time_range: TimeRange
    step_clamped: bool = False
    requested_step_s: float | None = None
    warnings: list[str] = Field(default_factory=list)

    @property
    def empty(self) -> bool:
        """Whether no series came back."""
        return not self.series


class PrometheusAlert(BaseModel):
    """A pending or firing alert as Prometheus's rule evaluator sees it."""

    model_config = ConfigDict(populate_by_name=True)

    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)
    state: str
    active_at: datetime | None = Field(default=None, alias="activeAt")
    value: str | None = None


class Rule(BaseModel):
    """An alerting or recording rule with its evaluation health."""

    model_config = ConfigDict(populate_by_name=True)

    name: str
    type: str
    query: str
    health: str = "unknown"
    state: str | None = None
    last_error: str | None = Field(default=None, alias="lastError")
    duration_s: float = Field(default=0.0, alias="duration")
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)
    alerts: list[PrometheusAlert] = Field(default_factory=list)


class RuleGroup(BaseModel):
    """A rule group from one rule file."""

    model_config = ConfigDict(populate_by_name=True)

    name: str
    file: str
    interval_s: float = Field(default=0.0, alias="interval")
    rules: list[Rule] = Field(default_factory=list)


class Target(BaseModel):
    """A scrape target and its last scrape."""

    model_config = ConfigDict(populate_by_name=True)

    scrape_pool: str = Field(default="", alias="scrapePool")
    scrape_url: str = Field(default="", alias="scrapeUrl")
    health: str = "unknown"
    labels: dict[str, str] = Field(default_factory=dict)
    last_error: str = Field(default="", alias="lastError")
    last_scrape: datetime | None = Field(default=None, alias="lastScrape")
    last_scrape_duration_s: float | None = Field(default=None, alias="lastScrapeDuration")


class BuildInfo(BaseModel):
    """Version of the Prometheus server."""

    version: str = "unknown"
    revision: str = ""


def choose_step(
    *, start: datetime, end: datetime, step_s: float | None = None
) -> tuple[float, bool]:
    """The step to use for a range query, and whether the requested one was raised.

    With no ``step_s``, aims at about :data:`DEFAULT_POINTS` points, rounded up to a round
    step (15 s, 1 min, 5 min, ...). Either way the step is raised to at least
    ``ceil((end - start) / 11000)`` seconds so Prometheus accepts the query.

    Raises:
        ValueError: ``end`` is before ``start`` or ``step_s`` is not positive.
    """
    span_s = (as_utc(end) - as_utc(start)).total_seconds()
    if span_s < 0:
        raise ValueError("end is before start")
    if step_s is not None and step_s <= 0:
        raise ValueError("step must be positive")
    minimum = float(max(1, math.ceil(span_s / MAX_POINTS_PER_SERIES)))
    if step_s is None:
        wanted = span_s / DEFAULT_POINTS
        nice = next((s for s in _NICE_STEPS_S if s >= wanted), math.ceil(wanted))
        return max(float(nice), minimum), False
    if step_s < minimum and span_s / step_s > MAX_POINTS_PER_SERIES:
        return minimum, True
    return float(step_s), False


class PrometheusClient:
    """Async client of one Prometheus server (or API-compatible: Thanos, Mimir, VictoriaMetrics).

    Args:
        config: Base URL, timeout, TLS verification and optional bearer token.
        transport: Optional httpx transport (``httpx.MockTransport`` in unit tests).

    Raises:
        ValueError: ``config.base_url`` is empty.
    """

    def __init__(
        self, config: PrometheusConfig, *, transport: httpx.AsyncBaseTransport | None = None
    ) -> None:
        self._config = config
        self._http = build_client(config, bearer_token=config.bearer_token, transport=transport)

    @property
    def base_url(self) -> str:
        """The configured base URL."""
        return str(self._config.base_url)

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._http.aclose()

    async def _get(
        self,
        path: str,
        params: dict[str, Any] | None = None,
        *,
        timeout_s: float | None = None,
    ) -> Any:
        response = await send(self._http, "GET", path, params=params, timeout_s=timeout_s)
        return _unwrap(read_json(response), response)

    async def _query(self, path: str, params: dict[str, Any]) -> Any:
        if len(params["query"]) > _POST_ABOVE_CHARS:
            response = await send(self._http, "POST", path, data=params)
        else:
            response = await send(self._http, "GET", path, params=params)
        body = read_json(response)
        return _unwrap(body, response), [str(w) for w in body.get("warnings") or []]

    async def query(self, promql: str, *, at: datetime) -> QueryResult:
        """Evaluate ``promql`` at one instant (``/api/v1/query``)."""
        at = as_utc(at)
        data, warnings = await self._query(
            "/api/v1/query", {"query": promql, "time": to_api_time(at)}
        )
        return QueryResult(
            query=promql,
            result_type=data.get("resultType", "unknown"),
            series=_parse_result(data),
            time_range=TimeRange(start=at, end=at),
            warnings=warnings,
        )

    async def query_range(
        self, promql: str, *, start: datetime, end: datetime, step_s: float | None = None
    ) -> QueryResult:
        """Evaluate ``promql`` over ``[start, end]`` (``/api/v1/query_range``).

        The step is chosen or clamped by :func:`choose_step`; the result's
        ``time_range.step_s`` is the step actually used.

        Raises:
            ValueError: ``end`` is before ``start`` or ``step_s`` is not positive.
        """
        start, end = as_utc(start), as_utc(end)
        used, clamped = choose_step(start=start, end=end, step_s=step_s)
        if clamped:
            logger.info("range query step raised from %ss to %ss (point limit)", step_s, used)
        params = {
            "query": promql,
            "start": to_api_time(start),
            "end": to_api_time(end),
            "step": f"{used:g}",
        }
        data, warnings = await self._query("/api/v1/query_range", params)
        return QueryResult(
            query=promql,
            result_type=data.get("resultType", "unknown"),
            series=_parse_result(data),
            time_range=TimeRange(start=start, end=end, step_s=used),
            step_clamped=clamped,
            requested_step_s=step_s,
            warnings=warnings,
        )

    async def label_values(
        self,
        label: str,
        *,
        match: Sequence[str] = (),
        start: datetime | None = None,
        end: datetime | None = None,
    ) -> list[str]:
        """Values of one label (``/api/v1/label/<label>/values``), optionally scoped."""
        data = await self._get(f"/api/v1/label/{label}/values", _scope(match, start, end))
        return [str(v) for v in data or []]

    async def metric_names(
        self,
        *,
        match: Sequence[str] = (),
        start: datetime | None = None,
        end: datetime | None = None,
    ) -> list[str]:
        """Metric names (values of ``__name__``), optionally scoped by selectors and time."""
        return await self.label_values("__name__", match=match, start=start, end=end)

    async def label_names(
        self,
        *,
        match: Sequence[str] = (),
        start: datetime | None = None,
        end: datetime | None = None,
    ) -> list[str]:
        """Label names (``/api/v1/labels``), optionally scoped by selectors and time."""
        data = await self._get("/api/v1/labels", _scope(match, start, end))
        return [str(v) for v in data or []]

    async def series(
        self, match: Sequence[str], *, start: datetime | None = None, end: datetime | None = None
    ) -> list[dict[str, str]]:
        """Label sets of the series matching any selector in ``match`` (``/api/v1/series``)."""
        if not match:
            raise ValueError("series() needs at least one selector")
        data = await self._get("/api/v1/series", _scope(match, start, end))
        return [{str(k): str(v) for k, v in item.items()} for item in data or []]

    async def alerts(self) -> list[PrometheusAlert]:
        """Pending and firing alerts of the rule evaluator (``/api/v1/alerts``)."""
        data = await self._get("/api/v1/alerts")
        return [PrometheusAlert.model_validate(a) for a in (data or {}).get("alerts", [])]

    async def rules(
        self, *, rule_type: Literal["alert", "record"] | None = None
    ) -> list[RuleGroup]:
        """Rule groups with their rules and health (``/api/v1/rules``)."""
        params = {"type": rule_type} if rule_type else None
        data = await self._get("/api/v1/rules", params)
        return [RuleGroup.model_validate(g) for g in (data or {}).get("groups", [])]

    async def targets(
        self, *, state: Literal["active", "dropped", "any"] = "active"
    ) -> list[Target]:
        """Scrape targets (``/api/v1/targets``); dropped targets carry only their labels."""
        data = await self._get("/api/v1/targets", {"state": state}) or {}
        targets = [Target.model_validate(t) for t in data.get("activeTargets") or []]
        for dropped in data.get("droppedTargets") or []:
            labels = dict(dropped.get("discoveredLabels") or {})
            targets.append(Target(health="dropped", labels=labels))
        return targets

    async def build_info(self, *, timeout_s: float | None = None) -> BuildInfo:
        """Server version (``/api/v1/status/buildinfo``)."""
        return BuildInfo.model_validate(
            await self._get("/api/v1/status/buildinfo", timeout_s=timeout_s)
        )

    async def ready(self, *, timeout_s: float | None = None) -> None:
        """Succeed when ``/-/ready`` answers 200; raise the error tree otherwise."""
        await send(self._http, "GET", "/-/ready", timeout_s=timeout_s)


def _scope(match: Sequence[str], start: datetime | None, end: datetime | None) -> dict[str, Any]:
    params: dict[str, Any] = {}
    if match:
        params["match[]"] = list(match)
    if start is not None:
        params["start"] = to_api_time(start)
    if end is not None:
        params["end"] = to_api_time(end)
    return params


def _unwrap(body: Any, response: httpx.Response) -> Any:
    """The ``data`` of a Prometheus API envelope; an ``error`` envelope raises."""
    url = display_url(response.request.url)
    if not isinstance(body, dict) or "status" not in body:
        raise IntegrationError(f"unexpected answer from {url}: not a Prometheus API body")
    if body["status"] != "success":
        message = f"{body.get('errorType', 'error')}: {body.get('error', 'unknown error')}"
        raise UpstreamHTTPError(
            f"HTTP {response.status_code} from {url}: {message}",
            status_code=response.status_code,
        )
    return body.get("data")


def _sample(pair: Sequence[Any]) -> tuple[float, float]:
    timestamp, raw = pair
    try:
        value = float(raw)  # Prometheus encodes values as strings, incl. "NaN" and "+Inf"
    except (TypeError, ValueError):
        value = math.nan  # a string result has no numeric value
    return float(timestamp), value


def _parse_result(data: dict[str, Any]) -> list[Series]:
    kind = data.get("resultType")
    result = data.get("result")
    if kind in ("scalar", "string"):
        return [Series(values=[_sample(result)])] if result else []
    series = []
    for item in result or []:
        pairs = item.get("values") if kind == "matrix" else [item.get("value")]
        values = [_sample(p) for p in pairs or [] if p]
        series.append(Series(metric=item.get("metric") or {}, values=values))
    return series
