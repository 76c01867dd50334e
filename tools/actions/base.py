"""The action contract: mutating operations with risk, dry-run, precondition and verification.

Actions are never handed to the LLM and never run from a tool call: only
``jobs.remediation`` executes them, and only for a proposal whose approvals satisfy
the policy. Each action states, before anything changes, exactly what it would change
(:meth:`Action.dry_run`), checks that it still makes sense (:meth:`Action.precondition`),
and after executing checks that the change took effect (:meth:`Action.verify`).
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any, Protocol, runtime_checkable

from pydantic import BaseModel, Field


class Risk(StrEnum):
    """How much damage a wrong execution can do."""

    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"


class ActionOutcome(BaseModel):
    """Result of a precondition, an execution or a verification."""

    ok: bool
    detail: str = Field(description="One line for humans: what happened or why not.")
    data: dict[str, Any] = Field(default_factory=dict)


@runtime_checkable
class Action(Protocol):
    """A mutating operation in the catalogue."""

    name: str
    """Catalogue name, e.g. ``alertmanager.silence_create``."""
    description: str
    risk: Risk
    safe: bool
    """Whether policy may let it run without approval (autonomy level 3)."""
    params_model: type[BaseModel]

    async def dry_run(self, params: BaseModel) -> str:
        """Exactly what executing would change (no side effect)."""
        ...

    async def precondition(self, params: BaseModel) -> ActionOutcome:
        """Whether executing still makes sense now (e.g. the deployment exists)."""
        ...

    async def execute(self, params: BaseModel) -> ActionOutcome:
        """Make the change."""
        ...

    async def verify(self, params: BaseModel, executed: ActionOutcome) -> ActionOutcome:
        """Check that the change took effect."""
        ...


class ActionCatalogue:
    """The registered actions, by name."""

    def __init__(self, actions: list[Action] | None = None) -> None:
        self._actions: dict[str, Action] = {}
        for action in actions or []:
            self.register(action)

    def register(self, action: Action) -> None:
        """Add an action (names are unique)."""
        if action.name in self._actions:
            raise ValueError(f"action {action.name} is already registered")
        self._actions[action.name] = action

    def remove(self, name: str) -> None:
        """Withdraw an action (e.g. its integration proved unusable at start-up)."""
        self._actions.pop(name, None)

    def get(self, name: str) -> Action | None:
        """An action by name."""
        return self._actions.get(name)

    def names(self) -> list[str]:
        """Every action name, sorted."""
        return sorted(self._actions)
