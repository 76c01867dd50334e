"""What the Slack listeners delegate to, after ``ack()``.

:class:`SlackServices` turns Slack inputs into :class:`bot.chat.ChatService` calls
and Block Kit outputs: post a placeholder in the thread at once, ask ChatService,
``chat.update`` the placeholder with the answer (continuation messages and files
in the thread), record 👍/👎, open the evidence modal, publish the App Home tab.

Work runs in two lanes (:class:`bot.slack.work.BackgroundWork` pools):

* ``intake`` — quick steps, right after the ack: dedupe, the placeholder, votes,
  modals (whose ``trigger_id`` expires 3 s after the click), the App Home tab;
* ``answers`` — ChatService, then ``chat.update``, uploads and the answer's
  remediation proposals (``Reply.proposals``: one message each, with Approve / Reject,
  posted once ever; :func:`bot.slack.proposals.post_answer_proposals`).

So a backlog of investigations never delays a placeholder or a modal. Listeners
submit to ``intake``; the answering methods hand over to ``answers`` themselves.

Slack redelivers an event it thinks was not acknowledged, with ``X-Slack-Retry-Num``.
Every event-driven answer first claims the event id in the database
(:meth:`memory.repositories.ProcessedEventRepository.first_time`): the first claim
wins on any replica, later deliveries are dropped, so there are no duplicate replies.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import re
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from slack_bolt.context.respond.async_respond import AsyncRespond
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from agents.reply import Evidence, Reply
from bot.chat import ChatService
from bot.slack import blocks, messages
from bot.slack.incidents import IncidentOps
from bot.slack.membership import ThreadMembership, conversation_key
from bot.slack.mrkdwn import NO_UNFURL, escape, truncate
from bot.slack.proposals import post_answer_proposals
from bot.slack.work import BackgroundWork
from jobs.remediation import RemediationService
from memory.models import ProposalStatus, RemediationProposal
from memory.repositories import Repositories

logger = logging.getLogger(__name__)

DIGEST_JOB = "weekly_digest"
"""Name of the weekly digest job in ``jobrun`` (shown on the App Home tab)."""

_MENTION = re.compile(r"<@([UW][A-Z0-9]+)(?:\|[^>]*)?>")
_UNREACHABLE_CHANNEL = frozenset({"not_in_channel", "channel_not_found", "is_archived"})
_UNRENDERABLE = frozenset({"invalid_blocks", "msg_too_long", "invalid_blocks_format"})


def strip_mentions(text: str, bot_user_id: str | None) -> str:
    """``text`` without the mention(s) of the bot, trimmed."""
    if bot_user_id:
        text = re.sub(rf"<@{re.escape(bot_user_id)}(?:\|[^>]*)?>", " ", text)
    return re.sub(r"\s+", " ", text).strip()


def mentions(text: str, user_id: str | None) -> bool:
    """Whether ``text`` mentions ``user_id``."""
    return bool(user_id) and any(m.group(1) == user_id for m in _MENTION.finditer(text))


class SlackServices:
    """The Slack workflows, over ChatService and the repositories."""

    def __init__(
        self,
        *,
        chat: ChatService,
        repos: Repositories,
        intake: BackgroundWork,
        answers: BackgroundWork,
        digest_cron: str = "0 9 * * mon",
        membership: ThreadMembership | None = None,
        incidents: IncidentOps | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        remediation: RemediationService | None = None,
    ) -> None:
        self.chat = chat
        self.remediation = remediation
        self.repos = repos
        self.intake = intake
        self.answers = answers
        self.membership = membership or ThreadMembership(repos=repos)
        self.incidents = incidents or IncidentOps(repos=repos)
        self.digest_cron = digest_cron
        self.clock = clock
        self._known_workspaces: set[str] = set()

    # --- dedupe --------------------------------------------------------------------

    async def first_time(self, *, workspace_id: str, event_id: str) -> bool:
        """Claim an event id; ``False`` when another delivery (any replica) claimed it."""
        if workspace_id not in self._known_workspaces:
            await self.repos.workspaces.ensure(workspace_id=workspace_id)
            self._known_workspaces.add(workspace_id)
        fresh = await self.repos.processed_events.first_time(
            workspace_id=workspace_id, event_id=event_id
        )
        if not fresh:
            logger.info("event %s of %s already handled: duplicate dropped", event_id, workspace_id)
        return fresh

    # --- answering -----------------------------------------------------------------

    async def answer_in_thread(
        self,
        *,
        client: AsyncWebClient,
        workspace_id: str,
        channel: str,
        thread_ts: str,
        text: str,
        user_id: str | None,
        event_id: str | None = None,
    ) -> None:
        """Placeholder in the thread now; the answer replaces it (``answers`` lane)."""
        if event_id is not None and not await self.first_time(
            workspace_id=workspace_id, event_id=event_id
        ):
            return
        holder = blocks.placeholder()
        posted = await client.chat_postMessage(
            channel=channel,
            thread_ts=thread_ts,
            text=holder.text,
            blocks=holder.blocks,
            **NO_UNFURL,
        )
        self.membership.remember(workspace_id=workspace_id, channel=channel, thread_ts=thread_ts)
        self.answers.submit(
            functools.partial(
                self._answer_into,
                client=client,
                workspace_id=workspace_id,
                channel=channel,
                thread_ts=thread_ts,
                placeholder_ts=str(posted["ts"]),
                text=text,
                user_id=user_id,
            ),
            label=f"answer in {channel}/{thread_ts}",
        )

    async def answer_followup(
        self,
        *,
        client: AsyncWebClient,
        workspace_id: str,
        channel: str,
        thread_ts: str,
        text: str,
        user_id: str | None,
        event_id: str,
        bot_user_id: str | None,
        bot_id: str | None,
    ) -> None:
        """Answer a thread message without a mention, if the bot takes part in the thread."""
        if not await self.membership.takes_part(
            client=client,
            workspace_id=workspace_id,
            channel=channel,
            thread_ts=thread_ts,
            bot_user_id=bot_user_id,
            bot_id=bot_id,
        ):
            return
        await self.answer_in_thread(
            client=client,
            workspace_id=workspace_id,
            channel=channel,
            thread_ts=thread_ts,
            text=text,
            user_id=user_id,
            event_id=event_id,
        )

    async def answer_in_channel(
        self,
        *,
        client: AsyncWebClient,
        workspace_id: str,
        channel: str,
        text: str,
        user_id: str,
        respond: AsyncRespond | None = None,
    ) -> None:
        """A slash command or form question: the placeholder starts a new thread."""
        holder = blocks.placeholder(
            text=messages.PLACEHOLDER_COMMAND.format(user=user_id, question=escape(text))
        )
        try:
            posted = await client.chat_postMessage(
                channel=channel, text=holder.text, blocks=holder.blocks, **NO_UNFURL
            )
        except SlackApiError as exc:
            if exc.response.get("error") not in _UNREACHABLE_CHANNEL or respond is None:
                raise
            await respond(text=messages.NOT_IN_CHANNEL, response_type="ephemeral")
            return
        ts = str(posted["ts"])
        self.membership.remember(workspace_id=workspace_id, channel=channel, thread_ts=ts)
        self.answers.submit(
            functools.partial(
                self._answer_into,
                client=client,
                workspace_id=workspace_id,
                channel=channel,
                thread_ts=ts,
                placeholder_ts=ts,
                text=text,
                user_id=user_id,
                asked_by=user_id,
            ),
            label=f"answer in {channel}/{ts}",
        )

    async def answer_ephemeral(
        self,
        *,
        workspace_id: str,
        channel: str,
        text: str,
        user_id: str,
        respond: AsyncRespond,
    ) -> None:
        """A command only the asker sees (``/sre status``), through ``response_url``."""
        reply = await self._ask(
            workspace_id=workspace_id,
            key=f"slack:{channel}:command:{user_id}",
            text=text,
            user_id=user_id,
        )
        first = blocks.render_reply(reply).messages[0]
        await respond(text=first.text, blocks=first.blocks, response_type="ephemeral")

    async def _incident_of(self, workspace_id: str, key: str) -> int | None:
        """The incident whose thread a conversation key (``slack:C:ts``) is, if any."""
        parts = key.split(":")
        if len(parts) != 3 or parts[0] != "slack":
            return None
        incident = await self.repos.incidents.by_thread(
            workspace_id=workspace_id, channel_id=parts[1], thread_ts=parts[2]
        )
        return incident.id if incident is not None else None

    async def _timeline(
        self, *, workspace_id: str, key: str, kind: str, text: str, actor: str
    ) -> None:
        """Record a timeline event when the conversation is an incident's thread."""
        incident_id = await self._incident_of(workspace_id, key)
        if incident_id is not None:
            await self.repos.timeline.add(
                workspace_id=workspace_id,
                incident_id=incident_id,
                kind=kind,
                text=text,
                actor=actor,
            )

    async def _ask(self, *, workspace_id: str, key: str, text: str, user_id: str | None) -> Reply:
        try:
            await self._timeline(
                workspace_id=workspace_id,
                key=key,
                kind="message",
                text=text[:500],
                actor=user_id or "unknown",
            )
            return await self.chat.handle(
                workspace_id=workspace_id, conversation_key=key, text=text, user_id=user_id
            )
        except Exception:  # boundary: the user gets a short message, the log the cause
            logger.exception("answering %s failed", key)
            return Reply(kind="error", text=messages.FAILED)

    async def _answer_into(
        self,
        *,
        client: AsyncWebClient,
        workspace_id: str,
        channel: str,
        thread_ts: str,
        placeholder_ts: str,
        text: str,
        user_id: str | None,
        asked_by: str | None = None,
    ) -> None:
        reply = await self._ask(
            workspace_id=workspace_id,
            key=conversation_key(channel, thread_ts),
            text=text,
            user_id=user_id,
        )
        await self.deliver(
            client=client,
            workspace_id=workspace_id,
            channel=channel,
            thread_ts=thread_ts,
            placeholder_ts=placeholder_ts,
            reply=reply,
            question=text,
            asked_by=asked_by,
        )

    async def deliver(
        self,
        *,
        client: AsyncWebClient,
        workspace_id: str,
        channel: str,
        thread_ts: str,
        placeholder_ts: str,
        reply: Reply,
        question: str | None,
        asked_by: str | None = None,
    ) -> None:
        """Replace the placeholder with the reply; the rest follows in the thread.

        After the answer's own messages, each remediation proposal it made is posted
        as its own message (Approve / Reject) in the thread, unless an earlier
        delivery already posted it (:func:`bot.slack.proposals.post_answer_proposals`).
        """
        rendered = blocks.render_reply(reply, question=question, asked_by=asked_by)
        first, *rest = rendered.messages
        try:
            await client.chat_update(
                channel=channel, ts=placeholder_ts, text=first.text, blocks=first.blocks
            )
        except SlackApiError as exc:
            if exc.response.get("error") not in _UNRENDERABLE:
                raise
            # Never leave the placeholder behind: fall back to plain text plus the file.
            logger.warning(
                "Slack refused the answer's blocks in %s (%s): sent as text and a file",
                channel,
                exc.response.get("error"),
            )
            text = escape(truncate(reply.text, blocks.FALLBACK_TEXT_LIMIT))
            plain = blocks.error_message(f"{text}\n_{messages.RENDER_FAILED}_")
            await client.chat_update(
                channel=channel, ts=placeholder_ts, text=plain.text, blocks=plain.blocks
            )
            rest = []
            rendered = blocks.RenderedReply(messages=[plain], overflow=blocks.reply_markdown(reply))
        for msg in rest:
            await client.chat_postMessage(
                channel=channel, thread_ts=thread_ts, text=msg.text, blocks=msg.blocks, **NO_UNFURL
            )
        if reply.proposals:
            await post_answer_proposals(
                client=client,
                repos=self.repos,
                workspace_id=workspace_id,
                channel=channel,
                thread_ts=thread_ts,
                proposal_ids=[ref.id for ref in reply.proposals],
            )
        for att in reply.attachments:
            path = Path(att.path)
            if not await asyncio.to_thread(path.is_file):
                logger.warning("attachment %s is missing: not uploaded", att.filename)
                continue
            await self._upload(
                client=client,
                channel=channel,
                thread_ts=thread_ts,
                filename=att.filename,
                title=att.title,
                file=str(path),
            )
        if rendered.overflow is not None:
            await self._upload(
                client=client,
                channel=channel,
                thread_ts=thread_ts,
                filename=blocks.OVERFLOW_FILENAME,
                title="Full answer",
                content=rendered.overflow,
            )

    async def _upload(
        self,
        *,
        client: AsyncWebClient,
        channel: str,
        thread_ts: str,
        filename: str,
        title: str,
        file: str | None = None,
        content: str | None = None,
    ) -> None:
        """Upload a file into the thread (files upload v2); a refusal is logged, not raised."""
        try:
            await client.files_upload_v2(
                channel=channel,
                thread_ts=thread_ts,
                filename=filename,
                title=title,
                **({"file": file} if file is not None else {"content": content}),
            )
        except SlackApiError as exc:
            logger.warning(
                "could not upload %s to %s (%s)", filename, channel, exc.response.get("error")
            )

    # --- hypotheses ----------------------------------------------------------------

    async def record_feedback(
        self,
        *,
        client: AsyncWebClient,
        workspace_id: str,
        user_id: str,
        channel: str | None,
        thread_ts: str | None,
        hypothesis_id: int,
        vote: int,
    ) -> None:
        """Store a 👍 (``vote=1``) or 👎 (``-1``) and thank the voter (ephemeral)."""
        try:
            await self.repos.hypotheses.vote(
                workspace_id=workspace_id, hypothesis_id=hypothesis_id, user_id=user_id, vote=vote
            )
        except LookupError:
            text = messages.HYPOTHESIS_GONE
        else:
            row = await self.repos.hypotheses.get(
                workspace_id=workspace_id, hypothesis_id=hypothesis_id
            )
            score = await self.repos.hypotheses.score(
                workspace_id=workspace_id, hypothesis_id=hypothesis_id
            )
            template = messages.FEEDBACK_UP if vote > 0 else messages.FEEDBACK_DOWN
            text = template.format(title=escape(row.title if row else "?"), score=score)
            if row is not None and row.conversation_key:
                await self._timeline(
                    workspace_id=workspace_id,
                    key=row.conversation_key,
                    kind="feedback",
                    text=f"{'👍' if vote > 0 else '👎'} {row.title} (net {score:+d})",
                    actor=user_id,
                )
        logger.info("feedback %+d on hypothesis %s in %s", vote, hypothesis_id, workspace_id)
        if channel is None:
            return
        kwargs: dict[str, Any] = {"channel": channel, "user": user_id, "text": text}
        if thread_ts:
            kwargs["thread_ts"] = thread_ts
        await client.chat_postEphemeral(**kwargs)

    async def show_evidence(
        self,
        *,
        client: AsyncWebClient,
        workspace_id: str,
        trigger_id: str,
        hypothesis_id: int,
    ) -> None:
        """Open the evidence modal of a stored hypothesis."""
        row = await self.repos.hypotheses.get(
            workspace_id=workspace_id, hypothesis_id=hypothesis_id
        )
        if row is None:
            view = blocks.evidence_modal(
                title=messages.HYPOTHESIS_GONE, confidence=0.0, evidence=[]
            )
        else:
            evidence = []
            for item in row.evidence:
                try:
                    evidence.append(Evidence.model_validate(item))
                except ValidationError:
                    logger.warning("hypothesis %s has a malformed evidence item", hypothesis_id)
            view = blocks.evidence_modal(
                title=row.title, confidence=row.confidence, evidence=evidence, service=row.service
            )
        await client.views_open(trigger_id=trigger_id, view=view)

    # --- remediation ----------------------------------------------------------------

    async def decide_remediation(
        self,
        *,
        client: AsyncWebClient,
        workspace_id: str,
        proposal_id: str,
        user_id: str,
        approve: bool,
        channel: str | None,
        message_ts: str | None,
        reason: str = "",
    ) -> None:
        """Apply one Approve / Reject click (``answers`` lane: it may execute the action).

        The click is audited whatever happens (:meth:`RemediationService.decide`). An
        accepted click updates the proposal message in place from the stored proposal;
        a refused one tells the clicker why, ephemerally.

        Args:
            client: The Web API client.
            workspace_id: The workspace.
            proposal_id: The proposal clicked.
            user_id: Who clicked (the policy decides whether they may).
            approve: ``True`` for Approve, ``False`` for Reject.
            channel: Channel of the proposal message, if known.
            message_ts: Its ts, if known.
            reason: The reject reason (free text).
        """
        if self.remediation is None:
            if channel:
                await client.chat_postEphemeral(
                    channel=channel, user=user_id, text=messages.REMEDIATION_UNAVAILABLE
                )
            return
        decision = await self.remediation.decide(
            workspace_id=workspace_id,
            proposal_id=proposal_id,
            actor=user_id,
            approve=approve,
            reason=reason,
        )
        if not decision.accepted:
            if channel:
                await client.chat_postEphemeral(
                    channel=channel,
                    user=user_id,
                    text=messages.REMEDIATION_REFUSED.format(reason=escape(decision.reason)),
                )
            return
        if not channel or not message_ts:
            logger.warning("proposal %s decided without a message to update", proposal_id)
            return
        # re-read: a concurrent click may have moved it further since this decision
        current = (
            await self.repos.proposals.get(workspace_id=workspace_id, proposal_id=proposal_id)
            or decision.proposal
        )
        if current is None:  # pragma: no cover - the decision just stored it
            return
        note = None
        if not approve:
            note = messages.REMEDIATION_REJECTED.format(user=user_id, reason=escape(reason))
        msg = blocks.proposal_message(current, note=note)
        await client.chat_update(channel=channel, ts=message_ts, text=msg.text, blocks=msg.blocks)

    async def open_reject_form(
        self,
        *,
        client: AsyncWebClient,
        trigger_id: str,
        proposal_id: str,
        channel: str,
        message_ts: str,
    ) -> None:
        """Open the Reject modal (``intake`` lane: the trigger id expires in 3 s)."""
        view = blocks.reject_modal(proposal_id=proposal_id, channel=channel, message_ts=message_ts)
        await client.views_open(trigger_id=trigger_id, view=view)

    # --- App Home ------------------------------------------------------------------

    async def publish_home(
        self, *, client: AsyncWebClient, workspace_id: str, user_id: str
    ) -> None:
        """Publish the App Home tab for one user (times in the user's time zone)."""
        tz_offset = 0
        try:
            info = await client.users_info(user=user_id)
            tz_offset = int((info.get("user") or {}).get("tz_offset") or 0)
        except SlackApiError as exc:
            logger.info(
                "users.info %s failed (%s): times in UTC", user_id, exc.response.get("error")
            )
        incidents = await self.repos.incidents.list(workspace_id=workspace_id, open_only=True)
        approvals = await self.repos.proposals.list(
            workspace_id=workspace_id, status=ProposalStatus.PENDING
        )
        runs = await self.repos.job_runs.list(workspace_id=workspace_id, job=DIGEST_JOB, limit=1)
        view = blocks.home_view(
            incidents=incidents,
            approvals=approvals,
            last_digest=runs[0] if runs else None,
            digest_cron=self.digest_cron,
            now=self.clock(),
            tz_offset_s=tz_offset,
        )
        await client.views_publish(user_id=user_id, view=view)


async def post_proposal(
    *,
    client: AsyncWebClient,
    channel: str,
    proposal: RemediationProposal,
    thread_ts: str | None = None,
) -> str:
    """Post a proposal message (dry run, Approve / Reject) and return its ts.

    Args:
        client: The Web API client.
        channel: Where to post.
        proposal: The stored proposal.
        thread_ts: Post in this thread (e.g. the incident's), else at the top level.

    Returns:
        The ts of the posted message (clicks update it in place).
    """
    msg = blocks.proposal_message(proposal)
    kwargs: dict[str, Any] = {"channel": channel, "text": msg.text, "blocks": msg.blocks}
    if thread_ts:
        kwargs["thread_ts"] = thread_ts
    posted = await client.chat_postMessage(**kwargs, **NO_UNFURL)
    return str(posted["ts"])
