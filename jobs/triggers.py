"""Triggers: policy rules that turn a predictive alert or an anomaly into a proposal.

They live in the policy file's ``triggers:`` section::

    triggers:
      - name: checkout-cpu-scale          # unique; part of the dedupe key
        source: forecast                  # forecast | anomaly
        metric: container_cpu_limit_ratio # glob on the series name (forecast) or metric
        labels:                           # label -> glob; every one must be present
          namespace: shop
          deployment: "*"
        action: kubernetes.scale
        environment: production           # template
        params:
          namespace: "{namespace}"
          deployment: "{deployment}"
          replicas: "{replicas+1}"        # a fact read from the cluster, plus one

Templates are ``{name}`` or ``{name+N}`` / ``{name-N}`` (integer arithmetic). A value
that is exactly one placeholder keeps its type (a number stays a number); otherwise the
placeholders are substituted into the text. A name may be a label listed under
``labels``, a built-in of the source (:data:`BUILTINS`) or a fact the action reads at
proposal time (:data:`tools.actions.catalogue.ACTION_FACTS`, e.g. ``replicas``).
Everything is checked when the policy loads: unknown action, parameter that the
action does not take, missing required parameter, placeholder naming nothing known.

A trigger only *proposes*: the proposal then follows the policy rules like any other
(approvals, level 3 only for safe actions the policy lets run on their own).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from fnmatch import fnmatchcase
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from memory.errors import ToolInputError
from tools.actions.catalogue import ACTION_FACTS, ACTION_TYPES

TriggerSource = Literal["forecast", "anomaly"]

BUILTINS: dict[str, frozenset[str]] = {
    "forecast": frozenset({"metric", "resource", "threshold", "current", "unit", "eta"}),
    "anomaly": frozenset({"metric", "observed", "expected", "sigmas"}),
}
"""Template names every alert of a source provides, besides its labels."""

_PLACEHOLDER = re.compile(r"\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*(?:([+-])\s*(\d+))?\s*\}")


class TriggerError(ToolInputError):
    """A template could not be filled for one alert (e.g. a label is not a number)."""


def placeholders(template: Any) -> set[str]:
    """Every name a template (string, list or mapping, nested) refers to."""
    if isinstance(template, str):
        return {m.group(1) for m in _PLACEHOLDER.finditer(template)}
    if isinstance(template, Mapping):
        return set().union(*(placeholders(v) for v in template.values()), set())
    if isinstance(template, list):
        return set().union(*(placeholders(v) for v in template), set())
    return set()


def _value(match: re.Match[str], values: Mapping[str, Any]) -> Any:
    name, sign, amount = match.group(1), match.group(2), match.group(3)
    if name not in values:
        raise TriggerError(f"template value {name!r} is not available for this alert")
    value = values[name]
    if sign is None:
        return value
    try:
        number = int(str(value))
    except ValueError:
        raise TriggerError(f"{name!r} is {value!r}, not a whole number: cannot add to it") from None
    return number + int(amount) if sign == "+" else number - int(amount)


def render(template: Any, values: Mapping[str, Any]) -> Any:
    """Fill a template (see the module docstring) from ``values``.

    Raises:
        TriggerError: A placeholder has no value, or arithmetic on a non-number.
    """
    if isinstance(template, str):
        whole = _PLACEHOLDER.fullmatch(template.strip())
        if whole is not None:
            return _value(whole, values)
        return _PLACEHOLDER.sub(lambda m: str(_value(m, values)), template)
    if isinstance(template, Mapping):
        return {k: render(v, values) for k, v in template.items()}
    if isinstance(template, list):
        return [render(v, values) for v in template]
    return template


class Trigger(BaseModel):
    """One rule: alerts of ``source`` matching ``metric`` and ``labels`` → ``action``."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9_.-]+$")
    source: TriggerSource
    metric: str = Field(default="*", min_length=1, description="Glob on the series/metric name.")
    labels: dict[str, str] = Field(default_factory=dict, description="Label → glob; all needed.")
    action: str = Field(min_length=1)
    environment: str = Field(default="production", min_length=1)
    params: dict[str, Any] = Field(default_factory=dict)
    reason: str = Field(default="", description="Template; default names the trigger and alert.")

    @model_validator(mode="after")
    def _check(self) -> Trigger:
        model = ACTION_TYPES.get(self.action)
        if model is None:
            known = ", ".join(sorted(ACTION_TYPES))
            raise ValueError(f"unknown action {self.action!r} (known: {known})")
        fields = model.model_fields
        unknown = sorted(set(self.params) - set(fields))
        if unknown:
            raise ValueError(
                f"{self.action} takes no parameter {unknown[0]!r} "
                f"(it takes: {', '.join(sorted(fields))})"
            )
        missing = sorted(n for n, f in fields.items() if f.is_required() and n not in self.params)
        if missing:
            raise ValueError(f"{self.action} needs parameter {missing[0]!r}")
        facts = ACTION_FACTS.get(self.action, frozenset())
        known_names = set(self.labels) | BUILTINS[self.source] | facts
        for name in sorted(placeholders([self.params, self.environment, self.reason])):
            if name not in known_names:
                raise ValueError(
                    f"template refers to {{{name}}}, which is neither a label listed under "
                    f"labels ({', '.join(sorted(self.labels)) or 'none'}), a {self.source} "
                    f"built-in ({', '.join(sorted(BUILTINS[self.source]))}) nor a fact of "
                    f"{self.action} ({', '.join(sorted(facts)) or 'none'})"
                )
        return self

    @property
    def facts_used(self) -> set[str]:
        """The action facts the templates need (read from the target at proposal time)."""
        return placeholders([self.params, self.environment, self.reason]) & set(
            ACTION_FACTS.get(self.action, set())
        )

    def matches(self, *, source: str, metric: str, labels: Mapping[str, str]) -> bool:
        """Whether an alert of ``source`` on ``metric`` with ``labels`` fires this trigger."""
        return (
            source == self.source
            and fnmatchcase(metric, self.metric)
            and all(k in labels and fnmatchcase(labels[k], g) for k, g in self.labels.items())
        )

    def dedupe_key(self, *, metric: str, labels: Mapping[str, str]) -> str:
        """``name:hash`` of the trigger and its target (the metric and the listed labels)."""
        target = json.dumps(
            [metric, sorted((k, labels[k]) for k in self.labels if k in labels)],
            separators=(",", ":"),
        )
        return f"{self.name}:{hashlib.sha256(target.encode()).hexdigest()[:24]}"


def check_unique_names(triggers: list[Trigger]) -> None:
    """Raise ``ValueError`` when two triggers share a name (it keys the dedupe)."""
    seen: set[str] = set()
    for trigger in triggers:
        if trigger.name in seen:
            raise ValueError(f"trigger name {trigger.name!r} is used twice")
        seen.add(trigger.name)
