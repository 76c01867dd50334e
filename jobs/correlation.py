"""Correlation: which incident an alert belongs to.

An alert's *correlation key* comes from the first rule whose labels it carries
(``cluster+service``, then ``service``, then ``cluster+namespace``...), in the spirit
of Alertmanager's ``group_by`` and Keep's correlation rules. An alert joins the open
incident with the same key if that incident saw activity within the rule's window;
otherwise it opens a new one. A resolved incident never absorbs new alerts.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from jobs.config import CorrelationRule

SEVERITY_RANK = {"critical": 3, "error": 3, "high": 3, "warning": 2, "info": 1, "none": 0}


def correlation_key(
    labels: Mapping[str, str], rules: Sequence[CorrelationRule]
) -> tuple[str, float]:
    """``(key, window_s)`` for an alert; falls back to its own fingerprint-like identity."""
    for index, rule in enumerate(rules):
        values = [labels.get(name) for name in rule.group_by]
        if all(values):
            pairs = ",".join(f"{n}={v}" for n, v in zip(rule.group_by, values, strict=True))
            return f"{index}|{pairs}", rule.window_s
    identity = ",".join(f"{k}={v}" for k, v in sorted(labels.items()))
    return f"alert|{identity}", rules[-1].window_s if rules else 1800.0


def worst_severity(severities: Sequence[str]) -> str:
    """The most severe of several severities."""
    return max(severities, key=lambda s: SEVERITY_RANK.get(s, 1), default="warning")


def incident_title(labels: Mapping[str, str], summary: str) -> str:
    """A short title from the first alert of an incident."""
    name = labels.get("alertname", "alert")
    where = labels.get("service") or labels.get("namespace") or labels.get("instance") or ""
    title = f"{name} on {where}" if where else name
    if summary:
        title += f": {summary}"
    return title[:500]
