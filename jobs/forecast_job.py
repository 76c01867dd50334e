"""The forecast job: range queries → forecasts on two processes → predictive alerts, capacity.

For each configured series (:class:`ForecastSeries`; :data:`DEFAULT_FORECAST_SERIES` uses
node_exporter and cAdvisor names) the job range-queries 14 days at a 5-minute step (step
at least 2 minutes, so 14 days stay under Prometheus's 11,000-point limit), forecasts every
returned series with :func:`jobs.forecast.forecast_series` in a process pool (Prophet is
CPU-bound; two workers use both cores), and:

- raises a :class:`PredictiveAlert` when the pessimistic band edge (upper for ``above``,
  lower for ``below``) crosses the threshold between ``min_lead`` (3 h) and the horizon
  (12 h) from now, with the ETA, the band at the ETA, the most likely ETA (point forecast)
  and a PNG chart (last 3 days, forecast, band, threshold);
- computes a :class:`CapacityFigure` per series (days until the daily worst value
  saturates, :func:`jobs.forecast.days_to_saturation`) for the weekly digest.

Nothing here raises for one bad query or series: a failed query, an empty, stale or
unforecastable series, or a chart that cannot be written is logged and recorded in
:attr:`ForecastReport.outcomes` with its reason, and the other series carry on.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import math
import re
from collections.abc import Sequence
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from multiprocessing import get_context
from pathlib import Path

import numpy as np

from agents.charts import format_value, render_timeseries_png
from jobs.forecast import (
    Direction,
    Forecast,
    Forecaster,
    History,
    Saturation,
    days_to_saturation,
    forecast_series,
    threshold_crossing,
)
from jobs.forecast_alerts import (
    DEFAULT_FORECAST_SERIES,
    CapacityFigure,
    ForecastReport,
    ForecastSeries,
    OutcomeStatus,
    PredictiveAlert,
    SeriesOutcome,
)
from jobs.prophet_adapter import warm_up
from memory.errors import CopilotError
from tools.metrics import MetricsSource
from tools.prometheus_client import Series

__all__ = [
    "CHART_HISTORY",
    "DEFAULT_FORECAST_SERIES",
    "DEFAULT_STEP_S",
    "LOOKBACK",
    "MIN_LEAD",
    "MIN_STEP_S",
    "CapacityFigure",
    "ForecastReport",
    "ForecastSeries",
    "PredictiveAlert",
    "SeriesOutcome",
    "run_forecast_job",
    "run_forecasts",
]

logger = logging.getLogger(__name__)

LOOKBACK = timedelta(days=14)
"""History queried per series."""
DEFAULT_STEP_S = 300.0
"""Range-query step: 4,032 points for 14 days."""
MIN_STEP_S = 120.0
"""Smallest step allowed: 14 days / 11,000 points is 110 s."""
MIN_LEAD = timedelta(hours=3)
"""Crossings sooner than this are for ordinary alerting, not predictive alerts."""
CHART_HISTORY = timedelta(days=3)
"""History drawn on an alert chart before the forecast."""
_QUERY_CONCURRENCY = 4


@dataclass(frozen=True)
class _Task:
    config: ForecastSeries
    labels: dict[str, str]
    history: History


async def run_forecasts(
    *,
    source: MetricsSource,
    series_config: Sequence[ForecastSeries],
    now: datetime,
    horizon: timedelta,
    chart_dir: Path,
    workers: int = 2,
    model: Forecaster | None = None,
) -> list[PredictiveAlert]:
    """Forecast every configured series and return the predictive alerts, soonest first.

    Args:
        source: Where to range-query (Prometheus, or a file-backed source).
        series_config: The series to forecast (e.g. :data:`DEFAULT_FORECAST_SERIES`).
        now: End of the queried range and origin of the ETAs (UTC).
        horizon: How far ahead to look (12 h).
        chart_dir: Directory for the alert charts (created if missing).
        workers: Processes forecasting in parallel (``0``: one thread in this process).
        model: Forecaster (default :func:`jobs.forecast.default_forecaster`).

    Returns:
        The alerts; see :func:`run_forecast_job` for capacity figures and outcomes.
    """
    report = await run_forecast_job(
        source=source,
        series_config=series_config,
        now=now,
        horizon=horizon,
        chart_dir=chart_dir,
        workers=workers,
        model=model,
    )
    return report.alerts


async def run_forecast_job(
    *,
    source: MetricsSource,
    series_config: Sequence[ForecastSeries],
    now: datetime,
    horizon: timedelta,
    chart_dir: Path,
    workers: int = 2,
    lookback: timedelta = LOOKBACK,
    step_s: float = DEFAULT_STEP_S,
    min_lead: timedelta = MIN_LEAD,
    model: Forecaster | None = None,
) -> ForecastReport:
    """Forecast every configured series: alerts, capacity figures and per-series outcomes.

    Args:
        source: Where to range-query.
        series_config: The series to forecast.
        now: End of the queried range and origin of the ETAs (a naive time is taken as UTC).
        horizon: How far ahead to look.
        chart_dir: Directory for the alert charts (created if missing).
        workers: Processes forecasting in parallel (``0``: one thread in this process).
        lookback: History queried per series.
        step_s: Range-query step in seconds (at least :data:`MIN_STEP_S`).
        model: Forecaster (default :func:`jobs.forecast.default_forecaster`).
        min_lead: Crossings sooner than this are not predictive alerts.

    Returns:
        The report; alerts sorted by ETA.

    Raises:
        ValueError: ``step_s`` under :data:`MIN_STEP_S`, or a non-positive horizon.
    """
    if step_s < MIN_STEP_S:
        raise ValueError(f"step must be at least {MIN_STEP_S:g} s for a 14-day range")
    if horizon <= timedelta(0):
        raise ValueError("horizon must be positive")
    now = now.replace(tzinfo=UTC) if now.tzinfo is None else now.astimezone(UTC)
    report = ForecastReport()
    tasks = await _query_all(
        source, series_config, start=now - lookback, end=now, step_s=step_s, report=report
    )
    runnable: list[_Task] = []
    for task in tasks:
        stale_s = now.timestamp() - task.history.end if len(task.history) else math.inf
        if stale_s > max(3 * step_s, 1800.0):
            reason = (
                "no finite samples"
                if stale_s == math.inf
                else f"stale: last sample {stale_s / 3600:.1f} h ago"
            )
            report.outcomes.append(_outcome(task, "skipped", reason=reason))
            logger.info("forecast %s %s skipped: %s", task.config.name, task.labels, reason)
            continue
        runnable.append(task)
    if not runnable:
        return report
    try:
        await asyncio.to_thread(chart_dir.mkdir, parents=True, exist_ok=True)
    except OSError as exc:  # charts are optional: alerts still go out without them
        logger.warning("forecast chart directory %s unusable: %s", chart_dir, exc)
    executor = _executor(workers)
    try:
        await _forecast_all(
            executor,
            runnable,
            now=now,
            horizon=horizon,
            step_s=step_s,
            min_lead=min_lead,
            model=model,
            chart_dir=chart_dir,
            report=report,
        )
    except BaseException:
        executor.shutdown(wait=False, cancel_futures=True)
        raise
    await asyncio.to_thread(executor.shutdown, wait=True)
    report.alerts.sort(key=lambda a: a.eta)
    return report


async def _forecast_all(
    executor: Executor,
    tasks: list[_Task],
    *,
    now: datetime,
    horizon: timedelta,
    step_s: float,
    min_lead: timedelta,
    model: Forecaster | None,
    chart_dir: Path,
    report: ForecastReport,
) -> None:
    loop = asyncio.get_running_loop()
    results = await asyncio.gather(
        *(
            loop.run_in_executor(
                executor,
                partial(
                    _forecast_one,
                    task.history,
                    horizon_s=horizon.total_seconds(),
                    step_s=step_s,
                    threshold=task.config.threshold,
                    direction=task.config.direction,
                    model=model,
                ),
            )
            for task in tasks
        ),
        return_exceptions=True,
    )
    charts: list[tuple[int, asyncio.Future[Path]]] = []
    for task, result in zip(tasks, results, strict=True):
        if isinstance(result, BaseException):
            if not isinstance(result, Exception):
                raise result  # cancellation and friends are not a series' problem
            # boundary: a crashed worker or a bug costs this series, not the whole run
            logger.error("forecast %s %s failed: %r", task.config.name, task.labels, result)
            report.outcomes.append(_outcome(task, "error", reason=f"forecast failed: {result!r}"))
            continue
        forecast, saturation = result
        report.capacity.append(_capacity(task, saturation))
        alert = _judge(task, forecast, now=now, horizon=horizon, min_lead=min_lead, report=report)
        if alert is None:
            continue
        report.alerts.append(alert)
        path = chart_dir / _chart_name(task, now)
        future = loop.run_in_executor(executor, partial(_draw, task, forecast, path))
        charts.append((len(report.alerts) - 1, future))
    for index, chart in charts:
        try:
            path = await chart
        except Exception as exc:  # boundary: an alert without a chart beats no alert
            logger.warning("forecast chart not written: %r", exc)
            continue
        report.alerts[index] = report.alerts[index].model_copy(update={"chart_path": path})


def _executor(workers: int) -> Executor:
    if workers <= 0:
        return ThreadPoolExecutor(max_workers=1, thread_name_prefix="forecast")
    # spawn, not fork: the parent runs an event loop and client threads; each worker
    # imports prophet once before its first task (about a second)
    return ProcessPoolExecutor(
        max_workers=workers, mp_context=get_context("spawn"), initializer=warm_up
    )


async def _query_all(
    source: MetricsSource,
    configs: Sequence[ForecastSeries],
    *,
    start: datetime,
    end: datetime,
    step_s: float,
    report: ForecastReport,
) -> list[_Task]:
    limit = asyncio.Semaphore(_QUERY_CONCURRENCY)

    async def one(config: ForecastSeries) -> list[_Task]:
        async with limit:
            try:
                result = await source.query_range(
                    config.promql, start=start, end=end, step_s=step_s
                )
            except CopilotError as exc:
                logger.warning("forecast query %s failed: %s", config.name, exc)
                report.outcomes.append(
                    SeriesOutcome(name=config.name, status="error", reason=f"query failed: {exc}")
                )
                return []
        if result.empty:
            report.outcomes.append(
                SeriesOutcome(name=config.name, status="skipped", reason="query returned no series")
            )
        return [_task(config, series) for series in result.series]

    batches = await asyncio.gather(*(one(config) for config in configs))
    return [task for batch in batches for task in batch]


def _task(config: ForecastSeries, series: Series) -> _Task:
    return _Task(
        config=config, labels=dict(series.metric), history=History.from_points(series.values)
    )


def _forecast_one(
    history: History,
    *,
    horizon_s: float,
    step_s: float,
    threshold: float,
    direction: Direction,
    model: Forecaster | None,
) -> tuple[Forecast, Saturation]:
    """Worker-side: the forecast and the capacity figure of one series."""
    forecast = forecast_series(history, horizon_s=horizon_s, step_s=step_s, model=model)
    saturation = days_to_saturation(history, threshold=threshold, direction=direction)
    return forecast, saturation


def _judge(
    task: _Task,
    forecast: Forecast,
    *,
    now: datetime,
    horizon: timedelta,
    min_lead: timedelta,
    report: ForecastReport,
) -> PredictiveAlert | None:
    config = task.config
    if forecast.empty:
        report.outcomes.append(_outcome(task, "skipped", forecast, reason=forecast.fallback_reason))
        return None
    beyond = (forecast.last_value - config.threshold) * (1 if config.direction == "above" else -1)
    if beyond >= 0:
        report.outcomes.append(_outcome(task, "past_threshold", forecast, reason="already across"))
        return None
    eta = threshold_crossing(forecast, threshold=config.threshold, direction=config.direction)
    if eta is None or eta - now > horizon:
        report.outcomes.append(_outcome(task, "ok", forecast, reason=forecast.fallback_reason))
        return None
    if eta - now < min_lead:
        report.outcomes.append(
            _outcome(task, "crossing_too_soon", forecast, reason=f"crossing at {eta:%H:%M} UTC")
        )
        return None
    likely = threshold_crossing(
        forecast, threshold=config.threshold, direction=config.direction, bound="yhat"
    )
    at = eta.timestamp()
    band = (
        float(np.interp(at, forecast.times, forecast.lower)),
        float(np.interp(at, forecast.times, forecast.upper)),
    )
    lead_h = (eta - now).total_seconds() / 3600
    report.outcomes.append(_outcome(task, "alert", forecast, reason=f"crossing in {lead_h:.1f} h"))
    return PredictiveAlert(
        name=config.name,
        resource=config.resource,
        promql=config.promql,
        labels=task.labels,
        unit=config.unit,
        direction=config.direction,
        threshold=config.threshold,
        eta=eta,
        lead_hours=round(lead_h, 2),
        likely_eta=likely,
        current=forecast.last_value,
        band_at_eta=band,
        interval=forecast.interval,
        method=forecast.method,
        fallback_reason=forecast.fallback_reason,
        detail=forecast.detail,
        notes=forecast.notes,
        summary=_summary(task, forecast, eta=eta, likely=likely, lead_h=lead_h, band=band),
    )


def _summary(
    task: _Task,
    forecast: Forecast,
    *,
    eta: datetime,
    likely: datetime | None,
    lead_h: float,
    band: tuple[float, float],
) -> str:
    config = task.config
    verb = "rise above" if config.direction == "above" else "fall below"
    unit = config.unit
    likely_text = (
        f"most likely at {likely:%H:%M} UTC" if likely else "the point forecast stays within"
    )
    return (
        f"{config.name}{_label_text(task.labels)} may {verb} "
        f"{format_value(config.threshold, unit)} in {lead_h:.1f} h (from {eta:%H:%M} UTC; "
        f"{likely_text}); now {format_value(forecast.last_value, unit)}, "
        f"{forecast.interval:.0%} band at that time "
        f"{format_value(band[0], unit)}–{format_value(band[1], unit)} ({forecast.method})."
    )


def _label_text(labels: dict[str, str]) -> str:
    shown = {k: v for k, v in sorted(labels.items()) if k != "__name__"}
    if not shown:
        return ""
    return "{" + ", ".join(f'{k}="{v}"' for k, v in shown.items()) + "}"


def _capacity(task: _Task, saturation: Saturation) -> CapacityFigure:
    config = task.config
    days = saturation.days
    return CapacityFigure(
        name=config.name,
        resource=config.resource,
        labels=task.labels,
        unit=config.unit,
        direction=config.direction,
        threshold=config.threshold,
        current=saturation.current,
        days_to_saturation=None if days is None else round(days, 2),
        trend_per_day=saturation.trend_per_day,
        reason=saturation.reason,
    )


def _outcome(
    task: _Task, status: OutcomeStatus, forecast: Forecast | None = None, *, reason: str | None
) -> SeriesOutcome:
    return SeriesOutcome(
        name=task.config.name,
        labels=task.labels,
        status=status,
        method=forecast.method if forecast else None,
        reason=reason,
    )


def _chart_name(task: _Task, now: datetime) -> str:
    key = _label_text(task.labels) + task.config.promql
    digest = hashlib.sha256(key.encode()).hexdigest()[:10]
    slug = re.sub(r"[^a-z0-9]+", "-", task.config.name.lower()).strip("-")
    return f"forecast-{slug}-{digest}-{now:%Y%m%dT%H%M}.png"


def _draw(task: _Task, forecast: Forecast, path: Path) -> Path:
    """Worker-side: the alert chart (history, forecast, band, threshold)."""
    history = task.history.since(task.history.end - CHART_HISTORY.total_seconds())
    config = task.config
    return render_timeseries_png(
        title=f"{config.name}{_label_text(task.labels)}: forecast",
        series=[
            ("history", list(zip(history.times.tolist(), history.values.tolist(), strict=True))),
            (f"forecast ({forecast.method})", forecast.points()),
        ],
        unit=config.unit,
        path=path,
        threshold=config.threshold,
        band=forecast.band(),
        threshold_label=f"threshold {format_value(config.threshold, config.unit)}",
        band_label=f"{forecast.interval:.0%} band",
    )
