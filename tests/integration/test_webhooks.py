"""The webhook endpoints over real HTTP: auth, bad input (4xx, nothing written), replays."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest_asyncio
import uvicorn
from sqlmodel import func, select

from bot.config import load_settings
from bot.web import create_app
from memory.db import Database
from memory.models import Alert, WebhookDelivery
from tests.servers.process import free_port

TOKEN = "am-test-token"
PD_SECRET = "pd-test-secret"


@dataclass
class App:
    url: str
    db_url: str


@pytest_asyncio.fixture(loop_scope="session")
async def app(tmp_path: Path) -> AsyncIterator[App]:
    settings = load_settings(
        data_dir=tmp_path,
        database={},
        webhooks={
            "alertmanager_token": TOKEN,
            "alertmanager_basic_user": "am",
            "alertmanager_basic_password": "pw",
        },
        pagerduty={"webhook_secret": PD_SECRET},
        incidents={"max_body_bytes": 4096},
    )
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_level="warning")
    )
    task = asyncio.create_task(server.serve())
    while not server.started:  # noqa: ASYNC110
        await asyncio.sleep(0.02)
    try:
        yield App(url=f"http://127.0.0.1:{port}", db_url=settings.database_url)
    finally:
        server.should_exit = True
        await task


def am_body(name: str = "HighErrors", status: str = "firing", version: str = "4") -> bytes:
    return json.dumps(
        {
            "version": version,
            "alerts": [
                {
                    "status": status,
                    "labels": {"alertname": name, "service": "checkout"},
                    "startsAt": "2026-11-27T10:00:00Z",
                }
            ],
        }
    ).encode()


async def rows(db_url: str) -> tuple[int, int]:
    async with Database(db_url) as db, db.session() as s:
        deliveries = (await s.exec(select(func.count()).select_from(WebhookDelivery))).one()
        alerts = (await s.exec(select(func.count()).select_from(Alert))).one()
    return int(deliveries), int(alerts)


JSON = {"content-type": "application/json"}


async def test_alertmanager_auth_and_bad_input_write_nothing(app: App):
    url = f"{app.url}/webhooks/alertmanager"
    bearer = {**JSON, "authorization": f"Bearer {TOKEN}"}
    async with httpx.AsyncClient() as client:
        cases = [
            (
                await client.post(url, content=am_body(), headers=JSON),
                401,
                "missing or wrong credentials",
            ),
            (
                await client.post(
                    url, content=am_body(), headers={**JSON, "authorization": "Bearer nope"}
                ),
                401,
                "wrong credentials",
            ),
            (
                await client.post(
                    url,
                    content=am_body(),
                    headers={"authorization": f"Bearer {TOKEN}", "content-type": "text/plain"},
                ),
                415,
                "content type must be application/json",
            ),
            (await client.post(url, content=b"{nope", headers=bearer), 400, "not valid JSON"),
            (
                await client.post(url, content=am_body(version="3"), headers=bearer),
                400,
                "unsupported Alertmanager payload version",
            ),
            (
                await client.post(url, content=b"x" * 5000, headers=bearer),
                413,
                "over the 4096-byte limit",
            ),
        ]
        for response, status, reason in cases:
            assert response.status_code == status, response.text
            assert reason in response.json()["error"]
        assert await rows(app.db_url) == (0, 0)
        ok = await client.post(url, content=am_body(), headers=bearer)
        assert ok.status_code == 200 and ok.json()["alerts"] == 1 and ok.json()["queued"]
        replay = await client.post(url, content=am_body(), headers=bearer)
        assert replay.status_code == 409 and "replayed delivery" in replay.json()["error"]
        basic = await client.post(url, content=am_body("Other"), auth=("am", "pw"), headers=JSON)
        assert basic.status_code == 200
        wrong_basic = await client.post(
            url, content=am_body("Third"), auth=("am", "nope"), headers=JSON
        )
        assert wrong_basic.status_code == 401
    for _ in range(100):  # processed in the background, within milliseconds
        if await rows(app.db_url) == (2, 2):
            break
        await asyncio.sleep(0.05)
    assert await rows(app.db_url) == (2, 2)


def sign(body: bytes, secret: str = PD_SECRET) -> str:
    return "v1=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


async def test_pagerduty_signature_and_replay(app: App):
    url = f"{app.url}/webhooks/pagerduty"
    body = json.dumps(
        {
            "event": {
                "id": "EVT1",
                "event_type": "incident.triggered",
                "occurred_at": "2026-11-27T10:02:00Z",
                "data": {
                    "id": "PX9",
                    "type": "incident",
                    "title": "Checkout down",
                    "service": {"summary": "checkout"},
                },
            }
        }
    ).encode()
    async with httpx.AsyncClient() as client:
        unsigned = await client.post(url, content=body, headers=JSON)
        assert unsigned.status_code == 401 and "X-PagerDuty-Signature" in unsigned.json()["error"]
        forged = await client.post(
            url, content=body, headers={**JSON, "x-pagerduty-signature": sign(body, "other")}
        )
        assert forged.status_code == 401
        # several signatures (secret rotation): one valid is enough
        good = await client.post(
            url,
            content=body,
            headers={**JSON, "x-pagerduty-signature": f"{sign(body, 'old')},{sign(body)}"},
        )
        assert good.status_code == 200 and good.json()["action"] == "opened"
        again = await client.post(
            url, content=body, headers={**JSON, "x-pagerduty-signature": sign(body)}
        )
        assert again.status_code == 409
