"""Block Kit rendering and Markdown → mrkdwn: pure functions, expected dicts."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from agents.reply import (
    Attachment,
    Capability,
    Evidence,
    HypothesisView,
    Reply,
    RunbookRef,
    Section,
    SourceFailure,
)
from bot.slack import blocks
from bot.slack.mrkdwn import split_text, to_mrkdwn, truncate
from memory.models import Incident, IncidentStatus, JobRun, JobRunStatus, RemediationProposal


def small_reply() -> Reply:
    return Reply(
        text="**checkout** is failing",
        hypotheses=[
            HypothesisView(
                id=7,
                title="checkout: pool exhausted",
                confidence=0.8,
                service="checkout",
                rationale="Pool hit *100%* first.",
                evidence=[
                    Evidence(
                        source="prometheus",
                        summary="pool 30% → 100%",
                        query="pool_used > 0.9",
                        value="100%",
                    )
                ],
            )
        ],
        runbooks=[RunbookRef(title="DB pool", path="runbooks/db.md", section="Mitigate")],
        promql=["rate(x[5m]) > 1"],
        failed_sources=[SourceFailure(source="pagerduty", error="timeout")],
        notes=["LLM not configured"],
    )


def test_reply_snapshot():
    rendered = blocks.render_reply(small_reply(), question="what's wrong with checkout?")
    assert rendered.overflow is None
    [message] = rendered.messages
    assert message.text == "*checkout* is failing"
    assert message.blocks == [
        {
            "type": "section",
            "block_id": "reply.headline",
            "text": {"type": "mrkdwn", "text": "*checkout* is failing"},
        },
        {"type": "divider"},
        {
            "type": "section",
            "block_id": "hypothesis.1",
            "text": {
                "type": "mrkdwn",
                "text": "*1. checkout: pool exhausted* · `checkout`\n▰▰▰▰▰▰▰▰▱▱ 80%\n"
                "Pool hit _100%_ first.",
            },
        },
        {
            "type": "context",
            "block_id": "hypothesis.1.evidence",
            "elements": [
                {
                    "type": "mrkdwn",
                    "text": "pool 30% → 100% · *100%* · `pool_used &gt; 0.9` _(prometheus)_",
                }
            ],
        },
        {
            "type": "actions",
            "block_id": "hypothesis.1.actions",
            "elements": [
                {
                    "type": "button",
                    "text": {"type": "plain_text", "text": "👍 Looks right", "emoji": True},
                    "action_id": "hypothesis.feedback_up",
                    "value": "7",
                },
                {
                    "type": "button",
                    "text": {"type": "plain_text", "text": "👎 Looks wrong", "emoji": True},
                    "action_id": "hypothesis.feedback_down",
                    "value": "7",
                },
                {
                    "type": "button",
                    "text": {"type": "plain_text", "text": "Show evidence", "emoji": True},
                    "action_id": "hypothesis.show_evidence",
                    "value": "7",
                },
            ],
        },
        {
            "type": "section",
            "block_id": "reply.runbooks",
            "text": {
                "type": "mrkdwn",
                "text": "*Runbooks*\n• *DB pool* › Mitigate — `runbooks/db.md`",
            },
        },
        {
            "type": "section",
            "block_id": "reply.promql",
            "text": {"type": "mrkdwn", "text": "*PromQL*\n```\nrate(x[5m]) &gt; 1\n```"},
        },
        {
            "type": "context",
            "block_id": "reply.failed_sources",
            "elements": [{"type": "mrkdwn", "text": ":warning: *pagerduty* failed: timeout"}],
        },
        {
            "type": "context",
            "block_id": "reply.notes",
            "elements": [{"type": "mrkdwn", "text": "LLM not configured"}],
        },
        {
            "type": "actions",
            "block_id": "reply.actions",
            "elements": [
                {
                    "type": "button",
                    "text": {"type": "plain_text", "text": "🔁 Investigate again", "emoji": True},
                    "action_id": "investigation.rerun",
                    "value": "what's wrong with checkout?",
                }
            ],
        },
    ]


def test_placeholder_snapshot():
    assert blocks.placeholder().blocks == [
        {
            "type": "section",
            "block_id": "placeholder",
            "text": {"type": "mrkdwn", "text": ":hourglass_flowing_sand: Looking into it…"},
        }
    ]


def test_unstored_hypothesis_has_no_buttons_and_errors_have_no_rerun():
    reply = Reply(kind="error", text="boom", hypotheses=[HypothesisView(title="x", confidence=0.1)])
    ids = [b.get("block_id") for b in blocks.reply_blocks(reply, question="q")]
    assert "hypothesis.1.actions" not in ids and "reply.actions" not in ids
    assert blocks.reply_blocks(reply)[0]["text"]["text"] == ":warning: boom"


def test_capabilities_attachments_and_asked_by():
    reply = Reply(
        kind="status",
        text="Integrations:",
        capabilities=[Capability(name="prometheus", state="healthy", reason="http://p")],
        attachments=[Attachment(filename="c.png", title="c", path="/tmp/c.png")],
    )
    out = {b["block_id"]: b for b in blocks.reply_blocks(reply, question="status", asked_by="U1")}
    assert out["reply.asked"]["elements"][0]["text"] == "<@U1> asked: _status_"
    assert out["reply.capabilities"]["text"]["text"] == (
        ":large_green_circle: *prometheus* — healthy _(http://p)_"
    )
    assert "`c.png`" in out["reply.attachments"]["elements"][0]["text"]
    assert "reply.actions" not in out  # only answers get "investigate again"


def test_long_section_is_split_in_parts_within_3000_chars():
    body = "\n".join(f"line {i} " + "x" * 90 for i in range(100))
    reply = Reply(text="t", sections=[Section(title="Log", body=body)])
    parts = [b for b in blocks.reply_blocks(reply) if b["block_id"].startswith("reply.section.1")]
    assert [p["block_id"] for p in parts] == [
        "reply.section.1.1",
        "reply.section.1.2",
        "reply.section.1.3",
        "reply.section.1.4",
    ]
    assert all(len(p["text"]["text"]) <= 3000 for p in parts)
    assert "".join(p["text"]["text"] for p in parts).count("line ") == 100


def test_more_than_50_blocks_are_split_then_attached():
    reply = Reply(
        text="many",
        hypotheses=[HypothesisView(id=i, title=f"h{i}", confidence=0.5) for i in range(80)],
    )
    rendered = blocks.render_reply(reply, question="q")
    assert len(rendered.messages) == 3
    assert all(len(m.blocks) <= 50 for m in rendered.messages)
    assert rendered.messages[0].blocks[-1]["block_id"] == "reply.continued"
    assert [b["block_id"] for b in rendered.messages[-1].blocks[-2:]] == [
        "reply.truncated",
        "reply.actions",
    ]
    assert rendered.overflow is not None and "## 80. h79" in rendered.overflow
    assert rendered.messages[1].text.endswith("(2/3)")
    every_id = [b.get("block_id") for m in rendered.messages for b in m.blocks if b.get("block_id")]
    assert len(set(every_id)) + 1 == len(every_id)  # only "reply.continued" repeats
    two = blocks.render_reply(
        Reply(
            text="x",
            hypotheses=[HypothesisView(id=i, title="h", confidence=0.5) for i in range(24)],
        ),
        question="q",
    )  # 1 + 1 + 48 + 1 = 51 blocks: two messages, the button on the last one
    assert [len(m.blocks) for m in two.messages] == [50, 2] and two.overflow is None
    assert two.messages[-1].blocks[-1]["block_id"] == "reply.actions"


def test_button_value_and_header_are_cut_to_slack_limits():
    reply = Reply(text="t")
    [action] = [
        b for b in blocks.reply_blocks(reply, question="q" * 5000) if b["type"] == "actions"
    ]
    assert len(action["elements"][0]["value"]) == 2000
    assert len(blocks.header("h", "x" * 400)["text"]["text"]) == 150


@pytest.mark.parametrize(
    ("markdown", "mrkdwn"),
    [
        ("**bold** and __bold__", "*bold* and *bold*"),
        ("*italic* and _italic_", "_italic_ and _italic_"),
        ("~~gone~~", "~gone~"),
        ("# Title", "*Title*"),
        ("### Deep **title** ###", "*Deep title*"),
        ("- one\n* two\n  + three", "• one\n• two\n  • three"),
        ("> quoted **x**", "> quoted *x*"),
        ("[docs](https://x.io/a?b=1)", "<https://x.io/a?b=1|docs>"),
        ("![chart](https://x.io/c.png)", "<https://x.io/c.png|chart>"),
        ("a < b && c > d", "a &lt; b &amp;&amp; c &gt; d"),
        ("`rate(x[5m]) > 1` stays **code**", "`rate(x[5m]) &gt; 1` stays *code*"),
        ("```promql\nsum(x) > 0 **no**\n```", "```\nsum(x) &gt; 0 **no**\n```"),
        ("<@U123> and <#C1|ops> and <!here>", "<@U123> and <#C1|ops> and <!here>"),
        ("snake_case_name and 2*3*4", "snake_case_name and 2*3*4"),
        ("| a | b |\n|---|---|\n| 1 | 2 |", "```\n| a | b |\n|---|---|\n| 1 | 2 |\n```"),
        ("---", "──────────"),
        ("```\nunclosed", "```\nunclosed\n```"),
    ],
)
def test_markdown_to_mrkdwn(markdown: str, mrkdwn: str):
    assert to_mrkdwn(markdown) == mrkdwn


def test_split_text_keeps_fences_balanced():
    text = "intro\n```\n" + "\n".join("q" * 80 for _ in range(100)) + "\n```\nend"
    parts = split_text(text, limit=1000)
    assert len(parts) > 1
    for part in parts:
        assert len(part) <= 1000
        assert part.count("```") % 2 == 0
    assert split_text("short", limit=3000) == ["short"]
    assert [len(p) for p in split_text("y" * 7000, limit=3000)] == [2992, 2992, 1016]
    with pytest.raises(ValueError):
        split_text("x", limit=3)
    assert truncate("abcdef", 4) == "abc…"


def test_ask_modal_snapshot():
    view = blocks.ask_modal(channel_id="C1")
    assert view == {
        "type": "modal",
        "callback_id": "ask.submit",
        "private_metadata": json.dumps({"channel": "C1"}),
        "title": {"type": "plain_text", "text": "Ask SRE Copilot", "emoji": True},
        "submit": {"type": "plain_text", "text": "Ask", "emoji": True},
        "close": {"type": "plain_text", "text": "Cancel", "emoji": True},
        "blocks": [
            {
                "type": "input",
                "block_id": "ask.question",
                "label": {"type": "plain_text", "text": "Question", "emoji": True},
                "element": {
                    "type": "plain_text_input",
                    "action_id": "ask.question_input",
                    "multiline": True,
                    "placeholder": {
                        "type": "plain_text",
                        "text": "what's wrong with checkout?",
                        "emoji": True,
                    },
                },
            }
        ],
    }


def test_evidence_modal_stays_within_100_blocks():
    evidence = [Evidence(source="p", summary=f"e{i}", query=f"q{i}") for i in range(80)]
    view = blocks.evidence_modal(title="t", confidence=0.5, evidence=evidence)
    assert view["callback_id"] == "hypothesis.evidence"
    assert len(view["blocks"]) <= 100
    assert view["blocks"][-1]["block_id"] == "evidence.more"
    empty = blocks.evidence_modal(title="t", confidence=0.5, evidence=[])
    assert [b["block_id"] for b in empty["blocks"]] == ["evidence.title", "evidence.none"]


def test_home_view_snapshot_parts():
    now = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
    inc = Incident(
        id=3,
        workspace_id="T1",
        title="checkout 5xx",
        status=IncidentStatus.INVESTIGATING,
        severity="critical",
        service="checkout",
        channel_id="C9",
        started_at=now - timedelta(hours=2),
    )
    proposal = RemediationProposal(
        id="p1",
        workspace_id="T1",
        action="scale",
        params={"replicas": 3},
        proposed_by="bot",
        approvals=["U1"],
        required_approvals=2,
        expires_at=now + timedelta(hours=1),
    )
    run = JobRun(
        workspace_id="T1", job="digest", period="w", status=JobRunStatus.SUCCEEDED, started_at=now
    )
    view = blocks.home_view(
        incidents=[inc],
        approvals=[proposal],
        last_digest=run,
        digest_cron="0 9 * * mon",
        now=now,
        tz_offset_s=-5 * 3600,
    )
    by_id = {b.get("block_id"): b for b in view["blocks"]}
    assert view["type"] == "home"
    assert by_id["home.incident.3"]["text"]["text"] == (
        "*#3 checkout 5xx* · `checkout`\n"
        "`investigating` · critical · since Mon 02 Mar 05:00 · <#C9>"
    )
    assert by_id["home.approval.p1"]["text"]["text"] == (
        "*scale* `replicas=3`\nproduction · risk medium · proposed by bot · 1/2 approvals · "
        "expires Mon 02 Mar 08:00"
    )
    assert by_id["home.digest"]["text"]["text"] == "Weekly digest of Mon 02 Mar 07:00 · `succeeded`"
    empty = blocks.home_view(
        incidents=[], approvals=[], last_digest=None, digest_cron="0 9 * * mon", now=now
    )
    ids = [b.get("block_id") for b in empty["blocks"]]
    assert {"home.incidents.none", "home.approvals.none", "home.digest"} <= set(ids)
    many = blocks.home_view(
        incidents=[inc.model_copy(update={"id": i}) for i in range(40)],
        approvals=[],
        last_digest=None,
        digest_cron="x",
        now=now,
    )
    assert len(many["blocks"]) <= 100
    assert "home.incidents.more" in [b.get("block_id") for b in many["blocks"]]


def test_help_message_lists_every_subcommand():
    from bot.slack.listeners.commands import SUBCOMMANDS

    text = blocks.help_message().blocks[1]["text"]["text"]
    for name in [*SUBCOMMANDS, "help"]:
        assert f"/sre {name}" in text
