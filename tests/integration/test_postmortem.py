"""Incident state machine, timeline and post-mortem drafts, end to end on both databases."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from jobs.config import IncidentConfig
from jobs.incidents import IncidentService, format_duration, metrics, parse_verb
from jobs.ingest import AlertIngestor
from jobs.postmortem import draft_postmortem, gather_facts
from memory.db import Database
from memory.errors import InvalidTransition
from memory.models import Hypothesis, IncidentStatus
from memory.repositories import Repositories

T0 = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)


async def open_incident(db: Database, workspace: str) -> int:
    body = json.dumps(
        {
            "version": "4",
            "alerts": [
                {
                    "status": "firing",
                    "labels": {"alertname": a, "service": "checkout", "severity": "critical"},
                    "annotations": {"summary": a},
                    "startsAt": T0.isoformat(),
                }
                for a in ("CheckoutHighErrorRate", "PostgresConnectionsSaturated")
            ],
        }
    ).encode()
    result = await AlertIngestor(db, IncidentConfig()).ingest_alertmanager(
        workspace_id=workspace, body=body
    )
    return result.incidents_opened[0]


async def test_state_machine_refuses_going_back_and_leaving_resolved(
    database: Database, workspace: str
):
    repos = Repositories.build(database)
    incident_id = await open_incident(database, workspace)
    svc = IncidentService(repos)
    acked = await svc.transition(
        workspace_id=workspace,
        incident_id=incident_id,
        new=parse_verb("ack"),
        actor="U1",
        at=T0 + timedelta(minutes=4),
    )
    assert acked.status == IncidentStatus.ACKNOWLEDGED
    with pytest.raises(
        InvalidTransition, match="is acknowledged; it cannot go back to acknowledged"
    ):
        await svc.transition(
            workspace_id=workspace,
            incident_id=incident_id,
            new=IncidentStatus.ACKNOWLEDGED,
            actor="U2",
        )
    await svc.transition(
        workspace_id=workspace, incident_id=incident_id, new=parse_verb("mitigate"), actor="U1"
    )
    done = await svc.transition(
        workspace_id=workspace,
        incident_id=incident_id,
        new=parse_verb("resolve"),
        actor="U1",
        at=T0 + timedelta(minutes=47),
    )
    m = metrics(done)
    assert (format_duration(m.mtta), format_duration(m.mttr)) == ("4 min 00 s", "47 min 00 s")
    with pytest.raises(InvalidTransition, match="already resolved"):
        await svc.transition(
            workspace_id=workspace,
            incident_id=incident_id,
            new=IncidentStatus.MITIGATED,
            actor="U1",
        )
    with pytest.raises(InvalidTransition, match="unknown incident action 'close'"):
        parse_verb("close")
    with pytest.raises(InvalidTransition, match="no incident #999999"):
        await svc.get(workspace_id=workspace, incident_id=999999)
    texts = [e.text for e in await svc.timeline(workspace_id=workspace, incident_id=incident_id)]
    assert "triggered → acknowledged" in texts and "mitigated → resolved" in texts


async def test_postmortem_uses_the_confirmed_hypothesis(database: Database, workspace: str):
    repos = Repositories.build(database)
    incident_id = await open_incident(database, workspace)
    svc = IncidentService(repos)
    await svc.transition(
        workspace_id=workspace,
        incident_id=incident_id,
        new=IncidentStatus.ACKNOWLEDGED,
        actor="U1",
        at=T0 + timedelta(minutes=3),
    )
    top, right = await repos.hypotheses.add_many(
        workspace_id=workspace,
        hypotheses=[
            Hypothesis(
                workspace_id=workspace,
                incident_id=incident_id,
                title="checkout: bad deploy",
                fault="deploy",
                confidence=0.8,
            ),
            Hypothesis(
                workspace_id=workspace,
                incident_id=incident_id,
                title="checkout: database connection pool exhausted",
                fault="db_connections",
                confidence=0.7,
                evidence=[{"summary": "connections 30% → 100%"}],
            ),
        ],
    )
    assert right.id is not None and top.id is not None
    await repos.hypotheses.vote(
        workspace_id=workspace, hypothesis_id=right.id, user_id="U1", vote=1
    )
    await repos.hypotheses.vote(workspace_id=workspace, hypothesis_id=top.id, user_id="U2", vote=-1)
    await svc.transition(
        workspace_id=workspace,
        incident_id=incident_id,
        new=IncidentStatus.RESOLVED,
        actor="U1",
        at=T0 + timedelta(hours=1, minutes=30),
    )
    facts = await gather_facts(repos, workspace_id=workspace, incident_id=incident_id)
    assert facts.root_cause is not None and facts.root_cause.fault == "db_connections"
    markdown = await draft_postmortem(
        repos, workspace_id=workspace, incident_id=incident_id, actor="U1"
    )
    assert markdown.startswith("# Post-mortem (draft): CheckoutHighErrorRate on checkout")
    assert (
        "Most likely cause: checkout: database connection pool exhausted (confirmed by responders)"
        in markdown
    )
    assert "- Time to acknowledge: 3 min; time to resolve: 1 h 30 min" in markdown
    assert "- connections 30% → 100%" in markdown
    assert "Alert on connection-pool saturation" in markdown
    assert "Resolution took 1 h 30 min" in markdown
    events = await svc.timeline(workspace_id=workspace, incident_id=incident_id)
    assert events[-1].kind == "postmortem" and events[-1].data["markdown"] == markdown
