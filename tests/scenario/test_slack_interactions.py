"""Slash command, block actions and view submissions, signed and sent over HTTP."""

from __future__ import annotations

import json

from tests.scenario import slack_payloads as sp
from tests.scenario.harness import SlackHarness


async def answered_investigation(slack: SlackHarness) -> tuple[dict, list[int]]:
    ev = sp.mention("what's wrong with checkout?")
    await slack.event(ev)
    [update] = await slack.stub.wait_calls("chat.update")
    ids = [int(update.block(f"hypothesis.{r}.actions")["elements"][0]["value"]) for r in (1, 2)]
    return {"ts": update.params["ts"], "thread_ts": ev["ts"]}, ids


# --- /sre ---------------------------------------------------------------------------


async def test_sre_help_is_answered_in_the_ack(slack: SlackHarness):
    for text in ("help", ""):
        resp = await slack.command(text)
        assert resp.status_code == 200
        body = resp.json()
        assert body["response_type"] == "ephemeral"
        assert [b["block_id"] for b in body["blocks"]] == [
            "help.title",
            "help.commands",
            "help.footer",
        ]
        assert "/sre runbook" in body["blocks"][1]["text"]["text"]
    assert slack.stub.calls() == [] or slack.stub.methods() == ["auth.test"]


async def test_sre_ask_answers_in_the_channel_and_starts_a_thread(slack: SlackHarness):
    resp = await slack.command("ask what's wrong with checkout?")
    assert resp.status_code == 200 and resp.content == b""
    [update] = await slack.stub.wait_calls("chat.update")
    [post] = slack.stub.calls("chat.postMessage")
    assert "thread_ts" not in post.params  # a new thread in the channel
    assert sp.USER in post.block("placeholder")["text"]["text"]
    assert update.params["ts"] == post.response["ts"]
    assert f"<@{sp.USER}> asked" in update.block("reply.asked")["elements"][0]["text"]
    assert update.block("hypothesis.1") is not None
    # follow-ups in that thread need no mention and continue the conversation
    await slack.event(sp.message("why not the deploy?", thread_ts=post.response["ts"]))
    await slack.stub.wait_calls("chat.update", 2)
    key, _, history = slack.responder.seen[-1]
    assert key == f"slack:{sp.CHANNEL}:{post.response['ts']}"
    assert history[:1] == ["what's wrong with checkout?"]


async def test_sre_free_text_is_a_question(slack: SlackHarness):
    await slack.command("what's wrong with checkout?")
    await slack.stub.wait_calls("chat.update")
    assert slack.responder.seen[-1][1] == "what's wrong with checkout?"


async def test_sre_subcommands_map_to_questions(slack: SlackHarness):
    for text in ("runbook disk full", "oncall", "incidents"):
        await slack.command(text)
    await slack.stub.wait_calls("chat.update", 3)
    assert [q for _, q, _ in slack.responder.seen] == [
        "runbook disk full",
        "who is on call?",
        "open incidents",
    ]


async def test_sre_status_is_ephemeral_through_the_response_url(slack: SlackHarness):
    await slack.command("status")
    [resp] = await slack.stub.wait_calls("response_url")
    assert resp.params["response_type"] == "ephemeral"
    assert any(b["block_id"] == "reply.capabilities" for b in resp.params["blocks"])
    assert slack.stub.calls("chat.postMessage") == []


async def test_sre_in_a_channel_without_the_bot_says_how_to_invite_it(slack: SlackHarness):
    slack.stub.error("chat.postMessage", "not_in_channel")
    await slack.command("ask is checkout ok?")
    [resp] = await slack.stub.wait_calls("response_url")
    assert "/invite" in resp.params["text"]
    assert slack.stub.calls("chat.update") == []


async def test_sre_ask_without_text_opens_a_form_and_answers_its_submission(slack: SlackHarness):
    await slack.command("ask")
    [opened] = await slack.stub.wait_calls("views.open")
    view = (
        json.loads(opened.params["view"])
        if isinstance(opened.params["view"], str)
        else opened.params["view"]
    )
    assert view["callback_id"] == "ask.submit"
    assert json.loads(view["private_metadata"]) == {"channel": sp.CHANNEL}

    empty = sp.view_submission(
        callback_id="ask.submit",
        values={
            "ask.question": {"ask.question_input": {"type": "plain_text_input", "value": "  "}}
        },
        private_metadata=view["private_metadata"],
    )
    resp = await slack.interact(empty)
    assert resp.status_code == 200
    assert resp.json() == {
        "response_action": "errors",
        "errors": {"ask.question": "Type a question, e.g. _what's wrong with checkout?_"},
    }

    filled = sp.view_submission(
        callback_id="ask.submit",
        values={
            "ask.question": {
                "ask.question_input": {"type": "plain_text_input", "value": "is the chart ok?"}
            }
        },
        private_metadata=view["private_metadata"],
    )
    resp = await slack.interact(filled)
    assert resp.status_code == 200 and resp.content == b""
    [update] = await slack.stub.wait_calls("chat.update")
    [post] = slack.stub.calls("chat.postMessage")
    assert post.params["channel"] == sp.CHANNEL and "thread_ts" not in post.params
    assert update.block("reply.promql") is not None


# --- buttons --------------------------------------------------------------------------


async def test_thumbs_up_and_down_are_recorded_per_user(slack: SlackHarness):
    where, (first, _) = await answered_investigation(slack)
    up = sp.block_actions(
        "hypothesis.feedback_up", str(first), message_ts=where["ts"], thread_ts=where["thread_ts"]
    )
    assert (await slack.interact(up)).status_code == 200
    [thanks] = await slack.stub.wait_calls("chat.postEphemeral")
    assert thanks.params["user"] == sp.USER and thanks.params["thread_ts"] == where["thread_ts"]
    assert "looks right" in thanks.params["text"] and "+1" in thanks.params["text"]
    assert await slack.repos.hypotheses.score(workspace_id="T0TEST", hypothesis_id=first) == 1

    other = sp.block_actions(
        "hypothesis.feedback_up", str(first), message_ts=where["ts"], user="U0OTHER"
    )
    await slack.interact(other)
    await slack.stub.wait_calls("chat.postEphemeral", 2)
    assert await slack.repos.hypotheses.score(workspace_id="T0TEST", hypothesis_id=first) == 2

    down = sp.block_actions("hypothesis.feedback_down", str(first), message_ts=where["ts"])
    await slack.interact(down)  # the same user changes their mind: the last vote counts
    await slack.stub.wait_calls("chat.postEphemeral", 3)
    assert await slack.repos.hypotheses.score(workspace_id="T0TEST", hypothesis_id=first) == 0


async def test_feedback_cannot_reach_another_workspace(slack: SlackHarness):
    where, (first, _) = await answered_investigation(slack)
    foreign = sp.block_actions(
        "hypothesis.feedback_up", str(first), message_ts=where["ts"], team_id="T0OTHER"
    )
    await slack.interact(foreign)
    [reply] = await slack.stub.wait_calls("chat.postEphemeral")
    assert "no longer stored" in reply.params["text"]
    assert await slack.repos.hypotheses.score(workspace_id="T0TEST", hypothesis_id=first) == 0


async def test_show_evidence_opens_a_modal_with_the_cited_queries(slack: SlackHarness):
    where, (first, _) = await answered_investigation(slack)
    click = sp.block_actions("hypothesis.show_evidence", str(first), message_ts=where["ts"])
    await slack.interact(click)
    [opened] = await slack.stub.wait_calls("views.open")
    view = opened.params["view"]
    view = json.loads(view) if isinstance(view, str) else view
    ids = [b.get("block_id") for b in view["blocks"]]
    assert ids[:1] == ["evidence.title"]
    assert "evidence.1.query" in ids and "evidence.2" in ids
    query = next(b for b in view["blocks"] if b.get("block_id") == "evidence.1.query")
    assert "pg_pool_used" in query["text"]["text"]


async def test_investigate_again_answers_again_in_the_same_thread(slack: SlackHarness):
    where, _ = await answered_investigation(slack)
    click = sp.block_actions(
        "investigation.rerun",
        "what's wrong with checkout?",
        message_ts=where["ts"],
        thread_ts=where["thread_ts"],
        block_id="reply.actions",
    )
    await slack.interact(click)
    updates = await slack.stub.wait_calls("chat.update", 2)
    posts = slack.stub.calls("chat.postMessage")
    assert [p.params["thread_ts"] for p in posts] == [where["thread_ts"]] * 2
    assert updates[1].params["ts"] == posts[1].response["ts"]
    key, text, history = slack.responder.seen[-1]
    assert text == "what's wrong with checkout?" and len(history) == 2
