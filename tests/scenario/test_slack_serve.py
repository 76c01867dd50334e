"""`sre-copilot serve` as a real subprocess: HTTP mode and --socket-mode, against the stub."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from tests.scenario import slack_payloads as sp
from tests.servers.process import free_port
from tests.stubs.slack_api import APP_TOKEN, BOT_TOKEN, SIGNING_SECRET, SlackApiStub

EXE = str(Path(sys.executable).parent / "sre-copilot")


def env_for(tmp_path: Path, **slack: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SRE_COPILOT_")}
    env["SRE_COPILOT_DATA_DIR"] = str(tmp_path / "data")
    env["SRE_COPILOT_LOG_LEVEL"] = "WARNING"
    env.update({f"SRE_COPILOT_SLACK__{k.upper()}": v for k, v in slack.items()})
    return env


@contextmanager
def serving(args: list[str], env: dict[str, str], cwd: Path) -> Iterator[str]:
    port = free_port()
    proc = subprocess.Popen(
        [EXE, "serve", "--port", str(port), *args],
        env=env,
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                raise AssertionError(f"serve exited: {proc.stderr.read().decode()[-2000:]}")  # type: ignore[union-attr]
            try:
                if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise AssertionError("serve did not come up")
            time.sleep(0.1)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if proc.stdout:
            proc.stdout.close()
        if proc.stderr:
            proc.stderr.close()


async def test_serve_answers_a_signed_mention_over_http(tmp_path: Path, slack_stub: SlackApiStub):
    env = env_for(
        tmp_path,
        bot_token=BOT_TOKEN,
        signing_secret=SIGNING_SECRET,
        api_base_url=slack_stub.base_url,
    )
    with serving([], env, tmp_path) as url:
        ev = sp.mention("help")
        body = json.dumps(sp.event_body(ev))
        async with httpx.AsyncClient() as http:
            resp = await http.post(
                f"{url}/slack/events",
                content=body.encode(),
                headers=sp.signed_headers(body, content_type=sp.JSON),
            )
        assert resp.status_code == 200
        [update] = await slack_stub.wait_calls("chat.update")
        assert update.block("reply.headline") is not None
        assert slack_stub.calls("chat.postMessage")[0].params["thread_ts"] == ev["ts"]


async def test_serve_socket_mode_answers_over_the_websocket(
    tmp_path: Path, slack_stub: SlackApiStub
):
    env = env_for(
        tmp_path, bot_token=BOT_TOKEN, app_token=APP_TOKEN, api_base_url=slack_stub.base_url
    )
    with serving(["--socket-mode"], env, tmp_path):
        await slack_stub.wait_for(lambda: slack_stub.socket_connected, what="websocket")
        ev = sp.mention("status")
        slack_stub.send_envelope("events_api", sp.event_body(ev))
        [update] = await slack_stub.wait_calls("chat.update")
        assert update.block("reply.capabilities") is not None


def test_serve_socket_mode_without_app_token_is_one_clear_error(tmp_path: Path):
    env = env_for(tmp_path, bot_token=BOT_TOKEN)
    proc = subprocess.run(
        [EXE, "serve", "--socket-mode", "--port", str(free_port())],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines()[-1] == (
        "error: SRE_COPILOT_SLACK__APP_TOKEN: --socket-mode needs an app-level token (xapp-...)"
    )
