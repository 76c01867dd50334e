"""Block actions: 👍/👎, "show evidence", "investigate again", incident and remediation buttons.

Remediation: Approve / Reject on proposal messages, and Propose on runbook steps of an
answer (the clicker proposes; the proposal message goes into the answer's thread).
"""

from __future__ import annotations

import functools
import logging
import re
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_bolt.context.ack.async_ack import AsyncAck
from slack_bolt.context.async_context import AsyncBoltContext
from slack_sdk.web.async_client import AsyncWebClient

from bot.slack import blocks
from bot.slack.listeners.common import user_of, workspace_of
from bot.slack.proposals import propose_from_runbook
from bot.slack.services import SlackServices
from memory.models import IncidentStatus

logger = logging.getLogger(__name__)


def _hypothesis_id(action: dict[str, Any]) -> int | None:
    try:
        return int(str(action.get("value")))
    except ValueError:
        logger.warning("action %s carries no hypothesis id", action.get("action_id"))
        return None


def _incident_id(action: dict[str, Any]) -> int | None:
    try:
        return int(str(action.get("value")))
    except ValueError:
        logger.warning("action %s carries no incident id", action.get("action_id"))
        return None


def _where(body: dict[str, Any]) -> tuple[str | None, str | None]:
    """(channel, thread_ts) of the message holding the clicked button."""
    channel = (body.get("channel") or {}).get("id") or (body.get("container") or {}).get(
        "channel_id"
    )
    message = body.get("message") or {}
    thread_ts = message.get("thread_ts") or message.get("ts")
    return channel, thread_ts


def _message_of(body: dict[str, Any]) -> tuple[str | None, str | None]:
    """(channel, ts) of the message holding the clicked button (to update it in place)."""
    channel, _thread = _where(body)
    message_ts = (body.get("container") or {}).get("message_ts") or (body.get("message") or {}).get(
        "ts"
    )
    return channel, (str(message_ts) if message_ts else None)


def register(app: AsyncApp, services: SlackServices) -> None:
    """Register the block action listeners."""

    def feedback(vote: int) -> Any:
        async def on_feedback(
            ack: AsyncAck,
            body: dict[str, Any],
            action: dict[str, Any],
            context: AsyncBoltContext,
            client: AsyncWebClient,
        ) -> None:
            await ack()
            hypothesis_id = _hypothesis_id(action)
            if hypothesis_id is None:
                return
            channel, thread_ts = _where(body)
            services.intake.submit(
                functools.partial(
                    services.record_feedback,
                    client=client,
                    workspace_id=workspace_of(context, body),
                    user_id=user_of(body),
                    channel=channel,
                    thread_ts=thread_ts,
                    hypothesis_id=hypothesis_id,
                    vote=vote,
                ),
                label=f"feedback {vote:+d} on {hypothesis_id}",
            )

        return on_feedback

    async def on_show_evidence(
        ack: AsyncAck,
        body: dict[str, Any],
        action: dict[str, Any],
        context: AsyncBoltContext,
        client: AsyncWebClient,
    ) -> None:
        await ack()
        hypothesis_id = _hypothesis_id(action)
        if hypothesis_id is None:
            return
        services.intake.submit(
            functools.partial(
                services.show_evidence,
                client=client,
                workspace_id=workspace_of(context, body),
                trigger_id=str(body.get("trigger_id") or ""),
                hypothesis_id=hypothesis_id,
            ),
            label=f"show evidence {hypothesis_id}",
        )

    async def on_rerun(
        ack: AsyncAck,
        body: dict[str, Any],
        action: dict[str, Any],
        context: AsyncBoltContext,
        client: AsyncWebClient,
    ) -> None:
        await ack()
        channel, thread_ts = _where(body)
        question = str(action.get("value") or "").strip()
        if not channel or not thread_ts or not question:
            return
        services.intake.submit(
            functools.partial(
                services.answer_in_thread,
                client=client,
                workspace_id=workspace_of(context, body),
                channel=channel,
                thread_ts=thread_ts,
                text=question,
                user_id=(body.get("user") or {}).get("id"),
            ),
            label="investigate again",
        )

    def incident_transition(new: IncidentStatus) -> Any:
        async def on_incident(
            ack: AsyncAck,
            body: dict[str, Any],
            action: dict[str, Any],
            context: AsyncBoltContext,
            client: AsyncWebClient,
        ) -> None:
            await ack()
            incident_id = _incident_id(action)
            if incident_id is None:
                return
            channel, thread_ts = _where(body)
            services.intake.submit(
                functools.partial(
                    services.incidents.transition,
                    client=client,
                    workspace_id=workspace_of(context, body),
                    incident_id=incident_id,
                    new=new,
                    actor=user_of(body),
                    channel=channel,
                    thread_ts=thread_ts,
                ),
                label=f"incident {incident_id} → {new.value}",
            )

        return on_incident

    async def on_postmortem(
        ack: AsyncAck,
        body: dict[str, Any],
        action: dict[str, Any],
        context: AsyncBoltContext,
        client: AsyncWebClient,
    ) -> None:
        await ack()
        incident_id = _incident_id(action)
        if incident_id is None:
            return
        channel, thread_ts = _where(body)
        services.answers.submit(
            functools.partial(
                services.incidents.postmortem,
                client=client,
                workspace_id=workspace_of(context, body),
                incident_id=incident_id,
                actor=user_of(body),
                channel=channel,
                thread_ts=thread_ts,
            ),
            label=f"post-mortem of incident {incident_id}",
        )

    async def on_approve(
        ack: AsyncAck,
        body: dict[str, Any],
        action: dict[str, Any],
        context: AsyncBoltContext,
        client: AsyncWebClient,
    ) -> None:
        await ack()
        proposal_id = str(action.get("value") or "")
        if not proposal_id:
            return
        channel, message_ts = _message_of(body)
        services.answers.submit(
            functools.partial(
                services.decide_remediation,
                client=client,
                workspace_id=workspace_of(context, body),
                proposal_id=proposal_id,
                user_id=user_of(body),
                approve=True,
                channel=channel,
                message_ts=message_ts,
            ),
            label=f"approve {proposal_id}",
        )

    async def on_reject(
        ack: AsyncAck,
        body: dict[str, Any],
        action: dict[str, Any],
        client: AsyncWebClient,
    ) -> None:
        await ack()
        proposal_id = str(action.get("value") or "")
        channel, message_ts = _message_of(body)
        if not proposal_id or not channel or not message_ts:
            return
        services.intake.submit(
            functools.partial(
                services.open_reject_form,
                client=client,
                trigger_id=str(body.get("trigger_id") or ""),
                proposal_id=proposal_id,
                channel=channel,
                message_ts=message_ts,
            ),
            label=f"reject form {proposal_id}",
        )

    async def on_propose(
        ack: AsyncAck,
        body: dict[str, Any],
        action: dict[str, Any],
        context: AsyncBoltContext,
        client: AsyncWebClient,
    ) -> None:
        await ack()
        channel, thread_ts = _where(body)
        user_id = user_of(body)
        if not channel or not user_id:
            return
        workspace_id = workspace_of(context, body)
        value = str(action.get("value") or "")

        async def propose() -> None:
            await propose_from_runbook(
                client=client,
                repos=services.repos,
                remediation=services.remediation,
                workspace_id=workspace_id,
                user_id=user_id,
                value=value,
                channel=channel,
                thread_ts=thread_ts,
            )

        services.answers.submit(propose, label=f"propose from runbook by {user_id}")

    app.action(re.compile(rf"^{re.escape(blocks.ACTION_REMEDIATION_PROPOSE)}\.\d+$"))(on_propose)
    app.action(blocks.ACTION_REMEDIATION_APPROVE)(on_approve)
    app.action(blocks.ACTION_REMEDIATION_REJECT)(on_reject)
    app.action(blocks.ACTION_INCIDENT_ACK)(incident_transition(IncidentStatus.ACKNOWLEDGED))
    app.action(blocks.ACTION_INCIDENT_MITIGATE)(incident_transition(IncidentStatus.MITIGATED))
    app.action(blocks.ACTION_INCIDENT_RESOLVE)(incident_transition(IncidentStatus.RESOLVED))
    app.action(blocks.ACTION_INCIDENT_POSTMORTEM)(on_postmortem)
    app.action(blocks.ACTION_FEEDBACK_UP)(feedback(1))
    app.action(blocks.ACTION_FEEDBACK_DOWN)(feedback(-1))
    app.action(blocks.ACTION_SHOW_EVIDENCE)(on_show_evidence)
    app.action(blocks.ACTION_RERUN)(on_rerun)
