"""The ``retention`` job and its deletes, on SQLite and on a real PostgreSQL.

Keys are written by the code that really writes them (Slack dedupe, the webhook replay
check, PagerDuty ingest) or inserted with chosen ``received_at`` values. Processed events
are global, so the tests that prune every workspace run at times long before any other
test's rows, each test earlier than the one before (:func:`_era`): no test deletes or
counts rows that another test wrote.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import update
from sqlmodel import col, select

from bot.slack.proposals import MESSAGE_CLAIM
from jobs.config import IncidentConfig, JobsConfig
from jobs.ingest import AlertIngestor, WebhookRejected
from jobs.pagerduty_ingest import PagerDutyIngestor
from jobs.retention import (
    LIVE_PROPOSAL_STATUSES,
    PAGERDUTY_EVENT_PREFIX,
    PROPOSAL_MESSAGE_PREFIX,
    retention_job,
)
from jobs.scheduler import RETENTION_JOB, CopilotScheduler, default_jobs, run_once
from memory.db import Database
from memory.models import JobRun, ProcessedEvent, ProposalStatus, RemediationProposal
from memory.repositories import Repositories

ROOT = Path(__file__).resolve().parents[2]
_ERAS = itertools.count()


def _era() -> datetime:
    """A "now" before every row other tests write, and before the previous call's."""
    return datetime(2000, 1, 1, 12, tzinfo=UTC) - timedelta(days=400 * next(_ERAS))


async def _noop(_ctx: Any) -> dict[str, Any]:
    return {}


async def _add_keys(db: Database, workspace: str, keys: dict[str, datetime]) -> None:
    async with db.session() as s:
        for key, at in keys.items():
            s.add(ProcessedEvent(workspace_id=workspace, event_id=key, received_at=at))
        await s.commit()


async def _keys(db: Database, workspace: str) -> set[str]:
    async with db.session() as s:
        stmt = select(ProcessedEvent.event_id).where(ProcessedEvent.workspace_id == workspace)
        return set((await s.exec(stmt)).all())


async def _age_keys(db: Database, workspace: str, at: datetime) -> None:
    async with db.session() as s:
        stmt = (
            update(ProcessedEvent)
            .where(col(ProcessedEvent.workspace_id) == workspace)
            .values(received_at=at)
        )
        await s.exec(stmt)
        await s.commit()


async def _add_proposal(db: Database, workspace: str, status: ProposalStatus) -> str:
    proposal = RemediationProposal(
        workspace_id=workspace,
        action="restart_deployment",
        proposed_by="test",
        status=status,
        expires_at=datetime(2001, 1, 1, tzinfo=UTC),
    )
    async with db.session() as s:
        s.add(proposal)
        await s.commit()
    return proposal.id


def test_key_prefixes_match_the_code_that_writes_them():
    assert MESSAGE_CLAIM.format(id="p1") == PROPOSAL_MESSAGE_PREFIX + "p1"
    assert {ProposalStatus.PENDING, ProposalStatus.APPROVED} <= LIVE_PROPOSAL_STATUSES


async def test_prune_keeps_young_protected_and_other_workspaces_keys(
    database: Database, repos: Repositories, workspace: str
):
    other = workspace + "o"
    await repos.workspaces.ensure(workspace_id=other)
    old, cutoff, young = (
        datetime(2001, 1, 1, tzinfo=UTC),
        datetime(2001, 2, 1, tzinfo=UTC),
        datetime(2001, 3, 1, tzinfo=UTC),
    )
    await _add_keys(
        database,
        workspace,
        {
            "Ev_old": old,
            "alertmanager:old": old,
            "pd:old": old,
            "proposal-message:gone": old,
            "Ev_young": young,
            "alertmanager:young": young,
            "Ev_at_cutoff": cutoff,  # not older than the cutoff: kept
        },
    )
    await _add_keys(database, other, {"Ev_old": old})

    deleted = await repos.processed_events.prune(
        before=cutoff, keep_prefixes=("pd:", "proposal-message:"), workspace_id=workspace
    )

    assert deleted == 2
    assert await _keys(database, workspace) == {
        "pd:old",
        "proposal-message:gone",
        "Ev_young",
        "alertmanager:young",
        "Ev_at_cutoff",
    }
    assert await _keys(database, other) == {"Ev_old"}


async def test_proposal_claims_live_as_long_as_their_proposal(
    database: Database, repos: Repositories, workspace: str
):
    old, cutoff, young = (
        datetime(2001, 1, 1, tzinfo=UTC),
        datetime(2001, 2, 1, tzinfo=UTC),
        datetime(2001, 3, 1, tzinfo=UTC),
    )
    ids = {status: await _add_proposal(database, workspace, status) for status in ProposalStatus}
    young_rejected = await _add_proposal(database, workspace, ProposalStatus.REJECTED)
    claim = MESSAGE_CLAIM.format
    keys = {claim(id=pid): old for pid in ids.values()}
    keys[claim(id="no-such-proposal")] = old
    keys[claim(id=young_rejected)] = young
    keys["Ev_old"] = old  # not a claim: left to the age-only rule
    await _add_keys(database, workspace, keys)

    deleted = await repos.processed_events.prune_proposal_claims(
        prefix=PROPOSAL_MESSAGE_PREFIX,
        before=cutoff,
        live_statuses=LIVE_PROPOSAL_STATUSES,
        workspace_id=workspace,
    )

    live = {claim(id=ids[s]) for s in LIVE_PROPOSAL_STATUSES}
    assert await _keys(database, workspace) == live | {claim(id=young_rejected), "Ev_old"}
    assert deleted == len(ProposalStatus) - len(LIVE_PROPOSAL_STATUSES) + 1


@pytest.mark.parametrize("rows", [100, 123])
async def test_prune_deletes_more_rows_than_one_batch(
    database: Database, repos: Repositories, workspace: str, rows: int
):
    old = datetime(2001, 1, 1, tzinfo=UTC)
    await _add_keys(database, workspace, {f"Ev{i:04d}": old for i in range(rows)})
    await _add_keys(database, workspace, {"pd:kept": old})

    deleted = await repos.processed_events.prune(
        before=old + timedelta(days=1),
        keep_prefixes=("pd:",),
        workspace_id=workspace,
        batch_size=50,
    )

    assert deleted == rows  # two full batches, then a short (or empty) one
    assert await _keys(database, workspace) == {"pd:kept"}


async def test_job_runs_pruned_except_each_jobs_newest(
    database: Database, repos: Repositories, workspace: str
):
    old, cutoff, young = (
        datetime(2001, 1, 1, tzinfo=UTC),
        datetime(2001, 4, 1, tzinfo=UTC),
        datetime(2001, 6, 1, tzinfo=UTC),
    )
    plan = [("a", "p1", old), ("a", "p2", old), ("a", "p3", old), ("a", "p4", young)]
    plan += [("b", "p1", old), ("b", "p2", old)]
    async with database.session() as s:
        for job, period, at in plan:
            s.add(JobRun(workspace_id=workspace, job=job, period=period, started_at=at))
            await s.flush()  # ids in plan order: the newest run of a job is its last here
        await s.commit()
    other = workspace + "o"
    await repos.workspaces.ensure(workspace_id=other)
    await repos.job_runs.claim(workspace_id=other, job="a", period="p0")
    await repos.job_runs.claim(workspace_id=other, job="a", period="p1")

    deleted = await repos.job_runs.prune(workspace_id=workspace, before=cutoff, batch_size=2)

    assert deleted == 4
    left = await repos.job_runs.list(workspace_id=workspace)
    assert sorted((r.job, r.period) for r in left) == [("a", "p4"), ("b", "p2")]
    # catch-up still sees that both jobs ran here before
    for job in ("a", "b"):
        assert await repos.job_runs.list(workspace_id=workspace, job=job, limit=1)
    assert len(await repos.job_runs.list(workspace_id=other)) == 2


async def test_retention_job_deletes_what_real_writers_wrote_except_protected_keys(
    database: Database, repos: Repositories, workspace: str
):
    now = _era()
    config = JobsConfig(processed_event_retention_days=7)
    # written the way production writes them
    assert await repos.processed_events.first_time(workspace_id=workspace, event_id="Ev1")
    alerts = AlertIngestor(database, IncidentConfig())
    await alerts.claim_delivery(workspace_id=workspace, body=b'{"a": 1}', source="alertmanager")
    pd_body = json.dumps(
        {
            "event": {
                "id": f"01PD{workspace}",
                "event_type": "incident.annotated",
                "occurred_at": "2026-11-27T10:00:00Z",
                "data": {"id": f"Q{workspace}", "title": "not ours"},
            }
        }
    ).encode()
    pagerduty = PagerDutyIngestor(database)
    await pagerduty.ingest(workspace_id=workspace, body=pd_body)
    pending = await _add_proposal(database, workspace, ProposalStatus.PENDING)
    done = await _add_proposal(database, workspace, ProposalStatus.SUCCEEDED)
    await repos.processed_events.first_time(
        workspace_id=workspace, event_id=MESSAGE_CLAIM.format(id=pending)
    )
    await repos.processed_events.first_time(
        workspace_id=workspace, event_id=MESSAGE_CLAIM.format(id=done)
    )
    written = await _keys(database, workspace)
    assert len(written) == 5
    await _age_keys(database, workspace, now - timedelta(days=8))
    await _add_keys(database, workspace, {"Ev_young": now - timedelta(days=6)})

    spec = default_jobs(
        config=config,
        forecast=_noop,
        anomaly_scan=_noop,
        digest=_noop,
        retention=retention_job(config=config, replay_window_s=300),
    )[-1]
    assert spec.name == RETENTION_JOB
    outcome = await run_once(repos=repos, workspace_id=workspace, spec=spec, now=now, owner="t")

    assert outcome.status == "succeeded", outcome.error
    assert outcome.result == {"processedevent_deleted": 3, "jobrun_deleted": 0}
    assert await _keys(database, workspace) == {
        f"{PAGERDUTY_EVENT_PREFIX}01PD{workspace}",
        MESSAGE_CLAIM.format(id=pending),
        "Ev_young",
    }
    # pruned keys are first-time again; the PagerDuty event is still refused as a replay
    assert await repos.processed_events.first_time(workspace_id=workspace, event_id="Ev1")
    with pytest.raises(WebhookRejected, match="replayed PagerDuty event"):
        await pagerduty.ingest(workspace_id=workspace, body=pd_body)


async def test_replay_keys_outlive_a_replay_window_longer_than_the_retention(
    database: Database, repos: Repositories, workspace: str
):
    now = _era()
    config = JobsConfig(processed_event_retention_days=1)
    await _add_keys(
        database,
        workspace,
        {"alertmanager:in-window": now - timedelta(days=2), "Ev_old": now - timedelta(days=4)},
    )
    job = retention_job(config=config, replay_window_s=3 * 86400)
    spec = default_jobs(
        config=config, forecast=_noop, anomaly_scan=_noop, digest=_noop, retention=job
    )[-1]

    outcome = await run_once(repos=repos, workspace_id=workspace, spec=spec, now=now, owner="t")

    assert outcome.result["processedevent_deleted"] == 1
    assert await _keys(database, workspace) == {"alertmanager:in-window"}


async def test_retention_runs_once_per_period_through_the_scheduler(
    database: Database, repos: Repositories, workspace: str
):
    now = _era()
    config = JobsConfig(retention_cron="17 3 * * *", job_run_retention_days=90)
    await _add_keys(database, workspace, {"Ev_old": now - timedelta(days=30)})
    async with database.session() as s:
        s.add(JobRun(workspace_id=workspace, job=RETENTION_JOB, period="old", started_at=now))
        await s.flush()
        s.add(
            JobRun(
                workspace_id=workspace,
                job=RETENTION_JOB,
                period="older",
                started_at=now - timedelta(days=200),
            )
        )
        await s.commit()

    def replica(owner: str) -> CopilotScheduler:
        specs = default_jobs(
            config=config,
            forecast=_noop,
            anomaly_scan=_noop,
            digest=_noop,
            retention=retention_job(config=config, replay_window_s=300),
        )
        return CopilotScheduler(
            repos=repos,
            workspace_id=workspace,
            jobs=[s for s in specs if s.name == RETENTION_JOB],
            owner=owner,
            clock=lambda: now,
        )

    first, second = replica("r1"), replica("r2")
    try:
        outcomes = await asyncio.gather(first.start(), second.start())
        again = await first.run_now(RETENTION_JOB, manual=False)
    finally:
        await first.shutdown()
        await second.shutdown()

    statuses = sorted(o.status for (o,) in outcomes)
    assert statuses == ["skipped", "succeeded"]
    ran = next(o for (o,) in outcomes if o.status == "succeeded")
    assert ran.period == f"{now:%Y-%m-%d}T03:17"
    # "older" (200 days) went; "old" is younger than 90 days; this run's own row is the newest
    assert ran.result == {"processedevent_deleted": 1, "jobrun_deleted": 1}
    assert again.status == "skipped" and again.period == ran.period
    rows = await repos.job_runs.list(workspace_id=workspace, job=RETENTION_JOB)
    assert sorted(r.period for r in rows) == sorted([ran.period, "old"])
    assert await _keys(database, workspace) == set()


def _cli(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``sre-copilot jobs ...`` against a fresh SQLite database in ``tmp_path``."""
    exe = Path(sys.executable).parent / "sre-copilot"
    env = {k: v for k, v in os.environ.items() if not k.startswith("SRE_COPILOT_")}
    env["SRE_COPILOT_DATA_DIR"] = str(tmp_path / "data")
    return subprocess.run(
        [str(exe), "jobs", *args],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


async def test_cli_jobs_list_and_run_retention(tmp_path: Path):
    url = f"sqlite+aiosqlite:///{tmp_path / 'data' / 'sre-copilot.db'}"
    async with Database(url) as db:
        await db.upgrade()
        repos = Repositories.build(db)
        await repos.workspaces.ensure(workspace_id="local")
        await repos.workspaces.ensure(workspace_id="T1")
        far_past = datetime(2001, 1, 1, tzinfo=UTC)
        await _add_keys(db, "T1", {"Ev_old": far_past, "pd:old": far_past})
        await repos.processed_events.first_time(workspace_id="T1", event_id="Ev_new")

    listed = await asyncio.to_thread(_cli, tmp_path, "list")
    assert listed.returncode == 0, listed.stderr
    assert "retention  cron '17 3 * * *' (UTC)" in listed.stdout
    assert "Delete old dedupe keys and job runs (retention)." in listed.stdout

    ran = await asyncio.to_thread(_cli, tmp_path, "run", "retention")
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout.startswith("retention manual-")
    assert "succeeded" in ran.stdout
    assert "processedevent_deleted=1, jobrun_deleted=0" in ran.stdout

    async with Database(url) as db:
        assert await _keys(db, "T1") == {"pd:old", "Ev_new"}
        runs = await Repositories.build(db).job_runs.list(workspace_id="local", job="retention")
        assert [r.status for r in runs] == ["succeeded"]
