"""Scheduled jobs: cron triggers in memory, exactly-once runs per period in the database.

APScheduler 3.11's SQLAlchemy job store is sync-only, so jobs live in an in-memory
store and are registered from code at every start (:class:`CopilotScheduler`). What
makes a run happen once is the database, not the scheduler: :func:`run_once` inserts
the unique ``(workspace, job, period)`` row (:meth:`memory.repositories.JobRunRepository.claim`)
before running, so two replicas, a restart or a catch-up never run a period twice.

Period keys say which slot a run covers: the cron slot (``2026-11-27T10:30``) for
forecasts and anomaly scans, the ISO week (``2026-W48``) for the weekly digest, and
``manual-<time>`` for ``sre-copilot jobs run``. At start, every job whose last due
slot has no row is run once (catch-up); a slot already claimed is skipped.

:func:`run_once` is a boundary (STYLE §4.7 rule 9): whatever the job raises is logged,
recorded on its row (status ``failed``, the error, the duration) and returned, never
re-raised.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, tzinfo
from pathlib import Path
from typing import Any, Literal, Protocol
from zoneinfo import ZoneInfo

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.cron import CronTrigger
from pydantic import BaseModel, Field

from agents.reply import Attachment, Reply, Section
from jobs.anomaly import AnomalyExplanation, MetricSeries, explain
from jobs.config import JobsConfig
from jobs.forecast_alerts import ForecastReport, ForecastSeries, PredictiveAlert
from jobs.forecast_job import run_forecast_job
from jobs.proposals import TriggeredProposer
from memory.errors import CopilotError
from memory.models import JobRunStatus
from memory.repositories import Repositories
from tools.metrics import MetricsSource
from tools.telemetry import current

logger = logging.getLogger(__name__)

FORECAST_JOB = "forecast"
ANOMALY_JOB = "anomaly_scan"
DIGEST_JOB = "weekly_digest"
RETENTION_JOB = "retention"
_LOOKBACKS = (timedelta(hours=1), timedelta(days=1), timedelta(days=8), timedelta(days=32))
_MAX_ERROR_CHARS = 2000


@dataclass(frozen=True)
class JobContext:
    """What a job function receives for one run.

    Attributes:
        repos: Repositories over the product database.
        workspace_id: Workspace the run belongs to.
        job: Job name.
        period: Period key the run claimed.
        now: When the run started (UTC).
        manual: Whether a person started it (``sre-copilot jobs run``).
    """

    repos: Repositories
    workspace_id: str
    job: str
    period: str
    now: datetime
    manual: bool = False


JobFunc = Callable[[JobContext], Awaitable[dict[str, Any]]]
"""A job: ``async def job(ctx) -> dict`` (a small JSON-able summary of what it did).

A summary with a ``"skipped"`` key means the job had nothing it could do (for
example Prometheus is not configured); the reason is recorded on the run row.
"""
PeriodOf = Callable[[datetime], str]
"""Maps a time to the period key of the slot containing it."""


@dataclass(frozen=True)
class JobSpec:
    """One scheduled job.

    Attributes:
        name: Unique job name (also the APScheduler job id).
        cron: Crontab expression (5 fields).
        func: The job function.
        period_of: Period key of a time (see :func:`cron_slot_period`, :func:`iso_week_period`).
        description: One line for ``sre-copilot jobs list``.
    """

    name: str
    cron: str
    func: JobFunc
    period_of: PeriodOf
    description: str = ""


class JobOutcome(BaseModel):
    """What one :func:`run_once` call did.

    Attributes:
        job: Job name.
        period: Period key.
        status: ``succeeded``/``failed`` (this call ran it) or ``skipped`` (already claimed).
        run_id: The run row (``None`` when skipped, or when the database failed).
        duration_ms: Run time recorded on the row.
        error: Why it failed.
        note: What the job said it skipped (``skipped: Prometheus not configured``).
        result: The job's summary.
        owner: Process that made this call.
    """

    job: str
    period: str
    status: Literal["succeeded", "failed", "skipped"]
    run_id: int | None = None
    duration_ms: float | None = None
    error: str | None = None
    note: str | None = None
    result: dict[str, Any] = Field(default_factory=dict)
    owner: str = ""


def default_owner() -> str:
    """``host:pid`` of this process, recorded on the rows it claims."""
    return f"{socket.gethostname()}:{os.getpid()}"


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def last_fire_time(cron: str, now: datetime, *, tz: tzinfo = UTC) -> datetime:
    """The latest time at or before ``now`` that ``cron`` fires (its current slot).

    Args:
        cron: Crontab expression.
        now: Reference time (naive is taken as UTC).
        tz: Timezone of the cron expression.

    Returns:
        The slot start, in UTC.

    Raises:
        ValueError: Bad expression, or one that fires less than monthly.
    """
    trigger = CronTrigger.from_crontab(cron, timezone=tz)
    now = _utc(now)
    for lookback in _LOOKBACKS:
        fire = trigger.get_next_fire_time(None, now - lookback)
        if fire is None or fire > now:
            continue
        while True:
            after = trigger.get_next_fire_time(fire, fire + timedelta(microseconds=1))
            if after is None or after > now:
                return _utc(fire)
            fire = after
    raise ValueError(f"cron {cron!r} does not fire within {_LOOKBACKS[-1].days} days")


def cron_slot_period(cron: str, *, tz: tzinfo = UTC) -> PeriodOf:
    """Period keys ``2026-11-27T10:30`` (UTC): one per cron slot."""

    def period_of(now: datetime) -> str:
        return f"{last_fire_time(cron, now, tz=tz):%Y-%m-%dT%H:%M}"

    return period_of


def iso_week(value: datetime, *, tz: tzinfo = UTC) -> str:
    """ISO week key of a time, e.g. ``2026-W48``."""
    year, week, _ = _utc(value).astimezone(tz).isocalendar()
    return f"{year}-W{week:02d}"


def iso_week_period(cron: str, *, tz: tzinfo = UTC) -> PeriodOf:
    """Period keys ``2026-W48``: the ISO week of the last due slot of ``cron``.

    Using the last *due* slot (not ``now``) means a process started on Monday before
    the 09:00 digest does not run this week's digest early: it checks last week's.
    """

    def period_of(now: datetime) -> str:
        return iso_week(last_fire_time(cron, now, tz=tz), tz=tz)

    return period_of


def manual_period(now: datetime) -> str:
    """Period key of a run started by hand: never collides with a scheduled slot."""
    return f"manual-{_utc(now):%Y-%m-%dT%H:%M:%S.%f}"


def _short_error(exc: BaseException) -> str:
    text = f"{type(exc).__name__}: {exc}"
    return text[:_MAX_ERROR_CHARS]


async def run_once(
    *,
    repos: Repositories,
    workspace_id: str,
    spec: JobSpec,
    now: datetime,
    owner: str,
    manual: bool = False,
) -> JobOutcome:
    """Claim the job's period and run it, unless someone already did.

    Args:
        repos: Repositories (the claim is an insert-unique in the database).
        workspace_id: Workspace of the run.
        spec: The job.
        now: Run time; the period is ``spec.period_of(now)`` (or a manual key).
        owner: Who claims (``host:pid``), recorded on the row.
        manual: Use a ``manual-…`` period key (a person asked to run it now).

    Returns:
        The outcome; never raises for the job's or the database's errors.
    """
    now = _utc(now)
    try:
        period = manual_period(now) if manual else spec.period_of(now)
    except Exception as exc:  # boundary: a bad cron must not kill the scheduler
        logger.exception("job %s: no period for %s", spec.name, now)
        return JobOutcome(
            job=spec.name, period="", status="failed", error=_short_error(exc), owner=owner
        )
    base = {"job": spec.name, "period": period, "owner": owner}
    try:
        row = await repos.job_runs.claim(
            workspace_id=workspace_id, job=spec.name, period=period, owner=owner
        )
    except Exception as exc:  # boundary: database down; the next slot will try again
        logger.exception("job %s period %s: claim failed", spec.name, period)
        return JobOutcome(**base, status="failed", error=_short_error(exc))
    if row is None or row.id is None:
        logger.info("job %s period %s already claimed: skipped", spec.name, period)
        return JobOutcome(**base, status="skipped")
    run_id = row.id
    ctx = JobContext(
        repos=repos,
        workspace_id=workspace_id,
        job=spec.name,
        period=period,
        now=now,
        manual=manual,
    )
    logger.info("job %s period %s started by %s", spec.name, period, owner)
    result: dict[str, Any] = {}
    error: str | None = None
    note: str | None = None
    try:
        result = dict(await spec.func(ctx))
    except asyncio.CancelledError:
        await _finish(repos, workspace_id, run_id, JobRunStatus.FAILED, "cancelled")
        raise
    except Exception as exc:  # boundary: record, log, never re-raise
        logger.exception("job %s period %s failed", spec.name, period)
        error = _short_error(exc)
    if error is None and "skipped" in result:
        note = f"skipped: {result['skipped']}"
    status = JobRunStatus.FAILED if error else JobRunStatus.SUCCEEDED
    # the run row has no separate note column: a job's own skip reason goes in ``error``
    finished = await _finish(repos, workspace_id, run_id, status, error or note)
    logger.info("job %s period %s %s", spec.name, period, status.value)
    return JobOutcome(
        **base,
        status="failed" if error else "succeeded",
        run_id=run_id,
        duration_ms=finished,
        error=error,
        note=note,
        result=result,
    )


async def _finish(
    repos: Repositories,
    workspace_id: str,
    run_id: int,
    status: JobRunStatus,
    error: str | None,
) -> float | None:
    try:
        row = await repos.job_runs.finish(
            workspace_id=workspace_id, run_id=run_id, status=status, error=error
        )
    except Exception:  # boundary: the run happened; only its bookkeeping failed
        logger.exception("job run %s: could not record %s", run_id, status.value)
        return None
    return row.duration_ms


class CopilotScheduler:
    """APScheduler 3.11 ``AsyncIOScheduler`` whose cron triggers call :func:`run_once`.

    The job store is in memory; :meth:`start` registers every job from code, then
    catches up: each job whose current period has no row runs once now.
    """

    def __init__(
        self,
        *,
        repos: Repositories,
        workspace_id: str,
        jobs: Sequence[JobSpec],
        owner: str | None = None,
        timezone: str = "UTC",
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        names = [j.name for j in jobs]
        if len(set(names)) != len(names):
            raise ValueError(f"duplicate job names in {names}")
        self.repos = repos
        self.workspace_id = workspace_id
        self.jobs = {j.name: j for j in jobs}
        self.owner = owner or default_owner()
        self._tz = ZoneInfo(timezone)
        self._clock = clock or (lambda: datetime.now(UTC))
        self._scheduler: AsyncIOScheduler | None = None
        self.outcomes: list[JobOutcome] = []

    @property
    def running(self) -> bool:
        """Whether the triggers are active."""
        return self._scheduler is not None and bool(self._scheduler.running)

    async def start(self, *, catch_up: bool = True) -> list[JobOutcome]:
        """Register the cron triggers and start them; then run due periods once.

        Args:
            catch_up: Run each job whose current period has no run row yet.

        Returns:
            Outcomes of the catch-up runs (``skipped`` where the period was done).
        """
        scheduler = AsyncIOScheduler(timezone=self._tz)
        for spec in self.jobs.values():
            scheduler.add_job(
                self._fire,
                CronTrigger.from_crontab(spec.cron, timezone=self._tz),
                args=[spec.name],
                id=spec.name,
                name=spec.name,
                replace_existing=True,
                coalesce=True,
                max_instances=1,
                misfire_grace_time=300,
            )
        scheduler.start()
        self._scheduler = scheduler
        logger.info("scheduler %s started with jobs %s", self.owner, sorted(self.jobs))
        if not catch_up:
            return []
        return list(await asyncio.gather(*(self._fire(name) for name in self.jobs)))

    async def run_now(self, name: str, *, manual: bool = True) -> JobOutcome:
        """Run one job now (a manual period key unless ``manual`` is false)."""
        spec = self.jobs[name]
        started = time.perf_counter()
        outcome = await run_once(
            repos=self.repos,
            workspace_id=self.workspace_id,
            spec=spec,
            now=self._clock(),
            owner=self.owner,
            manual=manual,
        )
        ran = outcome.status != "skipped"
        current().observe_job_run(
            job=name,
            status=outcome.status,
            seconds=time.perf_counter() - started if ran else None,
        )
        return outcome

    async def _fire(self, name: str) -> JobOutcome:
        outcome = await self.run_now(name, manual=False)
        self.outcomes.append(outcome)
        return outcome

    def trigger_now(self, name: str) -> None:
        """Make APScheduler fire a job's trigger path now (its period comes from the clock).

        Raises:
            RuntimeError: The scheduler is not started.
            KeyError: No such job.
        """
        if self._scheduler is None:
            raise RuntimeError("the scheduler is not started")
        if name not in self.jobs:
            raise KeyError(name)
        self._scheduler.modify_job(name, next_run_time=datetime.now(UTC))

    def next_run_times(self) -> dict[str, datetime | None]:
        """Next fire time of each registered job (empty before :meth:`start`)."""
        if self._scheduler is None:
            return {}
        return {job.id: job.next_run_time for job in self._scheduler.get_jobs()}

    async def shutdown(self) -> None:
        """Stop the triggers (a running job is left to finish on its own)."""
        if self._scheduler is not None and self._scheduler.running:
            self._scheduler.shutdown(wait=False)
        self._scheduler = None
        await asyncio.sleep(0)


def default_jobs(
    *,
    config: JobsConfig,
    forecast: JobFunc,
    anomaly_scan: JobFunc,
    digest: JobFunc,
    retention: JobFunc | None = None,
) -> list[JobSpec]:
    """The product's jobs with cron from ``config`` and the given job functions.

    Args:
        config: Cron expressions and their timezone.
        forecast: Capacity forecast job (see :func:`forecast_job`).
        anomaly_scan: Anomaly scan job (see :func:`anomaly_scan_job`).
        digest: Weekly digest job (see :func:`jobs.digest.digest_job`).
        retention: Retention job (see :func:`jobs.retention.retention_job`); not
            registered when ``None``.

    Returns:
        Specs for :class:`CopilotScheduler`.
    """
    tz = ZoneInfo(config.timezone)
    specs = [
        JobSpec(
            name=FORECAST_JOB,
            cron=config.forecast_cron,
            func=forecast,
            period_of=cron_slot_period(config.forecast_cron, tz=tz),
            description="Capacity forecasts and predictive alerts.",
        ),
        JobSpec(
            name=ANOMALY_JOB,
            cron=config.anomaly_cron,
            func=anomaly_scan,
            period_of=cron_slot_period(config.anomaly_cron, tz=tz),
            description="Anomaly detection over the watched series.",
        ),
        JobSpec(
            name=DIGEST_JOB,
            cron=config.digest_cron,
            func=digest,
            period_of=iso_week_period(config.digest_cron, tz=tz),
            description="Weekly insight digest.",
        ),
    ]
    if retention is not None:
        specs.append(
            JobSpec(
                name=RETENTION_JOB,
                cron=config.retention_cron,
                func=retention,
                period_of=cron_slot_period(config.retention_cron, tz=tz),
                description="Delete old dedupe keys and job runs (retention).",
            )
        )
    return specs


@dataclass
class RecentResults:
    """What the forecast and anomaly jobs found last, for the digest (in this process).

    Attributes:
        forecast: The latest forecast report.
        anomalies: Anomalies found by recent scans, newest last (bounded).
        max_anomalies: How many anomalies to keep.
    """

    forecast: ForecastReport | None = None
    anomalies: list[AnomalyExplanation] = field(default_factory=list)
    max_anomalies: int = 200

    def add_anomalies(self, found: Sequence[AnomalyExplanation]) -> None:
        """Remember new anomalies, keeping the newest ``max_anomalies``."""
        self.anomalies.extend(found)
        del self.anomalies[: max(0, len(self.anomalies) - self.max_anomalies)]


class ReplySink(Protocol):
    """Where a job posts what it found (a Slack channel in production)."""

    async def post_digest(self, reply: Reply) -> None:
        """Publish ``reply``."""
        ...


def predictive_alert_reply(alert: PredictiveAlert) -> Reply:
    """A predictive alert as a transport-neutral reply (ETA, band, chart)."""
    lower, upper = alert.band_at_eta
    body = "\n".join(
        [
            f"• Query: `{alert.promql}`",
            f"• Now: {alert.current:.4g} {alert.unit}; threshold {alert.threshold:.4g} "
            f"({alert.direction})",
            f"• Pessimistic ETA: {alert.eta:%Y-%m-%d %H:%M} UTC (in {alert.lead_hours:.1f} h)"
            + (f"; likely {alert.likely_eta:%H:%M} UTC" if alert.likely_eta else ""),
            f"• {alert.interval:.0%} band at the ETA: {lower:.4g} – {upper:.4g} {alert.unit}",
            f"• Model: {alert.method}"
            + (f" ({alert.fallback_reason})" if alert.fallback_reason else ""),
        ]
    )
    attachments = []
    if alert.chart_path:
        attachments.append(
            Attachment(
                filename=Path(alert.chart_path).name, title=alert.name, path=str(alert.chart_path)
            )
        )
    return Reply(
        kind="info",
        text=f":crystal_ball: Predicted: {alert.summary}",
        sections=[Section(title=f"{alert.name} ({alert.resource})", body=body)],
        attachments=attachments,
    )


def forecast_job(
    *,
    source: MetricsSource | None,
    series_config: Sequence[ForecastSeries],
    chart_dir: Path,
    horizon: timedelta = timedelta(hours=12),
    results: RecentResults | None = None,
    workers: int = 2,
    sink: ReplySink | None = None,
    proposer: TriggeredProposer | None = None,
) -> JobFunc:
    """The forecast job over ``source`` (skipped when Prometheus is not configured).

    Each predictive alert (a threshold crossing 3-12 h ahead) is posted to ``sink``
    with its ETA, band and chart; ``proposer`` turns those a policy trigger maps to an
    action into remediation proposals.
    """

    async def run(ctx: JobContext) -> dict[str, Any]:
        if source is None:
            return {"skipped": "Prometheus not configured"}
        report = await run_forecast_job(
            source=source,
            series_config=series_config,
            now=ctx.now,
            horizon=horizon,
            chart_dir=chart_dir,
            workers=workers,
        )
        if results is not None:
            results.forecast = report
        if sink is not None:
            for alert in report.alerts:
                await sink.post_digest(predictive_alert_reply(alert))
        proposed = 0
        if proposer is not None:
            for alert in report.alerts:
                made = await proposer.from_forecast(workspace_id=ctx.workspace_id, alert=alert)
                proposed += len(made)
        return {
            "alerts": len(report.alerts),
            "proposals": proposed,
            "capacity": len(report.capacity),
            "errors": sum(1 for o in report.outcomes if o.status == "error"),
        }

    return run


def anomaly_scan_job(
    *,
    source: MetricsSource | None,
    queries: Sequence[str],
    lookback: timedelta = timedelta(days=3),
    step_s: float = 300.0,
    results: RecentResults | None = None,
    sink: ReplySink | None = None,
    proposer: TriggeredProposer | None = None,
) -> JobFunc:
    """Scan each query's series for anomalies alarmed within the last slot window.

    Each new anomaly is posted to ``sink`` (the ops channel) with its explanation;
    ``proposer`` turns those a policy trigger maps to an action into proposals.
    """

    async def run(ctx: JobContext) -> dict[str, Any]:
        if source is None:
            return {"skipped": "Prometheus not configured"}
        found: list[AnomalyExplanation] = []
        failed = 0
        for promql in queries:
            try:
                answer = await source.query_range(
                    promql, start=ctx.now - lookback, end=ctx.now, step_s=step_s
                )
            except CopilotError as exc:
                failed += 1
                logger.warning("anomaly scan query %s failed: %s", promql, exc)
                continue
            for series in answer.series:
                labels = dict(series.metric)
                name = labels.pop("__name__", promql)
                explained = explain(
                    series=MetricSeries(
                        name, labels, [t for t, _ in series.values], [v for _, v in series.values]
                    ),
                    limit=1,
                )
                recent = ctx.now - timedelta(seconds=2 * step_s)
                found.extend(e for e in explained if e.at >= recent)
        if results is not None:
            results.add_anomalies(found)
        if sink is not None:
            for anomaly in found:
                await sink.post_digest(
                    Reply(kind="info", text=f":mag: Anomaly: {anomaly.summary()}")
                )
        proposed = 0
        if proposer is not None:
            for anomaly in found:
                made = await proposer.from_anomaly(workspace_id=ctx.workspace_id, anomaly=anomaly)
                proposed += len(made)
        return {"anomalies": len(found), "failed_queries": failed, "proposals": proposed}

    return run
