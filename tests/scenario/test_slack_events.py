"""Mentions, thread follow-ups and DMs: signed events over HTTP → placeholder → answer."""

from __future__ import annotations

import asyncio
from pathlib import Path

from tests.scenario import slack_payloads as sp
from tests.scenario.harness import SlackHarness, running_app, slack_settings
from tests.stubs.slack_api import BOT_TOKEN, BOT_USER_ID, SlackApiStub


async def test_mention_posts_placeholder_then_updates_it_with_the_answer(slack: SlackHarness):
    ev = sp.mention("what's wrong with checkout?")
    resp = await slack.event(ev)
    assert resp.status_code == 200

    [update] = await slack.stub.wait_calls("chat.update")
    [placeholder] = slack.stub.calls("chat.postMessage")
    assert placeholder.params["channel"] == sp.CHANNEL
    assert placeholder.params["thread_ts"] == ev["ts"]
    assert placeholder.block("placeholder") is not None
    assert placeholder.token == BOT_TOKEN
    assert update.params["ts"] == placeholder.response["ts"]
    headline = update.block("reply.headline")
    assert headline is not None
    assert headline["text"]["text"].startswith("*checkout* is failing")
    assert update.block("hypothesis.1") is not None
    actions = update.block("hypothesis.1.actions")
    assert [e["action_id"] for e in actions["elements"]] == [
        "hypothesis.feedback_up",
        "hypothesis.feedback_down",
        "hypothesis.show_evidence",
    ]
    assert update.block("reply.promql") is not None
    assert update.block("reply.runbooks") is not None
    assert update.block("reply.actions")["elements"][0]["value"] == "what's wrong with checkout?"
    # the conversation is stored per (team, channel, thread)
    turns = await slack.turns(f"slack:{sp.CHANNEL}:{ev['ts']}")
    assert [t.role for t in turns] == ["user", "assistant"]
    assert turns[0].text == "what's wrong with checkout?"  # mention stripped
    assert turns[0].user_id == sp.USER


async def test_ack_returns_before_the_answer_is_computed(tmp_path: Path, slack_stub: SlackApiStub):
    gate = asyncio.Event()
    settings = slack_settings(tmp_path / "data", slack_stub)
    async with running_app(settings, slack_stub, gate=gate) as slack:
        resp = await slack.event(sp.mention("anything"))
        assert resp.status_code == 200  # acknowledged while the answer is still blocked
        await slack_stub.wait_calls("chat.postMessage")  # placeholder posted at once
        assert slack_stub.calls("chat.update") == []
        gate.set()
        [update] = await slack_stub.wait_calls("chat.update")
        assert update.block("reply.headline")["text"]["text"] == "echo: anything"


async def test_follow_up_in_the_thread_needs_no_mention_and_sees_history(slack: SlackHarness):
    root = sp.mention("what's wrong with checkout?")
    await slack.event(root)
    await slack.stub.wait_calls("chat.update")

    follow = sp.message("why do you think it's the DB?", thread_ts=root["ts"])
    assert (await slack.event(follow)).status_code == 200
    updates = await slack.stub.wait_calls("chat.update", 2)
    assert (
        updates[1].block("reply.headline")["text"]["text"] == "echo: why do you think it's the DB?"
    )
    posts = slack.stub.calls("chat.postMessage")
    assert [p.params["thread_ts"] for p in posts] == [root["ts"], root["ts"]]
    key, text, history = slack.responder.seen[-1]
    assert key == f"slack:{sp.CHANNEL}:{root['ts']}"
    assert history[0] == "what's wrong with checkout?"


async def test_thread_the_bot_is_not_in_is_ignored(slack: SlackHarness):
    parent = sp.new_ts()
    await slack.event(sp.message("just chatting", thread_ts=parent))
    await slack.settle()
    assert len(slack.calls("conversations.replies")) == 1
    assert slack.calls("chat.postMessage") == []


async def test_thread_where_the_bot_posted_otherwise_is_answered(slack: SlackHarness):
    parent = sp.new_ts()
    slack.stub.seed_thread(
        sp.CHANNEL,
        parent,
        [
            {
                "type": "message",
                "user": BOT_USER_ID,
                "bot_id": "B0BOT",
                "ts": parent,
                "text": "Incident #4 opened",
            }
        ],
    )
    await slack.event(sp.message("is it still firing?", thread_ts=parent))
    [update] = await slack.stub.wait_calls("chat.update")
    assert update.block("reply.headline")["text"]["text"] == "echo: is it still firing?"


async def test_channel_message_that_mentions_the_bot_is_answered_once(slack: SlackHarness):
    # Slack sends both app_mention and message for the same message in a channel.
    ev = sp.mention("hello there")
    await slack.event(sp.message(ev["text"], ts=ev["ts"]))
    await slack.event(ev)
    await slack.settle()
    assert len(slack.calls("chat.postMessage")) == 1


async def test_direct_message_is_answered_in_a_thread(slack: SlackHarness):
    dm = sp.message("status", channel="D0DM", channel_type="im")
    await slack.event(dm)
    [update] = await slack.stub.wait_calls("chat.update")
    [post] = slack.stub.calls("chat.postMessage")
    assert post.params["channel"] == "D0DM" and post.params["thread_ts"] == dm["ts"]
    assert update.block("reply.capabilities") is not None  # ChatService's built-in status


async def test_bot_and_edited_messages_are_ignored(slack: SlackHarness):
    parent = sp.new_ts()
    slack.stub.seed_thread(sp.CHANNEL, parent, [{"user": BOT_USER_ID, "ts": parent, "text": "x"}])
    await slack.event(
        sp.message("from another bot", thread_ts=parent, bot_id="B0OTHER", user="U0OTHERBOT")
    )
    await slack.event(sp.message("edited", thread_ts=parent, subtype="message_changed"))
    await slack.event(sp.message("mine", thread_ts=parent, user=BOT_USER_ID, bot_id="B0BOT"))
    await slack.settle()
    assert slack.calls("chat.postMessage") == []


async def test_a_failing_answer_replaces_the_placeholder_with_an_error(slack: SlackHarness):
    await slack.event(sp.mention("boom"))
    [update] = await slack.stub.wait_calls("chat.update")
    assert "Something went wrong" in update.block("reply.headline")["text"]["text"]
