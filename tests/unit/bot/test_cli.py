"""The command line as a user meets it: --help everywhere, one-line errors, real subprocesses."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
import typer
from typer.testing import CliRunner

from bot.cli import app
from memory.db import head_revision
from tests.servers.process import free_port

runner = CliRunner()
EXE = shutil.which("sre-copilot", path=str(Path(sys.executable).parent)) or "sre-copilot"


def clean_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SRE_COPILOT_")}
    env["SRE_COPILOT_DATA_DIR"] = str(tmp_path / "data")
    env.update(extra)
    return env


def all_command_paths(group: typer.Typer, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    paths = [prefix]
    for cmd in group.registered_commands:
        name = cmd.name or (cmd.callback.__name__.replace("_", "-") if cmd.callback else "")
        paths.append((*prefix, name))
    for sub in group.registered_groups:
        assert sub.typer_instance is not None and sub.name is not None
        paths.extend(all_command_paths(sub.typer_instance, (*prefix, sub.name)))
    return paths


@pytest.mark.parametrize("path", all_command_paths(app), ids=lambda p: " ".join(p) or "root")
def test_help_everywhere(path: tuple[str, ...]):
    result = runner.invoke(app, [*path, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage:" in result.output


def test_help_works_with_broken_settings(tmp_path: Path):
    proc = subprocess.run(
        [EXE, "doctor", "--help"],
        env=clean_env(tmp_path, SRE_COPILOT_WEB__PORT="x"),
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0 and "Usage:" in proc.stdout


def test_bad_setting_is_one_line_and_exit_1(tmp_path: Path):
    proc = subprocess.run(
        [EXE, "doctor"],
        env=clean_env(tmp_path, SRE_COPILOT_WEB__PORT="eighty"),
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines() == [
        "error: SRE_COPILOT_WEB__PORT: Input should be a valid integer, "
        "unable to parse string as an integer (got 'eighty')"
    ]
    assert "Traceback" not in proc.stderr


def test_doctor_reports_each_integration(tmp_path: Path):
    proc = subprocess.run(
        [EXE, "doctor"], env=clean_env(tmp_path), capture_output=True, text=True, check=False
    )
    assert proc.returncode == 0, proc.stderr
    rows = {line.split()[0]: line for line in proc.stdout.splitlines()}
    assert "needs `sre-copilot db upgrade`" in rows["database"]
    assert "not configured" in rows["slack"]
    assert "deterministic analyst" in rows["llm"]


def test_doctor_unreachable_database_exits_1(tmp_path: Path):
    env = clean_env(tmp_path, SRE_COPILOT_DATABASE__URL="postgresql+asyncpg://x@127.0.0.1:1/x")
    proc = subprocess.run([EXE, "doctor"], env=env, capture_output=True, text=True, check=False)
    assert proc.returncode == 1
    assert "unhealthy" in proc.stdout and "cannot reach database" in proc.stdout


def test_db_upgrade_then_current(tmp_path: Path):
    env = clean_env(tmp_path)
    first = subprocess.run(
        [EXE, "db", "upgrade"], env=env, capture_output=True, text=True, check=True
    )
    assert "database migrated: empty →" in first.stdout
    again = subprocess.run(
        [EXE, "db", "upgrade"], env=env, capture_output=True, text=True, check=True
    )
    assert "already at migration" in again.stdout
    cur = subprocess.run(
        [EXE, "db", "current"], env=env, capture_output=True, text=True, check=True
    )
    assert cur.stdout.startswith(f"database: {head_revision()}; code head: {head_revision()}")


def test_demo_prints_the_scenario_and_is_idempotent(tmp_path: Path):
    env = clean_env(tmp_path)
    first = subprocess.run(
        [EXE, "demo", "--data-dir", str(tmp_path / "demo")],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert first.returncode == 0, first.stderr
    assert "Scenario: checkout-db-pool" in first.stdout
    assert "CheckoutHighErrorRate" in first.stdout
    assert "4 new, 0 already known" in first.stdout
    second = subprocess.run(
        [EXE, "demo", "--data-dir", str(tmp_path / "demo")],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert "0 new, 4 already known" in second.stdout


def test_chat_reads_stdin(tmp_path: Path):
    proc = subprocess.run(
        [EXE, "chat", "-c", "t"],
        input="status\n/quit\n",
        env=clean_env(tmp_path),
        capture_output=True,
        text=True,
        check=True,
    )
    assert "Integrations I can use" in proc.stdout
    again = subprocess.run(
        [EXE, "chat", "-c", "t"],
        input="",
        env=clean_env(tmp_path),
        capture_output=True,
        text=True,
        check=True,
    )
    assert "(2 earlier turns)" in again.stdout


def test_tool_run_rejects_bad_json(tmp_path: Path):
    proc = subprocess.run(
        [EXE, "tool", "run", "prometheus_query_instant", "--args", "{nope"],
        env=clean_env(tmp_path),
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 2
    assert proc.stderr.startswith("error: --args is not valid JSON")


def test_tool_run_unknown_tool_is_an_error_result(tmp_path: Path):
    proc = subprocess.run(
        [EXE, "tool", "run", "no_such_tool"],
        env=clean_env(tmp_path),
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 1
    assert '"status": "error"' in proc.stdout and "unknown tool" in proc.stdout


def test_serve_starts_with_nothing_configured(tmp_path: Path):
    port = free_port()
    proc = subprocess.Popen(
        [EXE, "serve", "--port", str(port)],
        env=clean_env(tmp_path),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        for _ in range(200):
            try:
                health = httpx.get(f"{base}/healthz", timeout=1)
                break
            except httpx.TransportError:
                time.sleep(0.1)
        else:
            pytest.fail("serve did not come up")
        assert health.json() == {"status": "ok"}
        ready = httpx.get(f"{base}/readyz", timeout=5)
        assert ready.status_code == 200
        checks = ready.json()["checks"]
        assert checks["database"]["state"] == "healthy"
        assert checks["slack"]["state"] == "not configured"
        metrics = httpx.get(f"{base}/metrics", timeout=5).text
        assert 'sre_copilot_http_requests_total{route="/healthz",status="200"} 1.0' in metrics
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=20)
    assert "slack not configured" in out


def test_serve_port_in_use_is_one_clear_error(tmp_path: Path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        proc = subprocess.run(
            [EXE, "serve", "--port", str(port)],
            env=clean_env(tmp_path),
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert proc.returncode == 1
    assert f"error: could not serve on 127.0.0.1:{port}" in proc.stderr
    assert "Traceback" not in proc.stderr
