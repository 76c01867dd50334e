"""Regenerate the bundled demo scenario (tools/scenarios/checkout-db-pool).

Story: at 10:00 UTC checkout v2.14.0 is deployed; it leaks database connections,
so the Postgres pool saturates around 10:20, checkout latency and 5xx errors climb,
and alerts fire. A loud, unrelated disk alert on a batch node is the red herring.

Deterministic (fixed seed). Run: python scripts/generate_demo_scenario.py
"""

from __future__ import annotations

import hashlib
import json
import math
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

OUT = Path(__file__).resolve().parents[1] / "tools" / "scenarios" / "checkout-db-pool"
START = datetime(2026, 11, 20, 6, 0, tzinfo=UTC)
END = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
DEPLOY = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)
STEP = 60
BUCKETS = ["0.05", "0.1", "0.25", "0.5", "1", "2.5", "5", "+Inf"]


def main() -> None:
    """Write the scenario files."""
    rng = random.Random(42)
    OUT.mkdir(parents=True, exist_ok=True)
    lines: dict[str, list[str]] = {}

    def add(name: str, labels: str, value: float, ts: float) -> None:
        lines.setdefault(name, []).append(f"{name}{{{labels}}} {value:.6g} {ts:.0f}")

    req = {("checkout", "200"): 0.0, ("checkout", "500"): 0.0, ("cart", "200"): 0.0}
    hist: dict[tuple[str, str], float] = {}
    cpu_idle = 0.0
    t = START
    while t <= END:
        ts = t.timestamp()
        minutes_since_deploy = (t - DEPLOY).total_seconds() / 60
        daily = 1 + 0.3 * math.sin((t.hour * 60 + t.minute) / 1440 * 2 * math.pi)
        rps = 40 * daily
        # pool: ~30 connections normally, leaks ~3/min after the deploy up to max 100
        pool = 30 + rng.uniform(-3, 3)
        if minutes_since_deploy > 0:
            pool = min(100.0, pool + 3.2 * minutes_since_deploy)
        saturated = pool >= 99.0
        err_ratio = 0.002 + (0.18 if saturated else 0.0) + rng.uniform(0, 0.002)
        req[("checkout", "200")] += rps * STEP * (1 - err_ratio)
        req[("checkout", "500")] += rps * STEP * err_ratio
        req[("cart", "200")] += 25 * daily * STEP
        for (svc, code), total in req.items():
            add("http_requests_total", f'service="{svc}",code="{code}",job="{svc}"', total, ts)
        # latency histogram for checkout: mostly < 250 ms, > 1 s once the pool is exhausted
        # a fraction `slow` of requests waits for a connection (1-2.5 s) once the pool is short
        slow = 0.6 if saturated else (0.004 if minutes_since_deploy > 0 else 0.0)
        base = {
            "0.05": 0.3,
            "0.1": 0.6,
            "0.25": 0.97,
            "0.5": 0.995,
            "1": 0.999,
            "2.5": 1.0,
            "5": 1.0,
            "+Inf": 1.0,
        }
        shares = {
            le: base[le] * (1 - slow) + (slow if le in ("2.5", "5", "+Inf") else 0.0)
            for le in BUCKETS
        }
        for le in BUCKETS:
            key = ("checkout", le)
            hist[key] = hist.get(key, 0.0) + rps * STEP * max(0.0, min(1.0, shares[le]))
            add(
                "http_request_duration_seconds_bucket",
                f'service="checkout",job="checkout",le="{le}"',
                hist[key],
                ts,
            )
        add(
            "pg_stat_activity_count",
            'datname="checkout",state="active",instance="pg-0"',
            round(pool),
            ts,
        )
        add("pg_settings_max_connections", 'instance="pg-0"', 100, ts)
        cpu_idle += STEP * (0.55 + rng.uniform(-0.05, 0.05))
        add("node_cpu_seconds_total", 'instance="node-1",cpu="0",mode="idle"', cpu_idle, ts)
        avail = 40e9 - (ts - START.timestamp()) * 0.9e6 * (1 + rng.uniform(-0.1, 0.1))
        add(
            "node_filesystem_avail_bytes",
            'instance="batch-7",mountpoint="/var/lib/batch",device="sdb1",fstype="ext4"',
            avail,
            ts,
        )
        add(
            "node_filesystem_size_bytes",
            'instance="batch-7",mountpoint="/var/lib/batch",device="sdb1",fstype="ext4"',
            400e9,
            ts,
        )
        mem = 1.1e9 + rng.uniform(-5e7, 5e7)
        add(
            "container_memory_working_set_bytes",
            'namespace="shop",pod="checkout-7d9f",container="checkout"',
            mem,
            ts,
        )
        t += timedelta(seconds=STEP)

    types = {
        "http_requests_total": "counter",
        "http_request_duration_seconds_bucket": "counter",
        "pg_stat_activity_count": "gauge",
        "pg_settings_max_connections": "gauge",
        "node_cpu_seconds_total": "counter",
        "node_filesystem_avail_bytes": "gauge",
        "node_filesystem_size_bytes": "gauge",
        "container_memory_working_set_bytes": "gauge",
    }
    out = []
    for name, rows in lines.items():
        family = name.removesuffix("_total") if types[name] == "counter" else name
        if name.endswith("_bucket"):
            family = name
            out.append(f"# TYPE {family} gauge")
        else:
            out.append(f"# TYPE {family} {types[name]}")
        out.extend(rows)
    out.append("# EOF")
    (OUT / "metrics.om").write_text("\n".join(out) + "\n")

    def am_alert(
        name: str,
        sev: str,
        labels: dict[str, str],
        summary: str,
        starts: datetime,
        status: str = "firing",
    ) -> dict[str, object]:
        all_labels = {"alertname": name, "severity": sev, **labels}
        return {
            "status": status,
            "labels": all_labels,
            "annotations": {
                "summary": summary,
                "runbook_url": f"https://runbooks.example.com/{name}",
            },
            "startsAt": starts.isoformat().replace("+00:00", "Z"),
            "endsAt": "0001-01-01T00:00:00Z",
            "generatorURL": "http://prometheus:9090/graph",
        }

    def payload(alerts: list[dict[str, object]], group: dict[str, str]) -> dict[str, object]:
        return {
            "version": "4",
            "groupKey": json.dumps(group),
            "truncatedAlerts": 0,
            "status": "firing",
            "receiver": "sre-copilot",
            "groupLabels": group,
            "commonLabels": group,
            "commonAnnotations": {},
            "externalURL": "http://alertmanager:9093",
            "alerts": alerts,
        }

    checkout = {"service": "checkout", "namespace": "shop", "cluster": "prod-eu-1"}
    alerts = [
        payload(
            [
                am_alert(
                    "PostgresConnectionsSaturated",
                    "warning",
                    {
                        "service": "checkout",
                        "namespace": "shop",
                        "cluster": "prod-eu-1",
                        "instance": "pg-0",
                        "datname": "checkout",
                    },
                    "Postgres pg-0: 99% of max_connections in use by checkout",
                    DEPLOY + timedelta(minutes=20),
                )
            ],
            {"alertname": "PostgresConnectionsSaturated"},
        ),
        payload(
            [
                am_alert(
                    "CheckoutHighErrorRate",
                    "critical",
                    checkout,
                    "checkout 5xx ratio above 5% for 5 minutes",
                    DEPLOY + timedelta(minutes=26),
                ),
                am_alert(
                    "CheckoutLatencyHigh",
                    "warning",
                    checkout,
                    "checkout p99 latency above 1s",
                    DEPLOY + timedelta(minutes=24),
                ),
            ],
            {"service": "checkout"},
        ),
        payload(
            [
                am_alert(
                    "NodeFilesystemSpaceFillingUp",
                    "warning",
                    {"instance": "batch-7", "mountpoint": "/var/lib/batch", "cluster": "prod-eu-1"},
                    "Filesystem on batch-7 is predicted to run out of space within 24 hours",
                    DEPLOY - timedelta(minutes=50),
                )
            ],
            {"alertname": "NodeFilesystemSpaceFillingUp"},
        ),
    ]
    # stable fingerprints (hash() is salted per process)
    for a in alerts:
        for alert in a["alerts"]:  # type: ignore[union-attr]
            key = json.dumps(alert["labels"], sort_keys=True).encode()  # type: ignore[index]
            alert["fingerprint"] = hashlib.sha256(key).hexdigest()[:16]  # type: ignore[index]
    (OUT / "alerts.json").write_text(json.dumps(alerts, indent=2) + "\n")

    pd = {
        "incidents": [
            {
                "id": "PCHK001",
                "incident_number": 4121,
                "title": "Checkout error rate > 5%",
                "status": "triggered",
                "urgency": "high",
                "service": {"id": "PSVC01", "summary": "checkout"},
                "created_at": (DEPLOY + timedelta(minutes=27)).isoformat().replace("+00:00", "Z"),
                "html_url": "https://example.pagerduty.com/incidents/PCHK001",
                "assignments": [{"assignee": {"id": "PUSR01", "summary": "Dana Oncall"}}],
            }
        ],
        "oncalls": [
            {
                "escalation_policy": {"summary": "Checkout"},
                "user": {"summary": "Dana Oncall"},
                "escalation_level": 1,
            }
        ],
    }
    (OUT / "pagerduty.json").write_text(json.dumps(pd, indent=2) + "\n")
    changes = [
        {
            "id": "CHG-2291",
            "summary": "Deploy checkout v2.14.0 (connection pool refactor)",
            "service": "checkout",
            "source": "argo-cd",
            "timestamp": DEPLOY.isoformat().replace("+00:00", "Z"),
            "custom_details": {"version": "v2.14.0", "previous": "v2.13.4", "author": "ci-bot"},
        }
    ]
    (OUT / "changes.json").write_text(json.dumps(changes, indent=2) + "\n")
    (OUT / "scenario.yaml").write_text(
        "name: checkout-db-pool\n"
        "description: >-\n"
        "  checkout v2.14.0 leaks database connections after a deploy; the Postgres pool\n"
        "  saturates, checkout latency and 5xx errors climb. A disk alert on batch-7 is\n"
        "  unrelated noise.\n"
        "question: what's wrong with checkout?\n"
        f"start: {START.isoformat().replace('+00:00', 'Z')}\n"
        f"end: {END.isoformat().replace('+00:00', 'Z')}\n"
        "truth:\n  service: checkout\n  fault: db_connections\n"
    )


if __name__ == "__main__":
    main()
