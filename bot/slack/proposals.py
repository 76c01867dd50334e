"""Remediation proposal messages in Slack: post, update in place, propose from a button.

:class:`SlackProposalMessages` is the Slack :class:`jobs.proposals.ProposalSink`: it
posts :func:`bot.slack.blocks.proposal_message` (dry run, Approve / Reject) and later
``chat.update`` s the same message from the location stored on the proposal, e.g. when
:func:`jobs.proposals.expire_and_update` expires it.

:func:`propose_from_runbook` handles a click on a runbook step's "Propose" button
(``remediation.propose``): the clicker becomes the proposer (so they cannot approve
it themselves) and the proposal message is posted in the answer's thread.

:func:`post_answer_proposals` posts the proposals an answer made (Claude's
``propose_remediation``, listed in ``Reply.proposals``) in the answer's thread, the same
way. Each is posted at most once: it is re-read from the database first (in the
answer's workspace), skipped when it already has a message or is no longer pending,
and claimed in ``processedevent`` (``proposal-message:<id>``) before posting, so a
re-rendered reply, a follow-up or another replica never posts it twice.

Every message posted here disables unfurling (:data:`bot.slack.mrkdwn.NO_UNFURL`):
a proposal's reason may be model-written text.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.slack import blocks, messages
from bot.slack.mrkdwn import NO_UNFURL, escape
from jobs.proposals import MessageRef, post_and_remember
from jobs.remediation import RemediationService
from memory.errors import CopilotError
from memory.models import ProposalStatus, RemediationProposal
from memory.repositories import Repositories

logger = logging.getLogger(__name__)

TokenLookup = Callable[[str], Awaitable[str | None]]

MESSAGE_CLAIM = "proposal-message:{id}"
"""``processedevent`` id claimed before an answer's proposal is posted (once, ever)."""


class SlackProposalMessages:
    """Proposal messages in one channel (and thread), updated in place later.

    Args:
        client: The Web API client.
        token_for: Workspace id → bot token (OAuth installs); ``None``: the client's own.
        channel: Where :meth:`post_proposal` posts (``None``: it posts nothing).
        thread_ts: Post in this thread, else at the top level.
    """

    def __init__(
        self,
        client: AsyncWebClient,
        *,
        token_for: TokenLookup | None = None,
        channel: str | None = None,
        thread_ts: str | None = None,
    ) -> None:
        self._client = client
        self._token_for = token_for
        self._channel = channel
        self._thread_ts = thread_ts

    async def _token(self, workspace_id: str) -> dict[str, Any]:
        if self._token_for is None:
            return {}
        token = await self._token_for(workspace_id)
        return {"token": token} if token else {}

    async def post_proposal(self, proposal: RemediationProposal) -> MessageRef | None:
        """Post the proposal message; its channel and ts."""
        if not self._channel:
            logger.warning("proposal %s: no channel to post it to", proposal.id)
            return None
        msg = blocks.proposal_message(proposal)
        kwargs: dict[str, Any] = {"channel": self._channel, "text": msg.text, "blocks": msg.blocks}
        if self._thread_ts:
            kwargs["thread_ts"] = self._thread_ts
        posted = await self._client.chat_postMessage(
            **kwargs, **NO_UNFURL, **await self._token(proposal.workspace_id)
        )
        return MessageRef(channel=str(posted.get("channel") or self._channel), ts=str(posted["ts"]))

    async def update_proposal(self, proposal: RemediationProposal, *, note: str = "") -> None:
        """``chat.update`` the stored message of ``proposal`` (no-op without one)."""
        if not proposal.channel_id or not proposal.message_ts:
            return
        msg = blocks.proposal_message(proposal, note=note or None)
        try:
            await self._client.chat_update(
                channel=proposal.channel_id,
                ts=proposal.message_ts,
                text=msg.text,
                blocks=msg.blocks,
                **await self._token(proposal.workspace_id),
            )
        except SlackApiError as exc:
            logger.warning(
                "could not update the message of proposal %s (%s)",
                proposal.id,
                exc.response.get("error"),
            )


def parse_propose_value(value: str) -> tuple[str, dict[str, Any], str | None] | None:
    """``(action, params, environment)`` from a Propose button's value, or ``None``."""
    try:
        data = json.loads(value)
    except ValueError:
        return None
    if not isinstance(data, dict) or not isinstance(data.get("a"), str):
        return None
    params = data.get("p") or {}
    env = data.get("e")
    if not isinstance(params, dict) or not (env is None or isinstance(env, str)):
        return None
    return data["a"], params, env


async def propose_from_runbook(
    *,
    client: AsyncWebClient,
    repos: Repositories,
    remediation: RemediationService | None,
    workspace_id: str,
    user_id: str,
    value: str,
    channel: str,
    thread_ts: str | None,
    default_environment: str = "production",
) -> RemediationProposal | None:
    """Handle one click on a runbook step's Propose button.

    The proposal goes through :meth:`RemediationService.propose` like any other (the
    parameters are validated there; ``created_by`` of a silence is the clicker), and
    its message is posted in the thread with its location stored. A refusal (unknown
    or unconfigured action, invalid parameters) is told to the clicker only.

    Returns:
        The stored proposal, or ``None`` when refused.
    """

    async def tell(text: str) -> None:
        kwargs: dict[str, Any] = {"channel": channel, "user": user_id, "text": text}
        if thread_ts:
            kwargs["thread_ts"] = thread_ts
        try:
            await client.chat_postEphemeral(**kwargs)
        except SlackApiError as exc:
            logger.warning("ephemeral to %s failed (%s)", user_id, exc.response.get("error"))

    if remediation is None:
        await tell(messages.REMEDIATION_UNAVAILABLE)
        return None
    parsed = parse_propose_value(value)
    if parsed is None:
        logger.warning("Propose button with an unreadable value from %s", user_id)
        return None
    action, params, environment = parsed
    if action == "alertmanager.silence_create":
        params = {**params, "created_by": user_id}
    try:
        proposal = await remediation.propose(
            workspace_id=workspace_id,
            action=action,
            params=params,
            environment=environment or default_environment,
            proposed_by=user_id,
            reason="runbook step proposed from an investigation answer",
        )
    except CopilotError as exc:
        await tell(messages.REMEDIATION_REFUSED.format(reason=escape(str(exc))))
        return None
    sink = SlackProposalMessages(client, channel=channel, thread_ts=thread_ts)
    return await post_and_remember(sink=sink, repos=repos, proposal=proposal)


async def post_answer_proposals(
    *,
    client: AsyncWebClient,
    repos: Repositories,
    workspace_id: str,
    channel: str,
    thread_ts: str,
    proposal_ids: Iterable[str],
    token_for: TokenLookup | None = None,
) -> list[RemediationProposal]:
    """Post the proposals an answer made in its thread, each at most once.

    A proposal is skipped when it is not found in ``workspace_id``, already has a
    message (``channel_id``/``message_ts``), is no longer pending, or was claimed by an
    earlier delivery. Otherwise its message (dry run, Approve / Reject) is posted and
    its location stored, as for a Propose click (:func:`jobs.proposals.post_and_remember`).
    One that cannot be posted is logged and not retried; the others still are.

    Args:
        client: The Web API client (the answer's workspace token).
        repos: Where the proposals are stored.
        workspace_id: The answer's workspace; proposals of another one are never posted.
        channel: The answer's channel.
        thread_ts: The answer's thread.
        proposal_ids: ``Reply.proposals`` ids, in order (duplicates are posted once).
        token_for: Workspace id → bot token when ``client`` carries none (OAuth).

    Returns:
        The proposals posted now, with their message location.
    """
    sink = SlackProposalMessages(client, token_for=token_for, channel=channel, thread_ts=thread_ts)
    posted: list[RemediationProposal] = []
    for proposal_id in dict.fromkeys(proposal_ids):
        try:
            proposal = await _claim_unposted(repos, workspace_id, proposal_id)
            if proposal is None:
                continue
            proposal = await post_and_remember(sink=sink, repos=repos, proposal=proposal)
        except Exception:  # boundary: one proposal that cannot be posted must not stop the rest
            logger.exception("could not post proposal %s in %s", proposal_id, channel)
            continue
        if proposal.message_ts:
            posted.append(proposal)
    return posted


async def _claim_unposted(
    repos: Repositories, workspace_id: str, proposal_id: str
) -> RemediationProposal | None:
    """The stored proposal if it still needs its message and this caller won it."""
    proposal = await repos.proposals.get(workspace_id=workspace_id, proposal_id=proposal_id)
    if proposal is None:
        logger.warning("proposal %s is not in workspace %s: not posted", proposal_id, workspace_id)
        return None
    if proposal.channel_id or proposal.message_ts:
        logger.debug("proposal %s already has its message", proposal_id)
        return None
    if proposal.status != ProposalStatus.PENDING:
        logger.info("proposal %s is %s: not posted", proposal_id, proposal.status)
        return None
    # the checks above and set_message() are not atomic: the claim makes posting once-only
    if not await repos.processed_events.first_time(
        workspace_id=workspace_id, event_id=MESSAGE_CLAIM.format(id=proposal_id)
    ):
        logger.info("proposal %s is being posted by another delivery", proposal_id)
        return None
    return proposal
