"""Multi-workspace OAuth storage: installations and OAuth state, over our database.

:class:`DatabaseInstallationStore` implements slack_sdk's ``AsyncInstallationStore``
on the ``slackinstallation`` table (``memory.models.SlackInstallation``), so every
replica sees every installation. Tokens are stored in plain text, as Slack returns
them (like slack_sdk's own SQL stores): restrict access to the database and its
backups. They are never logged: log lines name the workspace and installer only.

:class:`SignedStateStore` implements ``AsyncOAuthStateStore`` without storage: the
state is ``<issued-at>.<nonce>.<HMAC>`` under a secret, valid for a few minutes, so
the install and redirect requests may hit different replicas. Bolt also binds the
state to the browser with a cookie, which stops forged callbacks.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from slack_sdk.oauth.installation_store.async_installation_store import AsyncInstallationStore
from slack_sdk.oauth.installation_store.models.bot import Bot
from slack_sdk.oauth.installation_store.models.installation import Installation
from slack_sdk.oauth.state_store.async_state_store import AsyncOAuthStateStore

from memory.models import SlackInstallation
from memory.repositories import Repositories

logger = logging.getLogger(__name__)


def workspace_key(
    *, enterprise_id: str | None, team_id: str | None, is_enterprise_install: bool | None
) -> str:
    """Our ``workspace_id`` for an installation: the team id (enterprise id for org installs)."""
    if is_enterprise_install or not team_id:
        if not enterprise_id:
            raise ValueError("an installation needs a team id or an enterprise id")
        return enterprise_id
    return team_id


def _ts(value: int | float | None) -> datetime | None:
    return None if value is None else datetime.fromtimestamp(value, tz=UTC)


def _scopes(value: Any) -> str:
    if isinstance(value, str):
        return value
    return ",".join(value or [])


def to_row(installation: Installation) -> SlackInstallation:
    """An slack_sdk installation as our table row."""
    return SlackInstallation(
        workspace_id=workspace_key(
            enterprise_id=installation.enterprise_id,
            team_id=installation.team_id,
            is_enterprise_install=installation.is_enterprise_install,
        ),
        enterprise_id=installation.enterprise_id,
        enterprise_name=installation.enterprise_name,
        enterprise_url=installation.enterprise_url,
        team_name=installation.team_name,
        is_enterprise_install=bool(installation.is_enterprise_install),
        app_id=installation.app_id,
        bot_id=installation.bot_id,
        bot_user_id=installation.bot_user_id,
        bot_token=installation.bot_token,
        bot_scopes=_scopes(installation.bot_scopes),
        bot_refresh_token=installation.bot_refresh_token,
        bot_token_expires_at=_ts(installation.bot_token_expires_at),
        installer_user_id=installation.user_id,
        user_token=installation.user_token,
        user_scopes=_scopes(installation.user_scopes),
        user_refresh_token=installation.user_refresh_token,
        user_token_expires_at=_ts(installation.user_token_expires_at),
        incoming_webhook_url=installation.incoming_webhook_url,
        incoming_webhook_channel=installation.incoming_webhook_channel,
        incoming_webhook_channel_id=installation.incoming_webhook_channel_id,
        incoming_webhook_configuration_url=installation.incoming_webhook_configuration_url,
        token_type=installation.token_type,
        custom_values=dict(installation.custom_values or {}),
        installed_at=_ts(installation.installed_at) or datetime.now(UTC),
    )


def to_installation(row: SlackInstallation) -> Installation:
    """Our table row as an slack_sdk installation."""
    return Installation(
        app_id=row.app_id,
        enterprise_id=row.enterprise_id,
        enterprise_name=row.enterprise_name,
        enterprise_url=row.enterprise_url,
        team_id=None if row.is_enterprise_install else row.workspace_id,
        team_name=row.team_name,
        bot_token=row.bot_token,
        bot_id=row.bot_id,
        bot_user_id=row.bot_user_id,
        bot_scopes=row.bot_scopes,
        bot_refresh_token=row.bot_refresh_token,
        bot_token_expires_at=row.bot_token_expires_at,
        user_id=row.installer_user_id,
        user_token=row.user_token,
        user_scopes=row.user_scopes,
        user_refresh_token=row.user_refresh_token,
        user_token_expires_at=row.user_token_expires_at,
        incoming_webhook_url=row.incoming_webhook_url,
        incoming_webhook_channel=row.incoming_webhook_channel,
        incoming_webhook_channel_id=row.incoming_webhook_channel_id,
        incoming_webhook_configuration_url=row.incoming_webhook_configuration_url,
        is_enterprise_install=row.is_enterprise_install,
        token_type=row.token_type,
        installed_at=row.installed_at,
        custom_values=dict(row.custom_values),
    )


class DatabaseInstallationStore(AsyncInstallationStore):
    """slack_sdk's installation store interface over ``Repositories.slack_installations``."""

    def __init__(self, repos: Repositories) -> None:
        self._repos = repos

    @property
    def logger(self) -> logging.Logger:
        """The logger slack_sdk expects."""
        return logger

    async def async_save(self, installation: Installation) -> None:
        """Store (or replace) an installation."""
        row = to_row(installation)
        await self._repos.workspaces.ensure(
            workspace_id=row.workspace_id, name=row.team_name or row.enterprise_name or ""
        )
        await self._repos.slack_installations.save(installation=row)
        logger.info(
            "Slack app installed in %s by %s (bot user %s)",
            row.workspace_id,
            row.installer_user_id,
            row.bot_user_id,
        )

    async def async_save_bot(self, bot: Bot) -> None:
        """Store refreshed bot credentials (token rotation) on the latest installation."""
        ws = workspace_key(
            enterprise_id=bot.enterprise_id,
            team_id=bot.team_id,
            is_enterprise_install=bot.is_enterprise_install,
        )
        latest = await self._repos.slack_installations.find(workspace_id=ws)
        if latest is None:
            await self._repos.workspaces.ensure(workspace_id=ws, name=bot.team_name or "")
            latest = SlackInstallation(workspace_id=ws, installer_user_id="")
        latest.bot_token = bot.bot_token
        latest.bot_id, latest.bot_user_id = bot.bot_id, bot.bot_user_id
        latest.bot_scopes = _scopes(bot.bot_scopes)
        latest.bot_refresh_token = bot.bot_refresh_token
        latest.bot_token_expires_at = _ts(bot.bot_token_expires_at)
        await self._repos.slack_installations.save(installation=latest)

    async def async_find_bot(
        self,
        *,
        enterprise_id: str | None,
        team_id: str | None,
        is_enterprise_install: bool | None = False,
    ) -> Bot | None:
        """The bot credentials of a workspace, or ``None`` if not installed there."""
        try:
            ws = workspace_key(
                enterprise_id=enterprise_id,
                team_id=team_id,
                is_enterprise_install=is_enterprise_install,
            )
        except ValueError:
            return None
        row = await self._repos.slack_installations.find_bot(workspace_id=ws)
        if row is None:
            return None
        return to_installation(row).to_bot()

    async def async_find_installation(
        self,
        *,
        enterprise_id: str | None,
        team_id: str | None,
        user_id: str | None = None,
        is_enterprise_install: bool | None = False,
    ) -> Installation | None:
        """The latest installation of a workspace (by ``user_id`` when given)."""
        try:
            ws = workspace_key(
                enterprise_id=enterprise_id,
                team_id=team_id,
                is_enterprise_install=is_enterprise_install,
            )
        except ValueError:
            return None
        row = await self._repos.slack_installations.find(workspace_id=ws, installer_user_id=user_id)
        return None if row is None else to_installation(row)

    async def async_delete_bot(self, *, enterprise_id: str | None, team_id: str | None) -> None:
        """Forget a workspace's bot token (Slack revoked it)."""
        ws = workspace_key(enterprise_id=enterprise_id, team_id=team_id, is_enterprise_install=None)
        count = await self._repos.slack_installations.clear_bot(workspace_id=ws)
        logger.info("forgot the bot token of %s (%d installations)", ws, count)

    async def async_delete_installation(
        self, *, enterprise_id: str | None, team_id: str | None, user_id: str | None = None
    ) -> None:
        """Delete a workspace's installations (one installer's, when given)."""
        ws = workspace_key(enterprise_id=enterprise_id, team_id=team_id, is_enterprise_install=None)
        count = await self._repos.slack_installations.delete(
            workspace_id=ws, installer_user_id=user_id
        )
        logger.info("deleted %d Slack installations of %s", count, ws)


class SignedStateStore(AsyncOAuthStateStore):
    """Stateless OAuth ``state``: issued-at, a nonce and an HMAC, valid ``expiration_s``."""

    def __init__(
        self,
        *,
        secret: str,
        expiration_s: int = 600,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not secret:
            raise ValueError("the OAuth state secret must not be empty")
        self._key = secret.encode()
        self._expiration = expiration_s
        self._clock = clock

    @property
    def logger(self) -> logging.Logger:
        """The logger slack_sdk expects."""
        return logger

    def _sign(self, payload: str) -> str:
        return hmac.new(self._key, payload.encode(), hashlib.sha256).hexdigest()[:32]

    async def async_issue(self, *args: Any, **kwargs: Any) -> str:  # noqa: ARG002
        """A new state value."""
        payload = f"{int(self._clock())}.{secrets.token_urlsafe(16)}"
        return f"{payload}.{self._sign(payload)}"

    async def async_consume(self, state: str) -> bool:
        """Whether ``state`` was issued by us and has not expired."""
        payload, _, signature = state.rpartition(".")
        issued, _, nonce = payload.partition(".")
        if not (issued.isdigit() and nonce and signature):
            return False
        if not hmac.compare_digest(signature, self._sign(payload)):
            logger.warning("OAuth callback with a forged state refused")
            return False
        age = self._clock() - int(issued)
        if not 0 <= age <= self._expiration:
            logger.info("OAuth callback with an expired state refused")
            return False
        return True


def installation_token_lookup(repos: Repositories) -> Callable[[str], Awaitable[str | None]]:
    """Each workspace's bot token from the OAuth installations in the database."""
    store = DatabaseInstallationStore(repos)

    async def lookup(workspace_id: str) -> str | None:
        bot = await store.async_find_bot(enterprise_id=None, team_id=workspace_id)
        return bot.bot_token if bot is not None else None

    return lookup
