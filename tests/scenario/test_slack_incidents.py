"""The incident lifecycle in Slack: thread message, buttons, ``/sre incident|timeline|postmortem``.

Signed slash commands and block actions go to the served app over HTTP; the incident
thread is opened with :class:`bot.slack.incidents.SlackIncidentNotifier` (what the
incident feed calls) through a real Web API client pointed at the stub.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import pytest_asyncio
from slack_sdk.web.async_client import AsyncWebClient

from agents.reply import Reply
from bot.slack.incidents import IncidentOps, SlackIncidentNotifier
from jobs.config import IncidentConfig
from jobs.ingest import AlertIngestor
from memory.models import Incident, IncidentStatus
from tests.scenario import slack_payloads as sp
from tests.scenario.harness import SlackHarness
from tests.stubs.slack_api import BOT_TOKEN, TEAM_ID, SlackCall

RESPONDER = "U1"


def alertmanager(*alerts: tuple[str, str]) -> bytes:
    return json.dumps(
        {
            "version": "4",
            "alerts": [
                {
                    "status": status,
                    "labels": {"alertname": name, "service": "checkout", "severity": "critical"},
                    "startsAt": "2026-11-27T10:00:00Z",
                }
                for name, status in alerts
            ],
        }
    ).encode()


@pytest_asyncio.fixture(loop_scope="session")
async def web_client(slack: SlackHarness) -> AsyncIterator[AsyncWebClient]:
    client = AsyncWebClient(token=BOT_TOKEN, base_url=slack.stub.base_url)
    yield client
    if client.session is not None:
        await client.session.close()


async def open_incident(slack: SlackHarness, client: AsyncWebClient) -> tuple[Incident, SlackCall]:
    """An ingested incident whose thread the notifier opened in ``sp.CHANNEL``."""
    ingest = AlertIngestor(slack.db, IncidentConfig())
    result = await ingest.ingest_alertmanager(
        workspace_id=TEAM_ID,
        body=alertmanager(("CheckoutHighErrorRate", "firing"), ("CheckoutLatency", "firing")),
    )
    await ingest.ingest_alertmanager(
        workspace_id=TEAM_ID, body=alertmanager(("CheckoutLatency", "resolved"))
    )
    [incident_id] = result.incidents_opened
    incident = await slack.repos.incidents.get(workspace_id=TEAM_ID, incident_id=incident_id)
    assert incident is not None
    alerts = await slack.repos.alerts.list(workspace_id=TEAM_ID, incident_id=incident_id)
    ts = await SlackIncidentNotifier(client).open_thread(
        workspace_id=TEAM_ID, channel=sp.CHANNEL, incident=incident, alerts=alerts
    )
    await slack.repos.incidents.set_thread(
        workspace_id=TEAM_ID, incident_id=incident_id, channel_id=sp.CHANNEL, thread_ts=ts
    )
    [post] = slack.calls("chat.postMessage")
    assert post.response is not None and post.response["ts"] == ts
    incident = await slack.repos.incidents.get(workspace_id=TEAM_ID, incident_id=incident_id)
    assert incident is not None
    return incident, post


def action_ids(call: SlackCall) -> list[str]:
    block = call.block("incident.actions")
    assert block is not None
    return [el["action_id"] for el in block["elements"]]


def text_of(call: SlackCall) -> str:
    return "\n".join(str((b.get("text") or {}).get("text", "")) for b in call.blocks) or str(
        call.params.get("text", "")
    )


async def status_of(slack: SlackHarness, incident_id: int) -> IncidentStatus:
    incident = await slack.repos.incidents.get(workspace_id=TEAM_ID, incident_id=incident_id)
    assert incident is not None
    return IncidentStatus(incident.status)


async def test_incident_lifecycle_from_slack(slack: SlackHarness, web_client: AsyncWebClient):
    incident, post = await open_incident(slack, web_client)
    assert incident.id is not None
    assert post.response is not None
    iid, ts = incident.id, str(post.response["ts"])
    # the incident message: header, status, alerts, the four buttons carrying the id
    assert "thread_ts" not in post.params
    header = post.block("incident.header")
    assert header is not None and f"#{iid}" in header["text"]["text"]
    assert header["text"]["text"].startswith(":red_circle:")
    alerts_text = post.block("incident.alerts")["text"]["text"]  # type: ignore[index]
    assert "1 firing · 1 resolved" in alerts_text
    assert "`CheckoutHighErrorRate` ×1" in alerts_text
    assert action_ids(post) == [
        "incident.ack",
        "incident.mitigate",
        "incident.resolve",
        "incident.postmortem",
    ]
    assert {el["value"] for el in post.block("incident.actions")["elements"]} == {str(iid)}  # type: ignore[index]

    # Acknowledge button, clicked by U1: message updated in place, note in the thread
    resp = await slack.interact(
        sp.block_actions(
            "incident.ack", str(iid), message_ts=ts, user=RESPONDER, block_id="incident.actions"
        )
    )
    assert resp.status_code == 200
    [update] = await slack.stub.wait_calls("chat.update")
    assert update.params["channel"] == sp.CHANNEL and update.params["ts"] == ts
    assert "`acknowledged`" in update.block("incident.status")["text"]["text"]  # type: ignore[index]
    assert action_ids(update) == ["incident.mitigate", "incident.resolve", "incident.postmortem"]
    await slack.stub.wait_for(lambda: len(slack.calls("chat.postMessage")) == 2, what="the note")
    note = slack.calls("chat.postMessage")[1]
    assert note.params["thread_ts"] == ts and f"<@{RESPONDER}>" in note.params["text"]
    assert await status_of(slack, iid) is IncidentStatus.ACKNOWLEDGED
    events = await slack.repos.timeline.list(workspace_id=TEAM_ID, incident_id=iid)
    [ack] = [e for e in events if e.kind == "transition" and e.actor == RESPONDER]
    assert ack.actor == RESPONDER and ack.text == "triggered → acknowledged"

    # /sre incident resolve ID [reason]
    await slack.command(f"incident resolve {iid} rolled back v2.3.1")
    [done] = await slack.stub.wait_calls("response_url")
    assert done.params["response_type"] == "ephemeral" and "*resolved*" in done.params["text"]
    updates = await slack.stub.wait_calls("chat.update", 2)
    assert action_ids(updates[1]) == ["incident.postmortem"]
    assert "Resolved" in str(updates[1].block("incident.times"))
    assert await status_of(slack, iid) is IncidentStatus.RESOLVED
    events = await slack.repos.timeline.list(workspace_id=TEAM_ID, incident_id=iid)
    resolved = [e for e in events if e.kind == "transition"][-1]
    assert resolved.actor == sp.USER and resolved.text.endswith(": rolled back v2.3.1")

    # an invalid transition is refused, to the asker only, with the state machine's reason
    await slack.command(f"incident ack {iid}")
    refused = (await slack.stub.wait_calls("response_url", 2))[1]
    assert refused.params["response_type"] == "ephemeral"
    assert f"incident #{iid} is already resolved; it cannot become acknowledged" in text_of(refused)
    assert len(slack.calls("chat.update")) == 2  # nothing changed
    assert await status_of(slack, iid) is IncidentStatus.RESOLVED

    # the same, from a stale button: an ephemeral message in the channel
    await slack.interact(
        sp.block_actions(
            "incident.mitigate",
            str(iid),
            message_ts=ts,
            user=RESPONDER,
            block_id="incident.actions",
        )
    )
    [stale] = await slack.stub.wait_calls("chat.postEphemeral")
    assert stale.params["user"] == RESPONDER and "already resolved" in stale.params["text"]

    # /sre timeline ID
    await slack.command(f"timeline {iid}")
    timeline = (await slack.stub.wait_calls("response_url", 3))[2]
    assert timeline.params["response_type"] == "ephemeral"
    body = text_of(timeline)
    assert f"Timeline of incident #{iid}" in body
    assert f"<@{RESPONDER}>" in body and "triggered → acknowledged" in body
    assert "acknowledged → resolved: rolled back v2.3.1" in body

    # /sre postmortem ID: a Markdown file in the incident's thread, stored on the timeline
    await slack.command(f"postmortem {iid}")
    [complete] = await slack.stub.wait_calls("files.completeUploadExternal")
    [get_url] = slack.calls("files.getUploadURLExternal")
    assert get_url.params["filename"] == f"postmortem-incident-{iid}.md"
    [upload] = slack.calls("files.upload")
    assert upload.params["content"].startswith("# Post-mortem (draft)")
    assert complete.params["channel_id"] == sp.CHANNEL and complete.params["thread_ts"] == ts
    posted = (await slack.stub.wait_calls("response_url", 4))[3]
    assert f"<#{sp.CHANNEL}>" in text_of(posted)
    events = await slack.repos.timeline.list(workspace_id=TEAM_ID, incident_id=iid)
    [draft] = [e for e in events if e.kind == "postmortem"]
    assert draft.actor == sp.USER
    assert draft.data["markdown"] == upload.params["content"]


async def test_postmortem_button_without_a_thread_posts_in_the_channel(slack: SlackHarness):
    await slack.repos.workspaces.ensure(workspace_id=TEAM_ID)
    incident = await slack.repos.incidents.create(workspace_id=TEAM_ID, title="disk full on db-1")
    assert incident.id is not None
    await slack.interact(
        sp.block_actions(
            "incident.postmortem",
            str(incident.id),
            message_ts=sp.new_ts(),
            user=RESPONDER,
            block_id="incident.actions",
        )
    )
    [complete] = await slack.stub.wait_calls("files.completeUploadExternal")
    assert complete.params["channel_id"] == sp.CHANNEL
    assert "thread_ts" not in complete.params
    assert slack.calls("chat.postEphemeral") == []  # the file speaks for itself


async def test_incident_commands_explain_their_usage(slack: SlackHarness):
    cases = {
        "incident": "Usage: `/sre incident",
        "incident frobnicate 3": "unknown incident action 'frobnicate'",
        "incident ack": "Usage: `/sre incident",
        "incident ack abc": "`abc` is not an incident id",
        "incident resolve 424242": "there is no incident #424242",
        "timeline": "Usage: `/sre timeline <id>`",
        "timeline 1 2": "Usage: `/sre timeline <id>`",
        "postmortem x": "`x` is not an incident id",
        "postmortem 424242": "there is no incident #424242",
    }
    for n, (text, expected) in enumerate(cases.items(), start=1):
        resp = await slack.command(text)
        assert resp.status_code == 200 and resp.content == b""
        answer = (await slack.stub.wait_calls("response_url", n))[n - 1]
        assert answer.params["response_type"] == "ephemeral"
        assert expected in text_of(answer), text
    assert slack.calls("chat.postMessage") == []
    assert slack.calls("chat.update") == []


async def test_help_lists_the_incident_commands(slack: SlackHarness):
    body = (await slack.command("help")).json()
    commands = body["blocks"][1]["text"]["text"]
    for name in (
        "/sre incident ack|investigate|mitigate|resolve",
        "/sre timeline",
        "/sre postmortem",
    ):
        assert name in commands


async def test_notifier_updates_in_place_and_posts_the_investigation(
    slack: SlackHarness, web_client: AsyncWebClient
):
    incident, post = await open_incident(slack, web_client)
    assert incident.id is not None and post.response is not None
    ts = str(post.response["ts"])
    notifier = SlackIncidentNotifier(web_client)
    await slack.repos.incidents.transition(
        workspace_id=TEAM_ID,
        incident_id=incident.id,
        expected=IncidentStatus.TRIGGERED,
        new=IncidentStatus.MITIGATED,
    )
    mitigated = await slack.repos.incidents.get(workspace_id=TEAM_ID, incident_id=incident.id)
    assert mitigated is not None
    alerts = await slack.repos.alerts.list(workspace_id=TEAM_ID, incident_id=incident.id)
    await notifier.update_thread(
        workspace_id=TEAM_ID, channel=sp.CHANNEL, thread_ts=ts, incident=mitigated, alerts=alerts
    )
    [update] = slack.calls("chat.update")
    assert update.params["ts"] == ts
    assert action_ids(update) == ["incident.resolve", "incident.postmortem"]
    await notifier.post_reply(
        workspace_id=TEAM_ID,
        channel=sp.CHANNEL,
        thread_ts=ts,
        reply=Reply(text="**checkout** is failing: most likely its database pool."),
    )
    reply = slack.calls("chat.postMessage")[-1]
    assert reply.params["thread_ts"] == ts
    assert reply.block("reply.headline") is not None


async def test_postmortem_on_resolve(slack: SlackHarness, web_client: AsyncWebClient):
    incident, post = await open_incident(slack, web_client)
    assert incident.id is not None and post.response is not None
    ops = IncidentOps(repos=slack.repos, postmortem_on_resolve=True)
    await ops.transition(
        client=web_client,
        workspace_id=TEAM_ID,
        incident_id=incident.id,
        new=IncidentStatus.RESOLVED,
        actor=RESPONDER,
        channel=sp.CHANNEL,
    )
    [complete] = slack.calls("files.completeUploadExternal")
    assert complete.params["thread_ts"] == post.response["ts"]
    events = await slack.repos.timeline.list(workspace_id=TEAM_ID, incident_id=incident.id)
    assert [e.kind for e in events][-2:] == ["transition", "postmortem"]


async def test_feedback_and_messages_in_the_thread_join_the_timeline(
    slack: SlackHarness, web_client: AsyncWebClient
):
    from memory.models import Hypothesis

    incident, post = await open_incident(slack, web_client)
    assert incident.id is not None and post.response is not None
    ts = str(post.response["ts"])
    key = f"slack:{sp.CHANNEL}:{ts}"
    (hyp,) = await slack.repos.hypotheses.add_many(
        workspace_id=TEAM_ID,
        hypotheses=[
            Hypothesis(
                workspace_id=TEAM_ID,
                conversation_key=key,
                title="checkout: database connection pool exhausted",
                fault="db_connections",
                confidence=0.9,
            )
        ],
    )
    up = sp.block_actions("hypothesis.feedback_up", str(hyp.id), message_ts=ts, thread_ts=ts)
    assert (await slack.interact(up)).status_code == 200
    await slack.stub.wait_calls("chat.postEphemeral")
    await slack.settle()
    events = await slack.repos.timeline.list(workspace_id=TEAM_ID, incident_id=incident.id)
    feedback = [e for e in events if e.kind == "feedback"]
    assert [(e.actor, e.text) for e in feedback] == [
        (sp.USER, "👍 checkout: database connection pool exhausted (net +1)")
    ]
