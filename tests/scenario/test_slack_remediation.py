"""Remediation in Slack: the proposal message, Approve / Reject clicks, updates in place.

Signed block actions and view submissions go to the served app over HTTP; the
container's :class:`jobs.remediation.RemediationService` runs over a catalogue holding
a real in-test action that only counts its executions.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest_asyncio
from pydantic import BaseModel
from slack_sdk.web.async_client import AsyncWebClient

from bot.container import Container
from bot.slack.services import post_proposal
from jobs.policy import default_policy
from jobs.remediation import RemediationService
from memory.models import AuditEvent, ProposalStatus, RemediationProposal
from tests.scenario import slack_payloads as sp
from tests.scenario.harness import SlackHarness, running_app, slack_settings
from tests.stubs.slack_api import BOT_TOKEN, TEAM_ID, SlackApiStub, SlackCall
from tools.actions.base import ActionCatalogue, ActionOutcome, Risk

PROPOSER = "UPROPOSER"
CLICKS = 100


class RestartParams(BaseModel):
    deployment: str


class CountingAction:
    """A real action that only counts executions."""

    name = "test.restart"
    description = "restart a deployment (test)"
    risk = Risk.MEDIUM
    safe = False
    params_model = RestartParams

    def __init__(self) -> None:
        self.executions = 0

    async def dry_run(self, params: BaseModel) -> str:
        assert isinstance(params, RestartParams)
        return f"would restart deployment {params.deployment} (3 pods)"

    async def precondition(self, params: BaseModel) -> ActionOutcome:
        return ActionOutcome(ok=True, detail="deployment exists")

    async def execute(self, params: BaseModel) -> ActionOutcome:
        self.executions += 1
        await asyncio.sleep(0)  # let concurrent clicks interleave
        return ActionOutcome(ok=True, detail="restarted 3 pods")

    async def verify(self, params: BaseModel, executed: ActionOutcome) -> ActionOutcome:
        return ActionOutcome(ok=True, detail="3/3 pods ready")


@dataclass
class Remediation:
    slack: SlackHarness
    action: CountingAction
    client: AsyncWebClient

    @property
    def service(self) -> RemediationService:
        return RemediationService(
            self.slack.repos, ActionCatalogue([self.action]), default_policy()
        )

    async def propose_and_post(self) -> tuple[RemediationProposal, str]:
        await self.slack.repos.workspaces.ensure(workspace_id=TEAM_ID)
        proposal = await self.service.propose(
            workspace_id=TEAM_ID,
            action=self.action.name,
            params={"deployment": "checkout"},
            environment="production",
            proposed_by=PROPOSER,
            reason="pods crashlooping",
        )
        ts = await post_proposal(client=self.client, channel=sp.CHANNEL, proposal=proposal)
        return proposal, ts

    async def audit(self, proposal_id: str) -> list[AuditEvent]:
        rows = await self.slack.repos.audit.since(
            workspace_id=TEAM_ID, since=datetime.now(UTC) - timedelta(days=1)
        )
        return [r for r in rows if r.proposal_id == proposal_id]

    async def status(self, proposal_id: str) -> RemediationProposal:
        p = await self.slack.repos.proposals.get(workspace_id=TEAM_ID, proposal_id=proposal_id)
        assert p is not None
        return p


async def _remediation(
    tmp_path: Path, stub: SlackApiStub, *, workers: int
) -> AsyncIterator[Remediation]:
    action = CountingAction()

    def customize(container: Container) -> None:
        container.catalogue = ActionCatalogue([action])
        container.remediation = RemediationService(
            container.repos, container.catalogue, default_policy()
        )

    settings = slack_settings(tmp_path / "data", stub, workers=workers)
    async with running_app(settings, stub, customize=customize) as slack:
        client = AsyncWebClient(token=BOT_TOKEN, base_url=stub.base_url)
        try:
            yield Remediation(slack=slack, action=action, client=client)
        finally:
            if client.session is not None:
                await client.session.close()


@pytest_asyncio.fixture(loop_scope="session")
async def remediation(tmp_path: Path, slack_stub: SlackApiStub) -> AsyncIterator[Remediation]:
    """One worker per lane: ``settle()`` is a barrier."""
    async for r in _remediation(tmp_path, slack_stub, workers=1):
        yield r


@pytest_asyncio.fixture(loop_scope="session")
async def concurrent(tmp_path: Path, slack_stub: SlackApiStub) -> AsyncIterator[Remediation]:
    """Eight workers per lane: decisions really race."""
    async for r in _remediation(tmp_path, slack_stub, workers=8):
        yield r


def approve(proposal_id: str, ts: str, user: str) -> dict[str, object]:
    return sp.block_actions(
        "remediation.approve", proposal_id, message_ts=ts, user=user, block_id="remediation.actions"
    )


def block_text(call: SlackCall, block_id: str) -> str:
    block = call.block(block_id)
    assert block is not None, f"no {block_id} in {call.params}"
    return str(block["text"]["text"])


def view_of(call: SlackCall) -> dict[str, object]:
    view = call.params["view"]
    out = json.loads(view) if isinstance(view, str) else view
    assert isinstance(out, dict)
    return out


async def test_proposal_message_shows_dry_run_and_buttons(remediation: Remediation) -> None:
    proposal, ts = await remediation.propose_and_post()
    [post] = remediation.slack.calls("chat.postMessage")
    assert post.response is not None and post.response["ts"] == ts
    header = block_text(post, "remediation.header")
    assert "test.restart" in header and "medium risk" in header
    assert "would restart deployment checkout (3 pods)" in block_text(post, "remediation.dry_run")
    assert "0/1 approvals" in block_text(post, "remediation.status")
    actions = post.block("remediation.actions")
    assert actions is not None
    assert [(b["action_id"], b["value"], b.get("style")) for b in actions["elements"]] == [
        ("remediation.approve", proposal.id, "primary"),
        ("remediation.reject", proposal.id, None),
    ]


async def test_hundred_concurrent_approvals_execute_once(concurrent: Remediation) -> None:
    slack = concurrent.slack
    proposal, ts = await concurrent.propose_and_post()
    users = [f"U{i:03d}APPROVER" for i in range(CLICKS)]
    responses = await asyncio.gather(
        *(slack.interact(approve(proposal.id, ts, user)) for user in users)
    )
    assert [r.status_code for r in responses] == [200] * CLICKS

    await slack.stub.wait_for(
        lambda: (
            len(slack.calls("chat.postEphemeral")) == CLICKS - 1
            and len(slack.calls("chat.update")) == 1
        ),
        what="99 refusals and one update",
    )
    assert concurrent.action.executions == 1
    rows = await concurrent.audit(proposal.id)
    clicks = [r for r in rows if r.kind == "approve"]
    assert len(clicks) == CLICKS
    assert sorted(r.actor for r in clicks) == sorted(users)
    assert sum(r.accepted for r in clicks) == 1
    [winner] = [r.actor for r in clicks if r.accepted]
    assert [(r.kind, r.accepted) for r in rows if r.kind in ("execution", "verification")] == [
        ("execution", True),
        ("verification", True),
    ]
    final = await concurrent.status(proposal.id)
    assert final.status == ProposalStatus.VERIFIED and final.approvals == [winner]

    [update] = slack.calls("chat.update")
    assert update.params["channel"] == sp.CHANNEL and update.params["ts"] == ts
    assert f"1/1 approvals: <@{winner}>" in block_text(update, "remediation.status")
    assert "`verified`" in block_text(update, "remediation.status")
    result = block_text(update, "remediation.result")
    assert "restarted 3 pods" in result and "3/3 pods ready" in result
    assert update.block("remediation.actions") is None
    refused = {c.params["user"] for c in slack.calls("chat.postEphemeral")}
    assert refused == set(users) - {winner}
    assert all("not pending" in c.params["text"] for c in slack.calls("chat.postEphemeral"))


async def test_proposer_cannot_approve_and_forgery_is_refused(remediation: Remediation) -> None:
    slack = remediation.slack
    proposal, ts = await remediation.propose_and_post()

    resp = await slack.interact(approve(proposal.id, ts, PROPOSER))
    assert resp.status_code == 200
    [refusal] = await slack.stub.wait_calls("chat.postEphemeral")
    assert refusal.params["user"] == PROPOSER and refusal.params["channel"] == sp.CHANNEL
    assert "proposer cannot approve" in refusal.params["text"]
    [row] = [r for r in await remediation.audit(proposal.id) if r.kind == "approve"]
    assert row.actor == PROPOSER and not row.accepted and "proposer" in row.reason

    forged = await slack.post(
        sp.interactivity_body(approve(proposal.id, ts, "U0FORGER")),
        content_type=sp.FORM,
        secret="not-the-signing-secret",
    )
    assert forged.status_code == 401
    await slack.settle()
    rows = await remediation.audit(proposal.id)
    assert [r.actor for r in rows if r.kind == "approve"] == [PROPOSER]
    assert remediation.action.executions == 0
    assert (await remediation.status(proposal.id)).status == ProposalStatus.PENDING
    assert slack.calls("chat.update") == []


async def test_reject_asks_for_a_reason_then_updates_the_message(
    remediation: Remediation,
) -> None:
    slack = remediation.slack
    proposal, ts = await remediation.propose_and_post()

    click = sp.block_actions(
        "remediation.reject",
        proposal.id,
        message_ts=ts,
        user="U0REVIEWER",
        block_id="remediation.actions",
    )
    assert (await slack.interact(click)).status_code == 200
    [opened] = await slack.stub.wait_calls("views.open")
    view = view_of(opened)
    assert view["callback_id"] == "remediation.reject_reason"
    [reason_input] = view["blocks"]  # type: ignore[misc]
    assert reason_input["block_id"] == "remediation.reason" and not reason_input["optional"]
    metadata = str(view["private_metadata"])
    assert json.loads(metadata) == {
        "proposal_id": proposal.id,
        "channel": sp.CHANNEL,
        "message_ts": ts,
    }

    def submission(reason: str) -> dict[str, object]:
        return sp.view_submission(
            callback_id="remediation.reject_reason",
            values={
                "remediation.reason": {
                    "remediation.reason_input": {"type": "plain_text_input", "value": reason}
                }
            },
            private_metadata=metadata,
            user="U0REVIEWER",
        )

    empty = await slack.interact(submission("   "))
    assert empty.status_code == 200
    assert empty.json() == {
        "response_action": "errors",
        "errors": {"remediation.reason": "Say why (one line is enough)."},
    }
    assert (await slack.interact(submission("wrong deployment"))).status_code == 200
    [update] = await slack.stub.wait_calls("chat.update")
    assert update.params["ts"] == ts and update.params["channel"] == sp.CHANNEL
    status = block_text(update, "remediation.status")
    assert "`rejected`" in status and "<@U0REVIEWER>" in status and "wrong deployment" in status
    assert update.block("remediation.actions") is None
    assert (await remediation.status(proposal.id)).status == ProposalStatus.REJECTED
    rows = await remediation.audit(proposal.id)
    [reject] = [r for r in rows if r.kind == "reject"]
    assert reject.actor == "U0REVIEWER" and reject.accepted and reject.reason == "wrong deployment"
    assert remediation.action.executions == 0
