"""Policy loading: clear YAML errors, level 3 only for safe actions, glob matching."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from pydantic import BaseModel

from jobs.policy import default_policy, load_policy, validate
from memory.errors import ConfigError
from tools.actions.base import ActionCatalogue, ActionOutcome, Risk


class _Params(BaseModel):
    name: str = ""


class _Action:
    description = "test"
    risk = Risk.LOW
    params_model = _Params

    def __init__(self, name: str, *, safe: bool) -> None:
        self.name = name
        self.safe = safe

    async def dry_run(self, params: BaseModel) -> str:
        return "nothing"

    async def precondition(self, params: BaseModel) -> ActionOutcome:
        return ActionOutcome(ok=True, detail="ok")

    async def execute(self, params: BaseModel) -> ActionOutcome:
        return ActionOutcome(ok=True, detail="ok")

    async def verify(self, params: BaseModel, executed: ActionOutcome) -> ActionOutcome:
        return ActionOutcome(ok=True, detail="ok")


CATALOGUE = ActionCatalogue(
    [
        _Action("alertmanager.silence_create", safe=True),  # type: ignore[list-item]
        _Action("kubernetes.rollout_restart", safe=False),  # type: ignore[list-item]
        _Action("kubernetes.scale", safe=False),  # type: ignore[list-item]
    ]
)

GOOD = """\
expiry_minutes: 20
approver_groups:
  oncall: [UA, UB]
  leads: [UC]
rules:
  - action: kubernetes.scale
    environment: staging
    level: 1
  - action: "kubernetes.*"
    environment: "prod*"
    level: 2
    approvers: [oncall, leads]
    expiry_minutes: 10
  - action: alertmanager.silence_create
    level: 3
max_executions_per_hour:
  "kubernetes.*": 3
"""


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "policy.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_good_policy_and_glob_matching(tmp_path: Path) -> None:
    policy = validate(load_policy(_write(tmp_path, GOOD)), CATALOGUE)
    prod = policy.decide_requirements("kubernetes.rollout_restart", "production")
    assert prod.level == 2 and prod.required_approvals == 2
    assert prod.approvers == frozenset({"UA", "UB", "UC"})
    assert prod.expiry == timedelta(minutes=10)
    assert prod.may_decide("UC") and not prod.may_decide("UZ")
    staging = policy.decide_requirements("kubernetes.scale", "staging")
    assert staging.level == 1 and staging.approvers is None
    assert staging.expiry == timedelta(minutes=20)
    other = policy.decide_requirements("kubernetes.rollout_restart", "staging")
    assert other.level == 1  # no rule: default level
    silence = policy.decide_requirements("alertmanager.silence_create", "production")
    assert silence.level == 3 and silence.required_approvals == 0
    assert policy.max_executions("kubernetes.scale") == 3
    assert policy.max_executions("alertmanager.silence_create") is None


def test_default_policy() -> None:
    req = default_policy().decide_requirements("anything", "production")
    assert req.level == 1 and req.required_approvals == 1 and req.approvers is None
    assert req.expiry == timedelta(minutes=30)
    assert load_policy(None).rules == []


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "rules:\n  - action: x\n    level: 7\n",
            r"line 3 field rules\[0\]\.level: .*less than or equal to 3",
        ),
        ("rules:\n  - action: x\n", r"line 2 field rules\[0\]\.level: Field required"),
        ("expiry_minutes: soon\n", r"line 1 field expiry_minutes: .*valid integer"),
        (
            "rules:\n  - action: x\n    level: 1\n    colour: red\n",
            r"line 4 field rules\[0\]\.colour: Extra",
        ),
        (
            "rules:\n  - action: x\n    level: 1\n    approvers: [ghosts]\n",
            r"approver group 'ghosts' is not defined",
        ),
        ("rules: [\n", r"line \d+: invalid YAML"),
        ("- just\n- a list\n", r"line 1: expected a mapping"),
        (
            "approver_groups: {g: [UA]}\nrules:\n  - {action: x, level: 2, approvers: [g]}\n",
            r"level 2 needs two different approvers",
        ),
    ],
)
def test_yaml_errors_are_clear(tmp_path: Path, text: str, expected: str) -> None:
    path = _write(tmp_path, text)
    with pytest.raises(ConfigError, match=expected) as info:
        load_policy(path)
    assert str(path) in str(info.value)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_policy(tmp_path / "absent.yaml")


def test_level_three_refused_for_unsafe_actions(tmp_path: Path) -> None:
    path = _write(
        tmp_path, "rules:\n  - action: x\n    level: 0\n  - action: 'kubernetes.*'\n    level: 3\n"
    )
    with pytest.raises(
        ConfigError, match=r"line 4 field rules\[1\]\.level: .*'kubernetes\."
    ) as info:
        validate(load_policy(path), CATALOGUE)
    assert "not marked safe" in str(info.value) and str(path) in str(info.value)
    unknown = _write(tmp_path, "rules:\n  - action: made.up\n    level: 3\n")
    with pytest.raises(ConfigError, match="matches no catalogued action"):
        validate(load_policy(unknown), CATALOGUE)


def test_container_refuses_an_unsafe_level_three_at_start_without_the_integration(
    tmp_path: Path,
) -> None:
    """Checked against every action the product knows, not only configured ones: a
    level-3 Kubernetes rule is refused even where Kubernetes is not configured yet."""
    from bot.config import Settings
    from bot.container import Container
    from tools.actions.catalogue import ACTION_SAFETY

    path = _write(tmp_path, "rules:\n  - action: kubernetes.scale\n    level: 3\n")
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        environment="test",
        data_dir=tmp_path / "data",
        remediation_policy=path,
    )
    assert settings.kubernetes.host is None
    with pytest.raises(ConfigError, match=r"refused for 'kubernetes\.scale'"):
        Container(settings)
    safe = _write(tmp_path, "rules:\n  - action: alertmanager.silence_create\n    level: 3\n")
    assert validate(load_policy(safe), ACTION_SAFETY).rules[0].level == 3
    assert ACTION_SAFETY["alertmanager.silence_create"] and not ACTION_SAFETY["webhook.trigger"]
