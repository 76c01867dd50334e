"""The investigation graph (LangGraph): route → gather → analyse → refine → respond.

Every intent is a node; investigation is split into a gathering node (parallel,
deadline-bound evidence calls) and an analysis node (the deterministic analyst),
followed by an optional LLM refinement that can only reorder and narrate, never
drop cited evidence. :class:`InvestigationAgent` is the ``Responder`` the chat
service calls.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol, TypedDict, runtime_checkable

from langgraph.graph import END, START, StateGraph

from agents import followup
from agents.analyst import Candidate, Inputs, Symptom, analyse, pick_service
from agents.config import AgentConfig
from agents.gather import Budget, Sources, gather
from agents.intents import Intent, IntentKind, route
from agents.investigation import attach_runbooks, build_reply
from agents.metric_questions import answer_metric_question
from agents.reply import Reply, Section, SourceFailure
from memory.models import ConversationTurn, Hypothesis
from memory.repositories import Repositories
from tools.telemetry import current

logger = logging.getLogger(__name__)

HELP_TEXT = (
    "Ask me things like: *what's wrong with checkout?* · *p99 latency of checkout* · "
    "*runbook for disk full* · *who is on call?* · *open incidents* · and follow-ups "
    "such as *why not the database?*"
)


RUNBOOK_ASK = re.compile(
    r"^\s*(show me |find |give me |what'?s |is there )?(the |a )?(runbooks?|playbooks?)"
    r"( for| about| on| to)?\s*|^\s*how (do|can|should) (i|we) (fix|mitigate|handle|resolve)\s*",
    re.I,
)


class Refiner(Protocol):
    """An LLM pass over the deterministic draft (see ``agents.llm.ClaudeAnalyst``)."""

    async def refine(
        self,
        *,
        question: str,
        draft: Reply,
        history: Sequence[tuple[str, str]],
        budget_s: float,
        workspace_id: str | None = None,
    ) -> Reply:
        """Return the draft reordered/narrated, or unchanged with a note on failure."""
        ...


class TokenUsage(Protocol):
    """Tokens one refinement spent (``agents.llm.LLMUsage``)."""

    @property
    def requests(self) -> int:
        """LLM requests made."""
        ...

    @property
    def input_tokens(self) -> int:
        """Uncached input tokens."""
        ...

    @property
    def output_tokens(self) -> int:
        """Output tokens."""
        ...

    @property
    def cache_read_input_tokens(self) -> int:
        """Input tokens read from the prompt cache."""
        ...

    @property
    def cache_creation_input_tokens(self) -> int:
        """Input tokens written to the prompt cache."""
        ...


class RefinementResult(Protocol):
    """What a detailed refinement returns (``agents.llm.Refinement``)."""

    @property
    def reply(self) -> Reply:
        """The refined reply, or the draft with a fallback note."""
        ...

    @property
    def refined(self) -> bool:
        """Whether the LLM's answer was applied."""
        ...

    @property
    def usage(self) -> TokenUsage:
        """Tokens spent."""
        ...


@runtime_checkable
class DetailedRefiner(Protocol):
    """A :class:`Refiner` that also reports token usage (for the metrics)."""

    async def refine_detailed(
        self,
        *,
        question: str,
        draft: Reply,
        history: Sequence[tuple[str, str]],
        budget_s: float,
        workspace_id: str | None = None,
    ) -> RefinementResult:
        """Like ``refine``, with whether it worked and the tokens spent."""
        ...


class State(TypedDict, total=False):
    """Graph state for one turn."""

    text: str
    workspace_id: str
    conversation_key: str
    history: list[ConversationTurn]
    intent: Intent
    budget: Budget
    start: datetime
    end: datetime
    inputs: Inputs
    failures: list[SourceFailure]
    service: str | None
    service_reason: str
    candidates: list[Candidate]
    symptom: Symptom | None
    reply: Reply
    llm: bool
    """Whether the LLM took part in this turn (metrics)."""
    llm_fallback: bool
    """Whether the LLM was asked but its answer was not used (metrics)."""


def _outcome(reply: Reply, *, llm_fallback: bool) -> str:
    """``error`` (no answer), ``degraded`` (a source or the LLM failed) or ``ok``."""
    if reply.kind == "error":
        return "error"
    if reply.failed_sources or llm_fallback:
        return "degraded"
    return "ok"


def previous_reply(history: Sequence[ConversationTurn]) -> dict[str, Any] | None:
    """The last assistant reply of the thread that had hypotheses."""
    for turn in reversed(history):
        if turn.role == "assistant" and turn.reply and turn.reply.get("hypotheses"):
            return turn.reply
    return None


class InvestigationAgent:
    """Answers chat messages through the investigation graph."""

    def __init__(
        self,
        *,
        sources: Sources,
        config: AgentConfig,
        repos: Repositories | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        lookback: timedelta = timedelta(hours=3),
        chart_dir: Path,
        refiner: Refiner | None = None,
    ) -> None:
        self.sources = sources
        self.config = config
        self.repos = repos
        self.clock = clock
        self.lookback = lookback
        self.chart_dir = chart_dir
        self.refiner = refiner
        self.graph = self._build()

    def _build(self) -> Any:
        g: StateGraph[State] = StateGraph(State)
        g.add_node("route", self._route)
        g.add_node("gather", self._gather)
        g.add_node("analyse", self._analyse)
        g.add_node("refine", self._refine)
        g.add_node("metric", self._metric)
        g.add_node("runbook", self._runbook)
        g.add_node("oncall", self._oncall)
        g.add_node("incidents", self._incidents)
        g.add_node("postmortem", self._postmortem)
        g.add_node("followup", self._followup)
        g.add_node("help", self._help)
        g.add_edge(START, "route")
        g.add_conditional_edges(
            "route",
            lambda s: (
                "gather" if s["intent"].kind is IntentKind.INVESTIGATE else s["intent"].kind.value
            ),
            [
                "gather",
                "metric",
                "runbook",
                "oncall",
                "incidents",
                "postmortem",
                "followup",
                "help",
            ],
        )
        g.add_edge("gather", "analyse")
        g.add_edge("analyse", "refine")
        for node in (
            "refine",
            "metric",
            "runbook",
            "oncall",
            "incidents",
            "postmortem",
            "followup",
            "help",
        ):
            g.add_edge(node, END)
        return g.compile()

    async def respond(
        self,
        *,
        workspace_id: str,
        conversation_key: str,
        text: str,
        history: Sequence[ConversationTurn],
    ) -> Reply:
        """Run the graph for one message."""
        started = time.perf_counter()
        end = self.clock()
        state: State = {
            "text": text,
            "workspace_id": workspace_id,
            "conversation_key": conversation_key,
            "history": list(history),
            "budget": Budget(
                per_call_s=self.config.tool_deadline_s, total_s=self.config.total_budget_s
            ),
            "start": end - self.lookback,
            "end": end,
            "failures": [],
        }
        try:
            result = await self.graph.ainvoke(state)
        except Exception:  # counted, then handled by the chat service's boundary
            current().observe_investigation(
                intent="unknown",
                outcome="error",
                llm=self.refiner is not None,
                seconds=time.perf_counter() - started,
            )
            raise
        reply: Reply = result["reply"]
        elapsed = time.perf_counter() - started
        intent = result["intent"].kind.value
        current().observe_investigation(
            intent=intent,
            outcome=_outcome(reply, llm_fallback=result.get("llm_fallback", False)),
            llm=result.get("llm", False),
            seconds=elapsed,
        )
        logger.info("answered %s intent in %.2fs (%s)", intent, elapsed, conversation_key)
        return reply

    # --- nodes ---------------------------------------------------------------------

    async def _route(self, state: State) -> dict[str, Any]:
        has_prev = previous_reply(state["history"]) is not None
        return {"intent": route(state["text"], has_previous_answer=has_prev)}

    async def _gather(self, state: State) -> dict[str, Any]:
        inputs, failures = await gather(
            self.sources,
            start=state["start"],
            end=state["end"],
            budget=state["budget"],
            workspace_id=state["workspace_id"],
        )
        return {"inputs": inputs, "failures": state["failures"] + failures}

    async def _analyse(self, state: State) -> dict[str, Any]:
        inputs = state["inputs"]
        prev = previous_reply(state["history"])
        earlier = [h.get("service", "") for h in (prev or {}).get("hypotheses", [])]
        service, reason = pick_service(inputs, state["text"], [s for s in earlier if s])
        cands: list[Candidate] = []
        sym: Symptom | None = None
        if service is not None:
            cands, sym = analyse(inputs, service)
            await self._past_incidents(state["workspace_id"], service, cands)
        failures = list(state["failures"])
        runbooks = await attach_runbooks(
            self.sources.runbooks, cands, inputs, failures, deadline_s=state["budget"].deadline()
        )
        cands.sort(key=lambda c: -c.confidence)
        reply = build_reply(
            service=service,
            service_reason=reason,
            cands=cands,
            sym=sym,
            inputs=inputs,
            failures=failures,
            runbooks=runbooks,
        )
        reply = await self._store_hypotheses(state, reply)
        return {"service": service, "candidates": cands, "symptom": sym, "reply": reply}

    async def _past_incidents(
        self, workspace_id: str, service: str, cands: list[Candidate]
    ) -> None:
        if self.repos is None:
            return
        confirmed = await self.repos.hypotheses.confirmed_faults(
            workspace_id=workspace_id, service=service
        )
        from agents.reply import Evidence  # noqa: PLC0415  (tiny, avoids a cycle in typing)

        for cand in cands:
            count = confirmed.get(cand.fault, 0)
            if count and cand.strength > 0:
                cand.support.append(
                    (
                        min(0.25, 0.1 * count),
                        Evidence(
                            source="incident history",
                            summary=(
                                f"{count} past incident(s) of {service} "
                                f"were confirmed as {cand.fault}"
                            ),
                        ),
                    )
                )
                cand.score()

    async def _store_hypotheses(self, state: State, reply: Reply) -> Reply:
        if self.repos is None or not reply.hypotheses:
            return reply
        rows = [
            Hypothesis(
                workspace_id=state["workspace_id"],
                conversation_key=state["conversation_key"],
                rank=i,
                title=h.title,
                fault=h.fault,
                service=h.service,
                confidence=h.confidence,
                evidence=[e.model_dump(mode="json") for e in h.evidence],
            )
            for i, h in enumerate(reply.hypotheses, start=1)
        ]
        await self.repos.workspaces.ensure(workspace_id=state["workspace_id"])
        stored = await self.repos.hypotheses.add_many(
            workspace_id=state["workspace_id"], hypotheses=rows
        )
        for view, row in zip(reply.hypotheses, stored, strict=True):
            view.id = row.id
        return reply

    async def _refine(self, state: State) -> dict[str, Any]:
        reply = state["reply"]
        if self.refiner is None or not reply.hypotheses:
            return {}
        history = [(t.role, t.text) for t in state["history"]]
        budget = max(1.0, state["budget"].remaining())
        if isinstance(self.refiner, DetailedRefiner):
            outcome = await self.refiner.refine_detailed(
                question=state["text"],
                draft=reply,
                history=history,
                budget_s=budget,
                workspace_id=state["workspace_id"],
            )
            usage = outcome.usage
            current().count_llm_tokens(
                input_tokens=usage.input_tokens,
                output_tokens=usage.output_tokens,
                cache_read_tokens=usage.cache_read_input_tokens,
                cache_creation_tokens=usage.cache_creation_input_tokens,
            )
            return {
                "reply": outcome.reply,
                "llm": outcome.refined or usage.requests > 0,
                "llm_fallback": not outcome.refined,
            }
        refined = await self.refiner.refine(
            question=state["text"],
            draft=reply,
            history=history,
            budget_s=budget,
            workspace_id=state["workspace_id"],
        )
        return {"reply": refined, "llm": True}

    async def _metric(self, state: State) -> dict[str, Any]:
        if self.sources.metrics is None:
            return {
                "reply": Reply(
                    kind="error",
                    text="I can't answer metric questions: Prometheus is not configured "
                    "(set SRE_COPILOT_PROMETHEUS__BASE_URL).",
                    failed_sources=[SourceFailure(source="prometheus", error="not configured")],
                )
            }
        self.chart_dir.mkdir(parents=True, exist_ok=True)
        reply = await answer_metric_question(
            question=state["text"],
            source=self.sources.metrics,
            start=state["start"],
            end=state["end"],
            chart_dir=self.chart_dir,
        )
        return {"reply": reply}

    async def _runbook(self, state: State) -> dict[str, Any]:
        searcher = self.sources.runbooks
        if searcher is None:
            return {
                "reply": Reply(
                    kind="error",
                    text="No runbooks are ingested yet: run `sre-copilot runbooks ingest PATH`.",
                )
            }
        query = RUNBOOK_ASK.sub("", state["text"]).strip(" ?.:") or state["text"]
        refs = await searcher.search_runbooks(query, k=3)
        if not refs:
            return {"reply": Reply(text=f"No runbook matches {query!r}.")}
        best = refs[0]
        return {
            "reply": Reply(
                text=f"Best match: *{best.title}* — {best.section or 'overview'}",
                runbooks=refs,
                sections=[Section(title=best.title, body=best.snippet)] if best.snippet else [],
            )
        }

    async def _oncall(self, state: State) -> dict[str, Any]:
        paging = self.sources.paging
        if paging is None:
            return {
                "reply": Reply(
                    kind="error",
                    text="PagerDuty is not configured (set SRE_COPILOT_PAGERDUTY__API_TOKEN).",
                )
            }
        failures: list[SourceFailure] = []
        from agents.gather import guarded  # noqa: PLC0415

        oncall = await guarded(
            "list on-calls", paging.name, paging.oncall(), state["budget"], failures
        )
        if oncall is None:
            return {
                "reply": Reply(
                    kind="error",
                    text="I could not read the on-call schedule.",
                    failed_sources=failures,
                )
            }
        lines = [
            f"• {o.user} — {o.policy}" + (f" (level {o.level})" if o.level else "") for o in oncall
        ]
        return {
            "reply": Reply(
                text=f"{len(oncall)} on call now." if oncall else "Nobody is on call.",
                sections=[Section(title="On call", body="\n".join(lines))] if lines else [],
            )
        }

    async def _incidents(self, state: State) -> dict[str, Any]:
        lines: list[str] = []
        failures: list[SourceFailure] = []
        if self.repos is not None:
            for inc in await self.repos.incidents.list(
                workspace_id=state["workspace_id"], open_only=True
            ):
                lines.append(f"• #{inc.id} {inc.title} [{inc.status}] since {inc.started_at:%H:%M}")
        if self.sources.paging is not None:
            from agents.gather import guarded  # noqa: PLC0415

            paged = await guarded(
                "list incidents",
                self.sources.paging.name,
                self.sources.paging.incidents(start=state["start"], end=state["end"]),
                state["budget"],
                failures,
            )
            for pd_inc in paged or []:
                if pd_inc.status != "resolved":
                    lines.append(
                        f"• PagerDuty {pd_inc.id} {pd_inc.title} "
                        f"[{pd_inc.status}, {pd_inc.urgency}] {pd_inc.service}"
                    )
        text = f"{len(lines)} open incident(s)." if lines else "No open incidents."
        return {
            "reply": Reply(
                text=text,
                sections=[Section(title="Open incidents", body="\n".join(lines))] if lines else [],
                failed_sources=failures,
            )
        }

    async def _postmortem(self, state: State) -> dict[str, Any]:  # noqa: ARG002
        return {
            "reply": Reply(
                kind="info",
                text="Post-mortems are drafted from an incident's timeline. Ask in the incident's "
                "thread once it is tracked (`/sre incidents` lists them).",
            )
        }

    async def _followup(self, state: State) -> dict[str, Any]:
        prev = previous_reply(state["history"])
        return {"reply": followup.explain(prev or {}, state["intent"])}

    async def _help(self, state: State) -> dict[str, Any]:  # noqa: ARG002
        return {"reply": Reply(kind="help", text=HELP_TEXT)}
