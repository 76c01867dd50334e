"""Alert ingest, dedupe, correlation and PagerDuty events — on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import update
from sqlmodel import col, func, select

from jobs.config import IncidentConfig
from jobs.ingest import AlertIngestor, WebhookRejected, parse_alertmanager
from jobs.pagerduty_ingest import PagerDutyIngestor
from memory.db import Database
from memory.models import Alert, Incident, IncidentStatus, WebhookDelivery
from memory.repositories import Repositories

T0 = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)


def am_alert(name: str, status: str = "firing", **labels: str) -> dict:
    return {
        "status": status,
        "labels": {"alertname": name, "severity": labels.pop("severity", "warning"), **labels},
        "annotations": {"summary": f"{name} summary"},
        "startsAt": T0.isoformat(),
        "endsAt": (T0 + timedelta(minutes=5)).isoformat()
        if status == "resolved"
        else "0001-01-01T00:00:00Z",
    }


def payload(*alerts: dict) -> bytes:
    return json.dumps(
        {"version": "4", "status": "firing", "receiver": "copilot", "alerts": list(alerts)}
    ).encode()


@pytest.fixture
def ingestor(database: Database) -> AlertIngestor:
    return AlertIngestor(database, IncidentConfig())


async def count(db: Database, model, **where) -> int:
    async with db.session() as s:
        stmt = select(func.count()).select_from(model)
        for k, v in where.items():
            stmt = stmt.where(getattr(model, k) == v)
        return int((await s.exec(stmt)).one())


async def test_storm_dedupes_and_correlates_by_service(
    ingestor: AlertIngestor, database: Database, workspace: str
):
    storm = [am_alert("HighErrors", service="checkout", pod=f"checkout-{i % 3}") for i in range(30)]
    storm += [am_alert("HighLatency", service="checkout", severity="critical")]
    storm += [am_alert("DiskFull", service="search")]
    first = await ingestor.ingest_alertmanager(workspace_id=workspace, body=payload(*storm))
    again = await ingestor.ingest_alertmanager(workspace_id=workspace, body=payload(*storm[:5]))
    assert first.new_alerts == 5 and again.new_alerts == 0  # 3 pods + latency + disk
    assert len(first.incidents_opened) == 2 and again.incidents_opened == []
    assert await count(database, Alert, workspace_id=workspace) == 5
    repos = Repositories.build(database)
    incidents = {i.service: i for i in await repos.incidents.list(workspace_id=workspace)}
    assert set(incidents) == {"checkout", "search"}
    assert incidents["checkout"].severity == "critical"
    alerts = await repos.alerts.list(workspace_id=workspace, incident_id=incidents["checkout"].id)
    # pods 0,1,2 fired 10 times each in the storm; the replay of storm[:5] adds pods 0,1,2,0,1
    assert sorted(a.occurrences for a in alerts) == [1, 11, 12, 12]
    assert await count(database, WebhookDelivery, workspace_id=workspace) == 2


async def test_resolves_close_the_incident_and_it_absorbs_nothing_after(
    ingestor: AlertIngestor, database: Database, workspace: str
):
    opened = await ingestor.ingest_alertmanager(
        workspace_id=workspace,
        body=payload(am_alert("A", service="cart"), am_alert("B", service="cart")),
    )
    (incident_id,) = opened.incidents_opened
    partial = await ingestor.ingest_alertmanager(
        workspace_id=workspace, body=payload(am_alert("A", "resolved", service="cart"))
    )
    assert partial.incidents_resolved == []
    done = await ingestor.ingest_alertmanager(
        workspace_id=workspace, body=payload(am_alert("B", "resolved", service="cart"))
    )
    assert done.incidents_resolved == [incident_id]
    repos = Repositories.build(database)
    incident = await repos.incidents.get(workspace_id=workspace, incident_id=incident_id)
    assert (
        incident is not None and incident.status == IncidentStatus.RESOLVED and incident.resolved_at
    )
    kinds = [
        (e.kind, e.text)
        for e in await repos.timeline.list(workspace_id=workspace, incident_id=incident_id)
    ]
    assert kinds[0][0] == "transition" and "opened" in kinds[0][1]
    assert ("alert", "A resolved: A summary") in kinds
    assert kinds[-1] == ("transition", "triggered → resolved: every alert resolved")
    refire = await ingestor.ingest_alertmanager(
        workspace_id=workspace, body=payload(am_alert("A", service="cart"))
    )
    assert len(refire.incidents_opened) == 1 and refire.incidents_opened[0] != incident_id


async def test_window_expiry_opens_a_new_incident(
    ingestor: AlertIngestor, database: Database, workspace: str
):
    first = await ingestor.ingest_alertmanager(
        workspace_id=workspace, body=payload(am_alert("A", service="api"))
    )
    async with database.session() as s:
        await s.exec(
            update(Incident)
            .where(col(Incident.id) == first.incidents_opened[0])
            .values(updated_at=datetime.now(UTC) - timedelta(hours=2))
        )
        await s.commit()
    later = await ingestor.ingest_alertmanager(
        workspace_id=workspace, body=payload(am_alert("C", service="api"))
    )
    assert len(later.incidents_opened) == 1


async def test_failed_delivery_writes_nothing(
    ingestor: AlertIngestor, database: Database, workspace: str
):
    good = am_alert("A", service="x")
    bad = am_alert("B", service="x")
    bad["startsAt"] = "2026-11-27T10:00:00"  # naive: refused when written
    with pytest.raises(Exception, match="naive datetime"):
        await ingestor.ingest_alertmanager(workspace_id=workspace, body=payload(good, bad))
    assert await count(database, Alert, workspace_id=workspace) == 0
    assert await count(database, WebhookDelivery, workspace_id=workspace) == 0
    assert await count(database, Incident, workspace_id=workspace) == 0


async def test_replay_is_refused_once_claimed(ingestor: AlertIngestor, workspace: str):
    body = payload(am_alert("A", service="x"))
    await ingestor.claim_delivery(workspace_id=workspace, body=body, source="alertmanager")
    with pytest.raises(WebhookRejected) as info:
        await ingestor.claim_delivery(workspace_id=workspace, body=body, source="alertmanager")
    assert info.value.status == 409 and "replayed delivery" in str(info.value)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"{nope", "not valid JSON"),
        (b"[]", "must be a JSON object"),
        (
            json.dumps({"version": "3", "alerts": []}).encode(),
            "unsupported Alertmanager payload version '3'",
        ),
        (
            json.dumps({"version": "4", "alerts": [{"status": "firing"}]}).encode(),
            "alerts.0.labels",
        ),
        (
            json.dumps(
                {"version": "4", "alerts": [{"status": "weird", "labels": {}, "startsAt": "x"}]}
            ).encode(),
            "alerts.0.status",
        ),
    ],
)
def test_bad_alertmanager_bodies(body: bytes, message: str):
    with pytest.raises(WebhookRejected) as info:
        parse_alertmanager(body)
    assert message in str(info.value) and info.value.status == 400


def pd_event(
    kind: str, *, event_id: str | None = None, service: str = "checkout", pd_id: str = "PX1"
) -> bytes:
    return json.dumps(
        {
            "event": {
                "id": event_id or uuid.uuid4().hex,
                "event_type": kind,
                "occurred_at": (T0 + timedelta(minutes=3)).isoformat(),
                "agent": {"id": "PUSR", "summary": "Dana"},
                "data": {
                    "id": pd_id,
                    "type": "incident",
                    "title": "Checkout down",
                    "status": kind.removeprefix("incident."),
                    "urgency": "high",
                    "service": {"id": "PSVC", "summary": service},
                },
            }
        }
    ).encode()


async def test_pagerduty_links_and_drives_the_state(
    ingestor: AlertIngestor, database: Database, workspace: str
):
    opened = await ingestor.ingest_alertmanager(
        workspace_id=workspace, body=payload(am_alert("A", service="checkout"))
    )
    pd = PagerDutyIngestor(database)
    linked = await pd.ingest(workspace_id=workspace, body=pd_event("incident.triggered"))
    assert (linked.action, linked.incident_id) == ("linked", opened.incidents_opened[0])
    acked = await pd.ingest(
        workspace_id=workspace, body=pd_event("incident.acknowledged", event_id="E-ack")
    )
    assert acked.action == "acknowledged"
    with pytest.raises(WebhookRejected) as info:
        await pd.ingest(
            workspace_id=workspace, body=pd_event("incident.acknowledged", event_id="E-ack")
        )
    assert info.value.status == 409
    resolved = await pd.ingest(workspace_id=workspace, body=pd_event("incident.resolved"))
    assert resolved.action == "resolved"
    repos = Repositories.build(database)
    incident = await repos.incidents.get(
        workspace_id=workspace, incident_id=opened.incidents_opened[0]
    )
    assert incident is not None
    assert incident.status == IncidentStatus.RESOLVED and incident.pagerduty_incident_id == "PX1"
    assert incident.acknowledged_at == T0 + timedelta(minutes=3)
    actors = {
        e.actor
        for e in await repos.timeline.list(workspace_id=workspace, incident_id=incident.id or 0)
    }
    assert "pagerduty:Dana" in actors


async def test_pagerduty_opens_an_incident_when_nothing_matches(database: Database, workspace: str):
    pd = PagerDutyIngestor(database)
    result = await pd.ingest(
        workspace_id=workspace, body=pd_event("incident.triggered", service="billing", pd_id="PB1")
    )
    assert result.action == "opened"
    ignored = await pd.ingest(
        workspace_id=workspace, body=pd_event("incident.acknowledged", service="x", pd_id="PZZ")
    )
    assert ignored.action == "ignored" and ignored.incident_id is None
    with pytest.raises(WebhookRejected, match="no 'event' object"):
        await pd.ingest(workspace_id=workspace, body=b'{"messages": []}')
