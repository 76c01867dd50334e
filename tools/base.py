"""The tool contract: typed, read-only-by-default async tools with structured results.

A tool is an async function taking one pydantic model of arguments and returning a
:class:`ToolResult`. Its docstring is product text: the LLM reads it as the tool
description, and ``sre-copilot tool list`` prints it. Tools never raise for
upstream trouble: a dead server, a bad query or an empty answer is a result whose
``status`` says so and whose fields state the exact query, time range and source.

Mutating tools (``mutating=True``) exist only in the remediation action catalogue;
the registry never hands them to the LLM and runs them only through an approved
proposal.
"""

from __future__ import annotations

import builtins
import inspect
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, Generic, Protocol, TypeVar, runtime_checkable

from pydantic import BaseModel, ConfigDict, ValidationError

from memory.errors import IntegrationError, UpstreamHTTPError, UpstreamTimeout
from tools.telemetry import current

logger = logging.getLogger(__name__)

ArgsT = TypeVar("ArgsT", bound=BaseModel)


class ToolStatus(StrEnum):
    """Outcome of a tool call."""

    OK = "ok"
    NO_DATA = "no_data"
    ERROR = "error"
    APPROVAL_REQUIRED = "approval_required"


class TimeRange(BaseModel):
    """The exact time window a tool looked at (UTC)."""

    model_config = ConfigDict(frozen=True)

    start: datetime
    end: datetime
    step_s: float | None = None

    def describe(self) -> str:
        """Human-readable form, e.g. ``2026-11-27T10:00Z → 2026-11-27T11:00Z step 60s``."""
        text = f"{self.start.isoformat()} → {self.end.isoformat()}"
        if self.step_s:
            text += f" step {self.step_s:g}s"
        return text


class ToolResult(BaseModel):
    """Structured outcome of one tool call.

    Attributes:
        tool: Name of the tool that produced the result.
        status: ok / no_data / error / approval_required.
        source: The system and address asked, e.g. ``prometheus http://127.0.0.1:9090``.
        query: The exact query or request (PromQL, API path with filters, search text).
        time_range: The window looked at, when there is one.
        data: JSON-serialisable payload (only meaningful when status is ok).
        error: What went wrong, naming the cause (when status is error or no_data).
        upstream_status: HTTP status returned by the upstream, when there was one.
        duration_ms: Wall-clock time of the call.
    """

    tool: str
    status: ToolStatus
    source: str = ""
    query: str | None = None
    time_range: TimeRange | None = None
    data: Any = None
    error: str | None = None
    upstream_status: int | None = None
    duration_ms: float = 0.0

    @property
    def ok(self) -> bool:
        """Whether the call succeeded with data."""
        return self.status is ToolStatus.OK

    def describe(self) -> str:
        """One line naming the status, query, window and source (for citations and logs)."""
        parts = [f"{self.tool}: {self.status.value}"]
        if self.query:
            parts.append(f"query={self.query!r}")
        if self.time_range:
            parts.append(f"range={self.time_range.describe()}")
        if self.source:
            parts.append(f"source={self.source}")
        if self.upstream_status is not None:
            parts.append(f"http={self.upstream_status}")
        if self.error:
            parts.append(f"error={self.error}")
        return " ".join(parts)


class HealthState(StrEnum):
    """Health of an integration as ``doctor`` and the registry see it."""

    NOT_CONFIGURED = "not configured"
    CONFIGURED = "configured"
    HEALTHY = "healthy"
    UNHEALTHY = "unhealthy"


class Health(BaseModel):
    """Health of one integration with the reason."""

    integration: str
    state: HealthState
    reason: str = ""

    @property
    def usable(self) -> bool:
        """Whether its tools may be called."""
        return self.state in (HealthState.CONFIGURED, HealthState.HEALTHY)


@dataclass(frozen=True)
class Tool(Generic[ArgsT]):
    """A typed async tool.

    Build one with :meth:`Tool.define`; call it with :meth:`run`, which validates
    raw arguments and converts every failure into a :class:`ToolResult`.
    """

    name: str
    integration: str
    description: str
    args_model: type[ArgsT]
    func: Callable[[ArgsT], Awaitable[ToolResult]]
    mutating: bool = False

    @classmethod
    def define(
        cls,
        func: Callable[[ArgsT], Awaitable[ToolResult]],
        *,
        args_model: type[ArgsT],
        integration: str,
        name: str | None = None,
        mutating: bool = False,
    ) -> Tool[ArgsT]:
        """Wrap ``func``; its docstring becomes the tool description."""
        doc = inspect.getdoc(func) or ""
        return cls(
            name=name or func.__name__.lstrip("_"),
            integration=integration,
            description=doc,
            args_model=args_model,
            func=func,
            mutating=mutating,
        )

    @property
    def summary(self) -> str:
        """First line of the description."""
        return self.description.splitlines()[0] if self.description else ""

    def input_schema(self) -> dict[str, Any]:
        """JSON schema of the arguments (what the LLM sees)."""
        return self.args_model.model_json_schema()

    async def run(self, raw_args: Mapping[str, Any] | ArgsT | None = None) -> ToolResult:
        """Validate ``raw_args`` and run the tool; never raises for bad input or upstream errors."""
        started = time.perf_counter()
        try:
            if isinstance(raw_args, self.args_model):
                args = raw_args
            else:
                args = self.args_model.model_validate(dict(raw_args or {}))
        except ValidationError as exc:
            return self._observed(
                ToolResult(
                    tool=self.name,
                    status=ToolStatus.ERROR,
                    source=self.integration,
                    error="invalid arguments: " + describe_validation_error(exc),
                ),
                started,
            )
        try:
            result = await self.func(args)
        except UpstreamTimeout as exc:
            result = self._error(f"timeout: {exc}")
        except UpstreamHTTPError as exc:
            result = self._error(str(exc), upstream_status=exc.status_code)
        except IntegrationError as exc:
            result = self._error(str(exc))
        except Exception as exc:  # boundary: a tool must never crash an investigation
            logger.exception("tool %s failed unexpectedly", self.name)
            result = self._error(f"unexpected {type(exc).__name__}: {exc}")
        if not result.duration_ms:
            result = result.model_copy(
                update={"duration_ms": (time.perf_counter() - started) * 1000}
            )
        return self._observed(result, started)

    def _observed(self, result: ToolResult, started: float) -> ToolResult:
        current().observe_tool_call(
            integration=self.integration,
            tool=self.name,
            status=result.status.value,
            seconds=time.perf_counter() - started,
        )
        return result

    def _error(self, message: str, *, upstream_status: int | None = None) -> ToolResult:
        return ToolResult(
            tool=self.name,
            status=ToolStatus.ERROR,
            source=self.integration,
            error=message,
            upstream_status=upstream_status,
        )


def describe_validation_error(exc: ValidationError) -> str:
    """Turn a pydantic error into ``field: message; field: message``."""
    parts = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err["loc"]) or "(arguments)"
        parts.append(f"{loc}: {err['msg']}")
    return "; ".join(parts)


@runtime_checkable
class Integration(Protocol):
    """An upstream system exposing read-only tools (Prometheus, PagerDuty, runbooks...)."""

    name: str

    @property
    def configured(self) -> bool:
        """Whether enough settings exist to try it."""
        ...

    async def health(self) -> Health:
        """Probe the upstream cheaply (a few seconds at most)."""
        ...

    def tools(self) -> list[Tool[Any]]:
        """The tools this integration offers."""
        ...


class ToolInfo(BaseModel):
    """A tool as the registry lists it."""

    name: str
    integration: str
    summary: str
    mutating: bool
    enabled: bool
    reason: str = ""


@dataclass
class ToolRegistry:
    """Knows every integration's tools and health; disables tools of unusable ones."""

    integrations: list[Integration] = field(default_factory=list)
    setup_hints: dict[str, str] = field(default_factory=dict)
    """Per integration, what to set to configure it (shown when it is not configured)."""
    _health: dict[str, Health] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for integ in self.integrations:
            self._health[integ.name] = Health(
                integration=integ.name,
                state=HealthState.CONFIGURED if integ.configured else HealthState.NOT_CONFIGURED,
                reason="" if integ.configured else self.setup_hints.get(integ.name, "no settings"),
            )

    def add(self, integration: Integration) -> None:
        """Register an integration built after start-up (e.g. the runbook store)."""
        self.integrations.append(integration)
        self._health[integration.name] = Health(
            integration=integration.name,
            state=HealthState.CONFIGURED if integration.configured else HealthState.NOT_CONFIGURED,
            reason="" if integration.configured else self.setup_hints.get(integration.name, ""),
        )

    async def refresh_health(self) -> list[Health]:
        """Probe every configured integration and remember the outcome."""
        out = []
        for integ in self.integrations:
            if integ.configured:
                health = await integ.health()
            else:
                health = self._health[integ.name]
            self._health[integ.name] = health
            out.append(health)
        return out

    async def aclose(self) -> None:
        """Close every integration that holds connections (those with ``aclose``)."""
        for integ in self.integrations:
            closer = getattr(integ, "aclose", None)
            if closer is None:
                continue
            try:
                await closer()
            except Exception:  # boundary: closing one must not leak the others
                logger.exception("closing integration %s failed", integ.name)

    def health(self, integration: str) -> Health | None:
        """Last known health of one integration."""
        return self._health.get(integration)

    def _all(self) -> list[Tool[Any]]:
        return [t for integ in self.integrations for t in integ.tools()]

    def get(self, name: str) -> Tool[Any] | None:
        """A tool by name, enabled or not."""
        return next((t for t in self._all() if t.name == name), None)

    def list(self) -> builtins.list[ToolInfo]:
        """Every tool with whether it is enabled and why not."""
        infos = []
        for tool in self._all():
            health = self._health.get(tool.integration)
            enabled = bool(health and health.usable)
            reason = "" if enabled or health is None else f"{health.state.value}: {health.reason}"
            infos.append(
                ToolInfo(
                    name=tool.name,
                    integration=tool.integration,
                    summary=tool.summary,
                    mutating=tool.mutating,
                    enabled=enabled,
                    reason=reason.rstrip(": "),
                )
            )
        return infos

    def read_only_tools(self) -> builtins.list[Tool[Any]]:
        """Enabled, non-mutating tools: the only ones an agent or the LLM may be given."""
        enabled = {i.name for i in self.list() if i.enabled}
        return [t for t in self._all() if t.name in enabled and not t.mutating]

    async def run(self, name: str, args: Mapping[str, Any] | None = None) -> ToolResult:
        """Run a read-only tool by name; unknown, disabled or mutating tools give an error."""
        tool = self.get(name)
        if tool is None:
            known = ", ".join(sorted(t.name for t in self._all())) or "none"
            return ToolResult(
                tool=name, status=ToolStatus.ERROR, error=f"unknown tool (known: {known})"
            )
        if tool.mutating:
            return ToolResult(
                tool=name,
                status=ToolStatus.APPROVAL_REQUIRED,
                source=tool.integration,
                error="mutating action: it runs only through an approved remediation proposal",
            )
        health = self._health.get(tool.integration)
        if health is not None and not health.usable:
            return ToolResult(
                tool=name,
                status=ToolStatus.ERROR,
                source=tool.integration,
                error=f"{tool.integration} is {health.state.value}: {health.reason}",
            )
        return await tool.run(args)
