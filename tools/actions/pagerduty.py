"""PagerDuty actions: acknowledge, resolve, reassign an incident, and add a note.

Status and assignment changes are ``PUT /incidents/{id}`` through the
:class:`~tools.pagerduty_client.PagerDutyClient`'s REST session (run in a worker thread
with its error translation); notes use :meth:`PagerDutyClient.add_note`. Every
precondition reads the incident's current status, every verification re-reads it.
Writes need ``pagerduty.from_email`` (PagerDuty's ``From`` header).
"""

from __future__ import annotations

import logging
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from memory.errors import CopilotError, UpstreamHTTPError
from tools.actions.base import ActionOutcome, Risk
from tools.pagerduty_client import PagerDutyClient

logger = logging.getLogger(__name__)

Json = dict[str, Any]


class IncidentParams(BaseModel):
    """Parameters naming one incident (acknowledge, resolve)."""

    model_config = ConfigDict(extra="forbid")

    incident_id: str = Field(min_length=1, pattern=r"^[A-Za-z0-9]+$")


class NoteParams(IncidentParams):
    """Parameters of ``pagerduty.add_note``."""

    content: str = Field(min_length=1, max_length=25_000)


class ReassignParams(IncidentParams):
    """Parameters of ``pagerduty.reassign``."""

    assignee_ids: list[str] = Field(min_length=1, description="PagerDuty user ids.")


def _assignees(incident: Json) -> list[str]:
    return [
        str(a["assignee"]["id"])
        for a in incident.get("assignments") or []
        if isinstance(a, dict) and isinstance(a.get("assignee"), dict)
    ]


def _label(incident: Json) -> str:
    return str(incident.get("summary") or incident.get("title") or incident.get("id"))


class _IncidentAction:
    """Shared plumbing: read, update and describe one incident."""

    name: str
    description: str
    risk: Risk
    safe: bool
    params_model: type[BaseModel]

    def __init__(self, *, client: PagerDutyClient) -> None:
        self._client = client

    async def _read(self, incident_id: str) -> tuple[Json | None, str]:
        """The incident, or ``None`` and why not."""
        try:
            return await self._client.get_incident(incident_id), ""
        except UpstreamHTTPError as exc:
            if exc.status_code == 404:
                return None, f"incident {incident_id} does not exist"
            return None, f"cannot read incident {incident_id}: {exc}"
        except CopilotError as exc:
            return None, f"cannot read incident {incident_id}: {exc}"

    async def _update(self, incident_id: str, fields: Json) -> Json:
        """``PUT /incidents/{id}`` with ``fields`` (wrapped as ``{"incident": ...}``)."""
        path = f"/incidents/{incident_id}"
        body = {"type": "incident_reference", **fields}
        rest = self._client._rest
        incident: Json = await self._client._call(f"PUT {path}", lambda: rest.rput(path, json=body))
        return incident

    def _writable(self) -> ActionOutcome | None:
        if not self._client.from_email:
            return ActionOutcome(
                ok=False, detail="pagerduty.from_email is not set; PagerDuty refuses writes"
            )
        return None


class _StatusAction(_IncidentAction):
    """Acknowledge or resolve: ``PUT /incidents/{id}`` with a new ``status``."""

    target: str
    verb: str
    allowed_from: tuple[str, ...]
    params_model: type[BaseModel] = IncidentParams

    async def dry_run(self, params: BaseModel) -> str:
        """The incident and its status change."""
        p = IncidentParams.model_validate(params, from_attributes=True)
        incident, why = await self._read(p.incident_id)
        if incident is None:
            return f"{self.verb} PagerDuty incident {p.incident_id} ({why})"
        return (
            f"{self.verb} PagerDuty incident {p.incident_id} {_label(incident)!r}: "
            f"status {incident.get('status')} -> {self.target}"
        )

    async def precondition(self, params: BaseModel) -> ActionOutcome:
        """The incident exists and its status allows the change."""
        p = IncidentParams.model_validate(params, from_attributes=True)
        if refused := self._writable():
            return refused
        incident, why = await self._read(p.incident_id)
        if incident is None:
            return ActionOutcome(ok=False, detail=why)
        status = str(incident.get("status"))
        if status not in self.allowed_from:
            return ActionOutcome(
                ok=False,
                detail=f"incident {p.incident_id} is already {status}; cannot {self.verb} it",
                data={"status": status},
            )
        return ActionOutcome(
            ok=True, detail=f"incident {p.incident_id} is {status}", data={"status": status}
        )

    async def execute(self, params: BaseModel) -> ActionOutcome:
        """Send the status change."""
        p = IncidentParams.model_validate(params, from_attributes=True)
        try:
            incident = await self._update(p.incident_id, {"status": self.target})
        except CopilotError as exc:
            logger.warning("pagerduty %s %s failed: %s", self.verb, p.incident_id, exc)
            return ActionOutcome(ok=False, detail=f"could not {self.verb} {p.incident_id}: {exc}")
        status = str(incident.get("status"))
        return ActionOutcome(
            ok=True,
            detail=f"{self.verb} sent for incident {p.incident_id} (now {status})",
            data={"status": status},
        )

    async def verify(self, params: BaseModel, executed: ActionOutcome) -> ActionOutcome:
        """Re-read the incident: its status is the target."""
        p = IncidentParams.model_validate(params, from_attributes=True)
        if not executed.ok:
            return ActionOutcome(ok=False, detail=f"the {self.verb} was not sent")
        incident, why = await self._read(p.incident_id)
        if incident is None:
            return ActionOutcome(ok=False, detail=why)
        status = str(incident.get("status"))
        if status != self.target:
            return ActionOutcome(ok=False, detail=f"incident {p.incident_id} is {status}")
        return ActionOutcome(ok=True, detail=f"incident {p.incident_id} is {status}")


class AcknowledgeAction(_StatusAction):
    """``pagerduty.acknowledge``: acknowledge a triggered incident.

    Args:
        client: The PagerDuty account (needs ``from_email``).
    """

    name = "pagerduty.acknowledge"
    description = "Acknowledge a triggered PagerDuty incident."
    risk = Risk.MEDIUM
    safe = False
    target = "acknowledged"
    verb = "acknowledge"
    allowed_from = ("triggered",)


class ResolveAction(_StatusAction):
    """``pagerduty.resolve``: resolve a triggered or acknowledged incident.

    Args:
        client: The PagerDuty account (needs ``from_email``).
    """

    name = "pagerduty.resolve"
    description = "Resolve an open PagerDuty incident."
    risk = Risk.MEDIUM
    safe = False
    target = "resolved"
    verb = "resolve"
    allowed_from = ("triggered", "acknowledged")


class AddNoteAction(_IncidentAction):
    """``pagerduty.add_note``: add a note to an incident (any status).

    Args:
        client: The PagerDuty account (needs ``from_email``).
    """

    name = "pagerduty.add_note"
    description = "Add a note to a PagerDuty incident."
    risk = Risk.LOW
    safe = True
    params_model: type[BaseModel] = NoteParams

    async def dry_run(self, params: BaseModel) -> str:
        """The incident and the note's text."""
        p = NoteParams.model_validate(params, from_attributes=True)
        incident, why = await self._read(p.incident_id)
        label = _label(incident) if incident is not None else why
        return f"add a note to PagerDuty incident {p.incident_id} ({label}): {p.content!r}"

    async def precondition(self, params: BaseModel) -> ActionOutcome:
        """The incident exists."""
        p = NoteParams.model_validate(params, from_attributes=True)
        if refused := self._writable():
            return refused
        incident, why = await self._read(p.incident_id)
        if incident is None:
            return ActionOutcome(ok=False, detail=why)
        status = str(incident.get("status"))
        return ActionOutcome(
            ok=True, detail=f"incident {p.incident_id} is {status}", data={"status": status}
        )

    async def execute(self, params: BaseModel) -> ActionOutcome:
        """Post the note."""
        p = NoteParams.model_validate(params, from_attributes=True)
        try:
            note = await self._client.add_note(p.incident_id, content=p.content)
        except CopilotError as exc:
            logger.warning("pagerduty add_note %s failed: %s", p.incident_id, exc)
            return ActionOutcome(ok=False, detail=f"could not add the note: {exc}")
        note_id = str(note.get("id") or "")
        return ActionOutcome(
            ok=True,
            detail=f"added note {note_id} to incident {p.incident_id}",
            data={"note_id": note_id},
        )

    async def verify(self, params: BaseModel, executed: ActionOutcome) -> ActionOutcome:
        """The note is among the incident's notes."""
        p = NoteParams.model_validate(params, from_attributes=True)
        note_id = str(executed.data.get("note_id") or "")
        try:
            notes = await self._client.list_notes(p.incident_id)
        except CopilotError as exc:
            return ActionOutcome(ok=False, detail=f"cannot read the notes: {exc}")
        if not any(n.get("id") == note_id and n.get("content") == p.content for n in notes):
            return ActionOutcome(ok=False, detail=f"note {note_id!r} is not on {p.incident_id}")
        return ActionOutcome(ok=True, detail=f"note {note_id} is on incident {p.incident_id}")


class ReassignAction(_IncidentAction):
    """``pagerduty.reassign``: replace an open incident's assignees.

    Args:
        client: The PagerDuty account (needs ``from_email``).
    """

    name = "pagerduty.reassign"
    description = "Reassign an open PagerDuty incident to other users."
    risk = Risk.MEDIUM
    safe = False
    params_model: type[BaseModel] = ReassignParams

    async def dry_run(self, params: BaseModel) -> str:
        """Current and new assignees."""
        p = ReassignParams.model_validate(params, from_attributes=True)
        incident, why = await self._read(p.incident_id)
        target = ", ".join(p.assignee_ids)
        if incident is None:
            return f"reassign PagerDuty incident {p.incident_id} to {target} ({why})"
        current = ", ".join(_assignees(incident)) or "nobody"
        return (
            f"reassign PagerDuty incident {p.incident_id} {_label(incident)!r} "
            f"from {current} to {target}"
        )

    async def precondition(self, params: BaseModel) -> ActionOutcome:
        """The incident is open and not already assigned to exactly these users."""
        p = ReassignParams.model_validate(params, from_attributes=True)
        if refused := self._writable():
            return refused
        incident, why = await self._read(p.incident_id)
        if incident is None:
            return ActionOutcome(ok=False, detail=why)
        status = str(incident.get("status"))
        if status == "resolved":
            return ActionOutcome(
                ok=False, detail=f"incident {p.incident_id} is resolved; cannot reassign it"
            )
        if set(_assignees(incident)) == set(p.assignee_ids):
            return ActionOutcome(
                ok=False, detail=f"incident {p.incident_id} is already assigned to them"
            )
        return ActionOutcome(ok=True, detail=f"incident {p.incident_id} is {status}")

    async def execute(self, params: BaseModel) -> ActionOutcome:
        """Send the new assignments."""
        p = ReassignParams.model_validate(params, from_attributes=True)
        assignments = [
            {"assignee": {"id": user_id, "type": "user_reference"}} for user_id in p.assignee_ids
        ]
        try:
            incident = await self._update(p.incident_id, {"assignments": assignments})
        except CopilotError as exc:
            logger.warning("pagerduty reassign %s failed: %s", p.incident_id, exc)
            return ActionOutcome(ok=False, detail=f"could not reassign {p.incident_id}: {exc}")
        return ActionOutcome(
            ok=True,
            detail=f"reassigned incident {p.incident_id} to {', '.join(_assignees(incident))}",
            data={"assignee_ids": _assignees(incident)},
        )

    async def verify(self, params: BaseModel, executed: ActionOutcome) -> ActionOutcome:
        """Re-read the incident: its assignees are exactly the requested users."""
        p = ReassignParams.model_validate(params, from_attributes=True)
        if not executed.ok:
            return ActionOutcome(ok=False, detail="the reassignment was not sent")
        incident, why = await self._read(p.incident_id)
        if incident is None:
            return ActionOutcome(ok=False, detail=why)
        current = _assignees(incident)
        if set(current) != set(p.assignee_ids):
            return ActionOutcome(
                ok=False, detail=f"incident {p.incident_id} is assigned to {current}"
            )
        return ActionOutcome(
            ok=True, detail=f"incident {p.incident_id} is assigned to {', '.join(current)}"
        )
