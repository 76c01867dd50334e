"""Async repositories: the only way the rest of the product touches the database.

Every function takes keyword-only arguments and every query filters by
``workspace_id``: one workspace never sees another's rows. State changes that
several replicas may race on (incident status, proposal status, job periods,
Slack event ids) are compare-and-set or insert-unique operations, decided by the
database rather than by the process.
"""

from __future__ import annotations

import builtins
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Delete, delete, func, literal, tuple_, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select

from memory.db import Database
from memory.errors import StorageError
from memory.models import (
    Alert,
    AlertStatus,
    AuditEvent,
    ConversationTurn,
    Feedback,
    Hypothesis,
    Incident,
    IncidentStatus,
    JobRun,
    JobRunStatus,
    ProcessedEvent,
    ProposalStatus,
    RemediationProposal,
    RunbookDocument,
    SlackInstallation,
    TimelineEvent,
    WebhookDelivery,
    Workspace,
)
from memory.types import utcnow

DELETE_BATCH_SIZE = 5000
"""Rows removed per ``DELETE`` by the pruning methods: each batch is its own short transaction."""


class _Repo:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def _delete_in_batches(self, stmt: Delete, batch_size: int) -> int:
        """Run ``stmt`` (which deletes at most ``batch_size`` rows) until a batch comes up short.

        Each batch commits on its own, so a large first prune never holds one long lock.
        """
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        total = 0
        while True:
            async with self._db.session() as s:
                res = await s.exec(stmt)
                await s.commit()
            deleted = int(getattr(res, "rowcount", 0))
            total += deleted
            if deleted < batch_size:
                return total


class WorkspaceRepository(_Repo):
    """Workspaces (Slack teams)."""

    async def ensure(self, *, workspace_id: str, name: str = "") -> Workspace:
        """Return the workspace, creating it on first use (safe under concurrency)."""
        async with self._db.session() as s:
            found = await s.get(Workspace, workspace_id)
            if found is not None:
                return found
            ws = Workspace(id=workspace_id, name=name or workspace_id)
            s.add(ws)
            try:
                await s.commit()
            except IntegrityError:
                await s.rollback()
                again = await s.get(Workspace, workspace_id)
                if again is None:  # pragma: no cover - would mean the row vanished
                    raise
                return again
            return ws

    async def get(self, *, workspace_id: str) -> Workspace | None:
        """One workspace, or ``None``."""
        async with self._db.session() as s:
            return await s.get(Workspace, workspace_id)


class ConversationRepository(_Repo):
    """Conversation turns, per (workspace, conversation key)."""

    async def add_turn(
        self,
        *,
        workspace_id: str,
        conversation_key: str,
        role: str,
        text: str,
        user_id: str | None = None,
        reply: dict[str, Any] | None = None,
        incident_id: int | None = None,
    ) -> ConversationTurn:
        """Append one turn."""
        turn = ConversationTurn(
            workspace_id=workspace_id,
            conversation_key=conversation_key,
            role=role,
            text=text,
            user_id=user_id,
            reply=reply,
            incident_id=incident_id,
        )
        async with self._db.session() as s:
            s.add(turn)
            await s.commit()
            await s.refresh(turn)
        return turn

    async def history(
        self, *, workspace_id: str, conversation_key: str, limit: int = 20
    ) -> list[ConversationTurn]:
        """The last ``limit`` turns, oldest first."""
        stmt = (
            select(ConversationTurn)
            .where(ConversationTurn.workspace_id == workspace_id)
            .where(ConversationTurn.conversation_key == conversation_key)
            .order_by(col(ConversationTurn.id).desc())
            .limit(limit)
        )
        async with self._db.session() as s:
            rows = list((await s.exec(stmt)).all())
        return list(reversed(rows))

    async def count(self, *, workspace_id: str, conversation_key: str) -> int:
        """How many turns a conversation has."""
        stmt = (
            select(func.count())
            .select_from(ConversationTurn)
            .where(ConversationTurn.workspace_id == workspace_id)
            .where(ConversationTurn.conversation_key == conversation_key)
        )
        async with self._db.session() as s:
            return int((await s.exec(stmt)).one())


class IncidentRepository(_Repo):
    """Incidents and their state."""

    async def create(
        self,
        *,
        workspace_id: str,
        title: str,
        severity: str = "warning",
        service: str | None = None,
        correlation_key: str | None = None,
        labels: dict[str, str] | None = None,
        started_at: datetime | None = None,
    ) -> Incident:
        """Open a new incident in state ``triggered``."""
        now = utcnow()
        inc = Incident(
            workspace_id=workspace_id,
            title=title,
            severity=severity,
            service=service,
            correlation_key=correlation_key,
            labels=labels or {},
            started_at=started_at or now,
        )
        async with self._db.session() as s:
            s.add(inc)
            await s.commit()
            await s.refresh(inc)
        return inc

    async def get(self, *, workspace_id: str, incident_id: int) -> Incident | None:
        """One incident of this workspace, or ``None``."""
        stmt = (
            select(Incident)
            .where(Incident.workspace_id == workspace_id)
            .where(Incident.id == incident_id)
        )
        async with self._db.session() as s:
            return (await s.exec(stmt)).first()

    async def list(
        self, *, workspace_id: str, open_only: bool = False, limit: int = 50
    ) -> list[Incident]:
        """Newest incidents first; ``open_only`` leaves out resolved ones."""
        stmt = select(Incident).where(Incident.workspace_id == workspace_id)
        if open_only:
            stmt = stmt.where(Incident.status != IncidentStatus.RESOLVED)
        stmt = stmt.order_by(col(Incident.id).desc()).limit(limit)
        async with self._db.session() as s:
            return list((await s.exec(stmt)).all())

    async def transition(
        self,
        *,
        workspace_id: str,
        incident_id: int,
        expected: IncidentStatus,
        new: IncidentStatus,
        at: datetime | None = None,
    ) -> bool:
        """Compare-and-set the status; ``False`` when it was no longer ``expected``."""
        now = at or utcnow()
        values: dict[str, Any] = {"status": new.value, "updated_at": now}
        stamp = {
            IncidentStatus.ACKNOWLEDGED: "acknowledged_at",
            IncidentStatus.MITIGATED: "mitigated_at",
            IncidentStatus.RESOLVED: "resolved_at",
        }.get(new)
        if stamp:
            values[stamp] = now
        stmt = (
            update(Incident)
            .where(col(Incident.workspace_id) == workspace_id)
            .where(col(Incident.id) == incident_id)
            .where(col(Incident.status) == expected.value)
            .values(**values)
        )
        async with self._db.session() as s:
            result = await s.exec(stmt)
            await s.commit()
        return bool(getattr(result, "rowcount", 0) == 1)

    async def by_thread(
        self, *, workspace_id: str, channel_id: str, thread_ts: str
    ) -> Incident | None:
        """The incident whose Slack thread this is, if any."""
        stmt = (
            select(Incident)
            .where(Incident.workspace_id == workspace_id)
            .where(Incident.channel_id == channel_id)
            .where(Incident.thread_ts == thread_ts)
        )
        async with self._db.session() as s:
            return (await s.exec(stmt)).first()

    async def set_thread(
        self, *, workspace_id: str, incident_id: int, channel_id: str, thread_ts: str
    ) -> None:
        """Remember the Slack thread of an incident."""
        stmt = (
            update(Incident)
            .where(col(Incident.workspace_id) == workspace_id)
            .where(col(Incident.id) == incident_id)
            .values(channel_id=channel_id, thread_ts=thread_ts, updated_at=utcnow())
        )
        async with self._db.session() as s:
            await s.exec(stmt)
            await s.commit()


class AlertRepository(_Repo):
    """Alerts, deduplicated by fingerprint."""

    async def upsert(
        self,
        *,
        workspace_id: str,
        fingerprint: str,
        name: str,
        status: AlertStatus,
        labels: dict[str, str],
        annotations: dict[str, str] | None = None,
        starts_at: datetime,
        ends_at: datetime | None = None,
        severity: str = "warning",
        service: str | None = None,
        source: str = "alertmanager",
    ) -> tuple[Alert, bool]:
        """Insert or update by fingerprint. Returns (alert, created).

        The update is one atomic ``UPDATE ... SET occurrences = occurrences + 1`` so
        concurrent deliveries of the same alert never lose a count; a racing insert
        falls back to that update.
        """
        now = utcnow()
        changes: dict[str, Any] = {
            "status": status.value,
            "labels": labels,
            "ends_at": ends_at,
            "last_seen_at": now,
            "occurrences": col(Alert.occurrences) + 1,
        }
        if annotations:
            changes["annotations"] = annotations
        where = (
            col(Alert.workspace_id) == workspace_id,
            col(Alert.fingerprint) == fingerprint,
        )
        for _attempt in range(3):
            async with self._db.session() as s:
                res = await s.exec(update(Alert).where(*where).values(**changes))
                await s.commit()
                if getattr(res, "rowcount", 0) == 1:
                    row = (await s.exec(select(Alert).where(*where))).one()
                    return row, False
                alert = Alert(
                    workspace_id=workspace_id,
                    fingerprint=fingerprint,
                    name=name,
                    status=status,
                    labels=labels,
                    annotations=annotations or {},
                    starts_at=starts_at,
                    ends_at=ends_at,
                    severity=severity,
                    service=service,
                    source=source,
                    last_seen_at=now,
                )
                s.add(alert)
                try:
                    await s.commit()
                except IntegrityError:
                    await s.rollback()  # another writer inserted it first: update instead
                    continue
                await s.refresh(alert)
                return alert, True
        raise StorageError(f"alert {fingerprint}: could not insert or update")  # pragma: no cover

    async def attach(self, *, workspace_id: str, alert_id: int, incident_id: int) -> None:
        """Link an alert to an incident."""
        stmt = (
            update(Alert)
            .where(col(Alert.workspace_id) == workspace_id)
            .where(col(Alert.id) == alert_id)
            .values(incident_id=incident_id)
        )
        async with self._db.session() as s:
            await s.exec(stmt)
            await s.commit()

    async def list(
        self,
        *,
        workspace_id: str,
        incident_id: int | None = None,
        status: AlertStatus | None = None,
        limit: int = 500,
    ) -> list[Alert]:
        """Alerts of the workspace, optionally of one incident or status."""
        stmt = select(Alert).where(Alert.workspace_id == workspace_id)
        if incident_id is not None:
            stmt = stmt.where(Alert.incident_id == incident_id)
        if status is not None:
            stmt = stmt.where(Alert.status == status)
        stmt = stmt.order_by(col(Alert.id)).limit(limit)
        async with self._db.session() as s:
            return list((await s.exec(stmt)).all())


class WebhookRepository(_Repo):
    """Raw webhook deliveries, stored before processing."""

    async def store(self, *, workspace_id: str, source: str, body: str) -> WebhookDelivery:
        """Persist a raw body; returns the row to mark processed later."""
        row = WebhookDelivery(workspace_id=workspace_id, source=source, body=body)
        async with self._db.session() as s:
            s.add(row)
            await s.commit()
            await s.refresh(row)
        return row

    async def mark_processed(
        self, *, workspace_id: str, delivery_id: int, error: str | None = None
    ) -> None:
        """Record that a delivery was processed (with the error, if any)."""
        stmt = (
            update(WebhookDelivery)
            .where(col(WebhookDelivery.workspace_id) == workspace_id)
            .where(col(WebhookDelivery.id) == delivery_id)
            .values(processed_at=utcnow(), error=error)
        )
        async with self._db.session() as s:
            await s.exec(stmt)
            await s.commit()


class TimelineRepository(_Repo):
    """Incident timeline events."""

    async def add(
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
        """Append an event."""
        ev = TimelineEvent(
            workspace_id=workspace_id,
            incident_id=incident_id,
            kind=kind,
            text=text,
            actor=actor,
            data=data or {},
            at=at or utcnow(),
        )
        async with self._db.session() as s:
            s.add(ev)
            await s.commit()
            await s.refresh(ev)
        return ev

    async def list(self, *, workspace_id: str, incident_id: int) -> list[TimelineEvent]:
        """Events of one incident in time order."""
        stmt = (
            select(TimelineEvent)
            .where(TimelineEvent.workspace_id == workspace_id)
            .where(TimelineEvent.incident_id == incident_id)
            .order_by(col(TimelineEvent.at), col(TimelineEvent.id))
        )
        async with self._db.session() as s:
            return list((await s.exec(stmt)).all())


class HypothesisRepository(_Repo):
    """Hypotheses offered in replies, and the feedback on them."""

    async def add_many(
        self, *, workspace_id: str, hypotheses: Sequence[Hypothesis]
    ) -> list[Hypothesis]:
        """Store hypotheses (their ``workspace_id`` must match)."""
        for h in hypotheses:
            if h.workspace_id != workspace_id:
                raise ValueError("hypothesis belongs to another workspace")
        async with self._db.session() as s:
            s.add_all(list(hypotheses))
            await s.commit()
            for h in hypotheses:
                await s.refresh(h)
        return list(hypotheses)

    async def get(self, *, workspace_id: str, hypothesis_id: int) -> Hypothesis | None:
        """One hypothesis, or ``None``."""
        stmt = (
            select(Hypothesis)
            .where(Hypothesis.workspace_id == workspace_id)
            .where(Hypothesis.id == hypothesis_id)
        )
        async with self._db.session() as s:
            return (await s.exec(stmt)).first()

    async def vote(
        self, *, workspace_id: str, hypothesis_id: int, user_id: str, vote: int, comment: str = ""
    ) -> Feedback:
        """Record a user's vote; a second vote by the same user replaces the first."""
        if vote not in (-1, 1):
            raise ValueError("vote must be -1 or 1")
        if await self.get(workspace_id=workspace_id, hypothesis_id=hypothesis_id) is None:
            raise LookupError(f"hypothesis {hypothesis_id} not found")
        async with self._db.session() as s:
            stmt = (
                select(Feedback)
                .where(Feedback.workspace_id == workspace_id)
                .where(Feedback.hypothesis_id == hypothesis_id)
                .where(Feedback.user_id == user_id)
            )
            row = (await s.exec(stmt)).first()
            if row is None:
                row = Feedback(
                    workspace_id=workspace_id,
                    hypothesis_id=hypothesis_id,
                    user_id=user_id,
                    vote=vote,
                    comment=comment,
                )
            else:
                row.vote, row.comment, row.created_at = vote, comment, utcnow()
            s.add(row)
            await s.commit()
            await s.refresh(row)
            return row

    async def for_incident(
        self, *, workspace_id: str, incident_id: int, conversation_key: str | None = None
    ) -> list[tuple[Hypothesis, int]]:
        """Hypotheses of an incident (or its thread) with their net votes, best first."""
        votes = (
            select(Feedback.hypothesis_id, func.sum(Feedback.vote).label("score"))
            .where(Feedback.workspace_id == workspace_id)
            .group_by(col(Feedback.hypothesis_id))
            .subquery()
        )
        owner = col(Hypothesis.incident_id) == incident_id
        if conversation_key:
            owner = owner | (col(Hypothesis.conversation_key) == conversation_key)
        stmt = (
            select(Hypothesis, func.coalesce(votes.c.score, 0))
            .outerjoin(votes, col(Hypothesis.id) == votes.c.hypothesis_id)
            .where(Hypothesis.workspace_id == workspace_id)
            .where(owner)
            .order_by(col(Hypothesis.confidence).desc())
        )
        async with self._db.session() as s:
            rows = (await s.exec(stmt)).all()
        return [(h, int(score)) for h, score in rows]

    async def confirmed_faults(self, *, workspace_id: str, service: str) -> dict[str, int]:
        """Faults responders confirmed (net positive votes) for a service, with counts."""
        votes = (
            select(Feedback.hypothesis_id, func.sum(Feedback.vote).label("score"))
            .where(Feedback.workspace_id == workspace_id)
            .group_by(col(Feedback.hypothesis_id))
            .subquery()
        )
        stmt = (
            select(Hypothesis.fault, func.count())
            .join(votes, col(Hypothesis.id) == votes.c.hypothesis_id)
            .where(Hypothesis.workspace_id == workspace_id)
            .where(Hypothesis.service == service)
            .where(votes.c.score > 0)
            .group_by(col(Hypothesis.fault))
        )
        async with self._db.session() as s:
            rows = (await s.exec(stmt)).all()
        return {str(fault): int(n) for fault, n in rows if fault}

    async def score(self, *, workspace_id: str, hypothesis_id: int) -> int:
        """Sum of votes on a hypothesis."""
        stmt = (
            select(func.coalesce(func.sum(Feedback.vote), 0))
            .where(Feedback.workspace_id == workspace_id)
            .where(Feedback.hypothesis_id == hypothesis_id)
        )
        async with self._db.session() as s:
            return int((await s.exec(stmt)).one())


class RunbookDocumentRepository(_Repo):
    """Catalogue of ingested runbook files (the vectors live in the vector store)."""

    async def upsert(
        self,
        *,
        workspace_id: str,
        path: str,
        title: str,
        content_hash: str,
        sections: int,
        meta: dict[str, Any] | None = None,
    ) -> RunbookDocument:
        """Insert or replace a document's catalogue row."""
        async with self._db.session() as s:
            stmt = (
                select(RunbookDocument)
                .where(RunbookDocument.workspace_id == workspace_id)
                .where(RunbookDocument.path == path)
            )
            row = (await s.exec(stmt)).first() or RunbookDocument(
                workspace_id=workspace_id, path=path, content_hash=content_hash
            )
            row.title, row.content_hash, row.sections = title, content_hash, sections
            row.meta, row.ingested_at = meta or {}, utcnow()
            s.add(row)
            await s.commit()
            await s.refresh(row)
            return row

    async def list(self, *, workspace_id: str) -> list[RunbookDocument]:
        """Every catalogued document, by path."""
        stmt = (
            select(RunbookDocument)
            .where(RunbookDocument.workspace_id == workspace_id)
            .order_by(col(RunbookDocument.path))
        )
        async with self._db.session() as s:
            return list((await s.exec(stmt)).all())

    async def delete(self, *, workspace_id: str, path: str) -> bool:
        """Remove one document's row; ``False`` if it was not there."""
        async with self._db.session() as s:
            stmt = (
                select(RunbookDocument)
                .where(RunbookDocument.workspace_id == workspace_id)
                .where(RunbookDocument.path == path)
            )
            row = (await s.exec(stmt)).first()
            if row is None:
                return False
            await s.delete(row)
            await s.commit()
            return True


class ProposalRepository(_Repo):
    """Remediation proposals; status changes only by compare-and-set."""

    async def create(self, *, proposal: RemediationProposal) -> RemediationProposal:
        """Persist a new proposal (status pending)."""
        async with self._db.session() as s:
            s.add(proposal)
            await s.commit()
            await s.refresh(proposal)
        return proposal

    async def get(self, *, workspace_id: str, proposal_id: str) -> RemediationProposal | None:
        """One proposal, or ``None``."""
        stmt = (
            select(RemediationProposal)
            .where(RemediationProposal.workspace_id == workspace_id)
            .where(RemediationProposal.id == proposal_id)
        )
        async with self._db.session() as s:
            return (await s.exec(stmt)).first()

    async def compare_and_set(
        self,
        *,
        workspace_id: str,
        proposal_id: str,
        expected_status: ProposalStatus,
        expected_version: int,
        new_status: ProposalStatus,
        approvals: list[str] | None = None,
        result: dict[str, Any] | None = None,
        rejected_by: str | None = None,
    ) -> bool:
        """Move a proposal from (status, version) to ``new_status``; at most one caller wins."""
        values: dict[str, Any] = {
            "status": new_status.value,
            "version": expected_version + 1,
            "updated_at": utcnow(),
        }
        if approvals is not None:
            values["approvals"] = approvals
        if result is not None:
            values["result"] = result
        if rejected_by is not None:
            values["rejected_by"] = rejected_by
        stmt = (
            update(RemediationProposal)
            .where(col(RemediationProposal.workspace_id) == workspace_id)
            .where(col(RemediationProposal.id) == proposal_id)
            .where(col(RemediationProposal.status) == ProposalStatus(expected_status).value)
            .where(col(RemediationProposal.version) == expected_version)
            .values(**values)
        )
        async with self._db.session() as s:
            res = await s.exec(stmt)
            await s.commit()
        return bool(getattr(res, "rowcount", 0) == 1)

    async def list(
        self, *, workspace_id: str, status: ProposalStatus | None = None, limit: int = 50
    ) -> list[RemediationProposal]:
        """Newest proposals first."""
        stmt = select(RemediationProposal).where(RemediationProposal.workspace_id == workspace_id)
        if status is not None:
            stmt = stmt.where(RemediationProposal.status == status)
        stmt = stmt.order_by(col(RemediationProposal.created_at).desc()).limit(limit)
        async with self._db.session() as s:
            return list((await s.exec(stmt)).all())

    async def count_by_status(self) -> dict[str, int]:
        """Number of proposals per status, across workspaces (the ``/metrics`` gauge)."""
        stmt = select(RemediationProposal.status, func.count()).group_by(
            col(RemediationProposal.status)
        )
        async with self._db.session() as s:
            rows = (await s.exec(stmt)).all()
        return {ProposalStatus(status).value: int(n) for status, n in rows}

    async def set_message(
        self, *, workspace_id: str, proposal_id: str, channel_id: str, message_ts: str
    ) -> bool:
        """Remember where the proposal message is (later state changes update it in place).

        Not a state change: ``status`` and ``version`` are left alone, so it never
        races with a decision.
        """
        stmt = (
            update(RemediationProposal)
            .where(col(RemediationProposal.workspace_id) == workspace_id)
            .where(col(RemediationProposal.id) == proposal_id)
            .values(channel_id=channel_id, message_ts=message_ts)
        )
        async with self._db.session() as s:
            res = await s.exec(stmt)
            await s.commit()
        return bool(getattr(res, "rowcount", 0) == 1)

    async def pending_with_key(
        self, *, workspace_id: str, dedupe_key: str, now: datetime
    ) -> RemediationProposal | None:
        """A pending, unexpired proposal created with ``dedupe_key``, if any."""
        stmt = (
            select(RemediationProposal)
            .where(RemediationProposal.workspace_id == workspace_id)
            .where(RemediationProposal.dedupe_key == dedupe_key)
            .where(RemediationProposal.status == ProposalStatus.PENDING)
            .where(col(RemediationProposal.expires_at) > now)
            .limit(1)
        )
        async with self._db.session() as s:
            return (await s.exec(stmt)).first()

    async def due_to_expire(
        self, *, now: datetime, workspace_id: str | None = None, limit: int = 500
    ) -> builtins.list[RemediationProposal]:
        """Pending proposals whose expiry has passed (all workspaces unless one is given)."""
        stmt = (
            select(RemediationProposal)
            .where(RemediationProposal.status == ProposalStatus.PENDING)
            .where(col(RemediationProposal.expires_at) <= now)
        )
        if workspace_id is not None:
            stmt = stmt.where(RemediationProposal.workspace_id == workspace_id)
        stmt = stmt.order_by(col(RemediationProposal.expires_at)).limit(limit)
        async with self._db.session() as s:
            return list((await s.exec(stmt)).all())

    async def executing(
        self, *, updated_before: datetime | None = None, workspace_id: str | None = None,
        limit: int = 1000,
    ) -> builtins.list[RemediationProposal]:  # fmt: skip
        """Proposals in ``executing`` (all workspaces unless one is given).

        With ``updated_before``, only those whose last change is older than that.
        """
        stmt = select(RemediationProposal).where(
            RemediationProposal.status == ProposalStatus.EXECUTING
        )
        if updated_before is not None:
            stmt = stmt.where(col(RemediationProposal.updated_at) < updated_before)
        if workspace_id is not None:
            stmt = stmt.where(RemediationProposal.workspace_id == workspace_id)
        stmt = stmt.order_by(col(RemediationProposal.updated_at)).limit(limit)
        async with self._db.session() as s:
            return list((await s.exec(stmt)).all())


class AuditRepository(_Repo):
    """Append-only audit trail."""

    async def add(
        self,
        *,
        workspace_id: str,
        actor: str,
        kind: str,
        proposal_id: str | None = None,
        accepted: bool = True,
        reason: str = "",
        data: dict[str, Any] | None = None,
    ) -> AuditEvent:
        """Append one audit row."""
        row = AuditEvent(
            workspace_id=workspace_id,
            actor=actor,
            kind=kind,
            proposal_id=proposal_id,
            accepted=accepted,
            reason=reason,
            data=data or {},
        )
        async with self._db.session() as s:
            s.add(row)
            await s.commit()
            await s.refresh(row)
        return row

    async def since(
        self, *, workspace_id: str, since: datetime, proposal_id: str | None = None
    ) -> list[AuditEvent]:
        """Audit rows at or after ``since``, oldest first."""
        stmt = (
            select(AuditEvent)
            .where(AuditEvent.workspace_id == workspace_id)
            .where(col(AuditEvent.at) >= since)
        )
        if proposal_id is not None:
            stmt = stmt.where(AuditEvent.proposal_id == proposal_id)
        stmt = stmt.order_by(col(AuditEvent.at), col(AuditEvent.id))
        async with self._db.session() as s:
            return list((await s.exec(stmt)).all())


class JobRunRepository(_Repo):
    """Job runs, unique per (workspace, job, period)."""

    async def claim(
        self, *, workspace_id: str, job: str, period: str, owner: str = ""
    ) -> JobRun | None:
        """Insert the (job, period) row; ``None`` if another process already claimed it."""
        row = JobRun(workspace_id=workspace_id, job=job, period=period, owner=owner)
        async with self._db.session() as s:
            s.add(row)
            try:
                await s.commit()
            except IntegrityError:
                await s.rollback()
                return None
            await s.refresh(row)
            return row

    async def finish(
        self, *, workspace_id: str, run_id: int, status: JobRunStatus, error: str | None = None
    ) -> JobRun:
        """Record the outcome and duration of a claimed run."""
        async with self._db.session() as s:
            stmt = (
                select(JobRun).where(JobRun.workspace_id == workspace_id).where(JobRun.id == run_id)
            )
            row = (await s.exec(stmt)).one()
            now = utcnow()
            row.status, row.error, row.finished_at = status, error, now
            row.duration_ms = (now - row.started_at).total_seconds() * 1000
            s.add(row)
            await s.commit()
            await s.refresh(row)
            return row

    async def list(
        self, *, workspace_id: str, job: str | None = None, limit: int = 50
    ) -> list[JobRun]:
        """Newest runs first."""
        stmt = select(JobRun).where(JobRun.workspace_id == workspace_id)
        if job is not None:
            stmt = stmt.where(JobRun.job == job)
        stmt = stmt.order_by(col(JobRun.id).desc()).limit(limit)
        async with self._db.session() as s:
            return list((await s.exec(stmt)).all())

    async def prune(
        self, *, workspace_id: str, before: datetime, batch_size: int = DELETE_BATCH_SIZE
    ) -> int:
        """Delete runs started before ``before``, except each job's newest run; the count.

        The newest run per job stays whatever its age, because catch-up asks whether a job
        ever ran here (:meth:`list` with ``limit=1``). Deletes in batches of ``batch_size``.
        """
        newest = (
            select(func.max(JobRun.id))
            .where(col(JobRun.workspace_id) == workspace_id)
            .group_by(col(JobRun.job))
        )
        doomed = (
            select(col(JobRun.id))
            .where(col(JobRun.workspace_id) == workspace_id)
            .where(col(JobRun.started_at) < before)
            .where(col(JobRun.id).not_in(newest))
            .limit(batch_size)
        )
        stmt = delete(JobRun).where(col(JobRun.id).in_(doomed))
        return await self._delete_in_batches(stmt, batch_size)


class ProcessedEventRepository(_Repo):
    """Keys already handled: Slack event ids, webhook replay keys, once-only claims.

    First-time checks are insert-unique across replicas; :meth:`prune` and
    :meth:`prune_proposal_claims` are the retention job's deletes.
    """

    async def first_time(self, *, workspace_id: str, event_id: str) -> bool:
        """Record ``event_id``; ``True`` only for the first caller, ever."""
        async with self._db.session() as s:
            s.add(ProcessedEvent(workspace_id=workspace_id, event_id=event_id))
            try:
                await s.commit()
            except IntegrityError:
                await s.rollback()
                return False
            return True

    async def prune(
        self,
        *,
        before: datetime,
        keep_prefixes: Sequence[str] = (),
        workspace_id: str | None = None,
        batch_size: int = DELETE_BATCH_SIZE,
    ) -> int:
        """Delete keys received before ``before``, except those under ``keep_prefixes``.

        Args:
            before: Rows whose ``received_at`` is older than this go.
            keep_prefixes: Keys starting with any of these are never deleted here.
            workspace_id: Only this workspace; ``None``: every workspace (maintenance runs
                once per deployment, while keys belong to every Slack team it serves).
            batch_size: Rows per ``DELETE`` (each batch is its own transaction).

        Returns:
            How many rows were deleted.
        """
        conditions = [
            ~col(ProcessedEvent.event_id).startswith(p, autoescape=True) for p in keep_prefixes
        ]
        return await self._prune(
            before=before, conditions=conditions, workspace_id=workspace_id, batch_size=batch_size
        )

    async def prune_proposal_claims(
        self,
        *,
        prefix: str,
        before: datetime,
        live_statuses: Collection[ProposalStatus],
        workspace_id: str | None = None,
        batch_size: int = DELETE_BATCH_SIZE,
    ) -> int:
        """Delete ``<prefix><proposal id>`` keys received before ``before`` unless still needed.

        A key is kept while its proposal (same workspace) is in one of ``live_statuses``;
        it goes once the proposal is in any other status or no longer exists.

        Args:
            prefix: Key prefix followed by the proposal id (``proposal-message:``).
            before: Rows whose ``received_at`` is older than this may go.
            live_statuses: Proposal statuses that keep the key.
            workspace_id: Only this workspace; ``None``: every workspace.
            batch_size: Rows per ``DELETE`` (each batch is its own transaction).

        Returns:
            How many rows were deleted.
        """
        live = (
            select(col(RemediationProposal.id))
            .where(col(RemediationProposal.workspace_id) == col(ProcessedEvent.workspace_id))
            .where(literal(prefix) + col(RemediationProposal.id) == col(ProcessedEvent.event_id))
            .where(col(RemediationProposal.status).in_([str(v) for v in live_statuses]))
        )
        conditions = [
            col(ProcessedEvent.event_id).startswith(prefix, autoescape=True),
            ~live.exists(),
        ]
        return await self._prune(
            before=before, conditions=conditions, workspace_id=workspace_id, batch_size=batch_size
        )

    async def _prune(
        self,
        *,
        before: datetime,
        conditions: Sequence[ColumnElement[bool]],
        workspace_id: str | None,
        batch_size: int,
    ) -> int:
        keys = (
            select(col(ProcessedEvent.workspace_id), col(ProcessedEvent.event_id))
            .where(col(ProcessedEvent.received_at) < before)
            .where(*conditions)
        )
        if workspace_id is not None:
            keys = keys.where(col(ProcessedEvent.workspace_id) == workspace_id)
        stmt = delete(ProcessedEvent).where(
            tuple_(col(ProcessedEvent.workspace_id), col(ProcessedEvent.event_id)).in_(
                keys.limit(batch_size)
            )
        )
        return await self._delete_in_batches(stmt, batch_size)


@dataclass(frozen=True)
class Repositories:
    """Every repository over one database."""

    workspaces: WorkspaceRepository
    conversations: ConversationRepository
    incidents: IncidentRepository
    alerts: AlertRepository
    webhooks: WebhookRepository
    timeline: TimelineRepository
    hypotheses: HypothesisRepository
    runbooks: RunbookDocumentRepository
    proposals: ProposalRepository
    audit: AuditRepository
    job_runs: JobRunRepository
    processed_events: ProcessedEventRepository
    slack_installations: SlackInstallationRepository

    @classmethod
    def build(cls, db: Database) -> Repositories:
        """All repositories sharing ``db``."""
        return cls(
            workspaces=WorkspaceRepository(db),
            conversations=ConversationRepository(db),
            incidents=IncidentRepository(db),
            alerts=AlertRepository(db),
            webhooks=WebhookRepository(db),
            timeline=TimelineRepository(db),
            hypotheses=HypothesisRepository(db),
            runbooks=RunbookDocumentRepository(db),
            proposals=ProposalRepository(db),
            audit=AuditRepository(db),
            job_runs=JobRunRepository(db),
            processed_events=ProcessedEventRepository(db),
            slack_installations=SlackInstallationRepository(db),
        )


class SlackInstallationRepository(_Repo):
    """Slack app installations (multi-workspace OAuth); one row per (workspace, installer).

    The rows hold tokens: callers must never log them.
    """

    async def save(self, *, installation: SlackInstallation) -> SlackInstallation:
        """Insert, or replace the row of the same (workspace, installer); safe under races."""
        fields = installation.model_dump(exclude={"id"})
        where = (
            col(SlackInstallation.workspace_id) == installation.workspace_id,
            col(SlackInstallation.installer_user_id) == installation.installer_user_id,
        )
        for _attempt in range(3):
            async with self._db.session() as s:
                res = await s.exec(update(SlackInstallation).where(*where).values(**fields))
                await s.commit()
                if getattr(res, "rowcount", 0) == 1:
                    return (await s.exec(select(SlackInstallation).where(*where))).one()
                row = SlackInstallation(**fields)
                s.add(row)
                try:
                    await s.commit()
                except IntegrityError:
                    await s.rollback()  # another replica saved it first: update instead
                    continue
                await s.refresh(row)
                return row
        raise StorageError(  # pragma: no cover
            f"slack installation {installation.workspace_id}: could not insert or update"
        )

    async def find(
        self, *, workspace_id: str, installer_user_id: str | None = None
    ) -> SlackInstallation | None:
        """The latest installation of a workspace (of one installer, when given)."""
        stmt = select(SlackInstallation).where(SlackInstallation.workspace_id == workspace_id)
        if installer_user_id is not None:
            stmt = stmt.where(SlackInstallation.installer_user_id == installer_user_id)
        stmt = stmt.order_by(
            col(SlackInstallation.installed_at).desc(), col(SlackInstallation.id).desc()
        )
        async with self._db.session() as s:
            return (await s.exec(stmt.limit(1))).first()

    async def find_bot(self, *, workspace_id: str) -> SlackInstallation | None:
        """The latest installation of a workspace that still holds a bot token."""
        stmt = (
            select(SlackInstallation)
            .where(SlackInstallation.workspace_id == workspace_id)
            .where(col(SlackInstallation.bot_token).is_not(None))
            .order_by(col(SlackInstallation.installed_at).desc(), col(SlackInstallation.id).desc())
            .limit(1)
        )
        async with self._db.session() as s:
            return (await s.exec(stmt)).first()

    async def clear_bot(self, *, workspace_id: str) -> int:
        """Forget the bot token of every installation of a workspace (tokens revoked)."""
        stmt = (
            update(SlackInstallation)
            .where(col(SlackInstallation.workspace_id) == workspace_id)
            .values(bot_token=None, bot_refresh_token=None, bot_token_expires_at=None)
        )
        async with self._db.session() as s:
            res = await s.exec(stmt)
            await s.commit()
        return int(getattr(res, "rowcount", 0))

    async def delete(self, *, workspace_id: str, installer_user_id: str | None = None) -> int:
        """Delete a workspace's installations (of one installer, when given); the count."""
        stmt = delete(SlackInstallation).where(col(SlackInstallation.workspace_id) == workspace_id)
        if installer_user_id is not None:
            stmt = stmt.where(col(SlackInstallation.installer_user_id) == installer_user_id)
        async with self._db.session() as s:
            res = await s.exec(stmt)
            await s.commit()
        return int(getattr(res, "rowcount", 0))
