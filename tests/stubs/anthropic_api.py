"""Loopback stub of the Anthropic Messages API, driven through the real ``anthropic`` SDK.

It serves ``POST /v1/messages`` on 127.0.0.1 (a free port, a daemon thread) in the
real wire format: ``{"id", "type": "message", "role": "assistant", "model",
"content": [text | tool_use blocks], "stop_reason", "stop_sequence", "usage"}`` with
``cache_creation_input_tokens`` / ``cache_read_input_tokens`` (the prefix up to the
last ``cache_control`` breakpoint in tools + system is "created" the first time it is
seen and "read" afterwards; unlike the real API there is no minimum cacheable length).
Errors use the real body ``{"type": "error", "error": {"type", "message"}}`` with
their status (401, 429, 500, 529...) and an optional ``retry-after`` header.

Authentication accepts ``x-api-key: <key>`` or ``Authorization: Bearer <key>`` (the
SDK sends the latter); anything else gets the real 401 ``authentication_error``.
Requests are checked like the real API does for what our client could get wrong
(every ``tool_use`` answered by a ``tool_result`` in the next user turn, tool names,
``tool_choice`` naming a defined tool, non-empty text blocks, at most 4 cache
breakpoints); a violation gets a 400 ``invalid_request_error``.

Each test scripts the answers, consumed in order, one per request::

    with serve_anthropic_stub() as stub:
        stub.script(
            tool_use("prometheus_query", {"query": "up"}),
            error(429, retry_after="0.01"),
            submit_analysis("DB is saturated", [{"index": 1, "confidence": 0.8, ...}]),
        )
        ...
        body = stub.requests[0].body

An empty script answers 500 ``api_error`` so a missing script is loud. Every request
(headers with lower-cased names, decoded JSON body, raw bytes, status answered) is
recorded for assertions.
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import json
import re
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

STUB_API_KEY = "stub-anthropic-key"
"""The only key the stub accepts (an obvious fake)."""

SUBMIT = "submit_analysis"

_TOOL_NAME_RE = re.compile(r"^[a-zA-Z0-9_-]{1,128}$")
_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    529: "overloaded_error",
}


@dataclass(frozen=True)
class RecordedRequest:
    """One request as the stub received it."""

    method: str
    path: str
    headers: dict[str, str]  # lower-cased names
    body: Any  # decoded JSON, or None when it was not JSON
    raw_body: bytes
    status: int  # what the stub answered

    @property
    def text(self) -> str:
        """The raw body as text."""
        return self.raw_body.decode("utf-8", errors="replace")

    @property
    def credential(self) -> str | None:
        """The key sent as ``x-api-key`` or ``Authorization: Bearer``."""
        if "x-api-key" in self.headers:
            return self.headers["x-api-key"]
        auth = self.headers.get("authorization", "")
        return auth[7:] if auth.lower().startswith("bearer ") else None

    def tool_results(self) -> list[dict[str, Any]]:
        """The ``tool_result`` blocks of the last user message."""
        last = self.body["messages"][-1]
        content = last["content"] if isinstance(last["content"], list) else []
        return [b for b in content if b.get("type") == "tool_result"]


@dataclass(frozen=True)
class Scripted:
    """One scripted answer: a message, an error or a malformed body.

    Attributes:
        status: HTTP status.
        content: Content blocks of a message (status 200).
        stop_reason: Stop reason of a message.
        error_type: ``error.type`` of an error body.
        message: ``error.message`` of an error body.
        raw: Bytes sent verbatim instead of JSON (malformed answers).
        headers: Extra response headers (``retry-after``...).
        delay_s: Wait before answering (released at once when the stub stops).
        times: How many requests it answers; ``None`` = every request from now on.
    """

    status: int = 200
    content: tuple[dict[str, Any], ...] = ()
    stop_reason: str | None = "end_turn"
    error_type: str | None = None
    message: str = ""
    raw: bytes | None = None
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0
    times: int | None = 1

    def delayed(self, seconds: float) -> Scripted:
        """The same answer after ``seconds``."""
        return replace(self, delay_s=seconds)

    def repeat(self, times: int | None) -> Scripted:
        """The same answer for ``times`` requests (``None``: every request from now on)."""
        return replace(self, times=times)


def text(answer: str, *, stop_reason: str = "end_turn") -> Scripted:
    """A message with one text block."""
    return Scripted(content=({"type": "text", "text": answer},), stop_reason=stop_reason)


def tool_use(name: str, tool_input: Any, *, preamble: str | None = None) -> Scripted:
    """A message asking for one tool (``tool_input`` may be malformed on purpose)."""
    return tool_uses([(name, tool_input)], preamble=preamble)


def tool_uses(calls: Sequence[tuple[str, Any]], *, preamble: str | None = None) -> Scripted:
    """A message asking for several tools at once (ids are filled in when served)."""
    blocks: list[dict[str, Any]] = []
    if preamble:
        blocks.append({"type": "text", "text": preamble})
    blocks += [{"type": "tool_use", "name": n, "input": i} for n, i in calls]
    return Scripted(content=tuple(blocks), stop_reason="tool_use")


def submit_analysis(narrative: Any, ranking: Any) -> Scripted:
    """The final ``submit_analysis`` call (arguments may be malformed on purpose)."""
    return tool_use(SUBMIT, {"narrative": narrative, "ranking": ranking})


def error(
    status: int,
    *,
    error_type: str | None = None,
    message: str | None = None,
    retry_after: str | None = None,
    times: int | None = 1,
) -> Scripted:
    """An error answer in the real body format, e.g. ``error(529, times=None)``."""
    kind = error_type or _ERROR_TYPES.get(status, "api_error")
    headers = {"retry-after": retry_after} if retry_after is not None else {}
    return Scripted(
        status=status,
        error_type=kind,
        message=message or f"stub {kind}",
        headers=headers,
        times=times,
    )


def malformed_body() -> Scripted:
    """A 200 answer whose body is not JSON."""
    return Scripted(raw=b'{"id": "msg_broken", "content": [')


class AnthropicStub:
    """The server: script answers, read recorded requests."""

    def __init__(self, *, api_key: str = STUB_API_KEY) -> None:
        self.api_key = api_key
        self._lock = threading.Lock()
        self._script: list[Scripted] = []
        self._requests: list[RecordedRequest] = []
        self._cached: set[str] = set()
        self._ids = itertools.count(1)
        self._stopping = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:<port>`` (what ``AsyncAnthropic(base_url=...)`` takes)."""
        assert self._server is not None, "stub not started"
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every request so far, oldest first."""
        with self._lock:
            return list(self._requests)

    def script(self, *answers: Scripted) -> None:
        """Queue answers; each is consumed by ``times`` requests (``None``: all of them)."""
        with self._lock:
            self._script.extend(answers)

    def reset(self) -> None:
        """Forget the script, the recorded requests and the cache."""
        with self._lock:
            self._script.clear()
            self._requests.clear()
            self._cached.clear()

    def start(self) -> None:
        """Bind a free loopback port and serve in a daemon thread."""
        server = _Server(("127.0.0.1", 0), _Handler)
        server.stub = self
        server.daemon_threads = True
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="anthropic-stub",
            daemon=True,
        )
        self._thread.start()

    def stop(self) -> None:
        """Release delayed answers, stop serving and close the socket."""
        self._stopping.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    # ---------------------------------------------------------------- request handling

    def _next(self) -> Scripted | None:
        with self._lock:
            if not self._script:
                return None
            head = self._script[0]
            if head.times is not None:
                if head.times <= 1:
                    self._script.pop(0)
                else:
                    self._script[0] = replace(head, times=head.times - 1)
            return head

    def _record(self, request: RecordedRequest) -> None:
        with self._lock:
            self._requests.append(request)

    def handle(
        self, *, method: str, path: str, headers: dict[str, str], raw: bytes
    ) -> tuple[int, dict[str, str], bytes, float]:
        """Answer one request: (status, headers, body, delay)."""
        try:
            body: Any = json.loads(raw) if raw else None
        except ValueError:
            body = None
        status, out_headers, payload, delay = self._answer(method, path, headers, body, raw)
        self._record(
            RecordedRequest(
                method=method, path=path, headers=headers, body=body, raw_body=raw, status=status
            )
        )
        return status, out_headers, payload, delay

    def _answer(
        self, method: str, path: str, headers: dict[str, str], body: Any, raw: bytes
    ) -> tuple[int, dict[str, str], bytes, float]:
        if method != "POST" or path.split("?")[0] != "/v1/messages":
            return _error(404, "not_found_error", f"{method} {path} not found")
        key = headers.get("x-api-key")
        auth = headers.get("authorization", "")
        if key is None and auth.lower().startswith("bearer "):
            key = auth[7:]
        if key != self.api_key:
            return _error(401, "authentication_error", "invalid x-api-key")
        if not isinstance(body, dict):
            return _error(400, "invalid_request_error", "request body is not valid JSON")
        problem = _validate(body)
        if problem:
            return _error(400, "invalid_request_error", problem)
        answer = self._next()
        if answer is None:
            return _error(500, "api_error", "stub: no scripted response left")
        if answer.raw is not None:
            return answer.status, dict(answer.headers), answer.raw, answer.delay_s
        if answer.error_type is not None:
            status, hdrs, payload, _ = _error(answer.status, answer.error_type, answer.message)
            return status, {**hdrs, **answer.headers}, payload, answer.delay_s
        message = {
            "id": f"msg_stub_{next(self._ids):04d}",
            "type": "message",
            "role": "assistant",
            "model": body["model"],
            "content": [self._fill_id(block) for block in answer.content],
            "stop_reason": answer.stop_reason,
            "stop_sequence": None,
            "usage": self._usage(body, raw, answer),
        }
        hdrs = {"content-type": "application/json", "request-id": f"req_stub_{message['id']}"}
        return 200, {**hdrs, **answer.headers}, json.dumps(message).encode(), answer.delay_s

    def _fill_id(self, block: dict[str, Any]) -> dict[str, Any]:
        if block["type"] == "tool_use" and "id" not in block:
            return {"id": f"toolu_stub_{next(self._ids):04d}", **block}
        return block

    def _usage(self, body: dict[str, Any], raw: bytes, answer: Scripted) -> dict[str, Any]:
        total = max(1, len(raw) // 4)
        prefix = _cached_prefix(body)
        created = read = 0
        if prefix is not None:
            digest = hashlib.sha256(prefix.encode()).hexdigest()
            size = min(total, max(1, len(prefix) // 4))
            with self._lock:
                if digest in self._cached:
                    read = size
                else:
                    self._cached.add(digest)
                    created = size
        return {
            "input_tokens": total - created - read,
            "output_tokens": max(1, len(json.dumps(answer.content)) // 4),
            "cache_creation_input_tokens": created,
            "cache_read_input_tokens": read,
        }


class _Server(ThreadingHTTPServer):
    stub: AnthropicStub


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        headers = {k.lower(): v for k, v in self.headers.items()}
        stub = self.server.stub
        status, out_headers, payload, delay = stub.handle(
            method=self.command, path=self.path, headers=headers, raw=raw
        )
        if delay > 0 and stub._stopping.wait(delay):
            return  # the stub is stopping: drop the answer
        try:
            self.send_response(status)
            for name, value in out_headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)
        except OSError:
            pass  # the client gave up (time budget) before the answer

    do_POST = _serve
    do_GET = _serve

    def log_message(self, format: str, *args: object) -> None:
        pass


def _error(status: int, kind: str, message: str) -> tuple[int, dict[str, str], bytes, float]:
    body = {"type": "error", "error": {"type": kind, "message": message}}
    headers = {"content-type": "application/json", "request-id": "req_stub_error"}
    return status, headers, json.dumps(body).encode(), 0.0


def _cached_prefix(body: dict[str, Any]) -> str | None:
    """Tools + system up to the last cache breakpoint, as text (None without a breakpoint)."""
    parts: list[Any] = [*body.get("tools", [])]
    system = body.get("system")
    parts += system if isinstance(system, list) else ([system] if system else [])
    marks = [i for i, p in enumerate(parts) if isinstance(p, dict) and p.get("cache_control")]
    if not marks:
        return None
    return json.dumps(parts[: marks[-1] + 1], sort_keys=True)


def _validate(body: dict[str, Any]) -> str | None:
    """What the real API would reject in a request our client builds (None if fine)."""
    if not isinstance(body.get("model"), str) or not body["model"]:
        return "model: Field required"
    if not isinstance(body.get("max_tokens"), int) or body["max_tokens"] < 0:
        return "max_tokens: Field required"
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        return "messages: at least one message is required"
    tools = body.get("tools", [])
    names = set()
    for tool in tools:
        if not _TOOL_NAME_RE.match(str(tool.get("name", ""))):
            return f"tools: invalid tool name {tool.get('name')!r}"
        if tool.get("input_schema", {}).get("type") != "object":
            return f"tools.{tool['name']}.input_schema.type: must be 'object'"
        names.add(tool["name"])
    choice = body.get("tool_choice") or {}
    if choice.get("type") == "tool" and choice.get("name") not in names:
        return f"tool_choice: tool {choice.get('name')!r} not found in tools"
    breakpoints = json.dumps(body).count('"cache_control"')
    if breakpoints > 4:
        return f"A maximum of 4 blocks with cache_control may be provided. Found {breakpoints}."
    if messages[0].get("role") != "user":
        return "messages: first message must use the 'user' role"
    pending: set[str] = set()
    for i, msg in enumerate(messages):
        content = msg.get("content")
        blocks = content if isinstance(content, list) else [{"type": "text", "text": content}]
        for block in blocks:
            if block.get("type") == "text" and not block.get("text"):
                return f"messages.{i}: text content blocks must be non-empty"
        results = [b.get("tool_use_id") for b in blocks if b.get("type") == "tool_result"]
        if pending:
            if msg.get("role") != "user" or set(results) != pending:
                return (
                    f"messages.{i}: `tool_use` ids were found without `tool_result` blocks "
                    f"immediately after: {', '.join(sorted(pending - set(results)))}"
                )
            first = [b.get("type") for b in blocks[: len(results)]]
            if any(t != "tool_result" for t in first):
                return f"messages.{i}: tool_result blocks must come first in the content"
        elif results:
            return f"messages.{i}: unexpected `tool_use_id` found in `tool_result` blocks"
        pending = (
            {b["id"] for b in blocks if b.get("type") == "tool_use"}
            if msg.get("role") == "assistant"
            else set()
        )
    if pending:
        return "messages: the last assistant turn has unanswered tool_use blocks"
    return None


@contextlib.contextmanager
def serve_anthropic_stub(*, api_key: str = STUB_API_KEY) -> Iterator[AnthropicStub]:
    """Run a stub for the duration of the block."""
    stub = AnthropicStub(api_key=api_key)
    stub.start()
    try:
        yield stub
    finally:
        stub.stop()
