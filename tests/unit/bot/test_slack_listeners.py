"""Pure helpers of the Slack front-end: parsing, classification, OAuth state, work pool."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
import yaml
from slack_sdk.oauth.installation_store.models.installation import Installation
from slack_sdk.web.async_client import AsyncWebClient

from bot.config import SlackConfig
from bot.slack.app import BOT_SCOPES, api_base_url
from bot.slack.installation_store import DatabaseInstallationStore, SignedStateStore, workspace_key
from bot.slack.listeners.commands import parse
from bot.slack.listeners.events import classify_message
from bot.slack.listeners.views import submitted_question
from bot.slack.membership import ThreadMembership
from bot.slack.services import mentions, strip_mentions
from bot.slack.work import AckGate, BackgroundWork
from memory.repositories import Repositories
from tests.stubs.slack_api import BOT_TOKEN, BOT_USER_ID, SlackApiStub

ROOT = Path(__file__).resolve().parents[3]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", ("help", "")),
        ("  HELP ", ("help", "")),
        ("ask what's wrong?", ("ask", "what's wrong?")),
        ("ask", ("ask", "")),
        ("Status", ("status", "")),
        ("runbook disk   full", ("runbook", "disk   full")),
        ("oncall", ("oncall", "")),
        ("incidents", ("incidents", "")),
        ("what's wrong with checkout?", ("ask", "what's wrong with checkout?")),
    ],
)
def test_parse_sre_command(text: str, expected: tuple[str, str]):
    assert parse(text) == expected


@pytest.mark.parametrize(
    ("event", "kind"),
    [
        ({"user": "U1", "text": "hi", "ts": "2", "channel_type": "im"}, "dm"),
        ({"user": "U1", "text": f"<@{BOT_USER_ID}> hi", "ts": "2", "channel_type": "im"}, "dm"),
        ({"user": "U1", "text": "more", "ts": "2", "thread_ts": "1"}, "thread"),
        ({"user": "U1", "text": "top level", "ts": "2"}, None),
        ({"user": "U1", "text": f"<@{BOT_USER_ID}> x", "ts": "2", "thread_ts": "1"}, None),
        ({"user": "U1", "text": "x", "ts": "1", "thread_ts": "1"}, None),  # thread parent
        (
            {"user": "U1", "text": "x", "ts": "2", "thread_ts": "1", "subtype": "message_changed"},
            None,
        ),
        (
            {"user": "U1", "text": "x", "ts": "2", "thread_ts": "1", "subtype": "file_share"},
            "thread",
        ),
        ({"user": "U9", "bot_id": "B9", "text": "x", "ts": "2", "thread_ts": "1"}, None),
        ({"text": "x", "ts": "2", "thread_ts": "1"}, None),
        ({"user": BOT_USER_ID, "text": "x", "ts": "2", "channel_type": "im"}, None),
    ],
)
def test_classify_message(event: dict, kind: str | None):
    assert classify_message(event, bot_user_id=BOT_USER_ID) == kind


def test_mentions_are_stripped_and_detected():
    assert (
        strip_mentions(f"<@{BOT_USER_ID}>   why  <@U2> ? <@{BOT_USER_ID}|bot>", BOT_USER_ID)
        == "why <@U2> ?"
    )
    assert mentions(f"hey <@{BOT_USER_ID}>", BOT_USER_ID)
    assert not mentions("hey <@U2>", BOT_USER_ID)
    assert not mentions(f"<@{BOT_USER_ID}>", None)


def test_submitted_question():
    view = {"state": {"values": {"ask.question": {"ask.question_input": {"value": " q "}}}}}
    assert submitted_question(view) == "q"
    assert submitted_question({}) == ""


def test_manifest_matches_the_code():
    manifest = yaml.safe_load((ROOT / "manifest.yaml").read_text())
    assert tuple(sorted(manifest["oauth_config"]["scopes"]["bot"])) == tuple(sorted(BOT_SCOPES))
    events = set(manifest["settings"]["event_subscriptions"]["bot_events"])
    assert {"app_mention", "message.im", "message.channels", "app_home_opened"} <= events
    assert [c["command"] for c in manifest["features"]["slash_commands"]] == ["/sre"]
    assert manifest["settings"]["interactivity"]["is_enabled"] is True
    urls = {
        manifest["settings"]["event_subscriptions"]["request_url"],
        manifest["settings"]["interactivity"]["request_url"],
        manifest["features"]["slash_commands"][0]["url"],
    }
    assert len(urls) == 1 and urls.pop().endswith("/slack/events")
    assert "socket_mode_enabled" in manifest["settings"]
    assert manifest["features"]["app_home"]["home_tab_enabled"] is True


def test_api_base_url_gets_its_trailing_slash():
    assert api_base_url(SlackConfig()) == "https://slack.com/api/"
    assert (
        api_base_url(SlackConfig(api_base_url="http://127.0.0.1:9/api"))
        == "http://127.0.0.1:9/api/"
    )


async def test_signed_state_is_accepted_once_issued_and_refused_when_forged_or_old():
    now = [1_000_000.0]
    store = SignedStateStore(secret="s3cret", expiration_s=600, clock=lambda: now[0])
    state = await store.async_issue()
    assert await store.async_consume(state)
    assert not await store.async_consume(state[:-1] + ("0" if state[-1] != "0" else "1"))
    assert not await SignedStateStore(secret="other").async_consume(state)
    assert not await store.async_consume("garbage")
    now[0] += 601
    assert not await store.async_consume(state)
    with pytest.raises(ValueError):
        SignedStateStore(secret="")


def test_workspace_key():
    assert workspace_key(enterprise_id="E1", team_id="T1", is_enterprise_install=False) == "T1"
    assert workspace_key(enterprise_id="E1", team_id=None, is_enterprise_install=True) == "E1"
    with pytest.raises(ValueError):
        workspace_key(enterprise_id=None, team_id=None, is_enterprise_install=False)


async def test_installation_store_round_trip(repos: Repositories, workspace: str):
    store = DatabaseInstallationStore(repos)
    team = f"T{workspace[1:]}"
    first = Installation(
        app_id="A1",
        team_id=team,
        team_name="Team",
        bot_token="xoxb-1",
        bot_id="B1",
        bot_user_id="UB1",
        bot_scopes=list(BOT_SCOPES),
        user_id="U1",
        installed_at=1_700_000_000.0,
    )
    await store.async_save(first)
    bot = await store.async_find_bot(enterprise_id=None, team_id=team)
    assert bot is not None and bot.bot_token == "xoxb-1" and bot.bot_user_id == "UB1"
    assert bot.bot_scopes == list(BOT_SCOPES)
    # a reinstall by someone else: the latest wins; the same installer replaces their row
    second = Installation(
        team_id=team,
        bot_token="xoxb-2",
        bot_id="B1",
        bot_user_id="UB1",
        user_id="U2",
        installed_at=1_700_000_100.0,
    )
    await store.async_save(second)
    await store.async_save(second)
    found = await store.async_find_installation(enterprise_id=None, team_id=team)
    assert found is not None and found.bot_token == "xoxb-2" and found.user_id == "U2"
    by_user = await store.async_find_installation(enterprise_id=None, team_id=team, user_id="U1")
    assert by_user is not None and by_user.bot_token == "xoxb-1"
    assert await store.async_find_bot(enterprise_id=None, team_id="T0NEVER") is None
    await store.async_delete_bot(enterprise_id=None, team_id=team)
    assert await store.async_find_bot(enterprise_id=None, team_id=team) is None
    await store.async_delete_all(enterprise_id=None, team_id=team)
    assert await store.async_find_installation(enterprise_id=None, team_id=team) is None


async def test_background_work_drains_on_close_and_survives_failures(
    caplog: pytest.LogCaptureFixture,
):
    work = BackgroundWork(workers=2)
    done: list[int] = []

    async def job(i: int) -> None:
        await asyncio.sleep(0)
        if i == 3:
            raise RuntimeError("job 3 broke")
        done.append(i)

    for i in range(10):
        work.submit(lambda i=i: job(i), label=f"job {i}")
    await work.aclose(timeout=10)
    assert sorted(done) == [0, 1, 2, 4, 5, 6, 7, 8, 9]
    assert (work.completed, work.failed) == (9, 1)
    assert "background job job 3 failed" in caplog.text
    work.submit(lambda: job(11), label="late")  # refused once closed
    assert work.pending == 0


async def test_background_work_cancels_what_outlives_the_deadline():
    work = BackgroundWork(workers=1)
    never = asyncio.Event()
    work.submit(never.wait, label="stuck")
    work.submit(never.wait, label="queued")
    await asyncio.sleep(0)
    await work.aclose(timeout=0.05)
    assert work.completed == 0


async def test_membership_uses_the_database_then_caches_the_api_answer(
    repos: Repositories, workspace: str
):
    with SlackApiStub() as stub:
        client = AsyncWebClient(token=BOT_TOKEN, base_url=stub.base_url)
        membership = ThreadMembership(repos=repos)
        args = {
            "client": client,
            "workspace_id": workspace,
            "channel": "C1",
            "bot_user_id": BOT_USER_ID,
            "bot_id": "B0BOT",
        }
        assert not await membership.takes_part(thread_ts="1.1", **args)
        assert not await membership.takes_part(thread_ts="1.1", **args)  # cached
        assert len(stub.calls("conversations.replies")) == 1
        await repos.conversations.add_turn(
            workspace_id=workspace, conversation_key="slack:C1:1.1", role="user", text="x"
        )
        assert await membership.takes_part(thread_ts="1.1", **args)  # the database wins
        stub.seed_thread("C1", "2.2", [{"user": BOT_USER_ID, "ts": "2.2"}])
        assert await membership.takes_part(thread_ts="2.2", **args)
        stub.error("conversations.replies", "missing_scope")
        assert not await membership.takes_part(thread_ts="3.3", **args)


async def test_answers_pool_yields_to_intake():
    intake = BackgroundWork(workers=1, name="intake")
    answers = BackgroundWork(workers=1, name="answers", yield_to=intake)
    order: list[str] = []
    release = asyncio.Event()

    async def slow_intake() -> None:
        await release.wait()
        order.append("intake")

    async def answer() -> None:
        order.append("answer")

    intake.submit(slow_intake, label="placeholder")
    answers.submit(answer, label="answer")
    for _ in range(5):
        await asyncio.sleep(0)
    assert order == []  # the answer waits while intake has work
    release.set()
    await intake.aclose(timeout=10)
    await answers.aclose(timeout=10)
    assert order == ["intake", "answer"]


async def test_jobs_wait_for_a_lull_in_acks_but_not_forever():
    gate = AckGate(settle_s=0.01, max_wait_s=30)
    work = BackgroundWork(workers=1, gate=gate)
    ran = asyncio.Event()

    async def job() -> None:
        ran.set()

    with gate.acking():
        work.submit(job, label="after the ack")
        for _ in range(20):
            await asyncio.sleep(0)
        assert not ran.is_set()  # held while a request is being acknowledged
    await asyncio.wait_for(ran.wait(), 10)
    await work.aclose(timeout=10)

    impatient = AckGate(settle_s=0.01, max_wait_s=0.01)
    with impatient.acking():
        await asyncio.wait_for(impatient.quiet(), 10)  # gives up waiting: no starvation
