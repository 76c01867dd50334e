"""Structured logs and the HTTP side of the bot's metrics.

* :func:`setup_logging` configures the root logger once per process, as text (the
  console default) or one JSON object per line (recommended for ``serve``: set
  ``SRE_COPILOT_LOG_FORMAT=json``).
* :func:`log_context` binds ``request_id``, ``conversation_id`` and ``workspace_id``
  for everything logged inside it (context variables, so they follow the request into
  the tasks it starts); :class:`JsonFormatter` writes them on every line.
* :class:`ObservabilityMiddleware` (pure ASGI) gives each request an id (the
  ``X-Request-ID`` it came with, or a new one, echoed in the response), counts it by
  route *template* and status, and binds the app's :class:`tools.telemetry.Telemetry`.
* :func:`refresh_proposals` reads the proposal counts for a scrape, under a deadline.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import sys
import time
import traceback
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import IO, Any, Literal

from pydantic import SecretBytes, SecretStr
from starlette.datastructures import MutableHeaders
from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from memory.models import ProposalStatus
from memory.repositories import Repositories
from tools.telemetry import Telemetry, bind, unbind

logger = logging.getLogger(__name__)

LogFormat = Literal["text", "json"]
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
REQUEST_ID_HEADER = "X-Request-ID"
UNMATCHED_ROUTE = "unmatched"
"""Route label of requests no route matched (never the raw path: ids would explode it)."""

request_id: ContextVar[str | None] = ContextVar("request_id", default=None)
conversation_id: ContextVar[str | None] = ContextVar("conversation_id", default=None)
workspace_id: ContextVar[str | None] = ContextVar("workspace_id", default=None)
_CONTEXT = {
    "request_id": request_id,
    "conversation_id": conversation_id,
    "workspace_id": workspace_id,
}

_MASK = "**********"
_TOKENS = re.compile(r"\b(xox[abeoprs]-|xapp-|sk-ant-)[A-Za-z0-9-]{4,}")
"""Slack and Anthropic credentials, scrubbed from JSON lines should one leak into a message."""
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
_RECORD_ATTRS = frozenset(
    logging.LogRecord("", 0, "", 0, "", None, None).__dict__.keys()
    | {"message", "asctime", "color_message"}  # uvicorn's ANSI-coloured copy of the message
)


@contextmanager
def log_context(
    *,
    request: str | None = None,
    conversation: str | None = None,
    workspace: str | None = None,
) -> Iterator[None]:
    """Bind the given ids for the logs written inside the block (others are kept)."""
    tokens = [
        (var, var.set(value))
        for var, value in (
            (request_id, request),
            (conversation_id, conversation),
            (workspace_id, workspace),
        )
        if value is not None
    ]
    try:
        yield
    finally:
        for var, token in reversed(tokens):
            var.reset(token)


def _json_safe(value: Any) -> Any:
    if isinstance(value, SecretStr | SecretBytes):
        return _MASK
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


class JsonFormatter(logging.Formatter):
    """One JSON object per record: timestamp, level, logger, message, context ids, extras.

    ``exception`` holds ``type``, ``message`` and ``traceback`` when the record has
    one. Extra attributes (``logger.info(..., extra={...})``) are added as fields;
    :class:`~pydantic.SecretStr` values anywhere in them render masked, and Slack or
    Anthropic token shapes are scrubbed from the finished line.
    """

    def format(self, record: logging.LogRecord) -> str:
        """Render ``record`` as one line of JSON."""
        doc: dict[str, Any] = {
            "timestamp": datetime.fromtimestamp(record.created, UTC).isoformat(
                timespec="milliseconds"
            ),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name, var in _CONTEXT.items():
            value = var.get()
            if value is not None:
                doc[name] = value
        for key, value in record.__dict__.items():
            if key not in _RECORD_ATTRS and key not in doc and not key.startswith("_"):
                doc[key] = value
        if record.exc_info and record.exc_info[1] is not None:
            exc = record.exc_info[1]
            doc["exception"] = {
                "type": type(exc).__name__,
                "message": str(exc),
                "traceback": "".join(traceback.format_exception(exc)).rstrip(),
            }
        if record.stack_info:
            doc["stack"] = record.stack_info
        line = json.dumps(doc, default=_json_safe, ensure_ascii=False)
        return _TOKENS.sub(lambda m: m.group(1) + _MASK, line)


_HANDLER_MARK = "_sre_copilot_handler"


def setup_logging(
    *, level: int | str = logging.WARNING, fmt: LogFormat = "text", stream: IO[str] | None = None
) -> logging.Handler | None:
    """Configure the root logger: one stderr handler, text or JSON; safe to call again.

    A second call replaces the handler this function installed (``serve`` switches to
    the configured format once Settings are loaded). Like :func:`logging.basicConfig`,
    it adds nothing when someone else already handles the root logger (pytest's
    capture, an embedding program); the level is set either way.

    Returns:
        The handler installed, or ``None`` when the root logger was left to its owner.
    """
    root = logging.getLogger()
    root.setLevel(level)
    ours = [h for h in root.handlers if getattr(h, _HANDLER_MARK, False)]
    if len(ours) < len(root.handlers):
        return None
    for handler in ours:
        root.removeHandler(handler)
    handler = logging.StreamHandler(stream or sys.stderr)
    setattr(handler, _HANDLER_MARK, True)
    handler.setFormatter(JsonFormatter() if fmt == "json" else logging.Formatter(TEXT_FORMAT))
    root.addHandler(handler)
    return handler


def route_template(routes: Sequence[BaseRoute], scope: Scope) -> str:
    """The path template of the route ``scope`` goes to (``/webhooks/{x}``), or ``unmatched``."""
    partial: str | None = None
    for route in routes:
        match, _ = route.matches(scope)
        path = getattr(route, "path", None)
        if match is Match.FULL and path is not None:
            return str(path)
        if match is Match.PARTIAL and partial is None and path is not None:
            partial = str(path)  # right path, wrong method: Starlette answers 405
    return partial or UNMATCHED_ROUTE


def _incoming_request_id(scope: Scope) -> str | None:
    for name, value in scope.get("headers", []):
        if name == b"x-request-id":
            text = value.decode("latin-1").strip()
            return text if _REQUEST_ID.match(text) else None
    return None


class ObservabilityMiddleware:
    """Request ids, HTTP metrics and the app's telemetry binding (pure ASGI).

    Args:
        app: The wrapped ASGI app.
        telemetry: The app's metrics, made current for requests and the lifespan.
        routes: The app's routes, to label requests by template.
    """

    def __init__(self, app: ASGIApp, *, telemetry: Telemetry, routes: Sequence[BaseRoute]) -> None:
        self.app = app
        self.telemetry = telemetry
        self.routes = routes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Bind the telemetry; for HTTP, also the request id and the request's metrics."""
        token = bind(self.telemetry)
        try:
            if scope["type"] != "http":
                await self.app(scope, receive, send)
                return
            await self._http(scope, receive, send)
        finally:
            unbind(token)

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        rid = _incoming_request_id(scope) or uuid.uuid4().hex
        status = 500  # what the client sees if the app fails before answering

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
                MutableHeaders(scope=message).append(REQUEST_ID_HEADER, rid)
            await send(message)

        started = time.perf_counter()
        try:
            with log_context(request=rid):
                await self.app(scope, receive, send_with_id)
        finally:
            self.telemetry.observe_http(
                route=route_template(self.routes, scope),
                status=status,
                seconds=time.perf_counter() - started,
            )


async def refresh_proposals(
    repos: Repositories, telemetry: Telemetry, *, timeout_s: float = 2.0
) -> bool:
    """Set the proposal gauge from the database; on failure keep the last values.

    Returns:
        Whether the counts were read (a slow or dead database must not hang ``/metrics``).
    """
    try:
        async with asyncio.timeout(timeout_s):
            counts = await repos.proposals.count_by_status()
    except Exception as exc:  # boundary: a scrape always answers
        telemetry.proposals_refresh_errors.inc()
        logger.warning("proposal counts for /metrics unavailable: %s", exc or type(exc).__name__)
        return False
    telemetry.set_proposals(counts, states=[s.value for s in ProposalStatus])
    return True
