"""Post-mortem drafts: facts in, Markdown out (template always; Claude prose optional).

The template is the product's answer with no LLM: every section is filled from
recorded facts (the incident, its alerts, its timeline, the hypotheses and the
feedback responders gave), never invented. With Claude configured, the narrative
sections are rewritten as prose from the same facts; the timeline and numbers stay
as recorded.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Protocol

from pydantic import BaseModel, Field

ACTION_ITEMS = {
    "db_connections": "Alert on connection-pool saturation (pool in use / max) before it "
    "hits 100%, and load-test the pool size against peak traffic.",
    "memory": "Right-size memory limits from the working-set peak and alert on working set / limit "
    "above 90%.",
    "cpu": "Revisit CPU limits/requests and alert on sustained throttling.",
    "disk": "Add a predictive disk-full alert (predict_linear) and a cleanup/retention job.",
    "certificate": "Automate certificate renewal and alert 14 days before expiry.",
    "deploy": "Add a canary / automated rollback on error-rate regression for this service.",
    "config": "Put configuration changes through the same review and canary as code.",
    "traffic_surge": "Check autoscaling limits and add rate limiting for the surge source.",
    "noisy_neighbor": "Isolate the noisy workload (node affinity, priority, quotas).",
    "network": "Escalate the network fault to the platform team and add packet-loss alerting.",
    "errors": "Add an alert on the dependency that returned errors and a circuit breaker.",
    "latency": "Add a latency SLO alert and trace the slow dependency.",
}


class AlertCount(BaseModel):
    """How often one alert fired."""

    name: str
    count: int
    severity: str


class EventLine(BaseModel):
    """One timeline entry."""

    at: datetime
    actor: str
    kind: str
    text: str


class HypothesisLine(BaseModel):
    """A hypothesis offered during the incident, with the votes it received."""

    title: str
    fault: str | None
    confidence: float
    votes: int
    evidence: list[str] = Field(default_factory=list)


class PostmortemFacts(BaseModel):
    """Everything the draft may say."""

    incident_id: int
    title: str
    severity: str
    status: str
    services: list[str]
    started_at: datetime
    acknowledged_at: datetime | None
    mitigated_at: datetime | None
    resolved_at: datetime | None
    alerts: list[AlertCount]
    timeline: list[EventLine]
    hypotheses: list[HypothesisLine]
    pagerduty_incident: str | None = None

    @property
    def duration(self) -> timedelta | None:
        """Start to resolution."""
        return (self.resolved_at - self.started_at) if self.resolved_at else None

    @property
    def mtta(self) -> timedelta | None:
        """Start to acknowledgement."""
        return (self.acknowledged_at - self.started_at) if self.acknowledged_at else None

    @property
    def root_cause(self) -> HypothesisLine | None:
        """The hypothesis responders confirmed (net 👍), else ``None``."""
        confirmed = [h for h in self.hypotheses if h.votes > 0]
        return max(confirmed, key=lambda h: (h.votes, h.confidence), default=None)


class PostmortemWriter(Protocol):
    """Writes the narrative of a draft from its facts."""

    async def write(self, facts: PostmortemFacts, *, template: str) -> str:
        """Return the Markdown draft (may return ``template`` unchanged)."""
        ...


def _dur(value: timedelta | None) -> str:
    if value is None:
        return "—"
    minutes = int(value.total_seconds() // 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min" if hours else f"{minutes} min"


def _ts(value: datetime | None) -> str:
    return f"{value:%Y-%m-%d %H:%M} UTC" if value else "—"


def render_template(facts: PostmortemFacts) -> str:
    """The deterministic draft."""
    root = facts.root_cause
    top = root or (max(facts.hypotheses, key=lambda h: h.confidence) if facts.hypotheses else None)
    lines = [
        f"# Post-mortem (draft): {facts.title}",
        "",
        f"Incident #{facts.incident_id} · severity {facts.severity} · status {facts.status}"
        + (f" · PagerDuty {facts.pagerduty_incident}" if facts.pagerduty_incident else ""),
        "",
        "## Summary",
        "",
    ]
    cause = f"{top.title}" if top else "not established"
    confirmed = " (confirmed by responders)" if root else " (not confirmed by responders)"
    lasted = _dur(facts.duration) if facts.duration else "an ongoing period"
    lines.append(
        f"{', '.join(facts.services) or 'An unidentified service'} was affected from "
        f"{_ts(facts.started_at)} for {lasted}. "
        f"Most likely cause: {cause}{confirmed if top else ''}."
    )
    total = sum(a.count for a in facts.alerts)
    lines += [
        "",
        "## Impact",
        "",
        f"- Duration: {_dur(facts.duration)} (started {_ts(facts.started_at)}, "
        f"resolved {_ts(facts.resolved_at)})",
        f"- Time to acknowledge: {_dur(facts.mtta)}; time to resolve: {_dur(facts.duration)}",
        f"- Services: {', '.join(facts.services) or '—'}",
        f"- Alerts: {total} notifications from {len(facts.alerts)} distinct alerts"
        + (
            " (" + ", ".join(f"{a.name} ×{a.count}" for a in facts.alerts[:6]) + ")"
            if facts.alerts
            else ""
        ),
        "",
        "## Timeline",
        "",
    ]
    lines += [
        f"- {e.at:%H:%M} — {e.text} ({e.actor})" for e in sorted(facts.timeline, key=lambda e: e.at)
    ] or ["- (no events recorded)"]
    lines += ["", "## Root cause", ""]
    if top is None:
        lines.append("Not established: no hypothesis was recorded for this incident.")
    else:
        lines.append(
            f"{top.title} (confidence {top.confidence:.2f}"
            + (f", {top.votes:+d} from responders" if top.votes else "")
            + ")."
        )
        lines += [f"- {ev}" for ev in top.evidence[:5]]
    others = [h for h in facts.hypotheses if h is not top and h.confidence >= 0.3]
    lines += ["", "## Contributing factors", ""]
    lines += [f"- {h.title} (confidence {h.confidence:.2f})" for h in others[:4]] or [
        "- None recorded."
    ]
    went_well, went_badly = _assessment(facts)
    lines += ["", "## What went well", ""] + [f"- {x}" for x in went_well]
    lines += ["", "## What went badly", ""] + [f"- {x}" for x in went_badly]
    lines += ["", "## Action items", ""]
    items = [ACTION_ITEMS[top.fault]] if top and top.fault in ACTION_ITEMS else []
    if total > 20:
        items.append(
            "Tune or group the noisiest alerts: "
            + ", ".join(a.name for a in facts.alerts[:3])
            + "."
        )
    if not root:
        items.append(
            "Confirm the root cause with 👍 on the right hypothesis so future incidents learn."
        )
    lines += [f"- [ ] {item}" for item in items] or ["- [ ] Review this draft."]
    return "\n".join(lines) + "\n"


def _assessment(facts: PostmortemFacts) -> tuple[list[str], list[str]]:
    good, bad = [], []
    if facts.mtta is not None and facts.mtta <= timedelta(minutes=5):
        good.append(f"Acknowledged within {_dur(facts.mtta)}.")
    elif facts.mtta is not None:
        bad.append(f"Acknowledgement took {_dur(facts.mtta)}.")
    else:
        bad.append("The incident was never acknowledged.")
    if any(e.kind == "investigation" for e in facts.timeline):
        good.append("An automatic investigation was posted in the incident thread.")
    if facts.root_cause is not None:
        good.append("Responders confirmed the root cause in the thread.")
    if facts.duration is not None and facts.duration > timedelta(hours=1):
        bad.append(f"Resolution took {_dur(facts.duration)}.")
    noisy = [a for a in facts.alerts if a.count >= 10]
    if noisy:
        bad.append("Noisy alerts: " + ", ".join(f"{a.name} ×{a.count}" for a in noisy[:3]) + ".")
    return good or ["Nothing recorded."], bad or ["Nothing recorded."]


class TemplateWriter:
    """The no-LLM writer: the template as is."""

    async def write(self, facts: PostmortemFacts, *, template: str) -> str:  # noqa: ARG002
        """Return the template."""
        return template


async def write_postmortem(
    facts: PostmortemFacts, *, writer: PostmortemWriter | None = None
) -> tuple[str, str]:
    """``(markdown, author)``; the template whenever the writer fails."""
    template = render_template(facts)
    if writer is None or isinstance(writer, TemplateWriter):
        return template, "template"
    try:
        text = await writer.write(facts, template=template)
    except Exception:  # boundary: a draft must always be produced
        return template, "template (LLM failed)"
    return (text or template), "llm" if text else "template"


def sort_alerts(counts: Sequence[AlertCount]) -> list[AlertCount]:
    """Noisiest first."""
    return sorted(counts, key=lambda a: (-a.count, a.name))
