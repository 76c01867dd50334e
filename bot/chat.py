"""Transport-neutral chat: inbound text + conversation key → :class:`agents.reply.Reply`.

Slack and the console both drive :class:`ChatService`; it keeps each conversation's
history in the database (per workspace and conversation key, e.g.
``slack:C123:1700000000.000100`` or ``console:default``), answers the built-in
commands itself and hands everything else to a :class:`Responder` (the
investigation agent, plugged in by the container).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable, Sequence
from typing import Protocol

from agents.reply import Capability, Reply, Section
from bot import messages
from bot.observability import log_context
from memory.errors import CopilotError
from memory.models import ConversationTurn
from memory.repositories import Repositories

logger = logging.getLogger(__name__)

CapabilityProbe = Callable[[], Awaitable[list[Capability]]]

_HELP = re.compile(r"^\s*(/?help|\?|what can you do\??)\s*$", re.IGNORECASE)
_STATUS = re.compile(r"^\s*/?(status|capabilities|integrations)\s*$", re.IGNORECASE)
_HISTORY = re.compile(r"^\s*/?history\s*$", re.IGNORECASE)


class Responder(Protocol):
    """Answers a message that is not a built-in command (the investigation agent)."""

    async def respond(
        self,
        *,
        workspace_id: str,
        conversation_key: str,
        text: str,
        history: Sequence[ConversationTurn],
    ) -> Reply:
        """Produce the reply to ``text`` given the earlier turns."""
        ...


class ChatService:
    """One entry point for every front-end."""

    def __init__(
        self,
        *,
        repos: Repositories,
        capabilities: CapabilityProbe,
        responder: Responder | None = None,
        history_limit: int = 20,
    ) -> None:
        self._repos = repos
        self._capabilities = capabilities
        self._responder = responder
        self._history_limit = history_limit
        # Workspaces are created once and never deleted, so after one ensure() per
        # process a workspace needs no further round trip (SlackServices does the same).
        self._known_workspaces: set[str] = set()

    async def handle(
        self,
        *,
        workspace_id: str,
        conversation_key: str,
        text: str,
        user_id: str | None = None,
    ) -> Reply:
        """Record the message, answer it, record the answer, return it."""
        with log_context(conversation=conversation_key, workspace=workspace_id):
            return await self._handle(
                workspace_id=workspace_id,
                conversation_key=conversation_key,
                text=text,
                user_id=user_id,
            )

    async def _handle(
        self,
        *,
        workspace_id: str,
        conversation_key: str,
        text: str,
        user_id: str | None,
    ) -> Reply:
        if workspace_id not in self._known_workspaces:
            await self._repos.workspaces.ensure(workspace_id=workspace_id)
            self._known_workspaces.add(workspace_id)
        history = await self._repos.conversations.history(
            workspace_id=workspace_id,
            conversation_key=conversation_key,
            limit=self._history_limit,
        )
        await self._repos.conversations.add_turn(
            workspace_id=workspace_id,
            conversation_key=conversation_key,
            role="user",
            text=text,
            user_id=user_id,
        )
        reply = await self._answer(
            workspace_id=workspace_id,
            conversation_key=conversation_key,
            text=text,
            history=history,
        )
        await self._repos.conversations.add_turn(
            workspace_id=workspace_id,
            conversation_key=conversation_key,
            role="assistant",
            text=reply.text,
            reply=reply.model_dump(mode="json"),
        )
        return reply

    async def _answer(
        self,
        *,
        workspace_id: str,
        conversation_key: str,
        text: str,
        history: Sequence[ConversationTurn],
    ) -> Reply:
        if not text.strip() or _HELP.match(text):
            return Reply(kind="help", text=messages.HELP, capabilities=await self._capabilities())
        if _STATUS.match(text):
            return Reply(
                kind="status",
                text=messages.STATUS_HEADLINE,
                capabilities=await self._capabilities(),
            )
        if _HISTORY.match(text):
            return self._history_reply(history)
        if self._responder is None:
            return Reply(kind="info", text=messages.NO_AGENT)
        try:
            return await self._responder.respond(
                workspace_id=workspace_id,
                conversation_key=conversation_key,
                text=text,
                history=history,
            )
        except CopilotError as exc:
            logger.warning("responder failed for %s: %s", conversation_key, exc)
            return Reply(kind="error", text=f"I could not answer that: {exc}")

    @staticmethod
    def _history_reply(history: Sequence[ConversationTurn]) -> Reply:
        if not history:
            return Reply(kind="info", text="This conversation has no earlier messages.")
        lines = [
            f"{t.created_at:%H:%M} {'you' if t.role == 'user' else 'me'}: "
            f"{t.text.splitlines()[0][:120] if t.text else ''}"
            for t in history
        ]
        return Reply(
            kind="info",
            text=f"{len(history)} earlier messages in this conversation.",
            sections=[Section(title="History", body="\n".join(lines))],
        )
