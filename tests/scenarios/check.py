"""Self-check of the scenario suite: loader, promtool, counter sanity, visible signal.

Run from the repository root:  .venv/bin/python tests/scenarios/check.py [DIR ...]

For every scenario directory (default: every directory under tests/scenarios that has a
scenario.yaml) it checks that ``tools.scenario.load_scenario`` accepts it, that
``promtool tsdb create-blocks-from openmetrics`` accepts metrics.om (skipped with a note
when promtool is not installed), that the dates do not overlap, that counters only go
down where a container really restarted, that histograms are consistent, and that the
labelled service has http metrics. It then prints, per scenario, the labelled service's
request rate, 5xx ratio and p99 latency plus the key metric of the labelled fault:
baseline (median of the first 40 minutes) versus the most extreme 5-minute value later.
Exit status 1 when any check fails.
"""

from __future__ import annotations

import math
import shutil
import subprocess
import sys
import tempfile
from collections import defaultdict
from pathlib import Path

import numpy as np

from tools.scenario import Scenario, Series, load_scenario

HERE = Path(__file__).resolve().parent
RESETTABLE = ("container_cpu_usage_seconds_total", "container_cpu_cfs_")


class Grid:
    """Series of a scenario on its 60 s grid, with a few PromQL-like helpers."""

    def __init__(self, sc: Scenario) -> None:
        self.t0 = int(sc.meta.start.timestamp())
        self.n = int((sc.meta.end - sc.meta.start).total_seconds() // 60) + 1
        self.by_name: dict[str, list[Series]] = defaultdict(list)
        for s in sc.series:
            self.by_name[s.name].append(s)

    def arr(self, s: Series) -> np.ndarray:
        a = np.full(self.n, np.nan)
        for ts, v in s.samples:
            k = int((ts - self.t0) // 60)
            if 0 <= k < self.n:
                a[k] = v
        return a

    def select(self, name: str, **match: str) -> list[Series]:
        return [
            s
            for s in self.by_name.get(name, [])
            if all(
                (
                    s.labels.get(k, "").startswith(v[:-1])
                    if v.endswith("*")
                    else s.labels.get(k) == v
                )
                for k, v in match.items()
            )
        ]

    def increase(self, s: Series, window: int = 5) -> np.ndarray:
        """Per-step increase over ``window`` minutes, counter resets handled like rate()."""
        a = self.arr(s)
        d = np.diff(a, prepend=np.nan)
        d = np.where(d < 0, a, d)  # reset: the new value is the increase
        d = np.nan_to_num(d, nan=0.0)
        return np.convolve(d, np.ones(window), mode="full")[: self.n]

    def sum_increase(self, name: str, window: int = 5, **match: str) -> np.ndarray:
        out = np.zeros(self.n)
        for s in self.select(name, **match):
            out += self.increase(s, window)
        return out

    def gauge_sum(self, name: str, **match: str) -> np.ndarray:
        out = np.zeros(self.n)
        for s in self.select(name, **match):
            out += np.nan_to_num(self.arr(s))
        return out

    def p99(self, service: str) -> np.ndarray:
        by_le: dict[float, np.ndarray] = defaultdict(lambda: np.zeros(self.n))
        for s in self.select("http_request_duration_seconds_bucket", service=service):
            le = math.inf if s.labels["le"] == "+Inf" else float(s.labels["le"])
            by_le[le] = by_le[le] + self.increase(s)
        les = sorted(by_le)
        out = np.full(self.n, np.nan)
        for k in range(self.n):
            total = by_le[math.inf][k] if les else 0
            if total <= 0:
                continue
            rank = 0.99 * total
            prev_le, prev_c = 0.0, 0.0
            for le in les:
                c = by_le[le][k]
                if c >= rank:
                    if math.isinf(le):
                        out[k] = prev_le
                    else:
                        out[k] = prev_le + (le - prev_le) * (rank - prev_c) / max(c - prev_c, 1e-9)
                    break
                prev_le, prev_c = le, c
        return out


def key_metric(g: Grid, sc: Scenario) -> tuple[str, np.ndarray, str]:
    """(label, per-minute values, 'max'|'min') of the fault's key metric."""
    svc, fault = sc.meta.truth.service, sc.meta.truth.fault
    pods = {s.labels["pod"] for s in g.select("container_cpu_usage_seconds_total", pod=f"{svc}-*")}
    if fault == "cpu":
        thr = sum(
            (g.sum_increase("container_cpu_cfs_throttled_periods_total", pod=p) for p in pods),
            np.zeros(g.n),
        )
        per = sum(
            (g.sum_increase("container_cpu_cfs_periods_total", pod=p) for p in pods), np.zeros(g.n)
        )
        return "throttled ratio", thr / np.where(per > 0, per, np.nan), "max"
    if fault == "memory":
        best = np.zeros(g.n)
        for s in g.select("container_memory_working_set_bytes", pod=f"{svc}-*"):
            lim = g.select(
                "kube_pod_container_resource_limits", pod=s.labels["pod"], resource="memory"
            )
            if lim:
                best = np.fmax(best, g.arr(s) / g.arr(lim[0]))
        return "max working_set/limit", best, "max"
    if fault == "disk":
        worst = np.ones(g.n)
        for s in g.by_name["node_filesystem_avail_bytes"]:
            size = g.select("node_filesystem_size_bytes", **s.labels)
            worst = np.fmin(worst, g.arr(s) / g.arr(size[0]))
        return "min fs avail/size", worst, "min"
    if fault == "db_connections":
        used = g.gauge_sum("pg_stat_activity_count")
        mx = g.gauge_sum("pg_settings_max_connections")
        return "pg conns/max", used / np.where(mx > 0, mx, np.nan), "max"
    if fault == "network":
        worst = np.zeros(g.n)
        for s in g.by_name["node_netstat_Tcp_RetransSegs"]:
            worst = np.fmax(worst, g.increase(s, 1) / 60)
        return "max node retrans/s", worst, "max"
    if fault == "noisy_neighbor":
        nodes = {s.labels["node"] for s in g.select("kube_pod_info", pod=f"{svc}-*")}
        worst = np.zeros(g.n)
        for node in nodes:
            idle = g.sum_increase("node_cpu_seconds_total", 1, instance=node, mode="idle")
            allm = g.sum_increase("node_cpu_seconds_total", 1, instance=node)
            if allm.any():
                worst = np.fmax(worst, 1 - idle / np.where(allm > 0, allm, np.nan))
        return "victim node cpu busy", worst, "max"
    if fault == "certificate":
        exp = np.full(g.n, np.nan)
        for s in g.by_name["probe_ssl_earliest_cert_expiry"]:
            days = (g.arr(s) - (g.t0 + 60 * np.arange(g.n))) / 86400
            exp = np.fmin(exp, days)
        return "min cert days left", exp, "min"
    if fault == "traffic_surge":
        return "rps", g.sum_increase("http_requests_total", 1, service=svc) / 60, "max"
    if fault in ("errors", "config", "deploy"):
        return "5xx ratio", ratio_5xx(g, svc), "max"
    return "p99 s", g.p99(svc), "max"


def ratio_5xx(g: Grid, svc: str) -> np.ndarray:
    bad = g.sum_increase("http_requests_total", service=svc, code="5*")
    allr = g.sum_increase("http_requests_total", service=svc)
    return bad / np.where(allr > 0, allr, np.nan)


def base_vs_peak(v: np.ndarray, how: str) -> tuple[float, float]:
    base = float(np.nanmedian(v[5:40]))
    rest = v[45:]
    peak = float(np.nanmin(rest) if how == "min" else np.nanmax(rest))
    return base, peak


def check_counters(g: Grid, sc: Scenario) -> list[str]:
    problems: list[str] = []
    restarts = {
        s.labels["pod"]: {
            int(ts) for (ts, v), (_, pv) in zip(s.samples[1:], s.samples, strict=False) if v > pv
        }
        for s in g.by_name.get("kube_pod_container_status_restarts_total", [])
    }
    for name, series in g.by_name.items():
        counter = (
            name.endswith("_total")
            or name.startswith("node_netstat_")
            or (name.startswith("http_request_duration_seconds_") and not name.endswith("_sum"))
        )
        if not counter:
            continue
        for s in series:
            for (ts, v), (_, pv) in zip(s.samples[1:], s.samples, strict=False):
                if v >= pv:
                    continue
                ok = name.startswith(RESETTABLE) and int(ts) in restarts.get(
                    s.labels.get("pod", ""), set()
                )
                if not ok:
                    problems.append(f"{name}{s.labels} decreases at {int(ts)}")
                    break
    for s in g.by_name.get("http_request_duration_seconds_count", []):
        inf = g.select("http_request_duration_seconds_bucket", le="+Inf", **s.labels)
        if not inf or [v for _, v in inf[0].samples] != [v for _, v in s.samples]:
            problems.append(f"histogram _count != +Inf bucket for {s.labels}")
    return problems


def promtool(path: Path) -> str:
    exe = shutil.which("promtool")
    if exe is None:
        return "skipped (no promtool)"
    with tempfile.TemporaryDirectory() as tmp:
        r = subprocess.run(
            [
                exe,
                "tsdb",
                "create-blocks-from",
                "openmetrics",
                "--max-block-duration=24h",
                str(path),
                tmp,
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        if r.returncode != 0:
            return "FAIL: " + (r.stderr or r.stdout).strip().splitlines()[-1]
        samples = 0
        for line in r.stdout.splitlines():
            parts = line.split()
            if len(parts) >= 8 and parts[0][:2].isalnum() and parts[4].isdigit():
                samples += int(parts[4])
        return f"ok ({samples} samples)"


def main(argv: list[str]) -> int:
    dirs = [Path(a) for a in argv] or sorted(p.parent for p in HERE.glob("*/scenario.yaml"))
    failed = False
    dates: dict[str, str] = {}
    rows = []
    total = 0
    for d in dirs:
        try:
            sc = load_scenario(d)
        except Exception as exc:
            print(f"{d.name}: load_scenario FAILED: {exc}")
            failed = True
            continue
        problems = []
        day = sc.meta.start.date().isoformat()
        if day in dates:
            problems.append(f"same date as {dates[day]}")
        dates[day] = d.name
        hours = (sc.meta.end - sc.meta.start).total_seconds() / 3600
        if not 4 <= hours <= 6:
            problems.append(f"window is {hours} h")
        g = Grid(sc)
        svc = sc.meta.truth.service
        if not g.select("http_requests_total", service=svc):
            problems.append("no http_requests_total for the labelled service")
        problems += check_counters(g, sc)
        pt = promtool(d / "metrics.om")
        if not pt.startswith(("ok", "skipped")):
            problems.append(f"promtool {pt}")
        size = (d / "metrics.om").stat().st_size
        total += size
        rps = g.sum_increase("http_requests_total", 1, service=svc) / 60
        r_b, r_p = base_vs_peak(rps, "max")
        r_lo = float(np.nanmin(rps[45:]))
        e_b, e_p = base_vs_peak(ratio_5xx(g, svc), "max")
        p_b, p_p = base_vs_peak(g.p99(svc), "max")
        label, values, how = key_metric(g, sc)
        k_b, k_p = base_vs_peak(values, how)
        rows.append(
            (
                d.name,
                f"{svc}/{sc.meta.truth.fault}",
                f"{r_b:.0f}->{r_lo:.0f}..{r_p:.0f}",
                f"{100 * e_b:.2f}->{100 * e_p:.1f}",
                f"{p_b:.2f}->{p_p:.2f}",
                f"{label}: {k_b:.3g} -> {k_p:.3g}",
                pt,
                f"{size / 1e3:.0f}kB",
                "; ".join(problems) or "ok",
            )
        )
        failed |= bool(problems)
    head = (
        "scenario",
        "truth",
        "rps",
        "5xx %",
        "p99 s",
        "key metric (base -> peak)",
        "promtool",
        "size",
        "checks",
    )
    widths = [max(len(str(r[i])) for r in [head, *rows]) for i in range(len(head))]
    for r in [head, *rows]:
        print("  ".join(str(c).ljust(w) for c, w in zip(r, widths, strict=False)))
    print(f"\n{len(rows)} scenarios, metrics.om total {total / 1e6:.2f} MB")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
