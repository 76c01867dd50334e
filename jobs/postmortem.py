"""Gather an incident's facts and draft its post-mortem (see ``agents.postmortem``)."""

from __future__ import annotations

from collections import Counter

from agents.postmortem import (
    AlertCount,
    EventLine,
    HypothesisLine,
    PostmortemFacts,
    PostmortemWriter,
    sort_alerts,
    write_postmortem,
)
from jobs.incidents import IncidentService
from memory.repositories import Repositories


def thread_key(channel_id: str | None, thread_ts: str | None) -> str | None:
    """Conversation key of an incident's Slack thread."""
    if channel_id and thread_ts:
        return f"slack:{channel_id}:{thread_ts}"
    return None


async def gather_facts(
    repos: Repositories, *, workspace_id: str, incident_id: int
) -> PostmortemFacts:
    """Everything recorded about an incident, as post-mortem facts."""
    service = IncidentService(repos)
    incident = await service.get(workspace_id=workspace_id, incident_id=incident_id)
    alerts = await repos.alerts.list(workspace_id=workspace_id, incident_id=incident_id)
    counts: Counter[str] = Counter()
    severity: dict[str, str] = {}
    for alert in alerts:
        counts[alert.name] += alert.occurrences
        severity[alert.name] = alert.severity
    timeline = await service.timeline(workspace_id=workspace_id, incident_id=incident_id)
    hyps = await repos.hypotheses.for_incident(
        workspace_id=workspace_id,
        incident_id=incident_id,
        conversation_key=thread_key(incident.channel_id, incident.thread_ts),
    )
    names = {a.service for a in alerts if a.service}
    if incident.service:
        names.add(incident.service)
    services = sorted(names)
    return PostmortemFacts(
        incident_id=incident_id,
        title=incident.title,
        severity=incident.severity,
        status=str(incident.status),
        services=services,
        started_at=incident.started_at,
        acknowledged_at=incident.acknowledged_at,
        mitigated_at=incident.mitigated_at,
        resolved_at=incident.resolved_at,
        alerts=sort_alerts(
            [AlertCount(name=n, count=c, severity=severity[n]) for n, c in counts.items()]
        ),
        timeline=[EventLine(at=e.at, actor=e.actor, kind=e.kind, text=e.text) for e in timeline],
        hypotheses=[
            HypothesisLine(
                title=h.title,
                fault=h.fault,
                confidence=h.confidence,
                votes=votes,
                evidence=[str(ev.get("summary", "")) for ev in h.evidence if ev.get("summary")],
            )
            for h, votes in hyps
        ],
        pagerduty_incident=incident.pagerduty_incident_id,
    )


async def draft_postmortem(
    repos: Repositories,
    *,
    workspace_id: str,
    incident_id: int,
    actor: str,
    writer: PostmortemWriter | None = None,
) -> str:
    """Draft, record on the timeline, and return the Markdown."""
    facts = await gather_facts(repos, workspace_id=workspace_id, incident_id=incident_id)
    markdown, author = await write_postmortem(facts, writer=writer)
    await IncidentService(repos).record(
        workspace_id=workspace_id,
        incident_id=incident_id,
        kind="postmortem",
        text=f"post-mortem drafted ({author})",
        actor=actor,
        data={"markdown": markdown, "author": author},
    )
    return markdown
