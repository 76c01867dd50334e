"""Proposals in Slack: Propose on runbook steps, job proposals, expiry updates in place.

Signed block actions go to the served app over HTTP; proposal messages are posted to
the Slack Web API stub through the real ``AsyncWebClient``. The expiry loop runs in a
:class:`bot.slack.runtime.SlackRuntime` built here with a short interval.
"""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from slack_sdk.web.async_client import AsyncWebClient

from agents.reply import Capability
from bot.chat import ChatService
from bot.container import Container
from bot.slack.incidents import SlackChannelSink, SlackIncidentNotifier
from bot.slack.mode import resolve
from bot.slack.runtime import SlackRuntime
from jobs.policy import Policy, default_policy
from jobs.proposals import TriggeredProposer
from jobs.remediation import RemediationService
from memory.db import Database
from memory.models import ProposalStatus
from memory.repositories import Repositories
from tests.integration.test_remediation_triggers import cpu_alert
from tests.scenario import slack_payloads as sp
from tests.scenario.harness import running_app, slack_settings
from tests.scenario.test_slack_remediation import CountingAction
from tests.stubs.kubernetes_api import serve_kubernetes_stub
from tests.stubs.slack_api import BOT_TOKEN, TEAM_ID, SlackApiStub
from tools.actions.base import ActionCatalogue
from tools.actions.kubernetes import KubernetesDeployments, ScaleAction

CLICKER = "U0CLICKER"


async def no_capabilities() -> list[Capability]:
    return []


class Clock:
    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now


async def test_propose_button_posts_the_proposal_in_the_thread(
    tmp_path: Path, slack_stub: SlackApiStub
) -> None:
    action = CountingAction()

    def customize(container: Container) -> None:
        container.catalogue = ActionCatalogue([action])  # type: ignore[list-item]
        container.remediation = RemediationService(
            container.repos, container.catalogue, default_policy()
        )

    settings = slack_settings(tmp_path / "data", slack_stub)
    async with running_app(settings, slack_stub, customize=customize) as slack:
        await slack.repos.workspaces.ensure(workspace_id=TEAM_ID)
        answer_ts, thread_ts = sp.new_ts(), sp.new_ts()
        value = json.dumps({"a": "test.restart", "p": {"deployment": "checkout"}, "e": None})
        click = sp.block_actions(
            "remediation.propose.1", value, message_ts=answer_ts, thread_ts=thread_ts,
            user=CLICKER, block_id="reply.runbook_actions.buttons",
        )  # fmt: skip
        assert (await slack.interact(click)).status_code == 200
        await slack.stub.wait_for(
            lambda: len(slack.calls("chat.postMessage")) == 1, what="the proposal message"
        )
        [post] = slack.calls("chat.postMessage")
        assert post.params["thread_ts"] == thread_ts and post.params["channel"] == sp.CHANNEL
        assert post.block("remediation.actions") is not None
        # the location is stored just after the post returns: wait for it, not for time
        for _ in range(400):
            [proposal] = await slack.repos.proposals.list(workspace_id=TEAM_ID)
            if proposal.message_ts is not None:
                break
            await asyncio.sleep(0.025)
        assert proposal.proposed_by == CLICKER and proposal.params == {"deployment": "checkout"}
        assert post.response is not None
        assert (proposal.channel_id, proposal.message_ts) == (sp.CHANNEL, post.response["ts"])

        # the clicker proposed it, so the clicker may not approve it
        approve = sp.block_actions(
            "remediation.approve", proposal.id, message_ts=post.response["ts"],
            user=CLICKER, block_id="remediation.actions",
        )  # fmt: skip
        await slack.interact(approve)
        await slack.stub.wait_for(
            lambda: len(slack.calls("chat.postEphemeral")) == 1, what="the refusal"
        )
        assert "proposer cannot approve" in slack.calls("chat.postEphemeral")[0].params["text"]
        assert action.executions == 0

        # an action this deployment does not have: refused to the clicker only
        bad = sp.block_actions(
            "remediation.propose.2", json.dumps({"a": "kubernetes.scale", "p": {}}),
            message_ts=answer_ts, user=CLICKER, block_id="reply.runbook_actions.buttons",
        )  # fmt: skip
        await slack.interact(bad)
        await slack.stub.wait_for(
            lambda: len(slack.calls("chat.postEphemeral")) == 2, what="the second refusal"
        )
        assert (
            "unknown action 'kubernetes.scale'"
            in (slack.calls("chat.postEphemeral")[1].params["text"])
        )
        assert len(await slack.repos.proposals.list(workspace_id=TEAM_ID)) == 1


async def test_job_proposal_posted_then_expired_in_place(
    tmp_path: Path, slack_stub: SlackApiStub
) -> None:
    settings = slack_settings(tmp_path / "data", slack_stub, default_channel="C0OPS")
    db = Database(settings.database_url)
    await db.upgrade()
    repos = Repositories.build(db)
    await repos.workspaces.ensure(workspace_id=TEAM_ID)
    clock = Clock()
    with serve_kubernetes_stub() as cluster:
        cluster.add_deployment("shop", "checkout", replicas=3)
        deployments = KubernetesDeployments(host=cluster.url, timeout_s=5.0)
        catalogue = ActionCatalogue([ScaleAction(deployments=deployments)])
        policy = Policy.model_validate(
            {
                "expiry_minutes": 15,
                "triggers": [
                    {
                        "name": "cpu", "source": "forecast", "metric": "container_cpu_*",
                        "labels": {"namespace": "shop", "deployment": "*"},
                        "action": "kubernetes.scale",
                        "params": {"namespace": "{namespace}", "deployment": "{deployment}",
                                   "replicas": "{replicas+1}"},
                    }
                ],
            }
        )  # fmt: skip
        service = RemediationService(repos, catalogue, policy, clock=clock)
        chat = ChatService(repos=repos, capabilities=no_capabilities)
        setup = resolve(settings.slack)
        assert setup is not None
        runtime = SlackRuntime(
            config=settings.slack, setup=setup, chat=chat, repos=repos,
            remediation=service, proposal_expiry_interval_s=0.05,
        )  # fmt: skip
        try:
            async with runtime:
                client = AsyncWebClient(token=BOT_TOKEN, base_url=slack_stub.base_url)
                sink = SlackChannelSink(
                    SlackIncidentNotifier(client), workspace_id=TEAM_ID, channel="C0OPS"
                )
                proposer = TriggeredProposer(
                    service=service, catalogue=catalogue, triggers=policy.triggers,
                    repos=repos, sink=sink, clock=clock,
                )  # fmt: skip
                [p] = await proposer.from_forecast(workspace_id=TEAM_ID, alert=cpu_alert())
                [post] = slack_stub.calls("chat.postMessage")
                assert post.params["channel"] == "C0OPS"
                assert post.block("remediation.actions") is not None
                assert "from 3 to 4" in str(post.block("remediation.dry_run"))
                assert post.response is not None
                ts = post.response["ts"]

                clock.now += timedelta(minutes=16)
                await slack_stub.wait_for(
                    lambda: len(slack_stub.calls("chat.update")) == 1, what="the expiry update"
                )
                [update] = slack_stub.calls("chat.update")
                assert (update.params["channel"], update.params["ts"]) == ("C0OPS", ts)
                assert update.block("remediation.actions") is None
                assert "`expired`" in str(update.block("remediation.status"))
                assert "Expired: no decision before" in str(update.block("remediation.status"))
                stored = await repos.proposals.get(workspace_id=TEAM_ID, proposal_id=p.id)
                assert stored is not None and stored.status == ProposalStatus.EXPIRED
                if client.session is not None:
                    await client.session.close()
        finally:
            await deployments.aclose()
            await db.dispose()
