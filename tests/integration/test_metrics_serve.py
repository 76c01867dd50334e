"""The bot's own metrics, JSON logs and readiness, scraped from a running ``sre-copilot serve``.

The subprocess runs with Slack pointed at the loopback Web API stub (HTTP mode, signed
requests), Prometheus at the real session server, Claude at the Messages API stub and
SQLite in ``tmp_path``. Before it starts, ``sre-copilot jobs run`` records a job run in
the same database (so the server's start-up catch-up runs that job again) and two
proposals are stored. Then real traffic goes in (a health check, an Alertmanager
webhook, a signed ``app_mention`` that starts an investigation) and ``/metrics`` must
show each family with the samples that traffic produced.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from bot.config import Settings
from bot.web import create_app
from memory.db import Database
from memory.models import ProposalStatus, RemediationProposal
from memory.repositories import Repositories
from tests.conftest import require
from tests.scenario import slack_payloads as sp
from tests.scenario.harness import serve_asgi
from tests.servers.postgres import PostgresServer, create_database, drop_database
from tests.servers.process import ServerProcess, free_port
from tests.stubs.anthropic_api import STUB_API_KEY, AnthropicStub, serve_anthropic_stub
from tests.stubs.anthropic_api import submit_analysis as claude_submits
from tests.stubs.slack_api import BOT_TOKEN, SIGNING_SECRET, TEAM_ID, SlackApiStub

pytestmark = pytest.mark.integration

EXE = str(Path(sys.executable).parent / "sre-copilot")
READY_TIMEOUT_S = 60.0

Samples = dict[str, list[tuple[dict[str, str], float]]]


def parse(text: str) -> Samples:
    """Sample name → (labels, value) of a ``/metrics`` answer."""
    out: Samples = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out.setdefault(s.name, []).append((dict(s.labels), s.value))
    return out


def total(samples: Samples, name: str, **labels: str) -> float:
    """Sum of the samples of ``name`` whose labels include ``labels``."""
    return sum(
        value
        for found, value in samples.get(name, [])
        if all(found.get(k) == v for k, v in labels.items())
    )


def env_for(tmp_path: Path, **settings: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SRE_COPILOT_")}
    env["SRE_COPILOT_DATA_DIR"] = str(tmp_path / "data")
    env.update({f"SRE_COPILOT_{k.upper()}": v for k, v in settings.items()})
    return env


@contextmanager
def serving(env: dict[str, str], cwd: Path, log: Path) -> Iterator[str]:
    port = free_port()
    with log.open("wb") as err:
        proc = subprocess.Popen(
            [EXE, "serve", "--port", str(port)],
            env=env,
            cwd=cwd,
            stdout=subprocess.DEVNULL,
            stderr=err,
        )
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + READY_TIMEOUT_S
            while True:
                if proc.poll() is not None:
                    raise AssertionError(f"serve exited: {log.read_text()[-3000:]}")
                try:
                    if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline:
                    raise AssertionError(f"serve did not become ready: {log.read_text()[-3000:]}")
                time.sleep(0.1)
            yield url
        finally:
            proc.terminate()
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def alertmanager_webhook(service: str) -> dict[str, Any]:
    starts = (datetime.now(UTC) - timedelta(minutes=20)).isoformat()
    alert = {
        "status": "firing",
        "labels": {"alertname": "CheckoutHighErrorRate", "service": service, "severity": "page"},
        "annotations": {"summary": f"{service} answers 5xx"},
        "startsAt": starts,
        "endsAt": "0001-01-01T00:00:00Z",
        "generatorURL": "http://prometheus/graph",
        "fingerprint": "c0ffee0000000001",
    }
    return {
        "version": "4",
        "status": "firing",
        "receiver": "sre-copilot",
        "groupKey": "{}:{alertname=CheckoutHighErrorRate}",
        "groupLabels": {"alertname": "CheckoutHighErrorRate"},
        "commonLabels": alert["labels"],
        "commonAnnotations": alert["annotations"],
        "externalURL": "http://alertmanager",
        "truncatedAlerts": 0,
        "alerts": [alert],
    }


async def seed_proposals(database_url: str) -> None:
    """One pending and one rejected proposal, stored as the remediation service does."""
    async with Database(database_url) as db:
        repos = Repositories.build(db)
        await repos.workspaces.ensure(workspace_id=TEAM_ID)
        for status in (ProposalStatus.PENDING, ProposalStatus.REJECTED):
            await repos.proposals.create(
                proposal=RemediationProposal(
                    workspace_id=TEAM_ID,
                    action="alertmanager_silence",
                    params={"matchers": {"service": "checkout"}},
                    proposed_by="U0HUMAN",
                    status=status,
                    expires_at=datetime.now(UTC) + timedelta(hours=1),
                )
            )


async def wait_for_incident(database_url: str) -> None:
    """The webhook's alert is stored and correlated (the investigation will cite it)."""
    async with Database(database_url) as db:
        repos = Repositories.build(db)
        deadline = time.monotonic() + READY_TIMEOUT_S
        while not await repos.incidents.list(workspace_id=TEAM_ID, open_only=True):
            assert time.monotonic() < deadline, "the alert was not ingested"
            await asyncio.sleep(0.1)


@pytest.fixture
def anthropic_stub() -> Iterator[AnthropicStub]:
    with serve_anthropic_stub() as stub:
        yield stub


@pytest.fixture
def slack_stub() -> Iterator[SlackApiStub]:
    with SlackApiStub() as stub:
        yield stub


async def test_serve_metrics_cover_every_family(
    tmp_path: Path,
    prometheus_server: ServerProcess,
    anthropic_stub: AnthropicStub,
    slack_stub: SlackApiStub,
):
    anthropic_stub.script(
        claude_submits(
            "checkout's 5xx started with the firing alert.",
            [{"index": 0, "confidence": 0.7, "rationale": "alert fired first"}],
        ).repeat(None)
    )
    env = env_for(
        tmp_path,
        log_level="INFO",
        log_format="json",
        workspace_id=TEAM_ID,
        slack__bot_token=BOT_TOKEN,
        slack__signing_secret=SIGNING_SECRET,
        slack__api_base_url=slack_stub.base_url,
        prometheus__base_url=prometheus_server.url,
        llm__api_key=STUB_API_KEY,
        llm__base_url=anthropic_stub.base_url,
        webhooks__allow_unauthenticated="true",
    )
    # a job ran here before: the server's start-up catch-up runs it again, in-process
    ran = await asyncio.to_thread(
        subprocess.run,
        [EXE, "jobs", "run", "anomaly_scan"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert ran.returncode == 0, ran.stderr[-2000:]
    database_url = Settings(_env_file=None, data_dir=tmp_path / "data").database_url  # type: ignore[call-arg]
    await seed_proposals(database_url)

    log = tmp_path / "serve.log"
    with serving(env, tmp_path, log) as url:
        async with httpx.AsyncClient(base_url=url, timeout=30) as http:
            health = await http.get("/healthz", headers={"X-Request-ID": "it-health-1"})
            assert health.headers["x-request-id"] == "it-health-1"
            hook = await http.post("/webhooks/alertmanager", json=alertmanager_webhook("checkout"))
            assert hook.status_code == 200, hook.text
            await wait_for_incident(database_url)
            ev = sp.mention("what's wrong with checkout?")
            body = json.dumps(sp.event_body(ev))
            ack = await http.post(
                "/slack/events",
                content=body.encode(),
                headers=sp.signed_headers(body, content_type=sp.JSON),
            )
            assert ack.status_code == 200
            await slack_stub.wait_for(
                lambda: any(
                    c.params.get("channel") == sp.CHANNEL for c in slack_stub.calls("chat.update")
                ),
                what="the investigation's answer",
            )
            # the answer is posted after the metrics of its turn are recorded
            scrape = await http.get("/metrics")
        assert scrape.status_code == 200
        found = parse(scrape.text)

    # HTTP: by route template and status, with latency
    assert total(found, "sre_copilot_http_requests_total", route="/healthz", status="200") >= 1
    assert total(found, "sre_copilot_http_requests_total", route="/slack/events", status="200") == 1
    assert total(found, "sre_copilot_http_requests_total", route="/webhooks/alertmanager") == 1
    assert total(found, "sre_copilot_http_request_duration_seconds_count", route="/readyz") >= 1
    assert not [s for s, _ in found["sre_copilot_http_requests_total"] if "?" in s["route"]]
    # Slack acks
    assert total(found, "sre_copilot_slack_acks_total", kind="event", status="200") == 1
    assert total(found, "sre_copilot_slack_ack_duration_seconds_count", kind="event") == 1
    # investigations: the mention (and the incident's own) with Claude, tokens counted
    assert total(found, "sre_copilot_investigations_total", intent="investigate", llm="yes") >= 1
    assert total(found, "sre_copilot_investigation_duration_seconds_count", llm="yes") >= 1
    assert total(found, "sre_copilot_llm_tokens_total", type="input") > 0
    assert total(found, "sre_copilot_llm_tokens_total", type="output") > 0
    # evidence calls against the real Prometheus and the alert store
    assert total(found, "sre_copilot_tool_calls_total", integration="prometheus", status="ok") > 0
    assert total(found, "sre_copilot_tool_calls_total", integration="alert_store") >= 1
    assert (
        total(found, "sre_copilot_tool_call_duration_seconds_count", integration="prometheus") > 0
    )
    # the catch-up run of the job
    assert total(found, "sre_copilot_job_runs_total", job="anomaly_scan") == 1
    # proposals by state, read from the database at scrape time
    assert total(found, "sre_copilot_proposals", state="pending") == 1
    assert total(found, "sre_copilot_proposals", state="rejected") == 1
    assert total(found, "sre_copilot_proposals", state="approved") == 0

    # JSON logs: every stderr line is an object; requests and conversations carry their ids
    lines = [line for line in log.read_text().splitlines() if line.strip()]
    docs = [json.loads(line) for line in lines]
    assert all({"timestamp", "level", "logger", "message"} <= d.keys() for d in docs)
    assert any(d.get("request_id") == "it-health-1" for d in docs)
    assert any(d.get("conversation_id", "").startswith("slack:") for d in docs)
    assert BOT_TOKEN not in log.read_text() and STUB_API_KEY not in log.read_text()


async def test_readyz_names_a_dead_database_with_503(
    tmp_path: Path, pg_server: PostgresServer | None
):
    require(pg_server is not None, "no PostgreSQL available for the dead-database check")
    assert pg_server is not None
    name = await create_database(pg_server)
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        environment="test",
        data_dir=tmp_path / "data",
        log_level="WARNING",
        jobs={"enabled": False},
        database={"url": pg_server.sqlalchemy_url(name)},
    )
    try:
        async with (
            serve_asgi(create_app(settings)) as url,
            httpx.AsyncClient(base_url=url) as http,
        ):
            ready = await http.get("/readyz")
            assert ready.status_code == 200
            checks = ready.json()["checks"]
            assert checks["database"]["state"] == "healthy"
            assert {"prometheus", "alertmanager", "pagerduty", "slack", "llm"} <= set(checks)
            # the database goes away under the running app (its connections are killed too)
            await drop_database(pg_server, name)
            dead = await http.get("/readyz")
            assert dead.status_code == 503
            body = dead.json()
            assert body["status"] == "not ready"
            assert body["checks"]["database"]["state"] == "unhealthy"
            assert name in body["checks"]["database"]["reason"]
            # /metrics still answers (without fresh proposal counts) and says so
            scrape = await http.get("/metrics")
            assert scrape.status_code == 200
            found = parse(scrape.text)
            assert total(found, "sre_copilot_proposals_refresh_errors_total") >= 1
            assert (
                total(found, "sre_copilot_http_requests_total", route="/readyz", status="503") == 1
            )
    finally:
        await drop_database(pg_server, name)
