"""The Slack front-end's lifetime inside ``sre-copilot serve``.

``async with SlackRuntime(...)`` opens the Web API client, starts the background
lanes (``intake`` and ``answers``, see :mod:`bot.slack.services`), builds the Bolt
app and, in Socket Mode, connects to Slack. On exit it disconnects, lets queued work
finish (up to ``drain_timeout_s``) and closes the client. With remediation it also
expires overdue proposals every ``proposal_expiry_interval_s`` and marks their messages
expired in place (:func:`jobs.proposals.run_expiry`). :meth:`SlackRuntime.handle`
serves ``/slack/events`` (and the OAuth pages) for the ASGI app.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from datetime import UTC, datetime
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs

import aiohttp
from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
from slack_bolt.adapter.starlette.async_handler import AsyncSlackRequestHandler
from slack_bolt.async_app import AsyncApp
from slack_sdk.socket_mode.aiohttp import SocketModeClient
from slack_sdk.socket_mode.request import SocketModeRequest
from slack_sdk.web.async_client import AsyncWebClient
from starlette.requests import Request
from starlette.responses import Response

from bot.chat import ChatService
from bot.config import SlackConfig
from bot.slack.app import build_app, build_client
from bot.slack.incidents import IncidentOps, SlackIncidentNotifier
from bot.slack.installation_store import installation_token_lookup
from bot.slack.mode import SlackMode, SlackSetup
from bot.slack.proposals import SlackProposalMessages
from bot.slack.services import SlackServices
from bot.slack.work import AckGate, BackgroundWork
from jobs.proposals import run_expiry
from jobs.remediation import RemediationService
from memory.repositories import Repositories
from tools.telemetry import current

logger = logging.getLogger(__name__)

_INTERACTIVE_KINDS = {
    "block_actions": "action",
    "interactive_message": "action",
    "dialog_submission": "action",
    "view_submission": "view",
    "view_closed": "view",
    "shortcut": "shortcut",
    "message_action": "shortcut",
    "block_suggestion": "options",
    "dialog_suggestion": "options",
}


def ack_kind(body: dict[str, Any]) -> str:
    """The ``kind`` label of a Slack request: event, command, action, view, ... or other."""
    kind = body.get("type")
    if kind == "event_callback":
        return "event"
    if kind == "url_verification":
        return "url_verification"
    if "command" in body:
        return "command"
    return _INTERACTIVE_KINDS.get(str(kind), "other")


def parse_slack_body(raw: bytes, content_type: str) -> dict[str, Any]:
    """Parse an HTTP body as Slack sends it (JSON, a form, or a form with ``payload``)."""
    try:
        text = raw.decode()
        if content_type.startswith("application/json"):
            parsed = json.loads(text)
            return parsed if isinstance(parsed, dict) else {}
        form = {k: v[0] for k, v in parse_qs(text).items()}
        if "payload" in form:
            payload = json.loads(form["payload"])
            return payload if isinstance(payload, dict) else {}
        return form
    except ValueError:  # JSON and UTF-8 errors: not a Slack request
        return {}


class _MeteredSocketModeHandler(AsyncSocketModeHandler):
    """Bolt's Socket Mode handler, counting each ack like the HTTP path does."""

    async def handle(  # Bolt's aiohttp handler narrows the client type the same way
        self,
        client: SocketModeClient,  # type: ignore[override]
        req: SocketModeRequest,
    ) -> None:
        started = time.perf_counter()
        await super().handle(client, req)
        current().observe_slack_ack(
            kind=ack_kind(req.payload), status=200, seconds=time.perf_counter() - started
        )


class SlackRuntime:
    """Bolt app, Web API client, background workers and (optionally) the Socket Mode link."""

    def __init__(
        self,
        *,
        config: SlackConfig,
        setup: SlackSetup,
        chat: ChatService,
        repos: Repositories,
        digest_cron: str = "0 9 * * mon",
        drain_timeout_s: float = 30.0,
        postmortem_on_resolve: bool = False,
        remediation: RemediationService | None = None,
        proposal_expiry_interval_s: float = 30.0,
    ) -> None:
        self.config = config
        self.setup = setup
        self._chat = chat
        self._repos = repos
        self._digest_cron = digest_cron
        self._drain_timeout = drain_timeout_s
        self._postmortem_on_resolve = postmortem_on_resolve
        self._remediation = remediation
        self._expiry_interval_s = proposal_expiry_interval_s
        self._expiry_stop = asyncio.Event()
        self._expiry_task: asyncio.Task[None] | None = None
        self._session: aiohttp.ClientSession | None = None
        self._client: AsyncWebClient | None = None
        self._app: AsyncApp | None = None
        self._services: SlackServices | None = None
        self._handler: AsyncSlackRequestHandler | None = None
        self._socket: AsyncSocketModeHandler | None = None
        self._gate = AckGate()

    @property
    def app(self) -> AsyncApp:
        """The Bolt app (once entered)."""
        if self._app is None:
            raise RuntimeError("SlackRuntime is not started")
        return self._app

    @property
    def client(self) -> AsyncWebClient:
        """The Web API client (once entered)."""
        if self._client is None:
            raise RuntimeError("SlackRuntime is not started")
        return self._client

    def incident_notifier(self) -> SlackIncidentNotifier:
        """The :class:`jobs.notify.IncidentNotifier` for :class:`jobs.notify.IncidentFeed`.

        With OAuth installs, each workspace's bot token is looked up in the database.
        """
        token_for = None
        if self.setup.mode is not SlackMode.SINGLE:
            token_for = installation_token_lookup(self._repos)
        return SlackIncidentNotifier(self.client, token_for=token_for, repos=self._repos)

    @property
    def services(self) -> SlackServices:
        """The workflows the listeners delegate to (once entered)."""
        if self._services is None:
            raise RuntimeError("SlackRuntime is not started")
        return self._services

    async def __aenter__(self) -> SlackRuntime:
        try:
            await self.start()
        except BaseException:
            await self.aclose()
            raise
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def start(self) -> None:
        """Build everything; in Socket Mode, connect to Slack."""
        self._session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=64))
        self._client = build_client(self.config, session=self._session)
        intake = BackgroundWork(workers=self.config.workers, name="slack-intake")
        answers = BackgroundWork(workers=self.config.workers, name="slack-answers", yield_to=intake)
        intake.start()
        answers.start()
        self._services = SlackServices(
            chat=self._chat,
            repos=self._repos,
            intake=intake,
            answers=answers,
            digest_cron=self._digest_cron,
            incidents=IncidentOps(
                repos=self._repos, postmortem_on_resolve=self._postmortem_on_resolve
            ),
            clock=lambda: datetime.now(UTC),
            remediation=self._remediation,
        )
        self._app = build_app(
            config=self.config,
            setup=self.setup,
            client=self._client,
            repos=self._repos,
            services=self._services,
        )
        self._handler = AsyncSlackRequestHandler(self._app)
        if self._remediation is not None:
            # expired proposals' messages lose their buttons in place (every replica runs
            # this; the compare-and-set lets one of them expire and update each proposal)
            notifier = self.incident_notifier()
            self._expiry_task = asyncio.create_task(
                run_expiry(
                    service=self._remediation,
                    sink=SlackProposalMessages(notifier.client, token_for=notifier.token_for),
                    stop=self._expiry_stop,
                    interval_s=self._expiry_interval_s,
                ),
                name="proposal-expiry",
            )
        if self.setup.socket_mode:
            app_token = self.config.app_token
            if app_token is None:  # mode.resolve() refuses this
                raise RuntimeError("Socket Mode without an app token")
            self._socket = _MeteredSocketModeHandler(
                self._app, app_token=app_token.get_secret_value(), web_client=self._client
            )
            await self._socket.connect_async()  # type: ignore[no-untyped-call]
            logger.info("Slack Socket Mode connected (%s)", self.setup.mode.value)
        else:
            logger.info("Slack events served over HTTP (%s)", self.setup.mode.value)

    async def handle(self, request: Request) -> Response:
        """Serve a Slack HTTP request (events, commands, interactivity, OAuth pages)."""
        if self._handler is None:
            return Response("Slack is starting", status_code=503)
        started = time.perf_counter()
        with self._gate.acking():
            response = await self._handler.handle(request)
        if request.method == "POST":  # GETs are the OAuth pages, not acks
            body = parse_slack_body(await request.body(), request.headers.get("content-type", ""))
            current().observe_slack_ack(
                kind=ack_kind(body),
                status=response.status_code,
                seconds=time.perf_counter() - started,
            )
        return response

    async def aclose(self) -> None:
        """Disconnect, finish queued answers, close the client."""
        self._expiry_stop.set()
        if self._expiry_task is not None:
            await self._expiry_task
            self._expiry_task = None
        if self._socket is not None:
            await self._socket.close_async()  # type: ignore[no-untyped-call]
            self._socket = None
        self._handler = None
        if self._services is not None:
            # intake first: what it finishes may still hand answers over
            await self._services.intake.aclose(timeout=self._drain_timeout)
            await self._services.answers.aclose(timeout=self._drain_timeout)
        if self._session is not None:
            await self._session.close()
            self._session = None
