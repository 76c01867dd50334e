"""Runbook steps with Propose buttons in an answer; rejected proposals name the rejecter."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from agents.reply import Reply, RunbookRef, SuggestedAction
from bot.slack.blocks import proposal_message, reply_blocks
from bot.slack.proposals import parse_propose_value
from memory.models import ProposalStatus, RemediationProposal


def test_runbook_steps_get_propose_buttons() -> None:
    step = SuggestedAction(
        action="kubernetes.rollout_restart",
        params={"namespace": "shop", "deployment": "checkout"},
        command="kubectl -n shop rollout restart deployment/checkout",
    )
    reply = Reply(
        text="checkout is failing",
        runbooks=[
            RunbookRef(title="Crash loop", path="crash.md", actions=[step]),
            RunbookRef(title="Other", path="o.md"),
        ],
    )
    blocks = reply_blocks(reply)
    [text] = [b for b in blocks if b.get("block_id") == "reply.runbook_actions"]
    assert (
        "`kubectl -n shop rollout restart deployment/checkout` → `kubernetes.rollout_restart`"
        in (text["text"]["text"])
    )
    [actions] = [b for b in blocks if b.get("block_id") == "reply.runbook_actions.buttons"]
    [button] = actions["elements"]
    assert button["action_id"] == "remediation.propose.1"
    assert parse_propose_value(button["value"]) == (
        "kubernetes.rollout_restart",
        {"namespace": "shop", "deployment": "checkout"},
        None,
    )


def test_no_steps_no_buttons_and_bad_values_are_refused() -> None:
    reply = Reply(text="x", runbooks=[RunbookRef(title="t", path="p.md")])
    assert not [b for b in reply_blocks(reply) if "runbook_actions" in str(b.get("block_id"))]
    assert parse_propose_value("not json") is None
    assert parse_propose_value(json.dumps({"a": "x", "p": [1]})) is None


def test_rejected_proposal_names_who_rejected() -> None:
    now = datetime.now(UTC)
    proposal = RemediationProposal(
        workspace_id="T1", action="kubernetes.scale", params={}, proposed_by="job:forecast",
        status=ProposalStatus.REJECTED, rejected_by="U0BOB", expires_at=now + timedelta(minutes=5),
        dry_run="scale deploy/checkout in shop from 3 to 4",
    )  # fmt: skip
    msg = proposal_message(proposal)
    [status] = [b for b in msg.blocks if b.get("block_id") == "remediation.status"]
    assert "Rejected by <@U0BOB>" in status["text"]["text"]
    assert not [b for b in msg.blocks if b.get("block_id") == "remediation.actions"]
