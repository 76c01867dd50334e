"""Alert ingest: Alertmanager and PagerDuty webhooks → deduplicated alerts → incidents.

Each delivery is handled in one database transaction: the raw body is stored, alerts
are upserted by fingerprint (firing → resolved updates the same row), correlated into
incidents, and every join, resolve and transition becomes a timeline event. If any
step fails the whole delivery rolls back, so nothing is half-written; the caller
answers 4xx for bad input before anything is stored.

Ingest is serialised per database (an in-process lock, plus a PostgreSQL advisory
lock so replicas never open two incidents for one correlation key).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from pydantic import BaseModel, Field, ValidationError
from sqlalchemy import JSON, bindparam, insert, text, update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from jobs.config import IncidentConfig
from jobs.correlation import correlation_key, incident_title, worst_severity
from memory.db import Database
from memory.errors import CopilotError
from memory.models import (
    Alert,
    AlertStatus,
    Incident,
    IncidentStatus,
    ProcessedEvent,
    TimelineEvent,
    WebhookDelivery,
    Workspace,
)
from memory.types import UTCDateTime, utcnow

logger = logging.getLogger(__name__)

_ZERO_TIME = "0001-01-01T00:00:00Z"


class WebhookRejected(CopilotError):
    """A webhook that must be refused with a 4xx; ``status`` says which."""

    def __init__(self, message: str, *, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


class AMAlert(BaseModel):
    """One alert of an Alertmanager webhook (payload version 4)."""

    status: Literal["firing", "resolved"]
    labels: dict[str, str]
    annotations: dict[str, str] = Field(default_factory=dict)
    startsAt: datetime  # wire format
    endsAt: datetime | None = None
    fingerprint: str | None = None


class AMPayload(BaseModel):
    """An Alertmanager webhook payload (version 4)."""

    version: str
    status: str = "firing"
    receiver: str = ""
    groupKey: str = ""
    alerts: list[AMAlert]


class IngestResult(BaseModel):
    """What one delivery changed."""

    delivery_id: int | None = None
    deliveries: int = 0
    alerts: int = 0
    new_alerts: int = 0
    incidents_opened: list[int] = Field(default_factory=list)
    incidents_touched: list[int] = Field(default_factory=list)
    incidents_resolved: list[int] = Field(default_factory=list)


def _fingerprint(labels: dict[str, str]) -> str:
    return hashlib.sha256(json.dumps(labels, sort_keys=True).encode()).hexdigest()[:16]


def parse_alertmanager(body: bytes) -> AMPayload:
    """Validate an Alertmanager webhook body.

    Raises:
        WebhookRejected: malformed JSON, unknown version or missing fields (400).
    """
    try:
        raw = json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise WebhookRejected(f"body is not valid JSON: {exc}") from None
    if not isinstance(raw, dict):
        raise WebhookRejected("body must be a JSON object (Alertmanager webhook payload)")
    if str(raw.get("version")) != "4":
        raise WebhookRejected(
            f"unsupported Alertmanager payload version {raw.get('version')!r}; expected '4'"
        )
    for alert in raw.get("alerts") or []:
        if isinstance(alert, dict) and alert.get("endsAt") == _ZERO_TIME:
            alert["endsAt"] = None
    try:
        return AMPayload.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise WebhookRejected(f"invalid Alertmanager payload at {where}: {first['msg']}") from None


class AlertIngestor:
    """Turns webhook deliveries into alerts and incidents."""

    def __init__(self, db: Database, config: IncidentConfig) -> None:
        self._db = db
        self._config = config
        self._lock = asyncio.Lock()
        self.wake = asyncio.Event()

    async def claim_delivery(self, *, workspace_id: str, body: bytes, source: str) -> None:
        """Refuse an identical body seen within the replay window (409)."""
        key = f"{source}:{hashlib.sha256(body).hexdigest()}"
        now = utcnow()
        async with self._db.session() as s:
            await self._ensure_workspace(s, workspace_id)
            row = await s.get(ProcessedEvent, (workspace_id, key))
            if row is not None and row.received_at > now - timedelta(
                seconds=self._config.replay_window_s
            ):
                raise WebhookRejected(
                    f"replayed delivery: an identical {source} webhook arrived at "
                    f"{row.received_at:%H:%M:%S}",
                    status=409,
                )
            if row is None:
                s.add(ProcessedEvent(workspace_id=workspace_id, event_id=key, received_at=now))
            else:
                row.received_at = now
                s.add(row)
            await s.commit()

    @staticmethod
    async def _ensure_workspace(s: AsyncSession, workspace_id: str) -> None:
        if await s.get(Workspace, workspace_id) is None:
            s.add(Workspace(id=workspace_id, name=workspace_id))
            await s.flush()

    async def ingest_alertmanager(
        self, *, workspace_id: str, body: bytes, payload: AMPayload | None = None
    ) -> IngestResult:
        """Store, dedupe and correlate one Alertmanager delivery, atomically."""
        payload = payload or parse_alertmanager(body)
        async with self._lock, self._db.session() as s:
            await self._advisory_lock(s, workspace_id)
            await self._ensure_workspace(s, workspace_id)
            delivery = WebhookDelivery(
                workspace_id=workspace_id, source="alertmanager", body=body.decode("utf-8")
            )
            s.add(delivery)
            await s.flush()
            result = await self._apply(s, workspace_id, payload.alerts)
            result.delivery_id = delivery.id
            delivery.processed_at = utcnow()
            s.add(delivery)
            await s.commit()
        return result

    async def accept(self, *, workspace_id: str, body: bytes, source: str) -> int:
        """Durably store a validated delivery for :meth:`process_pending`; one commit.

        The replay check and the raw body go in one transaction, so a delivery is
        either refused (409) or stored, never half of each. Returns the delivery id.
        """
        key = f"{source}:{hashlib.sha256(body).hexdigest()}"
        now = utcnow()
        async with self._db.session() as s:
            await self._ensure_workspace(s, workspace_id)
            seen = await s.get(ProcessedEvent, (workspace_id, key))
            window = timedelta(seconds=self._config.replay_window_s)
            if seen is not None and seen.received_at > now - window:
                raise WebhookRejected(
                    f"replayed delivery: an identical {source} webhook arrived at "
                    f"{seen.received_at:%H:%M:%S}",
                    status=409,
                )
            if seen is None:
                s.add(ProcessedEvent(workspace_id=workspace_id, event_id=key, received_at=now))
            else:
                seen.received_at = now
                s.add(seen)
            delivery = WebhookDelivery(
                workspace_id=workspace_id, source=source, body=body.decode("utf-8")
            )
            s.add(delivery)
            await s.commit()
            assert delivery.id is not None
        self.wake.set()
        return delivery.id

    async def process_pending(self, *, limit: int = 40) -> IngestResult:
        """Process stored, unprocessed Alertmanager deliveries in one transaction.

        Deliveries are applied in arrival order. If the batch fails, each delivery is
        retried alone so one bad delivery is marked with its error instead of blocking
        the others.
        """
        async with self._lock:
            async with self._db.session() as s:
                rows = (
                    await s.exec(
                        select(WebhookDelivery)
                        .where(WebhookDelivery.source == "alertmanager")
                        .where(col(WebhookDelivery.processed_at).is_(None))
                        .order_by(col(WebhookDelivery.id))
                        .limit(limit)
                    )
                ).all()
            if not rows:
                return IngestResult()
            try:
                done = await self._process(list(rows))
                done.deliveries = len(rows)
                return done
            except Exception:  # boundary: isolate the bad delivery, keep the rest
                logger.exception("batch of %d deliveries failed; retrying one by one", len(rows))
            total = IngestResult(deliveries=len(rows))
            for row in rows:
                try:
                    part = await self._process([row])
                except Exception as exc:  # boundary: record and move on
                    await self._mark_failed(row, str(exc))
                    continue
                total.alerts += part.alerts
                total.new_alerts += part.new_alerts
                total.incidents_opened += part.incidents_opened
                total.incidents_resolved += part.incidents_resolved
            return total

    async def _process(self, rows: list[WebhookDelivery]) -> IngestResult:
        result = IngestResult()
        by_workspace: dict[str, list[AMAlert]] = {}
        for row in rows:
            alerts = parse_alertmanager(row.body.encode("utf-8")).alerts
            by_workspace.setdefault(row.workspace_id, []).extend(alerts)
        now = utcnow()
        async with self._db.session() as s:
            for workspace_id, alerts in by_workspace.items():
                await self._advisory_lock(s, workspace_id)
                part = await self._apply(s, workspace_id, alerts)
                result.alerts += part.alerts
                result.new_alerts += part.new_alerts
                result.incidents_opened += part.incidents_opened
                result.incidents_resolved += part.incidents_resolved
            await s.exec(
                update(WebhookDelivery)
                .where(col(WebhookDelivery.id).in_([r.id for r in rows]))
                .values(processed_at=now)
            )
            await s.commit()
        return result

    async def _mark_failed(self, row: WebhookDelivery, error: str) -> None:
        logger.error("delivery %s could not be processed: %s", row.id, error)
        async with self._db.session() as s:
            await s.exec(
                update(WebhookDelivery)
                .where(col(WebhookDelivery.id) == row.id)
                .values(processed_at=utcnow(), error=error[:2000])
            )
            await s.commit()

    async def run(self, stop: asyncio.Event, *, idle_s: float = 1.0) -> None:
        """Process deliveries as they arrive until ``stop`` is set."""
        while not stop.is_set():
            try:
                while (await self.process_pending()).deliveries:
                    pass
            except Exception:  # boundary: the processor must outlive one failure
                logger.exception("alert processing failed")
            self.wake.clear()
            waiter = asyncio.ensure_future(self.wake.wait())
            stopper = asyncio.ensure_future(stop.wait())
            await asyncio.wait(
                {waiter, stopper}, timeout=idle_s, return_when=asyncio.FIRST_COMPLETED
            )
            waiter.cancel()
            stopper.cancel()
        await self.process_pending()

    async def _advisory_lock(self, s: AsyncSession, workspace_id: str) -> None:
        if self._db.backend == "postgresql":
            key = int.from_bytes(
                hashlib.sha256(workspace_id.encode()).digest()[:8], "big", signed=True
            )
            await s.exec(text("SELECT pg_advisory_xact_lock(:k)").bindparams(k=key))  # type: ignore[call-overload]

    async def _apply(
        self, s: AsyncSession, workspace_id: str, alerts: Sequence[AMAlert]
    ) -> IngestResult:
        """Dedupe, correlate and write a batch with bulk statements (no per-alert flushes)."""
        result = IngestResult(alerts=len(alerts))
        now = utcnow()
        prints = [a.fingerprint or _fingerprint(a.labels) for a in alerts]
        existing = {
            str(fp): _Known(id=int(aid or 0), status=str(status), incident_id=inc)
            for aid, fp, status, inc in (
                await s.exec(
                    select(Alert.id, Alert.fingerprint, Alert.status, Alert.incident_id)
                    .where(Alert.workspace_id == workspace_id)
                    .where(col(Alert.fingerprint).in_(set(prints)))
                )
            ).all()
        }
        keyed = [correlation_key(a.labels, self._config.correlation) for a in alerts]
        open_incidents: dict[str, Incident] = {}
        by_id: dict[int, Incident] = {}
        wanted_ids = {r.incident_id for r in existing.values() if r.incident_id is not None}
        if keyed or wanted_ids:
            stmt = (
                select(Incident)
                .where(Incident.workspace_id == workspace_id)
                .where(Incident.status != IncidentStatus.RESOLVED)
                .where(
                    col(Incident.correlation_key).in_({k for k, _ in keyed})
                    | col(Incident.id).in_(wanted_ids or {-1})
                )
            )
            for inc in (await s.exec(stmt)).all():
                assert inc.id is not None
                by_id[inc.id] = inc
                if inc.correlation_key is not None:
                    open_incidents[inc.correlation_key] = inc
        # fold the batch per fingerprint: last state wins, every arrival counts
        state: dict[str, dict[str, Any]] = {}
        events: list[dict[str, Any]] = []
        touched: dict[int, Incident] = {}
        for alert, fp, (key, window) in zip(alerts, prints, keyed, strict=True):
            status = AlertStatus(alert.status)
            summary = alert.annotations.get("summary") or alert.annotations.get("description", "")
            known = existing.get(fp)
            current = state.get(fp)
            previous = (
                current["status"]
                if current is not None
                else (AlertStatus(known.status) if known is not None else None)
            )
            incident_id = (
                current["incident_id"]
                if current is not None
                else (known.incident_id if known is not None else None)
            )
            incident = by_id.get(incident_id) if incident_id is not None else None
            if incident is None and status == AlertStatus.FIRING:
                incident = self._correlate(
                    workspace_id, key, window, alert, summary, open_incidents, now
                )
                if incident.id is None:
                    s.add(incident)
                    await s.flush()
                    assert incident.id is not None
                    result.incidents_opened.append(incident.id)
                    events.append(
                        _event(
                            workspace_id,
                            incident.id,
                            "transition",
                            f"incident opened: {incident.title}",
                            now,
                            {"to": IncidentStatus.TRIGGERED.value},
                        )
                    )
                assert incident.id is not None
                by_id[incident.id] = incident
            if incident is not None and incident.id is not None:
                touched[incident.id] = incident
                if more_severe(alert.labels.get("severity", "warning"), incident.severity):
                    incident.severity = alert.labels.get("severity", "warning")
                if previous != status:
                    verb = "resolved" if status == AlertStatus.RESOLVED else "firing"
                    events.append(
                        _event(
                            workspace_id,
                            incident.id,
                            "alert",
                            f"{alert.labels.get('alertname', 'alert')} {verb}"
                            + (f": {summary}" if summary else ""),
                            now,
                            {"fingerprint": fp, "status": status.value},
                        )
                    )
            row = state.setdefault(fp, {"arrivals": 0, "first": alert, "fingerprint": fp})
            row["arrivals"] += 1
            row.update(
                status=status,
                labels=alert.labels,
                annotations=alert.annotations,
                ends_at=alert.endsAt if status == AlertStatus.RESOLVED else None,
                incident_id=incident.id if incident is not None else incident_id,
            )
        inserts, updates = [], []
        for fp, row in state.items():
            known = existing.get(fp)
            values = {
                "status": row["status"].value,
                "labels": row["labels"],
                "annotations": row["annotations"],
                "ends_at": row["ends_at"],
                "last_seen_at": now,
                "incident_id": row["incident_id"],
            }
            if known is None:
                first: AMAlert = row["first"]
                inserts.append(
                    {
                        **values,
                        "workspace_id": workspace_id,
                        "fingerprint": fp,
                        "name": first.labels.get("alertname", "unknown"),
                        "severity": first.labels.get("severity", "warning"),
                        "service": first.labels.get("service"),
                        "source": "alertmanager",
                        "starts_at": first.startsAt,
                        "occurrences": row["arrivals"],
                    }
                )
            else:
                updates.append({**values, "id": known.id, "arrivals": row["arrivals"]})
        result.new_alerts = len(inserts)
        if inserts:
            await s.exec(insert(Alert), params=inserts)
        if updates:
            bulk = (
                update(Alert)
                .where(col(Alert.id) == bindparam("b_id"))
                .values(
                    status=bindparam("b_status"),
                    labels=bindparam("b_labels", type_=JSON),
                    annotations=bindparam("b_annotations", type_=JSON),
                    ends_at=bindparam("b_ends_at", type_=UTCDateTime),
                    last_seen_at=bindparam("b_seen", type_=UTCDateTime),
                    incident_id=bindparam("b_incident"),
                    occurrences=col(Alert.occurrences) + bindparam("b_arrivals"),
                )
            )
            conn = await s.connection()
            await conn.execute(
                bulk,
                [
                    {
                        "b_id": u["id"],
                        "b_status": u["status"],
                        "b_labels": u["labels"],
                        "b_annotations": u["annotations"],
                        "b_ends_at": u["ends_at"],
                        "b_seen": u["last_seen_at"],
                        "b_incident": u["incident_id"],
                        "b_arrivals": u["arrivals"],
                    }
                    for u in updates
                ],
            )
        for incident in touched.values():
            incident.updated_at = now
            s.add(incident)
        if events:
            await s.exec(insert(TimelineEvent), params=events)
        await s.flush()
        await self._auto_resolve(s, workspace_id, list(touched.values()), now, result)
        result.incidents_touched = sorted(touched)
        return result

    def _correlate(
        self,
        workspace_id: str,
        key: str,
        window: float,
        alert: AMAlert,
        summary: str,
        open_incidents: dict[str, Incident],
        now: datetime,
    ) -> Incident:
        """The open incident this alert joins, or a new (unsaved) one."""
        incident = open_incidents.get(key)
        if incident is not None and incident.updated_at >= now - timedelta(seconds=window):
            return incident
        incident = Incident(
            workspace_id=workspace_id,
            title=incident_title(alert.labels, summary),
            severity=alert.labels.get("severity", "warning"),
            service=alert.labels.get("service"),
            correlation_key=key,
            labels={k: v for k, v in alert.labels.items() if k != "alertname"},
            started_at=min(alert.startsAt, now),
            created_at=now,
            updated_at=now,
        )
        open_incidents[key] = incident
        return incident

    async def _auto_resolve(
        self,
        s: AsyncSession,
        workspace_id: str,
        incidents: Sequence[Incident],
        now: datetime,
        result: IngestResult,
    ) -> None:
        """Resolve the touched incidents whose alerts have all resolved."""
        ids = [i.id for i in incidents if i.id is not None and i.status != IncidentStatus.RESOLVED]
        if not ids:
            return
        firing = set(
            (
                await s.exec(
                    select(Alert.incident_id)
                    .where(Alert.workspace_id == workspace_id)
                    .where(col(Alert.incident_id).in_(ids))
                    .where(Alert.status == AlertStatus.FIRING)
                    .distinct()
                )
            ).all()
        )
        for incident in incidents:
            if incident.id not in ids or incident.id in firing:
                continue
            previous = str(incident.status)
            moved = await s.exec(
                update(Incident)
                .where(col(Incident.id) == incident.id)
                .where(col(Incident.status) == previous)
                .values(status=IncidentStatus.RESOLVED.value, resolved_at=now, updated_at=now)
            )
            if getattr(moved, "rowcount", 0) != 1:
                continue
            incident.status = IncidentStatus.RESOLVED
            result.incidents_resolved.append(incident.id)
            s.add(
                TimelineEvent(
                    workspace_id=workspace_id,
                    incident_id=incident.id,
                    kind="transition",
                    actor="alertmanager",
                    text=f"{previous} → resolved: every alert resolved",
                    data={"from": previous, "to": IncidentStatus.RESOLVED.value},
                    at=now,
                )
            )


@dataclass(frozen=True, slots=True)
class _Known:
    id: int
    status: str
    incident_id: int | None


def _event(
    workspace_id: str, incident_id: int, kind: str, text: str, at: datetime, data: dict[str, Any]
) -> dict[str, Any]:
    return {
        "workspace_id": workspace_id,
        "incident_id": incident_id,
        "kind": kind,
        "actor": "alertmanager",
        "text": text,
        "data": data,
        "at": at,
    }


def more_severe(new: str, current: str) -> bool:
    """Whether ``new`` is more severe than ``current``."""
    return worst_severity([new, current]) == new and new != current
