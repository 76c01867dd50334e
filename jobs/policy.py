"""Remediation policy: who may approve which action, in which environment, and how many.

The policy is a YAML file::

    expiry_minutes: 30            # default time to decide on a proposal
    default_level: 1              # for actions no rule matches
    approver_groups:
      sre-oncall: [U012AB3CD, U045EF6GH]
    rules:                        # first match wins: put specific rules first
      - action: "alertmanager.silence_create"
        environment: "staging"    # glob, default "*"
        level: 3
      - action: "kubernetes.*"
        environment: "production"
        level: 2
        approvers: [sre-oncall]   # group names; none = anyone except the proposer
        expiry_minutes: 15
    max_executions_per_hour:
      "kubernetes.*": 3           # per action name (globs allowed)
    triggers: []                  # forecast/anomaly → proposal rules (see jobs.triggers)

Autonomy levels: 0 suggests only, 1 needs one approval, 2 needs two approvals from
different people, 3 executes on its own and notifies (only for actions marked safe,
checked by :func:`validate` against the action catalogue).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, model_validator

from jobs.triggers import Trigger, check_unique_names
from memory.errors import ConfigError
from tools.actions.base import ActionCatalogue

DEFAULT_EXPIRY_MINUTES = 30

_REQUIRED_APPROVALS = {0: 0, 1: 1, 2: 2, 3: 0}


class Rule(BaseModel):
    """Autonomy level and approvers for actions (name or glob) in environments (glob)."""

    model_config = ConfigDict(extra="forbid")

    action: str = Field(min_length=1, description="Action name or glob, e.g. kubernetes.*")
    environment: str = Field(default="*", min_length=1)
    level: int = Field(ge=0, le=3)
    approvers: list[str] = Field(default_factory=list, description="Approver group names.")
    expiry_minutes: int | None = Field(default=None, gt=0)
    _line: int | None = PrivateAttr(default=None)

    def matches(self, *, action: str, environment: str) -> bool:
        """Whether this rule applies to ``action`` in ``environment``."""
        return fnmatchcase(action, self.action) and fnmatchcase(environment, self.environment)


class Policy(BaseModel):
    """The whole remediation policy."""

    model_config = ConfigDict(extra="forbid")

    expiry_minutes: int = Field(default=DEFAULT_EXPIRY_MINUTES, gt=0)
    default_level: int = Field(default=1, ge=0, le=2)
    approver_groups: dict[str, list[str]] = Field(default_factory=dict)
    rules: list[Rule] = Field(default_factory=list)
    max_executions_per_hour: dict[str, int] = Field(default_factory=dict)
    triggers: list[Trigger] = Field(default_factory=list)
    _source: str = PrivateAttr(default="<default policy>")

    @model_validator(mode="after")
    def _check_references(self) -> Policy:
        for i, rule in enumerate(self.rules):
            for group in rule.approvers:
                if group not in self.approver_groups:
                    known = ", ".join(sorted(self.approver_groups)) or "none defined"
                    raise ValueError(
                        f"rules[{i}] ({rule.action}): approver group {group!r} is not defined "
                        f"in approver_groups (known: {known})"
                    )
            if rule.level == 2 and rule.approvers:
                people = {u for g in rule.approvers for u in self.approver_groups[g]}
                if len(people) < 2:
                    raise ValueError(
                        f"rules[{i}] ({rule.action}): level 2 needs two different approvers "
                        f"but its groups list {len(people)} person(s)"
                    )
        check_unique_names(self.triggers)
        for name, limit in self.max_executions_per_hour.items():
            if limit < 1:
                raise ValueError(
                    f"max_executions_per_hour[{name!r}] must be a positive integer, got {limit}"
                )
        return self

    @property
    def source(self) -> str:
        """The file this policy was loaded from (or ``<default policy>``)."""
        return self._source

    def rule_for(self, *, action: str, environment: str) -> Rule | None:
        """The first rule matching ``action`` in ``environment``, if any."""
        for rule in self.rules:
            if rule.matches(action=action, environment=environment):
                return rule
        return None

    def decide_requirements(self, action: str, environment: str) -> Requirements:
        """What a proposal of ``action`` in ``environment`` needs before it may execute."""
        rule = self.rule_for(action=action, environment=environment)
        level = rule.level if rule is not None else self.default_level
        approvers: frozenset[str] | None = None
        if rule is not None and rule.approvers:
            approvers = frozenset(u for g in rule.approvers for u in self.approver_groups[g])
        minutes = (
            rule.expiry_minutes
            if rule is not None and rule.expiry_minutes is not None
            else self.expiry_minutes
        )
        return Requirements(
            level=level,
            approvers=approvers,
            required_approvals=_REQUIRED_APPROVALS[level],
            expiry=timedelta(minutes=minutes),
        )

    def max_executions(self, action: str) -> int | None:
        """The hourly execution limit of ``action`` (exact name before globs), if any."""
        if action in self.max_executions_per_hour:
            return self.max_executions_per_hour[action]
        for pattern, limit in self.max_executions_per_hour.items():
            if fnmatchcase(action, pattern):
                return limit
        return None


@dataclass(frozen=True)
class Requirements:
    """What one proposal needs.

    Attributes:
        level: Autonomy level 0-3.
        approvers: Slack user ids allowed to decide; ``None`` means anyone but the proposer.
        required_approvals: Distinct approvals needed before execution (0 for levels 0 and 3).
        expiry: How long the proposal stays open.
    """

    level: int
    approvers: frozenset[str] | None
    required_approvals: int
    expiry: timedelta

    def may_decide(self, user: str) -> bool:
        """Whether ``user`` is an approver (the proposer check is separate)."""
        return self.approvers is None or user in self.approvers


def default_policy() -> Policy:
    """Everything at level 1; any approver except the proposer; 30-minute expiry."""
    return Policy()


def _loc_line(node: yaml.Node | None, loc: tuple[int | str, ...]) -> int | None:
    """The 1-based line of the YAML node at pydantic location ``loc`` (deepest found)."""
    line = node.start_mark.line + 1 if node is not None else None
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            found = next((v for k, v in node.value if k.value == str(part)), None)
            if found is None:
                key = next((k for k, _ in node.value if k.value == str(part)), None)
                return key.start_mark.line + 1 if key is not None else line
            node = found
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int):
            if part >= len(node.value):
                return line
            node = node.value[part]
        else:
            return line
        line = node.start_mark.line + 1
    return line


def load_policy(path: Path | str | None = None) -> Policy:
    """Load and check a policy file; the default policy when ``path`` is ``None``.

    Args:
        path: The YAML file.

    Returns:
        The policy (call :func:`validate` with the catalogue before using it).

    Raises:
        ConfigError: Unreadable file, bad YAML or a field that fails validation; the
            message names the file, the line and field, and what is expected.
    """
    if path is None:
        return default_policy()
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"policy file {path}: cannot read it ({exc.strerror})") from None
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        data: Any = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(f"policy file {path}{where}: invalid YAML ({problem})") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(
            f"policy file {path} line 1: expected a mapping of settings "
            f"(expiry_minutes, approver_groups, rules, ...), got {type(data).__name__}"
        )
    try:
        policy = Policy.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = tuple(err["loc"])
        field = ".".join(f"[{p}]" if isinstance(p, int) else str(p) for p in loc).replace(".[", "[")
        line = _loc_line(root, loc)
        where = f" line {line}" if line is not None else ""
        msg = str(err["msg"]).removeprefix("Value error, ")
        label = f" field {field}:" if field else ":"
        more = f" (and {len(exc.errors()) - 1} more error(s))" if len(exc.errors()) > 1 else ""
        raise ConfigError(f"policy file {path}{where}{label} {msg}{more}") from None
    policy._source = str(path)
    rules_node = (
        next((v for k, v in root.value if k.value == "rules"), None)
        if isinstance(root, yaml.MappingNode)
        else None
    )
    if isinstance(rules_node, yaml.SequenceNode):
        for rule, node in zip(policy.rules, rules_node.value, strict=False):
            rule._line = node.start_mark.line + 1
    return policy


def validate(policy: Policy, catalogue: ActionCatalogue | Mapping[str, bool]) -> Policy:
    """Refuse level 3 (autonomous) for any action not marked safe.

    A level-3 rule must match at least one known action, and every action it matches
    must be safe. At start-up the container checks against every action the product
    knows (``ACTION_SAFETY``), so a policy is refused whether or not the integration
    behind the action is configured in this deployment.

    Args:
        policy: The loaded policy.
        catalogue: The registered actions, or action name → safe.

    Returns:
        The same policy, for chaining.

    Raises:
        ConfigError: A level-3 rule covers an unsafe or unknown action.
    """
    if isinstance(catalogue, ActionCatalogue):
        safety = {n: a.safe for n in catalogue.names() if (a := catalogue.get(n)) is not None}
    else:
        safety = dict(catalogue)
    for i, rule in enumerate(policy.rules):
        if rule.level != 3:
            continue
        where = f"policy file {policy.source}"
        if rule._line is not None:
            where += f" line {rule._line}"
        matched = [n for n in safety if fnmatchcase(n, rule.action)]
        if not matched:
            raise ConfigError(
                f"{where} field rules[{i}].level: level 3 (autonomous) for {rule.action!r} "
                "matches no catalogued action, so it cannot be checked as safe; "
                "use level 0-2 or name a safe action"
            )
        for name in matched:
            if not safety[name]:
                raise ConfigError(
                    f"{where} field rules[{i}].level: level 3 (autonomous) is refused for "
                    f"{name!r}, which is not marked safe; use level 0, 1 or 2"
                )
    return policy
