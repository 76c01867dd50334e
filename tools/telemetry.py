"""The bot's own Prometheus metrics: one :class:`Telemetry` per served app.

Every family is prefixed ``sre_copilot_``; ``docs/observability.md`` lists them with
their labels. Instrumented code never holds a metric object: it calls
:func:`current` at the moment it has something to record, e.g.
``current().observe_tool_call(...)``.

Why a context variable and not the global ``prometheus_client.REGISTRY``: each
:class:`Telemetry` owns a :class:`~prometheus_client.CollectorRegistry`, and
``bot.web.create_app`` binds its own to everything that runs under the app (each
request, and the lifespan, whose tasks - scheduler, incident feed, Slack Socket
Mode - inherit the binding). In production one process serves one app, so this is the
process registry; in tests several apps live in one process and their counts never
mix. Code running outside any app (the CLI, unit tests) records into a lazily built
process default that nobody scrapes.

This module sits in ``tools`` because it is the lowest layer that records anything:
``tools`` (tool calls), ``agents`` (investigations, evidence calls, LLM tokens),
``jobs`` (job runs) and ``bot`` (HTTP, Slack acks, proposals) may all import it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar, Token

from prometheus_client import (
    GC_COLLECTOR,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    PlatformCollector,
    ProcessCollector,
)

__all__ = [
    "Telemetry",
    "bind",
    "current",
    "evidence_labels",
    "unbind",
    "use",
]

_FAST_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
"""HTTP requests and Slack acks (Slack wants an ack within 3 s)."""
_SLOW_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0)
"""Tool calls and investigations (bounded by the agent's budget)."""
_JOB_BUCKETS = (0.1, 0.5, 1.0, 5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0)
"""Scheduled jobs (forecasts fit models: seconds to minutes)."""

LLM_TOKEN_TYPES = ("input", "output", "cache_read", "cache_creation")


class Telemetry:
    """Every metric family of the bot, registered on one registry.

    Args:
        registry: Where to register; a fresh :class:`CollectorRegistry` by default.
        process_metrics: Also register the standard ``process_*``, ``python_gc_*``
            and ``python_info`` collectors (what the default registry would have).
    """

    def __init__(
        self, registry: CollectorRegistry | None = None, *, process_metrics: bool = True
    ) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        r = self.registry
        if process_metrics:
            ProcessCollector(registry=r)
            PlatformCollector(registry=r)
            r.register(GC_COLLECTOR)
        self.http_requests = Counter(
            "sre_copilot_http_requests",
            "HTTP requests served, by route template and status.",
            ["route", "status"],
            registry=r,
        )
        self.http_duration = Histogram(
            "sre_copilot_http_request_duration_seconds",
            "Time to serve an HTTP request, by route template.",
            ["route"],
            buckets=_FAST_BUCKETS,
            registry=r,
        )
        self.slack_acks = Counter(
            "sre_copilot_slack_acks",
            "Slack requests acknowledged, by kind (event/command/action/view/...) and the "
            "HTTP status Slack got.",
            ["kind", "status"],
            registry=r,
        )
        self.slack_ack_duration = Histogram(
            "sre_copilot_slack_ack_duration_seconds",
            "Time from receiving a Slack request to acknowledging it, by kind.",
            ["kind"],
            buckets=_FAST_BUCKETS,
            registry=r,
        )
        self.investigations = Counter(
            "sre_copilot_investigations",
            "Answered turns of the investigation agent, by intent, outcome "
            "(ok/degraded/error) and whether the LLM took part (yes/no).",
            ["intent", "outcome", "llm"],
            registry=r,
        )
        self.investigation_duration = Histogram(
            "sre_copilot_investigation_duration_seconds",
            "Time to answer one turn, by intent and whether the LLM took part.",
            ["intent", "llm"],
            buckets=_SLOW_BUCKETS,
            registry=r,
        )
        self.llm_tokens = Counter(
            "sre_copilot_llm_tokens",
            "LLM tokens spent, by type (input/output/cache_read/cache_creation).",
            ["type"],
            registry=r,
        )
        self.tool_calls = Counter(
            "sre_copilot_tool_calls",
            "Tool and evidence calls, by integration, tool and status.",
            ["integration", "tool", "status"],
            registry=r,
        )
        self.tool_duration = Histogram(
            "sre_copilot_tool_call_duration_seconds",
            "Time of one tool or evidence call, by integration and tool.",
            ["integration", "tool"],
            buckets=_SLOW_BUCKETS,
            registry=r,
        )
        self.job_runs = Counter(
            "sre_copilot_job_runs",
            "Scheduled job runs, by job and status (succeeded/failed/skipped).",
            ["job", "status"],
            registry=r,
        )
        self.job_duration = Histogram(
            "sre_copilot_job_run_duration_seconds",
            "Time of a job run that was not skipped, by job.",
            ["job"],
            buckets=_JOB_BUCKETS,
            registry=r,
        )
        self.proposals = Gauge(
            "sre_copilot_proposals",
            "Remediation proposals in the database, by state (read at scrape time).",
            ["state"],
            registry=r,
        )
        self.proposals_refresh_errors = Counter(
            "sre_copilot_proposals_refresh_errors",
            "Scrapes whose proposal count failed or timed out (the gauge kept its last values).",
            registry=r,
        )

    def observe_http(self, *, route: str, status: int, seconds: float) -> None:
        """One HTTP request (``route`` is the template, never the raw path)."""
        self.http_requests.labels(route=route, status=str(status)).inc()
        self.http_duration.labels(route=route).observe(seconds)

    def observe_slack_ack(self, *, kind: str, status: int, seconds: float) -> None:
        """One Slack request acknowledged (HTTP response or Socket Mode ack)."""
        self.slack_acks.labels(kind=kind, status=str(status)).inc()
        self.slack_ack_duration.labels(kind=kind).observe(seconds)

    def observe_investigation(
        self, *, intent: str, outcome: str, llm: bool, seconds: float
    ) -> None:
        """One answered turn of the agent."""
        flag = "yes" if llm else "no"
        self.investigations.labels(intent=intent, outcome=outcome, llm=flag).inc()
        self.investigation_duration.labels(intent=intent, llm=flag).observe(seconds)

    def count_llm_tokens(
        self,
        *,
        input_tokens: int,
        output_tokens: int,
        cache_read_tokens: int = 0,
        cache_creation_tokens: int = 0,
    ) -> None:
        """Tokens of one refinement (zero counts are skipped)."""
        counts = (input_tokens, output_tokens, cache_read_tokens, cache_creation_tokens)
        for kind, n in zip(LLM_TOKEN_TYPES, counts, strict=True):
            if n > 0:
                self.llm_tokens.labels(type=kind).inc(n)

    def observe_tool_call(
        self, *, integration: str, tool: str, status: str, seconds: float
    ) -> None:
        """One tool or evidence call."""
        self.tool_calls.labels(integration=integration, tool=tool, status=status).inc()
        self.tool_duration.labels(integration=integration, tool=tool).observe(seconds)

    def observe_evidence_call(self, *, what: str, source: str, status: str, seconds: float) -> None:
        """One evidence call of the agent's gathering (labels from :func:`evidence_labels`)."""
        integration, tool = evidence_labels(what, source)
        self.observe_tool_call(integration=integration, tool=tool, status=status, seconds=seconds)

    def observe_job_run(self, *, job: str, status: str, seconds: float | None) -> None:
        """One job run outcome; ``seconds`` is ``None`` for a skipped run."""
        self.job_runs.labels(job=job, status=status).inc()
        if seconds is not None:
            self.job_duration.labels(job=job).observe(seconds)

    def set_proposals(self, counts: Mapping[str, int], *, states: Iterable[str] = ()) -> None:
        """Replace the proposal gauge: every state in ``states`` (0 if absent) and ``counts``."""
        for state in (*states, *counts):
            self.proposals.labels(state=state).set(counts.get(state, 0))


_CURRENT: ContextVar[Telemetry | None] = ContextVar("sre_copilot_telemetry", default=None)
_process_default: list[Telemetry] = []


def current() -> Telemetry:
    """The telemetry bound to this context (the served app's), else the process default."""
    bound = _CURRENT.get()
    if bound is not None:
        return bound
    if not _process_default:
        _process_default.append(Telemetry(process_metrics=False))
    return _process_default[0]


def bind(telemetry: Telemetry) -> Token[Telemetry | None]:
    """Make ``telemetry`` current in this context (and in tasks created from it)."""
    return _CURRENT.set(telemetry)


def unbind(token: Token[Telemetry | None]) -> None:
    """Undo :func:`bind`."""
    _CURRENT.reset(token)


@contextmanager
def use(telemetry: Telemetry) -> Iterator[Telemetry]:
    """Make ``telemetry`` current for the block, e.g. a test's own fresh registry."""
    token = bind(telemetry)
    try:
        yield telemetry
    finally:
        unbind(token)


_OPERATION = re.compile(r"[a-z][a-z -]*[a-z]")
_NON_WORD = re.compile(r"[^a-z0-9]+")


def evidence_labels(what: str, source: str) -> tuple[str, str]:
    """``(integration, tool)`` labels of an evidence call, with bounded values.

    The agent names its calls for citations: ``what`` like ``"query 'rate(x[5m])'"``
    or ``"list alerts"``, ``source`` like ``"prometheus http://prom:9090"``, ``"alert
    store"`` or ``"file scenario.json"``. URLs, paths and queries are dropped, so the
    labels are e.g. ``("prometheus", "prometheus_query")``.
    """
    words = [w for w in source.lower().split() if "://" not in w]
    if not words:
        integration = "unknown"
    elif words[0] == "file":
        integration = "file"
    else:
        integration = _NON_WORD.sub("_", " ".join(words)).strip("_") or "unknown"
    match = _OPERATION.match(what.lower().strip())
    operation = _NON_WORD.sub("_", match.group(0)).strip("_") if match else "call"
    return integration, f"{integration}_{operation}"
