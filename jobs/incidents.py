"""The incident state machine, timeline and response metrics.

States move forward only: triggered → acknowledged → investigating → mitigated →
resolved. Skipping ahead is allowed (an alert may resolve a triggered incident);
going back, or leaving ``resolved``, is refused with a message saying why. Every
change is a compare-and-set in the database, so two responders clicking at once
produce one transition, and every change is a timeline event with actor and time.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel

from memory.errors import InvalidTransition
from memory.models import Incident, IncidentStatus, TimelineEvent
from memory.repositories import Repositories
from memory.types import utcnow

logger = logging.getLogger(__name__)

ORDER = [
    IncidentStatus.TRIGGERED,
    IncidentStatus.ACKNOWLEDGED,
    IncidentStatus.INVESTIGATING,
    IncidentStatus.MITIGATED,
    IncidentStatus.RESOLVED,
]

VERBS = {
    "ack": IncidentStatus.ACKNOWLEDGED,
    "acknowledge": IncidentStatus.ACKNOWLEDGED,
    "investigate": IncidentStatus.INVESTIGATING,
    "investigating": IncidentStatus.INVESTIGATING,
    "mitigate": IncidentStatus.MITIGATED,
    "mitigated": IncidentStatus.MITIGATED,
    "resolve": IncidentStatus.RESOLVED,
    "resolved": IncidentStatus.RESOLVED,
}


def check_transition(incident: Incident, new: IncidentStatus) -> None:
    """Raise :class:`InvalidTransition` unless ``incident`` may move to ``new``."""
    current = IncidentStatus(incident.status)
    if current == IncidentStatus.RESOLVED:
        raise InvalidTransition(
            f"incident #{incident.id} is already resolved; it cannot become {new.value}"
        )
    if ORDER.index(new) <= ORDER.index(current):
        raise InvalidTransition(
            f"incident #{incident.id} is {current.value}; it cannot go back to {new.value}"
        )


class Metrics(BaseModel):
    """Response metrics of one incident."""

    mtta: timedelta | None
    mttr: timedelta | None


def metrics(incident: Incident) -> Metrics:
    """Time to acknowledge and to resolve, from when the incident started."""
    return Metrics(
        mtta=(incident.acknowledged_at - incident.started_at) if incident.acknowledged_at else None,
        mttr=(incident.resolved_at - incident.started_at) if incident.resolved_at else None,
    )


def format_duration(value: timedelta | None) -> str:
    """``1 h 05 min`` / ``4 min 10 s`` / ``—``."""
    if value is None:
        return "—"
    seconds = int(value.total_seconds())
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours} h {minutes:02d} min"
    if minutes:
        return f"{minutes} min {secs:02d} s"
    return f"{secs} s"


class IncidentService:
    """Transitions and timeline of incidents (one per workspace call)."""

    def __init__(self, repos: Repositories) -> None:
        self._repos = repos

    async def get(self, *, workspace_id: str, incident_id: int) -> Incident:
        """The incident, or :class:`InvalidTransition` naming the missing id."""
        incident = await self._repos.incidents.get(
            workspace_id=workspace_id, incident_id=incident_id
        )
        if incident is None:
            raise InvalidTransition(f"there is no incident #{incident_id}")
        return incident

    async def transition(
        self,
        *,
        workspace_id: str,
        incident_id: int,
        new: IncidentStatus,
        actor: str,
        reason: str = "",
        at: datetime | None = None,
    ) -> Incident:
        """Move an incident forward; refuse invalid or lost-race transitions clearly."""
        incident = await self.get(workspace_id=workspace_id, incident_id=incident_id)
        check_transition(incident, new)
        moved = await self._repos.incidents.transition(
            workspace_id=workspace_id,
            incident_id=incident_id,
            expected=IncidentStatus(incident.status),
            new=new,
            at=at,
        )
        if not moved:
            latest = await self.get(workspace_id=workspace_id, incident_id=incident_id)
            raise InvalidTransition(
                f"incident #{incident_id} changed meanwhile (now {latest.status}); try again"
            )
        text = f"{incident.status} → {new.value}" + (f": {reason}" if reason else "")
        await self.record(
            workspace_id=workspace_id,
            incident_id=incident_id,
            kind="transition",
            text=text,
            actor=actor,
            data={"from": str(incident.status), "to": new.value},
            at=at,
        )
        return await self.get(workspace_id=workspace_id, incident_id=incident_id)

    async def record(
        self,
        *,
        workspace_id: str,
        incident_id: int,
        kind: str,
        text: str,
        actor: str = "sre-copilot",
        data: dict[str, Any] | None = None,
        at: datetime | None = None,
    ) -> TimelineEvent:
        """Append a timeline event (alert, message, hypothesis, feedback, action...)."""
        return await self._repos.timeline.add(
            workspace_id=workspace_id,
            incident_id=incident_id,
            kind=kind,
            text=text,
            actor=actor,
            data=data,
            at=at or utcnow(),
        )

    async def timeline(self, *, workspace_id: str, incident_id: int) -> list[TimelineEvent]:
        """Every event of an incident, oldest first."""
        return await self._repos.timeline.list(workspace_id=workspace_id, incident_id=incident_id)


def parse_verb(word: str) -> IncidentStatus:
    """``ack`` / ``mitigate`` / ``resolve``... → the target status."""
    try:
        return VERBS[word.strip().lower()]
    except KeyError:
        raise InvalidTransition(
            f"unknown incident action {word!r}: use ack, investigate, mitigate or resolve"
        ) from None
