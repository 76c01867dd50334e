"""Error mapping and client building shared by the HTTP integrations."""

from __future__ import annotations

import socket
from collections.abc import Callable

import httpx
import pytest
from pydantic import SecretStr

from memory.errors import IntegrationError, UpstreamHTTPError, UpstreamTimeout
from tools.base import TimeRange, ToolStatus
from tools.config import HTTPIntegrationConfig
from tools.http import (
    build_client,
    describe_source,
    display_url,
    error_detail,
    error_result,
    map_httpx_error,
    send,
)

URL = "http://user:secret@prom.test:9090/api/v1/query?query=up"
Raiser = Callable[[httpx.Request], httpx.Response]


def _request() -> httpx.Request:
    return httpx.Request("GET", URL, extensions={"timeout": {"read": 1.5, "connect": 2.0}})


def _caused_by(cause: BaseException, exc: httpx.HTTPError) -> httpx.HTTPError:
    try:
        raise cause
    except BaseException as inner:
        exc.__cause__ = inner
    return exc


def test_display_url_drops_credentials_and_query() -> None:
    assert display_url(URL) == "http://prom.test:9090/api/v1/query"
    assert describe_source("prometheus", "http://a:b@prom.test:9090/") == (
        "prometheus http://prom.test:9090"
    )
    assert describe_source("prometheus", None) == "prometheus"


@pytest.mark.parametrize(
    ("exc", "kind", "message"),
    [
        (
            httpx.ReadTimeout("t", request=_request()),
            UpstreamTimeout,
            "no answer from http://prom.test:9090/api/v1/query within 1.5s (read timeout)",
        ),
        (
            httpx.ConnectTimeout("t", request=_request()),
            UpstreamTimeout,
            "no answer from http://prom.test:9090/api/v1/query within 2s (connect timeout)",
        ),
        (
            _caused_by(
                ConnectionRefusedError(111, "refused"),
                httpx.ConnectError("All connection attempts failed", request=_request()),
            ),
            IntegrationError,
            "cannot connect to http://prom.test:9090/api/v1/query: connection refused",
        ),
        (
            _caused_by(
                socket.gaierror(-2, "Name or service not known"),
                httpx.ConnectError("x", request=_request()),
            ),
            IntegrationError,
            "cannot connect to http://prom.test:9090/api/v1/query: "
            "cannot resolve host (Name or service not known)",
        ),
        (
            _caused_by(
                ExceptionGroup("eg", [ConnectionRefusedError(111, "refused")]),
                httpx.ConnectError("All connection attempts failed", request=_request()),
            ),
            IntegrationError,
            "cannot connect to http://prom.test:9090/api/v1/query: connection refused",
        ),
        (
            httpx.RemoteProtocolError("Server disconnected", request=_request()),
            IntegrationError,
            "connection to http://prom.test:9090/api/v1/query broke: Server disconnected",
        ),
        (
            httpx.UnsupportedProtocol("no ftp", request=_request()),
            IntegrationError,
            "request to http://prom.test:9090/api/v1/query failed: UnsupportedProtocol: no ftp",
        ),
    ],
)
def test_map_httpx_error(exc: httpx.HTTPError, kind: type[Exception], message: str) -> None:
    mapped = map_httpx_error(exc)
    assert type(mapped) is kind
    assert str(mapped) == message
    assert "secret" not in str(mapped)


def test_map_status_error_keeps_status() -> None:
    response = httpx.Response(503, text="overloaded", request=_request())
    exc = httpx.HTTPStatusError("503", request=response.request, response=response)
    mapped = map_httpx_error(exc)
    assert isinstance(mapped, UpstreamHTTPError)
    assert mapped.status_code == 503
    assert str(mapped) == "HTTP 503 from http://prom.test:9090/api/v1/query: overloaded"


@pytest.mark.parametrize(
    ("response", "detail"),
    [
        (httpx.Response(400, json={"errorType": "bad_data", "error": "x"}), "bad_data: x"),
        (httpx.Response(422, json={"code": 601, "message": "bad uuid"}), "bad uuid"),
        (httpx.Response(500, json="silence not found"), "silence not found"),
        (httpx.Response(502, text="  bad\n  gateway "), "bad gateway"),
        (httpx.Response(500), "Internal Server Error"),
        (httpx.Response(500, text="x" * 900), "x" * 499 + "…"),
    ],
)
def test_error_detail(response: httpx.Response, detail: str) -> None:
    assert error_detail(response) == detail


async def test_send_maps_errors_and_builds_the_client() -> None:
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.url.path == "/base/boom":
            return httpx.Response(418, json={"message": "teapot"})
        raise httpx.ReadTimeout("slow", request=request)

    config = HTTPIntegrationConfig(base_url="http://svc.test/base", timeout_s=4)
    async with build_client(
        config, bearer_token=SecretStr("tok"), transport=httpx.MockTransport(answer)
    ) as client:
        with pytest.raises(UpstreamHTTPError) as info:
            await send(client, "GET", "/boom")
        assert info.value.status_code == 418
        assert str(info.value) == "HTTP 418 from http://svc.test/base/boom: teapot"
        with pytest.raises(UpstreamTimeout, match=r"within 0\.25s \(read timeout\)"):
            await send(client, "GET", "/slow", timeout_s=0.25)
    assert seen[0].headers["Authorization"] == "Bearer tok"
    assert seen[0].headers["User-Agent"] == "sre-copilot"


def test_build_client_needs_a_base_url() -> None:
    with pytest.raises(ValueError):
        build_client(HTTPIntegrationConfig())


def test_error_result_keeps_context() -> None:
    window = TimeRange.model_validate({"start": "2026-01-10T00:00Z", "end": "2026-01-10T01:00Z"})
    timeout = error_result(
        tool="t", exc=UpstreamTimeout("no answer"), source="s", query="q", time_range=window
    )
    assert (timeout.status, timeout.error, timeout.query) == (
        ToolStatus.ERROR,
        "timeout: no answer",
        "q",
    )
    assert timeout.time_range == window
    http = error_result(tool="t", exc=UpstreamHTTPError("HTTP 400", status_code=400), source="s")
    assert http.upstream_status == 400
