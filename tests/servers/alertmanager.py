"""A real Alertmanager (Debian's 0.25 ``prometheus-alertmanager``) on 127.0.0.1.

Clustering is off (``--cluster.listen-address=``), storage lives in the test's tmp dir,
and every alert goes to a receiver with no integrations, with 1 s group timers so alerts
and silences show up at once.
"""

from __future__ import annotations

from pathlib import Path

from tests.servers.process import ServerProcess, start_server

CONFIG = """\
route:
  receiver: blackhole
  group_by: [alertname]
  group_wait: 1s
  group_interval: 1s
  repeat_interval: 1h
receivers:
  - name: blackhole
"""


def start_alertmanager(*, binary: str, workdir: Path, config_text: str = CONFIG) -> ServerProcess:
    """Configure and start Alertmanager in ``workdir``; return once ``/-/ready`` answers.

    Raises:
        ServerStartError: The server exited or did not become ready (log tail included).
    """
    config = workdir / "alertmanager.yml"
    config.write_text(config_text)
    storage = workdir / "data"
    storage.mkdir(exist_ok=True)

    def argv(port: int) -> list[str]:
        return [
            binary,
            f"--config.file={config}",
            f"--storage.path={storage}",
            f"--web.listen-address=127.0.0.1:{port}",
            f"--web.external-url=http://127.0.0.1:{port}/",
            "--cluster.listen-address=",
            "--log.level=info",
        ]

    return start_server(name="alertmanager", argv_for_port=argv, workdir=workdir)
