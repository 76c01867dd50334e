"""Benchmark: an alert storm through the Alertmanager webhook, on SQLite and PostgreSQL.

From a seed it generates a storm (default 20,000 alert notifications across 50
services): several unrelated faults overlapping in time, each on its own services and
emitting several alert names from several pods, with Alertmanager's repeat
notifications (duplicates) and flapping alerts, plus background noise alerts. Every
alert carries its true fault in the annotation ``bench_true_fault``.

The storm is replayed over loopback HTTP into ``sre-copilot serve`` (its own
process), with Slack pointed at the loopback Slack stub, once per database.
alerts_per_s counts from the first request until every delivery is processed. After
the replay it waits for the incident feed to open and update threads, then prints
one JSON line per database::

    {"db", "alerts", "alerts_per_s", "p99_ms", "incidents", "true_faults",
     "slack_messages", "noise_reduction", "wrong_merges"}

noise_reduction = 1 - Slack messages / alerts; wrong_merges = incidents whose alerts
belong to more than one true fault.

Run from the repository root: ``python bench/ingest.py [--alerts 20000] [--db sqlite,postgres]``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import httpx
from sqlmodel import col, func, select

from memory.db import Database
from memory.models import Alert, WebhookDelivery
from tests.servers.postgres import create_database, drop_database, postgres_server
from tests.servers.process import free_port
from tests.stubs.slack_api import BOT_TOKEN, SlackApiStub

TOKEN = "bench-webhook-token"
ALERT_NAMES = {
    "errors": ["HighErrorRate", "SLOBurnFast", "UpstreamErrors"],
    "latency": ["HighLatencyP99", "SLOBurnSlow"],
    "memory": ["ContainerOOMKilled", "KubePodCrashLooping", "MemoryNearLimit"],
    "cpu": ["CPUThrottlingHigh", "HighLatencyP99"],
    "db": ["PostgresConnectionsHigh", "HighErrorRate", "SlowQueries"],
    "disk": ["NodeFilesystemAlmostFull", "WriteErrors"],
}


def generate(*, alerts: int, services: int, seed: int) -> list[dict[str, Any]]:
    """Alertmanager notifications as it sends them with ``group_by: [service]``.

    Each active fault is a group whose notification lists every alert of the group
    (several alert names × the affected pods); Alertmanager re-sends the group on
    each ``group_interval`` while it changes, so the same alerts arrive many times
    (duplicates), flapping ones alternating between firing and resolved.
    """
    rng = random.Random(seed)
    names = [f"svc-{i:02d}" for i in range(services)]
    rng.shuffle(names)
    start = datetime(2026, 11, 27, 8, 0, tzinfo=UTC)
    faults = []
    for i, svc in enumerate(names[:12]):  # unrelated faults on disjoint services
        kind = rng.choice(list(ALERT_NAMES))
        pods = [f"{svc}-{rng.randrange(16**6):06x}-{j}" for j in range(rng.randint(3, 12))]
        faults.append(
            {
                "id": f"fault-{i}-{kind}",
                "service": svc,
                "kind": kind,
                "at": start + timedelta(minutes=rng.randint(0, 90)),
                "alerts": [(n, p) for n in ALERT_NAMES[kind] for p in pods],
                "flapping": rng.random() < 0.3,
                "first_round": rng.randint(0, 20),  # faults overlap, starting at different times
            }
        )
    noise_services = names[12:]
    payloads: list[dict[str, Any]] = []
    produced, round_no = 0, 0
    while produced < alerts:
        for fault in faults:
            if round_no < fault["first_round"] or produced >= alerts:
                continue
            group = []
            for name, pod in fault["alerts"]:
                status = "firing"
                if fault["flapping"] and rng.random() < 0.3:
                    status = "resolved"
                group.append(
                    _alert(
                        name, fault["service"], pod, status, fault["at"], fault["id"], fault["kind"]
                    )
                )
            payloads.append(_payload(group, fault["service"], round_no))
            produced += len(group)
        for svc in rng.sample(noise_services, k=3):
            group = [
                _alert(
                    "KubeJobFailed", svc, f"{svc}-cron-1", "firing", start, f"noise-{svc}", "noise"
                )
            ]
            payloads.append(_payload(group, svc, round_no))
            produced += 1
        round_no += 1
    return payloads


def _alert(
    name: str, svc: str, pod: str, status: str, at: datetime, fault: str, kind: str
) -> dict[str, Any]:
    severity = "critical" if kind in ("errors", "db", "memory") else "warning"
    return {
        "status": status,
        "labels": {
            "alertname": name,
            "service": svc,
            "pod": pod,
            "namespace": "prod",
            "cluster": "eu-1",
            "severity": severity,
        },
        "annotations": {"summary": f"{name} on {svc}", "bench_true_fault": fault},
        "startsAt": at.isoformat(),
        "endsAt": (at + timedelta(minutes=5)).isoformat()
        if status == "resolved"
        else "0001-01-01T00:00:00Z",
    }


def _payload(alerts: list[dict[str, Any]], svc: str, round_no: int) -> dict[str, Any]:
    return {
        "version": "4",
        # the round number stands for the notification's time: each one is a new delivery
        "groupKey": f'{{}}:{{service="{svc}"}}#{round_no}',
        "status": "firing" if any(a["status"] == "firing" for a in alerts) else "resolved",
        "receiver": "sre-copilot",
        "groupLabels": {"service": svc},
        "commonLabels": {"service": svc},
        "commonAnnotations": {},
        "externalURL": "http://alertmanager.bench",
        "alerts": alerts,
    }


async def replay(
    url: str, payloads: list[dict[str, Any]], *, concurrency: int
) -> tuple[float, list[float], int]:
    """POST every payload (distinct bodies; a replay of an identical body would be refused)."""
    latencies: list[float] = []
    errors = 0
    queue: asyncio.Queue[bytes] = asyncio.Queue()
    for p in payloads:
        queue.put_nowait(json.dumps(p).encode())
    headers = {"authorization": f"Bearer {TOKEN}", "content-type": "application/json"}

    async def worker(client: httpx.AsyncClient) -> None:
        nonlocal errors
        while not queue.empty():
            body = queue.get_nowait()
            started = time.perf_counter()
            response = await client.post(url, content=body, headers=headers)
            latencies.append(time.perf_counter() - started)
            if response.status_code != 200:
                errors += 1
                if errors <= 3:
                    print(f"webhook {response.status_code}: {response.text[:200]}", file=sys.stderr)

    started = time.perf_counter()
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(timeout=60, limits=limits) as client:
        await asyncio.gather(*(worker(client) for _ in range(concurrency)))
    return time.perf_counter() - started, latencies, errors


async def _unprocessed(db_url: str) -> int:
    async with Database(db_url) as db, db.session() as s:
        stmt = (
            select(func.count())
            .select_from(WebhookDelivery)
            .where(col(WebhookDelivery.processed_at).is_(None))
        )
        return int((await s.exec(stmt)).one())


async def run_one(
    db_name: str, db_url: str, payloads: list[dict[str, Any]], *, concurrency: int
) -> dict[str, Any]:
    """Serve ``sre-copilot serve`` in its own process, replay, wait for processing and Slack."""
    alerts_total = sum(len(p["alerts"]) for p in payloads)
    with tempfile.TemporaryDirectory(prefix="bench-ingest-") as tmp, SlackApiStub() as slack:
        port = free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("SRE_COPILOT_")}
        env.update(
            {
                "SRE_COPILOT_DATA_DIR": tmp,
                "SRE_COPILOT_DATABASE__URL": db_url,
                "SRE_COPILOT_SLACK__BOT_TOKEN": BOT_TOKEN,
                "SRE_COPILOT_SLACK__SIGNING_SECRET": "bench-signing-secret",
                "SRE_COPILOT_SLACK__API_BASE_URL": slack.base_url,
                "SRE_COPILOT_SLACK__DEFAULT_CHANNEL": "CINCIDENTS",
                "SRE_COPILOT_WEBHOOKS__ALERTMANAGER_TOKEN": TOKEN,
                "SRE_COPILOT_INCIDENTS__NOTIFY_DELAY_S": "1",
                "SRE_COPILOT_INCIDENTS__UPDATE_INTERVAL_S": "5",
                "SRE_COPILOT_INCIDENTS__FEED_INTERVAL_S": "0.5",
                "SRE_COPILOT_LOG_LEVEL": "WARNING",
            }
        )
        exe = str(Path(sys.executable).parent / "sre-copilot")
        server = subprocess.Popen(
            [exe, "serve", "--port", str(port)], env=env, stdout=subprocess.DEVNULL
        )
        try:
            async with httpx.AsyncClient() as client:
                for _ in range(300):
                    try:
                        if (
                            await client.get(f"http://127.0.0.1:{port}/healthz")
                        ).status_code == 200:
                            break
                    except httpx.TransportError:
                        pass
                    await asyncio.sleep(0.1)
            started = time.perf_counter()
            _, latencies, errors = await replay(
                f"http://127.0.0.1:{port}/webhooks/alertmanager", payloads, concurrency=concurrency
            )
            while await _unprocessed(db_url):
                await asyncio.sleep(0.05)
            seconds = time.perf_counter() - started
            quiet_since, last = time.monotonic(), -1  # let the feed open and update threads
            while time.monotonic() - quiet_since < 8:
                count = len(slack.calls())
                if count != last:
                    quiet_since, last = time.monotonic(), count
                await asyncio.sleep(0.5)
        finally:
            server.terminate()
            server.wait(30)
        messages = len(slack.calls("chat.postMessage")) + len(slack.calls("chat.update"))
    async with Database(db_url) as db, db.session() as s:
        rows = (await s.exec(select(Alert.incident_id, Alert.annotations))).all()
    by_incident: dict[int | None, set[str]] = defaultdict(set)
    faults = set()
    for incident_id, notes in rows:
        fault = notes.get("bench_true_fault", "?")
        faults.add(fault)
        if incident_id is not None:
            by_incident[incident_id].add(fault)
    latencies.sort()
    return {
        "db": db_name,
        "alerts": alerts_total,
        "alerts_per_s": round(alerts_total / seconds, 1),
        "p99_ms": round(latencies[int(0.99 * (len(latencies) - 1))] * 1000, 1),
        "p50_ms": round(statistics.median(latencies) * 1000, 1),
        "requests": len(latencies),
        "errors": errors,
        "incidents": len(by_incident),
        "true_faults": len(faults),
        "slack_messages": messages,
        "noise_reduction": round(1 - messages / alerts_total, 4),
        "wrong_merges": sum(1 for f in by_incident.values() if len(f) > 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--alerts", type=int, default=20_000)
    parser.add_argument("--services", type=int, default=50)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--db", default="sqlite,postgres")
    args = parser.parse_args()
    payloads = generate(alerts=args.alerts, services=args.services, seed=args.seed)
    for db_name in args.db.split(","):
        if db_name == "sqlite":
            with tempfile.TemporaryDirectory() as tmp:
                url = f"sqlite+aiosqlite:///{tmp}/bench.db"
                result = asyncio.run(run_one("sqlite", url, payloads, concurrency=args.concurrency))
        else:
            with postgres_server() as pg:
                name = asyncio.run(create_database(pg))
                try:
                    result = asyncio.run(
                        run_one(
                            "postgres",
                            pg.sqlalchemy_url(name),
                            payloads,
                            concurrency=args.concurrency,
                        )
                    )
                finally:
                    asyncio.run(drop_database(pg, name))
        print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
