"""The weekly insight digest: how the period went, compared with the one before.

:func:`build_digest` reads one workspace's incidents, alerts, hypothesis votes and
pending proposals through the repositories, takes the forecast job's capacity
figures and the anomaly scans' findings when given, and draws one chart (incidents
per day, this period against the previous one). :func:`digest_reply` turns it into
the transport-neutral :class:`agents.reply.Reply` that Slack and the console render.

Definitions:

* incidents of a period: those that *started* in ``[since, now)``; the previous
  period is the equal span just before ``since``;
* MTTA / MTTR: median time from start to acknowledgement / resolution over the
  period's incidents that have one;
* noise reduction: ``1 - incidents / notifications`` over the period's alerts that
  were correlated into an incident, where notifications are the alerts' deliveries
  (``occurrences``) and incidents the distinct incidents they landed in;
* hypothesis accuracy: among top-ranked (rank 1) hypotheses of the period's incidents
  that received votes, the share whose net vote is positive.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

from pydantic import BaseModel, Field

from agents.charts import render_timeseries_png
from agents.reply import Attachment, Reply, Section
from jobs.anomaly import AnomalyExplanation
from jobs.forecast_alerts import CapacityFigure, PredictiveAlert
from jobs.incidents import format_duration, metrics
from jobs.scheduler import JobContext, JobFunc, RecentResults
from memory.models import Alert, Incident, ProposalStatus
from memory.repositories import Repositories

logger = logging.getLogger(__name__)

TOP_N = 5
"""Rows per list (noisiest alerts, forecast risks, anomalies, approvals)."""
_SCAN_LIMIT = 100_000  # repositories list newest/oldest first with a limit and no time filter


class NoisyAlert(BaseModel):
    """An alert name and how often it was delivered in the period."""

    name: str
    occurrences: int
    alerts: int = Field(description="Distinct alerts (fingerprints) with this name.")


class ForecastRisk(BaseModel):
    """A resource heading for its limit."""

    name: str
    resource: str
    target: str = Field(description="Labels, formatted.")
    days_to_saturation: float | None = None
    eta: datetime | None = Field(default=None, description="Predictive alert ETA, if any.")
    summary: str = ""


class PendingApproval(BaseModel):
    """A remediation proposal waiting for a decision."""

    id: str
    action: str
    risk: str
    proposed_by: str
    created_at: datetime
    incident_id: int | None = None


class Digest(BaseModel):
    """Figures of one period for one workspace."""

    workspace_id: str
    since: datetime
    until: datetime
    incidents: int
    previous_incidents: int
    mtta: timedelta | None = None
    previous_mtta: timedelta | None = None
    mttr: timedelta | None = None
    previous_mttr: timedelta | None = None
    noisiest_alerts: list[NoisyAlert] = Field(default_factory=list)
    alert_notifications: int = 0
    correlated_incidents: int = 0
    noise_reduction_pct: float | None = None
    hypotheses_voted: int = 0
    hypotheses_confirmed: int = 0
    hypothesis_accuracy_pct: float | None = None
    forecast_risks: list[ForecastRisk] = Field(default_factory=list)
    anomalies: list[str] = Field(default_factory=list)
    pending_approvals: list[PendingApproval] = Field(default_factory=list)
    chart_path: Path | None = None


class DigestSink(Protocol):
    """Where the digest job posts the digest (Slack, in production)."""

    async def post_digest(self, reply: Reply) -> None:
        """Publish the rendered digest."""
        ...


def _median(values: Sequence[timedelta]) -> timedelta | None:
    if not values:
        return None
    ordered = sorted(values)
    mid = len(ordered) // 2
    if len(ordered) % 2:
        return ordered[mid]
    return (ordered[mid - 1] + ordered[mid]) / 2


def _in(value: datetime, start: datetime, end: datetime) -> bool:
    return start <= value < end


def _labels(labels: dict[str, str]) -> str:
    return ",".join(f"{k}={v}" for k, v in sorted(labels.items())) or "-"


async def build_digest(
    *,
    repos: Repositories,
    workspace_id: str,
    since: datetime,
    now: datetime,
    forecasts: Sequence[CapacityFigure | PredictiveAlert] | None = None,
    anomalies: Sequence[AnomalyExplanation] | None = None,
    chart_dir: Path,
) -> Digest:
    """Compute the digest of ``[since, now)`` against the equal period before it.

    Args:
        repos: Repositories.
        workspace_id: The workspace.
        since: Start of the period (UTC-aware).
        now: End of the period (UTC-aware).
        forecasts: Capacity figures and predictive alerts of the forecast job.
        anomalies: Anomalies found by the scans.
        chart_dir: Where to write the chart (created if missing).

    Returns:
        The digest, with ``chart_path`` set when the chart could be written.

    Raises:
        ValueError: ``since`` is not before ``now``.
    """
    if since >= now:
        raise ValueError("the digest period must start before it ends")
    span = now - since
    prev_since = since - span
    all_incidents = await repos.incidents.list(workspace_id=workspace_id, limit=_SCAN_LIMIT)
    current = [i for i in all_incidents if _in(i.started_at, since, now)]
    previous = [i for i in all_incidents if _in(i.started_at, prev_since, since)]
    digest = Digest(
        workspace_id=workspace_id,
        since=since,
        until=now,
        incidents=len(current),
        previous_incidents=len(previous),
    )
    digest.mtta, digest.mttr = _response_medians(current)
    digest.previous_mtta, digest.previous_mttr = _response_medians(previous)
    await _alert_noise(digest, repos=repos, since=since, now=now)
    await _accuracy(digest, repos=repos, incidents=current)
    digest.forecast_risks = _risks(forecasts or [])
    digest.anomalies = [a.summary() for a in sorted(anomalies or [], key=lambda a: a.at)][-TOP_N:][
        ::-1
    ]
    pending = await repos.proposals.list(
        workspace_id=workspace_id, status=ProposalStatus.PENDING, limit=TOP_N
    )
    digest.pending_approvals = [
        PendingApproval(
            id=p.id,
            action=p.action,
            risk=p.risk,
            proposed_by=p.proposed_by,
            created_at=p.created_at,
            incident_id=p.incident_id,
        )
        for p in pending
    ]
    digest.chart_path = await _chart(
        current=current,
        previous=previous,
        since=since,
        now=now,
        path=chart_dir / f"digest-{workspace_id}-{now:%Y%m%dT%H%M%S}.png",
    )
    return digest


def _response_medians(incidents: Sequence[Incident]) -> tuple[timedelta | None, timedelta | None]:
    figures = [metrics(i) for i in incidents]
    return (
        _median([m.mtta for m in figures if m.mtta is not None]),
        _median([m.mttr for m in figures if m.mttr is not None]),
    )


async def _alert_noise(
    digest: Digest, *, repos: Repositories, since: datetime, now: datetime
) -> None:
    alerts = await repos.alerts.list(workspace_id=digest.workspace_id, limit=_SCAN_LIMIT)
    active: list[Alert] = [a for a in alerts if a.last_seen_at >= since and a.starts_at < now]
    by_name: dict[str, list[Alert]] = defaultdict(list)
    for alert in active:
        by_name[alert.name].append(alert)
    noisy = [
        NoisyAlert(name=name, occurrences=sum(a.occurrences for a in group), alerts=len(group))
        for name, group in by_name.items()
    ]
    noisy.sort(key=lambda n: (-n.occurrences, n.name))
    digest.noisiest_alerts = noisy[:TOP_N]
    correlated = [a for a in active if a.incident_id is not None]
    digest.alert_notifications = sum(a.occurrences for a in correlated)
    digest.correlated_incidents = len({a.incident_id for a in correlated})
    if digest.alert_notifications:
        digest.noise_reduction_pct = 100.0 * (
            1 - digest.correlated_incidents / digest.alert_notifications
        )


async def _accuracy(digest: Digest, *, repos: Repositories, incidents: Sequence[Incident]) -> None:
    voted = confirmed = 0
    for incident in incidents:
        if incident.id is None:
            continue
        ranked = await repos.hypotheses.for_incident(
            workspace_id=digest.workspace_id, incident_id=incident.id
        )
        for hypothesis, score in ranked:
            # net 0 (no votes, or a tie) cannot be told apart here: not counted as voted
            if hypothesis.rank != 1 or score == 0:
                continue
            voted += 1
            confirmed += score > 0
    digest.hypotheses_voted, digest.hypotheses_confirmed = voted, confirmed
    if voted:
        digest.hypothesis_accuracy_pct = 100.0 * confirmed / voted


def _risks(forecasts: Sequence[CapacityFigure | PredictiveAlert]) -> list[ForecastRisk]:
    risks: list[ForecastRisk] = []
    for item in forecasts:
        if isinstance(item, PredictiveAlert):
            risks.append(
                ForecastRisk(
                    name=item.name,
                    resource=item.resource,
                    target=_labels(item.labels),
                    days_to_saturation=item.lead_hours / 24,
                    eta=item.eta,
                    summary=item.summary,
                )
            )
        elif item.days_to_saturation is not None:
            risks.append(
                ForecastRisk(
                    name=item.name,
                    resource=item.resource,
                    target=_labels(item.labels),
                    days_to_saturation=item.days_to_saturation,
                    summary=item.reason or "",
                )
            )
    risks.sort(key=lambda r: r.days_to_saturation if r.days_to_saturation is not None else math.inf)
    return risks[:TOP_N]


async def _chart(
    *,
    current: Sequence[Incident],
    previous: Sequence[Incident],
    since: datetime,
    now: datetime,
    path: Path,
) -> Path | None:
    span = now - since
    bucket = timedelta(days=1) if span >= timedelta(days=2) else timedelta(hours=1)
    buckets = max(1, math.ceil(span / bucket))

    def counts(rows: Sequence[Incident], start: datetime) -> list[tuple[float, float]]:
        per = [0] * buckets
        for inc in rows:
            per[min(buckets - 1, int((inc.started_at - start) / bucket))] += 1
        # the previous period is drawn shifted onto this one's axis
        return [((since + k * bucket).timestamp(), float(n)) for k, n in enumerate(per)]

    unit = "day" if bucket == timedelta(days=1) else "hour"
    try:
        await asyncio.to_thread(path.parent.mkdir, parents=True, exist_ok=True)
        return await asyncio.to_thread(
            render_timeseries_png,
            title=f"Incidents per {unit}: this period vs the previous one",
            series=[
                ("this period", counts(current, since)),
                ("previous period", counts(previous, since - span)),
            ],
            unit="",
            path=path,
        )
    except OSError as exc:  # the digest still goes out without its chart
        logger.warning("digest chart %s not written: %s", path, exc)
        return None


def _delta(current: float, previous: float) -> str:
    if previous == 0:
        return "new" if current else "same"
    change = 100.0 * (current - previous) / previous
    return f"{change:+.0f}%"


def _vs(current: timedelta | None, previous: timedelta | None) -> str:
    text = f"{format_duration(current)} (previous {format_duration(previous)}"
    if current is not None and previous is not None and previous.total_seconds() > 0:
        text += f", {_delta(current.total_seconds(), previous.total_seconds())}"
    return text + ")"


def digest_reply(d: Digest) -> Reply:
    """The digest as a Reply: headline, one section per topic, the chart attached."""
    days = (d.until - d.since) / timedelta(days=1)
    headline = (
        f"*Insight digest* {d.since:%Y-%m-%d} → {d.until:%Y-%m-%d} ({days:g} days): "
        f"{d.incidents} incidents (previous period {d.previous_incidents}, "
        f"{_delta(d.incidents, d.previous_incidents)})"
    )
    sections = [
        Section(
            title="Response times (median)",
            body=f"MTTA {_vs(d.mtta, d.previous_mtta)}\nMTTR {_vs(d.mttr, d.previous_mttr)}",
        )
    ]
    noise = [
        f"{n.name}: {n.occurrences} notifications ({n.alerts} alerts)" for n in d.noisiest_alerts
    ]
    if d.noise_reduction_pct is not None:
        noise.append(
            f"Correlation turned {d.alert_notifications} alert notifications into "
            f"{d.correlated_incidents} incidents ({d.noise_reduction_pct:.0f}% less noise)."
        )
    sections.append(Section(title="Noisiest alerts", body="\n".join(noise) or "No alerts."))
    if d.hypothesis_accuracy_pct is not None:
        accuracy = (
            f"{d.hypothesis_accuracy_pct:.0f}% of voted top hypotheses confirmed "
            f"({d.hypotheses_confirmed} of {d.hypotheses_voted}, from 👍/👎)."
        )
    else:
        accuracy = "No votes on top hypotheses this period."
    sections.append(Section(title="Hypothesis accuracy", body=accuracy))
    if d.forecast_risks:
        sections.append(
            Section(
                title="Capacity risks",
                body="\n".join(
                    f"{r.resource} {r.name} {r.target}: "
                    + (
                        f"{r.days_to_saturation:.1f} days to saturation"
                        if r.days_to_saturation is not None
                        else "no saturation ahead"
                    )
                    + (f" (alert ETA {r.eta:%Y-%m-%d %H:%M} UTC)" if r.eta else "")
                    for r in d.forecast_risks
                ),
            )
        )
    if d.anomalies:
        sections.append(Section(title="Anomalies", body="\n".join(d.anomalies)))
    sections.append(
        Section(
            title="Pending approvals",
            body="\n".join(
                f"{p.action} ({p.risk} risk) by {p.proposed_by}: /approve {p.id}"
                for p in d.pending_approvals
            )
            or "None.",
        )
    )
    attachments = []
    if d.chart_path is not None:
        attachments.append(
            Attachment(
                filename=d.chart_path.name,
                title="Incidents per day: this period vs the previous one",
                path=str(d.chart_path),
            )
        )
    return Reply(kind="info", text=headline, sections=sections, attachments=attachments)


def digest_job(
    *,
    chart_dir: Path,
    period: timedelta = timedelta(days=7),
    results: RecentResults | None = None,
    sink: DigestSink | None = None,
) -> JobFunc:
    """The weekly digest job: build it for the run's workspace and post it to ``sink``."""

    async def run(ctx: JobContext) -> dict[str, Any]:
        forecasts: list[CapacityFigure | PredictiveAlert] = []
        anomalies: list[AnomalyExplanation] = []
        if results is not None:
            if results.forecast is not None:
                forecasts = [*results.forecast.alerts, *results.forecast.capacity]
            anomalies = [a for a in results.anomalies if a.at >= ctx.now - period]
        digest = await build_digest(
            repos=ctx.repos,
            workspace_id=ctx.workspace_id,
            since=ctx.now - period,
            now=ctx.now,
            forecasts=forecasts,
            anomalies=anomalies,
            chart_dir=chart_dir,
        )
        if sink is not None:
            await sink.post_digest(digest_reply(digest))
        return {"incidents": digest.incidents, "posted": sink is not None}

    return run
