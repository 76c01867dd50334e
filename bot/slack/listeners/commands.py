"""The ``/sre`` slash command: help, ask, status, runbook, oncall, incidents.

Subcommands live in :data:`SUBCOMMANDS` (later features add theirs there). Text
that starts with no known subcommand is a question: ``/sre what's wrong with
checkout?`` is ``/sre ask what's wrong with checkout?``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_bolt.context.ack.async_ack import AsyncAck
from slack_bolt.context.async_context import AsyncBoltContext
from slack_bolt.context.respond.async_respond import AsyncRespond
from slack_sdk.web.async_client import AsyncWebClient

from bot.slack import blocks
from bot.slack.listeners.common import workspace_of
from bot.slack.services import SlackServices

COMMAND = "/sre"


@dataclass(frozen=True)
class CommandCall:
    """One ``/sre`` invocation, after ``ack()``."""

    services: SlackServices
    client: AsyncWebClient
    respond: AsyncRespond
    workspace_id: str
    channel_id: str
    user_id: str
    trigger_id: str
    rest: str


Subcommand = Callable[[CommandCall], None]


def _answer(call: CommandCall, text: str, label: str) -> None:
    call.services.intake.submit(
        functools.partial(
            call.services.answer_in_channel,
            client=call.client,
            workspace_id=call.workspace_id,
            channel=call.channel_id,
            text=text,
            user_id=call.user_id,
            respond=call.respond,
        ),
        label=label,
    )


def ask(call: CommandCall) -> None:
    """Answer in the channel; with no question, open the ask form."""
    if call.rest:
        _answer(call, call.rest, "/sre ask")
        return

    async def open_form() -> None:
        await call.client.views_open(
            trigger_id=call.trigger_id, view=blocks.ask_modal(channel_id=call.channel_id)
        )

    call.services.intake.submit(open_form, label="/sre ask form")


def status(call: CommandCall) -> None:
    """Integrations and their state, visible to the asker only."""
    call.services.answers.submit(
        functools.partial(
            call.services.answer_ephemeral,
            workspace_id=call.workspace_id,
            channel=call.channel_id,
            text="status",
            user_id=call.user_id,
            respond=call.respond,
        ),
        label="/sre status",
    )


def runbook(call: CommandCall) -> None:
    """Find the runbook for a symptom."""
    _answer(call, f"runbook {call.rest}".strip(), "/sre runbook")


def oncall(call: CommandCall) -> None:
    """Who is on call."""
    _answer(call, "who is on call?", "/sre oncall")


def incidents(call: CommandCall) -> None:
    """Open incidents."""
    _answer(call, "open incidents", "/sre incidents")


SUBCOMMANDS: dict[str, Subcommand] = {
    "ask": ask,
    "status": status,
    "runbook": runbook,
    "oncall": oncall,
    "incidents": incidents,
}
"""Subcommands run after ``ack()``; ``help`` is answered in the ack itself."""


def parse(text: str) -> tuple[str, str]:
    """``(subcommand, rest)``; free text is ``("ask", text)``, nothing is ``("help", "")``."""
    clean = text.strip()
    if not clean:
        return "help", ""
    head, _, rest = clean.partition(" ")
    sub = head.lower()
    if sub == "help" or sub in SUBCOMMANDS:
        return sub, rest.strip()
    return "ask", clean


def register(app: AsyncApp, services: SlackServices) -> None:
    """Register ``/sre``."""

    async def on_sre(
        ack: AsyncAck,
        body: dict[str, Any],
        command: dict[str, Any],
        context: AsyncBoltContext,
        client: AsyncWebClient,
        respond: AsyncRespond,
    ) -> None:
        sub, rest = parse(str(command.get("text") or ""))
        if sub == "help":
            helped = blocks.help_message()
            await ack(text=helped.text, blocks=helped.blocks, response_type="ephemeral")
            return
        await ack()
        SUBCOMMANDS[sub](
            CommandCall(
                services=services,
                client=client,
                respond=respond,
                workspace_id=workspace_of(context, body),
                channel_id=str(command.get("channel_id") or ""),
                user_id=str(command.get("user_id") or ""),
                trigger_id=str(command.get("trigger_id") or ""),
                rest=rest,
            )
        )

    app.command(COMMAND)(on_sre)
