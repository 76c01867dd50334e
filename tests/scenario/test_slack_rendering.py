"""Answers that need more than one message: charts (files upload v2), huge replies, App Home."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from bot.slack.services import DIGEST_JOB
from memory.models import JobRunStatus, RemediationProposal
from tests.scenario import slack_payloads as sp
from tests.scenario.harness import SlackHarness, running_app, slack_settings
from tests.stubs.slack_api import SlackApiStub


async def test_chart_is_uploaded_into_the_thread_with_files_upload_v2(slack: SlackHarness):
    ev = sp.mention("show me a chart of the p99 latency")
    await slack.event(ev)
    [complete] = await slack.stub.wait_calls("files.completeUploadExternal")
    [update] = slack.stub.calls("chat.update")
    promql = update.block("reply.promql")["text"]["text"]
    assert "histogram_quantile" in promql and "&gt; 0.5" in promql  # escaped for mrkdwn
    assert "checkout-p99.png" in update.block("reply.attachments")["elements"][0]["text"]
    [ask] = slack.stub.calls("files.getUploadURLExternal")
    [upload] = slack.stub.calls("files.upload")
    assert ask.params["filename"] == "checkout-p99.png"
    assert int(ask.params["length"]) == upload.params["length"] > 0
    assert upload.params["file_id"] == ask.response["file_id"]
    assert complete.params["channel_id"] == sp.CHANNEL
    assert complete.params["thread_ts"] == ev["ts"]
    methods = [m for m in slack.stub.methods() if m != "auth.test"]
    assert methods == [
        "chat.postMessage",
        "chat.update",
        "files.getUploadURLExternal",
        "files.upload",
        "files.completeUploadExternal",
    ]


async def test_huge_answer_is_split_within_block_kit_limits_and_attached(slack: SlackHarness):
    ev = sp.mention("give me the huge report")
    await slack.event(ev)
    await slack.stub.wait_calls("files.completeUploadExternal")
    update = slack.stub.calls("chat.update")[0]
    posts = slack.stub.calls("chat.postMessage")[1:]  # after the placeholder
    messages = [update, *posts]
    assert len(messages) == 3
    for msg in messages:  # the stub refuses what Slack refuses: all were accepted
        assert msg.response["ok"], msg.response
        assert len(msg.blocks) <= 50
        for block in msg.blocks:
            if block["type"] == "section":
                assert len(block["text"]["text"]) <= 3000
    assert messages[0].block("reply.continued") is not None
    assert messages[-1].block("reply.truncated") is not None
    assert all(p.params["thread_ts"] == ev["ts"] for p in posts)
    [ask] = slack.stub.calls("files.getUploadURLExternal")
    assert ask.params["filename"] == "answer.md"


async def test_app_home_shows_incidents_approvals_and_digest_in_the_users_time(slack: SlackHarness):
    ws = "T0TEST"
    await slack.repos.workspaces.ensure(workspace_id=ws)
    inc = await slack.repos.incidents.create(
        workspace_id=ws,
        title="checkout 5xx",
        service="checkout",
        severity="critical",
        started_at=datetime(2026, 3, 2, 9, 0, tzinfo=UTC),
    )
    proposal = await slack.repos.proposals.create(
        proposal=RemediationProposal(
            workspace_id=ws,
            action="restart_deployment",
            params={"deployment": "checkout"},
            proposed_by="sre-copilot",
            required_approvals=2,
            expires_at=datetime.now(UTC) + timedelta(hours=1),
        )
    )
    run = await slack.repos.job_runs.claim(workspace_id=ws, job=DIGEST_JOB, period="2026-W10")
    assert run is not None and run.id is not None
    await slack.repos.job_runs.finish(workspace_id=ws, run_id=run.id, status=JobRunStatus.SUCCEEDED)
    slack.stub.users[sp.USER] = {"name": "human", "tz": "Europe/Paris", "tz_offset": 3600}

    event = {
        "type": "app_home_opened",
        "user": sp.USER,
        "channel": "D0HOME",
        "tab": "home",
        "event_ts": sp.new_ts(),
    }
    await slack.event(event)
    [published] = await slack.stub.wait_calls("views.publish")
    assert published.params["user_id"] == sp.USER
    view = published.params["view"]
    blocks = {b.get("block_id"): b for b in view["blocks"]}
    incident = blocks[f"home.incident.{inc.id}"]["text"]["text"]
    assert "checkout 5xx" in incident and "since Mon 02 Mar 10:00" in incident  # UTC+1
    approval = blocks[f"home.approval.{proposal.id}"]["text"]["text"]
    assert "restart_deployment" in approval and "0/2 approvals" in approval
    assert "succeeded" in blocks["home.digest"]["text"]["text"]
    assert [c.params["user"] for c in slack.stub.calls("users.info")] == [sp.USER]


async def test_messages_tab_opening_publishes_nothing(slack: SlackHarness):
    await slack.event(
        {
            "type": "app_home_opened",
            "user": sp.USER,
            "channel": "D0HOME",
            "tab": "messages",
            "event_ts": sp.new_ts(),
        }
    )
    await slack.settle()
    assert slack.calls("views.publish") == []


async def test_real_pipeline_answers_a_mention_with_nothing_configured(
    tmp_path: Path, slack_stub: SlackApiStub
):
    # No scripted responder: the container's own investigation agent answers.
    settings = slack_settings(tmp_path / "data", slack_stub)
    async with running_app(settings, slack_stub, scripted=False) as slack:
        for text in ("help", "what's wrong with checkout?"):
            await slack.event(sp.mention(text))
        updates = await slack_stub.wait_calls("chat.update", 2)
        for update in updates:
            assert update.response["ok"]
            assert update.block("reply.headline")["text"]["text"]
