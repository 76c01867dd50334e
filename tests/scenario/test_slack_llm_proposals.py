"""Claude's proposals in Slack: posted in the answer's thread once, approved by a person.

End to end through the production app (``running_app(scripted=False)``): a signed
``app_mention`` reaches the real investigation agent, which reads a firing alert from
a real Alertmanager; Claude (the Messages API stub, through the real SDK) calls
``propose_remediation`` for an Alertmanager silence. The thread must get the answer and
the proposal message with Approve / Reject, its location stored on the proposal,
nothing executed; a signed Approve by another person then creates the silence once.

The once-only rule (a re-rendered reply, concurrent deliveries, a decided proposal,
another workspace's proposal) is checked on :meth:`bot.slack.services.SlackServices.deliver`
and :func:`bot.slack.proposals.post_answer_proposals` over SQLite and the Slack stub.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from slack_sdk.web.async_client import AsyncWebClient

from agents.llm import LLM_PROPOSER
from agents.prompts import PROPOSE_TOOL_NAME
from agents.reply import ProposalRef, Reply
from bot.chat import ChatService
from bot.config import Settings
from bot.slack.proposals import post_answer_proposals
from bot.slack.services import SlackServices
from bot.slack.work import BackgroundWork
from jobs.policy import default_policy
from jobs.remediation import RemediationService
from memory.db import Database
from memory.models import AuditEvent, ProposalStatus, RemediationProposal
from memory.repositories import Repositories
from tests.integration.conftest import alertmanager_server  # noqa: F401  (fixture re-export)
from tests.scenario import slack_payloads as sp
from tests.scenario.harness import running_app
from tests.scenario.test_slack_remediation import CountingAction
from tests.servers.process import ServerProcess
from tests.stubs.anthropic_api import (
    STUB_API_KEY,
    AnthropicStub,
    serve_anthropic_stub,
    submit_analysis,
    tool_use,
)
from tests.stubs.slack_api import BOT_TOKEN, SIGNING_SECRET, TEAM_ID, SlackApiStub, SlackCall
from tools.actions.base import ActionCatalogue
from tools.alertmanager_client import AlertmanagerClient
from tools.config import AlertmanagerConfig

SILENCE = "alertmanager.silence_create"
APPROVER = "U0APPROVER"
SECOND = "U0SECOND"


# ------------------------------------------------------------------ fixtures and helpers


@pytest.fixture
def claude() -> Iterator[AnthropicStub]:
    with serve_anthropic_stub() as stub:
        yield stub


@pytest.fixture
async def am(alertmanager_server: ServerProcess) -> AsyncIterator[AlertmanagerClient]:  # noqa: F811
    client = AlertmanagerClient(AlertmanagerConfig(base_url=alertmanager_server.url))
    yield client
    await client.aclose()


def llm_settings(
    data_dir: Path, *, slack: SlackApiStub, claude: AnthropicStub, alertmanager: str
) -> Settings:
    """The production wiring: Alertmanager (read tools and the silence action), Claude
    allowed to propose, Slack at the stub; the default policy (one approval, not the
    proposer's)."""
    return Settings(
        _env_file=None,
        environment="test",
        data_dir=data_dir,
        workspace_id=TEAM_ID,  # Claude stores its proposals in the Slack team's workspace
        log_level="WARNING",
        slack={
            "bot_token": BOT_TOKEN,
            "signing_secret": SIGNING_SECRET,
            "api_base_url": slack.base_url,
            "workers": 1,
        },
        alertmanager={"base_url": alertmanager},
        llm={
            "api_key": STUB_API_KEY,
            "base_url": claude.base_url,
            "propose_remediation": True,
            "max_steps": 4,
        },
        jobs={"enabled": False},
    )


async def fire_alert(alertmanager_url: str, service: str) -> None:
    now = datetime.now(UTC)
    alert = {
        "labels": {"alertname": "HighErrorRate", "service": service, "severity": "page"},
        "annotations": {"summary": f"{service} returns 5xx for 12% of requests"},
        "startsAt": (now - timedelta(minutes=10)).isoformat(),
        "endsAt": (now + timedelta(hours=1)).isoformat(),
    }
    async with httpx.AsyncClient(base_url=alertmanager_url) as client:
        (await client.post("/api/v2/alerts", json=[alert])).raise_for_status()


def silence_input(service: str) -> dict[str, Any]:
    return {
        "action": SILENCE,
        "params": {
            "matchers": [f'service="{service}"'],
            "duration_minutes": 30,
            "comment": "deploy in progress",
            "created_by": "sre-copilot",
        },
        "rationale": f"{service} alerts are deploy noise; silence them for 30 minutes",
    }


async def silences_for(am: AlertmanagerClient, service: str) -> list[str]:
    return [s.id for s in await am.silences(filters=[f'service="{service}"'])]


def proposal_posts(stub: SlackApiStub) -> list[SlackCall]:
    return [c for c in stub.calls("chat.postMessage") if c.block("remediation.actions")]


def button_values(call: SlackCall) -> dict[str, str]:
    block = call.block("remediation.actions")
    assert block is not None
    return {e["action_id"]: e["value"] for e in block["elements"]}


async def audit_of(repos: Repositories, proposal_id: str) -> list[AuditEvent]:
    rows = await repos.audit.since(
        workspace_id=TEAM_ID, since=datetime.now(UTC) - timedelta(days=1)
    )
    return [r for r in rows if r.proposal_id == proposal_id]


# ------------------------------------------------------------------ end to end


@pytest.mark.integration
async def test_claude_proposal_is_posted_in_the_thread_and_a_person_approves_it(
    tmp_path: Path,
    slack_stub: SlackApiStub,
    claude: AnthropicStub,
    alertmanager_server: ServerProcess,  # noqa: F811
    am: AlertmanagerClient,
) -> None:
    service = f"svc-{uuid.uuid4().hex[:8]}"
    await fire_alert(alertmanager_server.url, service)
    before = await silences_for(am, service)
    claude.script(
        tool_use(PROPOSE_TOOL_NAME, silence_input(service)),
        submit_analysis(
            f"{service} alerts are deploy noise",
            [{"index": 0, "confidence": 0.7, "rationale": "the deploy started at 10:00"}],
        ),
    )
    settings = llm_settings(
        tmp_path / "data", slack=slack_stub, claude=claude, alertmanager=alertmanager_server.url
    )
    async with running_app(settings, slack_stub, scripted=False) as slack:
        thread_ts = sp.new_ts()
        mention = sp.mention(f"what's wrong with {service}?", ts=thread_ts)
        assert (await slack.event(mention)).status_code == 200
        await slack_stub.wait_for(
            lambda: len(proposal_posts(slack_stub)) == 1, what="the proposal message", wait_s=60
        )

        # the answer replaced its placeholder in the thread, and says what was proposed
        [answer] = [c for c in slack.calls("chat.update") if c.params["channel"] == sp.CHANNEL]
        [holder] = [
            c
            for c in slack.calls("chat.postMessage")
            if c.params["channel"] == sp.CHANNEL and not c.block("remediation.actions")
        ]
        assert holder.response is not None and answer.params["ts"] == holder.response["ts"]
        assert holder.params["thread_ts"] == thread_ts

        # Claude proposed through the tool and was told the id; then it submitted
        assert [r.status for r in claude.requests] == [200, 200]
        [result] = claude.requests[1].tool_results()
        assert result["is_error"] is False and "nothing was executed" in result["content"]

        # the proposal: its own message in the same thread, Approve / Reject carry its id
        [post] = proposal_posts(slack_stub)
        assert (post.params["channel"], post.params["thread_ts"]) == (sp.CHANNEL, thread_ts)
        for _ in range(400):  # its location is stored just after the post returns
            [proposal] = await slack.repos.proposals.list(workspace_id=TEAM_ID)
            if proposal.message_ts is not None:
                break
            await asyncio.sleep(0.025)
        assert button_values(post) == {
            "remediation.approve": proposal.id,
            "remediation.reject": proposal.id,
        }
        assert f'service="{service}"' in str(post.block("remediation.dry_run"))
        assert "deploy noise" in str(post.block("remediation.summary"))
        assert post.params["unfurl_links"] in (False, "false", "0", 0)
        assert post.params["unfurl_media"] in (False, "false", "0", 0)
        assert proposal.id in json.dumps(answer.params["blocks"])  # the note in the answer
        # stored pending, proposed by the LLM, with the message's location
        assert proposal.proposed_by == LLM_PROPOSER
        assert proposal.status == ProposalStatus.PENDING and proposal.approvals == []
        assert post.response is not None
        message_ts = post.response["ts"]
        assert (proposal.channel_id, proposal.message_ts) == (sp.CHANNEL, message_ts)
        # nothing ran: no new silence, only the "proposed" audit row
        assert await silences_for(am, service) == before
        assert [r.kind for r in await audit_of(slack.repos, proposal.id)] == ["proposed"]

        # a person (not the proposer: the LLM) approves: the silence is created once
        approve = sp.block_actions(
            "remediation.approve", proposal.id, message_ts=message_ts, thread_ts=thread_ts,
            user=APPROVER, block_id="remediation.actions",
        )  # fmt: skip
        assert (await slack.interact(approve)).status_code == 200
        await slack_stub.wait_for(
            lambda: any(c.params.get("ts") == message_ts for c in slack.calls("chat.update")),
            what="the proposal message updated in place",
            wait_s=60,
        )
        stored = await slack.repos.proposals.get(workspace_id=TEAM_ID, proposal_id=proposal.id)
        assert stored is not None
        assert stored.status in (ProposalStatus.SUCCEEDED, ProposalStatus.VERIFIED)
        assert stored.approvals == [APPROVER]
        [update] = [c for c in slack.calls("chat.update") if c.params.get("ts") == message_ts]
        assert update.block("remediation.actions") is None  # no buttons once decided
        created = [s for s in await silences_for(am, service) if s not in before]
        assert len(created) == 1

        # a late second Approve changes nothing: still one silence, one execution
        again = sp.block_actions(
            "remediation.approve", proposal.id, message_ts=message_ts, thread_ts=thread_ts,
            user=SECOND, block_id="remediation.actions",
        )  # fmt: skip
        await slack.interact(again)
        await slack_stub.wait_for(
            lambda: len(slack.calls("chat.postEphemeral")) == 1, what="the refusal"
        )
        assert [s for s in await silences_for(am, service) if s not in before] == created
        kinds = [r.kind for r in await audit_of(slack.repos, proposal.id)]
        assert kinds.count("execution") == 1, kinds
        assert len(proposal_posts(slack_stub)) == 1
    await am.expire_silence(created[0])


# ------------------------------------------------------------------ once only


class Deliveries:
    """SlackServices over SQLite and the Slack stub, with proposals to deliver."""

    def __init__(self, repos: Repositories, stub: SlackApiStub) -> None:
        self.repos = repos
        self.stub = stub
        self.action = CountingAction()
        catalogue = ActionCatalogue([self.action])  # type: ignore[list-item]
        self.remediation = RemediationService(repos, catalogue, default_policy())
        self.client = AsyncWebClient(token=BOT_TOKEN, base_url=stub.base_url)
        self.services = SlackServices(
            chat=ChatService(repos=repos, capabilities=_no_capabilities),
            repos=repos,
            intake=BackgroundWork(workers=1, name="intake"),
            answers=BackgroundWork(workers=1, name="answers"),
            remediation=self.remediation,
        )

    async def propose(self, workspace_id: str = TEAM_ID) -> RemediationProposal:
        await self.repos.workspaces.ensure(workspace_id=workspace_id)
        return await self.remediation.propose(
            workspace_id=workspace_id,
            action=self.action.name,
            params={"deployment": "checkout"},
            environment="production",
            proposed_by=LLM_PROPOSER,
            reason="pods crashlooping",
            allow_auto_execute=False,
        )

    async def deliver(self, reply: Reply, thread_ts: str) -> None:
        holder = await self.client.chat_postMessage(channel=sp.CHANNEL, text="…")
        await self.services.deliver(
            client=self.client,
            workspace_id=TEAM_ID,
            channel=sp.CHANNEL,
            thread_ts=thread_ts,
            placeholder_ts=str(holder["ts"]),
            reply=reply,
            question="why?",
        )

    async def aclose(self) -> None:
        await self.services.intake.aclose()
        await self.services.answers.aclose()
        if self.client.session is not None:
            await self.client.session.close()


async def _no_capabilities() -> list[Any]:
    return []


def ref(proposal: RemediationProposal) -> ProposalRef:
    return ProposalRef(
        id=proposal.id,
        action=proposal.action,
        status=str(proposal.status),
        required_approvals=proposal.required_approvals,
        dry_run=proposal.dry_run,
        proposed_by=proposal.proposed_by,
    )


@pytest.fixture
async def deliveries(tmp_path: Path, slack_stub: SlackApiStub) -> AsyncIterator[Deliveries]:
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'once.db'}")
    await db.upgrade()
    made = Deliveries(Repositories.build(db), slack_stub)
    try:
        yield made
    finally:
        await made.aclose()
        await db.dispose()


async def test_a_rerendered_reply_posts_each_proposal_once(deliveries: Deliveries) -> None:
    first, second = await deliveries.propose(), await deliveries.propose()
    thread_ts = sp.new_ts()
    reply = Reply(text="two fixes proposed", proposals=[ref(first), ref(second), ref(first)])

    await deliveries.deliver(reply, thread_ts)
    posts = proposal_posts(deliveries.stub)
    assert [button_values(p)["remediation.approve"] for p in posts] == [first.id, second.id]
    assert all(p.params["thread_ts"] == thread_ts for p in posts)
    for proposal, post in zip((first, second), posts, strict=True):
        stored = await deliveries.repos.proposals.get(workspace_id=TEAM_ID, proposal_id=proposal.id)
        assert stored is not None and post.response is not None
        assert (stored.channel_id, stored.message_ts) == (sp.CHANNEL, post.response["ts"])

    # the same reply rendered again (and a follow-up carrying it in another thread)
    await deliveries.deliver(reply, thread_ts)
    await deliveries.deliver(reply, sp.new_ts())
    assert len(proposal_posts(deliveries.stub)) == 2
    assert len(deliveries.stub.calls("chat.update")) == 3  # every answer still delivered
    assert deliveries.action.executions == 0


async def test_concurrent_deliveries_post_a_proposal_once(deliveries: Deliveries) -> None:
    proposal = await deliveries.propose()
    thread_ts = sp.new_ts()
    posted = await asyncio.gather(
        *(
            post_answer_proposals(
                client=deliveries.client,
                repos=deliveries.repos,
                workspace_id=TEAM_ID,
                channel=sp.CHANNEL,
                thread_ts=thread_ts,
                proposal_ids=[proposal.id],
            )  # fmt: skip
            for _ in range(5)
        )
    )
    assert sorted(len(p) for p in posted) == [0, 0, 0, 0, 1]
    assert len(proposal_posts(deliveries.stub)) == 1


async def test_decided_unknown_or_foreign_proposals_are_not_posted(
    deliveries: Deliveries,
) -> None:
    decided = await deliveries.propose()
    rejected = await deliveries.remediation.decide(
        workspace_id=TEAM_ID, proposal_id=decided.id, actor=APPROVER, approve=False
    )
    assert rejected.accepted
    foreign = await deliveries.propose(workspace_id="T0OTHER")
    pending = await deliveries.propose()
    reply = Reply(
        text="proposals",
        proposals=[
            ref(decided),
            ref(foreign),
            ref(pending).model_copy(update={"id": "no-such-proposal"}),
            ref(pending),
        ],
    )

    await deliveries.deliver(reply, sp.new_ts())

    [post] = proposal_posts(deliveries.stub)
    assert button_values(post)["remediation.approve"] == pending.id
    other = await deliveries.repos.proposals.get(workspace_id="T0OTHER", proposal_id=foreign.id)
    assert other is not None and other.message_ts is None


async def test_an_incident_threads_investigation_posts_its_proposals(
    deliveries: Deliveries,
) -> None:
    """Incident threads render answers through the notifier, not SlackServices: the
    proposals the investigation made must be posted there too, with their location."""
    from bot.slack.incidents import SlackIncidentNotifier

    proposal = await deliveries.propose()
    thread_ts = sp.new_ts()
    notifier = SlackIncidentNotifier(deliveries.client, repos=deliveries.repos)
    reply = Reply(text="incident #7: most likely a bad deploy", proposals=[ref(proposal)])

    await notifier.post_reply(
        workspace_id=TEAM_ID, channel=sp.CHANNEL, thread_ts=thread_ts, reply=reply
    )
    await notifier.post_reply(
        workspace_id=TEAM_ID, channel=sp.CHANNEL, thread_ts=thread_ts, reply=reply
    )
    [post] = proposal_posts(deliveries.stub)
    assert button_values(post)["remediation.approve"] == proposal.id
    assert post.params["thread_ts"] == thread_ts and post.response is not None
    stored = await deliveries.repos.proposals.get(workspace_id=TEAM_ID, proposal_id=proposal.id)
    assert stored is not None
    assert (stored.channel_id, stored.message_ts) == (sp.CHANNEL, post.response["ts"])
    assert deliveries.action.executions == 0
