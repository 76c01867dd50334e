"""The Slack front-end's lifetime inside ``sre-copilot serve``.

``async with SlackRuntime(...)`` opens the Web API client, starts the background
lanes (``intake`` and ``answers``, see :mod:`bot.slack.services`), builds the Bolt
app and, in Socket Mode, connects to Slack. On exit it disconnects, lets queued work
finish (up to ``drain_timeout_s``) and closes the client. :meth:`SlackRuntime.handle`
serves ``/slack/events`` (and the OAuth pages) for the ASGI app.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from types import TracebackType

import aiohttp
from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
from slack_bolt.adapter.starlette.async_handler import AsyncSlackRequestHandler
from slack_bolt.async_app import AsyncApp
from slack_sdk.web.async_client import AsyncWebClient
from starlette.requests import Request
from starlette.responses import Response

from bot.chat import ChatService
from bot.config import SlackConfig
from bot.slack.app import build_app, build_client
from bot.slack.incidents import IncidentOps, SlackIncidentNotifier
from bot.slack.installation_store import DatabaseInstallationStore
from bot.slack.mode import SlackMode, SlackSetup
from bot.slack.services import SlackServices
from bot.slack.work import AckGate, BackgroundWork
from jobs.remediation import RemediationService
from memory.repositories import Repositories

logger = logging.getLogger(__name__)


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
    ) -> None:
        self.config = config
        self.setup = setup
        self._chat = chat
        self._repos = repos
        self._digest_cron = digest_cron
        self._drain_timeout = drain_timeout_s
        self._postmortem_on_resolve = postmortem_on_resolve
        self._remediation = remediation
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
            store = DatabaseInstallationStore(self._repos)

            async def lookup(workspace_id: str) -> str | None:
                bot = await store.async_find_bot(enterprise_id=None, team_id=workspace_id)
                return bot.bot_token if bot is not None else None

            token_for = lookup
        return SlackIncidentNotifier(self.client, token_for=token_for)

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
        if self.setup.socket_mode:
            app_token = self.config.app_token
            if app_token is None:  # mode.resolve() refuses this
                raise RuntimeError("Socket Mode without an app token")
            self._socket = AsyncSocketModeHandler(
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
        with self._gate.acking():
            return await self._handler.handle(request)

    async def aclose(self) -> None:
        """Disconnect, finish queued answers, close the client."""
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
