"""Follow-up questions about the previous answer in a thread ("why not the database?")."""

from __future__ import annotations

from typing import Any

from agents.analyst import FAULT_TITLES
from agents.intents import Intent
from agents.reply import Evidence, HypothesisView, Reply


def explain(previous: dict[str, Any], intent: Intent) -> Reply:
    """Explain a hypothesis of the previous answer, from its stored evidence."""
    hyps = [HypothesisView.model_validate(h) for h in previous.get("hypotheses", [])]
    if not hyps:
        return Reply(kind="info", text="I have no earlier analysis in this thread to explain.")
    top = hyps[0]
    topic = intent.topic or top.fault
    match = next((h for h in hyps if h.fault == topic), None)
    if match is None:
        label = FAULT_TITLES.get(topic or "", topic or "that")
        return Reply(
            text=(
                f"I found no evidence for {label} for {top.service}: none of the signals I "
                f"checked for it moved. The leading hypothesis is still *{top.title}* "
                f"({top.confidence:.2f})."
            ),
            hypotheses=[top],
        )
    rank = hyps.index(match) + 1
    if rank == 1:
        second = hyps[1] if len(hyps) > 1 else None
        versus = (
            f" It outranks *{second.title}* ({second.confidence:.2f})."
            if second is not None
            else ""
        )
        text = (
            f"I ranked *{match.title}* first with confidence {match.confidence:.2f} "
            f"because of the evidence below.{versus}"
        )
    else:
        text = (
            f"*{match.title}* ranked #{rank} ({match.confidence:.2f}) behind *{top.title}* "
            f"({top.confidence:.2f})"
            + (f": {match.rationale}." if match.rationale else ".")
            + " Its evidence is below; the leading hypothesis explains the symptoms better."
        )
    return Reply(
        text=text, hypotheses=[match] if rank == 1 else [match, top], notes=[_cite(match.evidence)]
    )


def _cite(evidence: list[Evidence]) -> str:
    return f"{len(evidence)} piece(s) of evidence from the earlier analysis (stored in this thread)"
