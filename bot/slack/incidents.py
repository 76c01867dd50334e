r"""Incident threads in Slack and the lifecycle driven from them.

:class:`SlackIncidentNotifier` is the Slack side of :class:`jobs.notify.IncidentFeed`:
it posts the incident message (:func:`bot.slack.blocks.incident_message`) that heads
the incident's thread, ``chat.update``\\ s it in place, and posts the automatic
investigation into the thread.

:class:`IncidentOps` runs what responders do from Slack (buttons on the incident
message, ``/sre incident|timeline|postmortem``): transitions with the Slack user id
as actor (the incident message is updated and the thread gets a short note; a
refused transition is explained to the clicker only), the timeline, and post-mortem
drafts uploaded as a Markdown file into the incident's thread.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from slack_bolt.context.respond.async_respond import AsyncRespond
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from agents.postmortem import PostmortemWriter
from agents.reply import Reply
from bot.slack import blocks, messages
from bot.slack.mrkdwn import NO_UNFURL, escape
from bot.slack.proposals import SlackProposalMessages, post_answer_proposals
from jobs.incidents import IncidentService
from jobs.postmortem import draft_postmortem
from jobs.proposals import MessageRef
from memory.errors import InvalidTransition
from memory.models import Alert, Incident, IncidentStatus, RemediationProposal
from memory.repositories import Repositories

logger = logging.getLogger(__name__)

TokenLookup = Callable[[str], Awaitable[str | None]]
"""workspace id → the bot token to use there (OAuth installs); ``None``: the client's own."""


async def upload_text(
    *,
    client: AsyncWebClient,
    channel: str,
    thread_ts: str | None,
    filename: str,
    title: str,
    content: str | None = None,
    file: str | None = None,
    token: str | None = None,
) -> str | None:
    """Upload a file (files upload v2) into a thread or channel.

    Args:
        client: The Web API client.
        channel: Channel id.
        thread_ts: The thread, or ``None`` for the channel itself.
        filename: File name shown in Slack.
        title: File title.
        content: Text content (or ``file``).
        file: Path of a local file (or ``content``).
        token: Bot token overriding the client's.

    Returns:
        ``None`` when uploaded, else Slack's error code (logged, not raised).
    """
    kwargs: dict[str, Any] = {"channel": channel, "filename": filename, "title": title}
    if thread_ts:
        kwargs["thread_ts"] = thread_ts
    if token:
        kwargs["token"] = token
    if file is not None:
        kwargs["file"] = file
    else:
        kwargs["content"] = content or ""
    try:
        await client.files_upload_v2(**kwargs)
    except SlackApiError as exc:
        error = str(exc.response.get("error") or "unknown_error")
        logger.warning("could not upload %s to %s (%s)", filename, channel, error)
        return error
    return None


class SlackIncidentNotifier:
    """:class:`jobs.notify.IncidentNotifier` over the Slack Web API."""

    def __init__(
        self,
        client: AsyncWebClient,
        *,
        token_for: TokenLookup | None = None,
        repos: Repositories | None = None,
    ) -> None:
        """Post with ``client``.

        Args:
            client: The Web API client (with the bot token in single-workspace mode).
            token_for: In OAuth mode, finds each workspace's bot token.
            repos: Where proposals live: with it, the proposals an incident's
                investigation made are posted in its thread (with Approve / Reject).
        """
        self._client = client
        self._token_for = token_for
        self._repos = repos

    @property
    def client(self) -> AsyncWebClient:
        """The Web API client it posts with."""
        return self._client

    @property
    def token_for(self) -> TokenLookup | None:
        """The per-workspace token lookup (OAuth installs), if any."""
        return self._token_for

    async def _token(self, workspace_id: str) -> dict[str, Any]:
        if self._token_for is None:
            return {}
        token = await self._token_for(workspace_id)
        return {"token": token} if token else {}

    async def open_thread(
        self, *, workspace_id: str, channel: str, incident: Incident, alerts: list[Alert]
    ) -> str:
        """Post the incident message; return its ts (the thread id)."""
        msg = blocks.incident_message(incident, alerts)
        posted = await self._client.chat_postMessage(
            channel=channel,
            text=msg.text,
            blocks=msg.blocks,
            **NO_UNFURL,
            **await self._token(workspace_id),
        )
        return str(posted["ts"])

    async def update_thread(
        self,
        *,
        workspace_id: str,
        channel: str,
        thread_ts: str,
        incident: Incident,
        alerts: list[Alert],
    ) -> None:
        """Update the incident message in place."""
        msg = blocks.incident_message(incident, alerts)
        await self._client.chat_update(
            channel=channel,
            ts=thread_ts,
            text=msg.text,
            blocks=msg.blocks,
            **await self._token(workspace_id),
        )

    async def post_reply(
        self, *, workspace_id: str, channel: str, thread_ts: str | None, reply: Reply
    ) -> None:
        """Post an answer into the thread (its messages, attachments and overflow file)."""
        token = await self._token(workspace_id)
        rendered = blocks.render_reply(reply)
        for msg in rendered.messages:
            await self._client.chat_postMessage(
                channel=channel,
                thread_ts=thread_ts,
                text=msg.text,
                blocks=msg.blocks,
                **NO_UNFURL,
                **token,
            )
        for att in reply.attachments:
            if not await asyncio.to_thread(Path(att.path).is_file):
                logger.warning("attachment %s is missing: not uploaded", att.filename)
                continue
            await upload_text(
                client=self._client,
                channel=channel,
                thread_ts=thread_ts,
                filename=att.filename,
                title=att.title,
                file=att.path,
                token=token.get("token"),
            )
        if rendered.overflow is not None:
            await upload_text(
                client=self._client,
                channel=channel,
                thread_ts=thread_ts,
                filename=blocks.OVERFLOW_FILENAME,
                title="Full answer",
                content=rendered.overflow,
                token=token.get("token"),
            )
        if reply.proposals and thread_ts is not None and self._repos is not None:
            await post_answer_proposals(
                client=self._client,
                repos=self._repos,
                workspace_id=workspace_id,
                channel=channel,
                thread_ts=thread_ts,
                proposal_ids=[p.id for p in reply.proposals],
                token_for=self._token_for,
            )


class SlackChannelSink:
    """Posts job output (weekly digest, predictive alerts, proposals) into one channel.

    It is also a :class:`jobs.proposals.ProposalSink`: job-made proposals are posted
    with their Approve / Reject buttons and updated in place later.
    """

    def __init__(self, notifier: SlackIncidentNotifier, *, workspace_id: str, channel: str) -> None:
        self._notifier = notifier
        self._workspace_id = workspace_id
        self._channel = channel
        self._proposals = SlackProposalMessages(
            notifier.client, token_for=notifier.token_for, channel=channel
        )

    async def post_proposal(self, proposal: RemediationProposal) -> MessageRef | None:
        """Post a proposal message in the channel; where it went."""
        return await self._proposals.post_proposal(proposal)

    async def update_proposal(self, proposal: RemediationProposal, *, note: str = "") -> None:
        """Update a proposal's message in place."""
        await self._proposals.update_proposal(proposal, note=note)

    async def post_digest(self, reply: Reply) -> None:
        """Post ``reply`` (messages, chart and overflow file) to the channel."""
        await self._notifier.post_reply(
            workspace_id=self._workspace_id, channel=self._channel, thread_ts=None, reply=reply
        )


class IncidentOps:
    """Incident workflows started from Slack (buttons and ``/sre`` subcommands).

    Every method tells the Slack user what happened: through ``respond`` (slash
    commands) or, without it, ``chat.postEphemeral`` in ``channel`` (buttons).
    """

    def __init__(
        self,
        *,
        repos: Repositories,
        postmortem_on_resolve: bool = False,
        writer: PostmortemWriter | None = None,
    ) -> None:
        """Work over ``repos``.

        Args:
            repos: The repositories.
            postmortem_on_resolve: Also draft the post-mortem when an incident is resolved.
            writer: Post-mortem writer (``None``: the template).
        """
        self.repos = repos
        self.service = IncidentService(repos)
        self.postmortem_on_resolve = postmortem_on_resolve
        self.writer = writer

    async def _tell(
        self,
        *,
        client: AsyncWebClient,
        respond: AsyncRespond | None,
        channel: str | None,
        user_id: str,
        text: str,
        thread_ts: str | None = None,
        msg: blocks.Message | None = None,
    ) -> None:
        """A message only ``user_id`` sees."""
        shown = msg or blocks.error_message(text)
        if respond is not None:
            await respond(text=shown.text, blocks=shown.blocks, response_type="ephemeral")
            return
        if not channel:
            logger.info("nowhere to tell %s: %s", user_id, text)
            return
        kwargs: dict[str, Any] = {
            "channel": channel,
            "user": user_id,
            "text": shown.text,
            "blocks": shown.blocks,
        }
        if thread_ts:
            kwargs["thread_ts"] = thread_ts
        try:
            await client.chat_postEphemeral(**kwargs)
        except SlackApiError as exc:
            logger.warning("ephemeral to %s failed (%s)", user_id, exc.response.get("error"))

    async def refresh_message(self, *, client: AsyncWebClient, incident: Incident) -> None:
        """``chat.update`` the incident message, if the incident has a thread."""
        if incident.id is None or not incident.channel_id or not incident.thread_ts:
            return
        alerts = await self.repos.alerts.list(
            workspace_id=incident.workspace_id, incident_id=incident.id
        )
        msg = blocks.incident_message(incident, alerts)
        try:
            await client.chat_update(
                channel=incident.channel_id, ts=incident.thread_ts, text=msg.text, blocks=msg.blocks
            )
        except SlackApiError as exc:
            logger.warning(
                "could not update the message of incident %s (%s)",
                incident.id,
                exc.response.get("error"),
            )

    async def transition(
        self,
        *,
        client: AsyncWebClient,
        workspace_id: str,
        incident_id: int,
        new: IncidentStatus,
        actor: str,
        reason: str = "",
        channel: str | None = None,
        thread_ts: str | None = None,
        respond: AsyncRespond | None = None,
    ) -> None:
        """Move an incident forward on behalf of Slack user ``actor``.

        On success the incident message is updated in place and its thread gets a
        note (and, if configured, the post-mortem when resolved); an invalid
        transition is explained to ``actor`` only.

        Args:
            client: The Web API client of the request.
            workspace_id: The Slack team.
            incident_id: The incident.
            new: The target status.
            actor: Slack user id (recorded on the timeline).
            reason: Optional reason (recorded on the timeline).
            channel: Where the request came from (for the ephemeral answer).
            thread_ts: Thread of the clicked message, if any.
            respond: The slash command's ``respond`` (else ``chat.postEphemeral``).
        """
        try:
            incident = await self.service.transition(
                workspace_id=workspace_id,
                incident_id=incident_id,
                new=new,
                actor=actor,
                reason=reason,
            )
        except InvalidTransition as exc:
            await self._tell(
                client=client,
                respond=respond,
                channel=channel,
                thread_ts=thread_ts,
                user_id=actor,
                text=messages.INCIDENT_REFUSED.format(reason=escape(str(exc))),
            )
            return
        logger.info("incident %s of %s → %s by %s", incident_id, workspace_id, new.value, actor)
        await self.refresh_message(client=client, incident=incident)
        if incident.channel_id and incident.thread_ts:
            note = messages.INCIDENT_MOVED.format(
                emoji=blocks.STATUS_EMOJI[new],
                user=actor,
                id=incident_id,
                status=new.value,
                reason=f": {escape(reason)}" if reason else "",
            )
            try:
                await client.chat_postMessage(
                    channel=incident.channel_id,
                    thread_ts=incident.thread_ts,
                    text=note,
                    **NO_UNFURL,
                )
            except SlackApiError as exc:
                logger.warning(
                    "could not note incident %s's transition (%s)",
                    incident_id,
                    exc.response.get("error"),
                )
        if respond is not None:
            await self._tell(
                client=client,
                respond=respond,
                channel=channel,
                user_id=actor,
                text=messages.INCIDENT_MOVED_EPHEMERAL.format(id=incident_id, status=new.value),
            )
        if new is IncidentStatus.RESOLVED and self.postmortem_on_resolve:
            await self.postmortem(
                client=client,
                workspace_id=workspace_id,
                incident_id=incident_id,
                actor=actor,
                channel=channel,
            )

    async def timeline(
        self,
        *,
        client: AsyncWebClient,
        workspace_id: str,
        incident_id: int,
        user_id: str,
        channel: str | None = None,
        respond: AsyncRespond | None = None,
    ) -> None:
        """Show an incident's timeline to ``user_id`` only.

        Args:
            client: The Web API client of the request.
            workspace_id: The Slack team.
            incident_id: The incident.
            user_id: Who asked.
            channel: Where the request came from.
            respond: The slash command's ``respond``.
        """
        try:
            incident = await self.service.get(workspace_id=workspace_id, incident_id=incident_id)
        except InvalidTransition as exc:
            await self._tell(
                client=client,
                respond=respond,
                channel=channel,
                user_id=user_id,
                text=messages.INCIDENT_REFUSED.format(reason=escape(str(exc))),
            )
            return
        events = await self.service.timeline(workspace_id=workspace_id, incident_id=incident_id)
        msg = blocks.timeline_message(incident, events)
        await self._tell(
            client=client,
            respond=respond,
            channel=channel,
            user_id=user_id,
            text=msg.text,
            msg=msg,
        )

    async def postmortem(
        self,
        *,
        client: AsyncWebClient,
        workspace_id: str,
        incident_id: int,
        actor: str,
        channel: str | None = None,
        thread_ts: str | None = None,
        respond: AsyncRespond | None = None,
    ) -> None:
        """Draft the post-mortem and upload it as Markdown into the incident's thread.

        Without a thread, it goes to the incident's channel, else to ``channel``. The
        draft is also stored on the timeline (:func:`jobs.postmortem.draft_postmortem`).

        Args:
            client: The Web API client of the request.
            workspace_id: The Slack team.
            incident_id: The incident.
            actor: Slack user id (recorded on the timeline).
            channel: Where the request came from.
            thread_ts: Thread of the clicked message, if any.
            respond: The slash command's ``respond``.
        """
        try:
            incident = await self.service.get(workspace_id=workspace_id, incident_id=incident_id)
            markdown = await draft_postmortem(
                self.repos,
                workspace_id=workspace_id,
                incident_id=incident_id,
                actor=actor,
                writer=self.writer,
            )
        except InvalidTransition as exc:
            await self._tell(
                client=client,
                respond=respond,
                channel=channel,
                thread_ts=thread_ts,
                user_id=actor,
                text=messages.INCIDENT_REFUSED.format(reason=escape(str(exc))),
            )
            return
        target = incident.channel_id or channel
        target_thread = incident.thread_ts if incident.channel_id else None
        if not target:
            logger.warning("post-mortem of incident %s drafted but not posted", incident_id)
            await self._tell(
                client=client,
                respond=respond,
                channel=channel,
                user_id=actor,
                text=messages.POSTMORTEM_NOWHERE.format(id=incident_id),
            )
            return
        error = await upload_text(
            client=client,
            channel=target,
            thread_ts=target_thread,
            filename=f"postmortem-incident-{incident_id}.md",
            title=messages.POSTMORTEM_TITLE.format(id=incident_id),
            content=markdown,
        )
        if error is not None:
            text = messages.POSTMORTEM_UPLOAD_FAILED.format(id=incident_id, error=error)
        else:
            text = messages.POSTMORTEM_POSTED.format(id=incident_id, channel=target)
        if error is not None or respond is not None:
            await self._tell(
                client=client,
                respond=respond,
                channel=channel,
                thread_ts=thread_ts,
                user_id=actor,
                text=text,
            )
