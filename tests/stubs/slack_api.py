"""Loopback stub of the Slack Web API and Socket Mode, driven through the real slack_sdk client.

It serves, on 127.0.0.1 (a free port, its own event loop in a daemon thread):

* ``POST|GET /api/<method>`` — the Web API methods the bot uses, in the real wire
  format (``{"ok": true, ...}`` / ``{"ok": false, "error": ...}``): ``auth.test``,
  ``chat.postMessage``, ``chat.update``, ``chat.postEphemeral``, ``views.publish``,
  ``views.open``, ``files.getUploadURLExternal``, ``files.completeUploadExternal``,
  ``conversations.replies``, ``users.info``, ``apps.connections.open`` and
  ``oauth.v2.access``. Tokens are checked (``Authorization: Bearer``): an unknown one
  gets ``invalid_auth``. Block Kit limits are checked the way Slack does (50 blocks
  per message, 100 per view, 3,000 characters per section text, unique block ids...):
  a violation gets ``invalid_blocks``.
* ``POST /upload/<file_id>`` — the upload URL handed out by ``files.getUploadURLExternal``
  (recorded as ``files.upload``, with the body as ``content`` when it is UTF-8 text).
* ``POST /response/<id>`` — ``response_url`` of slash commands and actions.
* ``GET /socket`` — a Socket Mode websocket: sends ``hello``, then whatever envelopes
  the test pushes with :meth:`SlackApiStub.send_envelope`; acks are recorded.

Every request is recorded (method, decoded params, lower-cased headers, the response
sent, monotonic time received) for assertions. Faults are scripted per method:
:meth:`SlackApiStub.fail` (HTTP status + ``Retry-After``, e.g. 429),
:meth:`SlackApiStub.error` (``ok: false``), :meth:`SlackApiStub.drop` (the connection
is closed without an answer).

    with SlackApiStub() as stub:
        client = AsyncWebClient(token=BOT_TOKEN, base_url=stub.base_url)
        ...
        assert stub.calls("chat.update")[0].params["ts"] == "..."
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import itertools
import json
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from aiohttp import WSMsgType, web

BOT_TOKEN = "xoxb-test-token"
APP_TOKEN = "xapp-test-token"
SIGNING_SECRET = "test-signing-secret"
TEAM_ID = "T0TEST"
TEAM_NAME = "Test Team"
BOT_USER_ID = "U0BOT"
BOT_ID = "B0BOT"
APP_ID = "A0TEST"

SECTION_TEXT_LIMIT = 3000
MESSAGE_BLOCK_LIMIT = 50
VIEW_BLOCK_LIMIT = 100


@dataclass(frozen=True)
class Bot:
    """Who a bot token belongs to."""

    team_id: str
    bot_user_id: str
    bot_id: str
    team_name: str = TEAM_NAME


@dataclass(frozen=True)
class SlackCall:
    """One request as the stub received it."""

    method: str
    params: dict[str, Any]
    headers: dict[str, str]
    response: dict[str, Any] | None
    status: int
    at: float  # time.monotonic() when received

    @property
    def token(self) -> str | None:
        """The bearer token sent."""
        auth = self.headers.get("authorization", "")
        return auth[7:] if auth.lower().startswith("bearer ") else None

    @property
    def blocks(self) -> list[dict[str, Any]]:
        """The ``blocks`` sent (decoded when sent as a JSON string)."""
        blocks = self.params.get("blocks") or []
        return json.loads(blocks) if isinstance(blocks, str) else list(blocks)

    def block(self, block_id: str) -> dict[str, Any] | None:
        """The block with ``block_id``, if sent."""
        return next((b for b in self.blocks if b.get("block_id") == block_id), None)


@dataclass
class _Fault:
    kind: str  # "status" | "error" | "drop"
    times: int
    status: int = 200
    error: str = ""
    headers: dict[str, str] = field(default_factory=dict)


def _check_blocks(blocks: Any, *, limit: int) -> str | None:
    """Slack's own Block Kit checks; a message describing the first violation."""
    if not isinstance(blocks, list):
        return "blocks must be an array"
    if len(blocks) > limit:
        return f"no more than {limit} items allowed [json-pointer:/blocks]"
    seen: set[str] = set()
    for i, block in enumerate(blocks):
        block_id = block.get("block_id")
        if block_id is not None:
            if block_id in seen or len(block_id) > 255:
                return f"duplicate or invalid block_id [json-pointer:/blocks/{i}/block_id]"
            seen.add(block_id)
        kind = block.get("type")
        text = (block.get("text") or {}).get("text", "")
        if kind == "section" and not 1 <= len(text) <= SECTION_TEXT_LIMIT:
            return f"must be 1..3000 characters [json-pointer:/blocks/{i}/text]"
        if kind == "header" and not 1 <= len(text) <= 150:
            return f"must be 1..150 characters [json-pointer:/blocks/{i}/text]"
        if kind == "context" and not 1 <= len(block.get("elements") or []) <= 10:
            return f"must be 1..10 elements [json-pointer:/blocks/{i}/elements]"
        if kind == "actions":
            for el in block.get("elements") or []:
                if len(str(el.get("value", ""))) > 2000 or len(el["text"]["text"]) > 75:
                    return f"button too long [json-pointer:/blocks/{i}/elements]"
    return None


class SlackApiStub:
    """A loopback Slack Web API + Socket Mode server for one test (or one bench run)."""

    def __init__(self) -> None:
        self.bots: dict[str, Bot] = {BOT_TOKEN: Bot(TEAM_ID, BOT_USER_ID, BOT_ID)}
        self.app_tokens = {APP_TOKEN}
        self.oauth_grants: dict[str, dict[str, Any]] = {}
        self.users: dict[str, dict[str, Any]] = {}
        self.threads: dict[tuple[str, str], list[dict[str, Any]]] = {}
        self.socket_acks: list[dict[str, Any]] = []
        self.record_calls = True
        self._calls: list[SlackCall] = []
        self._lock = threading.Lock()
        self._faults: dict[str, list[_Fault]] = {}
        self._ts = itertools.count(1)
        self._ids = itertools.count(1)
        self._messages: dict[tuple[str, str], dict[str, Any]] = {}
        self._sockets: list[web.WebSocketResponse] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None
        self._ready = threading.Event()
        self._stop: asyncio.Event | None = None
        self.port = 0

    # --- lifecycle ------------------------------------------------------------------

    def __enter__(self) -> SlackApiStub:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """``http://127.0.0.1:<port>``."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def base_url(self) -> str:
        """The Web API base URL to give ``AsyncWebClient(base_url=...)``."""
        return f"{self.url}/api/"

    def start(self) -> None:
        """Serve in a daemon thread; returns once the port is bound."""
        self._thread = threading.Thread(target=self._serve, name="slack-api-stub", daemon=True)
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("Slack API stub did not start")

    def stop(self) -> None:
        """Close sockets and stop the server."""
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        if self._thread is not None:
            self._thread.join(10)

    def _serve(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            loop.run_until_complete(self._main())
        finally:
            loop.close()

    async def _main(self) -> None:
        self._stop = asyncio.Event()
        app = web.Application(client_max_size=50 * 1024 * 1024)
        app.router.add_route("*", "/api/{method}", self._api)
        app.router.add_post("/upload/{file_id}", self._upload)
        app.router.add_post("/response/{rid}", self._response_url)
        app.router.add_get("/socket", self._socket)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0, backlog=1024)
        await site.start()
        server = site._server
        assert server is not None
        self.port = server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self._ready.set()
        await self._stop.wait()
        for ws in list(self._sockets):
            await ws.close()
        await self._runner.cleanup()

    # --- scripting ------------------------------------------------------------------

    def fail(
        self, method: str, *, status: int = 429, retry_after: str | None = "0", times: int = 1
    ) -> None:
        """Answer ``method`` with an HTTP error (``Retry-After`` for 429) ``times`` times."""
        headers = {"Retry-After": retry_after} if retry_after is not None else {}
        error = "ratelimited" if status == 429 else "internal_error"
        self._add_fault(method, _Fault("status", times, status, error, headers))

    def error(self, method: str, error: str, *, times: int = 1) -> None:
        """Answer ``method`` with ``{"ok": false, "error": error}``."""
        self._add_fault(method, _Fault("error", times, error=error))

    def drop(self, method: str, *, times: int = 1) -> None:
        """Close the connection without answering ``method``."""
        self._add_fault(method, _Fault("drop", times))

    def add_bot(self, token: str, bot: Bot) -> None:
        """Accept another bot token."""
        self.bots[token] = bot

    def grant(self, code: str, *, token: str, bot: Bot, installer: str) -> None:
        """Make ``oauth.v2.access`` exchange ``code`` for ``token``."""
        self.oauth_grants[code] = {"token": token, "bot": bot, "installer": installer}

    def seed_thread(self, channel: str, thread_ts: str, messages: list[dict[str, Any]]) -> None:
        """Messages ``conversations.replies`` returns for a thread (besides the bot's own)."""
        self.threads[(channel, thread_ts)] = list(messages)

    def _add_fault(self, method: str, fault: _Fault) -> None:
        with self._lock:
            self._faults.setdefault(method, []).append(fault)

    def _take_fault(self, method: str) -> _Fault | None:
        with self._lock:
            queue = self._faults.get(method) or []
            if not queue:
                return None
            fault = queue[0]
            fault.times -= 1
            if fault.times <= 0:
                queue.pop(0)
            return fault

    # --- assertions -----------------------------------------------------------------

    def calls(self, method: str | None = None) -> list[SlackCall]:
        """Recorded calls (of one method), in arrival order."""
        with self._lock:
            return [c for c in self._calls if method is None or c.method == method]

    def clear(self) -> None:
        """Forget the recorded calls."""
        with self._lock:
            self._calls.clear()

    def methods(self) -> list[str]:
        """Recorded method names, in arrival order."""
        return [c.method for c in self.calls()]

    async def wait_for(
        self, predicate: Callable[[], bool], *, wait_s: float = 15.0, what: str = "condition"
    ) -> None:
        """Poll ``predicate`` until true; fail with the calls seen after ``wait_s``."""
        deadline = time.monotonic() + wait_s
        while not predicate():
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {what}; calls: {self.methods()}")
            await asyncio.sleep(0.01)

    async def wait_calls(
        self, method: str, count: int = 1, *, wait_s: float = 15.0
    ) -> list[SlackCall]:
        """Wait until ``method`` was called ``count`` times; return those calls."""
        await self.wait_for(
            lambda: len(self.calls(method)) >= count,
            wait_s=wait_s,
            what=f"{count} x {method}",
        )
        return self.calls(method)

    # --- Socket Mode ----------------------------------------------------------------

    @property
    def socket_connected(self) -> bool:
        """Whether a Socket Mode client is connected."""
        return any(not ws.closed for ws in self._sockets)

    def send_envelope(
        self, kind: str, payload: dict[str, Any], *, accepts_response_payload: bool = False
    ) -> str:
        """Push an envelope (``events_api``, ``slash_commands``, ``interactive``); its id."""
        envelope_id = str(uuid.uuid4())
        message = json.dumps(
            {
                "envelope_id": envelope_id,
                "type": kind,
                "payload": payload,
                "accepts_response_payload": accepts_response_payload,
                "retry_attempt": 0,
                "retry_reason": "",
            }
        )
        ws = next(ws for ws in self._sockets if not ws.closed)
        assert self._loop is not None
        asyncio.run_coroutine_threadsafe(ws.send_str(message), self._loop).result(5)
        return envelope_id

    async def _socket(self, request: web.Request) -> web.StreamResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        self._sockets.append(ws)
        await ws.send_str(
            json.dumps(
                {
                    "type": "hello",
                    "num_connections": 1,
                    "debug_info": {"host": "stub", "approximate_connection_time": 18060},
                    "connection_info": {"app_id": APP_ID},
                }
            )
        )
        async for msg in ws:
            if msg.type == WSMsgType.TEXT:
                with self._lock:
                    self.socket_acks.append(json.loads(msg.data))
        return ws

    # --- HTTP -----------------------------------------------------------------------

    def _new_ts(self) -> str:
        return f"1700000000.{next(self._ts):06d}"

    async def _params(self, request: web.Request) -> dict[str, Any]:
        params: dict[str, Any] = dict(request.query)
        raw = await request.read()
        ctype = request.content_type
        if ctype == "application/json" and raw:
            params.update(json.loads(raw))
        elif ctype == "application/x-www-form-urlencoded" and raw:
            params.update(dict(parse_qsl(raw.decode(), keep_blank_values=True)))
        elif ctype.startswith("multipart/"):
            post = await request.post()
            params.update({k: v for k, v in post.items() if isinstance(v, str)})
        return params

    def _record(
        self,
        method: str,
        params: dict[str, Any],
        request: web.Request,
        response: dict[str, Any] | None,
        status: int,
        at: float,
    ) -> None:
        if not self.record_calls and method not in ("chat.postMessage", "chat.update"):
            return
        headers = {k.lower(): v for k, v in request.headers.items()}
        call = SlackCall(method, params, headers, response, status, at)
        with self._lock:
            self._calls.append(call)

    async def _api(self, request: web.Request) -> web.StreamResponse:
        at = time.monotonic()
        method = request.match_info["method"]
        params = await self._params(request)
        fault = self._take_fault(method)
        if fault is not None and fault.kind == "drop":
            self._record(method, params, request, None, 0, at)
            assert request.transport is not None
            request.transport.abort()
            return web.Response(status=500)
        if fault is not None and fault.kind == "status":
            body = {"ok": False, "error": fault.error}
            self._record(method, params, request, body, fault.status, at)
            return web.json_response(body, status=fault.status, headers=fault.headers)
        if fault is not None and fault.kind == "error":
            body = {"ok": False, "error": fault.error}
        else:
            body = self._answer(method, params, request)
        self._record(method, params, request, body, 200, at)
        return web.json_response(body)

    def _bot(self, request: web.Request) -> Bot | None:
        auth = request.headers.get("Authorization", "")
        return self.bots.get(auth[7:]) if auth.startswith("Bearer ") else None

    def _answer(self, method: str, params: dict[str, Any], request: web.Request) -> dict[str, Any]:
        if method == "oauth.v2.access":
            return self._oauth(params, request)
        if method == "apps.connections.open":
            auth = request.headers.get("Authorization", "")
            if auth[7:] not in self.app_tokens:
                return {"ok": False, "error": "invalid_auth"}
            return {"ok": True, "url": f"ws://127.0.0.1:{self.port}/socket?ticket=stub"}
        bot = self._bot(request)
        if bot is None:
            return {
                "ok": False,
                "error": "invalid_auth"
                if "authorization" in {k.lower() for k in request.headers}
                else "not_authed",
            }
        handler = getattr(self, "_m_" + method.replace(".", "_"), None)
        if handler is None:
            return {"ok": False, "error": "unknown_method"}
        result: dict[str, Any] = handler(params, bot)
        return result

    def _oauth(self, params: dict[str, Any], request: web.Request) -> dict[str, Any]:
        client_id = params.get("client_id")
        auth = request.headers.get("Authorization", "")
        if auth.startswith("Basic "):
            client_id = base64.b64decode(auth[6:]).decode().partition(":")[0]
        grant = self.oauth_grants.get(str(params.get("code")))
        if grant is None or not client_id:
            return {"ok": False, "error": "invalid_code"}
        bot: Bot = grant["bot"]
        self.bots[grant["token"]] = bot
        return {
            "ok": True,
            "app_id": APP_ID,
            "authed_user": {"id": grant["installer"]},
            "scope": "app_mentions:read,chat:write,commands",
            "token_type": "bot",
            "access_token": grant["token"],
            "bot_user_id": bot.bot_user_id,
            "team": {"id": bot.team_id, "name": bot.team_name},
            "enterprise": None,
            "is_enterprise_install": False,
        }

    # --- methods ---------------------------------------------------------------------

    def _m_auth_test(self, params: dict[str, Any], bot: Bot) -> dict[str, Any]:
        return {
            "ok": True,
            "url": "https://test.slack.com/",
            "team": bot.team_name,
            "user": "sre-copilot",
            "team_id": bot.team_id,
            "user_id": bot.bot_user_id,
            "bot_id": bot.bot_id,
            "is_enterprise_install": False,
        }

    def _message_problem(self, params: dict[str, Any]) -> str | None:
        if not params.get("channel"):
            return "channel_not_found"
        if not params.get("text") and not params.get("blocks"):
            return "no_text"
        if "blocks" in params:
            blocks = params["blocks"]
            if isinstance(blocks, str):
                blocks = json.loads(blocks)
            if _check_blocks(blocks, limit=MESSAGE_BLOCK_LIMIT) is not None:
                return "invalid_blocks"
        return None

    def _m_chat_postMessage(self, params: dict[str, Any], bot: Bot) -> dict[str, Any]:
        problem = self._message_problem(params)
        if problem:
            return {"ok": False, "error": problem}
        ts = self._new_ts()
        message = {
            "type": "message",
            "user": bot.bot_user_id,
            "bot_id": bot.bot_id,
            "text": params.get("text", ""),
            "ts": ts,
        }
        if params.get("thread_ts"):
            message["thread_ts"] = params["thread_ts"]
        with self._lock:
            self._messages[(params["channel"], ts)] = message
        return {"ok": True, "channel": params["channel"], "ts": ts, "message": message}

    def _m_chat_update(self, params: dict[str, Any], bot: Bot) -> dict[str, Any]:
        problem = self._message_problem(params)
        if problem:
            return {"ok": False, "error": problem}
        key = (params["channel"], str(params.get("ts")))
        with self._lock:
            message = self._messages.get(key)
            if message is None:
                return {"ok": False, "error": "message_not_found"}
            message["text"] = params.get("text", "")
        return {"ok": True, "channel": key[0], "ts": key[1], "text": message["text"]}

    def _m_chat_postEphemeral(self, params: dict[str, Any], bot: Bot) -> dict[str, Any]:
        problem = self._message_problem(params)
        if problem:
            return {"ok": False, "error": problem}
        if not params.get("user"):
            return {"ok": False, "error": "user_not_in_channel"}
        return {"ok": True, "message_ts": self._new_ts()}

    def _view_problem(self, params: dict[str, Any]) -> str | None:
        view = params.get("view")
        if isinstance(view, str):
            view = json.loads(view)
        if not isinstance(view, dict) or view.get("type") not in ("modal", "home"):
            return "invalid_arguments"
        if _check_blocks(view.get("blocks") or [], limit=VIEW_BLOCK_LIMIT) is not None:
            return "invalid_blocks"
        if view["type"] == "modal" and len((view.get("title") or {}).get("text", "")) > 24:
            return "invalid_arguments"
        return None

    def _m_views_open(self, params: dict[str, Any], bot: Bot) -> dict[str, Any]:
        if not params.get("trigger_id"):
            return {"ok": False, "error": "invalid_trigger_id"}
        problem = self._view_problem(params)
        if problem:
            return {"ok": False, "error": problem}
        return {"ok": True, "view": {"id": f"V{next(self._ids):08d}", "team_id": bot.team_id}}

    def _m_views_publish(self, params: dict[str, Any], bot: Bot) -> dict[str, Any]:
        if not params.get("user_id"):
            return {"ok": False, "error": "invalid_arguments"}
        problem = self._view_problem(params)
        if problem:
            return {"ok": False, "error": problem}
        return {"ok": True, "view": {"id": f"V{next(self._ids):08d}", "team_id": bot.team_id}}

    def _m_files_getUploadURLExternal(self, params: dict[str, Any], bot: Bot) -> dict[str, Any]:
        if not params.get("filename") or not str(params.get("length", "")).isdigit():
            return {"ok": False, "error": "invalid_arguments"}
        file_id = f"F{next(self._ids):08d}"
        return {"ok": True, "upload_url": f"{self.url}/upload/{file_id}", "file_id": file_id}

    def _m_files_completeUploadExternal(self, params: dict[str, Any], bot: Bot) -> dict[str, Any]:
        files = params.get("files")
        if isinstance(files, str):
            files = json.loads(files)
        if not files:
            return {"ok": False, "error": "invalid_arguments"}
        uploaded = {c.params.get("file_id") for c in self.calls("files.upload")}
        missing = [f["id"] for f in files if f["id"] not in uploaded]
        if missing:
            return {"ok": False, "error": "file_not_found"}
        return {"ok": True, "files": [{"id": f["id"], "title": f.get("title", "")} for f in files]}

    def _m_conversations_replies(self, params: dict[str, Any], bot: Bot) -> dict[str, Any]:
        channel, ts = str(params.get("channel")), str(params.get("ts"))
        with self._lock:
            seeded = list(self.threads.get((channel, ts), []))
            own = [
                m
                for (ch, _), m in self._messages.items()
                if ch == channel and m.get("thread_ts") == ts
            ]
        return {"ok": True, "messages": seeded + own, "has_more": False}

    def _m_users_info(self, params: dict[str, Any], bot: Bot) -> dict[str, Any]:
        user = str(params.get("user"))
        found = self.users.get(user)
        if found is None:
            return {"ok": False, "error": "user_not_found"}
        return {"ok": True, "user": {"id": user, "team_id": bot.team_id, **found}}

    async def _upload(self, request: web.Request) -> web.StreamResponse:
        at = time.monotonic()
        body = await request.read()
        params: dict[str, Any] = {"file_id": request.match_info["file_id"], "length": len(body)}
        with contextlib.suppress(UnicodeDecodeError):
            params["content"] = body.decode()  # text uploads only (not images)
        self._record("files.upload", params, request, None, 200, at)
        return web.Response(text=f"OK - {len(body)}")

    async def _response_url(self, request: web.Request) -> web.StreamResponse:
        at = time.monotonic()
        params = json.loads(await request.read() or b"{}")
        self._record("response_url", params, request, None, 200, at)
        return web.Response(text="ok")

    def response_url(self, rid: str = "R1") -> str:
        """A ``response_url`` pointing at this stub."""
        return f"{self.url}/response/{rid}"


@contextlib.contextmanager
def serve_slack_stub() -> Iterator[SlackApiStub]:
    """A running stub for the ``with`` block."""
    with SlackApiStub() as stub:
        yield stub


def main() -> None:
    """``python -m tests.stubs.slack_api``: serve until interrupted (manual testing)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.parse_args()
    with SlackApiStub() as stub:
        print(f"Slack API stub on {stub.base_url} (token {BOT_TOKEN})", flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            threading.Event().wait()


if __name__ == "__main__":
    main()
