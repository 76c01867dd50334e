"""Real Slack request payloads, signed with the signing secret (v0 scheme).

Bodies are what Slack sends: JSON ``event_callback`` envelopes for the Events API,
``application/x-www-form-urlencoded`` forms for slash commands, and a form with one
``payload`` field (JSON) for interactivity (block_actions, view_submission).
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import time
from typing import Any
from urllib.parse import urlencode

from tests.stubs.slack_api import APP_ID, BOT_USER_ID, SIGNING_SECRET, TEAM_ID

CHANNEL = "C0CHAN"
USER = "U0HUMAN"
_ids = itertools.count(1)
_ts = itertools.count(1)

JSON = "application/json"
FORM = "application/x-www-form-urlencoded"


def new_ts() -> str:
    """A fresh message ts (distinct from the stub's)."""
    return f"1690000000.{next(_ts):06d}"


def new_event_id() -> str:
    """A fresh event id."""
    return f"Ev{next(_ids):010d}"


def signature(body: str, *, timestamp: int, secret: str = SIGNING_SECRET) -> str:
    """``X-Slack-Signature`` of a body."""
    base = f"v0:{timestamp}:{body}".encode()
    return "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()


def signed_headers(
    body: str,
    *,
    content_type: str,
    timestamp: int | None = None,
    secret: str = SIGNING_SECRET,
    retry_num: int | None = None,
) -> dict[str, str]:
    """The headers Slack sends with ``body``."""
    ts = int(time.time()) if timestamp is None else timestamp
    headers = {
        "Content-Type": content_type,
        "X-Slack-Request-Timestamp": str(ts),
        "X-Slack-Signature": signature(body, timestamp=ts, secret=secret),
    }
    if retry_num is not None:
        headers["X-Slack-Retry-Num"] = str(retry_num)
        headers["X-Slack-Retry-Reason"] = "http_timeout"
    return headers


def event_body(
    event: dict[str, Any], *, event_id: str | None = None, team_id: str = TEAM_ID
) -> dict[str, Any]:
    """An ``event_callback`` envelope."""
    return {
        "token": "legacy-verification-token",
        "team_id": team_id,
        "api_app_id": APP_ID,
        "event": event,
        "type": "event_callback",
        "event_id": event_id or new_event_id(),
        "event_time": int(time.time()),
        "authorizations": [
            {
                "team_id": team_id,
                "user_id": BOT_USER_ID,
                "is_bot": True,
                "is_enterprise_install": False,
            }
        ],
        "is_ext_shared_channel": False,
    }


def mention(
    text: str,
    *,
    channel: str = CHANNEL,
    ts: str | None = None,
    thread_ts: str | None = None,
    user: str = USER,
    bot_user_id: str = BOT_USER_ID,
) -> dict[str, Any]:
    """An ``app_mention`` event."""
    event: dict[str, Any] = {
        "type": "app_mention",
        "user": user,
        "text": f"<@{bot_user_id}> {text}",
        "ts": ts or new_ts(),
        "channel": channel,
        "event_ts": ts or new_ts(),
    }
    if thread_ts:
        event["thread_ts"] = thread_ts
    return event


def message(
    text: str,
    *,
    channel: str = CHANNEL,
    ts: str | None = None,
    thread_ts: str | None = None,
    user: str | None = USER,
    channel_type: str = "channel",
    **extra: Any,
) -> dict[str, Any]:
    """A ``message`` event (``message.channels`` / ``message.im``...)."""
    stamp = ts or new_ts()
    event: dict[str, Any] = {
        "type": "message",
        "text": text,
        "ts": stamp,
        "channel": channel,
        "event_ts": stamp,
        "channel_type": channel_type,
        **extra,
    }
    if user is not None:
        event["user"] = user
    if thread_ts:
        event["thread_ts"] = thread_ts
    return event


def command_form(
    text: str,
    *,
    response_url: str,
    channel: str = CHANNEL,
    user: str = USER,
    team_id: str = TEAM_ID,
    trigger_id: str = "13345224609.738474920.8088930838d88f008e0",
) -> dict[str, str]:
    """The fields of a ``/sre`` slash command."""
    return {
        "token": "legacy-verification-token",
        "team_id": team_id,
        "team_domain": "test",
        "channel_id": channel,
        "channel_name": "ops",
        "user_id": user,
        "user_name": "human",
        "command": "/sre",
        "text": text,
        "api_app_id": APP_ID,
        "is_enterprise_install": "false",
        "response_url": response_url,
        "trigger_id": trigger_id,
    }


def form_body(fields: dict[str, str]) -> str:
    """URL-encoded form body."""
    return urlencode(fields)


def block_actions(
    action_id: str,
    value: str,
    *,
    message_ts: str,
    thread_ts: str | None = None,
    channel: str = CHANNEL,
    user: str = USER,
    team_id: str = TEAM_ID,
    response_url: str = "https://hooks.slack.com/actions/T0/1/x",
    block_id: str = "hypothesis.1.actions",
) -> dict[str, Any]:
    """A ``block_actions`` payload for a button in a message."""
    message_body: dict[str, Any] = {
        "type": "message",
        "user": BOT_USER_ID,
        "ts": message_ts,
        "text": "…",
    }
    if thread_ts:
        message_body["thread_ts"] = thread_ts
    return {
        "type": "block_actions",
        "team": {"id": team_id, "domain": "test"},
        "user": {"id": user, "username": "human", "team_id": team_id},
        "api_app_id": APP_ID,
        "token": "legacy-verification-token",
        "container": {
            "type": "message",
            "message_ts": message_ts,
            "channel_id": channel,
            "is_ephemeral": False,
        },
        "trigger_id": "13345224609.738474920.8088930838d88f008e1",
        "channel": {"id": channel, "name": "ops"},
        "message": message_body,
        "response_url": response_url,
        "actions": [
            {
                "type": "button",
                "block_id": block_id,
                "action_id": action_id,
                "value": value,
                "text": {"type": "plain_text", "text": "x"},
                "action_ts": str(time.time()),
            }
        ],
    }


def view_submission(
    *, callback_id: str, values: dict[str, Any], private_metadata: str, user: str = USER
) -> dict[str, Any]:
    """A ``view_submission`` payload."""
    return {
        "type": "view_submission",
        "team": {"id": TEAM_ID, "domain": "test"},
        "user": {"id": user, "username": "human", "team_id": TEAM_ID},
        "api_app_id": APP_ID,
        "token": "legacy-verification-token",
        "trigger_id": "13345224609.738474920.8088930838d88f008e2",
        "view": {
            "id": "V0VIEW",
            "team_id": TEAM_ID,
            "type": "modal",
            "callback_id": callback_id,
            "private_metadata": private_metadata,
            "state": {"values": values},
            "hash": "156772938.1827394",
            "title": {"type": "plain_text", "text": "Ask SRE Copilot"},
            "blocks": [],
        },
        "response_urls": [],
    }


def interactivity_body(payload: dict[str, Any]) -> str:
    """The form body Slack posts for interactivity."""
    return urlencode({"payload": json.dumps(payload)})
