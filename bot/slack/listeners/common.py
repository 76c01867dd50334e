"""Helpers shared by the listener modules."""

from __future__ import annotations

from typing import Any

from slack_bolt.context.async_context import AsyncBoltContext


def workspace_of(context: AsyncBoltContext, body: dict[str, Any]) -> str:
    """The workspace (Slack team) of a request: ChatService's ``workspace_id``."""
    team = (
        context.team_id
        or body.get("team_id")
        or (body.get("team") or {}).get("id")
        or context.enterprise_id
    )
    return str(team or "unknown")


def user_of(body: dict[str, Any]) -> str:
    """The id of the user who clicked or submitted (``""`` if Slack sent none)."""
    return str((body.get("user") or {}).get("id") or "")
