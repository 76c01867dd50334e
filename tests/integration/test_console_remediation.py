"""Approving and rejecting proposals from the console adapter (both databases)."""

from __future__ import annotations

from agents.reply import Capability
from bot.chat import ChatService
from bot.console import ConsoleAdapter
from jobs.policy import Policy
from jobs.remediation import RemediationService
from memory.models import ProposalStatus
from memory.repositories import Repositories
from tests.integration.test_remediation import CountingAction
from tools.actions.base import ActionCatalogue


async def no_caps() -> list[Capability]:
    return []


def console(
    repos: Repositories, workspace: str, user: str, svc: RemediationService
) -> ConsoleAdapter:
    chat = ChatService(repos=repos, capabilities=no_caps)
    return ConsoleAdapter(
        chat=chat, repos=repos, workspace_id=workspace, user_id=user, remediation=svc
    )


async def test_console_approve_reject_and_list(repos: Repositories, workspace: str):
    action = CountingAction()
    policy = Policy.model_validate(
        {"rules": [{"action": "test.*", "environment": "*", "level": 1}]}
    )
    svc = RemediationService(repos, ActionCatalogue([action]), policy)  # type: ignore[list-item]
    first = await svc.propose(
        workspace_id=workspace,
        action="test.restart",
        params={"deployment": "checkout"},
        environment="production",
        proposed_by="alice",
        reason="pool exhausted",
    )
    alice, bob = console(repos, workspace, "alice", svc), console(repos, workspace, "bob", svc)
    listing = await bob.handle_line("/proposals")
    assert listing is not None and first.id in listing and "would restart checkout" in listing
    own = await alice.handle_line(f"/approve {first.id}")
    assert own is not None and own.startswith("Refused:") and action.executions == 0
    ok = await bob.handle_line(f"/approve {first.id}")
    assert ok is not None and ok.startswith("Approved and executed") and action.executions == 1
    second = await svc.propose(
        workspace_id=workspace,
        action="test.restart",
        params={"deployment": "cart"},
        environment="production",
        proposed_by="alice",
        reason="x",
    )
    assert (
        await bob.handle_line(f"/reject {second.id}")
        == "usage: /reject ID REASON (a reason is required)"
    )
    rejected = await bob.handle_line(f"/reject {second.id} not during peak")
    assert rejected is not None and rejected.startswith("Rejected")
    got = await repos.proposals.get(workspace_id=workspace, proposal_id=second.id)
    assert got is not None and got.status == ProposalStatus.REJECTED and action.executions == 1
    assert await bob.handle_line("/approve") == "usage: /approve ID"


async def test_console_propose_then_another_user_approves(repos: Repositories, workspace: str):
    action = CountingAction()
    svc = RemediationService(repos, ActionCatalogue([action]), Policy())  # type: ignore[list-item]
    alice, bob = console(repos, workspace, "alice", svc), console(repos, workspace, "bob", svc)
    usage = await alice.handle_line("/propose")
    assert usage is not None and usage.startswith("usage: /propose ACTION")
    refused = await alice.handle_line("/propose test.restart replicas=2")
    assert refused is not None and "parameter 'deployment' is invalid" in refused
    made = await alice.handle_line("/propose test.restart deployment=cart environment=staging")
    assert made is not None and made.startswith("Proposed ") and "would restart cart" in made
    [proposal] = await repos.proposals.list(workspace_id=workspace)
    assert (proposal.proposed_by, proposal.environment) == ("alice", "staging")
    assert proposal.params == {"deployment": "cart", "replicas": 1}
    assert (await alice.handle_line(f"/approve {proposal.id}") or "").startswith("Refused:")
    ok = await bob.handle_line(f"/approve {proposal.id}")
    assert ok is not None and ok.startswith("Approved and executed") and action.executions == 1
