"""The deterministic analyst: evidence in, ranked hypotheses with confidences out.

No LLM. Each candidate root cause (a fault of the service under investigation) gets a
*strength* from named evidence — a saturation level and when it began, a change
point aligned with the symptom's onset, a deploy or config change just before it, a
traffic surge, alerts naming it — and a *weight* from how specific a cause it is:

* causes outside the service (``traffic_surge``, ``noisy_neighbor``) ≥ a specific
  resource exhausted (``cpu``, ``memory``, ``disk``, ``db_connections``, ``network``,
  ``certificate``) > a change event (``deploy``, ``config``) > a bare symptom
  (``errors``, ``latency``).

This mirrors how responders label root causes: the most specific cause the data shows
wins, and a symptom alone is only the answer when nothing explains it. Confidence is a
noisy-OR of the weighted strength and the supporting evidence (alerts, runbooks, past
incidents), so it stays in [0, 1) and grows with independent corroboration.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from agents.entities import EntityMap, host_of
from agents.reply import Evidence
from agents.signals import SHIFT_MIN, Features
from agents.sources import AlertFact, ChangeFact

FAULT_TITLES = {
    "cpu": "CPU saturation",
    "memory": "memory exhaustion (OOM kills / restarts)",
    "disk": "disk full",
    "db_connections": "database connection pool exhausted",
    "network": "network errors / packet loss",
    "noisy_neighbor": "noisy neighbour saturating the node",
    "certificate": "TLS certificate expired",
    "config": "bad configuration change",
    "traffic_surge": "traffic surge beyond capacity",
    "deploy": "bad deploy",
    "errors": "elevated error rate (no more specific cause found)",
    "latency": "elevated latency (no more specific cause found)",
}

WEIGHTS = {
    "traffic_surge": 0.95,
    "noisy_neighbor": 0.95,
    "cpu": 0.9,
    "memory": 0.92,
    "disk": 0.92,
    "db_connections": 0.92,
    "network": 0.9,
    "certificate": 0.94,
    "deploy": 0.8,
    "config": 0.82,
    "errors": 0.6,
    "latency": 0.58,
}

ALERT_KEYWORDS = {
    "cpu": r"cpu|throttl",
    "memory": r"memory|oom|mem\b",
    "disk": r"disk|filesystem|volume|inode|space",
    "db_connections": r"connection|postgres|\bpg|mysql|database|\bdb",
    "network": r"network|packet|drop|retrans|tcp|unreachable",
    "certificate": r"cert|ssl|tls|x509",
    "traffic_surge": r"traffic|request rate|surge|rps|load",
    "latency": r"latency|slow|duration|p9\d",
    "errors": r"error|5xx|fail",
    "deploy": r"deploy|rollout|replica",
    "noisy_neighbor": r"node.*cpu|cpu.*node|node.*load|steal",
}

ALIGN_SLACK_S = 10 * 60
"""A cause may start up to this long after the symptom's onset and still be aligned."""
CHANGE_LOOKBACK_S = 90 * 60
"""Changes older than this before the symptom are not considered its cause."""


def clip(value: float, lo: float = 0.0, hi: float = 1.0) -> float:
    """Clamp into [lo, hi]."""
    return max(lo, min(hi, value))


def ramp(value: float, lo: float, hi: float) -> float:
    """0 at ``lo``, 1 at ``hi``, linear between."""
    return clip((value - lo) / (hi - lo)) if hi != lo else float(value >= hi)


def hhmm(ts: float | None) -> str:
    """Unix time → ``HH:MM`` UTC."""
    if ts is None:
        return "?"
    return datetime.fromtimestamp(ts, tz=UTC).strftime("%H:%M")


def fmt(value: float, unit: str) -> str:
    """Format a value for a human."""
    if unit == "ratio":
        return f"{value * 100:.1f}%"
    if unit == "seconds":
        if abs(value) >= 86400 * 2:
            return f"{value / 86400:.1f} d"
        if abs(value) >= 120:
            return f"{value / 60:.0f} min"
        return f"{value:.3g} s" if abs(value) >= 1 else f"{value * 1000:.0f} ms"
    if unit == "rps":
        return f"{value:.3g} req/s"
    if unit == "cores":
        return f"{value:.2f} cores"
    if unit == "per_s":
        return f"{value:.3g}/s"
    return f"{value:.3g}"


@dataclass
class ProbeData:
    """One probe's outcome: its query and per-series features, or the failure."""

    key: str
    title: str
    promql: str
    unit: str
    series: list[Features] = field(default_factory=list)
    error: str | None = None


@dataclass
class Inputs:
    """Everything gathered for one investigation."""

    service: str | None
    start: datetime
    end: datetime
    probes: dict[str, ProbeData]
    alerts: list[AlertFact]
    changes: list[ChangeFact]
    source: str  # metrics source label for citations
    entities: EntityMap


@dataclass
class Candidate:
    """A root-cause hypothesis being scored."""

    fault: str
    service: str
    strength: float = 0.0
    align: float = 1.0
    support: list[tuple[float, Evidence]] = field(default_factory=list)
    evidence: list[Evidence] = field(default_factory=list)
    start: float | None = None
    notes: list[str] = field(default_factory=list)
    confidence: float = 0.0

    @property
    def title(self) -> str:
        """Readable title, e.g. ``checkout: database connection pool exhausted``."""
        return f"{self.service}: {FAULT_TITLES.get(self.fault, self.fault)}"

    def score(self) -> float:
        """Noisy-OR of the weighted strength and the supporting evidence."""
        main = WEIGHTS.get(self.fault, 0.5) * self.strength * self.align
        miss = 1.0 - main
        for weight, _ in self.support:
            miss *= 1.0 - weight
        # support alone (an alert, a runbook) never makes a cause likely
        cap = 0.35 if self.strength < 0.05 else 0.99
        self.confidence = round(min(cap, 1.0 - miss), 3)
        return self.confidence


@dataclass
class Symptom:
    """The user-visible trouble of the service under investigation."""

    errors: float = 0.0
    latency: float = 0.0
    traffic_drop: float = 0.0
    onset: float | None = None
    evidence: list[Evidence] = field(default_factory=list)

    @property
    def strength(self) -> float:
        """The strongest symptom."""
        return max(self.errors, self.latency, self.traffic_drop)


def _window_text(inputs: Inputs) -> str:
    return f"{inputs.start:%Y-%m-%d %H:%M} → {inputs.end:%H:%M} UTC"


def _evidence(inputs: Inputs, probe: ProbeData, feat: Features, summary: str) -> Evidence:
    return Evidence(
        source=inputs.source,
        summary=summary,
        query=probe.promql,
        time_range=_window_text(inputs),
        value=fmt(feat.recent, probe.unit),
    )


def _related(inputs: Inputs, key: str, service: str, *, min_rel: float = 0.8) -> list[Features]:
    probe = inputs.probes.get(key)
    if probe is None:
        return []
    return [f for f in probe.series if inputs.entities.relation(service, f.labels) >= min_rel]


def _shift_text(probe: ProbeData, feat: Features) -> str:
    when = f", rising from {hhmm(feat.start)}" if feat.start and feat.delta > 0 else ""
    return (
        f"{probe.title} {fmt(feat.baseline, probe.unit)} → {fmt(feat.recent, probe.unit)} "
        f"(peak {fmt(feat.peak, probe.unit)}){when}"
    )


def symptom_of(inputs: Inputs, service: str) -> Symptom:
    """How hurt the service is: error-ratio and latency jumps, and when they began."""
    sym = Symptom()
    onsets = []
    for feat in _related(inputs, "error_ratio", service, min_rel=1.0):
        jump = feat.level - feat.baseline
        strength = ramp(jump, 0.01, 0.06) * (1.0 if feat.shift_score >= SHIFT_MIN else 0.6)
        if strength > sym.errors:
            sym.errors = strength
            probe = inputs.probes["error_ratio"]
            if strength > 0.1:
                sym.evidence.append(_evidence(inputs, probe, feat, _shift_text(probe, feat)))
                if feat.start:
                    onsets.append(feat.start)
    for feat in _related(inputs, "latency_p99", service, min_rel=1.0):
        ratio = feat.level / max(feat.baseline, 0.02)
        strength = ramp(ratio, 1.3, 3.0) * ramp(feat.level - feat.baseline, 0.03, 0.25)
        if strength > sym.latency:
            sym.latency = strength
            probe = inputs.probes["latency_p99"]
            if strength > 0.1:
                sym.evidence.append(_evidence(inputs, probe, feat, _shift_text(probe, feat)))
                if feat.start:
                    onsets.append(feat.start)
    for feat in _related(inputs, "request_rate", service, min_rel=1.0):
        # availability: requests that no longer arrive (TLS, DNS, LB failures upstream of us)
        drop = 1.0 - feat.level / max(feat.baseline, 1e-9)
        strength = (
            ramp(drop, 0.3, 0.8)
            if feat.shift_score >= SHIFT_MIN and feat.level < feat.baseline
            else 0.0
        )
        if strength > 0.1:
            sym.traffic_drop = strength
            probe = inputs.probes["request_rate"]
            sym.evidence.append(
                _evidence(inputs, probe, feat, "traffic dropped: " + _shift_text(probe, feat))
            )
            if feat.start:
                onsets.append(feat.start)
    sym.onset = min(onsets) if onsets else None
    return sym


def _align(start: float | None, sym: Symptom) -> float:
    if start is None or sym.onset is None:
        return 0.85
    if start <= sym.onset + ALIGN_SLACK_S:
        return 1.0
    return 0.55  # began after the symptom: more likely an effect than the cause


def _saturation(
    inputs: Inputs,
    cand: Candidate,
    sym: Symptom,
    *,
    key: str,
    lo: float,
    hi: float,
    min_rise: float,
    min_rel: float = 0.8,
) -> None:
    probe = inputs.probes.get(key)
    for feat in _related(inputs, key, cand.service, min_rel=min_rel):
        level = max(feat.level, feat.peak * 0.9)
        rise = level - feat.baseline
        rose = rise >= min_rise or (feat.shift_score >= SHIFT_MIN and rise > 0)
        strength = ramp(level, lo, hi) * (1.0 if rose else 0.35)
        strength *= inputs.entities.relation(cand.service, feat.labels)
        if probe is not None and strength > cand.strength:
            cand.strength = strength
            cand.start = feat.start
            cand.align = _align(feat.start, sym)
            cand.evidence.insert(0, _evidence(inputs, probe, feat, _shift_text(probe, feat)))


def _pods_usage(inputs: Inputs, service: str) -> list[Features]:
    return _related(inputs, "pod_cpu_usage", service, min_rel=1.0)


def score_cpu(inputs: Inputs, cand: Candidate, sym: Symptom) -> None:
    """Own CPU at its limit or heavily throttled, and rising with the trouble."""
    _saturation(inputs, cand, sym, key="pod_cpu", lo=0.7, hi=0.95, min_rise=0.2, min_rel=1.0)
    _saturation(inputs, cand, sym, key="pod_throttling", lo=0.1, hi=0.5, min_rise=0.1, min_rel=1.0)
    own = _pods_usage(inputs, cand.service)
    if own and all(f.ratio(0.05) < 1.2 for f in own):
        cand.strength *= 0.5
        cand.notes.append("its own CPU usage did not rise")


def score_memory(inputs: Inputs, cand: Candidate, sym: Symptom) -> None:
    """Working set near the limit, OOM kills, restarts."""
    _saturation(inputs, cand, sym, key="pod_memory", lo=0.75, hi=0.95, min_rise=0.1, min_rel=1.0)
    oom = [f for f in _related(inputs, "pod_oomkilled", cand.service, min_rel=1.0) if f.peak > 0]
    restarts = [
        f for f in _related(inputs, "pod_restarts", cand.service, min_rel=1.0) if f.peak >= 1
    ]
    if oom:
        probe = inputs.probes["pod_oomkilled"]
        cand.evidence.append(
            _evidence(inputs, probe, oom[0], f"pod {oom[0].labels.get('pod', '?')} was OOMKilled")
        )
        cand.strength = max(cand.strength, 0.6 if restarts else 0.45)
        first = oom[0].first_crossing(0.5)
        if cand.start is None:
            cand.start = first
            cand.align = _align(first, sym)
    if restarts:
        probe = inputs.probes["pod_restarts"]
        total = sum(f.peak for f in restarts)
        cand.evidence.append(
            _evidence(
                inputs, probe, restarts[0], f"{total:.0f} container restarts within 15 min (peak)"
            )
        )
        cand.strength = clip(cand.strength + 0.15 * (1.0 if oom else 0.5))


def score_disk(inputs: Inputs, cand: Candidate, sym: Symptom) -> None:
    """A filesystem of the service's hosts (or named after it) nearly full."""
    _saturation(inputs, cand, sym, key="disk_used", lo=0.85, hi=0.98, min_rise=0.03)


def score_db(inputs: Inputs, cand: Candidate, sym: Symptom) -> None:
    """Database connections at max_connections."""
    _saturation(inputs, cand, sym, key="db_connections", lo=0.75, hi=0.97, min_rise=0.15)
    if cand.strength == 0.0:
        # an unattributed database shared by everyone still counts, more weakly
        probe = inputs.probes.get("db_connections")
        if probe is not None:
            owned = [f for f in probe.series if inputs.entities.owner(f.labels) is None]
            for feat in owned:
                strength = ramp(feat.recent, 0.75, 0.97) * 0.6
                if strength > cand.strength and feat.delta >= 0.15:
                    cand.strength = strength
                    cand.start = feat.start
                    cand.align = _align(feat.start, sym)
                    cand.evidence.insert(
                        0, _evidence(inputs, probe, feat, _shift_text(probe, feat))
                    )


def score_network(inputs: Inputs, cand: Candidate, sym: Symptom) -> None:
    """Interface errors/drops or TCP retransmits jumping on the service's hosts."""
    for key, floor in (("net_errors", 0.5), ("tcp_retrans", 5.0)):
        probe = inputs.probes.get(key)
        for feat in _related(inputs, key, cand.service):
            jump = feat.ratio(floor)
            strength = ramp(jump, 2.0, 8.0) * (1.0 if feat.shift_score >= SHIFT_MIN else 0.4)
            strength *= inputs.entities.relation(cand.service, feat.labels)
            if probe is not None and strength > cand.strength:
                cand.strength, cand.start = strength, feat.start
                cand.align = _align(feat.start, sym)
                cand.evidence.insert(0, _evidence(inputs, probe, feat, _shift_text(probe, feat)))


def score_certificate(inputs: Inputs, cand: Candidate, sym: Symptom) -> None:
    """A probed TLS certificate of the service expired (or about to)."""
    probe = inputs.probes.get("cert_expiry")
    candidates = [
        (feat, 1.0 if inputs.entities.relation(cand.service, feat.labels) >= 1.0 else 0.75)
        for feat in (probe.series if probe else [])
        if inputs.entities.relation(cand.service, feat.labels) >= 1.0
        or inputs.entities.owner(feat.labels) is None  # a public URL named after no service
    ]
    for feat, rel in candidates:
        left = min(feat.recent, feat.trough)
        strength = (1.0 if left <= 0 else ramp(-left, -3 * 86400, 0) * 0.6) * rel
        if rel < 1.0 and sym.strength < 0.3:
            continue  # an unattributed certificate counts only if the service is hurting
        if probe is not None and strength > cand.strength:
            expired_at = feat.first_crossing(0.0, above=False)
            cand.strength, cand.start = strength, expired_at
            cand.align = _align(expired_at, sym)
            state = "expired" if left <= 0 else f"expires in {fmt(left, 'seconds')}"
            when = f" at {hhmm(expired_at)}" if expired_at else ""
            cand.evidence.insert(
                0,
                _evidence(
                    inputs,
                    probe,
                    feat,
                    f"certificate of {feat.labels.get('instance', '?')} {state}{when}",
                ),
            )
    success = inputs.probes.get("probe_success")
    for feat in _related(inputs, "probe_success", cand.service, min_rel=1.0):
        if success is not None and feat.recent < 0.5 <= feat.baseline and cand.strength > 0:
            cand.evidence.append(_evidence(inputs, success, feat, _shift_text(success, feat)))
            cand.strength = clip(cand.strength + 0.1)


def score_surge(inputs: Inputs, cand: Candidate, sym: Symptom) -> None:
    """Request rate several-fold above baseline, beginning with the symptoms."""
    probe = inputs.probes.get("request_rate")
    for feat in _related(inputs, "request_rate", cand.service, min_rel=1.0):
        ratio = feat.level / max(feat.baseline, 0.1)
        strength = ramp(ratio, 1.6, 3.5) * (1.0 if feat.shift_score >= SHIFT_MIN else 0.5)
        if probe is not None and strength > cand.strength:
            cand.strength, cand.start = strength, feat.start
            cand.align = _align(feat.start, sym)
            cand.evidence.insert(
                0, _evidence(inputs, probe, feat, _shift_text(probe, feat) + f" (×{ratio:.1f})")
            )


def score_noisy_neighbor(inputs: Inputs, cand: Candidate, sym: Symptom) -> None:
    """The node is saturated by another workload while the service's own usage is flat."""
    nodes = inputs.entities.nodes_of(cand.service)
    node_probe = inputs.probes.get("node_cpu")
    usage_probe = inputs.probes.get("pod_cpu_usage")
    if not nodes or node_probe is None or usage_probe is None:
        return
    own = _pods_usage(inputs, cand.service)
    own_rise = max((f.ratio(0.05) for f in own), default=1.0)
    flat = ramp(2.0 - own_rise, 0.4, 1.0)  # 1 when own usage rose < 1.6×... 0 at ≥ 1.6×
    for node_feat in node_probe.series:
        if host_of(node_feat.labels.get("instance", "")) not in nodes:
            continue
        level = ramp(max(node_feat.recent, node_feat.peak * 0.9), 0.75, 0.95)
        neighbours = [
            f
            for f in usage_probe.series
            if f.labels.get("pod") in inputs.entities.pods_on(node_feat.labels.get("instance", ""))
            and inputs.entities.service_of_pod(f.labels.get("pod", "")) != cand.service
        ]
        hog = max(neighbours, key=lambda f: f.delta, default=None)
        if hog is None or hog.delta < 0.3:
            continue
        strength = level * flat * ramp(hog.delta, 0.3, 1.5)
        if strength > cand.strength:
            cand.strength, cand.start = strength, hog.start
            cand.align = _align(hog.start, sym)
            cand.evidence = [
                _evidence(inputs, node_probe, node_feat, _shift_text(node_probe, node_feat)),
                _evidence(
                    inputs,
                    usage_probe,
                    hog,
                    f"neighbour pod {hog.labels.get('pod')} on the same node: "
                    + _shift_text(usage_probe, hog),
                ),
            ]
            if own:
                cand.evidence.append(
                    _evidence(
                        inputs,
                        usage_probe,
                        own[0],
                        f"{cand.service}'s own CPU usage stayed at "
                        f"{fmt(own[0].recent, 'cores')} (×{own_rise:.1f})",
                    )
                )


def score_change(inputs: Inputs, cand: Candidate, sym: Symptom, *, kind: str) -> None:
    """A deploy/config change of the service shortly before the symptom began."""
    if sym.strength < 0.1:
        return
    onset = sym.onset or inputs.end.timestamp()
    for change in inputs.changes:
        if change.kind != kind:
            continue
        names = " ".join(change.services) + " " + change.summary
        if not inputs.entities.names(cand.service, {"x": names}):
            continue
        lead = onset - change.at.timestamp()
        if lead < -ALIGN_SLACK_S or lead > CHANGE_LOOKBACK_S:
            continue
        proximity = 1.0 - 0.5 * ramp(lead, 15 * 60, CHANGE_LOOKBACK_S)
        strength = proximity * ramp(sym.strength, 0.1, 0.6)
        if strength > cand.strength:
            cand.strength, cand.start, cand.align = strength, change.at.timestamp(), 1.0
            cand.evidence.insert(
                0,
                Evidence(
                    source=change.source,
                    summary=(
                        f"{kind} at {change.at:%H:%M}: {change.summary} "
                        f"({lead / 60:.0f} min before the symptoms began)"
                    ),
                    query=f"change {change.id}" if change.id else None,
                    time_range=_window_text(inputs),
                ),
            )


def score_symptom(cand: Candidate, sym: Symptom, *, kind: str) -> None:
    """A bare symptom: the answer only when nothing more specific explains it."""
    cand.strength = sym.errors if kind == "errors" else sym.latency
    cand.start = sym.onset
    cand.evidence = [e for e in sym.evidence if (kind == "errors") == ("error" in e.summary)]


SCORERS = {
    "cpu": score_cpu,
    "memory": score_memory,
    "disk": score_disk,
    "db_connections": score_db,
    "network": score_network,
    "certificate": score_certificate,
    "traffic_surge": score_surge,
    "noisy_neighbor": score_noisy_neighbor,
}


def _alert_support(inputs: Inputs, cand: Candidate) -> None:
    pattern = re.compile(ALERT_KEYWORDS.get(cand.fault, r"^$"), re.I)
    for alert in inputs.alerts:
        if alert.status not in ("firing", "active"):
            continue
        rel = inputs.entities.relation(cand.service, alert.labels)
        if rel < 0.8:
            continue
        if pattern.search(alert.name) or pattern.search(alert.summary):
            weight = (0.3 if alert.severity == "critical" else 0.22) * rel
            cand.support.append(
                (
                    weight,
                    Evidence(
                        source=alert.source,
                        summary=f"alert {alert.name} ({alert.severity}) firing: {alert.summary}",
                        time_range=f"since {alert.starts_at:%H:%M}" if alert.starts_at else None,
                    ),
                )
            )


def analyse(inputs: Inputs, service: str) -> tuple[list[Candidate], Symptom]:
    """Score every fault for ``service``; best first."""
    sym = symptom_of(inputs, service)
    cands: list[Candidate] = []
    for fault, scorer in SCORERS.items():
        cand = Candidate(fault=fault, service=service)
        scorer(inputs, cand, sym)
        cands.append(cand)
    for kind in ("deploy", "config"):
        cand = Candidate(fault=kind, service=service)
        score_change(inputs, cand, sym, kind=kind)
        cands.append(cand)
    for kind in ("errors", "latency"):
        cand = Candidate(fault=kind, service=service)
        score_symptom(cand, sym, kind=kind)
        cands.append(cand)
    by_fault = {c.fault: c for c in cands}
    surge = by_fault["traffic_surge"]
    if surge.strength >= 0.5:
        # a surge explains saturation and symptoms that follow it
        for fault in ("cpu", "latency", "errors", "db_connections"):
            by_fault[fault].strength *= 1.0 - 0.4 * surge.strength
            by_fault[fault].notes.append("explained by the traffic surge")
    if by_fault["noisy_neighbor"].strength >= 0.5:
        by_fault["cpu"].strength *= 0.5
    for cand in cands:
        if cand.strength > 0:
            # the symptom's own evidence belongs with any cause that explains it
            for ev in sym.evidence:
                if ev not in cand.evidence and cand.fault not in ("errors", "latency"):
                    cand.evidence.append(ev)
        _alert_support(inputs, cand)
        cand.score()
    ranked = sorted(cands, key=lambda c: (-c.confidence, -WEIGHTS.get(c.fault, 0)))
    return [c for c in ranked if c.confidence > 0.02], sym


def why_first(first: Candidate, second: Candidate | None) -> str:
    """One sentence saying why the first hypothesis outranks the second."""
    if second is None:
        return f"Only {first.fault} is supported by the evidence."
    reasons = []
    if WEIGHTS.get(first.fault, 0) > WEIGHTS.get(second.fault, 0) and first.strength >= 0.4:
        reasons.append(f"{first.fault} is a more specific cause that explains the symptoms")
    if first.align > second.align:
        reasons.append(f"{second.fault} began after the symptoms, so it looks like an effect")
    if first.strength > second.strength + 0.15:
        reasons.append(f"its evidence is stronger ({first.strength:.2f} vs {second.strength:.2f})")
    if second.notes:
        reasons.append(f"{second.fault}: {'; '.join(second.notes)}")
    if not reasons:
        reasons.append("more pieces of evidence corroborate it")
    return (
        f"{first.fault} ({first.confidence:.2f}) outranks {second.fault} "
        f"({second.confidence:.2f}): " + "; ".join(reasons) + "."
    )


def pick_service(
    inputs: Inputs, question: str, history_services: Sequence[str] = ()
) -> tuple[str | None, str]:
    """The service to investigate and how it was chosen."""
    named = inputs.entities.mentioned_in(question)
    if named:
        # the subject of a sentence comes first: "payments broke after the gateway deploy"
        named.sort(key=lambda s: question.lower().find(s.lower()))
        hurting = [s for s in named if symptom_of(inputs, s).strength >= 0.1]
        return (hurting or named)[0], "named in the question"
    for svc in history_services:
        if svc in inputs.entities.services:
            return svc, "from earlier in this thread"
    scored = [(symptom_of(inputs, s).strength, s) for s in inputs.entities.services]
    scored.sort(reverse=True)
    if scored and scored[0][0] > 0.1:
        return scored[0][1], "the service with the strongest symptoms"
    severity = {"critical": 2, "warning": 1}
    for alert in sorted(inputs.alerts, key=lambda a: -severity.get(a.severity, 0)):
        owner = inputs.entities.owner(alert.labels)
        if owner:
            return owner, f"from alert {alert.name}"
    return None, "no service has symptoms"
