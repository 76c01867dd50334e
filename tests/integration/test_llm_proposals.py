"""``propose_remediation``: Claude (the Messages API stub, through the real SDK) stores
pending proposals through the real RemediationService on SQLite and PostgreSQL, with a
real Alertmanager behind the silence action. It never executes, even at autonomy
level 3; bad input comes back to the model as a tool error and stores nothing."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import SecretStr

from agents.config import LLMConfig
from agents.llm import LLM_PROPOSER, ClaudeAnalyst, RefineLimits, RemediationAccess
from agents.prompts import PROPOSE_TOOL_NAME, SUBMIT_TOOL_NAME
from agents.reply import HypothesisView, Reply
from jobs.policy import Policy
from jobs.remediation import RemediationService
from memory.models import ProposalStatus
from memory.repositories import Repositories
from tests.servers.process import ServerProcess
from tests.stubs.anthropic_api import (
    STUB_API_KEY,
    AnthropicStub,
    error,
    serve_anthropic_stub,
    submit_analysis,
    tool_use,
    tool_uses,
)
from tools.actions.alertmanager import SilenceCreateAction, SilenceExpireAction
from tools.actions.base import ActionCatalogue
from tools.alertmanager_client import AlertmanagerClient
from tools.config import AlertmanagerConfig

pytestmark = pytest.mark.integration

SILENCE = "alertmanager.silence_create"
ENVIRONMENT = "production"


def level3_policy() -> Policy:
    """Autonomy level 3 (execute on its own) for silences: the LLM must still wait."""
    return Policy.model_validate(
        {"rules": [{"action": SILENCE, "environment": "*", "level": 3}], "default_level": 1}
    )


def draft() -> Reply:
    return Reply(
        text="checkout alerts are noisy during the deploy",
        hypotheses=[HypothesisView(title="deploy in progress", confidence=0.7)],
    )


def silence_input(service: str, **params: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "matchers": [f'service="{service}"'],
        "duration_minutes": 30,
        "comment": "deploy in progress",
        "created_by": "sre-copilot",
    }
    values.update(params)
    return {"action": SILENCE, "params": values, "rationale": "deploy noise for 30 min"}


FINAL = submit_analysis("done", [{"index": 0, "confidence": 0.7, "rationale": "deploy"}])


@pytest.fixture(scope="module")
def anthropic_server() -> Iterator[AnthropicStub]:
    with serve_anthropic_stub() as stub:
        yield stub


@pytest.fixture
def stub(anthropic_server: AnthropicStub) -> AnthropicStub:
    anthropic_server.reset()
    return anthropic_server


@pytest.fixture
async def am(alertmanager_server: ServerProcess) -> AsyncIterator[AlertmanagerClient]:
    client = AlertmanagerClient(AlertmanagerConfig(base_url=alertmanager_server.url))
    yield client
    await client.aclose()


@pytest.fixture
def service(repos: Repositories, am: AlertmanagerClient) -> RemediationService:
    catalogue = ActionCatalogue([SilenceCreateAction(client=am), SilenceExpireAction(client=am)])
    return RemediationService(repos, catalogue, level3_policy())


@pytest.fixture
async def make_analyst(
    stub: AnthropicStub, service: RemediationService, am: AlertmanagerClient, workspace: str
) -> AsyncIterator[Callable[..., ClaudeAnalyst]]:
    made: list[ClaudeAnalyst] = []

    def make(
        *, enabled: bool = True, wired: bool = True, limits: RefineLimits | None = None
    ) -> ClaudeAnalyst:
        catalogue = ActionCatalogue(
            [SilenceCreateAction(client=am), SilenceExpireAction(client=am)]
        )
        access = RemediationAccess(
            service=service, catalogue=catalogue, workspace_id=workspace, environment=ENVIRONMENT
        )
        cfg = LLMConfig(
            api_key=SecretStr(STUB_API_KEY),
            base_url=stub.base_url,
            propose_remediation=enabled,
        )
        made.append(
            ClaudeAnalyst(cfg, tools=[], remediation=access if wired else None, limits=limits)
        )
        return made[-1]

    yield make
    for analyst in made:
        await analyst.aclose()


async def refine(analyst: ClaudeAnalyst) -> Reply:
    return await analyst.refine(
        question="alerts are flapping on checkout", draft=draft(), history=[], budget_s=30
    )


async def audit_kinds(repos: Repositories, workspace: str) -> list[tuple[str, str, bool]]:
    rows = await repos.audit.since(
        workspace_id=workspace, since=datetime.now(UTC) - timedelta(days=1)
    )
    return [(r.kind, r.actor, r.accepted) for r in rows]


async def silences_for(am: AlertmanagerClient, service: str) -> list[str]:
    return [s.id for s in await am.silences(filters=[f'service="{service}"'])]


# --------------------------------------------------------------------------- tests


async def test_llm_proposal_is_stored_pending_and_never_executes_at_level_3(
    stub: AnthropicStub,
    make_analyst: Callable[..., ClaudeAnalyst],
    repos: Repositories,
    workspace: str,
    am: AlertmanagerClient,
    service: RemediationService,
) -> None:
    svc = f"svc-{uuid.uuid4().hex[:8]}"
    before = await silences_for(am, svc)
    stub.script(tool_use(PROPOSE_TOOL_NAME, silence_input(svc)), FINAL)
    analyst = make_analyst()
    assert PROPOSE_TOOL_NAME in analyst.tool_names

    reply = await refine(analyst)

    # the reply carries the proposal for the front-end to post
    assert len(reply.proposals) == 1
    ref = reply.proposals[0]
    assert ref.action == SILENCE and ref.status == "pending" and ref.required_approvals == 1
    assert f'service="{svc}"' in ref.dry_run
    assert any(ref.id in note for note in reply.notes)
    # stored pending, proposed by the LLM (not a person), one human approval required
    stored = await repos.proposals.get(workspace_id=workspace, proposal_id=ref.id)
    assert stored is not None
    assert stored.status == ProposalStatus.PENDING
    assert stored.proposed_by == LLM_PROPOSER
    assert stored.required_approvals == 1
    assert stored.environment == ENVIRONMENT
    assert stored.approvals == [] and stored.result is None
    # one audit row, no execution, and the policy's level 3 recorded as not applied
    rows = await repos.audit.since(
        workspace_id=workspace, since=datetime.now(UTC) - timedelta(days=1)
    )
    assert [(r.kind, r.actor) for r in rows] == [("proposed", LLM_PROPOSER)]
    assert rows[0].data["level"] == 3 and rows[0].data["autonomous"] is False
    assert "assistant" in rows[0].reason
    # the real Alertmanager has no new silence
    assert await silences_for(am, svc) == before
    # the model was offered the tool with the catalogue, and got the id and dry run back
    first = stub.requests[0].body
    tools = {t["name"]: t for t in first["tools"]}
    assert tools[PROPOSE_TOOL_NAME]["input_schema"]["properties"]["action"]["enum"] == [
        SILENCE,
        "alertmanager.silence_expire",
    ]
    assert list(tools)[-1] == SUBMIT_TOOL_NAME
    result = stub.requests[1].tool_results()[0]
    assert result["is_error"] is False
    assert ref.id in result["content"] and "nothing was executed" in result["content"]

    # the LLM can never approve its own proposal; a person can, and only then it runs
    own = await service.decide(
        workspace_id=workspace, proposal_id=ref.id, actor=LLM_PROPOSER, approve=True
    )
    assert not own.accepted and "proposer" in own.reason
    assert await silences_for(am, svc) == before
    human = await service.decide(
        workspace_id=workspace, proposal_id=ref.id, actor="UHUMAN1", approve=True
    )
    assert human.accepted and human.executed
    created = await silences_for(am, svc)
    assert len(created) == len(before) + 1
    await am.expire_silence(next(s for s in created if s not in before))


@pytest.mark.parametrize(
    ("tool_input", "expected"),
    [
        (
            {"action": "kubernetes.delete_namespace", "params": {}, "rationale": "x"},
            "unknown action 'kubernetes.delete_namespace'",
        ),
        ({"action": SILENCE, "rationale": "no params"}, "params: Field required"),
        ({"action": SILENCE, "params": {"matchers": []}, "rationale": ""}, "rationale"),
        ("silence everything", "invalid arguments: expected a JSON object"),
    ],
    ids=["unknown-action", "missing-params", "empty-rationale", "not-an-object"],
)
async def test_bad_proposal_input_is_a_tool_error_and_stores_nothing(
    stub: AnthropicStub,
    make_analyst: Callable[..., ClaudeAnalyst],
    repos: Repositories,
    workspace: str,
    tool_input: Any,
    expected: str,
) -> None:
    stub.script(tool_use(PROPOSE_TOOL_NAME, tool_input), FINAL)
    reply = await refine(make_analyst())
    result = stub.requests[1].tool_results()[0]
    assert result["is_error"] is True
    assert expected in result["content"]
    assert reply.proposals == []
    assert await repos.proposals.list(workspace_id=workspace) == []
    assert await audit_kinds(repos, workspace) == []


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"duration_minutes": 0}, "duration_minutes"),
        ({"matchers": ["not a matcher"]}, "matchers"),
        ({"execute_now": True}, "execute_now"),
    ],
    ids=["zero-duration", "bad-matcher", "extra-field"],
)
async def test_invalid_action_params_are_a_tool_error_and_store_nothing(
    stub: AnthropicStub,
    make_analyst: Callable[..., ClaudeAnalyst],
    repos: Repositories,
    workspace: str,
    am: AlertmanagerClient,
    params: dict[str, Any],
    field: str,
) -> None:
    svc = f"svc-{uuid.uuid4().hex[:8]}"
    stub.script(tool_use(PROPOSE_TOOL_NAME, silence_input(svc, **params)), FINAL)
    reply = await refine(make_analyst())
    result = stub.requests[1].tool_results()[0]
    assert result["is_error"] is True
    assert f"parameter '{field}" in result["content"]
    assert reply.proposals == []
    assert await repos.proposals.list(workspace_id=workspace) == []
    assert await audit_kinds(repos, workspace) == []
    assert await silences_for(am, svc) == []


@pytest.mark.parametrize(("enabled", "wired"), [(False, True), (True, False)])
async def test_tool_offered_only_when_enabled_and_wired(
    stub: AnthropicStub,
    make_analyst: Callable[..., ClaudeAnalyst],
    repos: Repositories,
    workspace: str,
    enabled: bool,
    wired: bool,
) -> None:
    analyst = make_analyst(enabled=enabled, wired=wired)
    assert PROPOSE_TOOL_NAME not in analyst.tool_names
    stub.script(tool_use(PROPOSE_TOOL_NAME, silence_input("checkout")), FINAL)
    reply = await refine(analyst)
    assert [t["name"] for t in stub.requests[0].body["tools"]] == [SUBMIT_TOOL_NAME]
    result = stub.requests[1].tool_results()[0]
    assert result["is_error"] is True and "unknown tool" in result["content"]
    assert reply.proposals == []
    assert await repos.proposals.list(workspace_id=workspace) == []


async def test_at_most_max_proposals_per_refinement(
    stub: AnthropicStub,
    make_analyst: Callable[..., ClaudeAnalyst],
    repos: Repositories,
    workspace: str,
) -> None:
    services = [f"svc-{uuid.uuid4().hex[:8]}" for _ in range(3)]
    stub.script(
        tool_uses([(PROPOSE_TOOL_NAME, silence_input(s)) for s in services]),
        tool_use(PROPOSE_TOOL_NAME, silence_input(services[0])),
        FINAL,
    )
    reply = await refine(make_analyst(limits=RefineLimits(max_proposals=2, max_retries=0)))
    results = stub.requests[1].tool_results()
    assert [r["is_error"] for r in results] == [False, False, True]
    assert "at most 2 remediation proposal(s)" in results[2]["content"]
    again = stub.requests[2].tool_results()
    assert again[0]["is_error"] is True
    stored = await repos.proposals.list(workspace_id=workspace)
    assert len(stored) == 2 == len(reply.proposals)
    assert {p.id for p in stored} == {p.id for p in reply.proposals}
    assert all(p.status == ProposalStatus.PENDING for p in stored)


async def test_proposals_survive_a_fallback(
    stub: AnthropicStub,
    make_analyst: Callable[..., ClaudeAnalyst],
    repos: Repositories,
    workspace: str,
) -> None:
    stub.script(
        tool_use(PROPOSE_TOOL_NAME, silence_input(f"svc-{uuid.uuid4().hex[:8]}")),
        error(500, times=None),
    )
    reply = await refine(make_analyst(limits=RefineLimits(max_retries=0)))
    assert any(n.startswith("Claude unavailable (server error 500") for n in reply.notes)
    stored = await repos.proposals.list(workspace_id=workspace)
    assert [p.id for p in stored] == [p.id for p in reply.proposals]
    assert len(stored) == 1 and stored[0].status == ProposalStatus.PENDING
    assert json.dumps(reply.model_dump(mode="json"))  # serialisable for the turn store


async def test_proposal_lands_in_the_conversations_workspace(
    stub: AnthropicStub,
    make_analyst: Callable[..., ClaudeAnalyst],
    repos: Repositories,
    workspace: str,
) -> None:
    """A Slack team's conversation stores its proposals in that team, so its members
    can see and approve them; the configured single workspace is only the fallback."""
    team = f"T{uuid.uuid4().hex[:8].upper()}"
    await repos.workspaces.ensure(workspace_id=team)
    stub.script(tool_use(PROPOSE_TOOL_NAME, silence_input("cart")), FINAL)
    reply = await make_analyst().refine(
        question="alerts are flapping on cart",
        draft=draft(),
        history=[],
        budget_s=30,
        workspace_id=team,
    )
    [ref] = reply.proposals
    assert await repos.proposals.get(workspace_id=team, proposal_id=ref.id) is not None
    assert await repos.proposals.get(workspace_id=workspace, proposal_id=ref.id) is None
