"""Session fixtures for the real local servers (Prometheus, Alertmanager) and failure cases.

* ``alertmanager_server`` / ``prometheus_server``: real Debian binaries on 127.0.0.1 free
  ports (see ``tests/servers/``); each has ``.url``. Prometheus is backfilled with
  ``tests/fixtures/prometheus/*.om`` and sends its alerts to ``alertmanager_server``
  (when Alertmanager is installed).
* ``dead_url``: a loopback URL where nothing listens (connection refused).
* ``slow_server``: a loopback HTTP server that answers only after ``delay_s`` seconds,
  far beyond the client timeouts the tests use.

A missing binary skips the tests with a reason locally and fails them under ``CI=true``
(CI installs the binaries with ``scripts/ensure-test-services.sh``).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tests.conftest import IN_CI, require
from tests.servers.alertmanager import start_alertmanager
from tests.servers.process import ServerProcess, ServerStartError, find_binary, free_port
from tests.servers.prometheus import start_prometheus

ALERTMANAGER_BINARIES = ("prometheus-alertmanager", "alertmanager")


def require_binary(*names: str) -> str:
    """Path of the first binary found; otherwise fail under CI, skip locally."""
    found = find_binary(*names)
    require(
        found is not None,
        f"{' / '.join(names)} not installed (run scripts/ensure-test-services.sh "
        "or apt-get install prometheus prometheus-alertmanager)",
    )
    assert found is not None
    return found


@pytest.fixture(scope="session")
def alertmanager_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    binary = require_binary(*ALERTMANAGER_BINARIES)
    try:
        server = start_alertmanager(binary=binary, workdir=tmp_path_factory.mktemp("alertmanager"))
    except ServerStartError as exc:
        pytest.fail(f"could not start the test server: {exc}", pytrace=False)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def prometheus_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerProcess]:
    binary = require_binary("prometheus")
    promtool = require_binary("promtool")
    # Alerts go to the session's Alertmanager; without one (locally) the data tests still run
    # and only the alert-delivery test is skipped, through its own alertmanager_server use.
    alertmanager: ServerProcess | None = None
    if IN_CI or find_binary(*ALERTMANAGER_BINARIES):
        alertmanager = request.getfixturevalue("alertmanager_server")
    try:
        server = start_prometheus(
            binary=binary,
            promtool=promtool,
            workdir=tmp_path_factory.mktemp("prometheus"),
            alertmanager_url=alertmanager.url if alertmanager else None,
        )
    except ServerStartError as exc:
        pytest.fail(f"could not start the test server: {exc}", pytrace=False)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def dead_url() -> str:
    """A loopback base URL with nothing listening (connections are refused)."""
    return f"http://127.0.0.1:{free_port()}"


@dataclass
class SlowServer:
    """A loopback server that holds every request for ``delay_s`` before answering."""

    url: str
    delay_s: float
    requests: list[str]


@pytest.fixture(scope="session")
def slow_server() -> Iterator[SlowServer]:
    release = threading.Event()
    seen: list[str] = []
    delay_s = 30.0

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            seen.append(self.path)
            release.wait(delay_s)  # set at teardown so no thread lingers
            body = b'{"status":"success","data":[]}'
            try:
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
            except OSError:
                pass  # the client gave up long ago

        do_POST = do_GET
        do_DELETE = do_GET

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, name="slow-server", daemon=True)
    thread.start()
    try:
        yield SlowServer(
            url=f"http://127.0.0.1:{server.server_address[1]}", delay_s=delay_s, requests=seen
        )
    finally:
        release.set()
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
