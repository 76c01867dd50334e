"""Investigation: gathered inputs + analysis → a Reply with ranked, cited hypotheses."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from agents.analyst import FAULT_TITLES, Candidate, Inputs, Symptom, hhmm, why_first
from agents.gather import RunbookSearcher
from agents.reply import (
    Evidence,
    HypothesisView,
    Reply,
    RunbookRef,
    Section,
    SourceFailure,
)

MAX_HYPOTHESES = 4
RUNBOOK_MATCH = 0.35
"""Relevance above which a runbook counts as covering a hypothesis (unrelated ≈ 0.2)."""
MAX_EVIDENCE = 5


async def attach_runbooks(
    searcher: RunbookSearcher | None,
    cands: Sequence[Candidate],
    inputs: Inputs,
    failures: list[SourceFailure],
    *,
    deadline_s: float,
) -> dict[str, list[RunbookRef]]:
    """Search runbooks for the top candidates; a match is corroborating evidence."""
    if searcher is None or not cands:
        return {}
    top = list(cands[:3])

    async def one(cand: Candidate) -> list[RunbookRef]:
        alerts = [
            a.name for a in inputs.alerts if inputs.entities.relation(cand.service, a.labels) >= 0.8
        ]
        query = f"{FAULT_TITLES.get(cand.fault, cand.fault)} {cand.service} {' '.join(alerts[:3])}"
        return await searcher.search_runbooks(query, k=3)

    try:
        async with asyncio.timeout(deadline_s):
            results = await asyncio.gather(*(one(c) for c in top))
    except TimeoutError:
        failures.append(
            SourceFailure(source="runbooks", error=f"search timed out after {deadline_s:.1f}s")
        )
        return {}
    except Exception as exc:  # boundary: runbooks are corroboration, never a blocker
        failures.append(SourceFailure(source="runbooks", error=f"search failed: {exc}"))
        return {}
    out = {}
    for cand, refs in zip(top, results, strict=True):
        out[cand.fault] = refs
        if refs and refs[0].score >= RUNBOOK_MATCH:
            ref = refs[0]
            cand.support.append(
                (
                    0.1,
                    Evidence(
                        source="runbooks",
                        summary=f"runbook '{ref.title}' covers this "
                        f"({ref.section or 'top section'})",
                        query=ref.path,
                    ),
                )
            )
            cand.score()
    return out


def hypothesis_view(cand: Candidate) -> HypothesisView:
    """A candidate as the transport-neutral hypothesis (evidence first, support after)."""
    evidence = cand.evidence[:MAX_EVIDENCE] + [ev for _, ev in cand.support][:3]
    rationale_bits = []
    if cand.start:
        rationale_bits.append(f"began {hhmm(cand.start)}")
    if cand.align < 1.0:
        rationale_bits.append("started after the symptoms")
    rationale_bits.extend(cand.notes)
    return HypothesisView(
        title=cand.title,
        confidence=cand.confidence,
        fault=cand.fault,
        service=cand.service,
        rationale="; ".join(rationale_bits),
        evidence=evidence,
    )


def build_reply(
    *,
    service: str | None,
    service_reason: str,
    cands: Sequence[Candidate],
    sym: Symptom | None,
    inputs: Inputs,
    failures: Sequence[SourceFailure],
    runbooks: dict[str, list[RunbookRef]],
) -> Reply:
    """The investigation's answer."""
    cands = sorted(cands, key=lambda c: -c.confidence)
    sections: list[Section] = []
    if service is None:
        text = (
            "I found no service with errors or latency in the last "
            f"{(inputs.end - inputs.start).total_seconds() / 3600:.0f} h, and no alert names one. "
            "Name a service or an alert and I'll look closer."
        )
        return Reply(
            text=text, failed_sources=list(failures), sections=_context_sections(inputs, None)
        )
    if not cands:
        text = f"*{service}*: I found no clear cause."
        if sym is None or sym.strength < 0.1:
            text += " Its error ratio and latency look normal in this window."
    else:
        top = cands[0]
        second = cands[1] if len(cands) > 1 else None
        text = (
            f"*{service}*: most likely {FAULT_TITLES.get(top.fault, top.fault)} "
            f"(confidence {top.confidence:.2f}). {why_first(top, second)}"
        )
    if sym is not None and sym.evidence:
        sections.append(
            Section(title="Symptoms", body="\n".join(f"• {e.summary}" for e in sym.evidence))
        )
    sections.extend(_context_sections(inputs, service))
    views = [hypothesis_view(c) for c in cands[:MAX_HYPOTHESES]]
    refs: list[RunbookRef] = []
    for cand in cands[:3]:
        for ref in runbooks.get(cand.fault, []):
            if all(r.path != ref.path for r in refs):
                refs.append(ref)
    promql = []
    for ev in (views[0].evidence if views else []) + (sym.evidence if sym else []):
        if ev.query and ev.source.startswith("prometheus") and ev.query not in promql:
            promql.append(ev.query)
    return Reply(
        text=text,
        hypotheses=views,
        runbooks=refs[:3],
        sections=sections,
        promql=promql[:3],
        failed_sources=list(failures),
        notes=[f"investigated {service} ({service_reason})"],
    )


def _context_sections(inputs: Inputs, service: str | None) -> list[Section]:
    out = []
    unrelated = [
        a
        for a in inputs.alerts
        if a.status in ("firing", "active")
        and (service is None or inputs.entities.relation(service, a.labels) < 0.8)
    ]
    if unrelated and service is not None:
        out.append(
            Section(
                title="Also firing, probably unrelated",
                body="\n".join(
                    f"• {a.name} ({a.severity}) {a.summary}".rstrip() for a in unrelated[:5]
                ),
            )
        )
    if inputs.changes:
        out.append(
            Section(
                title="Recent changes",
                body="\n".join(
                    f"• {c.at:%H:%M} {c.kind}: {c.summary}"
                    for c in sorted(inputs.changes, key=lambda c: c.at)[-5:]
                ),
            )
        )
    return out
