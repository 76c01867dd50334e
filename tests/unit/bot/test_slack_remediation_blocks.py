"""Block Kit of remediation proposals: status, approvals, results, buttons only while pending."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from bot.slack.blocks import proposal_message, reject_modal
from memory.models import ProposalStatus, RemediationProposal


def _proposal(**kw: Any) -> RemediationProposal:
    base: dict[str, Any] = {
        "id": "p1",
        "workspace_id": "T1",
        "action": "k8s.restart",
        "environment": "production",
        "risk": "high",
        "proposed_by": "UPROP",
        "reason": "crashloop <here>",
        "dry_run": "would restart ```api```",
        "required_approvals": 2,
        "approvals": ["U1"],
        "expires_at": datetime(2026, 1, 1, tzinfo=UTC),
    }
    base.update(kw)
    return RemediationProposal(**base)


def _text(blocks: list[dict[str, Any]], block_id: str) -> str:
    [block] = [b for b in blocks if b.get("block_id") == block_id]
    return str(block["text"]["text"])


def test_pending_proposal_shows_approvals_and_buttons() -> None:
    msg = proposal_message(_proposal())
    assert "1/2 approvals: <@U1>" in _text(msg.blocks, "remediation.status")
    assert "crashloop &lt;here&gt;" in _text(msg.blocks, "remediation.summary")
    assert _text(msg.blocks, "remediation.dry_run") == "*Dry run*\n```would restart '''api'''```"
    [actions] = [b for b in msg.blocks if b.get("block_id") == "remediation.actions"]
    assert [e["action_id"] for e in actions["elements"]] == [
        "remediation.approve",
        "remediation.reject",
    ]
    assert "k8s.restart" in msg.text and "high risk" in msg.text


def test_failed_and_recovered_proposals_show_why_without_buttons() -> None:
    failed = proposal_message(
        _proposal(
            status=ProposalStatus.FAILED,
            result={"precondition": {"ok": False, "detail": "deployment gone"}},
        )
    )
    assert "deployment gone" in _text(failed.blocks, "remediation.result")
    assert all(b.get("block_id") != "remediation.actions" for b in failed.blocks)
    stuck = proposal_message(
        _proposal(
            status=ProposalStatus.FAILED,
            result={"needs_human_check": True, "detail": "check by hand"},
        )
    )
    assert "Needs a human check" in _text(stuck.blocks, "remediation.result")


def test_reject_modal_requires_a_reason_and_remembers_the_message() -> None:
    view = reject_modal(proposal_id="p1", channel="C1", message_ts="1.2")
    assert view["callback_id"] == "remediation.reject_reason"
    assert json.loads(view["private_metadata"]) == {
        "proposal_id": "p1",
        "channel": "C1",
        "message_ts": "1.2",
    }
    [block] = view["blocks"]
    assert block["optional"] is False and block["element"]["min_length"] == 1
