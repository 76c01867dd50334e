"""Shared httpx plumbing of the HTTP integrations (Prometheus, Alertmanager).

* :func:`build_client` makes the one ``httpx.AsyncClient`` of an integration from its
  config (base URL, timeout, TLS verification, optional bearer token, optional injected
  transport such as ``httpx.MockTransport`` in unit tests).
* :func:`send` performs a request and turns every failure into the exception tree of
  :mod:`memory.errors`: :class:`~memory.errors.UpstreamTimeout` for deadlines,
  :class:`~memory.errors.UpstreamHTTPError` for error statuses (with the upstream's own
  message) and :class:`~memory.errors.IntegrationError` for everything else (refused
  connection, DNS, TLS, malformed answers). Each message names the URL and the cause, e.g.
  ``cannot connect to http://127.0.0.1:9/api/v1/query: connection refused``.
* :func:`error_result` turns such an error into a :class:`~tools.base.ToolResult` that
  still states the exact query, time range and source.

URLs in messages never carry query strings or credentials.
"""

from __future__ import annotations

import json
import logging
import socket
import ssl
from collections.abc import Iterator, Mapping
from typing import Any

import httpx
from pydantic import SecretStr

from memory.errors import IntegrationError, UpstreamHTTPError, UpstreamTimeout
from tools.base import TimeRange, ToolResult, ToolStatus
from tools.config import HTTPIntegrationConfig

logger = logging.getLogger(__name__)

USER_AGENT = "sre-copilot"
MAX_ERROR_DETAIL = 500

_TIMEOUT_KINDS: tuple[tuple[type[httpx.TimeoutException], str], ...] = (
    (httpx.ConnectTimeout, "connect"),
    (httpx.ReadTimeout, "read"),
    (httpx.WriteTimeout, "write"),
    (httpx.PoolTimeout, "pool"),
)


def build_client(
    config: HTTPIntegrationConfig,
    *,
    bearer_token: SecretStr | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
) -> httpx.AsyncClient:
    """Build the async client of one integration.

    Args:
        config: Base URL, timeout and TLS verification. ``base_url`` must be set.
        bearer_token: Sent as ``Authorization: Bearer …`` when given and non-empty.
        transport: Replaces the network transport (``httpx.MockTransport`` in unit tests).

    Returns:
        A client whose relative paths resolve against ``config.base_url``; the caller
        closes it with ``aclose()``.

    Raises:
        ValueError: ``config.base_url`` is empty.
    """
    if not config.base_url:
        raise ValueError("build_client needs a base_url")
    headers = {"User-Agent": USER_AGENT, "Accept": "application/json"}
    if bearer_token is not None and bearer_token.get_secret_value():
        headers["Authorization"] = f"Bearer {bearer_token.get_secret_value()}"
    return httpx.AsyncClient(
        base_url=config.base_url,
        timeout=httpx.Timeout(config.timeout_s),
        verify=config.verify_tls,
        headers=headers,
        transport=transport,
    )


def display_url(url: httpx.URL | str) -> str:
    """``url`` without credentials, query string or fragment (safe for messages and logs)."""
    parsed = httpx.URL(str(url))
    return str(parsed.copy_with(query=None, fragment=None, userinfo=b""))


def describe_source(integration: str, base_url: str | None) -> str:
    """The ``source`` of a tool result, e.g. ``prometheus http://127.0.0.1:9090``."""
    if not base_url:
        return integration
    return f"{integration} {display_url(base_url).rstrip('/')}"


async def send(
    client: httpx.AsyncClient,
    method: str,
    path: str,
    *,
    params: Mapping[str, Any] | None = None,
    data: Mapping[str, Any] | None = None,
    json_body: Any = None,
    timeout_s: float | None = None,
) -> httpx.Response:
    """Send one request and return the successful (< 400) response.

    Args:
        client: The integration's client (built by :func:`build_client`).
        method: HTTP method.
        path: Path relative to the client's base URL.
        params: Query parameters (sequence values repeat the key).
        data: Form body (``application/x-www-form-urlencoded``).
        json_body: JSON body.
        timeout_s: Overrides the client's timeout for this request.

    Raises:
        UpstreamTimeout: No answer within the deadline.
        UpstreamHTTPError: The upstream answered with a status >= 400.
        IntegrationError: Any other failure (connection refused, DNS, TLS, bad URL).
    """
    kwargs: dict[str, Any] = {"params": params, "data": data, "json": json_body}
    if timeout_s is not None:
        kwargs["timeout"] = httpx.Timeout(timeout_s)
    try:
        response = await client.request(method, path, **kwargs)
    except httpx.HTTPError as exc:
        error = map_httpx_error(exc)
        logger.debug("%s %s failed: %s", method, path, error)
        raise error from exc
    except httpx.InvalidURL as exc:
        raise IntegrationError(f"invalid URL {client.base_url}{path}: {exc}") from exc
    raise_for_status(response)
    return response


def map_httpx_error(exc: httpx.HTTPError) -> IntegrationError:
    """Translate an httpx exception into the :mod:`memory.errors` tree.

    Returns:
        :class:`UpstreamTimeout` for timeouts, :class:`UpstreamHTTPError` for
        ``HTTPStatusError``, otherwise :class:`IntegrationError`; every message names the
        URL (without query string or credentials) and the cause.
    """
    url = _exc_url(exc)
    if isinstance(exc, httpx.TimeoutException):
        kind = next((name for cls, name in _TIMEOUT_KINDS if isinstance(exc, cls)), "")
        limit = _timeout_limit(exc, kind)
        within = f" within {limit:g}s" if limit is not None else ""
        what = f"{kind} timeout" if kind else "timeout"
        return UpstreamTimeout(f"no answer from {url}{within} ({what})")
    if isinstance(exc, httpx.HTTPStatusError):
        response = exc.response
        return UpstreamHTTPError(
            f"HTTP {response.status_code} from {url}: {error_detail(response)}",
            status_code=response.status_code,
        )
    if isinstance(exc, httpx.ConnectError):
        return IntegrationError(f"cannot connect to {url}: {_connect_cause(exc)}")
    if isinstance(exc, httpx.RemoteProtocolError | httpx.ReadError | httpx.WriteError):
        return IntegrationError(f"connection to {url} broke: {exc or type(exc).__name__}")
    return IntegrationError(f"request to {url} failed: {type(exc).__name__}: {exc}")


def raise_for_status(response: httpx.Response) -> None:
    """Raise :class:`UpstreamHTTPError` with the upstream's message when status >= 400."""
    if response.status_code < 400:
        return
    url = display_url(response.request.url)
    raise UpstreamHTTPError(
        f"HTTP {response.status_code} from {url}: {error_detail(response)}",
        status_code=response.status_code,
    )


def error_detail(response: httpx.Response) -> str:
    """The upstream's own error message, from JSON if it has one, else a body excerpt.

    Understands Prometheus (``{"errorType": …, "error": …}``), Alertmanager API v2
    (``{"code": …, "message": …}`` or a bare JSON string) and plain text bodies.
    """
    text = response.text.strip()
    detail: str = ""
    try:
        body = json.loads(text) if text else None
    except ValueError:
        body = None
    if isinstance(body, str):
        detail = body
    elif isinstance(body, dict):
        message = body.get("error") or body.get("message") or body.get("detail")
        if message:
            kind = body.get("errorType")
            detail = f"{kind}: {message}" if kind else str(message)
    if not detail:
        detail = text or response.reason_phrase or "no body"
    detail = " ".join(detail.split())
    if len(detail) > MAX_ERROR_DETAIL:
        detail = detail[: MAX_ERROR_DETAIL - 1] + "…"
    return detail


def read_json(response: httpx.Response) -> Any:
    """Decode a JSON body, raising :class:`IntegrationError` naming the URL if it is not JSON."""
    try:
        return response.json()
    except ValueError as exc:
        url = display_url(response.request.url)
        excerpt = " ".join(response.text[:120].split())
        raise IntegrationError(f"invalid JSON from {url}: {excerpt!r}") from exc


def error_result(
    *,
    tool: str,
    exc: IntegrationError,
    source: str,
    query: str | None = None,
    time_range: TimeRange | None = None,
) -> ToolResult:
    """An error :class:`ToolResult` for ``exc`` that keeps the query, window and source."""
    upstream_status = exc.status_code if isinstance(exc, UpstreamHTTPError) else None
    message = f"timeout: {exc}" if isinstance(exc, UpstreamTimeout) else str(exc)
    return ToolResult(
        tool=tool,
        status=ToolStatus.ERROR,
        source=source,
        query=query,
        time_range=time_range,
        error=message,
        upstream_status=upstream_status,
    )


def _exc_url(exc: httpx.HTTPError) -> str:
    try:
        return display_url(exc.request.url)
    except RuntimeError:  # an exception raised outside a request has no .request
        return "(unknown URL)"


def _timeout_limit(exc: httpx.TimeoutException, kind: str) -> float | None:
    try:
        timeouts = exc.request.extensions.get("timeout") or {}
    except RuntimeError:
        return None
    value = timeouts.get(kind) if kind else None
    return float(value) if isinstance(value, int | float) else None


def _causes(exc: BaseException) -> Iterator[BaseException]:
    """``exc`` and everything it was raised from, including exception-group members."""
    seen: set[int] = set()
    stack = [exc]
    while stack:
        current = stack.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        if isinstance(current, BaseExceptionGroup):
            stack.extend(current.exceptions)
        nxt = current.__cause__ or current.__context__
        if nxt is not None:
            stack.append(nxt)


def _connect_cause(exc: httpx.ConnectError) -> str:
    for cause in _causes(exc):
        if isinstance(cause, ConnectionRefusedError):
            return "connection refused"
        if isinstance(cause, socket.gaierror):
            return f"cannot resolve host ({cause.strerror or cause})"
        if isinstance(cause, ssl.SSLCertVerificationError):
            return f"TLS certificate verification failed ({cause.verify_message})"
        if isinstance(cause, ssl.SSLError):
            return f"TLS error ({cause.reason or cause})"
    return str(exc) or type(exc).__name__
