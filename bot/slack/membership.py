"""Whether the bot takes part in a thread (follow-ups there need no mention).

First our own database: a thread where the bot answered has conversation turns
under ``slack:{channel}:{thread_ts}``. Otherwise (threads the bot started some
other way, e.g. an incident notification) ``conversations.replies`` says whether
the bot posted in it; that answer is cached for a while per thread, so a busy
channel costs one API call per thread, not one per message.
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from collections.abc import Callable

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from memory.repositories import Repositories

logger = logging.getLogger(__name__)


def conversation_key(channel: str, thread_ts: str) -> str:
    """The ChatService conversation key of a Slack thread."""
    return f"slack:{channel}:{thread_ts}"


class ThreadMembership:
    """Answers "has the bot posted in this thread?" cheaply."""

    def __init__(
        self,
        *,
        repos: Repositories,
        ttl_s: float = 600.0,
        max_entries: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._repos = repos
        self._ttl = ttl_s
        self._max = max_entries
        self._clock = clock
        self._cache: OrderedDict[tuple[str, str], tuple[float, bool]] = OrderedDict()

    def remember(self, *, workspace_id: str, channel: str, thread_ts: str) -> None:
        """Record that the bot now takes part in a thread."""
        self._put((workspace_id, conversation_key(channel, thread_ts)), True)

    async def takes_part(
        self,
        *,
        client: AsyncWebClient,
        workspace_id: str,
        channel: str,
        thread_ts: str,
        bot_user_id: str | None,
        bot_id: str | None,
    ) -> bool:
        """Whether the bot has answered, or posted, in the thread."""
        key = (workspace_id, conversation_key(channel, thread_ts))
        cached = self._cache.get(key)
        if cached is not None and cached[1]:
            return True
        turns = await self._repos.conversations.count(
            workspace_id=workspace_id, conversation_key=key[1]
        )
        if turns:
            self._put(key, True)
            return True
        if cached is not None and self._clock() - cached[0] < self._ttl:
            return cached[1]
        found = await self._posted_in(
            client=client,
            channel=channel,
            thread_ts=thread_ts,
            bot_user_id=bot_user_id,
            bot_id=bot_id,
        )
        self._put(key, found)
        return found

    async def _posted_in(
        self,
        *,
        client: AsyncWebClient,
        channel: str,
        thread_ts: str,
        bot_user_id: str | None,
        bot_id: str | None,
    ) -> bool:
        try:
            resp = await client.conversations_replies(channel=channel, ts=thread_ts, limit=200)
        except SlackApiError as exc:
            logger.info(
                "conversations.replies %s/%s failed (%s): not answering there",
                channel,
                thread_ts,
                exc.response.get("error"),
            )
            return False
        for msg in resp.get("messages") or []:
            if bot_user_id and msg.get("user") == bot_user_id:
                return True
            if bot_id and msg.get("bot_id") == bot_id:
                return True
        return False

    def _put(self, key: tuple[str, str], value: bool) -> None:
        self._cache[key] = (self._clock(), value)
        self._cache.move_to_end(key)
        while len(self._cache) > self._max:
            self._cache.popitem(last=False)
