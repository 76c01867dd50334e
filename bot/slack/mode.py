"""Which Slack setup the settings describe (no Slack library imported here).

* **single workspace**: a bot token (``SRE_COPILOT_SLACK__BOT_TOKEN``);
* **multi-workspace OAuth**: a client id and secret; each workspace installs the app
  from ``/slack/install`` and its bot token is kept in the database;

and how events arrive:

* **HTTP** (``sre-copilot serve``): Slack POSTs to ``/slack/events``, signed with the
  signing secret (``SRE_COPILOT_SLACK__SIGNING_SECRET``);
* **Socket Mode** (``sre-copilot serve --socket-mode``): the bot opens a websocket to
  Slack with an app-level token (``SRE_COPILOT_SLACK__APP_TOKEN``); no public URL needed.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from bot.config import SlackConfig
from memory.errors import ConfigError


class SlackMode(StrEnum):
    """How the bot finds the token of a workspace."""

    SINGLE = "single-workspace"
    OAUTH = "oauth"


@dataclass(frozen=True)
class SlackSetup:
    """The resolved Slack setup."""

    mode: SlackMode
    socket_mode: bool

    @property
    def serves_http_events(self) -> bool:
        """Whether ``/slack/events`` is mounted (HTTP mode)."""
        return not self.socket_mode


def resolve(config: SlackConfig, *, socket_mode: bool = False) -> SlackSetup | None:
    """The Slack setup, or ``None`` when Slack is not configured for HTTP mode.

    Raises:
        ConfigError: the settings are half-done (OAuth id without secret) or
            ``socket_mode`` was asked for without what it needs.
    """
    if bool(config.client_id) != bool(config.client_secret):
        raise ConfigError(
            "SRE_COPILOT_SLACK__CLIENT_ID and SRE_COPILOT_SLACK__CLIENT_SECRET: "
            "multi-workspace OAuth needs both (or neither, with a bot token)"
        )
    mode = SlackMode.OAUTH if config.client_id else SlackMode.SINGLE
    if socket_mode:
        if config.app_token is None:
            raise ConfigError(
                "SRE_COPILOT_SLACK__APP_TOKEN: --socket-mode needs an app-level token (xapp-...)"
            )
        if mode is SlackMode.SINGLE and config.bot_token is None:
            raise ConfigError(
                "SRE_COPILOT_SLACK__BOT_TOKEN: --socket-mode needs the bot token (xoxb-...)"
            )
        return SlackSetup(mode=mode, socket_mode=True)
    if config.signing_secret is None or (mode is SlackMode.SINGLE and config.bot_token is None):
        return None
    return SlackSetup(mode=mode, socket_mode=False)


def missing_hint(config: SlackConfig) -> str:
    """What to set so that ``/slack/events`` is served (for the startup log)."""
    wanted = []
    if config.bot_token is None and not config.client_id:
        wanted.append("SRE_COPILOT_SLACK__BOT_TOKEN")
    if config.signing_secret is None:
        wanted.append("SRE_COPILOT_SLACK__SIGNING_SECRET")
    return "set " + " and ".join(wanted) + " (or an app token and --socket-mode)"
