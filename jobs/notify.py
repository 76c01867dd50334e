"""Incident threads: one Slack thread per incident, opened late enough and updated sparingly.

:class:`IncidentFeed` is polled by the serving process. An incident's thread is
opened only once the incident has existed for ``notify_delay_s`` and is still open,
so an alert that flaps and resolves at once never pages a channel (PagerDuty's
auto-pause); later changes update the same message in place at most once per
``update_interval_s``. Each step is claimed with a compare-and-set on
``incident.notified_at``, so several replicas never post twice. When a thread opens,
the investigation runs and its answer is posted into the thread.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Protocol

from sqlalchemy import update
from sqlmodel import col, select

from agents.reply import Reply
from jobs.config import IncidentConfig
from jobs.incidents import IncidentService
from memory.db import Database
from memory.models import Alert, Incident, IncidentStatus
from memory.repositories import Repositories
from memory.types import utcnow

logger = logging.getLogger(__name__)

Investigate = Callable[[str, Incident, str], Awaitable[Reply]]
"""(workspace_id, incident, conversation_key) → the investigation's reply."""


class IncidentNotifier(Protocol):
    """Where incident threads live (Slack in production, a recorder in tests)."""

    async def open_thread(
        self, *, workspace_id: str, channel: str, incident: Incident, alerts: list[Alert]
    ) -> str:
        """Post the incident message; return its ts (the thread id)."""
        ...

    async def update_thread(
        self,
        *,
        workspace_id: str,
        channel: str,
        thread_ts: str,
        incident: Incident,
        alerts: list[Alert],
    ) -> None:
        """Update the incident message in place."""
        ...

    async def post_reply(
        self, *, workspace_id: str, channel: str, thread_ts: str, reply: Reply
    ) -> None:
        """Post an answer into the thread."""
        ...


def route_channel(incident: Incident, config: IncidentConfig, default: str | None) -> str | None:
    """The channel of the first route whose labels all match, else the default."""
    labels = dict(incident.labels)
    if incident.service:
        labels.setdefault("service", incident.service)
    for route in config.routes:
        if all(labels.get(k) == v for k, v in route.match.items()):
            return route.channel
    return default


class IncidentFeed:
    """Opens and updates incident threads; starts the investigation in new ones."""

    def __init__(
        self,
        *,
        db: Database,
        notifier: IncidentNotifier,
        config: IncidentConfig,
        default_channel: str | None,
        investigate: Investigate | None = None,
    ) -> None:
        self._db = db
        self._repos = Repositories.build(db)
        self._notifier = notifier
        self._config = config
        self._default = default_channel
        self._investigate = investigate
        self.calls = 0  # Slack messages sent (posts + updates), for the benchmark

    async def flush(self, *, now: datetime | None = None) -> int:
        """Open due threads and push due updates; returns the messages sent."""
        now = now or utcnow()
        sent = 0
        for incident in await self._due_to_open(now):
            sent += await self._open(incident, now)
        for incident in await self._due_to_update(now):
            sent += await self._update(incident, now)
        self.calls += sent
        return sent

    async def run(self, stop: asyncio.Event, *, interval_s: float = 2.0) -> None:
        """Flush every ``interval_s`` until ``stop`` is set."""
        while not stop.is_set():
            try:
                await self.flush()
            except Exception:  # boundary: the feed must outlive one bad flush
                logger.exception("incident feed flush failed")
            try:
                await asyncio.wait_for(stop.wait(), timeout=interval_s)
            except TimeoutError:
                continue

    async def _due_to_open(self, now: datetime) -> list[Incident]:
        cutoff = now - timedelta(seconds=self._config.notify_delay_s)
        async with self._db.session() as s:
            stmt = (
                select(Incident)
                .where(col(Incident.notified_at).is_(None))
                .where(Incident.status != IncidentStatus.RESOLVED)
                .where(col(Incident.created_at) <= cutoff)
                .order_by(col(Incident.id))
                .limit(200)
            )
            return list((await s.exec(stmt)).all())

    async def _due_to_update(self, now: datetime) -> list[Incident]:
        cutoff = now - timedelta(seconds=self._config.update_interval_s)
        async with self._db.session() as s:
            stmt = (
                select(Incident)
                .where(col(Incident.thread_ts).is_not(None))
                .where(col(Incident.notified_at) <= cutoff)
                .where(col(Incident.updated_at) > col(Incident.notified_at))
                .order_by(col(Incident.id))
                .limit(200)
            )
            return list((await s.exec(stmt)).all())

    async def _claim(self, incident: Incident, now: datetime, *, first: bool) -> bool:
        """Compare-and-set ``notified_at`` so exactly one replica sends this message."""
        stmt = update(Incident).where(col(Incident.id) == incident.id)
        if first:
            stmt = stmt.where(col(Incident.notified_at).is_(None))
        else:
            stmt = stmt.where(col(Incident.notified_at) == incident.notified_at)
        async with self._db.session() as s:
            result = await s.exec(stmt.values(notified_at=now))
            await s.commit()
        return bool(getattr(result, "rowcount", 0) == 1)

    async def _alerts(self, incident: Incident) -> list[Alert]:
        assert incident.id is not None
        return await self._repos.alerts.list(
            workspace_id=incident.workspace_id, incident_id=incident.id
        )

    async def _open(self, incident: Incident, now: datetime) -> int:
        channel = route_channel(incident, self._config, self._default)
        if channel is None or incident.id is None:
            logger.warning("incident %s has no channel to post to", incident.id)
            await self._claim(incident, now, first=True)
            return 0
        if not await self._claim(incident, now, first=True):
            return 0
        alerts = await self._alerts(incident)
        ts = await self._notifier.open_thread(
            workspace_id=incident.workspace_id, channel=channel, incident=incident, alerts=alerts
        )
        await self._repos.incidents.set_thread(
            workspace_id=incident.workspace_id,
            incident_id=incident.id,
            channel_id=channel,
            thread_ts=ts,
        )
        # set_thread bumps updated_at: keep notified_at ahead so this is not an "update"
        async with self._db.session() as s:
            await s.exec(
                update(Incident).where(col(Incident.id) == incident.id).values(notified_at=utcnow())
            )
            await s.commit()
        service = IncidentService(self._repos)
        await service.record(
            workspace_id=incident.workspace_id,
            incident_id=incident.id,
            kind="message",
            text=f"incident thread opened in {channel}",
        )
        if self._config.auto_investigate and self._investigate is not None:
            key = f"slack:{channel}:{ts}"
            try:
                reply = await self._investigate(incident.workspace_id, incident, key)
            except Exception as exc:  # boundary: the thread is open even if this fails
                logger.exception("auto-investigation of incident %s failed", incident.id)
                reply = Reply(kind="error", text=f"The automatic investigation failed: {exc}")
            await self._notifier.post_reply(
                workspace_id=incident.workspace_id, channel=channel, thread_ts=ts, reply=reply
            )
            top = reply.hypotheses[0] if reply.hypotheses else None
            await service.record(
                workspace_id=incident.workspace_id,
                incident_id=incident.id,
                kind="investigation",
                text=(
                    f"investigation: {top.title} ({top.confidence:.2f})"
                    if top
                    else reply.text[:200]
                ),
            )
            return 2
        return 1

    async def _update(self, incident: Incident, now: datetime) -> int:
        if incident.thread_ts is None or incident.channel_id is None:
            return 0
        if not await self._claim(incident, now, first=False):
            return 0
        await self._notifier.update_thread(
            workspace_id=incident.workspace_id,
            channel=incident.channel_id,
            thread_ts=incident.thread_ts,
            incident=incident,
            alerts=await self._alerts(incident),
        )
        return 1
