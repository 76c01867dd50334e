"""Structured logs, request ids, route-template labels and the metric families' feeds."""

from __future__ import annotations

import asyncio
import io
import json
import logging
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import BaseModel, SecretStr
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from agents.gather import Budget, guarded
from agents.reply import SourceFailure
from bot.observability import (
    JsonFormatter,
    ObservabilityMiddleware,
    log_context,
    refresh_proposals,
    setup_logging,
)
from bot.slack.runtime import ack_kind, parse_slack_body
from jobs.scheduler import CopilotScheduler, JobContext, JobSpec, cron_slot_period
from memory.db import Database
from memory.errors import UpstreamTimeout
from memory.models import ProposalStatus, RemediationProposal
from memory.repositories import Repositories
from tools.base import Tool, ToolResult, ToolStatus
from tools.telemetry import Telemetry, current, evidence_labels, use

# --------------------------------------------------------------------------- helpers


def sample(t: Telemetry, name: str, **labels: str) -> float:
    value = t.registry.get_sample_value(name, labels)
    return 0.0 if value is None else value


def record(message: str, *args: object, exc: BaseException | None = None, **extra: Any) -> str:
    logger = logging.getLogger("test.observability")
    rec = logger.makeRecord(
        logger.name,
        logging.ERROR if exc else logging.INFO,
        __file__,
        1,
        message,
        args,
        (type(exc), exc, exc.__traceback__) if exc else None,
        extra=extra or None,
    )
    return JsonFormatter().format(rec)


@pytest.fixture
def telemetry() -> Iterator[Telemetry]:
    with use(Telemetry(process_metrics=False)) as t:
        yield t


# --------------------------------------------------------------------------- JSON logs


def test_json_line_has_the_basic_fields():
    doc = json.loads(record("hello %s", "world"))
    assert doc["message"] == "hello world"
    assert doc["level"] == "INFO"
    assert doc["logger"] == "test.observability"
    assert doc["timestamp"].endswith("+00:00")
    assert "request_id" not in doc and "exception" not in doc


def test_json_line_carries_the_context_ids():
    with log_context(request="req-1", workspace="T1"), log_context(conversation="slack:C1:1.2"):
        doc = json.loads(record("inside"))
    assert (doc["request_id"], doc["conversation_id"], doc["workspace_id"]) == (
        "req-1",
        "slack:C1:1.2",
        "T1",
    )
    assert "request_id" not in json.loads(record("outside"))


def test_json_line_serialises_the_exception():
    try:
        raise UpstreamTimeout("prometheus did not answer in 5s")
    except UpstreamTimeout as exc:
        doc = json.loads(record("query failed", exc=exc))
    assert doc["level"] == "ERROR"
    assert doc["exception"]["type"] == "UpstreamTimeout"
    assert doc["exception"]["message"] == "prometheus did not answer in 5s"
    assert "Traceback (most recent call last)" in doc["exception"]["traceback"]
    assert "test_json_line_serialises_the_exception" in doc["exception"]["traceback"]


def test_json_line_never_renders_secrets():
    secret = SecretStr("xoxb-123-456-topsecret")
    line = record(
        "token %s (%r)",
        secret,
        secret,
        settings={"bot_token": secret, "nested": [secret]},
        api_key=SecretStr("hunter2"),
    )
    doc = json.loads(line)
    assert "topsecret" not in line and "hunter2" not in line
    assert doc["settings"]["bot_token"] == "**********"
    assert doc["api_key"] == "**********"
    # a raw token that leaked into a message is scrubbed by shape
    leaked = record("got %s", "xoxb-123-456-topsecret and sk-ant-api03-abcdef")
    assert "topsecret" not in leaked and "abcdef" not in leaked
    assert "xoxb-**********" in leaked


def test_setup_logging_switches_format_and_leaves_foreign_handlers_alone():
    root = logging.getLogger()
    saved, level = root.handlers[:], root.level
    root.handlers = []
    try:
        text, out = io.StringIO(), io.StringIO()
        assert setup_logging(level="INFO", fmt="text", stream=text) is not None
        assert setup_logging(level="INFO", fmt="json", stream=out) is not None
        assert len(root.handlers) == 1  # the text handler was replaced
        with log_context(request="abc"):
            logging.getLogger("x").info("hi")
        assert text.getvalue() == ""
        assert json.loads(out.getvalue())["request_id"] == "abc"
        foreign = logging.NullHandler()
        root.handlers = [foreign]
        assert setup_logging(level="DEBUG", fmt="json") is None
        assert root.handlers == [foreign] and root.level == logging.DEBUG
    finally:
        root.handlers, root.level = saved, level


# --------------------------------------------------------------------------- middleware


def build_app(t: Telemetry, seen: list[str]) -> Starlette:
    async def item(request: Request) -> Response:
        logging.getLogger("test.item").warning("item %s", request.path_params["item_id"])
        from bot.observability import request_id

        seen.append(request_id.get() or "")
        return JSONResponse({"id": request.path_params["item_id"]})

    async def boom(_request: Request) -> Response:
        raise RuntimeError("boom")

    routes: list[BaseRoute] = [
        Route("/items/{item_id}", item),
        Route("/boom", boom),
        Route("/post-only", item, methods=["POST"]),
    ]
    return Starlette(
        routes=routes,
        middleware=[Middleware(ObservabilityMiddleware, telemetry=t, routes=routes)],
    )


@pytest.fixture
async def client(telemetry: Telemetry) -> AsyncIterator[tuple[httpx.AsyncClient, list[str]]]:
    seen: list[str] = []
    app = build_app(telemetry, seen)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://app") as http:
        yield http, seen


async def test_requests_are_labelled_by_route_template(
    client: tuple[httpx.AsyncClient, list[str]], telemetry: Telemetry
):
    http, _ = client
    for item_id in ("1", "2", "abc-123"):
        assert (await http.get(f"/items/{item_id}")).status_code == 200
    assert (await http.get("/nowhere/42")).status_code == 404
    assert (await http.get("/post-only")).status_code == 405
    assert (await http.get("/boom")).status_code == 500
    metrics = telemetry.registry
    assert (
        sample(telemetry, "sre_copilot_http_requests_total", route="/items/{item_id}", status="200")
        == 3
    )
    assert (
        sample(telemetry, "sre_copilot_http_requests_total", route="unmatched", status="404") == 1
    )
    assert (
        sample(telemetry, "sre_copilot_http_requests_total", route="/post-only", status="405") == 1
    )
    assert sample(telemetry, "sre_copilot_http_requests_total", route="/boom", status="500") == 1
    assert (
        sample(
            telemetry, "sre_copilot_http_request_duration_seconds_count", route="/items/{item_id}"
        )
        == 3
    )
    routes = {
        s.labels["route"]
        for m in metrics.collect()
        if m.name == "sre_copilot_http_requests"
        for s in m.samples
    }
    assert routes == {"/items/{item_id}", "unmatched", "/post-only", "/boom"}


async def test_request_id_is_taken_or_made_and_echoed(
    client: tuple[httpx.AsyncClient, list[str]],
):
    http, seen = client
    given = await http.get("/items/1", headers={"X-Request-ID": "abc-123.def"})
    assert given.headers["x-request-id"] == "abc-123.def"
    made = await http.get("/items/2")
    assert len(made.headers["x-request-id"]) == 32
    junk = await http.get("/items/3", headers={"X-Request-ID": "bad id\twith spaces"})
    assert junk.headers["x-request-id"] != "bad id\twith spaces"
    assert seen == ["abc-123.def", made.headers["x-request-id"], junk.headers["x-request-id"]]


async def test_request_id_reaches_the_json_log_of_the_handler(
    client: tuple[httpx.AsyncClient, list[str]],
):
    http, _ = client
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("test.item")
    logger.addHandler(handler)
    try:
        await http.get("/items/7", headers={"X-Request-ID": "trace-7"})
    finally:
        logger.removeHandler(handler)
    doc = json.loads(out.getvalue())
    assert doc["message"] == "item 7" and doc["request_id"] == "trace-7"


# --------------------------------------------------------------------------- telemetry feeds


def test_each_app_records_into_its_own_registry():
    a, b = Telemetry(process_metrics=False), Telemetry(process_metrics=False)
    with use(a):
        current().observe_job_run(job="x", status="succeeded", seconds=1.0)
        with use(b):
            current().observe_job_run(job="x", status="succeeded", seconds=1.0)
    assert sample(a, "sre_copilot_job_runs_total", job="x", status="succeeded") == 1
    assert sample(b, "sre_copilot_job_runs_total", job="x", status="succeeded") == 1
    assert current() is not a and current() is not b


@pytest.mark.parametrize(
    ("what", "source", "labels"),
    [
        (
            "query 'sum(rate(x[5m]))'",
            "prometheus http://127.0.0.1:9090",
            ("prometheus", "prometheus_query"),
        ),
        ('query "up"', "prometheus", ("prometheus", "prometheus_query")),
        (
            "list alerts",
            "alertmanager http://am:9093",
            ("alertmanager", "alertmanager_list_alerts"),
        ),
        ("list alerts", "alert store", ("alert_store", "alert_store_list_alerts")),
        (
            "list on-calls",
            "pagerduty https://api.pagerduty.com",
            ("pagerduty", "pagerduty_list_on_calls"),
        ),
        ("list changes", "file /data/scenario.json", ("file", "file_list_changes")),
        ("'odd'", "", ("unknown", "unknown_call")),
    ],
)
def test_evidence_labels_are_bounded(what: str, source: str, labels: tuple[str, str]):
    assert evidence_labels(what, source) == labels


class EchoArgs(BaseModel):
    text: str


async def _echo(args: EchoArgs) -> ToolResult:
    """Echo the text."""
    return ToolResult(tool="demo_echo", status=ToolStatus.OK, data=args.text)


async def test_tool_runs_are_counted_by_integration_tool_and_status(telemetry: Telemetry):
    tool = Tool.define(_echo, args_model=EchoArgs, integration="demo", name="demo_echo")
    assert (await tool.run({"text": "hi"})).ok
    assert (await tool.run({"nope": 1})).status is ToolStatus.ERROR
    labels = {"integration": "demo", "tool": "demo_echo"}
    assert sample(telemetry, "sre_copilot_tool_calls_total", **labels, status="ok") == 1
    assert sample(telemetry, "sre_copilot_tool_calls_total", **labels, status="error") == 1
    assert sample(telemetry, "sre_copilot_tool_call_duration_seconds_count", **labels) == 2


async def test_evidence_calls_are_counted_with_their_outcome(telemetry: Telemetry):
    failures: list[SourceFailure] = []
    budget = Budget(per_call_s=0.05, total_s=5)

    async def answer() -> int:
        return 1

    async def hang() -> int:
        await asyncio.Event().wait()
        return 0

    async def fail() -> int:
        raise UpstreamTimeout("slow")

    source = "prometheus http://p:9090"
    assert await guarded("query 'up'", source, answer(), budget, failures) == 1
    assert await guarded("query 'up'", source, hang(), budget, failures) is None
    assert await guarded("list alerts", "alert store", fail(), budget, failures) is None
    prom = {"integration": "prometheus", "tool": "prometheus_query"}
    assert sample(telemetry, "sre_copilot_tool_calls_total", **prom, status="ok") == 1
    assert sample(telemetry, "sre_copilot_tool_calls_total", **prom, status="timeout") == 1
    store = {"integration": "alert_store", "tool": "alert_store_list_alerts", "status": "error"}
    assert sample(telemetry, "sre_copilot_tool_calls_total", **store) == 1
    assert len(failures) == 2


@pytest.fixture
async def fresh_repos(tmp_path: Path) -> AsyncIterator[Repositories]:
    async with Database(f"sqlite+aiosqlite:///{tmp_path / 'metrics.db'}") as db:
        await db.upgrade()
        yield Repositories.build(db)


async def test_job_runs_are_counted_by_status(fresh_repos: Repositories, telemetry: Telemetry):
    async def job(_ctx: JobContext) -> dict[str, Any]:
        return {"done": 1}

    await fresh_repos.workspaces.ensure(workspace_id="T1")
    spec = JobSpec(name="demo", cron="0 * * * *", func=job, period_of=cron_slot_period("0 * * * *"))
    scheduler = CopilotScheduler(repos=fresh_repos, workspace_id="T1", jobs=[spec])
    assert (await scheduler.run_now("demo", manual=False)).status == "succeeded"
    assert (await scheduler.run_now("demo", manual=False)).status == "skipped"
    assert sample(telemetry, "sre_copilot_job_runs_total", job="demo", status="succeeded") == 1
    assert sample(telemetry, "sre_copilot_job_runs_total", job="demo", status="skipped") == 1
    assert sample(telemetry, "sre_copilot_job_run_duration_seconds_count", job="demo") == 1


async def test_proposal_gauge_reads_every_state_from_the_database(
    fresh_repos: Repositories, telemetry: Telemetry
):
    for ws in ("T1", "T2"):
        await fresh_repos.workspaces.ensure(workspace_id=ws)
    for ws, status in (("T1", "pending"), ("T2", "pending"), ("T1", "rejected")):
        await fresh_repos.proposals.create(
            proposal=RemediationProposal(
                workspace_id=ws, action="noop", proposed_by="test", status=ProposalStatus(status)
            )
        )
    assert await fresh_repos.proposals.count_by_status() == {"pending": 2, "rejected": 1}
    assert await refresh_proposals(fresh_repos, telemetry)
    assert sample(telemetry, "sre_copilot_proposals", state="pending") == 2
    assert sample(telemetry, "sre_copilot_proposals", state="rejected") == 1
    assert telemetry.registry.get_sample_value("sre_copilot_proposals", {"state": "expired"}) == 0
    # a database that does not answer in time: the scrape goes on with the last values
    assert not await refresh_proposals(fresh_repos, telemetry, timeout_s=0)
    assert sample(telemetry, "sre_copilot_proposals", state="pending") == 2
    assert sample(telemetry, "sre_copilot_proposals_refresh_errors_total") == 1


# --------------------------------------------------------------------------- Slack ack kinds


@pytest.mark.parametrize(
    ("raw", "content_type", "kind"),
    [
        (b'{"type": "event_callback", "event": {}}', "application/json", "event"),
        (b'{"type": "url_verification"}', "application/json", "url_verification"),
        (b"command=%2Fsre&text=help", "application/x-www-form-urlencoded", "command"),
        (
            b"payload=%7B%22type%22%3A%22block_actions%22%7D",
            "application/x-www-form-urlencoded",
            "action",
        ),
        (
            b"payload=%7B%22type%22%3A%22view_submission%22%7D",
            "application/x-www-form-urlencoded",
            "view",
        ),
        (b"{not json", "application/json", "other"),
        (b"\xff\xfe", "application/x-www-form-urlencoded", "other"),
    ],
)
def test_slack_ack_kind(raw: bytes, content_type: str, kind: str):
    assert ack_kind(parse_slack_body(raw, content_type)) == kind
