"""Socket Mode and multi-workspace OAuth, end to end against the stub."""

from __future__ import annotations

import json
import re
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import httpx
import pytest

from bot.config import SlackConfig
from bot.slack.mode import SlackMode, resolve
from memory.errors import ConfigError
from tests.scenario import slack_payloads as sp
from tests.scenario.harness import running_app, slack_settings
from tests.stubs.slack_api import APP_TOKEN, BOT_TOKEN, Bot, SlackApiStub


async def test_socket_mode_answers_events_and_commands(tmp_path: Path, slack_stub: SlackApiStub):
    settings = slack_settings(
        tmp_path / "data", slack_stub, app_token=APP_TOKEN, signing_secret=None
    )
    async with running_app(settings, slack_stub, socket_mode=True) as slack:
        [opened] = slack_stub.calls("apps.connections.open")
        assert opened.token == APP_TOKEN
        await slack_stub.wait_for(lambda: slack_stub.socket_connected, what="websocket")
        # /slack/events is not served in Socket Mode
        assert (await slack.http.post("/slack/events", content=b"{}")).status_code == 404

        ev = sp.mention("what's wrong with checkout?")
        envelope = slack_stub.send_envelope("events_api", sp.event_body(ev))
        await slack_stub.wait_for(
            lambda: any(a.get("envelope_id") == envelope for a in slack_stub.socket_acks),
            what="the envelope ack",
        )
        [update] = await slack_stub.wait_calls("chat.update")
        assert update.token == BOT_TOKEN
        assert update.block("hypothesis.1") is not None
        [post] = slack_stub.calls("chat.postMessage")
        assert post.params["thread_ts"] == ev["ts"]

        form = sp.command_form("help", response_url=slack_stub.response_url())
        envelope = slack_stub.send_envelope("slash_commands", form, accepts_response_payload=True)
        await slack_stub.wait_for(
            lambda: any(a.get("envelope_id") == envelope for a in slack_stub.socket_acks),
            what="the command ack",
        )
        ack = next(a for a in slack_stub.socket_acks if a.get("envelope_id") == envelope)
        assert ack["payload"]["blocks"][0]["block_id"] == "help.title"


# slack_sdk's oauth.v2.access uses aiohttp.BasicAuth, deprecated in aiohttp 3.14 (third party).
@pytest.mark.filterwarnings("ignore:BasicAuth is deprecated:DeprecationWarning")
async def test_oauth_install_then_events_use_the_stored_token(
    tmp_path: Path, slack_stub: SlackApiStub
):
    settings = slack_settings(
        tmp_path / "data",
        slack_stub,
        bot_token=None,
        client_id="111.222",
        client_secret="client-secret",
        redirect_url="https://copilot.example.com/slack/oauth_redirect",
    )
    other = Bot(team_id="T0OTHER", bot_user_id="U0BOT2", bot_id="B0BOT2", team_name="Other")
    slack_stub.grant("code-123", token="xoxb-installed-other", bot=other, installer="U0ADMIN")
    async with running_app(settings, slack_stub) as slack:
        page = await slack.http.get("/slack/install")
        assert page.status_code == 200
        link = re.search(r'href="(https://slack.com/oauth/v2/authorize\?[^"]+)"', page.text)
        assert link is not None
        query = parse_qs(urlparse(link.group(1).replace("&amp;", "&")).query)
        assert query["client_id"] == ["111.222"]
        assert set(query["scope"][0].split(",")) >= {"app_mentions:read", "chat:write", "commands"}
        state = query["state"][0]
        cookie = page.headers["set-cookie"].split(";")[0]

        forged = await slack.http.get(
            "/slack/oauth_redirect",
            params={"code": "code-123", "state": state[:-1] + ("0" if state[-1] != "0" else "1")},
            headers={"Cookie": cookie},
        )
        assert forged.status_code == 400, forged.status_code
        assert slack_stub.calls("oauth.v2.access") == []

        done = await slack.http.get(
            "/slack/oauth_redirect",
            params={"code": "code-123", "state": state},
            headers={"Cookie": cookie},
        )
        assert done.status_code == 200
        [exchange] = slack_stub.calls("oauth.v2.access")
        assert exchange.params["code"] == "code-123"
        row = await slack.repos.slack_installations.find_bot(workspace_id="T0OTHER")
        assert row is not None and row.bot_token == "xoxb-installed-other"
        assert row.installer_user_id == "U0ADMIN" and row.bot_user_id == "U0BOT2"

        ev = sp.mention("what's wrong with checkout?", bot_user_id="U0BOT2")
        assert (await slack.event(ev, team_id="T0OTHER")).status_code == 200
        [update] = await slack_stub.wait_calls("chat.update")
        assert update.token == "xoxb-installed-other"
        turns = await slack.turns(f"slack:{sp.CHANNEL}:{ev['ts']}", workspace_id="T0OTHER")
        assert turns[0].text == "what's wrong with checkout?"

        # a workspace that never installed the app gets nothing
        stranger = await slack.event(sp.mention("hello"), team_id="T0NOPE")
        assert stranger.status_code == 200
        assert len(slack_stub.calls("chat.postMessage")) == 1

        # Slack tells us the app was uninstalled: the token is forgotten
        uninstall = {"type": "app_uninstalled", "event_ts": sp.new_ts()}
        assert (await slack.event(uninstall, team_id="T0OTHER")).status_code == 200
        assert await slack.repos.slack_installations.find_bot(workspace_id="T0OTHER") is None


def test_mode_resolution_and_its_errors():
    assert resolve(SlackConfig()) is None
    assert resolve(SlackConfig(bot_token="xoxb-1")) is None  # no signing secret: not served
    single = resolve(SlackConfig(bot_token="xoxb-1", signing_secret="s"))
    assert single is not None and single.mode is SlackMode.SINGLE and single.serves_http_events
    oauth = resolve(SlackConfig(client_id="1.2", client_secret="x", signing_secret="s"))
    assert oauth is not None and oauth.mode is SlackMode.OAUTH
    socket = resolve(SlackConfig(bot_token="xoxb-1", app_token="xapp-1"), socket_mode=True)
    assert socket is not None and socket.socket_mode and not socket.serves_http_events
    with pytest.raises(ConfigError, match="SRE_COPILOT_SLACK__APP_TOKEN"):
        resolve(SlackConfig(bot_token="xoxb-1", signing_secret="s"), socket_mode=True)
    with pytest.raises(ConfigError, match="SRE_COPILOT_SLACK__BOT_TOKEN"):
        resolve(SlackConfig(app_token="xapp-1"), socket_mode=True)
    with pytest.raises(ConfigError, match="CLIENT_SECRET"):
        resolve(SlackConfig(client_id="1.2", signing_secret="s"))


async def test_serve_without_slack_keeps_health_routes(tmp_path: Path, slack_stub: SlackApiStub):
    settings = slack_settings(tmp_path / "data", slack_stub, bot_token=None, signing_secret=None)
    async with running_app(settings, slack_stub) as slack:
        assert (await slack.http.get("/healthz")).json() == {"status": "ok"}
        assert (await slack.http.post("/slack/events", content=b"{}")).status_code == 404
    assert slack_stub.calls() == []


async def test_metrics_count_slack_requests(slack_stub: SlackApiStub, tmp_path: Path):
    settings = slack_settings(tmp_path / "data", slack_stub)
    async with running_app(settings, slack_stub) as slack:
        await slack.post(
            json.dumps(sp.event_body(sp.mention("hi"))), content_type=sp.JSON, headers={}
        )
        metrics = (await slack.http.get("/metrics")).text
        assert 'sre_copilot_http_requests_total{route="/slack/events",status="401"} 1.0' in metrics
        assert isinstance(slack.http, httpx.AsyncClient)
