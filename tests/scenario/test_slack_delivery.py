"""Slack's delivery contract: signatures, retries (X-Slack-Retry-Num), rate limits."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import pytest
from sqlmodel import select

from memory.models import ConversationTurn, ProcessedEvent
from tests.scenario import slack_payloads as sp
from tests.scenario.harness import SlackHarness, running_app, slack_settings
from tests.stubs.slack_api import SlackApiStub


async def test_retried_event_is_answered_once(slack: SlackHarness):
    ev = sp.mention("what's wrong with checkout?")
    event_id = sp.new_event_id()
    assert (await slack.event(ev, event_id=event_id)).status_code == 200
    for retry in (1, 2):  # Slack's redeliveries: same event id, X-Slack-Retry-Num
        assert (await slack.event(ev, event_id=event_id, retry_num=retry)).status_code == 200
    await slack.settle()
    assert len(slack.calls("chat.postMessage")) == 1
    assert len(slack.calls("chat.update")) == 1
    assert len(await slack.turns(f"slack:{sp.CHANNEL}:{ev['ts']}")) == 2


async def test_concurrent_deliveries_on_two_replicas_give_one_reply(
    tmp_path: Path, slack_stub: SlackApiStub
):
    # Two app instances (replicas) on one database; the same event hits both, many times.
    settings = slack_settings(tmp_path / "data", slack_stub, workers=8)
    async with running_app(settings, slack_stub) as one, running_app(settings, slack_stub) as two:
        ev = sp.mention("anything at all")
        event_id = sp.new_event_id()
        sends = [
            (one if i % 2 else two).event(ev, event_id=event_id, retry_num=i or None)
            for i in range(10)
        ]
        assert {r.status_code for r in await asyncio.gather(*sends)} == {200}
        await slack_stub.wait_calls("chat.update")
        await one.settle()
        await two.settle()
        assert len(one.calls("chat.postMessage")) == 1
        assert len(one.calls("chat.update")) == 1
        async with one.db.session() as s:
            rows = (
                await s.exec(select(ProcessedEvent).where(ProcessedEvent.event_id == event_id))
            ).all()
        assert len(rows) == 1


@pytest.mark.parametrize(
    "tamper",
    [
        "bad signature",
        "old timestamp",
        "no signature",
        "no timestamp",
        "no headers",
        "wrong secret",
    ],
)
async def test_unverified_requests_get_401_and_change_nothing(slack: SlackHarness, tamper: str):
    body = json.dumps(sp.event_body(sp.mention("what's wrong with checkout?")))
    headers = sp.signed_headers(body, content_type=sp.JSON)
    if tamper == "bad signature":
        headers["X-Slack-Signature"] = "v0=" + "0" * 64
    elif tamper == "old timestamp":
        old = int(time.time()) - 5 * 60 - 30
        headers = sp.signed_headers(body, content_type=sp.JSON, timestamp=old)
    elif tamper == "no signature":
        del headers["X-Slack-Signature"]
    elif tamper == "no timestamp":
        del headers["X-Slack-Request-Timestamp"]
    elif tamper == "no headers":
        headers = {"Content-Type": sp.JSON}
    elif tamper == "wrong secret":
        headers = sp.signed_headers(body, content_type=sp.JSON, secret="not-the-secret")
    resp = await slack.post(body, content_type=sp.JSON, headers=headers)
    assert resp.status_code == 401
    await slack.settle()
    assert slack.calls("chat.postMessage") == []
    async with slack.db.session() as s:
        turns = (
            await s.exec(select(ConversationTurn).where(ConversationTurn.workspace_id == "T0TEST"))
        ).all()
        events = (
            await s.exec(select(ProcessedEvent).where(ProcessedEvent.workspace_id == "T0TEST"))
        ).all()
    # only the settle DM left traces
    assert {t.conversation_key.split(":")[1] for t in turns} == {"D0SETTLE"}
    assert len(events) == 1


@pytest.mark.parametrize("kind", ["command", "block_actions", "view_submission"])
@pytest.mark.parametrize("tamper", ["bad signature", "old timestamp", "no headers"])
async def test_unverified_commands_and_interactivity_get_401(
    slack: SlackHarness, kind: str, tamper: str
):
    if kind == "command":
        body = sp.form_body(
            sp.command_form("ask is checkout ok?", response_url=slack.stub.response_url())
        )
    elif kind == "block_actions":
        body = sp.interactivity_body(sp.block_actions("investigation.rerun", "q", message_ts="1.1"))
    else:
        body = sp.interactivity_body(
            sp.view_submission(
                callback_id="ask.submit",
                values={"ask.question": {"ask.question_input": {"value": "q"}}},
                private_metadata='{"channel": "C0CHAN"}',
            )
        )
    if tamper == "bad signature":
        headers = sp.signed_headers(body, content_type=sp.FORM, secret="not-the-secret")
    elif tamper == "old timestamp":
        headers = sp.signed_headers(body, content_type=sp.FORM, timestamp=int(time.time()) - 400)
    else:
        headers = {"Content-Type": sp.FORM}
    resp = await slack.post(body, content_type=sp.FORM, headers=headers)
    assert resp.status_code == 401
    await slack.settle()
    assert [m for m in slack.stub.methods() if m != "auth.test"] == [
        "chat.postMessage",
        "chat.update",
    ]  # the settle DM only
    assert all(c.params["channel"] == "D0SETTLE" for c in slack.stub.calls("chat.postMessage"))


async def test_tampered_body_is_refused(slack: SlackHarness):
    body = json.dumps(sp.event_body(sp.mention("hello")))
    headers = sp.signed_headers(body, content_type=sp.JSON)
    tampered = body.replace("hello", "rm -rf")
    resp = await slack.post(tampered, content_type=sp.JSON, headers=headers)
    assert resp.status_code == 401


async def test_unsigned_requests_cause_no_slack_calls_at_all(
    tmp_path: Path, slack_stub: SlackApiStub
):
    settings = slack_settings(tmp_path / "data", slack_stub)
    async with running_app(settings, slack_stub) as slack:
        body = json.dumps(sp.event_body(sp.mention("hello")))
        resp = await slack.post(body, content_type=sp.JSON, headers={"Content-Type": sp.JSON})
        assert resp.status_code == 401
        assert slack_stub.calls() == []  # not even auth.test


async def test_url_verification_challenge(slack: SlackHarness):
    body = json.dumps(
        {
            "token": "x",
            "challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P",
            "type": "url_verification",
        }
    )
    resp = await slack.post(body, content_type=sp.JSON)
    assert resp.status_code == 200
    assert resp.json() == {"challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"}


async def test_rate_limited_update_is_retried_after_retry_after(slack: SlackHarness):
    slack.stub.fail("chat.update", status=429, retry_after="0")
    await slack.event(sp.mention("hello"))
    await slack.stub.wait_for(
        lambda: [c.status for c in slack.stub.calls("chat.update")] == [429, 200],
        what="a 429 then a retried chat.update",
    )
    first, second = slack.stub.calls("chat.update")
    assert first.params == second.params


async def test_dropped_connection_is_retried(slack: SlackHarness):
    slack.stub.drop("chat.postMessage")
    await slack.event(sp.mention("hello"))
    [update] = await slack.stub.wait_calls("chat.update")
    posts = slack.stub.calls("chat.postMessage")
    assert [p.status for p in posts] == [0, 200]  # 0: closed without an answer
    assert update.params["ts"] == posts[1].response["ts"]
