"""Signal probes: the standard PromQL an SRE would run first, and what each series did.

Each :class:`Probe` is a PromQL template over standard metric names (node_exporter,
cAdvisor/kubelet ``container_*``, kube-state-metrics ``kube_*``, Prometheus client
``http_*``, postgres_exporter ``pg_*``, blackbox_exporter ``probe_*``). Custom metric
names map onto these through :class:`MetricNames` (documented in ``docs/scenarios.md``).

:func:`features` summarises one series: its baseline, recent level, peak, and the
change point where it shifted (the onset), so the analyst can compare timings.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field

from pydantic import BaseModel, Field


class MetricNames(BaseModel):
    """Metric names the probes use; override for non-standard exporters."""

    http_requests: str = Field(default="http_requests_total", description="Request counter.")
    http_duration_bucket: str = Field(
        default="http_request_duration_seconds_bucket", description="Latency histogram buckets."
    )
    http_code_label: str = Field(default="code", description="Label holding the HTTP status.")
    service_label: str = Field(default="service", description="Label naming the service.")


@dataclass(frozen=True)
class Probe:
    """One PromQL probe and how to read it."""

    key: str
    title: str
    promql: str
    unit: str  # "ratio", "seconds", "rps", "bytes", "count", "per_s"


def probes(names: MetricNames) -> list[Probe]:
    """The probe catalogue, rendered for ``names``."""
    req, bucket = names.http_requests, names.http_duration_bucket
    code, svc = names.http_code_label, names.service_label
    return [
        Probe(
            "error_ratio",
            "5xx error ratio",
            # "or ... * 0": a service with no 5xx series yet reads 0, not "no data"
            f'(sum by ({svc}) (rate({req}{{{code}=~"5.."}}[5m]))'
            f" or sum by ({svc}) (rate({req}[5m])) * 0)"
            f" / sum by ({svc}) (rate({req}[5m]))",
            "ratio",
        ),
        Probe(
            "latency_p99",
            "p99 latency",
            f"histogram_quantile(0.99, sum by ({svc}, le) (rate({bucket}[5m])))",
            "seconds",
        ),
        Probe("request_rate", "request rate", f"sum by ({svc}) (rate({req}[5m]))", "rps"),
        Probe(
            "pod_cpu",
            "container CPU usage / limit",
            "sum by (namespace, pod) (rate(container_cpu_usage_seconds_total[5m]))"
            ' / sum by (namespace, pod) (kube_pod_container_resource_limits{resource="cpu"})',
            "ratio",
        ),
        Probe(
            "pod_cpu_usage",
            "container CPU usage (cores)",
            "sum by (namespace, pod) (rate(container_cpu_usage_seconds_total[5m]))",
            "cores",
        ),
        Probe(
            "pod_throttling",
            "CPU throttled periods ratio",
            "sum by (namespace, pod) (rate(container_cpu_cfs_throttled_periods_total[5m]))"
            " / sum by (namespace, pod) (rate(container_cpu_cfs_periods_total[5m]))",
            "ratio",
        ),
        Probe(
            "pod_memory",
            "container memory working set / limit",
            "sum by (namespace, pod) (container_memory_working_set_bytes)"
            ' / sum by (namespace, pod) (kube_pod_container_resource_limits{resource="memory"})',
            "ratio",
        ),
        Probe(
            "pod_restarts",
            "container restarts (15m)",
            "sum by (namespace, pod) (increase(kube_pod_container_status_restarts_total[15m]))",
            "count",
        ),
        Probe(
            "pod_oomkilled",
            "last termination OOMKilled",
            "max by (namespace, pod) "
            '(kube_pod_container_status_last_terminated_reason{reason="OOMKilled"})',
            "count",
        ),
        Probe(
            "node_cpu",
            "node CPU busy",
            '1 - avg by (instance) (rate(node_cpu_seconds_total{mode="idle"}[5m]))',
            "ratio",
        ),
        Probe(
            "node_memory",
            "node memory used",
            "1 - node_memory_MemAvailable_bytes / node_memory_MemTotal_bytes",
            "ratio",
        ),
        Probe(
            "disk_used",
            "filesystem used",
            "1 - node_filesystem_avail_bytes / node_filesystem_size_bytes",
            "ratio",
        ),
        Probe(
            "db_connections",
            "database connections / max_connections",
            "sum by (instance, datname) (pg_stat_activity_count)"
            " / on (instance) group_left max by (instance) (pg_settings_max_connections)",
            "ratio",
        ),
        Probe(
            "net_errors",
            "network receive errors + transmit drops",
            "sum by (instance) (rate(node_network_receive_errs_total[5m]))"
            " + sum by (instance) (rate(node_network_transmit_drop_total[5m]))",
            "per_s",
        ),
        Probe(
            "tcp_retrans",
            "TCP retransmits",
            "sum by (instance) (rate(node_netstat_Tcp_RetransSegs[5m]))",
            "per_s",
        ),
        Probe(
            "cert_expiry",
            "TLS certificate time to expiry",
            "min by (instance) (probe_ssl_earliest_cert_expiry - time())",
            "seconds",
        ),
        Probe(
            "probe_success", "blackbox probe success", "min by (instance) (probe_success)", "ratio"
        ),
        Probe(
            "pod_node", "pod placement", "max by (pod, node, namespace) (kube_pod_info)", "count"
        ),
    ]


@dataclass
class Features:
    """What one series did over the window."""

    labels: dict[str, str]
    times: list[float] = field(repr=False)
    values: list[float] = field(repr=False)
    baseline: float
    recent: float
    post: float  # median level after the shift (== recent when there is no shift)
    peak: float
    trough: float
    onset: float | None  # unix time the series was halfway to its new level, if it shifted
    start: float | None  # unix time the shift began (a quarter of the way), if it shifted
    shift_score: float  # how clear the shift is (below SHIFT_MIN: no shift)

    @property
    def delta(self) -> float:
        """Recent level minus baseline."""
        return self.recent - self.baseline

    @property
    def level(self) -> float:
        """The level the series shifted to: the further from baseline of recent and post.

        An incident that eased by the time we look (autoscaling caught up, a retry
        storm died down) still shows at the level it held after the shift.
        """
        if abs(self.post - self.baseline) > abs(self.recent - self.baseline):
            return self.post
        return self.recent

    def ratio(self, floor: float) -> float:
        """Recent / baseline, with the baseline floored (avoids dividing by ~0)."""
        return self.recent / max(abs(self.baseline), floor)

    def first_crossing(self, threshold: float, *, above: bool = True) -> float | None:
        """First time the series crossed ``threshold``."""
        for t, v in zip(self.times, self.values, strict=True):
            if (v >= threshold) if above else (v <= threshold):
                return t
        return None


SHIFT_MIN = 2.5
"""Change-point strength below which a series is considered not to have shifted."""


def _finite(samples: Sequence[tuple[float, float]]) -> tuple[list[float], list[float]]:
    times, values = [], []
    for t, v in samples:
        if math.isfinite(v):
            times.append(t)
            values.append(v)
    return times, values


def change_point(values: Sequence[float]) -> tuple[int | None, float]:
    """Index of the strongest mean shift and its strength (a CUSUM-style statistic).

    The strength is the difference of means before and after, scaled by the noise
    (median absolute deviation of the first-differences) and by sqrt of segment sizes,
    so slow drifts and sharp steps both register while flat noise scores low.
    """
    n = len(values)
    if n < 8:
        return None, 0.0
    diffs = [abs(values[i + 1] - values[i]) for i in range(n - 1)]
    noise = statistics.median(diffs) * 1.4826 + 1e-12
    spread = (max(values) - min(values)) or 1e-12
    prefix = [0.0]
    for v in values:
        prefix.append(prefix[-1] + v)
    best_k, best = None, 0.0
    lo, hi = max(3, n // 20), n - 3
    for k in range(lo, hi):
        before = prefix[k] / k
        after = (prefix[n] - prefix[k]) / (n - k)
        score = abs(after - before) * math.sqrt(k * (n - k) / n)
        if score > best:
            best, best_k = score, k
    if best_k is None:
        return None, 0.0
    # normalise: relative to both the step noise and the series' range
    strength = best / (noise * math.sqrt(n)) if noise > spread * 1e-6 else best / spread
    return best_k, strength


def features(labels: dict[str, str], samples: Sequence[tuple[float, float]]) -> Features | None:
    """Summarise a series; ``None`` if it has too few finite points."""
    times, values = _finite(samples)
    if len(values) < 3:
        return None
    n = len(values)
    k, strength = change_point(values)
    tail = max(3, n // 12)
    recent = statistics.median(values[-tail:])
    onset: float | None = None
    start: float | None = None
    post = recent
    if k is not None and strength >= SHIFT_MIN:
        baseline = statistics.median(values[:k])
        level = statistics.median(values[k:])
        post = level
        rising = level >= baseline

        def first_past(fraction: float) -> float:
            mark = baseline + (level - baseline) * fraction
            for i in range(max(0, k - n // 5), n):
                if (values[i] >= mark) if rising else (values[i] <= mark):
                    return times[i]
            return times[k]

        onset, start = first_past(0.5), first_past(0.25)
    else:
        baseline = statistics.median(values[: max(3, n // 3)])
    return Features(
        labels=labels,
        times=times,
        values=values,
        baseline=baseline,
        recent=recent,
        post=post,
        peak=max(values),
        trough=min(values),
        onset=onset,
        start=start,
        shift_score=strength,
    )
