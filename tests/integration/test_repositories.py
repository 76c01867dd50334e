"""Repository behaviour, run on SQLite and on a real PostgreSQL (see conftest.database)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from memory.models import (
    AlertStatus,
    Hypothesis,
    IncidentStatus,
    JobRunStatus,
    ProposalStatus,
    RemediationProposal,
)
from memory.repositories import Repositories


async def test_workspace_ensure_is_idempotent_under_concurrency(
    repos: Repositories, workspace: str
):
    new_ws = workspace + "x"
    results = await asyncio.gather(
        *(repos.workspaces.ensure(workspace_id=new_ws) for _ in range(10))
    )
    assert {w.id for w in results} == {new_ws}
    assert (await repos.workspaces.get(workspace_id=new_ws)) is not None


async def test_conversation_history_is_ordered_limited_and_isolated(
    repos: Repositories, workspace: str
):
    other = workspace + "o"
    await repos.workspaces.ensure(workspace_id=other)
    for i in range(5):
        await repos.conversations.add_turn(
            workspace_id=workspace, conversation_key="c1", role="user", text=f"m{i}"
        )
    await repos.conversations.add_turn(
        workspace_id=other, conversation_key="c1", role="user", text="other team"
    )
    await repos.conversations.add_turn(
        workspace_id=workspace, conversation_key="c2", role="user", text="other thread"
    )
    history = await repos.conversations.history(
        workspace_id=workspace, conversation_key="c1", limit=3
    )
    assert [t.text for t in history] == ["m2", "m3", "m4"]
    assert await repos.conversations.count(workspace_id=workspace, conversation_key="c1") == 5
    assert [
        t.text for t in await repos.conversations.history(workspace_id=other, conversation_key="c1")
    ] == ["other team"]


async def test_reply_json_round_trips(repos: Repositories, workspace: str):
    reply = {"kind": "answer", "hypotheses": [{"title": "db pool", "confidence": 0.8}]}
    await repos.conversations.add_turn(
        workspace_id=workspace, conversation_key="k", role="assistant", text="x", reply=reply
    )
    (turn,) = await repos.conversations.history(workspace_id=workspace, conversation_key="k")
    assert turn.reply == reply
    assert turn.created_at.tzinfo is not None


async def test_timestamps_come_back_utc_aware(repos: Repositories, workspace: str):
    started = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    inc = await repos.incidents.create(workspace_id=workspace, title="t", started_at=started)
    assert inc.id is not None
    got = await repos.incidents.get(workspace_id=workspace, incident_id=inc.id)
    assert got is not None
    assert got.started_at == started
    assert got.started_at.utcoffset() == timedelta(0)


async def test_naive_datetime_is_refused(repos: Repositories, workspace: str):
    with pytest.raises(Exception, match="naive datetime"):
        await repos.incidents.create(
            workspace_id=workspace, title="t", started_at=datetime(2026, 1, 1, 0, 0)
        )


async def test_incident_transition_is_compare_and_set(repos: Repositories, workspace: str):
    inc = await repos.incidents.create(
        workspace_id=workspace, title="checkout down", service="checkout"
    )
    assert inc.id is not None
    wins = await asyncio.gather(
        *(
            repos.incidents.transition(
                workspace_id=workspace,
                incident_id=inc.id,
                expected=IncidentStatus.TRIGGERED,
                new=IncidentStatus.ACKNOWLEDGED,
            )
            for _ in range(20)
        )
    )
    assert sum(wins) == 1
    got = await repos.incidents.get(workspace_id=workspace, incident_id=inc.id)
    assert got is not None
    assert got.status == IncidentStatus.ACKNOWLEDGED
    assert got.acknowledged_at is not None
    # another workspace cannot move it
    assert not await repos.incidents.transition(
        workspace_id=workspace + "z",
        incident_id=inc.id,
        expected=IncidentStatus.ACKNOWLEDGED,
        new=IncidentStatus.RESOLVED,
    )


async def test_open_incidents_leave_out_resolved(repos: Repositories, workspace: str):
    a = await repos.incidents.create(workspace_id=workspace, title="a")
    b = await repos.incidents.create(workspace_id=workspace, title="b")
    assert a.id is not None and b.id is not None
    assert await repos.incidents.transition(
        workspace_id=workspace,
        incident_id=a.id,
        expected=IncidentStatus.TRIGGERED,
        new=IncidentStatus.RESOLVED,
    )
    open_titles = [
        i.title for i in await repos.incidents.list(workspace_id=workspace, open_only=True)
    ]
    assert open_titles == ["b"]
    assert len(await repos.incidents.list(workspace_id=workspace)) == 2


async def test_alert_upsert_dedupes_by_fingerprint(repos: Repositories, workspace: str):
    start = datetime(2026, 3, 1, tzinfo=UTC)
    kwargs: dict[str, Any] = {
        "workspace_id": workspace,
        "fingerprint": "abc",
        "name": "HighErrors",
        "labels": {"service": "x"},
        "starts_at": start,
    }
    first, created1 = await repos.alerts.upsert(status=AlertStatus.FIRING, **kwargs)
    second, created2 = await repos.alerts.upsert(
        status=AlertStatus.RESOLVED,
        ends_at=start + timedelta(minutes=5),
        **kwargs,
    )
    assert (created1, created2) == (True, False)
    assert first.id == second.id
    assert second.status == AlertStatus.RESOLVED
    assert second.occurrences == 2
    alerts = await repos.alerts.list(workspace_id=workspace)
    assert len(alerts) == 1


async def test_alert_upsert_concurrent_inserts_make_one_row(repos: Repositories, workspace: str):
    start = datetime(2026, 3, 1, tzinfo=UTC)
    await asyncio.gather(
        *(
            repos.alerts.upsert(
                workspace_id=workspace,
                fingerprint="race",
                name="A",
                status=AlertStatus.FIRING,
                labels={},
                starts_at=start,
            )
            for _ in range(8)
        )
    )
    (alert,) = await repos.alerts.list(workspace_id=workspace)
    assert alert.occurrences == 8


async def test_timeline_in_time_order(repos: Repositories, workspace: str):
    inc = await repos.incidents.create(workspace_id=workspace, title="t")
    assert inc.id is not None
    t0 = datetime(2026, 5, 1, 10, 0, tzinfo=UTC)
    await repos.timeline.add(
        workspace_id=workspace,
        incident_id=inc.id,
        kind="b",
        text="second",
        at=t0 + timedelta(minutes=1),
    )
    await repos.timeline.add(
        workspace_id=workspace, incident_id=inc.id, kind="a", text="first", at=t0, actor="U1"
    )
    events = await repos.timeline.list(workspace_id=workspace, incident_id=inc.id)
    assert [e.text for e in events] == ["first", "second"]
    assert events[0].actor == "U1"
    assert await repos.timeline.list(workspace_id=workspace + "z", incident_id=inc.id) == []


async def test_feedback_last_vote_counts(repos: Repositories, workspace: str):
    (h,) = await repos.hypotheses.add_many(
        workspace_id=workspace,
        hypotheses=[
            Hypothesis(
                workspace_id=workspace, title="db pool", confidence=0.7, evidence=[{"q": "x"}]
            )
        ],
    )
    assert h.id is not None
    await repos.hypotheses.vote(workspace_id=workspace, hypothesis_id=h.id, user_id="U1", vote=1)
    await repos.hypotheses.vote(workspace_id=workspace, hypothesis_id=h.id, user_id="U2", vote=1)
    await repos.hypotheses.vote(workspace_id=workspace, hypothesis_id=h.id, user_id="U1", vote=-1)
    assert await repos.hypotheses.score(workspace_id=workspace, hypothesis_id=h.id) == 0
    with pytest.raises(LookupError):
        await repos.hypotheses.vote(
            workspace_id=workspace + "z", hypothesis_id=h.id, user_id="U1", vote=1
        )
    with pytest.raises(ValueError):
        await repos.hypotheses.vote(
            workspace_id=workspace, hypothesis_id=h.id, user_id="U1", vote=5
        )


async def test_hypotheses_refuse_foreign_workspace(repos: Repositories, workspace: str):
    with pytest.raises(ValueError):
        await repos.hypotheses.add_many(
            workspace_id=workspace,
            hypotheses=[Hypothesis(workspace_id="other", title="x", confidence=0.1)],
        )


async def test_proposal_compare_and_set_has_one_winner(repos: Repositories, workspace: str):
    proposal = await repos.proposals.create(
        proposal=RemediationProposal(
            workspace_id=workspace,
            action="k8s.scale",
            params={"replicas": 4},
            proposed_by="U1",
            expires_at=datetime.now(UTC) + timedelta(minutes=30),
        )
    )
    results = await asyncio.gather(
        *(
            repos.proposals.compare_and_set(
                workspace_id=workspace,
                proposal_id=proposal.id,
                expected_status=ProposalStatus.PENDING,
                expected_version=0,
                new_status=ProposalStatus.APPROVED,
                approvals=[f"U{i}"],
            )
            for i in range(25)
        )
    )
    assert sum(results) == 1
    got = await repos.proposals.get(workspace_id=workspace, proposal_id=proposal.id)
    assert got is not None
    assert (got.status, got.version, len(got.approvals)) == (ProposalStatus.APPROVED, 1, 1)
    assert [
        p.id
        for p in await repos.proposals.list(workspace_id=workspace, status=ProposalStatus.APPROVED)
    ] == [proposal.id]
    assert await repos.proposals.get(workspace_id=workspace + "z", proposal_id=proposal.id) is None


async def test_audit_since_filters_by_time_and_workspace(repos: Repositories, workspace: str):
    before = datetime.now(UTC) - timedelta(seconds=1)
    await repos.audit.add(
        workspace_id=workspace, actor="U1", kind="approve", accepted=False, reason="self-approval"
    )
    await repos.audit.add(workspace_id=workspace, actor="U2", kind="approve")
    rows = await repos.audit.since(workspace_id=workspace, since=before)
    assert [(r.actor, r.accepted) for r in rows] == [("U1", False), ("U2", True)]
    assert (
        await repos.audit.since(
            workspace_id=workspace, since=datetime.now(UTC) + timedelta(hours=1)
        )
        == []
    )


async def test_job_run_claim_is_unique_per_period(repos: Repositories, workspace: str):
    claims = await asyncio.gather(
        *(
            repos.job_runs.claim(
                workspace_id=workspace, job="digest", period="2026-W48", owner=f"r{i}"
            )
            for i in range(6)
        )
    )
    won = [c for c in claims if c is not None]
    assert len(won) == 1
    assert won[0].id is not None
    done = await repos.job_runs.finish(
        workspace_id=workspace, run_id=won[0].id, status=JobRunStatus.SUCCEEDED
    )
    assert (
        done.status == JobRunStatus.SUCCEEDED
        and done.duration_ms is not None
        and done.duration_ms >= 0
    )
    assert (
        await repos.job_runs.claim(workspace_id=workspace, job="digest", period="2026-W49")
        is not None
    )
    assert len(await repos.job_runs.list(workspace_id=workspace, job="digest")) == 2


async def test_processed_event_first_time_only(repos: Repositories, workspace: str):
    results = await asyncio.gather(
        *(
            repos.processed_events.first_time(workspace_id=workspace, event_id="Ev123")
            for _ in range(10)
        )
    )
    assert sum(results) == 1
    assert await repos.processed_events.first_time(workspace_id=workspace, event_id="Ev124")


async def test_runbook_catalogue_upsert_and_delete(repos: Repositories, workspace: str):
    await repos.runbooks.upsert(
        workspace_id=workspace, path="a.md", title="A", content_hash="h1", sections=2
    )
    await repos.runbooks.upsert(
        workspace_id=workspace, path="a.md", title="A2", content_hash="h2", sections=3
    )
    (doc,) = await repos.runbooks.list(workspace_id=workspace)
    assert (doc.title, doc.content_hash, doc.sections) == ("A2", "h2", 3)
    assert await repos.runbooks.delete(workspace_id=workspace, path="a.md")
    assert not await repos.runbooks.delete(workspace_id=workspace, path="a.md")


async def test_webhook_delivery_is_stored_then_marked(repos: Repositories, workspace: str):
    row = await repos.webhooks.store(workspace_id=workspace, source="alertmanager", body='{"x":1}')
    assert row.id is not None and row.processed_at is None
    await repos.webhooks.mark_processed(
        workspace_id=workspace, delivery_id=row.id, error="bad payload"
    )
