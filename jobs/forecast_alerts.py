"""What the forecast job is configured with and what it produces.

:class:`ForecastSeries` is one configured PromQL series with its limit;
:data:`DEFAULT_FORECAST_SERIES` are the defaults (node_exporter and cAdvisor names, plus a
request rate). A run of :func:`jobs.forecast_job.run_forecast_job` returns a
:class:`ForecastReport`: :class:`PredictiveAlert` s, :class:`CapacityFigure` s for the
digest, and one :class:`SeriesOutcome` per query or series saying what happened and why.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from jobs.forecast import Direction


class ForecastSeries(BaseModel):
    """One configured series to forecast: a PromQL query and its limit.

    Every series the query returns is forecast separately (one per instance, mountpoint,
    pod, ...).
    """

    model_config = ConfigDict(frozen=True)

    name: str = Field(description="Short identifier, e.g. `filesystem_free_bytes`.")
    resource: str = Field(description="Capacity resource for the digest: disk, memory, cpu, ...")
    promql: str = Field(description="Range query; each returned series is forecast.")
    threshold: float = Field(description="Limit in the query's unit.")
    direction: Direction = Field(description="`above`: trouble at or over; `below`: at or under.")
    unit: str = Field(default="", description="Unit for charts and text (see agents.charts).")
    description: str = Field(default="", description="What the series means, for people.")


_NODE_FS = 'fstype!~"tmpfs|ramfs|squashfs|overlay|nsfs|fuse.*",mountpoint!~"/run.*|/boot.*"'
_CONTAINER = 'container!="",image!=""'
_BY_CONTAINER = "by (namespace, pod, container)"

DEFAULT_FORECAST_SERIES: tuple[ForecastSeries, ...] = (
    ForecastSeries(
        name="filesystem_free_bytes",
        resource="disk",
        promql=f"node_filesystem_avail_bytes{{{_NODE_FS}}}",
        threshold=5 * 1024**3,
        direction="below",
        unit="bytes",
        description="Free bytes per filesystem (node_exporter).",
    ),
    ForecastSeries(
        name="node_memory_available_ratio",
        resource="memory",
        promql="node_memory_MemAvailable_bytes / node_memory_MemTotal_bytes",
        threshold=0.10,
        direction="below",
        unit="ratio",
        description="Share of memory available per node (node_exporter).",
    ),
    ForecastSeries(
        name="node_cpu_utilisation",
        resource="cpu",
        promql='1 - avg by (instance) (rate(node_cpu_seconds_total{mode="idle"}[5m]))',
        threshold=0.90,
        direction="above",
        unit="ratio",
        description="Busy share of all CPUs per node (node_exporter).",
    ),
    ForecastSeries(
        name="container_memory_limit_ratio",
        resource="memory",
        promql=(
            f"max {_BY_CONTAINER} (container_memory_working_set_bytes{{{_CONTAINER}}})"
            f" / max {_BY_CONTAINER} (container_spec_memory_limit_bytes{{{_CONTAINER}}} > 0)"
        ),
        threshold=0.90,
        direction="above",
        unit="ratio",
        description="Working set over memory limit per container (cAdvisor); OOM-kill at 1.",
    ),
    ForecastSeries(
        name="container_cpu_limit_ratio",
        resource="cpu",
        promql=(
            f"sum {_BY_CONTAINER} (rate(container_cpu_usage_seconds_total{{{_CONTAINER}}}[5m]))"
            f" / (max {_BY_CONTAINER} (container_spec_cpu_quota{{{_CONTAINER}}} > 0)"
            f" / max {_BY_CONTAINER} (container_spec_cpu_period{{{_CONTAINER}}}))"
        ),
        threshold=0.90,
        direction="above",
        unit="ratio",
        description="CPU used over CPU limit per container (cAdvisor); throttling at 1.",
    ),
    ForecastSeries(
        name="http_request_rate",
        resource="requests",
        promql="sum by (job) (rate(http_requests_total[5m]))",
        threshold=1000.0,
        direction="above",
        unit="req/s",
        description="Requests per second per job; set the threshold to the tested capacity.",
    ),
)
"""Defaults: filesystem free bytes, memory, CPU (node_exporter and cAdvisor), request rate."""


class PredictiveAlert(BaseModel):
    """A forecast threshold crossing 3-12 h ahead.

    Attributes:
        name: The configured series name.
        resource: Its capacity resource.
        promql: The query that returned the series.
        labels: The series' labels.
        unit: Unit of the values.
        direction: Which side of the threshold is trouble.
        threshold: The limit.
        eta: When the pessimistic band edge reaches the threshold (UTC).
        lead_hours: ``eta - now`` in hours.
        likely_eta: When the point forecast reaches it (``None``: not within the horizon).
        current: Last observed value.
        band_at_eta: ``(lower, upper)`` of the band at the ETA.
        interval: Coverage the band aims at.
        method: Model used (``ensemble``, ``linear``, ...).
        fallback_reason: Why the method is a fallback, if it is.
        detail: How the model decided.
        notes: Data-cleaning notes.
        chart_path: PNG with history, forecast, band and threshold (``None``: not drawn).
        summary: One line for people.
    """

    model_config = ConfigDict(frozen=True)

    name: str
    resource: str
    promql: str
    labels: dict[str, str]
    unit: str
    direction: Direction
    threshold: float
    eta: datetime
    lead_hours: float
    likely_eta: datetime | None
    current: float
    band_at_eta: tuple[float, float]
    interval: float
    method: str
    fallback_reason: str | None = None
    detail: str | None = None
    notes: tuple[str, ...] = ()
    chart_path: Path | None = None
    summary: str


class CapacityFigure(BaseModel):
    """Days until saturation of one series, for the digest.

    Attributes:
        name: The configured series name.
        resource: Its capacity resource (disk, memory, cpu, requests).
        labels: The series' labels.
        unit: Unit of the values.
        direction: Which side of the threshold is trouble.
        threshold: The limit.
        current: Worst value of the last 24 h.
        days_to_saturation: Days until the daily worst value reaches the threshold
            (``0``: already there; ``None``: not heading there).
        trend_per_day: Trend of the daily worst value, units per day.
        reason: Why ``days_to_saturation`` is ``None`` or ``0``.
    """

    model_config = ConfigDict(frozen=True)

    name: str
    resource: str
    labels: dict[str, str]
    unit: str
    direction: Direction
    threshold: float
    current: float
    days_to_saturation: float | None
    trend_per_day: float
    reason: str | None = None


OutcomeStatus = Literal["alert", "ok", "crossing_too_soon", "past_threshold", "skipped", "error"]
"""``alert`` raised; ``ok`` no crossing within the horizon; ``crossing_too_soon`` before
``min_lead``; ``past_threshold`` already across; ``skipped`` no usable data; ``error``
the query failed."""


class SeriesOutcome(BaseModel):
    """What the job did with one query or series, and why."""

    model_config = ConfigDict(frozen=True)

    name: str
    labels: dict[str, str] = Field(default_factory=dict)
    status: OutcomeStatus
    method: str | None = None
    reason: str | None = None


class ForecastReport(BaseModel):
    """Everything one run produced."""

    alerts: list[PredictiveAlert] = Field(default_factory=list)
    capacity: list[CapacityFigure] = Field(default_factory=list)
    outcomes: list[SeriesOutcome] = Field(default_factory=list)
