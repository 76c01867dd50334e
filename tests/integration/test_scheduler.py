"""Scheduled jobs run exactly once per period: run_once, catch-up, and two real processes.

The run_once tests use the backend-parametrized ``repos``/``workspace`` fixtures (SQLite
and PostgreSQL). The two-process test starts two OS processes with a scheduler each
against the same PostgreSQL database and counts both the run rows and the side effects.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import uuid
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from bot import cli
from jobs.config import JobsConfig
from jobs.scheduler import (
    ANOMALY_JOB,
    DIGEST_JOB,
    FORECAST_JOB,
    CopilotScheduler,
    JobContext,
    JobSpec,
    anomaly_scan_job,
    cron_slot_period,
    default_jobs,
    forecast_job,
    iso_week,
    iso_week_period,
    last_fire_time,
    run_once,
)
from memory.db import Database
from memory.models import JobRunStatus
from memory.repositories import Repositories
from tests.conftest import require

ROOT = Path(__file__).resolve().parents[2]
WEDNESDAY = datetime(2026, 11, 25, 14, 7, tzinfo=UTC)  # ISO week 2026-W48
DIGEST_CRON = "0 9 * * mon"


class Recorder:
    """A job that records each execution (the side effect counted by the tests)."""

    def __init__(self, *, fail: bool = False, result: dict[str, Any] | None = None) -> None:
        self.calls: list[JobContext] = []
        self.fail = fail
        self.result = result or {"ok": True}

    async def __call__(self, ctx: JobContext) -> dict[str, Any]:
        self.calls.append(ctx)
        await asyncio.sleep(0.05)
        if self.fail:
            raise RuntimeError("upstream exploded")
        return self.result


def weekly(name: str, func: Recorder) -> JobSpec:
    return JobSpec(name=name, cron=DIGEST_CRON, func=func, period_of=iso_week_period(DIGEST_CRON))


def test_period_keys():
    assert iso_week(WEDNESDAY) == "2026-W48"
    assert iso_week_period(DIGEST_CRON)(WEDNESDAY) == "2026-W48"
    # Monday before 09:00: the last due digest is last week's, so nothing runs early
    assert iso_week_period(DIGEST_CRON)(datetime(2026, 11, 23, 8, 59, tzinfo=UTC)) == "2026-W47"
    assert cron_slot_period("*/30 * * * *")(datetime(2026, 11, 27, 10, 47, tzinfo=UTC)) == (
        "2026-11-27T10:30"
    )
    assert cron_slot_period("*/5 * * * *")(datetime(2026, 11, 27, 10, 45, tzinfo=UTC)) == (
        "2026-11-27T10:45"
    )
    assert last_fire_time("0 0 1 * *", WEDNESDAY) == datetime(2026, 11, 1, tzinfo=UTC)
    with pytest.raises(ValueError, match="does not fire"):
        last_fire_time("0 0 29 2 *", datetime(2026, 11, 1, tzinfo=UTC))


async def test_run_once_claims_the_period_once(repos: Repositories, workspace: str):
    job = Recorder()
    spec = weekly("digest", job)
    first = await run_once(repos=repos, workspace_id=workspace, spec=spec, now=WEDNESDAY, owner="a")
    again = await run_once(repos=repos, workspace_id=workspace, spec=spec, now=WEDNESDAY, owner="b")
    assert first.status == "succeeded" and first.period == "2026-W48"
    assert first.result == {"ok": True} and first.run_id is not None
    assert again.status == "skipped" and again.run_id is None
    assert len(job.calls) == 1 and job.calls[0].period == "2026-W48"
    rows = await repos.job_runs.list(workspace_id=workspace, job="digest")
    assert [(r.period, r.status, r.owner) for r in rows] == [
        ("2026-W48", JobRunStatus.SUCCEEDED, "a")
    ]
    assert rows[0].duration_ms is not None and rows[0].finished_at is not None


async def test_concurrent_run_once_in_one_process(repos: Repositories, workspace: str):
    job = Recorder()
    spec = weekly("digest", job)
    outcomes = await asyncio.gather(
        *(
            run_once(repos=repos, workspace_id=workspace, spec=spec, now=WEDNESDAY, owner=f"o{i}")
            for i in range(5)
        )
    )
    assert Counter(o.status for o in outcomes) == {"succeeded": 1, "skipped": 4}
    assert len(job.calls) == 1
    assert len(await repos.job_runs.list(workspace_id=workspace)) == 1


async def test_job_error_is_recorded_not_raised(repos: Repositories, workspace: str):
    spec = weekly("broken", Recorder(fail=True))
    outcome = await run_once(
        repos=repos, workspace_id=workspace, spec=spec, now=WEDNESDAY, owner="a"
    )
    assert outcome.status == "failed"
    assert outcome.error == "RuntimeError: upstream exploded"
    (row,) = await repos.job_runs.list(workspace_id=workspace, job="broken")
    assert row.status == JobRunStatus.FAILED
    assert row.error == "RuntimeError: upstream exploded"
    assert row.duration_ms is not None
    # a failed period is not retried by the scheduler: it stays claimed
    retry = await run_once(repos=repos, workspace_id=workspace, spec=spec, now=WEDNESDAY, owner="b")
    assert retry.status == "skipped"


async def test_bad_cron_and_database_errors_are_outcomes(repos: Repositories, workspace: str):
    bad = JobSpec(
        name="bad", cron="nope", func=Recorder(), period_of=cron_slot_period("61 * * * *")
    )
    outcome = await run_once(
        repos=repos, workspace_id=workspace, spec=bad, now=WEDNESDAY, owner="a"
    )
    assert outcome.status == "failed" and outcome.error

    class DownJobRuns:
        async def claim(self, **_: Any) -> None:
            raise ConnectionRefusedError("database down")

    down: Any = SimpleNamespace(job_runs=DownJobRuns())
    job = Recorder()
    outcome = await run_once(
        repos=down, workspace_id=workspace, spec=weekly("x", job), now=WEDNESDAY, owner="a"
    )
    assert outcome.status == "failed" and outcome.error == "ConnectionRefusedError: database down"
    assert job.calls == []


async def test_job_skip_reason_is_recorded(repos: Repositories, workspace: str):
    spec = JobSpec(
        name=FORECAST_JOB,
        cron="*/30 * * * *",
        func=forecast_job(source=None, series_config=[], chart_dir=Path("/nonexistent")),
        period_of=cron_slot_period("*/30 * * * *"),
    )
    outcome = await run_once(
        repos=repos, workspace_id=workspace, spec=spec, now=WEDNESDAY, owner="a"
    )
    assert outcome.status == "succeeded"
    assert outcome.note == "skipped: Prometheus not configured"
    (row,) = await repos.job_runs.list(workspace_id=workspace)
    assert (row.period, row.status) == ("2026-11-25T14:00", JobRunStatus.SUCCEEDED)
    assert row.error == "skipped: Prometheus not configured"


async def test_manual_runs_do_not_use_the_scheduled_period(repos: Repositories, workspace: str):
    job = Recorder()
    spec = weekly("digest", job)
    await run_once(repos=repos, workspace_id=workspace, spec=spec, now=WEDNESDAY, owner="a")
    manual = await run_once(
        repos=repos, workspace_id=workspace, spec=spec, now=WEDNESDAY, owner="cli", manual=True
    )
    assert manual.status == "succeeded" and manual.period.startswith("manual-2026-11-25T14:07")
    assert len(job.calls) == 2 and job.calls[1].manual


async def test_catch_up_runs_a_missed_week_once(repos: Repositories, workspace: str):
    job = Recorder()
    jobs = [weekly("digest", job)]

    def scheduler(owner: str) -> CopilotScheduler:
        return CopilotScheduler(
            repos=repos, workspace_id=workspace, jobs=jobs, owner=owner, clock=lambda: WEDNESDAY
        )

    first = scheduler("pod-1")
    try:
        caught = await first.start()
        assert first.running and set(first.next_run_times()) == {"digest"}
    finally:
        await first.shutdown()
    assert [(o.period, o.status) for o in caught] == [("2026-W48", "succeeded")]

    restarted = scheduler("pod-2")  # a restarted pod, same week: nothing to catch up
    try:
        again = await restarted.start()
    finally:
        await restarted.shutdown()
    assert [(o.period, o.status) for o in again] == [("2026-W48", "skipped")]
    assert len(job.calls) == 1
    assert len(await repos.job_runs.list(workspace_id=workspace)) == 1


async def test_two_schedulers_start_together(repos: Repositories, workspace: str):
    job = Recorder()
    scheds = [
        CopilotScheduler(
            repos=repos,
            workspace_id=workspace,
            jobs=[weekly("digest", job)],
            owner=f"pod-{i}",
            clock=lambda: WEDNESDAY,
        )
        for i in range(2)
    ]
    try:
        results = await asyncio.gather(*(s.start() for s in scheds))
        # a cron fire through APScheduler for the same slot is skipped as well
        scheds[0].trigger_now("digest")
        for _ in range(500):
            if len(scheds[0].outcomes) == 2:
                break
            await asyncio.sleep(0.01)
    finally:
        for s in scheds:
            await s.shutdown()
    statuses = Counter(o.status for r in results for o in r)
    assert statuses == {"succeeded": 1, "skipped": 1}
    assert scheds[0].outcomes[-1].status == "skipped"
    assert len(job.calls) == 1


def test_default_jobs_take_cron_from_config():
    config = JobsConfig(forecast_cron="*/15 * * * *", digest_cron="0 8 * * fri")
    rec = Recorder()
    specs = {
        s.name: s for s in default_jobs(config=config, forecast=rec, anomaly_scan=rec, digest=rec)
    }
    assert set(specs) == {FORECAST_JOB, ANOMALY_JOB, DIGEST_JOB}
    assert specs[FORECAST_JOB].cron == "*/15 * * * *"
    assert specs[FORECAST_JOB].period_of(WEDNESDAY) == "2026-11-25T14:00"
    assert specs[ANOMALY_JOB].period_of(WEDNESDAY) == "2026-11-25T14:05"
    assert specs[DIGEST_JOB].period_of(WEDNESDAY) == "2026-W47"  # Friday's digest is W47's
    with pytest.raises(ValueError, match="duplicate"):
        CopilotScheduler(repos=None, workspace_id="w", jobs=[specs[FORECAST_JOB]] * 2)


async def test_anomaly_scan_without_prometheus_is_skipped(repos: Repositories, workspace: str):
    func = anomaly_scan_job(source=None, queries=["up"])
    spec = JobSpec(ANOMALY_JOB, "*/5 * * * *", func, cron_slot_period("*/5 * * * *"))
    outcome = await run_once(
        repos=repos, workspace_id=workspace, spec=spec, now=WEDNESDAY, owner="a"
    )
    assert outcome.note == "skipped: Prometheus not configured"


@pytest.mark.integration
async def test_two_processes_run_each_period_exactly_once(
    pg_database_url: str | None, tmp_path: Path
):
    require(pg_database_url is not None, "no PostgreSQL available for the two-process test")
    assert pg_database_url is not None
    workspace = f"T{uuid.uuid4().hex[:10]}"
    async with Database(pg_database_url) as db:
        repos = Repositories.build(db)
        await repos.workspaces.ensure(workspace_id=workspace)
        gate, effects = tmp_path / "go", tmp_path / "effects.log"
        procs = [
            await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "tests.integration.scheduler_worker",
                pg_database_url,
                workspace,
                str(gate),
                str(effects),
                WEDNESDAY.isoformat(),
                cwd=ROOT,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
            )
            for _ in range(2)
        ]
        await asyncio.sleep(0.5)  # let both import and connect, then open the gate at once
        gate.touch()
        results = [await asyncio.wait_for(p.communicate(), timeout=60) for p in procs]
        for proc, (_, err) in zip(procs, results, strict=True):
            assert proc.returncode == 0, err.decode()
        outcomes = [o for out, _ in results for o in json.loads(out.decode().strip())]
        rows = await repos.job_runs.list(workspace_id=workspace)

    # each worker: catch-up of both jobs + one trigger fire of forecast
    assert len(outcomes) == 6
    by_period = Counter((o["job"], o["period"], o["status"]) for o in outcomes)
    assert by_period == {
        ("weekly_digest", "2026-W48", "succeeded"): 1,
        ("weekly_digest", "2026-W48", "skipped"): 1,
        ("forecast", "2026-11-25T14:00", "succeeded"): 1,
        ("forecast", "2026-11-25T14:00", "skipped"): 3,
    }
    assert sorted((r.job, r.period, r.status) for r in rows) == [
        ("forecast", "2026-11-25T14:00", JobRunStatus.SUCCEEDED),
        ("weekly_digest", "2026-W48", JobRunStatus.SUCCEEDED),
    ]
    lines = effects.read_text().splitlines()
    assert sorted(line.rsplit(" ", 1)[0] for line in lines) == [
        "forecast 2026-11-25T14:00",
        "weekly_digest 2026-W48",
    ]


def _jobs_cli(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``sre-copilot jobs ...``, through bot/cli.py once registered there, else mounted alike."""
    exe = Path(sys.executable).parent / "sre-copilot"
    if any(g.name == "jobs" for g in cli.app.registered_groups) and exe.exists():
        cmd = [str(exe), "jobs"]
    else:
        code = (
            "import typer; from bot.commands import jobs; root = typer.Typer(); "
            "root.add_typer(jobs.app, name='jobs'); root.command('noop')(lambda: None); root()"
        )
        cmd = [sys.executable, "-c", code, "jobs"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("SRE_COPILOT_")}
    env["SRE_COPILOT_DATA_DIR"] = str(tmp_path / "data")
    return subprocess.run(
        [*cmd, *args], env=env, cwd=ROOT, capture_output=True, text=True, check=False, timeout=120
    )


def test_cli_jobs_run_and_list(tmp_path: Path):
    ran = _jobs_cli(tmp_path, "run", "forecast")
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout.startswith("forecast manual-")
    assert "succeeded" in ran.stdout and "(skipped: Prometheus not configured)" in ran.stdout
    listed = _jobs_cli(tmp_path, "list")
    assert listed.returncode == 0, listed.stderr
    assert "forecast  cron '*/30 * * * *' (UTC)" in listed.stdout
    assert "weekly_digest  cron '0 9 * * mon' (UTC)" in listed.stdout
    assert "skipped: Prometheus not configured" in listed.stdout
    unknown = _jobs_cli(tmp_path, "run", "nope")
    assert unknown.returncode == 2
    assert unknown.stderr.strip().splitlines() == [
        "error: no job 'nope': choose one of anomaly_scan, forecast, retention, weekly_digest"
    ]
