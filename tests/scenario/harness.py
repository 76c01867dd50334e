"""Serve the real ASGI app (``bot.web.create_app``) on 127.0.0.1 and talk to it like Slack.

``SlackHarness`` starts uvicorn in the test's event loop on a free port, with the
Slack Web API pointed at the loopback stub, and sends signed requests over real HTTP
(httpx). ``ScriptedResponder`` stands in for the investigation agent where a test
needs a known answer (hypotheses with stored ids, a chart, a huge reply); it is
plugged in through ``create_app(container_factory=...)`` so everything else (Bolt,
listeners, ChatService, the database) is the production code.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import struct
import zlib
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import uvicorn

from agents.reply import Attachment, Evidence, HypothesisView, Reply, RunbookRef, Section
from bot.chat import ChatService
from bot.config import Settings
from bot.container import Container
from bot.web import create_app
from memory.db import Database
from memory.models import ConversationTurn, Hypothesis
from memory.repositories import Repositories
from tests.scenario import slack_payloads as sp
from tests.stubs.slack_api import BOT_TOKEN, SIGNING_SECRET, SlackApiStub, SlackCall

SETTLE_CHANNEL = "D0SETTLE"


def slack_settings(data_dir: Path, stub: SlackApiStub, **slack: Any) -> Settings:
    """Test settings: SQLite in ``data_dir``, Slack pointed at the stub, nothing else."""
    config: dict[str, Any] = {
        "bot_token": BOT_TOKEN,
        "signing_secret": SIGNING_SECRET,
        "api_base_url": stub.base_url,
        "workers": 1,  # FIFO: settle() below is a barrier; concurrency tests raise it
    }
    config.update(slack)
    return Settings(
        _env_file=None,  # type: ignore[call-arg]
        environment="test",
        data_dir=data_dir,
        log_level="WARNING",
        slack={k: v for k, v in config.items() if v is not None},
    )


def tiny_png(path: Path) -> Path:
    """Write a valid 1x1 PNG (a stand-in chart)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    raw = b"\x00\xff\x00\x00"
    png = (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0))
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )
    path.write_bytes(png)
    return path


@dataclass
class ScriptedResponder:
    """Known answers by keyword; records what it was asked (and the history it saw)."""

    repos: Repositories
    chart_dir: Path
    gate: asyncio.Event | None = None
    seen: list[tuple[str, str, list[str]]] = field(default_factory=list)

    async def respond(
        self,
        *,
        workspace_id: str,
        conversation_key: str,
        text: str,
        history: Sequence[ConversationTurn],
    ) -> Reply:
        self.seen.append((conversation_key, text, [t.text for t in history]))
        if self.gate is not None:
            await self.gate.wait()
        if "checkout" in text:
            return await self.investigation(workspace_id, conversation_key)
        if "chart" in text:
            chart = tiny_png(self.chart_dir / "checkout-p99.png")
            return Reply(
                text="p99 latency of **checkout** is *1.2 s* (SLO 500 ms).",
                promql=[
                    "histogram_quantile(0.99, sum by (le) "
                    '(rate(http_seconds_bucket{service="checkout"}[5m]))) > 0.5'
                ],
                attachments=[
                    Attachment(filename=chart.name, title="checkout p99", path=str(chart))
                ],
            )
        if "huge" in text:
            return Reply(
                text="A very long answer.",
                sections=[
                    Section(title=f"Part {i}", body=("word " * 700).strip()) for i in range(80)
                ],
            )
        if "boom" in text:
            raise RuntimeError("responder exploded")
        return Reply(text=f"echo: {text}")

    async def investigation(self, workspace_id: str, conversation_key: str) -> Reply:
        views = [
            HypothesisView(
                title="checkout: database connection pool exhausted",
                confidence=0.82,
                fault="db_connections",
                service="checkout",
                rationale="Connections hit the pool limit **4 minutes** before the 5xx spike.",
                evidence=[
                    Evidence(
                        source="prometheus http://prom:9090",
                        summary="pool usage 30% → 100%",
                        query='max(pg_pool_used{service="checkout"})'
                        ' / max(pg_pool_max{service="checkout"})',
                        time_range="10:00–10:30",
                        value="100%",
                    ),
                    Evidence(source="alertmanager", summary="CheckoutHighErrorRate firing"),
                ],
            ),
            HypothesisView(
                title="checkout: deploy v2.3.1", confidence=0.41, fault="deploy", service="checkout"
            ),
        ]
        rows = [
            Hypothesis(
                workspace_id=workspace_id,
                conversation_key=conversation_key,
                rank=i,
                title=v.title,
                fault=v.fault,
                service=v.service,
                confidence=v.confidence,
                evidence=[e.model_dump(mode="json") for e in v.evidence],
            )
            for i, v in enumerate(views, start=1)
        ]
        stored = await self.repos.hypotheses.add_many(workspace_id=workspace_id, hypotheses=rows)
        for view, row in zip(views, stored, strict=True):
            view.id = row.id
        return Reply(
            text="**checkout** is failing: most likely its database connection pool.",
            hypotheses=views,
            runbooks=[
                RunbookRef(
                    title="Database pool exhaustion", path="runbooks/db-pool.md", section="Mitigate"
                )
            ],
            promql=['sum(rate(http_requests_total{service="checkout",code=~"5.."}[5m]))'],
        )


@contextlib.asynccontextmanager
async def serve_asgi(app: Any) -> AsyncIterator[str]:
    """Run ``app`` under uvicorn on 127.0.0.1 (free port) in this loop; yield its URL."""
    config = uvicorn.Config(
        app, host="127.0.0.1", port=0, lifespan="on", log_level="warning", ws="none"
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()  # raises the startup failure
            raise RuntimeError("uvicorn exited during startup")
        await asyncio.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


@dataclass
class SlackHarness:
    """A served app, the stub it talks to, and a client that signs like Slack."""

    stub: SlackApiStub
    http: httpx.AsyncClient
    settings: Settings
    db: Database
    repos: Repositories
    responder: ScriptedResponder | None

    async def post(
        self,
        body: str,
        *,
        content_type: str,
        timestamp: int | None = None,
        secret: str = SIGNING_SECRET,
        retry_num: int | None = None,
        headers: dict[str, str] | None = None,
    ) -> httpx.Response:
        sent = sp.signed_headers(
            body, content_type=content_type, timestamp=timestamp, secret=secret, retry_num=retry_num
        )
        if headers is not None:
            sent = headers
        return await self.http.post("/slack/events", content=body.encode(), headers=sent)

    async def event(
        self,
        event: dict[str, Any],
        *,
        event_id: str | None = None,
        retry_num: int | None = None,
        team_id: str | None = None,
    ) -> httpx.Response:
        body = sp.event_body(event, event_id=event_id, **({"team_id": team_id} if team_id else {}))
        return await self.post(json.dumps(body), content_type=sp.JSON, retry_num=retry_num)

    async def command(self, text: str, **kwargs: Any) -> httpx.Response:
        fields = sp.command_form(text, response_url=self.stub.response_url(), **kwargs)
        return await self.post(sp.form_body(fields), content_type=sp.FORM)

    async def interact(self, payload: dict[str, Any]) -> httpx.Response:
        return await self.post(sp.interactivity_body(payload), content_type=sp.FORM)

    async def settle(self) -> None:
        """Wait until every job queued so far is done (needs ``workers=1``: FIFO).

        Sends a DM to a dedicated channel and waits for its answer; ``calls()``
        leaves that channel out.
        """
        ping = sp.message(f"settle {sp.new_ts()}", channel=SETTLE_CHANNEL, channel_type="im")
        await self.event(ping)
        await self.stub.wait_for(
            lambda: any(
                c.params.get("channel") == SETTLE_CHANNEL
                and c.params.get("text", "").endswith(ping["text"])
                for c in self.stub.calls("chat.update")
            ),
            what="the settle message",
        )

    def calls(self, method: str) -> list[SlackCall]:
        """Stub calls of ``method``, without those of :meth:`settle`."""
        return [
            c
            for c in self.stub.calls(method)
            if c.params.get("channel", c.params.get("channel_id")) != SETTLE_CHANNEL
        ]

    async def turns(self, key: str, workspace_id: str = "T0TEST") -> list[ConversationTurn]:
        return await self.repos.conversations.history(
            workspace_id=workspace_id, conversation_key=key, limit=100
        )


def scripted_container(
    responder_box: dict[str, ScriptedResponder],
    gate: asyncio.Event | None,
    customize: Callable[[Container], None] | None = None,
) -> Callable[[Settings], Container]:
    """A container factory whose ChatService answers with a :class:`ScriptedResponder`.

    ``customize`` then adjusts the built container (e.g. its remediation service).
    """

    def build(settings: Settings) -> Container:
        container = Container(settings)
        if customize is not None:
            customize(container)
        chart_dir = settings.data_dir / "charts"
        chart_dir.mkdir(parents=True, exist_ok=True)
        responder = ScriptedResponder(repos=container.repos, chart_dir=chart_dir, gate=gate)
        responder_box["responder"] = responder
        container.chat = ChatService(
            repos=container.repos, capabilities=container.capabilities, responder=responder
        )
        return container

    return build


@contextlib.asynccontextmanager
async def running_app(
    settings: Settings,
    stub: SlackApiStub,
    *,
    scripted: bool = True,
    gate: asyncio.Event | None = None,
    socket_mode: bool = False,
    customize: Callable[[Container], None] | None = None,
) -> AsyncIterator[SlackHarness]:
    """The production ASGI app served on loopback, with an optional scripted responder.

    ``customize`` adjusts the container before the app uses it (scripted mode only).
    """
    box: dict[str, ScriptedResponder] = {}
    if customize is not None and not scripted:
        raise ValueError("customize needs scripted=True")
    factory = scripted_container(box, gate, customize) if scripted else Container
    app = create_app(settings, socket_mode=socket_mode, container_factory=factory)
    async with serve_asgi(app) as url:
        db = Database(settings.database_url)
        try:
            async with httpx.AsyncClient(base_url=url, timeout=10) as http:
                yield SlackHarness(
                    stub=stub,
                    http=http,
                    settings=settings,
                    db=db,
                    repos=Repositories.build(db),
                    responder=box.get("responder"),
                )
        finally:
            await db.dispose()


__all__ = ["SlackHarness", "running_app", "serve_asgi", "slack_settings"]
