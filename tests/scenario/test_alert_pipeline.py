"""End to end: a real Prometheus rule fires into a real Alertmanager, which calls our
webhook; the incident is opened, its Slack thread appears in the Slack stub, and the
automatic investigation is posted into it."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import httpx
import pytest
import uvicorn
from sqlmodel import select

from bot.config import load_settings
from bot.web import create_app
from memory.db import Database
from memory.models import Incident
from tests.integration.conftest import require_binary
from tests.servers.alertmanager import start_alertmanager
from tests.servers.process import free_port
from tests.servers.prometheus import ALWAYS_FIRING_ALERT, start_prometheus
from tests.stubs.slack_api import BOT_TOKEN, SIGNING_SECRET, SlackApiStub

pytestmark = pytest.mark.integration
TOKEN = "pipeline-token"


async def test_prometheus_rule_to_slack_incident_thread(tmp_path: Path):
    am_binary = require_binary("prometheus-alertmanager", "alertmanager")
    prom_binary, promtool = require_binary("prometheus"), require_binary("promtool")
    with SlackApiStub() as slack:
        settings = load_settings(
            data_dir=tmp_path / "data",
            database={},
            slack={
                "bot_token": BOT_TOKEN,
                "signing_secret": SIGNING_SECRET,
                "api_base_url": slack.base_url,
                "default_channel": "CINC",
            },
            webhooks={"alertmanager_token": TOKEN},
            incidents={"notify_delay_s": 0.5, "update_interval_s": 1, "feed_interval_s": 0.2},
        )
        port = free_port()
        server = uvicorn.Server(
            uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_level="warning")
        )
        serving = asyncio.create_task(server.serve())
        while not server.started:  # noqa: ASYNC110
            await asyncio.sleep(0.02)
        am_config = f"""\
route:
  receiver: copilot
  group_by: [service]
  group_wait: 1s
  group_interval: 1s
  repeat_interval: 1h
receivers:
  - name: copilot
    webhook_configs:
      - url: http://127.0.0.1:{port}/webhooks/alertmanager
        send_resolved: true
        http_config:
          authorization:
            credentials: {TOKEN}
"""
        (tmp_path / "am").mkdir()
        am = await asyncio.to_thread(
            start_alertmanager, binary=am_binary, workdir=tmp_path / "am", config_text=am_config
        )
        (tmp_path / "prom").mkdir()
        prom = await asyncio.to_thread(
            start_prometheus,
            binary=prom_binary,
            promtool=promtool,
            workdir=tmp_path / "prom",
            alertmanager_url=am.url,
        )
        try:
            deadline = time.monotonic() + 60
            posted = []
            while time.monotonic() < deadline:
                posted = [
                    c for c in slack.calls("chat.postMessage") if c.params.get("channel") == "CINC"
                ]
                if len(posted) >= 2:  # the incident message, then the investigation
                    break
                await asyncio.sleep(0.25)
            assert posted, "no incident thread reached Slack within 60 s"
            opening = posted[0]
            assert ALWAYS_FIRING_ALERT in str(opening.params.get("text", "")) + str(opening.blocks)
            assert len(posted) >= 2 and posted[1].params.get("thread_ts")
            async with Database(settings.database_url) as db, db.session() as s:
                incidents = (await s.exec(select(Incident))).all()
            assert len(incidents) == 1
            assert incidents[0].service == "checkout" and incidents[0].thread_ts is not None
            async with httpx.AsyncClient() as client:  # the webhook refuses strangers
                refused = await client.post(
                    f"http://127.0.0.1:{port}/webhooks/alertmanager",
                    json={"version": "4", "alerts": []},
                )
            assert refused.status_code == 401
        finally:
            prom.stop()
            am.stop()
            server.should_exit = True
            await serving
