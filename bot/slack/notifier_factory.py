"""A Slack poster for processes that post but take no Slack events (``jobs serve``).

``sre-copilot serve`` gets its :class:`~bot.slack.incidents.SlackIncidentNotifier`
from :meth:`bot.slack.runtime.SlackRuntime.incident_notifier`, which needs the whole
front-end (Bolt app, lanes, signing secret). The scheduler process only posts, so
:func:`open_incident_notifier` builds the same notifier from the same parts
(:func:`bot.slack.app.build_client`, the OAuth installation store) with nothing else:
a bot token is enough in single-workspace mode, a client id with OAuth installs.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import aiohttp

from bot.config import SlackConfig
from bot.slack.app import build_client
from bot.slack.incidents import SlackIncidentNotifier
from bot.slack.installation_store import installation_token_lookup
from bot.slack.mode import SlackMode
from memory.errors import ConfigError
from memory.repositories import Repositories


def posting_mode(config: SlackConfig) -> SlackMode | None:
    """How a posting-only process finds its token; ``None`` when it has none.

    OAuth installs (a client id) find each workspace's token in the database, as
    :func:`bot.slack.mode.resolve` and :func:`bot.slack.app.build_client` decide it.
    """
    if config.client_id:
        return SlackMode.OAUTH
    if config.bot_token is not None:
        return SlackMode.SINGLE
    return None


@asynccontextmanager
async def open_incident_notifier(
    config: SlackConfig, repos: Repositories
) -> AsyncIterator[SlackIncidentNotifier]:
    """A notifier with its own Web API client, closed when the block ends.

    Raises:
        ConfigError: Neither a bot token nor an OAuth client id is set.
    """
    mode = posting_mode(config)
    if mode is None:
        raise ConfigError(
            "SRE_COPILOT_SLACK__BOT_TOKEN: posting to Slack needs the bot token "
            "(or SRE_COPILOT_SLACK__CLIENT_ID with OAuth installs)"
        )
    async with aiohttp.ClientSession() as session:
        client = build_client(config, session=session)
        token_for = installation_token_lookup(repos) if mode is SlackMode.OAUTH else None
        yield SlackIncidentNotifier(client, token_for=token_for)
