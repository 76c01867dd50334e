"""The dedicated scheduler process, ``sre-copilot jobs serve``, run for real.

A subprocess runs with SQLite in ``tmp_path`` and Slack pointed at the loopback Web API
stub (a bot token and a default channel). Before it starts, the database gets a
finished ``weekly_digest`` run of an old week: the job ran here before, so the process
catches up the current week once at start, a deterministic trigger (no cron wait).
The tests then watch what an operator would: the digest posted to the default channel,
the job run on the process's own ``/metrics``, and a clean stop on SIGTERM.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from bot.config import Settings
from jobs.scheduler import DIGEST_JOB
from memory.db import Database
from memory.models import JobRunStatus
from memory.repositories import Repositories
from tests.servers.process import free_port
from tests.stubs.slack_api import BOT_TOKEN, TEAM_ID, SlackApiStub

pytestmark = pytest.mark.integration

EXE = str(Path(sys.executable).parent / "sre-copilot")
WAIT_S = 120.0  # process start (imports, migrations) plus one digest run
CHANNEL = "C0JOBSOUT"


def env_for(tmp_path: Path, **settings: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SRE_COPILOT_")}
    env["SRE_COPILOT_DATA_DIR"] = str(tmp_path / "data")
    env["SRE_COPILOT_WORKSPACE_ID"] = TEAM_ID
    env["SRE_COPILOT_LOG_LEVEL"] = "INFO"
    env.update({f"SRE_COPILOT_{k.upper()}": v for k, v in settings.items()})
    return env


async def seed_old_digest_run(tmp_path: Path) -> None:
    """A finished digest run of a long-past week: the job "ran here before"."""
    url = Settings(_env_file=None, data_dir=tmp_path / "data").database_url
    async with Database(url) as db:
        await db.upgrade()
        repos = Repositories.build(db)
        await repos.workspaces.ensure(workspace_id=TEAM_ID)
        row = await repos.job_runs.claim(
            workspace_id=TEAM_ID, job=DIGEST_JOB, period="2020-W01", owner="test"
        )
        assert row is not None and row.id is not None
        await repos.job_runs.finish(
            workspace_id=TEAM_ID, run_id=row.id, status=JobRunStatus.SUCCEEDED
        )


class JobsServe:
    """A running ``jobs serve`` with its stdout and stderr in files."""

    def __init__(self, proc: subprocess.Popen[bytes], out: Path, err: Path) -> None:
        self.proc = proc
        self.out = out
        self.err = err

    def stdout(self) -> str:
        return self.out.read_text(errors="replace")

    def stderr(self) -> str:
        return self.err.read_text(errors="replace")

    def wait_until(self, predicate: Callable[[], bool], what: str) -> None:
        deadline = time.monotonic() + WAIT_S
        while not predicate():
            if self.proc.poll() is not None:
                raise AssertionError(
                    f"jobs serve exited ({self.proc.returncode}) before {what}:\n"
                    f"{self.stdout()[-2000:]}\n{self.stderr()[-3000:]}"
                )
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"timed out waiting for {what}:\n{self.stdout()[-2000:]}\n"
                    f"{self.stderr()[-3000:]}"
                )
            time.sleep(0.1)

    def terminate(self) -> int:
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(60)


@contextmanager
def jobs_serve(env: dict[str, str], tmp_path: Path, *args: str) -> Iterator[JobsServe]:
    out, err = tmp_path / "jobs-serve.out", tmp_path / "jobs-serve.err"
    with out.open("wb") as stdout, err.open("wb") as stderr:
        proc = subprocess.Popen(
            [EXE, "jobs", "serve", *args],
            env=env,
            cwd=tmp_path,
            stdout=stdout,
            stderr=stderr,
            stdin=subprocess.DEVNULL,
        )
    try:
        yield JobsServe(proc, out, err)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def job_runs(metrics_url: str, *, job: str, status: str) -> float:
    """``sre_copilot_job_runs_total{job, status}`` scraped now (0 when absent or down)."""
    try:
        text = httpx.get(metrics_url, timeout=5).text
    except httpx.HTTPError:
        return 0.0
    return sum(
        s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name == "sre_copilot_job_runs_total"
        and s.labels.get("job") == job
        and s.labels.get("status") == status
    )


@pytest.fixture
def slack_stub() -> Iterator[SlackApiStub]:
    with SlackApiStub() as stub:
        yield stub


def posts_to(stub: SlackApiStub, channel: str) -> list[str]:
    return [
        str(c.params.get("text", ""))
        for c in stub.calls("chat.postMessage")
        if c.params.get("channel") == channel and c.token == BOT_TOKEN
    ]


def test_jobs_serve_posts_the_digest_to_slack_and_exposes_job_runs(
    tmp_path: Path, slack_stub: SlackApiStub
) -> None:
    asyncio.run(seed_old_digest_run(tmp_path))
    env = env_for(
        tmp_path,
        slack__bot_token=BOT_TOKEN,
        slack__api_base_url=slack_stub.base_url,
        slack__default_channel=CHANNEL,
    )
    port = free_port()
    metrics_url = f"http://127.0.0.1:{port}/metrics"
    with jobs_serve(env, tmp_path, "--metrics-port", str(port)) as served:
        served.wait_until(lambda: bool(posts_to(slack_stub, CHANNEL)), "the digest post")
        served.wait_until(
            lambda: job_runs(metrics_url, job=DIGEST_JOB, status="succeeded") >= 1,
            "the digest run on /metrics",
        )
        # the process's own registry: standard process metrics sit next to the job runs
        assert "process_cpu_seconds_total" in httpx.get(metrics_url, timeout=5).text
        code = served.terminate()
        out = served.stdout()

    assert code == 0, served.stderr()[-3000:]
    assert out.rstrip().endswith("scheduler stopped")
    assert f"metrics on http://127.0.0.1:{port}/metrics" in out
    assert f"posting job output to Slack channel {CHANNEL}" in out
    catch_up = [line for line in out.splitlines() if line.startswith("catch-up:")]
    assert len(catch_up) == 1 and f"{DIGEST_JOB} " in catch_up[0], out
    assert ": succeeded" in catch_up[0]
    # (only a job that ran here before catches up: a fresh install posts nothing at once)
    assert any("digest" in text.lower() for text in posts_to(slack_stub, CHANNEL))
    assert BOT_TOKEN not in served.stderr()
    # the metrics server went away with the process
    with pytest.raises(httpx.ConnectError):
        httpx.get(metrics_url, timeout=5)


def test_jobs_serve_without_slack_says_job_output_is_not_posted(tmp_path: Path) -> None:
    asyncio.run(seed_old_digest_run(tmp_path))
    with jobs_serve(env_for(tmp_path), tmp_path) as served:
        served.wait_until(lambda: f"catch-up: {DIGEST_JOB}" in served.stdout(), "the catch-up")
        code = served.terminate()
    assert code == 0, served.stderr()[-3000:]
    err = served.stderr()
    lines = [line for line in err.splitlines() if "not posted to Slack" in line]
    assert len(lines) == 1, err[-3000:]
    assert "stored but not posted" in lines[0]
    assert "SRE_COPILOT_SLACK__BOT_TOKEN and SRE_COPILOT_SLACK__DEFAULT_CHANNEL" in lines[0]
    out = served.stdout()
    assert "succeeded" in out.split(f"catch-up: {DIGEST_JOB}", 1)[1].splitlines()[0]
    assert "metrics on" not in out  # --metrics-port defaults to off
    assert out.rstrip().endswith("scheduler stopped")
