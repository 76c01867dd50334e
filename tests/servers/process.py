"""Run a real server binary on 127.0.0.1 for the tests: start, wait until ready, stop.

Shared by ``tests/servers/prometheus.py`` and ``tests/servers/alertmanager.py``. The
process writes its log to ``<workdir>/<name>.log``; when it does not become ready, the
error quotes the log tail so the cause is visible in the pytest output.
"""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx

READY_TIMEOUT_S = 30.0


class ServerStartError(RuntimeError):
    """The server exited or did not become ready in time (message has the log tail)."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def find_binary(*names: str) -> str | None:
    """The first of ``names`` found on PATH."""
    for name in names:
        found = shutil.which(name)
        if found:
            return found
    return None


@dataclass
class ServerProcess:
    """A running server: its base URL, working directory, log and process."""

    name: str
    url: str
    port: int
    workdir: Path
    log_path: Path
    process: subprocess.Popen[bytes]

    def log_tail(self, lines: int = 30) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:]) or "(empty log)"

    def stop(self, timeout_s: float = 10.0) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=timeout_s)


def start_server(
    *,
    name: str,
    argv_for_port: Callable[[int], Sequence[str]],
    workdir: Path,
    ready_path: str = "/-/ready",
    timeout_s: float = READY_TIMEOUT_S,
    attempts: int = 3,
) -> ServerProcess:
    """Start ``argv_for_port(port)`` on a free port and wait until it is ready.

    Ready means ``GET <url><ready_path>`` answers 200. Another process may grab the free
    port between our probe and the server's bind, so "address already in use" is retried on
    a new port.

    Raises:
        ServerStartError: The process exited, or was not ready within ``timeout_s``
            (the message includes the command and the log tail).
    """
    for attempt in range(1, attempts + 1):
        port = free_port()
        try:
            return _start_once(
                name=name,
                argv=argv_for_port(port),
                port=port,
                workdir=workdir,
                ready_path=ready_path,
                timeout_s=timeout_s,
            )
        except ServerStartError as exc:
            if "address already in use" not in str(exc) or attempt == attempts:
                raise
    raise AssertionError("unreachable")


def _start_once(
    *,
    name: str,
    argv: Sequence[str],
    port: int,
    workdir: Path,
    ready_path: str,
    timeout_s: float,
) -> ServerProcess:
    log_path = workdir / f"{name}.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            list(argv), cwd=workdir, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
        )
    server = ServerProcess(
        name=name,
        url=f"http://127.0.0.1:{port}",
        port=port,
        workdir=workdir,
        log_path=log_path,
        process=process,
    )
    deadline = time.monotonic() + timeout_s
    with httpx.Client(timeout=1.0) as client:
        while True:
            code = process.poll()
            if code is not None:
                process.wait()
                raise ServerStartError(
                    f"{name} exited with status {code} before becoming ready\n"
                    f"command: {' '.join(argv)}\nlog tail:\n{server.log_tail()}"
                )
            with contextlib.suppress(httpx.HTTPError):
                if client.get(server.url + ready_path).status_code == 200:
                    return server
            if time.monotonic() > deadline:
                server.stop()
                raise ServerStartError(
                    f"{name} not ready at {server.url}{ready_path} after {timeout_s:g}s\n"
                    f"command: {' '.join(argv)}\nlog tail:\n{server.log_tail()}"
                )
            time.sleep(0.1)
