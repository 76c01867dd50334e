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

from bot.slack import blocks, messages
from bot.slack.listeners.common import workspace_of
from bot.slack.mrkdwn import escape
from bot.slack.services import SlackServices
from jobs.incidents import parse_verb
from memory.errors import InvalidTransition

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


def incident_id(word: str) -> int | None:
    """``42`` or ``#42`` → 42; anything else → ``None``."""
    clean = word.strip().removeprefix("#")
    if clean.isascii() and clean.isdigit() and int(clean) > 0:
        return int(clean)
    return None


def _tell(call: CommandCall, text: str, label: str) -> None:
    """An ephemeral answer (usage errors), through ``response_url``."""
    shown = blocks.error_message(text)

    async def tell() -> None:
        await call.respond(text=shown.text, blocks=shown.blocks, response_type="ephemeral")

    call.services.intake.submit(tell, label=label)


def _id_or_usage(call: CommandCall, word: str | None, usage: str, label: str) -> int | None:
    if not word:
        _tell(call, usage, label)
        return None
    found = incident_id(word)
    if found is None:
        _tell(call, messages.BAD_INCIDENT_ID.format(value=escape(word)) + "\n" + usage, label)
    return found


def incident(call: CommandCall) -> None:
    """``/sre incident ack|investigate|mitigate|resolve ID [reason]``."""
    label = "/sre incident"
    words = call.rest.split(maxsplit=2)
    if not words:
        _tell(call, messages.INCIDENT_USAGE, label)
        return
    try:
        new = parse_verb(words[0])
    except InvalidTransition as exc:
        _tell(call, f"{escape(str(exc))}\n{messages.INCIDENT_USAGE}", label)
        return
    found = _id_or_usage(call, words[1] if len(words) > 1 else None, messages.INCIDENT_USAGE, label)
    if found is None:
        return
    call.services.intake.submit(
        functools.partial(
            call.services.incidents.transition,
            client=call.client,
            workspace_id=call.workspace_id,
            incident_id=found,
            new=new,
            actor=call.user_id,
            reason=words[2] if len(words) > 2 else "",
            channel=call.channel_id,
            respond=call.respond,
        ),
        label=f"{label} {new.value} {found}",
    )


def timeline(call: CommandCall) -> None:
    """``/sre timeline ID``: the incident's events, visible to the asker only."""
    label = "/sre timeline"
    words = call.rest.split()
    if len(words) > 1:
        _tell(call, messages.TIMELINE_USAGE, label)
        return
    found = _id_or_usage(call, words[0] if words else None, messages.TIMELINE_USAGE, label)
    if found is None:
        return
    call.services.intake.submit(
        functools.partial(
            call.services.incidents.timeline,
            client=call.client,
            workspace_id=call.workspace_id,
            incident_id=found,
            user_id=call.user_id,
            channel=call.channel_id,
            respond=call.respond,
        ),
        label=f"{label} {found}",
    )


def postmortem(call: CommandCall) -> None:
    """``/sre postmortem ID``: draft it and post it to the incident's thread."""
    label = "/sre postmortem"
    words = call.rest.split()
    if len(words) > 1:
        _tell(call, messages.POSTMORTEM_USAGE, label)
        return
    found = _id_or_usage(call, words[0] if words else None, messages.POSTMORTEM_USAGE, label)
    if found is None:
        return
    call.services.answers.submit(
        functools.partial(
            call.services.incidents.postmortem,
            client=call.client,
            workspace_id=call.workspace_id,
            incident_id=found,
            actor=call.user_id,
            channel=call.channel_id,
            respond=call.respond,
        ),
        label=f"{label} {found}",
    )


SUBCOMMANDS: dict[str, Subcommand] = {
    "ask": ask,
    "status": status,
    "runbook": runbook,
    "oncall": oncall,
    "incidents": incidents,
    "incident": incident,
    "timeline": timeline,
    "postmortem": postmortem,
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
