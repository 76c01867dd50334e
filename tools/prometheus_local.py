"""A throwaway local Prometheus backfilled from OpenMetrics files.

Used by ``sre-copilot eval scenarios`` (each scenario's metrics in a real Prometheus)
and the investigation benchmark. It runs Debian's ``prometheus`` and ``promtool``
binaries on 127.0.0.1 with a free port and a temporary TSDB with a long retention
(so old backfilled blocks are kept), and removes everything on exit.
"""

from __future__ import annotations

import asyncio
import contextlib
import glob
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType

import httpx

from memory.errors import ConfigError, IntegrationError

_CONFIG = """\
global:
  scrape_interval: 1h
  evaluation_interval: 1h
"""


def find_binary(name: str) -> str | None:
    """A Prometheus binary on PATH or in Debian's locations."""
    found = shutil.which(name)
    if found:
        return found
    for candidate in (f"/usr/bin/{name}", *glob.glob(f"/usr/local/bin/{name}")):
        if Path(candidate).exists():
            return candidate
    return None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class LocalPrometheus:
    """``async with LocalPrometheus(files) as prom: prom.url``."""

    def __init__(self, openmetrics: Sequence[Path], *, start_timeout_s: float = 30.0) -> None:
        self._files = list(openmetrics)
        self._timeout = start_timeout_s
        self._dir: Path | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self.url = ""

    async def __aenter__(self) -> LocalPrometheus:
        prometheus, promtool = find_binary("prometheus"), find_binary("promtool")
        if not prometheus or not promtool:
            raise ConfigError(
                "prometheus/promtool not installed: apt-get install prometheus "
                "(or use --source file)"
            )
        self._dir = Path(tempfile.mkdtemp(prefix="sre-copilot-prom-"))
        data = self._dir / "data"
        for path in self._files:
            proc = await asyncio.to_thread(
                subprocess.run,
                [
                    promtool,
                    "tsdb",
                    "create-blocks-from",
                    "openmetrics",
                    "--max-block-duration=24h",
                    str(path),
                    str(data),
                ],
                capture_output=True,
                text=True,
                check=False,
            )
            if proc.returncode != 0:
                await self.__aexit__(None, None, None)
                raise ConfigError(f"{path}: promtool refused it: {proc.stderr.strip()[-500:]}")
        (self._dir / "prometheus.yml").write_text(_CONFIG)
        port = _free_port()
        self.url = f"http://127.0.0.1:{port}"
        log = (self._dir / "prometheus.log").open("wb")
        self._proc = await asyncio.to_thread(
            subprocess.Popen,
            [
                prometheus,
                f"--config.file={self._dir / 'prometheus.yml'}",
                f"--storage.tsdb.path={data}",
                "--storage.tsdb.retention.time=100y",
                f"--web.listen-address=127.0.0.1:{port}",
                f"--web.external-url={self.url}/",
                "--log.level=warn",
            ],
            stdout=subprocess.DEVNULL,
            stderr=log,
        )
        await self._wait_ready()
        return self

    async def _wait_ready(self) -> None:
        deadline = time.monotonic() + self._timeout
        async with httpx.AsyncClient(timeout=1.0) as client:
            while time.monotonic() < deadline:
                if self._proc is not None and self._proc.poll() is not None:
                    break
                with contextlib.suppress(httpx.HTTPError):
                    if (await client.get(f"{self.url}/-/ready")).status_code == 200:
                        return
                await asyncio.sleep(0.1)
        tail = ""
        if self._dir is not None and (self._dir / "prometheus.log").exists():
            tail = (self._dir / "prometheus.log").read_text(errors="replace")[-800:]
        await self.__aexit__(None, None, None)
        raise IntegrationError(f"local Prometheus did not become ready: {tail}")

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._proc is not None:
            self._proc.terminate()
            try:
                await asyncio.to_thread(self._proc.wait, 15)
            except subprocess.TimeoutExpired:
                self._proc.kill()
            self._proc = None
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None
