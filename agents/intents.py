"""Route a message to an intent, deterministically (no LLM needed).

Intents: investigate (an alert, incident or service), metric (a question about a
number or a graph), runbook, oncall, incidents, postmortem, followup (a question
about the previous answer, e.g. "why not the database?"), help.
"""

from __future__ import annotations

import re
from enum import StrEnum

from pydantic import BaseModel


class IntentKind(StrEnum):
    """What the user asked for."""

    INVESTIGATE = "investigate"
    METRIC = "metric"
    RUNBOOK = "runbook"
    ONCALL = "oncall"
    INCIDENTS = "incidents"
    POSTMORTEM = "postmortem"
    FOLLOWUP = "followup"
    HELP = "help"


class Intent(BaseModel):
    """The routed intent and the text it applies to."""

    kind: IntentKind
    text: str
    topic: str | None = None  # for follow-ups: the fault the user asks about


FAULT_WORDS: dict[str, str] = {
    r"\b(db|database|postgres\w*|pg|connection pool|connections?|mysql)\b": "db_connections",
    r"\b(memory|oom\w*|mem|leak)\b": "memory",
    r"\b(cpu|throttl\w*|processor)\b": "cpu",
    r"\b(disk|filesystem|storage|volume|space)\b": "disk",
    r"\b(network|packet\w*|retrans\w*|nic|dns)\b": "network",
    r"\b(cert\w*|tls|ssl|x509)\b": "certificate",
    r"\b(deploy\w*|release|rollout|rollback|version)\b": "deploy",
    r"\b(config\w*|flag|feature flag|setting)\b": "config",
    r"\b(traffic|surge|spike in requests|load|rps)\b": "traffic_surge",
    r"\b(neighbou?r|noisy)\b": "noisy_neighbor",
    r"\b(latency|slow\w*)\b": "latency",
    r"\b(errors?|5xx|500s?)\b": "errors",
}

_HELP = re.compile(r"^\s*(help|\?|what can you do)\b", re.I)
_POSTMORTEM = re.compile(r"\b(post[- ]?mortem|postmortem|incident report|retro(spective)?)\b", re.I)
_ONCALL = re.compile(r"\b(on[- ]?call|who is paged|who'?s paged|pager)\b", re.I)
_INCIDENTS = re.compile(
    r"\b(open incidents?|incidents?\b.*\b(open|active)|list incidents?)\b|^\s*incidents?\s*$", re.I
)
_RUNBOOK = re.compile(
    r"\b(runbooks?|playbooks?|how (do|can|should) (i|we) (fix|mitigate|handle|resolve))\b", re.I
)
_METRIC = re.compile(
    r"(^\s*promql\s*:|`[^`]+`|\b(graph|chart|plot|show me|what('?s| is) the|how many|rate of|"
    r"request rate|error (rate|ratio)|p\d{2}\b|percentile|median|latency of|cpu of|memory of|"
    r"disk (free|usage)|restarts? of|throughput)\b)",
    re.I,
)
_FOLLOWUP = re.compile(
    r"^\s*(why( not| do you think| is it)?|what about|are you sure|how about|could it be|"
    r"isn'?t it|what makes you)\b",
    re.I,
)
_INVESTIGATE = re.compile(
    r"\b(what'?s wrong|what is wrong|what'?s going on|investigate|why is|why are|root cause|"
    r"down|broken|failing|outage|slow|errors?|alert|incident|look at|check)\b",
    re.I,
)


def topic_of(text: str) -> str | None:
    """The fault a text talks about, if it names one."""
    for pattern, fault in FAULT_WORDS.items():
        if re.search(pattern, text, re.I):
            return fault
    return None


def route(text: str, *, has_previous_answer: bool = False) -> Intent:
    """Classify a message."""
    clean = text.strip()
    if not clean or _HELP.match(clean):
        return Intent(kind=IntentKind.HELP, text=clean)
    if _POSTMORTEM.search(clean):
        return Intent(kind=IntentKind.POSTMORTEM, text=clean)
    if _ONCALL.search(clean):
        return Intent(kind=IntentKind.ONCALL, text=clean)
    if _INCIDENTS.search(clean):
        return Intent(kind=IntentKind.INCIDENTS, text=clean)
    if _RUNBOOK.search(clean):
        return Intent(kind=IntentKind.RUNBOOK, text=clean)
    if (
        has_previous_answer
        and _FOLLOWUP.match(clean)
        and not re.search(r"\bwhy (is|are)\b", clean, re.I)
    ):
        return Intent(kind=IntentKind.FOLLOWUP, text=clean, topic=topic_of(clean))
    if re.match(r"^\s*(graph|chart|plot|show( me)?|promql\s*:|what('?s| is) the)\b", clean, re.I):
        return Intent(kind=IntentKind.METRIC, text=clean)
    if _INVESTIGATE.search(clean):
        return Intent(kind=IntentKind.INVESTIGATE, text=clean)
    if _METRIC.search(clean):
        return Intent(kind=IntentKind.METRIC, text=clean)
    return Intent(kind=IntentKind.INVESTIGATE, text=clean)
