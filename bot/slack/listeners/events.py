"""Events API listeners: mentions, thread follow-ups, direct messages, App Home."""

from __future__ import annotations

import functools
import logging
from typing import Any, Literal

from slack_bolt.async_app import AsyncApp
from slack_bolt.context.ack.async_ack import AsyncAck
from slack_bolt.context.async_context import AsyncBoltContext
from slack_sdk.web.async_client import AsyncWebClient

from bot.slack.listeners.common import workspace_of
from bot.slack.services import SlackServices, mentions, strip_mentions

logger = logging.getLogger(__name__)

# Message subtypes that are still a person talking; every other subtype (edits,
# deletions, joins, bot messages...) is ignored.
_PERSON_SUBTYPES = frozenset({"file_share", "thread_broadcast"})

MessageKind = Literal["dm", "thread"]


def classify_message(event: dict[str, Any], *, bot_user_id: str | None) -> MessageKind | None:
    """What a ``message`` event is to the bot: a DM, a thread follow-up, or nothing.

    Channel messages that mention the bot are left to ``app_mention`` (Slack sends
    both); in DMs Slack sends no ``app_mention``, so every DM is answered here.
    """
    if event.get("subtype") not in (None, *_PERSON_SUBTYPES):
        return None
    if event.get("bot_id") or not event.get("user") or event.get("user") == bot_user_id:
        return None
    if event.get("channel_type") == "im":
        return "dm"
    if mentions(str(event.get("text") or ""), bot_user_id):
        return None
    thread_ts = event.get("thread_ts")
    if thread_ts and thread_ts != event.get("ts"):
        return "thread"
    return None


def register(app: AsyncApp, services: SlackServices, *, oauth: bool = False) -> None:
    """Register the event listeners."""

    async def on_app_mention(
        ack: AsyncAck,
        body: dict[str, Any],
        event: dict[str, Any],
        context: AsyncBoltContext,
        client: AsyncWebClient,
    ) -> None:
        await ack()
        event_id = str(body.get("event_id") or "")
        services.intake.submit(
            functools.partial(
                services.answer_in_thread,
                client=client,
                workspace_id=workspace_of(context, body),
                channel=event["channel"],
                thread_ts=event.get("thread_ts") or event["ts"],
                text=strip_mentions(str(event.get("text") or ""), context.bot_user_id),
                user_id=event.get("user"),
                event_id=event_id or None,
            ),
            label=f"app_mention {event_id}",
        )

    async def on_message(
        ack: AsyncAck,
        body: dict[str, Any],
        event: dict[str, Any],
        context: AsyncBoltContext,
        client: AsyncWebClient,
    ) -> None:
        await ack()
        kind = classify_message(event, bot_user_id=context.bot_user_id)
        if kind is None:
            return
        event_id = str(body.get("event_id") or "")
        text = strip_mentions(str(event.get("text") or ""), context.bot_user_id)
        workspace_id = workspace_of(context, body)
        if kind == "dm":
            services.intake.submit(
                functools.partial(
                    services.answer_in_thread,
                    client=client,
                    workspace_id=workspace_id,
                    channel=event["channel"],
                    thread_ts=event.get("thread_ts") or event["ts"],
                    text=text,
                    user_id=event.get("user"),
                    event_id=event_id or None,
                ),
                label=f"direct message {event_id}",
            )
            return
        services.intake.submit(
            functools.partial(
                services.answer_followup,
                client=client,
                workspace_id=workspace_id,
                channel=event["channel"],
                thread_ts=event["thread_ts"],
                text=text,
                user_id=event.get("user"),
                event_id=event_id,
                bot_user_id=context.bot_user_id,
                bot_id=context.bot_id,
            ),
            label=f"thread message {event_id}",
        )

    async def on_home_opened(
        ack: AsyncAck,
        body: dict[str, Any],
        event: dict[str, Any],
        context: AsyncBoltContext,
        client: AsyncWebClient,
    ) -> None:
        await ack()
        if event.get("tab") != "home":
            return
        services.intake.submit(
            functools.partial(
                services.publish_home,
                client=client,
                workspace_id=workspace_of(context, body),
                user_id=event["user"],
            ),
            label="app_home_opened",
        )

    async def on_uninstall(ack: AsyncAck, body: dict[str, Any], context: AsyncBoltContext) -> None:
        await ack()
        logger.warning(
            "Slack says the app was uninstalled or its tokens revoked in %s",
            workspace_of(context, body),
        )

    app.event("app_mention")(on_app_mention)
    app.event("message")(on_message)
    app.event("app_home_opened")(on_home_opened)
    if oauth:
        app.enable_token_revocation_listeners()
    else:
        app.event("tokens_revoked")(on_uninstall)
        app.event("app_uninstalled")(on_uninstall)
