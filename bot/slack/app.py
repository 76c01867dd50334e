"""Build the Bolt ``AsyncApp`` and its Web API client from Settings.

One :class:`~slack_sdk.web.async_client.AsyncWebClient` (on a shared aiohttp
session, so connections are reused) talks to ``SRE_COPILOT_SLACK__API_BASE_URL``
(Slack by default, a loopback stub in tests). Rate limits (HTTP 429) are retried
honouring ``Retry-After`` and connection errors are retried with backoff, by
slack_sdk's retry handlers. Server errors are not retried: ``chat.postMessage`` is
not idempotent, and a retried post could answer twice.

The app runs with ``process_before_response=True``: each listener acks and hands its
work to the background lanes itself (:mod:`bot.slack.services`), so Bolt never starts untracked
tasks and the ack is the listener's first and only awaited step.
"""

from __future__ import annotations

import logging

import aiohttp
from slack_bolt.async_app import AsyncApp
from slack_bolt.authorization.async_authorize import AsyncInstallationStoreAuthorize
from slack_bolt.oauth.async_oauth_settings import AsyncOAuthSettings
from slack_sdk.http_retry.async_handler import AsyncRetryHandler
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncRateLimitErrorRetryHandler,
)
from slack_sdk.web.async_client import AsyncWebClient

from bot.config import SlackConfig
from bot.slack.installation_store import DatabaseInstallationStore, SignedStateStore
from bot.slack.listeners import register_all
from bot.slack.mode import SlackMode, SlackSetup
from bot.slack.services import SlackServices
from memory.errors import ConfigError
from memory.repositories import Repositories

logger = logging.getLogger(__name__)

DEFAULT_API_BASE_URL = "https://slack.com/api/"

BOT_SCOPES = (
    "app_mentions:read",
    "channels:history",
    "chat:write",
    "commands",
    "files:write",
    "groups:history",
    "im:history",
    "mpim:history",
    "users:read",
)
"""Bot scopes the app asks for (``manifest.yaml`` lists the same; a test checks it)."""

INSTALL_PATH = "/slack/install"
REDIRECT_PATH = "/slack/oauth_redirect"
EVENTS_PATH = "/slack/events"


def api_base_url(config: SlackConfig) -> str:
    """The Web API base URL, with the trailing slash slack_sdk expects."""
    url = config.api_base_url or DEFAULT_API_BASE_URL
    return url if url.endswith("/") else url + "/"


def retry_handlers() -> list[AsyncRetryHandler]:
    """429s (honouring ``Retry-After``) and connection errors are retried."""
    return [
        AsyncRateLimitErrorRetryHandler(max_retry_count=3),
        AsyncConnectionErrorRetryHandler(max_retry_count=2),
    ]


def build_client(config: SlackConfig, *, session: aiohttp.ClientSession) -> AsyncWebClient:
    """The Web API client (bot token in single-workspace mode; none with OAuth)."""
    token = None
    if config.bot_token is not None and not config.client_id:
        token = config.bot_token.get_secret_value()
    return AsyncWebClient(
        token=token,
        base_url=api_base_url(config),
        session=session,
        timeout=30,
        retry_handlers=retry_handlers(),
    )


def build_app(
    *,
    config: SlackConfig,
    setup: SlackSetup,
    client: AsyncWebClient,
    repos: Repositories,
    services: SlackServices,
) -> AsyncApp:
    """The Bolt app with every listener registered."""
    signing_secret = config.signing_secret.get_secret_value() if config.signing_secret else ""
    bolt_logger = logging.getLogger("bot.slack.bolt")
    if setup.mode is SlackMode.SINGLE:
        app = AsyncApp(
            name="sre-copilot",
            logger=bolt_logger,
            signing_secret=signing_secret,
            client=client,
            process_before_response=True,
        )
        register_all(app, services)
        return app
    if config.client_id is None or config.client_secret is None:  # resolve() checked it
        raise ConfigError("SRE_COPILOT_SLACK__CLIENT_ID: OAuth needs a client id and secret")
    client_secret = config.client_secret.get_secret_value()
    state_secret = config.state_secret.get_secret_value() if config.state_secret else client_secret
    store = DatabaseInstallationStore(repos)
    oauth = AsyncOAuthSettings(
        client_id=config.client_id,
        client_secret=client_secret,
        scopes=list(BOT_SCOPES),
        user_scopes=[],
        redirect_uri=config.redirect_url,
        install_path=INSTALL_PATH,
        redirect_uri_path=REDIRECT_PATH,
        installation_store=store,
        installation_store_bot_only=True,
        state_store=SignedStateStore(secret=state_secret),
        logger=bolt_logger,
    )
    # Our own authorize, to cache auth.test per token (the default calls it per event).
    authorize = AsyncInstallationStoreAuthorize(
        logger=bolt_logger,
        installation_store=store,
        client_id=config.client_id,
        client_secret=client_secret,
        bot_only=True,
        cache_enabled=True,
    )
    app = AsyncApp(
        name="sre-copilot",
        logger=bolt_logger,
        signing_secret=signing_secret,
        client=client,
        oauth_settings=oauth,
        # Bolt accepts an AsyncAuthorize instance here (it checks isinstance first).
        authorize=authorize,  # type: ignore[arg-type]
        installation_store=store,
        installation_store_bot_only=True,
        process_before_response=True,
    )
    register_all(app, services, oauth=True)
    return app
