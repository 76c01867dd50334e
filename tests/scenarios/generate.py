"""Generate the labelled incident-scenario suite (tests/scenarios/<name>/).

Deterministic: every scenario has a fixed seed, so re-running rewrites identical files.
Run from the repository root:  .venv/bin/python tests/scenarios/generate.py [NAME ...]
See docs/scenarios.md for the format and the labelling convention.

A :class:`Builder` holds one scenario: a time grid at 60 s resolution, a seeded random
generator, metric families, alerts, PagerDuty records and change events. Helpers emit
series with the standard exporter names (node_exporter, cAdvisor, kube-state-metrics,
Prometheus client conventions, postgres_exporter, blackbox_exporter) and write the
scenario directory in the format that ``tools.scenario.load_scenario`` reads.
"""

from __future__ import annotations

import hashlib
import json
import math
import sys
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import numpy as np

STEP = 60
SAFE = "bcdfghjklmnpqrstvwxz2456789"  # the alphabet Kubernetes uses for generated names
GIB = 1024**3
MIB = 1024**2
# histogram layouts (upper bounds without +Inf); services differ, as they do in real fleets
FAST = (0.025, 0.05, 0.1, 0.25, 0.5, 1.0)
STD = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
SLOW = (0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
NEVER = "0001-01-01T00:00:00Z"

_erf = np.vectorize(math.erf)


def rfc(dt: datetime) -> str:
    """RFC 3339 UTC with a Z."""
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _le(v: float) -> str:
    return "+Inf" if math.isinf(v) else f"{v:g}"


@dataclass
class _Entry:
    sample: str
    labels: dict[str, str]
    values: np.ndarray
    fmt: str


@dataclass
class _Hist:
    labels: dict[str, str]
    buckets: tuple[float, ...]
    cum: list[np.ndarray]  # one per bucket, +Inf last
    total_sum: np.ndarray


@dataclass
class _Family:
    type: str
    entries: list[_Entry | _Hist] = field(default_factory=list)


class Builder:
    """One scenario under construction."""

    def __init__(self, name: str, start: str, hours: float, seed: int) -> None:
        self.name = name
        self.start = datetime.fromisoformat(start).replace(tzinfo=UTC)
        self.end = self.start + timedelta(hours=hours)
        self.n = int(hours * 60) + 1
        self.t0 = int(self.start.timestamp())
        self.ts = self.t0 + STEP * np.arange(self.n)
        self.i = np.arange(self.n, dtype=float)
        self.hod = (self.ts % 86400) / 3600.0
        self.rng = np.random.default_rng(seed)
        self.families: dict[str, _Family] = {}
        self.alerts: list[tuple[tuple[str, ...], dict[str, Any]]] = []
        self.changes: list[dict[str, Any]] = []
        self.incidents: list[dict[str, Any]] = []
        self.oncalls: list[dict[str, Any]] = []
        self.meta: dict[str, Any] = {}
        self.key: dict[str, Any] = {}  # for the self-check: what to compare and where

    # ---------------------------------------------------------------- time
    def at(self, hhmm: str) -> int:
        """Index of a wall-clock time (HH:MM) on the scenario's start date."""
        h, m = (int(x) for x in hhmm.split(":"))
        dt = self.start.replace(hour=h, minute=m)
        if dt < self.start:
            dt += timedelta(days=1)
        return int((dt - self.start).total_seconds() // STEP)

    def when(self, ref: str | int | datetime, plus_s: float = 0) -> datetime:
        """Datetime of an index, an HH:MM or a datetime, plus seconds."""
        if isinstance(ref, datetime):
            base = ref
        elif isinstance(ref, str):
            base = self.start + timedelta(minutes=self.at(ref))
        else:
            base = self.start + timedelta(minutes=ref)
        return base + timedelta(seconds=plus_s)

    # ---------------------------------------------------------------- shapes
    def season(self, amp: float, peak_hour: float) -> np.ndarray:
        """Daily seasonality: 1 ± amp, highest at peak_hour UTC."""
        return 1 + amp * np.cos(2 * np.pi * (self.hod - peak_hour) / 24)

    def noise(self, sd: float, rho: float = 0.75) -> np.ndarray:
        """Multiplicative AR(1) noise around 1."""
        e = self.rng.normal(0, sd * math.sqrt(1 - rho * rho), self.n)
        x = np.empty(self.n)
        acc = self.rng.normal(0, sd)
        for k in range(self.n):
            acc = rho * acc + e[k]
            x[k] = acc
        return np.clip(1 + x, 0.2, None)

    def step(self, at: int | str, width: float = 1.5) -> np.ndarray:
        """Smooth 0 → 1 step centred on an index (logistic, width in minutes)."""
        i0 = self.at(at) if isinstance(at, str) else at
        return 1 / (1 + np.exp(-(self.i - i0) / max(width, 1e-3)))

    def ramp(self, a: int | str, b: int | str) -> np.ndarray:
        """Linear 0 → 1 between two indexes."""
        i0 = self.at(a) if isinstance(a, str) else a
        i1 = self.at(b) if isinstance(b, str) else b
        return np.clip((self.i - i0) / max(i1 - i0, 1), 0, 1)

    def window(self, a: int | str, b: int | str | None = None) -> np.ndarray:
        """1 inside [a, b), else 0."""
        i0 = self.at(a) if isinstance(a, str) else a
        i1 = self.n if b is None else (self.at(b) if isinstance(b, str) else b)
        return ((self.i >= i0) & (self.i < i1)).astype(float)

    def hashname(self, length: int) -> str:
        """Random name part from the Kubernetes alphabet."""
        return "".join(SAFE[int(k)] for k in self.rng.integers(0, len(SAFE), length))

    def pod_names(self, service: str, count: int, rs: str | None = None) -> list[str]:
        """Deployment-style pod names: <service>-<replicaset hash>-<suffix>."""
        rs = rs or self.hashname(int(self.rng.integers(9, 11)))
        return [f"{service}-{rs}-{self.hashname(5)}" for _ in range(count)]

    def uptime(self, lo_days: float = 2, hi_days: float = 40) -> float:
        """Seconds a process or node has been up before the window."""
        return float(self.rng.uniform(lo_days, hi_days)) * 86400

    # ---------------------------------------------------------------- metrics
    def _family(self, name: str, typ: str) -> _Family:
        fam = self.families.get(name)
        if fam is None:
            fam = self.families[name] = _Family(typ)
        return fam

    def gauge(self, name: str, labels: dict[str, str], values: Any, fmt: str = "g") -> None:
        """A gauge; NaN values are left out (series absent at that time)."""
        v = np.broadcast_to(np.asarray(values, dtype=float), (self.n,)).copy()
        self._family(name, "gauge").entries.append(_Entry(name, labels, v, fmt))

    def counter(
        self,
        name: str,
        labels: dict[str, str],
        per_min: np.ndarray,
        *,
        initial: float = 0.0,
        resets: tuple[int, ...] | list[int] = (),
        present: np.ndarray | None = None,
        fmt: str = "int",
        lazy: bool = False,
        typ: str = "counter",
    ) -> np.ndarray:
        """A counter from per-minute increments; resets to 0 at the given indexes.

        ``lazy``: the series appears only once it has counted something (client libraries
        create labelled children on first use).
        """
        inc = np.maximum(np.asarray(per_min, dtype=float), 0)
        out = np.empty(self.n)
        acc = initial
        rs = set(resets)
        for k in range(self.n):
            if k in rs:
                acc = inc[k] * float(self.rng.uniform(0.2, 0.8))
            elif k > 0:
                acc += inc[k]
            out[k] = acc
        if fmt == "int":
            out = np.floor(out)
        vals = out.copy()
        if present is not None:
            vals[~present.astype(bool)] = np.nan
        if lazy:
            seen = np.cumsum(vals > 0) > 0
            vals[~seen] = np.nan
        family = name.removesuffix("_total") if typ == "counter" else name
        self._family(family, typ).entries.append(_Entry(name, labels, vals, fmt))
        return out

    def histogram(
        self,
        name: str,
        labels: dict[str, str],
        counts: np.ndarray,
        comps: list[tuple[Any, Any, Any]],
        buckets: tuple[float, ...],
        initial_count: float = 0.0,
    ) -> None:
        """Cumulative histogram from per-minute request counts and a latency mixture.

        ``comps``: (weight, median seconds, sigma) lognormal components; each may be an
        array over time or a scalar.
        """
        les = (*buckets, math.inf)
        w_tot = np.zeros(self.n)
        cdf = [np.zeros(self.n) for _ in les]
        mean = np.zeros(self.n)
        for w, med, sig in comps:
            w = np.broadcast_to(np.asarray(w, dtype=float), (self.n,))
            med = np.maximum(np.asarray(med, dtype=float) * self.noise(0.03, 0.5), 1e-4)
            sig = np.maximum(np.broadcast_to(np.asarray(sig, dtype=float), (self.n,)), 1e-3)
            w_tot = w_tot + w
            mean = mean + w * med * np.exp(sig**2 / 2)
            for j, le in enumerate(les):
                if math.isinf(le):
                    cdf[j] = cdf[j] + w
                else:
                    z = (np.log(le) - np.log(med)) / (sig * math.sqrt(2))
                    cdf[j] = cdf[j] + w * 0.5 * (1 + _erf(z))
        w_tot = np.where(w_tot > 0, w_tot, 1)
        c = np.asarray(counts, dtype=float)
        base = initial_count
        cum = []
        for j in range(len(les)):
            frac = cdf[j] / w_tot
            start = np.floor(base * (frac[0] if j < len(les) - 1 else 1.0))
            cum.append(np.floor(start + np.cumsum(c * frac)))
        total_sum = base * mean[0] + np.cumsum(c * mean / w_tot)
        fam = self._family(name, "histogram")
        fam.entries.append(_Hist(labels, buckets, cum, total_sum))

    def pods_of(self, family: str) -> list[str]:
        """Pod label values of a family's series, in insertion order."""
        fam = self.families.get(family)
        return [e.labels["pod"] for e in (fam.entries if fam else []) if isinstance(e, _Entry)]

    # ------------------------------------------------------- higher-level kits
    def http(
        self,
        service: str,
        rates: dict[tuple[str, str], np.ndarray],
        *,
        new: tuple[str, ...] = (),
    ) -> np.ndarray:
        """``http_requests_total`` per (method, code) from requests/second arrays.

        Counts are Poisson per minute; series for codes in ``new`` appear on first use.
        Returns the per-minute total of all requests (for the latency histogram).
        """
        total = np.zeros(self.n)
        up = self.uptime(3, 30)
        for (method, code), rps in rates.items():
            lam = np.maximum(np.asarray(rps, dtype=float), 0) * STEP
            cnt = self.rng.poisson(lam).astype(float)
            total += cnt
            fresh = code in new
            self.counter(
                "http_requests_total",
                {"service": service, "method": method, "code": code},
                cnt,
                initial=0.0 if fresh else float(np.floor(np.mean(lam[:30]) / STEP * up)),
                lazy=fresh,
            )
        return total

    def latency(
        self,
        service: str,
        counts: np.ndarray,
        comps: list[tuple[Any, Any, Any]],
        buckets: tuple[float, ...] = STD,
    ) -> None:
        """``http_request_duration_seconds`` histogram for a service."""
        self.histogram(
            "http_request_duration_seconds",
            {"service": service},
            counts,
            comps,
            buckets,
            initial_count=float(np.mean(counts[:30])) / STEP * self.uptime(3, 30),
        )

    def pod(
        self,
        namespace: str,
        pod: str,
        container: str,
        node: str,
        *,
        cpu: np.ndarray,
        mem: np.ndarray,
        cpu_limit: float | None = None,
        mem_limit: float | None = None,
        throttle: bool = False,
        restarts: list[int] | None = None,
        oom: bool = False,
        alive: np.ndarray | None = None,
        running: np.ndarray | None = None,
        info: bool = False,
        ksm: bool = True,
        restarts_before: int = 0,
        memory: bool = True,
        restart_series: bool = False,
    ) -> None:
        """cAdvisor + kube-state-metrics series for one single-container pod.

        ``cpu`` is demand in cores (clipped to the limit); ``alive`` masks when the pod
        exists, ``running`` when its container runs (cAdvisor series); ``restarts`` are
        indexes where the container restarted (CPU counter resets, restart counter
        increments, OOMKilled reason when ``oom``).
        """
        restarts = restarts or []
        pod_live = np.ones(self.n, dtype=bool) if alive is None else alive.astype(bool)
        live = pod_live if running is None else pod_live & running.astype(bool)
        born_here = not pod_live[0]
        demand = np.maximum(np.asarray(cpu, dtype=float), 0.001)
        cap = cpu_limit * self.rng.uniform(0.93, 0.99, self.n) if cpu_limit else None
        used = np.minimum(demand, cap) if cap is not None else demand
        c = {"namespace": namespace, "pod": pod, "container": container}
        init_cpu = 0.0 if born_here else float(used[:30].mean()) * self.uptime(0.5, 12)
        first = int(np.argmax(pod_live)) if born_here else 0
        cpu_resets = [*restarts] + ([first] if born_here else [])
        self.counter(
            "container_cpu_usage_seconds_total",
            dict(c),
            used * STEP,
            initial=init_cpu,
            resets=cpu_resets,
            present=live,
            fmt="f2",
        )
        if throttle and cpu_limit:
            u = demand / cpu_limit
            runnable = np.clip(0.35 + 0.8 * u, 0, 1)
            periods = 600 * runnable * self.noise(0.03)
            ratio = 0.015 + 0.9 * np.clip((u - 0.7) / 0.35, 0, 1) ** 1.5
            ratio = np.clip(ratio * self.noise(0.08), 0, 0.97)
            upt = self.uptime(0.5, 12)
            self.counter(
                "container_cpu_cfs_periods_total",
                dict(c),
                periods,
                initial=0 if born_here else float(periods[:30].mean()) * upt / STEP,
                resets=cpu_resets,
                present=live,
            )
            self.counter(
                "container_cpu_cfs_throttled_periods_total",
                dict(c),
                periods * ratio,
                initial=0 if born_here else float((periods * ratio)[:30].mean()) * upt / STEP,
                resets=cpu_resets,
                present=live,
            )
        if memory:
            m = np.asarray(mem, dtype=float).copy()
            m[~live] = np.nan
            self.gauge("container_memory_working_set_bytes", dict(c), np.floor(m), fmt="int")
        lv = np.where(pod_live, 1.0, np.nan)
        if ksm:
            if cpu_limit:
                self.gauge(
                    "kube_pod_container_resource_limits",
                    {**c, "resource": "cpu", "unit": "core"},
                    cpu_limit * lv,
                )
            if mem_limit:
                self.gauge(
                    "kube_pod_container_resource_limits",
                    {**c, "resource": "memory", "unit": "byte"},
                    mem_limit * lv,
                    fmt="int",
                )
        if ksm and (restarts or restarts_before or restart_series):
            inc = np.zeros(self.n)
            for r in restarts:
                inc[r] += 1
            self.counter(
                "kube_pod_container_status_restarts_total",
                dict(c),
                inc,
                initial=float(restarts_before),
                present=pod_live,
            )
            if oom and restarts:
                seen = np.where(self.i >= restarts[0], 1.0, np.nan) * lv
                self.gauge(
                    "kube_pod_container_status_last_terminated_reason",
                    {**c, "reason": "OOMKilled"},
                    seen,
                )
        if info:
            self.gauge("kube_pod_info", {"namespace": namespace, "pod": pod, "node": node}, lv)

    def replicas(self, namespace: str, deployment: str, values: Any) -> None:
        """kube_deployment_status_replicas_available."""
        self.gauge(
            "kube_deployment_status_replicas_available",
            {"namespace": namespace, "deployment": deployment},
            np.round(np.asarray(values, dtype=float)),
        )

    def node_cpu(
        self,
        node: str,
        ncpu: int,
        busy: np.ndarray,
        iowait: float = 0.004,
        modes: tuple[str, ...] = ("idle", "iowait", "system", "user"),
    ) -> None:
        """node_cpu_seconds_total{cpu, mode} for idle/iowait/system/user from busy share."""
        up = self.uptime(5, 60)
        for cpu in range(ncpu):
            b = np.clip(busy * self.noise(0.04), 0.01, 0.995)
            io = np.full(self.n, iowait) * self.noise(0.2)
            shares = {
                "idle": np.clip(1 - b - io, 0.002, 1),
                "iowait": io,
                "system": 0.22 * b,
                "user": 0.78 * b,
            }
            for mode, s in shares.items():
                if mode not in modes:
                    continue
                self.counter(
                    "node_cpu_seconds_total",
                    {"instance": node, "cpu": str(cpu), "mode": mode},
                    s * STEP,
                    initial=float(s[:30].mean()) * up,
                    fmt="f2",
                )

    def node_memory(self, node: str, total: float, available: np.ndarray) -> None:
        """node_memory_MemTotal_bytes / MemAvailable_bytes."""
        self.gauge("node_memory_MemTotal_bytes", {"instance": node}, total, fmt="int")
        self.gauge(
            "node_memory_MemAvailable_bytes", {"instance": node}, np.floor(available), fmt="int"
        )

    def filesystem(
        self, node: str, device: str, mountpoint: str, fstype: str, size: float, avail: Any
    ) -> None:
        """node_filesystem_size_bytes / avail_bytes."""
        lab = {"instance": node, "device": device, "fstype": fstype, "mountpoint": mountpoint}
        self.gauge("node_filesystem_size_bytes", lab, size, fmt="int")
        a = np.clip(np.asarray(avail, dtype=float), 0, size)
        self.gauge("node_filesystem_avail_bytes", dict(lab), np.floor(a / 4096) * 4096, fmt="int")

    def network(
        self,
        node: str,
        device: str,
        rx_errs_s: np.ndarray,
        tx_drop_s: np.ndarray,
        retrans_s: np.ndarray,
    ) -> None:
        """node_network_receive_errs_total, node_network_transmit_drop_total, RetransSegs."""
        lab = {"instance": node, "device": device}
        up = self.uptime(5, 60)
        for name, r in (
            ("node_network_receive_errs_total", rx_errs_s),
            ("node_network_transmit_drop_total", tx_drop_s),
        ):
            cnt = self.rng.poisson(np.maximum(r, 0) * STEP).astype(float)
            self.counter(name, dict(lab), cnt, initial=float(np.floor(r[:30].mean() * up * 0.3)))
        cnt = self.rng.poisson(np.maximum(retrans_s, 0) * STEP).astype(float)
        self.counter(
            "node_netstat_Tcp_RetransSegs",
            {"instance": node},
            cnt,
            initial=float(np.floor(retrans_s[:30].mean() * up)),
            typ="unknown",
        )

    def probe(
        self,
        target: str,
        module: str,
        success: np.ndarray,
        duration: np.ndarray,
        cert_expiry: Any = None,
    ) -> None:
        """blackbox_exporter probe_success / probe_duration_seconds / cert expiry."""
        lab = {"instance": target, "job": "blackbox", "module": module}
        self.gauge("probe_success", lab, np.round(success))
        self.gauge("probe_duration_seconds", dict(lab), np.round(duration, 4))
        if cert_expiry is not None:
            self.gauge("probe_ssl_earliest_cert_expiry", dict(lab), cert_expiry, fmt="int")

    def postgres(self, instance: str, max_conn: int, per_db: dict[str, dict[str, Any]]) -> None:
        """pg_settings_max_connections and pg_stat_activity_count{datname, state}."""
        self.gauge("pg_settings_max_connections", {"instance": instance}, max_conn)
        for datname, states in per_db.items():
            for state, v in states.items():
                self.gauge(
                    "pg_stat_activity_count",
                    {"instance": instance, "datname": datname, "state": state},
                    np.round(np.asarray(v, dtype=float)),
                )

    def leak(
        self,
        base: float,
        start: int,
        rate: float,
        limit: float,
        cold: float,
        warm: float = 0.0,
        warm_min: int = 8,
    ) -> tuple[np.ndarray, list[int]]:
        """Working set that grows by ``rate`` bytes/min from ``start``; OOM at ``limit``.

        After each OOM kill the container restarts at ``cold``, refills ``warm`` bytes
        over ``warm_min`` minutes, then keeps leaking. Returns (bytes, restart indexes).
        """
        out = np.empty(self.n)
        restarts: list[int] = []
        level = base
        since = 10**9
        jitter = self.noise(0.01, 0.5)
        for k in range(self.n):
            if k >= start:
                level += rate * float(self.rng.uniform(0.7, 1.3))
                if since < warm_min:
                    level += warm / warm_min
                since += 1
            if level >= limit:
                restarts.append(k)
                level = cold
                since = 0
            out[k] = min(level * jitter[k], limit * 0.998)
        return out, restarts

    # ------------------------------------------------------- events
    def alert(
        self,
        name: str,
        severity: str,
        labels: dict[str, str],
        summary: str,
        description: str,
        starts: datetime,
        *,
        ends: datetime | None = None,
        expr: str = "",
        group_by: tuple[str, ...] = ("alertname",),
    ) -> None:
        """An Alertmanager alert (grouped into webhook payloads by ``group_by``)."""
        all_labels = {"alertname": name, "severity": severity, **labels}
        gen = "http://prometheus-k8s-0:9090/graph"
        if expr:
            gen += f"?g0.expr={quote(expr, safe='')}&g0.tab=1"
        a = {
            "status": "resolved" if ends is not None else "firing",
            "labels": all_labels,
            "annotations": {
                "summary": summary,
                "description": description,
                "runbook_url": f"https://runbooks.example.com/alerts/{name.lower()}",
            },
            "startsAt": rfc(starts),
            "endsAt": rfc(ends) if ends is not None else NEVER,
            "generatorURL": gen,
            "fingerprint": hashlib.sha256(
                json.dumps(all_labels, sort_keys=True).encode()
            ).hexdigest()[:16],
        }
        key = tuple(f"{k}={all_labels.get(k, '')}" for k in group_by)
        self.alerts.append((key, a))

    def change(
        self,
        cid: str,
        summary: str,
        service: str,
        source: str,
        at: datetime,
        **details: Any,
    ) -> None:
        """A change event (deploy, config, feature_flag, scale; ``kind`` in details)."""
        self.changes.append(
            {
                "id": cid,
                "summary": summary,
                "service": service,
                "source": source,
                "timestamp": rfc(at),
                "custom_details": details,
            }
        )

    def incident(
        self,
        iid: str,
        number: int,
        title: str,
        service: str,
        created: datetime,
        assignee: str,
        *,
        urgency: str = "high",
        status: str = "triggered",
        policy: str | None = None,
    ) -> None:
        """A PagerDuty REST v2 incident."""
        sid = "P" + hashlib.sha1(service.encode()).hexdigest()[:6].upper()
        uid = "P" + hashlib.sha1(assignee.encode()).hexdigest()[:6].upper()
        self.incidents.append(
            {
                "id": iid,
                "type": "incident",
                "summary": f"[#{number}] {title}",
                "incident_number": number,
                "title": title,
                "status": status,
                "urgency": urgency,
                "created_at": rfc(created),
                "service": {"id": sid, "type": "service_reference", "summary": service},
                "escalation_policy": {
                    "id": "E" + sid[1:],
                    "type": "escalation_policy_reference",
                    "summary": policy or f"{service} on-call",
                },
                "assignments": [
                    {
                        "at": rfc(created),
                        "assignee": {"id": uid, "type": "user_reference", "summary": assignee},
                    }
                ],
                "incident_key": hashlib.sha1(f"{iid}{title}".encode()).hexdigest()[:32],
                "html_url": f"https://example.pagerduty.com/incidents/{iid}",
            }
        )

    def oncall(self, policy: str, user: str, level: int = 1, schedule: str | None = None) -> None:
        """A PagerDuty REST v2 on-call entry covering the window."""
        uid = "P" + hashlib.sha1(user.encode()).hexdigest()[:6].upper()
        pid = "P" + hashlib.sha1(policy.encode()).hexdigest()[:6].upper()
        entry: dict[str, Any] = {
            "escalation_policy": {"id": pid, "summary": policy},
            "escalation_level": level,
            "user": {"id": uid, "summary": user},
            "start": rfc(self.start - timedelta(days=2)),
            "end": rfc(self.start + timedelta(days=5)),
        }
        if schedule:
            entry["schedule"] = {"id": "S" + pid[1:], "summary": schedule}
        self.oncalls.append(entry)

    # ------------------------------------------------------- output
    def _fmt(self, v: float, fmt: str) -> str:
        if fmt == "int":
            return str(int(v))
        if fmt == "f2":
            return f"{v:.2f}"
        return f"{v:.6g}"

    @staticmethod
    def _lab(labels: dict[str, str]) -> str:
        return ",".join(f'{k}="{v}"' for k, v in labels.items())

    def render_metrics(self) -> str:
        """OpenMetrics text with explicit unix-second timestamps."""
        out: list[str] = []
        for fam, f in self.families.items():
            out.append(f"# TYPE {fam} {f.type}")
            for k in range(self.n):
                ts = int(self.ts[k])
                for e in f.entries:
                    if isinstance(e, _Hist):
                        lab = self._lab(e.labels)
                        les = (*e.buckets, math.inf)
                        for j, le in enumerate(les):
                            out.append(
                                f'{fam}_bucket{{{lab},le="{_le(le)}"}} {int(e.cum[j][k])} {ts}'
                            )
                        out.append(f"{fam}_sum{{{lab}}} {e.total_sum[k]:.3f} {ts}")
                        out.append(f"{fam}_count{{{lab}}} {int(e.cum[-1][k])} {ts}")
                        continue
                    v = e.values[k]
                    if np.isnan(v):
                        continue
                    out.append(f"{e.sample}{{{self._lab(e.labels)}}} {self._fmt(v, e.fmt)} {ts}")
        out.append("# EOF")
        return "\n".join(out) + "\n"

    def payloads(self) -> list[dict[str, Any]]:
        """Alertmanager webhook payloads (version 4), one per alert group."""
        groups: dict[tuple[str, ...], list[dict[str, Any]]] = {}
        for key, a in self.alerts:
            groups.setdefault(key, []).append(a)
        result = []
        for key, alerts in groups.items():
            group_labels = dict(kv.split("=", 1) for kv in key)
            common = dict(alerts[0]["labels"])
            common_ann = dict(alerts[0]["annotations"])
            for a in alerts[1:]:
                common = {k: v for k, v in common.items() if a["labels"].get(k) == v}
                common_ann = {k: v for k, v in common_ann.items() if a["annotations"].get(k) == v}
            firing = any(a["status"] == "firing" for a in alerts)
            gk = ",".join(f'{k}="{v}"' for k, v in group_labels.items())
            result.append(
                {
                    "version": "4",
                    "groupKey": f"{{}}:{{{gk}}}",
                    "truncatedAlerts": 0,
                    "status": "firing" if firing else "resolved",
                    "receiver": "sre-copilot",
                    "groupLabels": group_labels,
                    "commonLabels": common,
                    "commonAnnotations": common_ann,
                    "externalURL": "http://alertmanager-main:9093",
                    "alerts": alerts,
                }
            )
        return result

    def write(self, root: Path) -> Path:
        """Write the scenario directory under root."""
        d = root / self.name
        d.mkdir(parents=True, exist_ok=True)
        for stale in ("pagerduty.json", "changes.json"):
            (d / stale).unlink(missing_ok=True)
        m = self.meta
        desc = "\n".join("  " + line for line in _wrap(m["description"], 86))
        (d / "scenario.yaml").write_text(
            f"name: {self.name}\n"
            f"description: >-\n{desc}\n"
            f"question: {json.dumps(m['question'], ensure_ascii=False)}\n"
            f"start: {rfc(self.start)}\n"
            f"end: {rfc(self.end)}\n"
            f"truth:\n  service: {m['service']}\n  fault: {m['fault']}\n",
            encoding="utf-8",
        )
        (d / "metrics.om").write_text(self.render_metrics(), encoding="utf-8")
        (d / "alerts.json").write_text(
            json.dumps(self.payloads(), indent=2) + "\n", encoding="utf-8"
        )
        if self.incidents or self.oncalls:
            (d / "pagerduty.json").write_text(
                json.dumps({"incidents": self.incidents, "oncalls": self.oncalls}, indent=2) + "\n",
                encoding="utf-8",
            )
        if self.changes:
            self.changes.sort(key=lambda c: c["timestamp"])
            (d / "changes.json").write_text(
                json.dumps(self.changes, indent=2) + "\n", encoding="utf-8"
            )
        return d


def _wrap(text: str, width: int) -> list[str]:
    words = text.split()
    lines: list[str] = []
    cur = ""
    for w in words:
        if cur and len(cur) + 1 + len(w) > width:
            lines.append(cur)
            cur = w
        else:
            cur = f"{cur} {w}" if cur else w
    if cur:
        lines.append(cur)
    return lines


# =============================================================================== helpers
def traffic(b: Builder, base: float, amp: float, peak: float, sd: float = 0.04) -> np.ndarray:
    """Requests/second with daily seasonality and correlated noise."""
    return base * b.season(amp, peak) * b.noise(sd)


def healthy(
    b: Builder,
    svc: str,
    ns: str,
    nodes: list[str],
    rps: np.ndarray,
    *,
    pods: int = 2,
    method: str = "GET",
    err: float = 0.0008,
    cpu_cost: float = 0.004,
    mem: float | None = None,
    hist: tuple[float, float, tuple[float, ...]] | None = None,
    info: bool = False,
    container: str | None = None,
) -> list[str]:
    """A healthy baseline service: http counters, optional histogram, per-pod cpu (+memory)."""
    names = b.pod_names(svc, pods)
    counts = b.http(svc, {(method, "200"): rps * (1 - err), (method, "500"): rps * err})
    if hist:
        b.latency(svc, counts, [(1.0, hist[0] * b.noise(0.03), hist[1])], hist[2])
    for k, p in enumerate(names):
        b.pod(
            ns,
            p,
            container or svc,
            nodes[k % len(nodes)],
            cpu=(0.03 + cpu_cost * rps / pods) * b.noise(0.06),
            mem=(mem or 0) * (1 + 0.04 * k) * b.noise(0.01, 0.97),
            memory=mem is not None,
            ksm=False,
            info=info,
        )
    return names


def split(
    rps: np.ndarray, methods: dict[str, float], errors: dict[str, Any]
) -> dict[tuple[str, str], np.ndarray]:
    """Split a request rate over methods; ``errors`` maps code -> ratio for every method."""
    out: dict[tuple[str, str], np.ndarray] = {}
    bad = sum(np.asarray(v, dtype=float) for v in errors.values())
    for m, share in methods.items():
        out[(m, "200")] = rps * share * (1 - bad)
        for code, ratio in errors.items():
            out[(m, code)] = rps * share * np.asarray(ratio, dtype=float)
    return out


def pressure_of(demand: np.ndarray, limit: float, knee: float = 0.8) -> np.ndarray:
    """Queueing pressure once CPU demand nears the limit (0 below the knee)."""
    return np.clip((demand / limit - knee) / 0.5, 0, 1.6)


# =============================================================================== scenarios
def payments_cpu_throttling() -> Builder:
    """Cpu: payments pinned at its CPU limit, CFS throttling drives latency."""
    b = Builder("payments-cpu-throttling", "2026-01-14T08:00", 4, seed=1101)
    onset = b.at("10:07")
    nodes = [
        "ip-10-0-12-34.ec2.internal",
        "ip-10-0-14-201.ec2.internal",
        "ip-10-0-9-77.ec2.internal",
    ]
    rps = traffic(b, 140, 0.25, 13)
    cost = 1 + 2.1 * b.step(onset, 3)
    limit = 1.0
    demand = (0.1 + 0.0078 * rps / 3 * cost) * b.noise(0.03)
    pressure = pressure_of(demand, limit)
    rates = split(rps, {"POST": 0.7, "GET": 0.3}, {"503": 0.03 * pressure**1.5})
    counts = b.http("payments", rates, new=("503",))
    sigma = 0.55 + 0.25 * np.minimum(pressure, 1)
    b.latency("payments", counts, [(1.0, 0.045 * (1 + 7 * pressure), sigma)], STD)
    for k, p in enumerate(b.pod_names("payments", 3)):
        b.pod(
            "payments",
            p,
            "payments",
            nodes[k],
            cpu=demand * (1 + 0.05 * (k - 1)) * b.noise(0.04),
            mem=0,
            memory=False,
            cpu_limit=limit,
            throttle=True,
        )
    healthy(b, "ledger", "payments", nodes[1:], traffic(b, 60, 0.25, 13), method="POST")
    healthy(b, "fraud-check", "risk", nodes, traffic(b, 95, 0.2, 14), method="POST")
    b.change(
        "FF-0412",
        "fraud-check rules_engine_v7 rollout 0% -> 25%",
        "fraud-check",
        "launchdarkly",
        b.when("08:40"),
        kind="feature_flag",
        flag="rules_engine_v7",
        rollout="25%",
        previous="0%",
        author="a.brandt",
    )
    b.alert(
        "PaymentsLatencyHigh",
        "critical",
        {"service": "payments", "namespace": "payments", "team": "payments"},
        "payments p99 latency is 2.4s (SLO 500ms).",
        "99th percentile of http_request_duration_seconds for payments above 0.5s for 5 minutes.",
        b.when(onset + 9),
        expr="histogram_quantile(0.99, sum by (le) (rate(http_request_duration_seconds_bucket"
        '{service="payments"}[5m]))) > 0.5',
        group_by=("service",),
    )
    for p in b.pods_of("container_cpu_cfs_periods"):
        b.alert(
            "CPUThrottlingHigh",
            "info",
            {"namespace": "payments", "pod": p, "container": "payments"},
            "Processes experience elevated CPU throttling.",
            f"71% throttling of CPU in namespace payments for container payments in pod {p}.",
            b.when(onset + 17),
            expr="sum(increase(container_cpu_cfs_throttled_periods_total[5m])) by (container, "
            "pod, namespace) / sum(increase(container_cpu_cfs_periods_total[5m])) by "
            "(container, pod, namespace) > 0.25",
        )
    b.alert(
        "KubeJobFailed",
        "warning",
        {"namespace": "data", "job_name": "nightly-export-29470080"},
        "Job failed to complete.",
        "Job data/nightly-export-29470080 failed to complete. Removing failed job after "
        "investigation should clear this alert.",
        b.when("08:31"),
    )
    b.incident(
        "QPAYC1T8HX",
        1204,
        "PaymentsLatencyHigh: payments p99",
        "payments",
        b.when(onset + 10),
        "Dana Levi",
    )
    b.oncall("Payments", "Dana Levi", schedule="Payments primary")
    b.meta = {
        "question": "why is payments slow?",
        "service": "payments",
        "fault": "cpu",
        "description": "From 10:07 a mix of expensive multi-currency refund requests triples the "
        "CPU cost per request; the payments pods sit at their 1-core limit, CFS throttling "
        "jumps from ~2% to >70% of periods, and p99 latency climbs from ~0.2 s to >2 s with "
        "some 503s. Request rate is flat. A fraud-check feature-flag rollout at 08:40 and a "
        "failed nightly export job are unrelated.",
    }
    return b


def rollout(
    b: Builder, svc: str, nodes: list[str], count: int, at: int, spacing: int = 2
) -> tuple[list[tuple[str, str, np.ndarray, bool]], np.ndarray, np.ndarray]:
    """A rolling update (maxSurge 1): new pod k starts at at+spacing*k, old pod k stops 1 min later.

    Returns ([(pod, node, alive mask, is_new)], share of ready pods that are new, available).
    """
    old = b.pod_names(svc, count)
    new = b.pod_names(svc, count)
    pods = []
    share = np.zeros(b.n)
    avail = np.full(b.n, float(count))
    for k in range(count):
        up = at + spacing * k
        pods.append((old[k], nodes[k % len(nodes)], b.window(0, up + 1), False))
        pods.append((new[k], nodes[(k + 1) % len(nodes)], b.window(up, None), True))
        share += b.window(up + 1, None) / count
        avail += b.window(up, up + 1)  # surge pod ready before the old one stops
    return pods, share, avail


def search_oomkilled() -> Builder:
    """Memory: the search index outgrows the 3 GiB limit; pods are OOMKilled in turn."""
    b = Builder("search-oomkilled", "2026-02-03T13:00", 4, seed=2202)
    nodes = [
        "gke-prod-search-pool-8c1d2e4f-q7vx",
        "gke-prod-search-pool-8c1d2e4f-w2kd",
        "gke-prod-search-pool-8c1d2e4f-zz81",
    ]
    limit = 3 * GIB
    rps = traffic(b, 320, 0.3, 15)
    down = np.zeros(b.n)
    cold = np.zeros(b.n)
    avail = np.full(b.n, 3.0)
    first_oom: list[tuple[str, int]] = []
    for k, p in enumerate(b.pod_names("search", 3)):
        mem, rs = b.leak(
            (1.72 + 0.09 * k) * GIB,
            b.at("13:35") + 4 * k,
            (17 + 4 * k) * MIB,
            limit,
            cold=1.05 * GIB,
            warm=0.55 * GIB,
            warm_min=6,
        )
        cpu = (0.25 + 0.0035 * rps / 3) * b.noise(0.05)
        for r in rs:
            down[r] += 0.85 / 3
            if r + 1 < b.n:
                down[r + 1] += 0.3 / 3
                avail[r : r + 2] -= 1
            cold[r : r + 8] += 1 / 3
            cpu[r : r + 6] *= 1.7
        first_oom.append((p, rs[0]))
        node_total = 32 * GIB
        used = (9.5 + 1.3 * k) * GIB * b.noise(0.01, 0.95) + mem
        b.node_memory(nodes[k], node_total, node_total - used)
        b.pod(
            "search",
            p,
            "search",
            nodes[k],
            cpu=cpu,
            mem=mem,
            mem_limit=limit,
            restarts=rs,
            oom=True,
            restarts_before=int(b.rng.integers(0, 2)),
        )
    counts = b.http(
        "search", split(rps, {"GET": 1.0}, {"503": np.clip(down, 0, 0.9)}), new=("503",)
    )
    cold = np.clip(cold, 0, 1)
    b.latency("search", counts, [(1 - cold, 0.035, 0.5), (cold, 0.2, 0.7)], FAST)
    b.replicas("search", "search", np.maximum(avail, 0))
    healthy(b, "autocomplete", "search", nodes, traffic(b, 520, 0.3, 15), cpu_cost=0.0011)
    healthy(b, "catalog", "catalog", nodes, traffic(b, 410, 0.3, 15), pods=0)
    for p, r in first_oom:
        b.alert(
            "KubeContainerOOMKilled",
            "warning",
            {"namespace": "search", "pod": p, "container": "search", "cluster": "gke-prod-eu"},
            f"Container search in pod search/{p} was OOMKilled.",
            f"Container search in pod search/{p} has been OOMKilled "
            "(kube_pod_container_status_last_terminated_reason) and restarted.",
            b.when(r, 45),
            expr='kube_pod_container_status_last_terminated_reason{reason="OOMKilled"} == 1',
        )
    burn = b.when(sorted(r for _, r in first_oom)[1], 120)
    b.alert(
        "SearchErrorBudgetBurn",
        "critical",
        {
            "service": "search",
            "namespace": "search",
            "slo": "search-availability",
            "cluster": "gke-prod-eu",
        },
        "search is burning its 99.9% availability error budget 14x too fast.",
        "search 5xx ratio over the last 1h is 1.4% (budget 0.1%); mostly 503.",
        burn,
        expr='sum(rate(http_requests_total{service="search",code=~"5.."}[1h])) / '
        'sum(rate(http_requests_total{service="search"}[1h])) > 14.4 * 0.001',
    )
    b.alert(
        "NodeClockNotSynchronising",
        "warning",
        {
            "instance": "gke-prod-default-pool-1a2b3c4d-9f0g",
            "job": "node-exporter",
            "cluster": "gke-prod-eu",
        },
        "Clock not synchronising.",
        "Clock on gke-prod-default-pool-1a2b3c4d-9f0g is not synchronising. Ensure NTP "
        "is configured.",
        b.when("12:10"),
        expr="min_over_time(node_timex_sync_status[5m]) == 0",
    )
    b.incident(
        "Q1SRCH7F2K",
        8811,
        "SearchErrorBudgetBurn: search availability",
        "search",
        burn + timedelta(minutes=1),
        "Priya Natarajan",
    )
    b.oncall("Search Platform", "Priya Natarajan", schedule="Search primary")
    b.oncall("Search Platform", "Tomás Ferreira", level=2, schedule="Search secondary")
    b.meta = {
        "question": "what's going on with the search errors?",
        "service": "search",
        "fault": "memory",
        "description": "A larger index segment set loaded from 13:35 makes each search pod's "
        "working set grow towards its 3 GiB memory limit; from ~14:30 the pods are OOMKilled "
        "in turn (restart counters climb, last terminated reason OOMKilled), each kill drops "
        "a replica and produces a burst of 503s plus slow cold-cache requests. No deploy, "
        "flat traffic. A clock-sync alert on another node is noise.",
    }
    return b


def billing_disk_full() -> Builder:
    """Disk: the /data volume billing writes invoices to fills up on two nodes in turn."""
    b = Builder("billing-disk-full", "2026-02-21T02:00", 4, seed=3303)
    nodes = ["k8s-worker-12", "k8s-worker-15"]
    get = traffic(b, 30, 0.3, 3)
    post = traffic(b, 18, 0.35, 3)
    size = 200 * GIB
    full_at = [b.at("03:52"), b.at("05:05")]
    fail = np.zeros(b.n)
    for k, node in enumerate(nodes):
        written = np.cumsum(post / 2 * STEP * 350e3 * b.noise(0.05))
        avail = written[full_at[k]] - written
        avail = np.where(avail > 0, avail, b.rng.uniform(0, 6 * MIB, b.n))
        b.filesystem(node, "/dev/sdb1", "/data", "xfs", size, avail)
        fail += 0.5 * (avail < 64 * MIB)
        for threshold, sev, name, lag in (
            (0.05, "warning", "NodeFilesystemAlmostOutOfSpace", 30),
            (0.03, "critical", "NodeFilesystemAlmostOutOfSpace", 30),
        ):
            hit = np.nonzero(avail < threshold * size)[0]
            if len(hit) and hit[0] + lag < b.n:
                left = int(threshold * 100)
                b.alert(
                    name,
                    sev,
                    {
                        "instance": node,
                        "device": "/dev/sdb1",
                        "mountpoint": "/data",
                        "fstype": "xfs",
                        "job": "node-exporter",
                    },
                    f"Filesystem has less than {left}% space left.",
                    f"Filesystem on /dev/sdb1, mounted on /data, at {node} has less than "
                    f"{left}% available space left.",
                    b.when(int(hit[0]) + lag),
                    expr='(node_filesystem_avail_bytes{mountpoint="/data"} / '
                    f"node_filesystem_size_bytes * 100 < {left})",
                )
    b.filesystem(nodes[0], "/dev/sda2", "/", "ext4", 100 * GIB, 61.3 * GIB * b.noise(0.002, 0.99))
    fail = np.clip(fail, 0, 0.995)
    rates = {
        ("GET", "200"): get * 0.9994,
        ("GET", "500"): get * 0.0006,
        ("POST", "200"): post * (1 - 0.001 - fail),
        ("POST", "500"): post * (0.001 + fail),
    }
    counts = b.http("billing", rates)
    share_fail = post * fail / (get + post)
    share_post = post * (1 - fail) / (get + post)
    b.latency(
        "billing",
        counts,
        [
            (1 - share_fail - share_post, 0.04, 0.5),
            (share_post, 0.21, 0.45),
            (share_fail, 0.009, 0.4),
        ],
        SLOW,
    )
    for k, p in enumerate(b.pod_names("billing", 2)):
        b.pod(
            "billing",
            p,
            "billing",
            nodes[k],
            cpu=(0.05 + 0.01 * (get + post) / 2) * b.noise(0.05),
            mem=0,
            memory=False,
            ksm=False,
            info=True,
        )
    healthy(b, "users", "identity", nodes, traffic(b, 140, 0.3, 8), cpu_cost=0.002)
    b.alert(
        "NodeFilesystemSpaceFillingUp",
        "warning",
        {
            "instance": nodes[0],
            "device": "/dev/sdb1",
            "mountpoint": "/data",
            "fstype": "xfs",
            "job": "node-exporter",
        },
        "Filesystem is predicted to run out of space within the next 24 hours.",
        f"Filesystem on /dev/sdb1, mounted on /data, at {nodes[0]} has only 11.80% available "
        "space left and is filling up.",
        b.when(datetime(2026, 2, 20, 21, 14, tzinfo=UTC)),
        expr='predict_linear(node_filesystem_avail_bytes{mountpoint="/data"}[6h], 24*60*60) < 0',
    )
    b.alert(
        "NodeFilesystemSpaceFillingUp",
        "critical",
        {
            "instance": nodes[0],
            "device": "/dev/sdb1",
            "mountpoint": "/data",
            "fstype": "xfs",
            "job": "node-exporter",
        },
        "Filesystem is predicted to run out of space within the next 4 hours.",
        f"Filesystem on /dev/sdb1, mounted on /data, at {nodes[0]} has only 9.20% available "
        "space left and is filling up fast.",
        b.when(datetime(2026, 2, 21, 0, 47, tzinfo=UTC)),
        expr='predict_linear(node_filesystem_avail_bytes{mountpoint="/data"}[6h], 4*60*60) < 0',
    )
    b.alert(
        "NodeFilesystemSpaceFillingUp",
        "warning",
        {
            "instance": nodes[1],
            "device": "/dev/sdb1",
            "mountpoint": "/data",
            "fstype": "xfs",
            "job": "node-exporter",
        },
        "Filesystem is predicted to run out of space within the next 24 hours.",
        f"Filesystem on /dev/sdb1, mounted on /data, at {nodes[1]} has only 17.05% available "
        "space left and is filling up.",
        b.when(datetime(2026, 2, 21, 1, 12, tzinfo=UTC)),
        expr='predict_linear(node_filesystem_avail_bytes{mountpoint="/data"}[6h], 24*60*60) < 0',
    )
    err_at = b.when("03:57")
    b.alert(
        "BillingHighErrorRate",
        "critical",
        {"service": "billing", "namespace": "billing", "team": "billing"},
        "billing 5xx ratio is 19% (threshold 5%).",
        "POST /v1/invoices is failing with 500; GET endpoints are healthy.",
        err_at,
        expr='sum(rate(http_requests_total{service="billing",code=~"5.."}[5m])) / '
        'sum(rate(http_requests_total{service="billing"}[5m])) > 0.05',
        group_by=("service",),
    )
    b.alert(
        "KubeCPUOvercommit",
        "warning",
        {"cluster": "dc1-prod"},
        "Cluster has overcommitted CPU resource requests.",
        "Cluster has overcommitted CPU resource requests for Pods by 2.3 CPU shares and cannot "
        "tolerate node failure.",
        datetime(2026, 2, 17, 9, 3, tzinfo=UTC),
    )
    b.incident(
        "Q3BILL91XA",
        5120,
        "BillingHighErrorRate: invoice creation failing",
        "billing",
        err_at + timedelta(minutes=1),
        "Marta Kowalski",
    )
    b.oncall("Billing", "Marta Kowalski", schedule="Billing follow-the-sun")
    b.meta = {
        "question": "billing can't create invoices — what's wrong?",
        "service": "billing",
        "fault": "disk",
        "description": "billing writes invoice PDFs to a hostPath /data volume; the "
        "nightly invoice "
        "run fills /data on k8s-worker-12 at 03:52 and on k8s-worker-15 at 05:05. POSTs "
        "served by a pod on a full node fail with 500 (half of them, then all); GETs are fine. "
        "Filesystem alerts had been warning for hours; a cluster CPU overcommit warning is noise.",
    }
    return b


def auth_idp_latency() -> Builder:
    """Latency: the external identity provider slows down; no saturation, deploy or surge."""
    b = Builder("auth-idp-latency", "2026-03-09T06:00", 4, seed=4404)
    nodes = [
        "ip-10-2-33-71.ec2.internal",
        "ip-10-2-40-12.ec2.internal",
        "ip-10-2-51-190.ec2.internal",
    ]
    onset = b.at("07:35")
    slow = b.step(onset, 2) * (1 - 0.35 * b.step(b.at("09:10"), 6))
    idp = (0.11 + 1.35 * slow) * b.noise(0.12)
    tail = np.clip(slow * 0.05 * b.noise(0.3), 0, 0.2)
    failed = b.rng.random(b.n) < tail
    target = "https://sso.partner-idp.com/.well-known/openid-configuration"
    b.probe(target, "http_2xx", np.where(failed, 0, 1), np.where(failed, 5.0, idp))
    b.probe(
        "https://smtp-relay.mailer.example/health", "http_2xx", np.ones(b.n), 0.085 * b.noise(0.08)
    )
    rps = traffic(b, 90, 0.45, 8)
    timeout = np.clip(0.8 * tail + 0.002 * slow, 0, 0.3)
    rates = {
        ("POST", "200"): 0.6 * rps * (1 - timeout),
        ("POST", "504"): 0.6 * rps * timeout,
        ("GET", "200"): 0.4 * rps,
    }
    counts = b.http("auth", rates, new=("504",))
    b.latency(
        "auth",
        counts,
        [(0.4, 0.018, 0.5), (0.6 * (1 - timeout), 0.03 + idp, 0.45), (0.6 * timeout, 3.0, 0.01)],
        SLOW,
    )
    for k, p in enumerate(b.pod_names("auth", 2)):
        b.pod(
            "identity",
            p,
            "auth",
            nodes[k],
            cpu=(0.06 + 0.004 * rps / 2) * (1 - 0.1 * slow) * b.noise(0.05),
            mem=0,
            memory=False,
            cpu_limit=2.0,
            throttle=True,
        )
    healthy(b, "users", "identity", nodes, traffic(b, 150, 0.4, 9), cpu_cost=0.002)
    healthy(b, "profile", "identity", nodes, traffic(b, 60, 0.4, 9), pods=0)
    b.alert(
        "BlackboxProbeSlowHttp",
        "warning",
        {"instance": target, "job": "blackbox", "module": "http_2xx"},
        "Blackbox probe slow HTTP.",
        f"HTTP request to {target} took more than 1s (current 1.47s).",
        b.when(onset + 7),
        expr="avg_over_time(probe_duration_seconds[5m]) > 1",
    )
    b.alert(
        "AuthLatencyHigh",
        "critical",
        {"service": "auth", "namespace": "identity", "team": "identity"},
        "auth p99 latency is 2.9s (SLO 800ms).",
        "99th percentile of http_request_duration_seconds for auth above 0.8s for 5 minutes.",
        b.when(onset + 9),
        expr="histogram_quantile(0.99, sum by (le) (rate(http_request_duration_seconds_bucket"
        '{service="auth"}[5m]))) > 0.8',
        group_by=("service",),
    )
    b.alert(
        "KubeletClientCertificateExpiration",
        "warning",
        {"node": "ip-10-2-40-12.ec2.internal", "job": "kubelet", "metrics_path": "/metrics"},
        "Kubelet client certificate is about to expire.",
        "Client certificate for Kubelet on node ip-10-2-40-12.ec2.internal expires in 6d 3h 12m.",
        datetime(2026, 3, 8, 22, 10, tzinfo=UTC),
        expr="kubelet_certificate_manager_client_ttl_seconds < 604800",
    )
    b.incident(
        "Q4AUTH2M0P",
        3302,
        "AuthLatencyHigh: auth p99 latency",
        "auth",
        b.when(onset + 10),
        "Kenji Watanabe",
    )
    b.oncall("Identity", "Kenji Watanabe", schedule="Identity primary")
    b.meta = {
        "question": "logins are crawling — why is auth slow?",
        "service": "auth",
        "fault": "latency",
        "description": "From 07:35 the partner identity provider auth calls for token issuance "
        "answers in ~1.5 s instead of ~0.1 s (blackbox probe_duration_seconds jumps, a few "
        "probes time out). auth's POST latency and a trickle of 504s follow; auth CPU, "
        "throttling, traffic and deploys are unchanged. A kubelet client-certificate warning "
        "on a node is unrelated.",
    }
    return b


def inventory_vendor_errors() -> Builder:
    """Errors: the warehouse vendor API fails; inventory returns 502s (no change, no saturation)."""
    b = Builder("inventory-vendor-errors", "2026-03-27T11:00", 4, seed=5505)
    nodes = [
        "aks-apps-28461730-vmss000003",
        "aks-apps-28461730-vmss000007",
        "aks-apps-28461730-vmss00000a",
    ]
    p_fail = (
        0.8 * b.window("12:14", "13:25")
        + 0.3 * b.window("13:25", "13:50")
        + 0.85 * b.window("13:50", None)
    )
    f = np.clip(p_fail * b.noise(0.08), 0, 1)
    failed = b.rng.random(b.n) < f
    timeouts = b.rng.random(b.n) < 0.45
    vendor = "https://api.wms-vendor.com/v2/health"
    b.probe(
        vendor,
        "http_2xx",
        np.where(failed, 0, 1),
        np.where(failed, np.where(timeouts, 5.0, 0.04), 0.19 * b.noise(0.1)),
    )
    get = traffic(b, 210, 0.25, 13)
    post = traffic(b, 35, 0.25, 13)
    eg = 0.6 * f
    ep = 0.2 * f
    rates = {
        ("GET", "200"): get * (1 - eg),
        ("GET", "502"): get * eg,
        ("POST", "200"): post * (1 - ep),
        ("POST", "502"): post * ep,
    }
    counts = b.http("inventory", rates, new=("502",))
    bad = (get * eg + post * ep) / (get + post)
    b.latency(
        "inventory",
        counts,
        [(1 - bad, 0.06, 0.5), (bad * 0.55, 0.03, 0.6), (bad * 0.45, 2.0, 0.02)],
        STD,
    )
    for k, p in enumerate(b.pod_names("inventory", 2)):
        b.pod(
            "warehouse",
            p,
            "inventory",
            nodes[k],
            cpu=(0.05 + 0.0021 * (get + post) / 2) * b.noise(0.05),
            mem=0,
            memory=False,
            ksm=False,
        )
    orders = traffic(b, 48, 0.25, 13)
    oerr = 0.0015 + 0.35 * bad
    b.http("orders", {("POST", "200"): orders * (1 - oerr), ("POST", "500"): orders * oerr})
    crps = traffic(b, 260, 0.25, 13)
    b.http("catalog", {("GET", "200"): crps * 0.9993, ("GET", "500"): crps * 0.0007})
    for k, p in enumerate(b.pod_names("catalog", 2)):
        b.pod(
            "catalog",
            p,
            "catalog",
            nodes[k + 1],
            cpu=0.45 * b.noise(0.05),
            mem=0,
            memory=False,
            cpu_limit=0.5,
            throttle=True,
        )
        b.alert(
            "CPUThrottlingHigh",
            "info",
            {"namespace": "catalog", "pod": p, "container": "catalog"},
            "Processes experience elevated CPU throttling.",
            f"38.2% throttling of CPU in namespace catalog for container catalog in pod {p}.",
            datetime(2026, 3, 27, 9, 12 + k, tzinfo=UTC),
            expr="sum(increase(container_cpu_cfs_throttled_periods_total[5m])) by (container, pod, "
            "namespace) / sum(increase(container_cpu_cfs_periods_total[5m])) by (container, pod, "
            "namespace) > 0.25",
        )
    b.alert(
        "BlackboxProbeFailed",
        "critical",
        {"instance": vendor, "job": "blackbox", "module": "http_2xx"},
        "Blackbox probe failed.",
        f"Probe of {vendor} failed.",
        b.when("12:16"),
        expr="probe_success == 0",
    )
    b.alert(
        "InventoryHighErrorRate",
        "critical",
        {"service": "inventory", "namespace": "warehouse", "team": "fulfilment"},
        "inventory 5xx ratio is 41% (threshold 5%).",
        "inventory is returning 502 Bad Gateway on GET /v1/stock.",
        b.when("12:20"),
        group_by=("service",),
        expr='sum(rate(http_requests_total{service="inventory",code=~"5.."}[5m])) / '
        'sum(rate(http_requests_total{service="inventory"}[5m])) > 0.05',
    )
    b.alert(
        "OrdersErrorBudgetBurn",
        "warning",
        {"service": "orders", "namespace": "commerce", "slo": "orders-availability"},
        "orders is burning its error budget 6x too fast.",
        "orders 5xx ratio over 6h is 0.6% (budget 0.1%).",
        b.when("12:43"),
        group_by=("service",),
    )
    b.incident(
        "Q5INV4K2ZD",
        7710,
        "InventoryHighErrorRate: inventory 5xx",
        "inventory",
        b.when("12:21"),
        "Lena Fischer",
    )
    b.incident(
        "Q5ORD9W1TT",
        7712,
        "OrdersErrorBudgetBurn: orders availability",
        "orders",
        b.when("12:44"),
        "Samir Haddad",
        urgency="low",
    )
    b.oncall("Fulfilment", "Lena Fischer", schedule="Fulfilment primary")
    b.oncall("Commerce", "Samir Haddad", schedule="Commerce primary")
    b.meta = {
        "question": "what's going on with the inventory errors?",
        "service": "inventory",
        "fault": "errors",
        "description": "The external warehouse-management vendor API starts failing at 12:14 "
        "(blackbox probe_success mostly 0, partial recovery 13:25-13:50, then failing again). "
        "inventory answers 502 on stock look-ups (~50% of GETs); its CPU, traffic and "
        "deploys are unchanged, so the symptom is all inventory's own data shows. orders sees a "
        "smaller error rise downstream. catalog's long-standing CPU throttling is noise.",
    }
    return b


def orders_db_connections() -> Builder:
    """db_connections: transactions left open exhaust Postgres max_connections."""
    b = Builder("orders-db-connections", "2026-04-12T15:00", 4, seed=6606)
    nodes = ["worker-a1", "worker-a2", "worker-a3"]
    rps = traffic(b, 180, 0.3, 17)
    room = 200 - 3 - 12  # max_connections - superuser_reserved - cart's pool
    leak = np.cumsum(3.0 * b.window("16:05") * b.noise(0.25, 0.5))
    iit = np.minimum(3 + leak * b.noise(0.03), room - 6 + 2 * b.noise(0.3))
    want = (8 + 0.06 * rps) * b.noise(0.08)
    idle = np.clip(room - want - iit, 0, 30 * b.noise(0.05))
    sat = np.clip((want + iit + 5 - room) / 20, 0, 1)
    active = np.minimum(want * (1 + 0.8 * sat), room - iit - idle)
    b.postgres(
        "pg-commerce-0:9187",
        200,
        {
            "orders": {"active": active, "idle": idle, "idle in transaction": iit},
            "cart": {"active": 3 * b.noise(0.2), "idle": 9 * b.noise(0.05)},
        },
    )
    wait = np.clip((want + iit + 30 - room) / 30, 0, 1)
    ep = 0.0012 + 0.38 * sat
    eg = 0.0006 + 0.22 * sat
    rates = {
        ("POST", "200"): 0.35 * rps * (1 - ep),
        ("POST", "500"): 0.35 * rps * ep,
        ("GET", "200"): 0.65 * rps * (1 - eg),
        ("GET", "500"): 0.65 * rps * eg,
    }
    counts = b.http("orders", rates)
    b.latency("orders", counts, [(1.0, 0.055 * (1 + 3 * wait + 14 * sat), 0.55 + 0.3 * sat)], STD)
    for k, p in enumerate(b.pod_names("orders", 3)):
        b.pod(
            "commerce",
            p,
            "orders",
            nodes[k],
            cpu=(0.05 + 0.003 * rps / 3) * b.noise(0.05),
            mem=0,
            memory=False,
            ksm=False,
        )
    healthy(b, "cart", "commerce", nodes, traffic(b, 230, 0.3, 17), cpu_cost=0.0015)
    frac = (active + idle + iit + 12 + 3) / 200
    t80 = int(np.argmax(frac > 0.8))
    t_err = int(np.argmax(sat > 0.15))
    b.alert(
        "PostgresqlTooManyConnections",
        "warning",
        {"instance": "pg-commerce-0:9187", "job": "postgres-exporter", "cluster": "dc2"},
        "Postgresql too many connections (> 80%).",
        "PostgreSQL instance pg-commerce-0 has more than 80% of max_connections in use.",
        b.when(t80 + 2),
        expr="sum by (instance) (pg_stat_activity_count) > on (instance) "
        "pg_settings_max_connections * 0.8",
    )
    b.alert(
        "OrdersHighErrorRate",
        "critical",
        {"service": "orders", "namespace": "commerce", "team": "commerce"},
        "orders 5xx ratio is 24% (threshold 2%).",
        "orders is returning 500 on POST /v1/orders and GET /v1/orders/{id}.",
        b.when(t_err + 5),
        group_by=("service",),
    )
    b.alert(
        "OrdersLatencyHigh",
        "warning",
        {"service": "orders", "namespace": "commerce", "team": "commerce"},
        "orders p99 latency is 1.9s (SLO 500ms).",
        "orders p99 above 500ms for 10 minutes.",
        b.when(t_err + 1),
        group_by=("service",),
    )
    b.alert(
        "KubeJobFailed",
        "warning",
        {"namespace": "analytics", "job_name": "daily-rollup-29073540", "cluster": "dc2"},
        "Job failed to complete.",
        "Job analytics/daily-rollup-29073540 failed to complete. Removing failed job after "
        "investigation should clear this alert.",
        b.when("15:19"),
        expr='kube_job_failed{job="kube-state-metrics"} > 0',
    )
    b.incident(
        "Q6ORD3P8RM",
        9034,
        "OrdersHighErrorRate: orders 5xx",
        "orders",
        b.when(t_err + 6),
        "Ana Lima",
    )
    b.oncall("Commerce", "Ana Lima", schedule="Commerce primary")
    b.meta = {
        "question": "orders is returning 500s — what's wrong?",
        "service": "orders",
        "fault": "db_connections",
        "description": "From 16:05 orders leaves transactions open on an error path "
        '(pg_stat_activity_count state="idle in transaction" for datname orders climbs ~3/min); '
        "once the Postgres server reaches max_connections (200) orders cannot get connections, "
        "latency explodes and 500s reach ~30%. No deploy, flat traffic, normal CPU. A failed "
        "analytics job is unrelated.",
    }
    return b


def gateway_packet_loss() -> Builder:
    """Network: a node's NIC drops packets; the gateway pod on it times out upstream calls."""
    b = Builder("api-gateway-packet-loss", "2026-04-29T18:00", 4, seed=7707)
    nodes = [
        "ip-10-4-17-201.ec2.internal",
        "ip-10-4-21-14.ec2.internal",
        "ip-10-4-30-88.ec2.internal",
    ]
    bad = b.step(b.at("19:48"), 1.0)
    rps = traffic(b, 1400, 0.35, 20)
    for k, node in enumerate(nodes):
        hit = bad if k == 0 else np.zeros(b.n)
        b.network(
            node,
            "eth0",
            0.002 + 180 * hit * b.noise(0.3),
            0.01 + 45 * hit * b.noise(0.3),
            (12 + 0.004 * rps) * b.noise(0.1) + 620 * hit * b.noise(0.2),
        )
    t = 0.12 * bad
    third = 1 / 3
    err = third * t
    rates = split(rps, {"GET": 0.8, "POST": 0.2}, {"504": err})
    counts = b.http("api-gateway", rates, new=("504",))
    b.latency(
        "api-gateway",
        counts,
        [
            (1 - third * bad, 0.045, 0.5),
            (third * bad * (1 - t), 0.7, 0.9),
            (third * bad * t, 5.0, 0.01),
        ],
        (0.05, 0.1, 0.25, 0.5, 1.0, 5.0),
    )
    for k, p in enumerate(b.pod_names("api-gateway", 3)):
        b.pod(
            "edge",
            p,
            "envoy",
            nodes[k],
            cpu=(0.1 + 0.0009 * rps / 3) * b.noise(0.05),
            mem=0,
            memory=False,
            ksm=False,
            info=True,
        )
    urps = traffic(b, 210, 0.35, 20)
    uerr = 0.0006 + 0.004 * bad
    b.http("users", {("GET", "200"): urps * (1 - uerr), ("GET", "500"): urps * uerr})
    for k, p in enumerate(b.pod_names("users", 2)):
        b.pod(
            "identity",
            p,
            "users",
            nodes[k * 2],
            cpu=(0.04 + 0.002 * urps / 2) * b.noise(0.05),
            mem=0,
            memory=False,
            ksm=False,
            info=True,
        )
    b.alert(
        "ApiGatewayHighErrorRate",
        "critical",
        {"service": "api-gateway", "namespace": "edge", "team": "edge"},
        "api-gateway 5xx ratio is 4.1% (threshold 1%).",
        "api-gateway is returning 504 Gateway Timeout.",
        b.when("19:54"),
        group_by=("service",),
    )
    b.alert(
        "ApiGatewayLatencyHigh",
        "warning",
        {"service": "api-gateway", "namespace": "edge", "team": "edge"},
        "api-gateway p99 latency is 4.8s (SLO 1s).",
        "p99 above 1s for 5 minutes.",
        b.when("19:53"),
        group_by=("service",),
    )
    b.alert(
        "NodeNetworkReceiveErrs",
        "warning",
        {"instance": nodes[0], "device": "eth0", "job": "node-exporter"},
        "Network interface is reporting many receive errors.",
        f"{nodes[0]} interface eth0 has encountered 10712 receive errors in the last two minutes.",
        b.when("20:49"),
        expr="rate(node_network_receive_errs_total[2m]) / "
        "rate(node_network_receive_packets_total[2m]) > 0.01",
    )
    b.alert(
        "KubeControllerManagerDown",
        "critical",
        {"prometheus": "monitoring/k8s"},
        "Target disappeared from Prometheus target discovery.",
        "KubeControllerManager has disappeared from Prometheus target discovery.",
        datetime(2026, 4, 2, 11, 40, tzinfo=UTC),
        expr='absent(up{job="kube-controller-manager"} == 1)',
    )
    b.incident(
        "Q7EDGE0LQ2",
        6650,
        "ApiGatewayHighErrorRate: api-gateway 504s",
        "api-gateway",
        b.when("19:55"),
        "Noah Becker",
    )
    b.oncall("Edge", "Noah Becker", schedule="Edge primary")
    b.meta = {
        "question": "why is the api-gateway throwing 504s?",
        "service": "api-gateway",
        "fault": "network",
        "description": "At 19:48 the NIC on ip-10-4-17-201 starts erroring: "
        "node_network_receive_errs "
        "and transmit drops jump from ~0 to hundreds per second and TCP retransmits rise "
        "~40x on that node only. The api-gateway pod scheduled there (kube_pod_info) times out "
        "upstream calls: 504s ~4% and p99 ~5 s. The always-firing KubeControllerManagerDown "
        "(managed control plane, not scrapeable) is noise.",
    }
    return b


def pricing_noisy_neighbor() -> Builder:
    """noisy_neighbor: a reindex job with no CPU limit saturates the node pricing shares."""
    b = Builder("pricing-noisy-neighbor", "2026-05-16T01:00", 4, seed=8808)
    nodes = [
        "gke-prod-general-7f3e21ab-k9q1",
        "gke-prod-general-7f3e21ab-m2x8",
        "gke-prod-general-7f3e21ab-t4zp",
    ]
    noisy = nodes[1]
    job = b.window("02:10", "04:36")
    batch_cpu = 3.7 * b.ramp("02:10", "02:13") * job * b.noise(0.04)
    jpod = "catalog-reindex-29123130-q8v2l"
    b.pod(
        "batch",
        jpod,
        "reindex",
        noisy,
        cpu=batch_cpu + 0.01,
        mem=0,
        memory=False,
        ksm=False,
        alive=b.window("02:09", "04:36"),
        info=True,
    )
    others = 0.9 * b.noise(0.05)
    b.node_cpu(
        noisy, 4, np.clip((others + batch_cpu) / 4, 0.02, 0.985), modes=("idle", "system", "user")
    )
    rps = traffic(b, 240, 0.2, 3)
    starve = np.clip(batch_cpu / 3.7, 0, 1)
    t = 0.03 * starve
    rates = {("GET", "200"): rps * (1 - t / 3), ("GET", "504"): rps * t / 3}
    counts = b.http("pricing", rates, new=("504",))
    b.latency(
        "pricing",
        counts,
        [(2 / 3, 0.028, 0.5), (1 / 3, 0.028 * (1 + 5 * starve), 0.5 + 0.3 * starve)],
        FAST,
    )
    for k, p in enumerate(b.pod_names("pricing", 3)):
        cpu = (0.08 + 0.006 * rps / 3) * b.noise(0.05) * ((1 - 0.08 * starve) if k == 1 else 1)
        b.pod(
            "pricing",
            p,
            "pricing",
            nodes[k],
            cpu=cpu,
            mem=0,
            memory=False,
            cpu_limit=2.0,
            throttle=True,
            info=True,
        )
    healthy(b, "promotions", "pricing", [nodes[0], nodes[2]], traffic(b, 70, 0.2, 3), pods=0)
    b.alert(
        "NodeCPUHighUsage",
        "info",
        {"instance": noisy, "job": "node-exporter"},
        "High CPU usage.",
        f"CPU usage at {noisy} has been above 90% for the last 15 minutes, is currently at 97.8%.",
        b.when("02:28"),
        expr="sum without(mode) (avg without (cpu) "
        '(rate(node_cpu_seconds_total{mode!="idle"}[2m]))) > 0.90',
    )
    b.alert(
        "PricingLatencyHigh",
        "warning",
        {"service": "pricing", "namespace": "pricing", "team": "pricing"},
        "pricing p99 latency is 612ms (SLO 250ms).",
        "pricing p99 above 250ms for 5 minutes.",
        b.when("02:19"),
        group_by=("service",),
    )
    b.alert(
        "KubePersistentVolumeFillingUp",
        "warning",
        {"namespace": "pricing", "persistentvolumeclaim": "data-promotions-pg-0", "job": "kubelet"},
        "PersistentVolume is filling up.",
        "The PersistentVolume claimed by data-promotions-pg-0 in Namespace pricing is "
        "only 8.3% free.",
        datetime(2026, 5, 16, 0, 20, tzinfo=UTC),
    )
    b.change(
        "CHG-7781",
        "catalog-reindex CronJob: schedule '0 4 * * *' -> '10 2 * * *'",
        "catalog-reindex",
        "argo-cd",
        datetime(2026, 5, 15, 16, 42, tzinfo=UTC),
        kind="config",
        namespace="batch",
        author="j.okafor",
        pr="platform-jobs#412",
    )
    b.incident(
        "Q8PRC1V6NS",
        4418,
        "PricingLatencyHigh: pricing p99",
        "pricing",
        b.when("02:20"),
        "Chidi Okafor",
        urgency="low",
    )
    b.oncall("Pricing", "Chidi Okafor", schedule="Pricing primary")
    b.meta = {
        "question": "why is pricing slow?",
        "service": "pricing",
        "fault": "noisy_neighbor",
        "description": "At 02:10 a catalog-reindex CronJob pod with no CPU limit lands on "
        "gke-prod-general-7f3e21ab-m2x8 and burns ~3.7 of its 4 cores until 04:35; node CPU goes "
        "from ~25% to ~98% busy. The pricing pod on that node (kube_pod_info) is starved: its own "
        "CPU usage stays flat (slightly lower) and it is not throttled, yet a third of pricing "
        "traffic gets 5x slower. The schedule change of the job yesterday is context; a PVC "
        "alert on promotions is noise.",
    }
    return b


def storefront_cert_expired() -> Builder:
    """Certificate: the public TLS certificate of the storefront expires at 01:17:44."""
    b = Builder("storefront-cert-expired", "2026-06-02T00:00", 4, seed=9909)
    nodes = [
        "aks-web-51872304-vmss000001",
        "aks-web-51872304-vmss000002",
        "aks-web-51872304-vmss000005",
    ]
    expiry = datetime(2026, 6, 2, 1, 17, 44, tzinfo=UTC)
    e_ts = int(expiry.timestamp())
    gone = (b.ts >= e_ts).astype(float)
    ok = 1 - gone
    www = "https://www.shop-example.com"
    b.probe(
        www,
        "http_2xx",
        ok,
        np.where(gone > 0, 0.031, 0.21) * b.noise(0.08),
        cert_expiry=np.where(gone > 0, np.nan, e_ts),
    )
    b.probe(
        www,
        "tls_connect_insecure",
        np.ones(b.n),
        0.052 * b.noise(0.08),
        cert_expiry=np.full(b.n, e_ts),
    )
    api_exp = int(datetime(2026, 7, 30, 9, 2, 11, tzinfo=UTC).timestamp())
    b.probe(
        "https://api.shop-example.com/healthz",
        "http_2xx",
        np.ones(b.n),
        0.12 * b.noise(0.08),
        cert_expiry=np.full(b.n, api_exp),
    )
    cut = 1 - 0.91 * b.step(int((e_ts - b.t0) // STEP) + 1, 0.6)
    rps = traffic(b, 180, 0.45, 19) * cut
    counts = b.http("storefront", {("GET", "200"): rps * 0.998, ("GET", "500"): rps * 0.002})
    b.latency("storefront", counts, [(1.0, 0.09, 0.55)], STD)
    for k, p in enumerate(b.pod_names("storefront", 3)):
        b.pod(
            "web",
            p,
            "storefront",
            nodes[k],
            cpu=(0.04 + 0.006 * rps / 3) * b.noise(0.05),
            mem=0,
            memory=False,
            ksm=False,
        )
    crt = traffic(b, 75, 0.45, 19) * (1 - 0.85 * (1 - cut) / 0.91)
    b.http("cart", {("POST", "200"): crt * 0.999, ("POST", "500"): crt * 0.001})
    cat = traffic(b, 340, 0.45, 19) * (1 - 0.45 * (1 - cut) / 0.91)
    b.http("catalog", {("GET", "200"): cat * 0.9995, ("GET", "500"): cat * 0.0005})
    for sev, days, start in (
        ("warning", 14, datetime(2026, 5, 19, 1, 32, tzinfo=UTC)),
        ("critical", 3, datetime(2026, 5, 30, 1, 32, tzinfo=UTC)),
    ):
        b.alert(
            "BlackboxSslCertificateWillExpireSoon",
            sev,
            {"instance": www, "job": "blackbox", "module": "http_2xx"},
            "Blackbox SSL certificate will expire soon.",
            f"SSL certificate of {www} expires in less than {days} days.",
            start,
            expr=f"probe_ssl_earliest_cert_expiry - time() < 86400 * {days}",
        )
    b.alert(
        "BlackboxSslCertificateExpired",
        "critical",
        {"instance": www, "job": "blackbox", "module": "tls_connect_insecure"},
        "Blackbox SSL certificate expired.",
        f"SSL certificate of {www} has expired already.",
        expiry + timedelta(seconds=76),
        expr="round((probe_ssl_earliest_cert_expiry - time()) / 86400, 0.1) < 0",
    )
    b.alert(
        "BlackboxProbeFailed",
        "critical",
        {"instance": www, "job": "blackbox", "module": "http_2xx"},
        "Blackbox probe failed.",
        f"Probe of {www} failed.",
        expiry + timedelta(seconds=136),
        expr="probe_success == 0",
    )
    b.alert(
        "StorefrontTrafficDrop",
        "critical",
        {"service": "storefront", "namespace": "web", "team": "web"},
        "storefront request rate is 89% below the same time last week.",
        'sum(rate(http_requests_total{service="storefront"}[10m])) dropped sharply.',
        expiry + timedelta(minutes=10),
        group_by=("service",),
    )
    b.alert(
        "KubeDaemonSetRolloutStuck",
        "warning",
        {"namespace": "logging", "daemonset": "fluent-bit", "job": "kube-state-metrics"},
        "DaemonSet rollout is stuck.",
        "DaemonSet logging/fluent-bit has not finished or progressed for at least 15 minutes.",
        datetime(2026, 6, 1, 23, 40, tzinfo=UTC),
    )
    b.incident(
        "Q9WEB7Y3HC",
        2291,
        "BlackboxProbeFailed: www.shop-example.com",
        "storefront",
        expiry + timedelta(seconds=150),
        "Sofia Rossi",
    )
    b.oncall("Web", "Sofia Rossi", schedule="Web primary")
    b.meta = {
        "question": "storefront traffic fell off a cliff — what's going on?",
        "service": "storefront",
        "fault": "certificate",
        "description": "The public TLS certificate for www.shop-example.com expires at 01:17:44 "
        "(probe_ssl_earliest_cert_expiry; renewal had been failing and expiry warnings were "
        "ignored for two weeks). Browsers refuse the handshake: the http_2xx probe fails, and "
        "storefront requests drop ~90% with no rise in 5xx or latency; cart and catalog traffic "
        "fall with it. A stuck fluent-bit rollout is noise.",
    }
    return b


def shipping_config_timeout() -> Builder:
    """Config: a carrier-rates timeout lowered 3000 -> 300 ms turns slow calls into 504s."""
    b = Builder("shipping-config-timeout", "2026-06-18T09:00", 4, seed=1010)
    nodes = ["k8s-prod-w07", "k8s-prod-w11", "k8s-prod-w14"]
    change = b.at("11:32")
    on = b.step(change + 1, 0.5)
    rps = traffic(b, 85, 0.3, 12)
    med, sig = 0.17, 0.55
    p_slow = 0.5 * (1 - math.erf(math.log(0.3 / med) / (sig * math.sqrt(2))))
    tg = 0.75 * p_slow * on * b.noise(0.1)
    tp = p_slow * on * b.noise(0.1)
    rates = {
        ("GET", "200"): 0.8 * rps * (1 - tg),
        ("GET", "504"): 0.8 * rps * tg,
        ("POST", "200"): 0.2 * rps * (1 - tp),
        ("POST", "504"): 0.2 * rps * tp,
    }
    counts = b.http("shipping", rates, new=("504",))
    carrier = 0.8 * 0.75 + 0.2
    to = carrier * p_slow * on
    b.latency(
        "shipping",
        counts,
        [
            (1 - carrier, 0.015, 0.5),
            (carrier - to, med * (1 - 0.12 * on), sig - 0.15 * on),
            (to, 0.302, 0.005),
        ],
        STD,
    )
    for k, p in enumerate(b.pod_names("shipping", 3)):
        b.pod(
            "logistics",
            p,
            "shipping",
            nodes[k],
            cpu=(0.06 + 0.004 * rps / 3) * b.noise(0.05),
            mem=(380 + 12 * k) * MIB * b.noise(0.01, 0.97),
            ksm=False,
        )
    orders = traffic(b, 52, 0.3, 12)
    oe = 0.001 + 0.3 * (0.8 * tg + 0.2 * tp)
    b.http("orders", {("POST", "200"): orders * (1 - oe), ("POST", "500"): orders * oe})
    healthy(b, "tracking", "logistics", nodes, traffic(b, 130, 0.3, 12), cpu_cost=0.002)
    b.change(
        "CHG-5530",
        "shipping: CARRIER_RATES_TIMEOUT_MS 3000 -> 300",
        "shipping",
        "config-sync",
        b.when(change),
        kind="config",
        key="CARRIER_RATES_TIMEOUT_MS",
        old="3000",
        new="300",
        author="r.mendes",
        ticket="SHIP-2231",
    )
    b.change(
        "CHG-5527",
        "Deploy tracking v1.19.0",
        "tracking",
        "argo-cd",
        b.when("09:48"),
        kind="deploy",
        version="v1.19.0",
        previous="v1.18.4",
        image="registry.example.com/tracking:1.19.0",
    )
    b.alert(
        "ShippingHighErrorRate",
        "critical",
        {"service": "shipping", "namespace": "logistics", "team": "logistics"},
        "shipping 5xx ratio is 11.7% (threshold 2%).",
        "shipping is returning 504 on rate quotes.",
        b.when(change + 6),
        group_by=("service",),
    )
    b.alert(
        "NodeSystemdServiceFailed",
        "warning",
        {"instance": "k8s-prod-w03", "name": "unattended-upgrades.service"},
        "Systemd service has entered failed state.",
        "Systemd service unattended-upgrades.service has entered failed state at k8s-prod-w03",
        b.when("08:12"),
        expr='node_systemd_unit_state{state="failed"} == 1',
    )
    b.incident(
        "QASHP5D0XK",
        3815,
        "ShippingHighErrorRate: shipping 504s",
        "shipping",
        b.when(change + 7),
        "Rui Mendes",
    )
    b.oncall("Logistics", "Rui Mendes", schedule="Logistics primary")
    b.meta = {
        "question": "what's going on with the shipping errors?",
        "service": "shipping",
        "fault": "config",
        "description": "At 11:32 a config change lowers shipping's carrier-rates timeout from "
        "3000 ms to 300 ms; every carrier call slower than 300 ms now fails, so ~12% of "
        "requests return 504 while p99 latency actually drops to ~0.3 s. No saturation, flat "
        "traffic. The tracking deploy at 09:48 and a failed systemd unit are unrelated.",
    }
    return b


def recommendations_feature_flag() -> Builder:
    """Config (feature flag): ranking_v2 ramped to 100% adds a slow model call per request."""
    b = Builder("recommendations-feature-flag", "2026-07-07T08:00", 4, seed=1111)
    nodes = [
        "gke-ml-serving-3c9e0d11-4hlp",
        "gke-ml-serving-3c9e0d11-8vwc",
        "gke-ml-serving-3c9e0d11-jz6r",
    ]
    f = 0.1 * b.step(b.at("09:40"), 0.5) + 0.9 * b.step(b.at("10:15"), 0.5)
    rps = traffic(b, 210, 0.3, 11)
    e = 0.001 + 0.002 * f
    counts = b.http("recommendations", {("GET", "200"): rps * (1 - e), ("GET", "500"): rps * e})
    b.latency("recommendations", counts, [(1 - f, 0.07, 0.45), (f, 0.42, 0.5)], STD)
    for k, p in enumerate(b.pod_names("recommendations", 3)):
        b.pod(
            "personalization",
            p,
            "recommendations",
            nodes[k],
            cpu=(0.1 + 0.004 * rps / 3) * (1 + 0.12 * f) * b.noise(0.05),
            mem=0,
            memory=False,
            cpu_limit=2.0,
            throttle=True,
        )
    healthy(b, "catalog", "catalog", nodes, traffic(b, 300, 0.3, 11))
    healthy(b, "user-profile", "personalization", nodes, traffic(b, 120, 0.3, 11), pods=0)
    for at, pct, prev in (("09:40", "10%", "0%"), ("10:15", "100%", "10%")):
        b.change(
            f"FF-{'2231' if pct == '10%' else '2232'}",
            f"recs.ranking_v2 rollout {prev} -> {pct}",
            "recommendations",
            "launchdarkly",
            b.when(at),
            kind="feature_flag",
            flag="recs.ranking_v2",
            rollout=pct,
            previous=prev,
            environment="production",
            author="m.svensson",
        )
    b.change(
        "CHG-8120",
        "user-profile: PROFILE_CACHE_TTL_S 300 -> 600",
        "user-profile",
        "config-sync",
        b.when("10:31"),
        kind="config",
        key="PROFILE_CACHE_TTL_S",
        old="300",
        new="600",
    )
    b.alert(
        "RecommendationsLatencyHigh",
        "warning",
        {"service": "recommendations", "namespace": "personalization", "team": "personalization"},
        "recommendations p95 latency is 780ms (SLO 300ms).",
        "p95 above 300ms for 5 minutes.",
        b.when("10:22"),
        group_by=("service",),
    )
    b.alert(
        "KubeHpaMaxedOut",
        "warning",
        {"namespace": "personalization", "horizontalpodautoscaler": "user-profile"},
        "HPA is running at max replicas",
        "HPA personalization/user-profile has been running at max replicas for longer "
        "than 15 minutes.",
        b.when("07:15") - timedelta(days=1),
    )
    b.incident(
        "QBREC8N2WE",
        1907,
        "RecommendationsLatencyHigh",
        "recommendations",
        b.when("10:23"),
        "Maja Svensson",
        urgency="low",
    )
    b.oncall("Personalization", "Maja Svensson", schedule="Personalization primary")
    b.meta = {
        "question": "why is recommendations slow?",
        "service": "recommendations",
        "fault": "config",
        "description": "Feature flag recs.ranking_v2 goes to 10% at 09:40 and 100% at 10:15 "
        "(change events, kind feature_flag). Flagged requests call a slower ranking model: p50 "
        "rises from ~70 ms to ~420 ms in two steps that line up with the flag changes. CPU up "
        "slightly, far from the limit, no throttling, flat traffic. A user-profile cache TTL "
        "change at 10:31 and a maxed-out HPA are unrelated.",
    }
    return b


def catalog_traffic_surge() -> Builder:
    """traffic_surge: a viral campaign multiplies catalog traffic; CPU and errors follow."""
    b = Builder("catalog-traffic-surge", "2026-07-23T18:30", 4, seed=1212)
    nodes = [
        "ip-172-20-3-14.ec2.internal",
        "ip-172-20-5-201.ec2.internal",
        "ip-172-20-8-66.ec2.internal",
        "ip-172-20-9-102.ec2.internal",
    ]
    s0 = b.at("19:02")
    surge = b.step(s0, 1.0) * (0.3 + 0.7 * np.exp(-np.maximum(b.i - b.at("19:45"), 0) / 50))
    rps = traffic(b, 520, 0.35, 20) * (1 + 5 * surge * b.noise(0.05))
    scale_at = b.at("19:05")
    ready = 3 + 3 * b.window(scale_at + 2)
    cost = 0.002
    demand = 0.06 + cost * rps / ready
    pressure = pressure_of(demand, 1.0, knee=0.75)
    e503 = np.clip(0.09 * pressure**1.3, 0, 0.2)
    counts = b.http("catalog", split(rps, {"GET": 1.0}, {"500": 0.0006, "503": e503}), new=("503",))
    b.latency(
        "catalog",
        counts,
        [(1.0, 0.04 * (1 + 6 * pressure), 0.5 + 0.25 * np.minimum(pressure, 1))],
        STD,
    )
    for k, p in enumerate(b.pod_names("catalog", 6)):
        alive = None if k < 3 else b.window(scale_at + 1)
        b.pod(
            "catalog",
            p,
            "catalog",
            nodes[k % 4],
            cpu=demand * b.noise(0.04),
            mem=0,
            memory=False,
            cpu_limit=1.0,
            throttle=k < 3,
            alive=alive,
            ksm=k < 3,
        )
    b.replicas("catalog", "catalog", ready)
    gw = traffic(b, 900, 0.35, 20) + rps
    g5 = rps * e503
    b.http(
        "api-gateway",
        {("GET", "200"): gw - g5 - gw * 0.0004, ("GET", "500"): gw * 0.0004, ("GET", "503"): g5},
        new=("503",),
    )
    healthy(b, "search", "search", nodes, traffic(b, 300, 0.35, 20), pods=0)
    b.change(
        "HPA-catalog-1",
        "HorizontalPodAutoscaler catalog scaled 3 -> 6 (max)",
        "catalog",
        "kubernetes/hpa",
        b.when(scale_at),
        kind="scale",
        replicas_from=3,
        replicas_to=6,
        reason="cpu resource utilization (percentage of request) above target",
    )
    b.alert(
        "CatalogHighErrorRate",
        "critical",
        {"service": "catalog", "namespace": "catalog", "team": "catalog"},
        "catalog 5xx ratio is 12% (threshold 2%).",
        "catalog is shedding load with 503.",
        b.when(s0 + 6),
        group_by=("service",),
    )
    b.alert(
        "KubeHpaMaxedOut",
        "warning",
        {"namespace": "catalog", "horizontalpodautoscaler": "catalog"},
        "HPA is running at max replicas",
        "HPA catalog/catalog has been running at max replicas for longer than 15 minutes.",
        b.when(scale_at + 17),
    )
    b.alert(
        "CPUThrottlingHigh",
        "info",
        {"namespace": "catalog", "container": "catalog"},
        "Processes experience elevated CPU throttling.",
        "81% throttling of CPU in namespace catalog for container catalog.",
        b.when(s0 + 17),
    )
    b.incident(
        "QCCAT6R1UB",
        6120,
        "CatalogHighErrorRate: catalog 503s",
        "catalog",
        b.when(s0 + 7),
        "Hiro Tanaka",
    )
    b.oncall("Catalog", "Hiro Tanaka", schedule="Catalog primary")
    b.meta = {
        "question": "what's going on with catalog?",
        "service": "catalog",
        "fault": "traffic_surge",
        "description": "At 19:02 a viral campaign multiplies catalog's request rate ~6x (decaying "
        "after 19:45). Per-pod CPU hits the 1-core limit, CFS throttling soars, latency rises "
        "and catalog sheds load with 503s; the HPA scales 3 -> 6 (its max) at 19:05, which is "
        "not enough until traffic subsides. The api-gateway sees the same surge and passes the "
        "503s through. The scale event is a consequence, not the cause.",
    }
    return b


def cart_deploy_errors() -> Builder:
    """Deploy: cart v5.2.0 throws 500 on add-to-cart; no saturation."""
    b = Builder("cart-deploy-errors", "2026-08-05T14:00", 4, seed=1313)
    nodes = [
        "aks-nodepool1-31415926-vmss000001",
        "aks-nodepool1-31415926-vmss000002",
        "aks-nodepool1-31415926-vmss000006",
    ]
    at = b.at("15:20")
    pods, share, avail = rollout(b, "cart", nodes, 3, at)
    rps = traffic(b, 240, 0.3, 15)
    ep = 0.0015 + 0.28 * share * b.noise(0.06)
    rates = {
        ("POST", "200"): 0.35 * rps * (1 - ep),
        ("POST", "500"): 0.35 * rps * ep,
        ("GET", "200"): 0.65 * rps * 0.9992,
        ("GET", "500"): 0.65 * rps * 0.0008,
    }
    counts = b.http("cart", rates)
    bad = 0.35 * ep
    b.latency("cart", counts, [(1 - bad, 0.03, 0.5), (bad, 0.008, 0.3)], FAST)
    for p, node, alive, is_new in pods:
        b.pod(
            "commerce",
            p,
            "cart",
            node,
            cpu=(0.05 + 0.003 * rps / 3) * b.noise(0.05),
            mem=(290 + (15 if is_new else 0)) * MIB * b.noise(0.01, 0.97),
            alive=alive,
            ksm=False,
            info=True,
        )
    b.replicas("commerce", "cart", avail)
    healthy(b, "catalog", "catalog", nodes, traffic(b, 330, 0.3, 15))
    healthy(b, "sessions", "identity", nodes, traffic(b, 180, 0.3, 15), pods=0)
    herring = "aks-nodepool1-31415926-vmss000004"
    flap = b.window("13:10", "16:40") * (0.3 + 0.6 * (b.rng.random(b.n) < 0.2))
    b.network(herring, "eth0", flap * b.noise(0.3), 0.002 * np.ones(b.n), 14 * b.noise(0.1))
    b.change(
        "CHG-6604",
        "Deploy cart v5.2.0 (promo bundles in cart)",
        "cart",
        "argo-cd",
        b.when(at),
        kind="deploy",
        version="v5.2.0",
        previous="v5.1.3",
        image="registry.example.com/cart:5.2.0",
        commit="a91c3e7",
        author="deploy-bot",
    )
    b.alert(
        "CartHighErrorRate",
        "critical",
        {"service": "cart", "namespace": "commerce", "team": "commerce"},
        "cart 5xx ratio is 10.4% (threshold 2%).",
        "cart returns 500 on POST /v1/cart/items.",
        b.when(at + 9),
        group_by=("service",),
    )
    b.alert(
        "NodeNetworkReceiveErrs",
        "warning",
        {"instance": herring, "device": "eth0", "job": "node-exporter"},
        "Network interface is reporting many receive errors.",
        f"{herring} interface eth0 has encountered 58 receive errors in the last two minutes.",
        b.when("14:10"),
    )
    b.alert(
        "KubeMemoryOvercommit",
        "warning",
        {"cluster": "aks-prod-westeurope"},
        "Cluster has overcommitted memory resource requests.",
        "Cluster has overcommitted memory resource requests for Pods by 3.1G bytes and cannot "
        "tolerate node failure.",
        datetime(2026, 8, 3, 6, 0, tzinfo=UTC),
    )
    b.incident(
        "QDCRT2H7JM", 9940, "CartHighErrorRate: cart 500s", "cart", b.when(at + 10), "Omar Farouk"
    )
    b.oncall("Commerce", "Omar Farouk", schedule="Commerce primary")
    b.meta = {
        "question": "why is cart throwing 500s?",
        "service": "cart",
        "fault": "deploy",
        "description": "cart v5.2.0 rolls out at 15:20 (new ReplicaSet, pods replaced one by one). "
        "POST add-to-cart starts failing with 500 in proportion to the share of new pods, "
        "reaching ~28% of POSTs; GETs, latency, CPU and memory are unchanged. A node with a "
        "trickle of receive errors and a memory overcommit warning are noise.",
    }
    return b


def fulfillment_cpu_loud_herring() -> Builder:
    """Cpu under a loud, unrelated critical incident (notifications crash-looping)."""
    b = Builder("fulfillment-cpu-loud-herring", "2026-08-19T10:00", 4, seed=1414)
    nodes = ["k8s-prod-w02", "k8s-prod-w05", "k8s-prod-w09"]
    onset = b.at("11:05")
    rps = traffic(b, 45, 0.25, 12)
    cost = 1 + 3 * b.step(onset, 4)
    limit = 0.5
    demand = (0.04 + 0.0055 * rps / 2 * cost) * b.noise(0.03)
    pressure = pressure_of(demand, limit)
    e = 0.002 + 0.01 * pressure
    counts = b.http("fulfillment", split(rps, {"POST": 0.6, "GET": 0.4}, {"503": e}))
    b.latency(
        "fulfillment",
        counts,
        [(1.0, 0.11 * (1 + 5 * pressure), 0.5 + 0.2 * np.minimum(pressure, 1))],
        SLOW,
    )
    for k, p in enumerate(b.pod_names("fulfillment", 2)):
        b.pod(
            "logistics",
            p,
            "fulfillment",
            nodes[k],
            cpu=demand * (1 + 0.04 * k) * b.noise(0.03),
            mem=0,
            memory=False,
            cpu_limit=limit,
            throttle=True,
        )
    # the loud one: notifications crash-loops after a credentials rotation
    crash = b.at("11:02")
    nrps = traffic(b, 60, 0.25, 12)
    dead = b.step(crash, 0.4)
    n503 = 0.0005 + 0.97 * dead
    b.http(
        "notifications",
        {("POST", "200"): nrps * (1 - n503), ("POST", "503"): nrps * n503},
        new=("503",),
    )
    avail = np.full(b.n, 3.0)
    for k, p in enumerate(b.pod_names("notifications", 3)):
        delays = [
            1,
            1,
            1,
            2,
            3,
            5,
            5,
            5,
            5,
            5,
            5,
            5,
            5,
            5,
            5,
            5,
            5,
            5,
            5,
            5,
            5,
            5,
            5,
            5,
            5,
            5,
            5,
            5,
            5,
            5,
            5,
            5,
            5,
            5,
            5,
            5,
            5,
        ]
        rs, t = [], crash + k % 2
        for d in delays:
            if t >= b.n:
                break
            rs.append(t)
            t += d
        live = np.zeros(b.n, dtype=bool)
        live[:crash] = True
        live[rs] = True
        avail[crash:] -= 1
        b.pod(
            "messaging",
            p,
            "notifications",
            nodes[k],
            cpu=0.08 * b.noise(0.05),
            mem=0,
            memory=False,
            restarts=rs,
            running=live.astype(float),
            restarts_before=0,
        )
        b.alert(
            "KubePodCrashLooping",
            "warning",
            {
                "namespace": "messaging",
                "pod": p,
                "container": "notifications",
                "reason": "CrashLoopBackOff",
            },
            "Pod is crash looping.",
            f'Pod messaging/{p} (notifications) is in waiting state (reason: "CrashLoopBackOff").',
            b.when(crash + 15),
            expr="max_over_time(kube_pod_container_status_waiting_reason"
            '{reason="CrashLoopBackOff"}[5m]) >= 1',
        )
    b.replicas("messaging", "notifications", np.maximum(avail, 0))
    healthy(b, "tracking", "logistics", nodes, traffic(b, 130, 0.25, 12), pods=0)
    b.change(
        "CHG-9012",
        "notifications: rotate SMTP relay credentials (secret smtp-relay-creds)",
        "notifications",
        "vault-secrets-operator",
        b.when("11:00"),
        kind="config",
        secret="messaging/smtp-relay-creds",
        author="secrets-rotation",
    )
    b.alert(
        "NotificationsHighErrorRate",
        "critical",
        {"service": "notifications", "namespace": "messaging", "team": "messaging"},
        "notifications 5xx ratio is 97% (threshold 5%).",
        "notifications has no ready endpoints.",
        b.when(crash + 4),
        group_by=("service",),
    )
    b.alert(
        "TargetDown",
        "warning",
        {"job": "notifications", "namespace": "messaging", "service": "notifications"},
        "One or more targets are unreachable.",
        "100% of the notifications/notifications targets in messaging namespace are down.",
        b.when(crash + 10),
        group_by=("service",),
    )
    b.alert(
        "KubeDeploymentReplicasMismatch",
        "warning",
        {"namespace": "messaging", "deployment": "notifications"},
        "Deployment has not matched the expected number of replicas.",
        "Deployment messaging/notifications has not matched the expected number of replicas for "
        "longer than 15 minutes.",
        b.when(crash + 16),
    )
    b.alert(
        "FulfillmentLatencyHigh",
        "warning",
        {"service": "fulfillment", "namespace": "logistics", "team": "logistics"},
        "fulfillment p99 latency is 2.4s (SLO 1s).",
        "p99 above 1s for 10 minutes.",
        b.when(onset + 12),
        group_by=("service",),
    )
    for pod in b.pods_of("container_cpu_cfs_periods"):
        b.alert(
            "CPUThrottlingHigh",
            "info",
            {"namespace": "logistics", "pod": pod, "container": "fulfillment"},
            "Processes experience elevated CPU throttling.",
            f"74% throttling of CPU in namespace logistics for container fulfillment in pod {pod}.",
            b.when(onset + 17),
        )
    b.incident(
        "QENTF9A3LS",
        7301,
        "NotificationsHighErrorRate: notifications down",
        "notifications",
        b.when(crash + 5),
        "Ines Duarte",
    )
    b.incident(
        "QEFUL4C8KB",
        7304,
        "FulfillmentLatencyHigh",
        "fulfillment",
        b.when(onset + 13),
        "Kwame Mensah",
        urgency="low",
    )
    b.oncall("Messaging", "Ines Duarte", schedule="Messaging primary")
    b.oncall("Logistics", "Kwame Mensah", schedule="Logistics primary")
    b.meta = {
        "question": "why is fulfillment slow?",
        "service": "fulfillment",
        "fault": "cpu",
        "description": "From 11:05 heavier multi-parcel allocation requests push fulfillment's "
        "two pods onto their 500m CPU limit: CFS throttling goes from a few % to ~70%, p99 "
        "latency from ~0.5 s to >2 s; traffic is flat, no deploy. At the same time (11:02) "
        "notifications, an unrelated service, crash-loops after an SMTP credentials rotation "
        "and fires loud critical alerts and a high-urgency page: a red herring for this question.",
    }
    return b


def payments_db_benign_deploy() -> Builder:
    """db_connections, with a benign api-gateway deploy seven minutes before the onset."""
    b = Builder("payments-db-benign-deploy", "2026-09-03T13:00", 4, seed=1515)
    nodes = ["ip-10-9-2-18.ec2.internal", "ip-10-9-6-240.ec2.internal", "ip-10-9-11-5.ec2.internal"]
    onset = b.at("14:12")
    rps = traffic(b, 160, 0.3, 15)
    base = (10 + 0.03 * rps) * b.noise(0.08)
    pile = 140 * b.ramp(onset, onset + 15) ** 1.3 * b.noise(0.03)
    active = np.minimum(base + pile, 147 - 2)
    iit = 2 * b.noise(0.3)
    idle = np.clip(25 * b.noise(0.05) - pile, 0, None)
    b.postgres(
        "pg-payments-1:9187",
        150,
        {"payments": {"active": active, "idle": idle, "idle in transaction": iit}},
    )
    sat = np.clip((base + pile + 25 - 147) / 10, 0, 1)
    ramp = b.ramp(onset, onset + 15)
    ep = 0.0008 + 0.3 * sat
    eg = 0.0005 + 0.15 * sat
    rates = {
        ("POST", "200"): 0.65 * rps * (1 - ep),
        ("POST", "500"): 0.65 * rps * ep,
        ("GET", "200"): 0.35 * rps * (1 - eg),
        ("GET", "500"): 0.35 * rps * eg,
    }
    counts = b.http("payments", rates)
    b.latency("payments", counts, [(1.0, 0.05 * (1 + 4 * ramp + 10 * sat), 0.55 + 0.25 * sat)], STD)
    for k, p in enumerate(b.pod_names("payments", 3)):
        b.pod(
            "payments",
            p,
            "payments",
            nodes[k],
            cpu=(0.06 + 0.003 * rps / 3) * b.noise(0.05),
            mem=0,
            memory=False,
            ksm=False,
        )
    deploy = b.at("14:05")
    gpods, _, gavail = rollout(b, "api-gateway", nodes, 3, deploy)
    gw = traffic(b, 1100, 0.3, 15)
    pay5 = 0.65 * rps * ep + 0.35 * rps * eg
    g5 = gw * 0.0005 + pay5
    gcounts = b.http("api-gateway", {("GET", "200"): gw - g5, ("GET", "500"): g5})
    share_pay = rps / gw
    b.latency(
        "api-gateway",
        gcounts,
        [
            (1 - share_pay, 0.035, 0.5),
            (share_pay, 0.05 * (1 + 4 * ramp + 10 * sat) + 0.004, 0.55 + 0.25 * sat),
        ],
        STD,
    )
    for p, node, alive, _ in gpods:
        b.pod(
            "edge",
            p,
            "envoy",
            node,
            cpu=(0.1 + 0.0008 * gw / 3) * b.noise(0.05),
            mem=0,
            memory=False,
            alive=alive,
            ksm=False,
        )
    b.replicas("edge", "api-gateway", gavail)
    healthy(b, "search", "search", nodes, traffic(b, 300, 0.3, 15), pods=0)
    b.change(
        "CHG-7310",
        "Deploy api-gateway v2.31.0 (envoy 1.31 bump, new access-log format)",
        "api-gateway",
        "argo-cd",
        b.when(deploy),
        kind="deploy",
        version="v2.31.0",
        previous="v2.30.2",
        image="registry.example.com/api-gateway:2.31.0",
        commit="5d02bb1",
        author="deploy-bot",
    )
    b.change(
        "FF-1840",
        "search.semantic_rerank rollout 5% -> 25%",
        "search",
        "launchdarkly",
        b.when("13:10"),
        kind="feature_flag",
        flag="search.semantic_rerank",
        rollout="25%",
        previous="5%",
    )
    b.alert(
        "PostgresqlTooManyConnections",
        "warning",
        {"instance": "pg-payments-1:9187", "job": "postgres-exporter"},
        "Postgresql too many connections (> 80%).",
        "PostgreSQL instance pg-payments-1 has more than 80% of max_connections in use.",
        b.when(onset + 12),
    )
    b.alert(
        "PaymentsHighErrorRate",
        "critical",
        {"service": "payments", "namespace": "payments", "team": "payments"},
        "payments 5xx ratio is 22% (threshold 2%).",
        "payments returns 500 on POST /v2/charges.",
        b.when(onset + 19),
        group_by=("service",),
    )
    b.alert(
        "ApiGatewayHighErrorRate",
        "warning",
        {"service": "api-gateway", "namespace": "edge", "team": "edge"},
        "api-gateway 5xx ratio is 3.1% (threshold 2%).",
        "api-gateway 5xx above 2% for 5 minutes.",
        b.when(onset + 22),
        group_by=("service",),
    )
    b.incident(
        "QFPAY0T5GV",
        5581,
        "PaymentsHighErrorRate: payments 5xx",
        "payments",
        b.when(onset + 20),
        "Dana Levi",
    )
    b.oncall("Payments", "Dana Levi", schedule="Payments primary")
    b.oncall("Edge", "Noah Becker", schedule="Edge primary")
    b.meta = {
        "question": "payments started erroring right after the api-gateway deploy — did the deploy "
        "break it?",
        "service": "payments",
        "fault": "db_connections",
        "description": "api-gateway v2.31.0 rolls out at 14:05 and is benign (gateway latency for "
        "other routes and its own errors unchanged). From 14:12 payments' queries pile up: "
        "pg_stat_activity_count{datname=payments,state=active} climbs from ~15 to the 150 "
        "max_connections by ~14:27, after which payments returns 500s (~25% of POSTs) and latency "
        "balloons; the gateway just passes those 500s through. A search feature-flag change at "
        "13:10 is unrelated.",
    }
    return b


def orders_oom_after_deploy() -> Builder:
    """Memory after a deploy: the new build leaks, OOMKills follow (saturation beats deploy)."""
    b = Builder("orders-oom-after-deploy", "2026-09-22T09:00", 4, seed=1616)
    nodes = ["k8s-worker-21", "k8s-worker-22", "k8s-worker-23"]
    at = b.at("10:30")
    pods, share, avail = rollout(b, "orders", nodes, 3, at)
    rps = traffic(b, 150, 0.3, 13)
    limit = 1 * GIB
    down = np.zeros(b.n)
    gc = np.zeros(b.n)
    first: list[tuple[str, int]] = []
    for k, (p, node, alive, is_new) in enumerate(pods):
        cpu = (0.05 + 0.004 * rps / 3) * b.noise(0.05)
        if not is_new:
            b.pod(
                "commerce",
                p,
                "orders",
                node,
                cpu=cpu,
                mem=452 * MIB * b.noise(0.01, 0.97),
                alive=alive,
                mem_limit=limit,
            )
            continue
        start = int(np.argmax(alive > 0))
        mem, rs = b.leak(420 * MIB, start, (13 + 2 * k) * MIB, limit, cold=400 * MIB, warm=30 * MIB)
        fill = np.clip(mem / limit, 0, 1) * alive
        gc += fill**6 / 3
        cpu = cpu * (1 + 1.2 * fill**4)
        for r in rs:
            down[r] += 0.9 / 3
            avail[r] -= 1
        first.append((p, rs[0]))
        b.pod(
            "commerce",
            p,
            "orders",
            node,
            cpu=cpu,
            mem=mem,
            alive=alive,
            mem_limit=limit,
            cpu_limit=1.0,
            restarts=rs,
            oom=True,
            restart_series=True,
        )
    e = np.clip(down, 0, 0.9) + 0.0008
    counts = b.http("orders", split(rps, {"POST": 0.4, "GET": 0.6}, {"503": e}), new=("503",))
    b.latency("orders", counts, [(1.0, 0.05 * (1 + 3 * gc), 0.5 + 0.3 * gc)], STD)
    b.replicas("commerce", "orders", avail)
    healthy(b, "cart", "commerce", nodes, traffic(b, 230, 0.3, 13), pods=0)
    healthy(b, "inventory", "warehouse", nodes, traffic(b, 200, 0.3, 13), pods=0)
    b.change(
        "CHG-8841",
        "Deploy orders v3.8.0 (order-history cache, jackson 2.18)",
        "orders",
        "argo-cd",
        b.when(at),
        kind="deploy",
        version="v3.8.0",
        previous="v3.7.6",
        image="registry.example.com/orders:3.8.0",
        commit="c47f0e2",
        author="deploy-bot",
    )
    for p, r in first:
        b.alert(
            "KubernetesContainerOomKiller",
            "warning",
            {"namespace": "commerce", "pod": p, "container": "orders"},
            "Kubernetes Container oom killer.",
            f"Container orders in pod commerce/{p} has been OOMKilled 1 times in the last 10 "
            "minutes.",
            b.when(r, 50),
            expr="(kube_pod_container_status_restarts_total - kube_pod_container_status_"
            "restarts_total offset 10m >= 1) and ignoring (reason) "
            "min_over_time(kube_pod_container_"
            'status_last_terminated_reason{reason="OOMKilled"}[10m]) == 1',
        )
    b.alert(
        "OrdersErrorBudgetBurn",
        "warning",
        {"service": "orders", "namespace": "commerce", "slo": "orders-availability"},
        "orders is burning its error budget 7x too fast.",
        "orders 5xx ratio over 6h is 0.7% (budget 0.1%).",
        b.when(sorted(r for _, r in first)[-1] + 6),
        group_by=("service",),
    )
    b.alert(
        "NodeFilesystemSpaceFillingUp",
        "warning",
        {
            "instance": "k8s-logging-01",
            "mountpoint": "/var/lib/elasticsearch",
            "device": "/dev/sdc1",
            "fstype": "ext4",
            "job": "node-exporter",
        },
        "Filesystem is predicted to run out of space within the next 24 hours.",
        "Filesystem on /dev/sdc1 at k8s-logging-01 has only 14.10% available space left "
        "and is filling up.",
        b.when("07:55"),
    )
    b.incident(
        "QGORD3E6YT",
        9127,
        "OrdersErrorBudgetBurn: orders availability",
        "orders",
        b.when(sorted(r for _, r in first)[-1] + 7),
        "Ana Lima",
        urgency="low",
    )
    b.oncall("Commerce", "Ana Lima", schedule="Commerce primary")
    b.meta = {
        "question": "orders has been flaky since this morning's deploy — what's wrong?",
        "service": "orders",
        "fault": "memory",
        "description": "orders v3.8.0 rolls out at 10:30. The new pods' working set grows "
        "~13-17 MiB/min until it hits the 1 GiB limit; each pod is OOMKilled roughly every "
        "40-50 minutes (restarts, last terminated reason OOMKilled, CPU counter resets), with GC "
        "latency before each kill and 503 bursts at each restart. The deploy triggered it, but "
        "the most specific root cause in the data is memory exhaustion. A filesystem warning on "
        "the logging node is noise.",
    }
    return b


def search_deploy_latency() -> Builder:
    """Deploy (latency only): search v4.2.0 slows queries; a config and a scale event nearby."""
    b = Builder("search-deploy-latency", "2026-10-08T09:00", 4, seed=1717)
    nodes = [
        "gke-prod-search-pool-51a0c3d9-6mrt",
        "gke-prod-search-pool-51a0c3d9-b8kx",
        "gke-prod-search-pool-51a0c3d9-x0qd",
    ]
    at = b.at("10:40")
    pods, share, avail = rollout(b, "search", nodes, 3, at, spacing=3)
    rps = traffic(b, 380, 0.3, 12)
    counts = b.http("search", {("GET", "200"): rps * 0.9995, ("GET", "500"): rps * 0.0005})
    b.latency("search", counts, [(1 - share, 0.034, 0.55), (share, 0.055, 1.1)], FAST)
    for p, node, alive, is_new in pods:
        b.pod(
            "search",
            p,
            "search-api",
            node,
            cpu=(0.3 + 0.006 * rps / 3) * (1.12 if is_new else 1) * b.noise(0.05),
            mem=0,
            memory=False,
            cpu_limit=4.0,
            alive=alive,
        )
    b.replicas("search", "search", avail)
    healthy(b, "autocomplete", "search", nodes, traffic(b, 520, 0.3, 12), cpu_cost=0.0011)
    crps = traffic(b, 310, 0.3, 12)
    b.http("catalog", {("GET", "200"): crps * 0.9994, ("GET", "500"): crps * 0.0006})
    b.replicas("catalog", "catalog", 4 + b.window("10:56"))
    b.change(
        "CHG-9340",
        "autocomplete: MAX_SUGGESTIONS 8 -> 10",
        "autocomplete",
        "config-sync",
        b.when("10:02"),
        kind="config",
        key="MAX_SUGGESTIONS",
        old="8",
        new="10",
    )
    b.change(
        "CHG-9344",
        "Deploy search v4.2.0 (new analyzer chain for query parsing)",
        "search",
        "argo-cd",
        b.when(at),
        kind="deploy",
        version="v4.2.0",
        previous="v4.1.7",
        image="registry.example.com/search-api:4.2.0",
        commit="e03a9d4",
        author="deploy-bot",
    )
    b.change(
        "HPA-catalog-7",
        "HorizontalPodAutoscaler catalog scaled 4 -> 5",
        "catalog",
        "kubernetes/hpa",
        b.when("10:55"),
        kind="scale",
        replicas_from=4,
        replicas_to=5,
    )
    b.alert(
        "SearchLatencyP99High",
        "warning",
        {"service": "search", "namespace": "search", "team": "search"},
        "search p99 latency is 710ms (SLO 300ms).",
        "search p99 above 300ms for 10 minutes.",
        b.when(at + 17),
        group_by=("service",),
    )
    b.alert(
        "AlertmanagerFailedToSendAlerts",
        "warning",
        {"namespace": "monitoring", "pod": "alertmanager-main-1", "integration": "email"},
        "An Alertmanager instance failed to send notifications.",
        "Alertmanager monitoring/alertmanager-main-1 failed to send 12.5% of "
        "notifications to email.",
        b.when("09:20"),
    )
    b.oncall("Search Platform", "Tomás Ferreira", schedule="Search primary")
    b.meta = {
        "question": "why is search slow?",
        "service": "search",
        "fault": "deploy",
        "description": "search v4.2.0 rolls out from 10:40 (pods replaced every 3 minutes). As new "
        "pods take traffic p50 goes ~34 -> 55 ms and p99 ~0.12 -> 0.7 s; errors unchanged, CPU "
        "+12% and far below the 4-core limit, flat traffic. An autocomplete config change at "
        "10:02 and a catalog HPA scale-up at 10:55 are nearby but unrelated.",
    }
    return b


def auth_cpu_after_config() -> Builder:
    """Cpu after a config change: a higher password-hash cost saturates auth (saturation wins)."""
    b = Builder("auth-cpu-after-config", "2026-10-27T07:00", 4, seed=1818)
    nodes = [
        "ip-10-2-33-71.ec2.internal",
        "ip-10-2-40-12.ec2.internal",
        "ip-10-2-51-190.ec2.internal",
    ]
    at = b.at("09:15")
    c = 1 + 7 * b.step(at + 1, 0.6)
    rps = traffic(b, 110, 0.4, 9)
    limit = 1.5
    demand = (0.05 + (0.7 * 0.002 + 0.3 * 0.045 * c) * rps / 3) * b.noise(0.03)
    p = pressure_of(demand, limit)
    tp = np.clip(0.25 * p, 0, 0.4)
    tg = np.clip(0.03 * p, 0, 0.1)
    rates = {
        ("POST", "200"): 0.3 * rps * (1 - tp),
        ("POST", "504"): 0.3 * rps * tp,
        ("GET", "200"): 0.7 * rps * (1 - tg),
        ("GET", "504"): 0.7 * rps * tg,
    }
    counts = b.http("auth", rates, new=("504",))
    b.latency(
        "auth",
        counts,
        [
            (0.7, 0.012 * (1 + 10 * p), 0.5 + 0.2 * np.minimum(p, 1)),
            (0.3 * (1 - tp), 0.06 * (1 + 20 * p), 0.6),
            (0.3 * tp + 0.7 * tg, 5.0, 0.01),
        ],
        SLOW,
    )
    for k, pod in enumerate(b.pod_names("auth", 3)):
        b.pod(
            "identity",
            pod,
            "auth",
            nodes[k],
            cpu=demand * (1 + 0.03 * (k - 1)) * b.noise(0.03),
            mem=0,
            memory=False,
            cpu_limit=limit,
            throttle=True,
        )
    healthy(b, "users", "identity", nodes, traffic(b, 150, 0.4, 9), cpu_cost=0.002)
    healthy(b, "api-gateway", "edge", nodes, traffic(b, 900, 0.4, 9), pods=0)
    b.change(
        "CHG-10021",
        "auth: PASSWORD_HASH_COST 10 -> 13 (security hardening)",
        "auth",
        "helm",
        b.when(at),
        kind="config",
        key="PASSWORD_HASH_COST",
        old="10",
        new="13",
        chart="auth-0.42.1",
        author="sec-eng",
        ticket="SEC-771",
    )
    b.alert(
        "AuthLatencyHigh",
        "critical",
        {"service": "auth", "namespace": "identity", "team": "identity"},
        "auth p99 latency is 5s (SLO 800ms).",
        "auth p99 above 800ms for 5 minutes.",
        b.when(at + 6),
        group_by=("service",),
    )
    b.alert(
        "AuthHighErrorRate",
        "warning",
        {"service": "auth", "namespace": "identity", "team": "identity"},
        "auth 5xx ratio is 9% (threshold 2%).",
        "auth returns 504 on POST /v1/login.",
        b.when(at + 9),
        group_by=("service",),
    )
    b.alert(
        "CPUThrottlingHigh",
        "info",
        {"namespace": "identity", "container": "auth"},
        "Processes experience elevated CPU throttling.",
        "89% throttling of CPU in namespace identity for container auth.",
        b.when(at + 16),
    )
    b.alert(
        "NodeFilesystemSpaceFillingUp",
        "warning",
        {
            "instance": "ip-10-2-60-7.ec2.internal",
            "mountpoint": "/var/log",
            "device": "/dev/nvme1n1",
            "fstype": "xfs",
            "job": "node-exporter",
        },
        "Filesystem is predicted to run out of space within the next 24 hours.",
        "Filesystem on /dev/nvme1n1 at ip-10-2-60-7.ec2.internal has only 19.30% "
        "available space left.",
        b.when("06:41"),
    )
    b.incident(
        "QHAUT7K0DQ",
        3377,
        "AuthLatencyHigh: auth p99 latency",
        "auth",
        b.when(at + 7),
        "Kenji Watanabe",
    )
    b.oncall("Identity", "Kenji Watanabe", schedule="Identity primary")
    b.meta = {
        "question": "login requests are timing out — what's going on with auth?",
        "service": "auth",
        "fault": "cpu",
        "description": "At 09:15 a config change raises PASSWORD_HASH_COST from 10 to 13 (8x the "
        "CPU per login). auth's pods pin at their 1.5-core limit, CFS throttling goes to ~90%, "
        "logins time out (504) and even token validation slows. The change explains why, but the "
        "most specific root cause in the data is CPU saturation. A filesystem warning on a "
        "logging node is noise.",
    }
    return b


def checkout_tax_errors() -> Builder:
    """Errors (internal dependency): tax returns 503s; checkout fails, a cart deploy is nearby."""
    b = Builder("checkout-tax-errors", "2026-12-09T15:00", 4, seed=1919)
    nodes = ["worker-b4", "worker-b7", "worker-b9"]
    f = np.clip((0.42 * b.window("16:41", "18:20") + 0.15 * b.window("18:20")) * b.noise(0.1), 0, 1)
    trps = traffic(b, 95, 0.3, 17)
    b.http(
        "tax",
        {
            ("POST", "200"): trps * (1 - f - 0.0005),
            ("POST", "500"): trps * 0.0005,
            ("POST", "503"): trps * f,
        },
        new=("503",),
    )
    for k, p in enumerate(b.pod_names("tax", 2)):
        b.pod(
            "finance",
            p,
            "tax",
            nodes[k],
            cpu=(0.04 + 0.002 * trps / 2) * b.noise(0.05),
            mem=(210 + 9 * k) * MIB * b.noise(0.01, 0.97),
            ksm=False,
        )
    rps = traffic(b, 70, 0.3, 17)
    e = 0.0009 + f**2 * 0.95
    rates = {
        ("POST", "200"): 0.55 * rps * (1 - e),
        ("POST", "502"): 0.55 * rps * e,
        ("GET", "200"): 0.45 * rps,
    }
    counts = b.http("checkout", rates, new=("502",))
    retry = 0.55 * f
    b.latency("checkout", counts, [(1 - retry, 0.12, 0.5), (retry, 0.2, 0.5)], STD)
    for k, p in enumerate(b.pod_names("checkout", 2)):
        b.pod(
            "commerce",
            p,
            "checkout",
            nodes[k + 1],
            cpu=(0.05 + 0.005 * rps / 2) * b.noise(0.05),
            mem=0,
            memory=False,
            ksm=False,
        )
    cpods, _, cavail = rollout(b, "cart", nodes, 2, b.at("15:35"))
    crt = traffic(b, 210, 0.3, 17)
    b.http("cart", {("POST", "200"): crt * 0.999, ("POST", "500"): crt * 0.001})
    for p, node, alive, _ in cpods:
        b.pod(
            "commerce",
            p,
            "cart",
            node,
            cpu=(0.05 + 0.003 * crt / 2) * b.noise(0.05),
            mem=0,
            memory=False,
            alive=alive,
            ksm=False,
        )
    b.change(
        "CHG-11208",
        "Deploy cart v5.4.1 (copy changes)",
        "cart",
        "argo-cd",
        b.when("15:35"),
        kind="deploy",
        version="v5.4.1",
        previous="v5.4.0",
        author="deploy-bot",
    )
    b.alert(
        "TaxServiceErrors",
        "warning",
        {"service": "tax", "namespace": "finance", "team": "finance"},
        "tax 5xx ratio is 41% (threshold 5%).",
        "tax returns 503 on POST /v1/quote.",
        b.when("16:45"),
        group_by=("service",),
    )
    b.alert(
        "CheckoutHighErrorRate",
        "critical",
        {"service": "checkout", "namespace": "commerce", "team": "commerce"},
        "checkout 5xx ratio is 9.6% (threshold 2%).",
        "checkout returns 502 on POST /v1/checkout.",
        b.when("16:47"),
        group_by=("service",),
    )
    b.alert(
        "KubeQuotaAlmostFull",
        "info",
        {"namespace": "finance", "resource": "requests.memory"},
        "Namespace quota is going to be full.",
        "Namespace finance is using 91% of its requests.memory quota.",
        b.when("14:02"),
    )
    b.incident(
        "QICHK2W9PF",
        10233,
        "CheckoutHighErrorRate: checkout 5xx",
        "checkout",
        b.when("16:48"),
        "Omar Farouk",
    )
    b.oncall("Commerce", "Omar Farouk", schedule="Commerce primary")
    b.oncall("Finance Platform", "Yara Nasser", schedule="Finance primary")
    b.meta = {
        "question": "what's going on with the checkout errors?",
        "service": "checkout",
        "fault": "errors",
        "description": "From 16:41 the internal tax service answers ~40% of quote "
        "requests with 503 "
        "(its own CPU, memory and deploys are unremarkable; the cause lies beyond the data). "
        "checkout retries once and then returns 502, ~15% of checkout POSTs. No saturation, "
        "change or surge on checkout; the cart deploy at 15:35 is unrelated.",
    }
    return b


SCENARIOS = [
    payments_cpu_throttling,
    search_oomkilled,
    billing_disk_full,
    auth_idp_latency,
    inventory_vendor_errors,
    orders_db_connections,
    gateway_packet_loss,
    pricing_noisy_neighbor,
    storefront_cert_expired,
    shipping_config_timeout,
    recommendations_feature_flag,
    catalog_traffic_surge,
    cart_deploy_errors,
    fulfillment_cpu_loud_herring,
    payments_db_benign_deploy,
    orders_oom_after_deploy,
    search_deploy_latency,
    auth_cpu_after_config,
    checkout_tax_errors,
]


def main(argv: list[str]) -> None:
    """Regenerate all scenarios, or only those named on the command line."""
    root = Path(__file__).resolve().parent
    for make in SCENARIOS:
        b = make()
        if argv and b.name not in argv:
            continue
        d = b.write(root)
        size = (d / "metrics.om").stat().st_size
        print(f"{b.name:40s} {b.meta['service']:>16s}/{b.meta['fault']:<15s} {size / 1e3:8.0f} kB")


if __name__ == "__main__":
    main(sys.argv[1:])
