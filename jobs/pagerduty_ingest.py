"""PagerDuty v3 webhooks: incident events linked to our incidents and their state.

``incident.triggered`` links to the open incident of the same service (or the one whose
alerts carry the PagerDuty dedup key), or opens one; ``incident.acknowledged`` and
``incident.resolved`` drive our state machine. Every event id is processed once.
"""

from __future__ import annotations

import json
import logging
from datetime import datetime

from pydantic import BaseModel, Field, ValidationError
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from jobs.incidents import ORDER
from jobs.ingest import WebhookRejected
from memory.db import Database
from memory.models import (
    Alert,
    Incident,
    IncidentStatus,
    ProcessedEvent,
    TimelineEvent,
    WebhookDelivery,
    Workspace,
)
from memory.types import utcnow

logger = logging.getLogger(__name__)

STATE_FOR = {
    "incident.acknowledged": IncidentStatus.ACKNOWLEDGED,
    "incident.resolved": IncidentStatus.RESOLVED,
}


class PDRef(BaseModel):
    """A PagerDuty reference object."""

    id: str = ""
    summary: str = ""


class PDIncidentData(BaseModel):
    """``event.data`` of an incident event."""

    id: str
    type: str = "incident"
    title: str = ""
    status: str = ""
    urgency: str = ""
    html_url: str = ""
    incident_key: str | None = None
    service: PDRef = Field(default_factory=PDRef)


class PDEvent(BaseModel):
    """A v3 webhook event."""

    id: str
    event_type: str
    occurred_at: datetime
    agent: PDRef | None = None
    data: PDIncidentData


class PDEnvelope(BaseModel):
    """The v3 webhook body."""

    event: PDEvent


class PagerDutyResult(BaseModel):
    """What one PagerDuty event did."""

    event_id: str
    event_type: str
    incident_id: int | None = None
    action: str = "ignored"


def parse_pagerduty(body: bytes) -> PDEnvelope:
    """Validate a v3 webhook body.

    Raises:
        WebhookRejected: malformed JSON or not a v3 incident event (400).
    """
    try:
        raw = json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise WebhookRejected(f"body is not valid JSON: {exc}") from None
    if not isinstance(raw, dict) or "event" not in raw:
        raise WebhookRejected("not a PagerDuty v3 webhook: no 'event' object")
    try:
        return PDEnvelope.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise WebhookRejected(f"invalid PagerDuty event at {where}: {first['msg']}") from None


class PagerDutyIngestor:
    """Applies PagerDuty incident events to our incidents."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def ingest(self, *, workspace_id: str, body: bytes) -> PagerDutyResult:
        """Process one event once; a replayed event id is refused (409)."""
        envelope = parse_pagerduty(body)
        event = envelope.event
        result = PagerDutyResult(event_id=event.id, event_type=event.event_type)
        now = utcnow()
        async with self._db.session() as s:
            if await s.get(Workspace, workspace_id) is None:
                s.add(Workspace(id=workspace_id, name=workspace_id))
                await s.flush()
            if await s.get(ProcessedEvent, (workspace_id, f"pd:{event.id}")) is not None:
                raise WebhookRejected(f"replayed PagerDuty event {event.id}", status=409)
            s.add(ProcessedEvent(workspace_id=workspace_id, event_id=f"pd:{event.id}"))
            s.add(
                WebhookDelivery(
                    workspace_id=workspace_id,
                    source="pagerduty",
                    body=body.decode("utf-8"),
                    processed_at=now,
                )
            )
            if not event.event_type.startswith("incident."):
                await s.commit()
                return result
            data = event.data
            incident = await self._find(s, workspace_id, data)
            actor = (
                f"pagerduty:{event.agent.summary}"
                if event.agent and event.agent.summary
                else "pagerduty"
            )
            if incident is None:
                if event.event_type != "incident.triggered":
                    await s.commit()
                    return result
                incident = Incident(
                    workspace_id=workspace_id,
                    title=data.title or f"PagerDuty incident {data.id}",
                    severity="critical" if data.urgency == "high" else "warning",
                    service=data.service.summary or None,
                    correlation_key=f"pagerduty|{data.id}",
                    pagerduty_incident_id=data.id,
                    started_at=min(event.occurred_at, now),
                )
                s.add(incident)
                await s.flush()
                result.action = "opened"
            elif incident.pagerduty_incident_id != data.id:
                incident.pagerduty_incident_id = data.id
                result.action = "linked"
            assert incident.id is not None
            result.incident_id = incident.id
            s.add(
                TimelineEvent(
                    workspace_id=workspace_id,
                    incident_id=incident.id,
                    kind="pagerduty",
                    actor=actor,
                    text=f"PagerDuty {event.event_type.removeprefix('incident.')}: {data.title}",
                    data={"event_id": event.id, "pd_incident": data.id, "url": data.html_url},
                    at=event.occurred_at,
                )
            )
            target = STATE_FOR.get(event.event_type)
            current = IncidentStatus(incident.status)
            if target is not None and ORDER.index(target) > ORDER.index(current):
                incident.status = target
                if target == IncidentStatus.ACKNOWLEDGED:
                    incident.acknowledged_at = event.occurred_at
                if target == IncidentStatus.RESOLVED:
                    incident.resolved_at = event.occurred_at
                s.add(
                    TimelineEvent(
                        workspace_id=workspace_id,
                        incident_id=incident.id,
                        kind="transition",
                        actor=actor,
                        text=f"{current.value} → {target.value} (from PagerDuty)",
                        data={"from": current.value, "to": target.value},
                        at=event.occurred_at,
                    )
                )
                result.action = target.value
            incident.updated_at = now
            s.add(incident)
            await s.commit()
        return result

    @staticmethod
    async def _find(s: AsyncSession, workspace_id: str, data: PDIncidentData) -> Incident | None:
        by_id = (
            await s.exec(
                select(Incident)
                .where(Incident.workspace_id == workspace_id)
                .where(Incident.pagerduty_incident_id == data.id)
            )
        ).first()
        if by_id is not None:
            return by_id
        if data.incident_key:
            by_key = (
                await s.exec(
                    select(Incident)
                    .join(Alert, col(Alert.incident_id) == col(Incident.id))
                    .where(Incident.workspace_id == workspace_id)
                    .where(Alert.fingerprint == data.incident_key)
                    .where(Incident.status != IncidentStatus.RESOLVED)
                )
            ).first()
            if by_key is not None:
                return by_key
        if data.service.summary:
            return (
                await s.exec(
                    select(Incident)
                    .where(Incident.workspace_id == workspace_id)
                    .where(Incident.service == data.service.summary)
                    .where(Incident.status != IncidentStatus.RESOLVED)
                    .order_by(col(Incident.id).desc())
                )
            ).first()
        return None
