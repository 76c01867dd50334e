"""Incident threads: delayed opening (no flapping spam), paced updates, one post across replicas."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta

import pytest

from agents.reply import Reply
from jobs.config import IncidentConfig, RouteRule
from jobs.ingest import AlertIngestor
from jobs.notify import IncidentFeed, route_channel
from memory.db import Database
from memory.models import Alert, Incident
from memory.repositories import Repositories


class RecordingNotifier:
    """Records what would be sent to Slack (the Slack implementation has its own tests)."""

    def __init__(self, workspace: str) -> None:
        # the session database is shared: keep only this test's workspace
        self.workspace = workspace
        self.calls: list[tuple[str, str, int | None]] = []

    async def open_thread(
        self, *, workspace_id: str, channel: str, incident: Incident, alerts: list[Alert]
    ) -> str:
        if workspace_id == self.workspace:
            self.calls.append(("open", channel, incident.id))
        await asyncio.sleep(0)
        return f"1700000000.{len(self.calls):06d}"

    async def update_thread(
        self,
        *,
        workspace_id: str,
        channel: str,
        thread_ts: str,
        incident: Incident,
        alerts: list[Alert],
    ) -> None:
        if workspace_id == self.workspace:
            self.calls.append(("update", channel, incident.id))

    async def post_reply(
        self, *, workspace_id: str, channel: str, thread_ts: str, reply: Reply
    ) -> None:
        if workspace_id == self.workspace:
            self.calls.append(("reply", channel, None))


def body(*alerts: tuple[str, str, str]) -> bytes:
    return json.dumps(
        {
            "version": "4",
            "alerts": [
                {
                    "status": status,
                    "labels": {"alertname": name, "service": svc},
                    "startsAt": "2026-11-27T10:00:00Z",
                }
                for name, svc, status in alerts
            ],
        }
    ).encode()


async def investigate(workspace_id: str, incident: Incident, key: str) -> Reply:
    return Reply(text=f"investigated {incident.service} in {key}")


@pytest.fixture
def config() -> IncidentConfig:
    return IncidentConfig(
        notify_delay_s=60,
        update_interval_s=30,
        routes=[RouteRule(match={"service": "pay"}, channel="CPAY")],
    )


async def test_threads_open_late_update_sparingly_and_skip_flaps(
    database: Database, workspace: str, config: IncidentConfig
):
    ingest = AlertIngestor(database, config)
    notifier = RecordingNotifier(workspace)
    feed = IncidentFeed(
        db=database,
        notifier=notifier,
        config=config,
        default_channel="COPS",
        investigate=investigate,
    )
    await ingest.ingest_alertmanager(
        workspace_id=workspace, body=body(("A", "pay", "firing"), ("B", "shop", "firing"))
    )
    await ingest.ingest_alertmanager(workspace_id=workspace, body=body(("F", "flappy", "firing")))
    await ingest.ingest_alertmanager(workspace_id=workspace, body=body(("F", "flappy", "resolved")))
    now = datetime.now(UTC)
    await feed.flush(now=now)
    assert notifier.calls == []  # nothing is a minute old yet
    await feed.flush(now=now + timedelta(seconds=61))
    opened = sorted(c[1] for c in notifier.calls if c[0] == "open")
    assert opened == ["COPS", "CPAY"]  # routed by label; the flapping incident never posted
    assert [c[0] for c in notifier.calls].count("reply") == 2
    repos = Repositories.build(database)
    pay = next(i for i in await repos.incidents.list(workspace_id=workspace) if i.service == "pay")
    assert pay.thread_ts is not None and pay.channel_id == "CPAY"
    kinds = [
        e.kind for e in await repos.timeline.list(workspace_id=workspace, incident_id=pay.id or 0)
    ]
    assert "investigation" in kinds and "message" in kinds
    # a burst of changes yields at most one in-place update per interval
    for _ in range(5):
        await ingest.ingest_alertmanager(workspace_id=workspace, body=body(("C", "pay", "firing")))
    before = len(notifier.calls)
    await feed.flush(now=datetime.now(UTC) + timedelta(seconds=5))
    assert len(notifier.calls) == before
    await feed.flush(now=datetime.now(UTC) + timedelta(seconds=95))
    assert notifier.calls[before:] == [("update", "CPAY", pay.id)]
    await feed.flush(now=datetime.now(UTC) + timedelta(seconds=200))
    assert len(notifier.calls) == before + 1  # nothing new since


async def test_two_replicas_post_once(database: Database, workspace: str, config: IncidentConfig):
    ingest = AlertIngestor(database, config)
    await ingest.ingest_alertmanager(workspace_id=workspace, body=body(("X", "solo", "firing")))
    a, b = RecordingNotifier(workspace), RecordingNotifier(workspace)
    feeds = [
        IncidentFeed(db=database, notifier=n, config=config, default_channel="COPS") for n in (a, b)
    ]
    later = datetime.now(UTC) + timedelta(minutes=2)
    await asyncio.gather(*(f.flush(now=later) for f in feeds))
    mine = [c for c in a.calls + b.calls if c[0] == "open"]
    repos = Repositories.build(database)
    solo = [i for i in await repos.incidents.list(workspace_id=workspace) if i.service == "solo"]
    assert len(solo) == 1 and [c[2] for c in mine] == [solo[0].id]


def test_route_channel_falls_back_to_default(config: IncidentConfig):
    inc = Incident(workspace_id="w", title="t", service="other", labels={})
    assert route_channel(inc, config, "COPS") == "COPS"
    assert (
        route_channel(
            Incident(workspace_id="w", title="t", labels={"service": "pay"}), config, None
        )
        == "CPAY"
    )
