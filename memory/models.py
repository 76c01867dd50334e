"""SQLModel tables for the whole product.

Every row carries ``workspace_id`` (the Slack team id, or ``local`` for the console
and single-team installs) and every repository query filters by it. Timestamps are
UTC-aware (:class:`memory.types.UTCDateTime`). Table names are singular.

This module deliberately does not use ``from __future__ import annotations``:
postponed annotations break SQLModel's relationship mapping (sqlmodel #196).
"""

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Column, Index, String, UniqueConstraint
from sqlmodel import Field, SQLModel

from memory.types import UTCDateTime, utcnow


def _ts(*, nullable: bool = False, index: bool = False) -> Any:
    return Field(
        default_factory=utcnow if not nullable else None,
        sa_type=UTCDateTime,
        nullable=nullable,
        index=index,
    )


def _opt_ts() -> Any:
    return Field(default=None, sa_type=UTCDateTime, nullable=True)


def _json(default: Any = dict) -> Any:
    return Field(default_factory=default, sa_column=Column(JSON, nullable=False))


def _ws() -> Any:
    return Field(foreign_key="workspace.id", index=True, max_length=64)


class IncidentStatus(StrEnum):
    """Incident state machine: triggered → acknowledged → investigating → mitigated → resolved."""

    TRIGGERED = "triggered"
    ACKNOWLEDGED = "acknowledged"
    INVESTIGATING = "investigating"
    MITIGATED = "mitigated"
    RESOLVED = "resolved"


class AlertStatus(StrEnum):
    """Alertmanager's alert states."""

    FIRING = "firing"
    RESOLVED = "resolved"


class ProposalStatus(StrEnum):
    """Remediation proposal state machine (changed only by compare-and-set)."""

    PENDING = "pending"
    APPROVED = "approved"
    EXECUTING = "executing"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    VERIFIED = "verified"
    REJECTED = "rejected"
    EXPIRED = "expired"


class JobRunStatus(StrEnum):
    """Outcome of one scheduled job run."""

    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


class Workspace(SQLModel, table=True):
    """A Slack team (or ``local``): the tenant every other row belongs to."""

    id: str = Field(primary_key=True, max_length=64)
    name: str = Field(default="", max_length=200)
    created_at: datetime = _ts()


class Incident(SQLModel, table=True):
    """An incident: correlated alerts, one Slack thread, a state machine, a timeline."""

    __table_args__ = (Index("ix_incident_ws_status", "workspace_id", "status"),)

    id: int | None = Field(default=None, primary_key=True)
    workspace_id: str = _ws()
    title: str = Field(max_length=500)
    status: IncidentStatus = Field(default=IncidentStatus.TRIGGERED, sa_type=String(20))
    severity: str = Field(default="warning", max_length=20)
    service: str | None = Field(default=None, max_length=200, index=True)
    correlation_key: str | None = Field(default=None, max_length=500)
    labels: dict[str, str] = _json()
    channel_id: str | None = Field(default=None, max_length=64)
    thread_ts: str | None = Field(default=None, max_length=64)
    pagerduty_incident_id: str | None = Field(default=None, max_length=64)
    summary: str = Field(default="")
    started_at: datetime = _ts()
    acknowledged_at: datetime | None = _opt_ts()
    mitigated_at: datetime | None = _opt_ts()
    resolved_at: datetime | None = _opt_ts()
    notified_at: datetime | None = _opt_ts()
    created_at: datetime = _ts()
    updated_at: datetime = _ts()


class Alert(SQLModel, table=True):
    """One alert, deduplicated by fingerprint (firing → resolved updates the same row)."""

    __table_args__ = (UniqueConstraint("workspace_id", "fingerprint", name="uq_alert_fingerprint"),)

    id: int | None = Field(default=None, primary_key=True)
    workspace_id: str = _ws()
    fingerprint: str = Field(max_length=128)
    incident_id: int | None = Field(default=None, foreign_key="incident.id", index=True)
    source: str = Field(default="alertmanager", max_length=32)
    name: str = Field(max_length=200, index=True)
    status: AlertStatus = Field(default=AlertStatus.FIRING, sa_type=String(16))
    severity: str = Field(default="warning", max_length=20)
    service: str | None = Field(default=None, max_length=200)
    labels: dict[str, str] = _json()
    annotations: dict[str, str] = _json()
    starts_at: datetime = _ts()
    ends_at: datetime | None = _opt_ts()
    last_seen_at: datetime = _ts()
    occurrences: int = Field(default=1)


class WebhookDelivery(SQLModel, table=True):
    """A raw inbound webhook body, stored before processing so nothing is lost."""

    id: int | None = Field(default=None, primary_key=True)
    workspace_id: str = _ws()
    source: str = Field(max_length=32)
    received_at: datetime = _ts(index=True)
    body: str
    processed_at: datetime | None = _opt_ts()
    error: str | None = Field(default=None)


class TimelineEvent(SQLModel, table=True):
    """Something that happened in an incident: alert, transition, message, hypothesis, action."""

    __table_args__ = (Index("ix_timeline_ws_incident_at", "workspace_id", "incident_id", "at"),)

    id: int | None = Field(default=None, primary_key=True)
    workspace_id: str = _ws()
    incident_id: int = Field(foreign_key="incident.id")
    at: datetime = _ts()
    kind: str = Field(max_length=32)
    actor: str = Field(default="sre-copilot", max_length=200)
    text: str = Field(default="")
    data: dict[str, Any] = _json()


class ConversationTurn(SQLModel, table=True):
    """One message in a conversation (Slack thread or console session)."""

    __table_args__ = (Index("ix_turn_ws_conv", "workspace_id", "conversation_key", "id"),)

    id: int | None = Field(default=None, primary_key=True)
    workspace_id: str = _ws()
    conversation_key: str = Field(max_length=200)
    role: str = Field(max_length=16)
    user_id: str | None = Field(default=None, max_length=64)
    text: str = Field(default="")
    reply: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    incident_id: int | None = Field(default=None, foreign_key="incident.id")
    created_at: datetime = _ts()


class Hypothesis(SQLModel, table=True):
    """A ranked explanation offered in a reply, with its confidence and cited evidence."""

    id: int | None = Field(default=None, primary_key=True)
    workspace_id: str = _ws()
    conversation_key: str | None = Field(default=None, max_length=200)
    turn_id: int | None = Field(default=None, foreign_key="conversationturn.id")
    incident_id: int | None = Field(default=None, foreign_key="incident.id", index=True)
    rank: int = Field(default=1)
    title: str = Field(max_length=500)
    fault: str | None = Field(default=None, max_length=64)
    service: str | None = Field(default=None, max_length=200)
    confidence: float = Field(ge=0.0, le=1.0)
    evidence: list[dict[str, Any]] = _json(list)
    created_at: datetime = _ts()


class Feedback(SQLModel, table=True):
    """A 👍 / 👎 on a hypothesis; one vote per user per hypothesis (the last one counts)."""

    __table_args__ = (
        UniqueConstraint("workspace_id", "hypothesis_id", "user_id", name="uq_feedback_vote"),
    )

    id: int | None = Field(default=None, primary_key=True)
    workspace_id: str = _ws()
    hypothesis_id: int = Field(foreign_key="hypothesis.id")
    user_id: str = Field(max_length=64)
    vote: int = Field(ge=-1, le=1)
    comment: str = Field(default="")
    created_at: datetime = _ts()


class RunbookDocument(SQLModel, table=True):
    """A runbook file known to the store (vectors live in Chroma; this is the catalogue)."""

    __table_args__ = (UniqueConstraint("workspace_id", "path", name="uq_runbook_path"),)

    id: int | None = Field(default=None, primary_key=True)
    workspace_id: str = _ws()
    path: str = Field(max_length=1000)
    title: str = Field(default="", max_length=500)
    content_hash: str = Field(max_length=64)
    meta: dict[str, Any] = _json()
    sections: int = Field(default=0)
    ingested_at: datetime = _ts()


def _proposal_id() -> str:
    return uuid.uuid4().hex


class RemediationProposal(SQLModel, table=True):
    """A proposed mutating action awaiting human approval (or auto-run by policy)."""

    __table_args__ = (Index("ix_proposal_ws_status", "workspace_id", "status"),)

    id: str = Field(default_factory=_proposal_id, primary_key=True, max_length=32)
    workspace_id: str = _ws()
    incident_id: int | None = Field(default=None, foreign_key="incident.id")
    action: str = Field(max_length=100)
    params: dict[str, Any] = _json()
    environment: str = Field(default="production", max_length=64)
    risk: str = Field(default="medium", max_length=16)
    status: ProposalStatus = Field(default=ProposalStatus.PENDING, sa_type=String(16))
    version: int = Field(default=0)
    proposed_by: str = Field(max_length=200)
    reason: str = Field(default="")
    dry_run: str = Field(default="")
    required_approvals: int = Field(default=1, ge=0)
    approvals: list[str] = _json(list)
    result: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    channel_id: str | None = Field(default=None, max_length=64)
    message_ts: str | None = Field(default=None, max_length=64)
    rejected_by: str | None = Field(default=None, max_length=200)
    dedupe_key: str | None = Field(default=None, max_length=200, index=True)
    expires_at: datetime = _ts()
    created_at: datetime = _ts()
    updated_at: datetime = _ts()


class AuditEvent(SQLModel, table=True):
    """An audit row: every proposal, click (accepted or refused), execution and verification."""

    __table_args__ = (Index("ix_audit_ws_at", "workspace_id", "at"),)

    id: int | None = Field(default=None, primary_key=True)
    workspace_id: str = _ws()
    proposal_id: str | None = Field(default=None, foreign_key="remediationproposal.id", index=True)
    at: datetime = _ts()
    actor: str = Field(max_length=200)
    kind: str = Field(max_length=32)
    accepted: bool = Field(default=True)
    reason: str = Field(default="")
    data: dict[str, Any] = _json()


class JobRun(SQLModel, table=True):
    """One run of a scheduled job; unique per (job, period) so replicas never run it twice."""

    __table_args__ = (UniqueConstraint("workspace_id", "job", "period", name="uq_jobrun_period"),)

    id: int | None = Field(default=None, primary_key=True)
    workspace_id: str = _ws()
    job: str = Field(max_length=100)
    period: str = Field(max_length=64)
    status: JobRunStatus = Field(default=JobRunStatus.RUNNING, sa_type=String(16))
    owner: str = Field(default="", max_length=200)
    started_at: datetime = _ts()
    finished_at: datetime | None = _opt_ts()
    duration_ms: float | None = Field(default=None)
    error: str | None = Field(default=None)


class ProcessedEvent(SQLModel, table=True):
    """A key already handled: a Slack event id, a webhook replay key or a once-only claim.

    ``received_at`` is indexed for the ``retention`` job (``jobs.retention``), which deletes
    old rows in batches by it.
    """

    __table_args__ = (Index("ix_processedevent_received_at", "received_at"),)

    workspace_id: str = Field(foreign_key="workspace.id", primary_key=True, max_length=64)
    event_id: str = Field(primary_key=True, max_length=128)
    received_at: datetime = _ts()


ALL_TABLES = [
    Workspace,
    Incident,
    Alert,
    WebhookDelivery,
    TimelineEvent,
    ConversationTurn,
    Hypothesis,
    Feedback,
    RunbookDocument,
    RemediationProposal,
    AuditEvent,
    JobRun,
    ProcessedEvent,
]


class SlackInstallation(SQLModel, table=True):
    """A Slack app installation (multi-workspace OAuth): one row per (workspace, installer).

    ``workspace_id`` is the Slack team id (the enterprise id for an org-wide install).
    Tokens are stored as Slack returned them, in plain text, like slack_sdk's own SQL
    stores: protect the database (and its backups) accordingly, and never log these
    columns. Rows are written by ``bot.slack.installation_store`` only.
    """

    __table_args__ = (
        UniqueConstraint(
            "workspace_id", "installer_user_id", name="uq_slackinstallation_installer"
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    workspace_id: str = _ws()
    enterprise_id: str | None = Field(default=None, max_length=64)
    enterprise_name: str | None = Field(default=None, max_length=200)
    enterprise_url: str | None = Field(default=None, max_length=500)
    team_name: str | None = Field(default=None, max_length=200)
    is_enterprise_install: bool = Field(default=False)
    app_id: str | None = Field(default=None, max_length=64)
    bot_id: str | None = Field(default=None, max_length=64)
    bot_user_id: str | None = Field(default=None, max_length=64)
    bot_token: str | None = Field(default=None)
    bot_scopes: str = Field(default="")
    bot_refresh_token: str | None = Field(default=None)
    bot_token_expires_at: datetime | None = _opt_ts()
    installer_user_id: str = Field(max_length=64)
    user_token: str | None = Field(default=None)
    user_scopes: str = Field(default="")
    user_refresh_token: str | None = Field(default=None)
    user_token_expires_at: datetime | None = _opt_ts()
    incoming_webhook_url: str | None = Field(default=None)
    incoming_webhook_channel: str | None = Field(default=None, max_length=200)
    incoming_webhook_channel_id: str | None = Field(default=None, max_length=64)
    incoming_webhook_configuration_url: str | None = Field(default=None)
    token_type: str | None = Field(default=None, max_length=32)
    custom_values: dict[str, Any] = _json()
    installed_at: datetime = _ts(index=True)


ALL_TABLES.append(SlackInstallation)
