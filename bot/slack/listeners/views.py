"""View submissions: the ``/sre ask`` form and the remediation Reject reason."""

from __future__ import annotations

import functools
import json
import logging
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_bolt.context.ack.async_ack import AsyncAck
from slack_bolt.context.async_context import AsyncBoltContext
from slack_sdk.web.async_client import AsyncWebClient

from bot.slack import blocks, messages
from bot.slack.listeners.common import user_of, workspace_of
from bot.slack.services import SlackServices

logger = logging.getLogger(__name__)


def submitted_question(view: dict[str, Any]) -> str:
    """The text typed in the ask form."""
    values = (view.get("state") or {}).get("values") or {}
    field = (values.get(blocks.ASK_BLOCK) or {}).get(blocks.ASK_INPUT) or {}
    return str(field.get("value") or "").strip()


def submitted_reason(view: dict[str, Any]) -> str:
    """The reason typed in the Reject form."""
    values = (view.get("state") or {}).get("values") or {}
    field = (values.get(blocks.REJECT_BLOCK) or {}).get(blocks.REJECT_INPUT) or {}
    return str(field.get("value") or "").strip()


def _metadata(view: dict[str, Any]) -> dict[str, Any]:
    try:
        meta = json.loads(view.get("private_metadata") or "{}")
    except json.JSONDecodeError:
        return {}
    return meta if isinstance(meta, dict) else {}


def register(app: AsyncApp, services: SlackServices) -> None:
    """Register the view listeners."""

    async def on_ask_submit(
        ack: AsyncAck,
        body: dict[str, Any],
        view: dict[str, Any],
        context: AsyncBoltContext,
        client: AsyncWebClient,
    ) -> None:
        question = submitted_question(view)
        if not question:
            await ack(response_action="errors", errors={blocks.ASK_BLOCK: messages.ASK_EMPTY})
            return
        await ack()
        try:
            channel = str(json.loads(view.get("private_metadata") or "{}").get("channel") or "")
        except (json.JSONDecodeError, AttributeError):
            channel = ""
        if not channel:
            logger.warning("ask form submitted without a channel: dropped")
            return
        services.intake.submit(
            functools.partial(
                services.answer_in_channel,
                client=client,
                workspace_id=workspace_of(context, body),
                channel=channel,
                text=question,
                user_id=user_of(body),
            ),
            label="ask form",
        )

    async def on_reject_submit(
        ack: AsyncAck,
        body: dict[str, Any],
        view: dict[str, Any],
        context: AsyncBoltContext,
        client: AsyncWebClient,
    ) -> None:
        reason = submitted_reason(view)
        if not reason:
            await ack(response_action="errors", errors={blocks.REJECT_BLOCK: messages.REJECT_EMPTY})
            return
        await ack()
        meta = _metadata(view)
        proposal_id = str(meta.get("proposal_id") or "")
        if not proposal_id:
            logger.warning("reject form submitted without a proposal id: dropped")
            return
        services.answers.submit(
            functools.partial(
                services.decide_remediation,
                client=client,
                workspace_id=workspace_of(context, body),
                proposal_id=proposal_id,
                user_id=user_of(body),
                approve=False,
                reason=reason,
                channel=str(meta.get("channel") or "") or None,
                message_ts=str(meta.get("message_ts") or "") or None,
            ),
            label=f"reject {proposal_id}",
        )

    app.view(blocks.VIEW_ASK)(on_ask_submit)
    app.view(blocks.VIEW_REMEDIATION_REJECT)(on_reject_submit)
