"""A real Prometheus (Debian's 2.42 binary) on 127.0.0.1, backfilled with fixture data.

Before start, every ``tests/fixtures/prometheus/*.om`` file is turned into TSDB blocks with
``promtool tsdb create-blocks-from openmetrics --max-block-duration=24h``. Prometheus then
runs with ``--storage.tsdb.retention.time=100y`` so those old blocks are not deleted, and
tests query them with explicit start/end inside :data:`FIXTURE_START`..:data:`FIXTURE_END`,
which makes results deterministic.

The server also:

* evaluates rules every second, including :data:`ALWAYS_FIRING_ALERT` (``vector(1)``),
  and sends alerts to the given Alertmanager with a 1 s resend delay (the first send can
  race the notifier's discovery of the Alertmanager; the default resend delay is 1 min);
* scrapes itself (job ``prometheus``, up) and a port nothing listens on (job
  ``dead-exporter``, down), so target health has both answers.
"""

from __future__ import annotations

import subprocess
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

from tests.servers.process import ServerProcess, ServerStartError, free_port, start_server

FIXTURE_DIR = Path(__file__).resolve().parents[1] / "fixtures" / "prometheus"
# Must match tests/fixtures/prometheus/generate.py (checked by the integration tests).
FIXTURE_START = datetime(2026, 1, 10, tzinfo=UTC)
FIXTURE_END = FIXTURE_START + timedelta(hours=6)
INCIDENT_START = FIXTURE_START + timedelta(hours=3)

ALWAYS_FIRING_ALERT = "CopilotTestAlwaysFiring"
ALWAYS_FIRING_LABELS = {"service": "checkout", "severity": "warning"}

_RULES = f"""\
groups:
  - name: copilot-test
    interval: 1s
    rules:
      - alert: {ALWAYS_FIRING_ALERT}
        expr: vector(1)
        labels: {{service: checkout, severity: warning}}
        annotations:
          summary: Always firing, so the tests can see Prometheus notify Alertmanager.
      - record: job:up:sum
        expr: sum by (job) (up)
"""


def backfill(*, promtool: str, fixtures: Sequence[Path], data_dir: Path) -> None:
    """Create TSDB blocks in ``data_dir`` from OpenMetrics files.

    Raises:
        ServerStartError: promtool failed (its output is in the message).
    """
    data_dir.mkdir(parents=True, exist_ok=True)
    for fixture in fixtures:
        argv = [
            promtool,
            "tsdb",
            "create-blocks-from",
            "openmetrics",
            "--max-block-duration=24h",
            str(fixture),
            str(data_dir),
        ]
        done = subprocess.run(argv, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise ServerStartError(
                f"promtool backfill of {fixture.name} failed ({done.returncode}):\n"
                f"{done.stdout}\n{done.stderr}"
            )


def _config(*, alertmanager_url: str | None, dead_port: int) -> str:
    alerting = ""
    if alertmanager_url:
        target = alertmanager_url.removeprefix("http://").rstrip("/")
        alerting = (
            "alerting:\n  alertmanagers:\n"
            f"    - api_version: v2\n      static_configs: [{{targets: ['{target}']}}]\n"
        )
    return (
        "global:\n  scrape_interval: 2s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\n"
        "rule_files: [rules.yml]\n"
        f"{alerting}"
        "scrape_configs:\n"
        "  - job_name: prometheus\n"
        "    static_configs: [{targets: ['127.0.0.1:__PORT__']}]\n"
        "  - job_name: dead-exporter\n"
        f"    static_configs: [{{targets: ['127.0.0.1:{dead_port}']}}]\n"
    )


def start_prometheus(
    *,
    binary: str,
    promtool: str,
    workdir: Path,
    alertmanager_url: str | None = None,
    fixtures: Sequence[Path] | None = None,
) -> ServerProcess:
    """Backfill, configure and start Prometheus in ``workdir``; return once it is ready.

    Raises:
        ServerStartError: Backfill failed, or the server did not become ready.
    """
    data_dir = workdir / "data"
    backfill(
        promtool=promtool,
        fixtures=sorted(FIXTURE_DIR.glob("*.om")) if fixtures is None else fixtures,
        data_dir=data_dir,
    )
    (workdir / "rules.yml").write_text(_RULES)
    template = _config(alertmanager_url=alertmanager_url, dead_port=free_port())

    def argv(port: int) -> list[str]:
        (workdir / "prometheus.yml").write_text(template.replace("__PORT__", str(port)))
        return [
            binary,
            f"--config.file={workdir / 'prometheus.yml'}",
            f"--storage.tsdb.path={data_dir}",
            "--storage.tsdb.retention.time=100y",
            f"--web.listen-address=127.0.0.1:{port}",
            f"--web.external-url=http://127.0.0.1:{port}/",
            "--rules.alert.resend-delay=1s",
            "--log.level=info",
        ]

    return start_server(name="prometheus", argv_for_port=argv, workdir=workdir)
