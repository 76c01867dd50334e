"""Claude refines the deterministic analysis: the only module importing ``anthropic``.

:class:`ClaudeAnalyst` sends the engineer's question, the thread history and the
deterministic analyst's draft (redacted, truncated and fenced as untrusted data) to
the Messages API together with the read-only tools it was given, runs the tools the
model asks for, and stops when the model calls ``submit_analysis`` (or answers in
plain text). The answer re-ranks the draft's hypotheses; it never removes one, nor
any cited evidence.

When a remediation service is wired in and ``LLMConfig.propose_remediation`` is on,
the model is also offered ``propose_remediation``: it validates an action of the
catalogue and stores a *pending* proposal (proposer :data:`LLM_PROPOSER`, never a
person, so it can never count as an approval) with ``allow_auto_execute=False``, so
even an autonomy-level-3 rule waits for a human. It never executes anything. At most
``RefineLimits.max_proposals`` are made per refinement; they are listed in
``Reply.proposals`` (also when the refinement falls back to the draft).

Claude is optional and may fail in many ways (rate limits, overload, a bad key, a
slow answer, a malformed tool call). :meth:`ClaudeAnalyst.refine` never raises for
any of them: it returns the draft unchanged with a note naming the cause, so the
engineer always gets the deterministic answer.

Prompt caching: the system block and the last tool definition carry
``cache_control: {"type": "ephemeral"}``, so every step after the first reads the
system prompt and tools from the cache.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Protocol

import anthropic
import httpx2
from anthropic.types import (
    Message,
    MessageParam,
    TextBlock,
    TextBlockParam,
    ToolChoiceParam,
    ToolParam,
    ToolResultBlockParam,
    ToolUseBlock,
    ToolUseBlockParam,
    Usage,
)
from pydantic import BaseModel, Field, ValidationError

from agents.config import LLMConfig
from agents.hygiene import fence_untrusted, redact, redact_obj, truncate
from agents.prompts import (
    FORCE_ANSWER,
    NO_HISTORY,
    PROPOSE_RATIONALE_DESCRIPTION,
    PROPOSE_TOOL_DESCRIPTION,
    PROPOSE_TOOL_NAME,
    PROPOSED_NOTE,
    SUBMIT_TOOL_DESCRIPTION,
    SUBMIT_TOOL_NAME,
    SUBMIT_TOOL_SCHEMA,
    SYSTEM_PROMPT,
    first_turn,
)
from agents.reply import ProposalRef, Reply
from memory.errors import CopilotError
from memory.models import RemediationProposal
from tools.actions.base import ActionCatalogue
from tools.base import Tool, ToolResult, ToolStatus, describe_validation_error

logger = logging.getLogger(__name__)

REFINED_NOTE = "Analysis refined by Claude ({model})"
FALLBACK_NOTE = "Claude unavailable ({cause}): showing the deterministic analysis"
USAGE_NOTE = "Claude tokens: input {input}, output {output}, cache read {cache_read}"

_EPHEMERAL: anthropic.types.CacheControlEphemeralParam = {"type": "ephemeral"}

LLM_PROPOSER = "llm"
"""``proposed_by`` of proposals the model makes: not a person, so never an approver."""


@dataclass(frozen=True)
class RefineLimits:
    """Bounds of one refinement besides ``LLMConfig.max_steps`` and the time budget.

    Attributes:
        max_tool_output_chars: Cap of one tool result as the model sees it.
        max_history_chars: Cap of the rendered thread history.
        max_history_turns: How many of the latest turns are sent.
        max_draft_chars: Cap of the rendered draft analysis.
        max_question_chars: Cap of the question.
        tool_timeout_s: Deadline of one tool call (a late tool gives an error result).
        max_retries: SDK retries of 429/529/5xx/connection errors (honouring retry-after).
        max_proposals: Remediation proposals the model may make in one refinement.
        max_rationale_chars: Cap of a proposal's rationale as stored.
    """

    max_tool_output_chars: int = 4000
    max_history_chars: int = 6000
    max_history_turns: int = 10
    max_draft_chars: int = 12000
    max_question_chars: int = 4000
    tool_timeout_s: float = 8.0
    max_retries: int = anthropic.DEFAULT_MAX_RETRIES
    max_proposals: int = 2
    max_rationale_chars: int = 1000


@dataclass
class LLMUsage:
    """Token counts of one refinement (or a running total), for metrics."""

    requests: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_input_tokens: int = 0
    cache_creation_input_tokens: int = 0

    def add(self, usage: Usage | LLMUsage) -> None:
        """Add one response's usage (or another total) to this one."""
        self.requests += usage.requests if isinstance(usage, LLMUsage) else 1
        self.input_tokens += usage.input_tokens
        self.output_tokens += usage.output_tokens
        self.cache_read_input_tokens += usage.cache_read_input_tokens or 0
        self.cache_creation_input_tokens += usage.cache_creation_input_tokens or 0

    def note(self) -> str:
        """One line for ``Reply.notes``."""
        return USAGE_NOTE.format(
            input=self.input_tokens,
            output=self.output_tokens,
            cache_read=self.cache_read_input_tokens,
        )


@dataclass
class Refinement:
    """Outcome of :meth:`ClaudeAnalyst.refine_detailed`.

    Attributes:
        reply: The refined reply, or the draft with a fallback note.
        refined: Whether Claude's answer was applied.
        cause: Why Claude's answer was not applied (``None`` when refined).
        usage: Tokens spent on this refinement.
    """

    reply: Reply
    refined: bool
    cause: str | None = None
    usage: LLMUsage = field(default_factory=LLMUsage)


class ProposalService(Protocol):
    """What ``propose_remediation`` needs (``jobs.remediation.RemediationService`` fits)."""

    async def propose(
        self,
        *,
        workspace_id: str,
        action: str,
        params: dict[str, Any],
        environment: str,
        proposed_by: str,
        reason: str,
        incident_id: int | None = None,
        allow_auto_execute: bool = True,
    ) -> RemediationProposal:
        """Store a pending proposal; raises ``ToolInputError`` for bad input."""
        ...


@dataclass(frozen=True)
class RemediationAccess:
    """Where the model's proposals go.

    Attributes:
        service: Stores proposals (with their dry run and audit row).
        catalogue: The actions the model may propose.
        workspace_id: Workspace of the proposals when the refinement names none
            (single-team mode); a conversation's own workspace takes precedence.
        environment: Target environment the policy matches on; fixed by the
            deployment, never chosen by the model.
    """

    service: ProposalService
    catalogue: ActionCatalogue
    workspace_id: str
    environment: str


@dataclass
class _Run:
    """State of one refinement: the proposals made so far and the ones in flight."""

    proposals: list[ProposalRef] = field(default_factory=list)
    in_flight: int = 0
    workspace_id: str | None = None
    """The conversation's workspace (Slack team): where its proposals are stored."""


class _ProposeInput(BaseModel):
    action: str = Field(min_length=1)
    params: dict[str, Any]
    rationale: str = Field(min_length=1)


class _Fallback(CopilotError):
    """Internal: abandon the refinement and show the draft; ``str()`` is the cause."""


class _Ranked(BaseModel):
    index: int = Field(ge=0)
    confidence: float = Field(ge=0.0, le=1.0)
    rationale: str


class _Submission(BaseModel):
    narrative: str = Field(min_length=1)
    ranking: list[_Ranked]


class ClaudeAnalyst:
    """Refines a deterministic :class:`~agents.reply.Reply` with Claude and read-only tools.

    Args:
        config: Model, key, base URL, max tokens, max steps and per-request timeout.
        tools: Tools the model may call. Mutating tools are refused even if passed.
        http_client: An ``httpx2.AsyncClient`` for the SDK (the SDK is built on
            ``httpx2`` and rejects ``httpx`` clients); closed by :meth:`aclose`.
        limits: Output caps, tool deadline and SDK retries.
        remediation: Where ``propose_remediation`` stores proposals; the tool is
            offered only with this and ``config.propose_remediation`` set.
    """

    def __init__(
        self,
        config: LLMConfig,
        *,
        tools: Sequence[Tool[Any]],
        http_client: httpx2.AsyncClient | None = None,
        limits: RefineLimits | None = None,
        remediation: RemediationAccess | None = None,
    ) -> None:
        self._config = config
        self._limits = limits or RefineLimits()
        self._remediation = (
            remediation
            if remediation is not None
            and config.propose_remediation
            and remediation.catalogue.names()
            and self._limits.max_proposals > 0
            else None
        )
        self._tools: dict[str, Tool[Any]] = {}
        self._refused: set[str] = set()
        self._tool_params: list[ToolParam] = []
        self.add_tools(tools)
        self._system: list[TextBlockParam] = [
            {"type": "text", "text": SYSTEM_PROMPT, "cache_control": _EPHEMERAL}
        ]
        self._client: anthropic.AsyncAnthropic | None = None
        if config.configured and config.api_key is not None:
            self._client = anthropic.AsyncAnthropic(
                api_key=config.api_key.get_secret_value(),
                base_url=config.base_url,
                max_retries=self._limits.max_retries,
                timeout=config.timeout_s,
                http_client=http_client,
            )
        self.total_usage = LLMUsage()
        """Tokens spent by every refinement so far (for metrics)."""

    def add_tools(self, tools: Sequence[Tool[Any]]) -> None:
        """Offer more read-only tools (e.g. ``runbooks_search`` once the store opens).

        Mutating tools are refused; a tool already offered is kept once. Call this
        before the first refinement: the tool list is part of the cached prompt prefix.
        """
        for tool in tools:
            if self._tools.get(tool.name) is tool:
                continue
            if tool.mutating:
                logger.warning("refusing mutating tool %s: never offered to the LLM", tool.name)
                self._refused.add(tool.name)
            elif tool.name in (SUBMIT_TOOL_NAME, PROPOSE_TOOL_NAME) or tool.name in self._tools:
                logger.warning("ignoring tool %s: name already taken", tool.name)
            else:
                self._tools[tool.name] = tool
        self._tool_params = self._build_tool_params()

    @property
    def model(self) -> str:
        """The configured model id."""
        return self._config.model

    @property
    def tool_names(self) -> list[str]:
        """Names of the tools offered to the model (without ``submit_analysis``)."""
        names = list(self._tools)
        if self._remediation is not None:
            names.append(PROPOSE_TOOL_NAME)
        return names

    async def aclose(self) -> None:
        """Close the SDK client and its HTTP connections."""
        if self._client is not None:
            await self._client.close()

    async def __aenter__(self) -> ClaudeAnalyst:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def refine(
        self,
        *,
        question: str,
        draft: Reply,
        history: Sequence[tuple[str, str]],
        budget_s: float,
        workspace_id: str | None = None,
    ) -> Reply:
        """Refine ``draft`` with Claude; on any failure return it unchanged with a note.

        Args:
            question: The engineer's question.
            draft: The deterministic analysis (never modified).
            history: Earlier turns of the thread as ``(role, text)``, oldest first.
            budget_s: Wall-clock budget for the whole refinement, tool calls included.
            workspace_id: The conversation's workspace; the model's proposals are
                stored there (default: the deployment's single workspace).

        Returns:
            The refined reply, or the draft with a note naming why Claude was not used.
        """
        outcome = await self.refine_detailed(
            question=question,
            draft=draft,
            history=history,
            budget_s=budget_s,
            workspace_id=workspace_id,
        )
        return outcome.reply

    async def refine_detailed(
        self,
        *,
        question: str,
        draft: Reply,
        history: Sequence[tuple[str, str]],
        budget_s: float,
        workspace_id: str | None = None,
    ) -> Refinement:
        """Like :meth:`refine`, also returning whether it worked, why not, and token usage."""
        usage = LLMUsage()
        run = _Run(workspace_id=workspace_id)
        cause: str
        if self._client is None:
            cause = "no API key configured"
        elif budget_s <= 0:
            cause = "no time left in the budget"
        else:
            try:
                async with asyncio.timeout(budget_s):
                    reply = await self._converse(
                        client=self._client,
                        question=question,
                        draft=draft,
                        history=history,
                        usage=usage,
                        run=run,
                    )
            except TimeoutError:
                cause = f"time budget of {budget_s:g}s exceeded"
            except _Fallback as exc:
                cause = str(exc)
            except anthropic.AnthropicError as exc:
                cause = _describe_api_error(exc)
            except Exception as exc:  # boundary: Claude must never break an answer
                logger.exception("Claude refinement failed unexpectedly")
                cause = f"unexpected {type(exc).__name__}"
            else:
                self.total_usage.add(usage)
                reply.notes.append(REFINED_NOTE.format(model=self.model))
                reply.notes.append(usage.note())
                _add_proposals(reply, run)
                return Refinement(reply=reply, refined=True, usage=usage)
        self.total_usage.add(usage)
        logger.warning("Claude refinement fell back to the draft: %s", cause)
        notes = [*draft.notes, FALLBACK_NOTE.format(cause=cause)]
        if usage.requests:
            notes.append(usage.note())
        fallback = draft.model_copy(deep=True, update={"notes": notes})
        # proposals already stored stay pending: the engineer must still see them
        _add_proposals(fallback, run)
        return Refinement(reply=fallback, refined=False, cause=cause, usage=usage)

    # ------------------------------------------------------------------ conversation

    async def _converse(
        self,
        *,
        client: anthropic.AsyncAnthropic,
        question: str,
        draft: Reply,
        history: Sequence[tuple[str, str]],
        usage: LLMUsage,
        run: _Run,
    ) -> Reply:
        messages: list[MessageParam] = [
            {"role": "user", "content": self._first_turn(question, draft, history)}
        ]
        max_steps = self._config.max_steps
        for step in range(1, max_steps + 1):
            last = step == max_steps
            choice: ToolChoiceParam = (
                {"type": "tool", "name": SUBMIT_TOOL_NAME} if last else {"type": "auto"}
            )
            response = await client.messages.create(
                model=self._config.model,
                max_tokens=self._config.max_tokens,
                system=self._system,
                tools=self._tool_params,
                tool_choice=choice,
                messages=messages,
            )
            if not isinstance(response, Message) or not isinstance(response.content, list):
                # the SDK hands back non-JSON bodies as str instead of raising
                raise _Fallback("unexpected response from the API")
            if isinstance(response.usage, Usage):
                usage.add(response.usage)
            uses = [b for b in response.content if isinstance(b, ToolUseBlock)]
            submit = next((b for b in uses if b.name == SUBMIT_TOOL_NAME), None)
            if submit is not None:
                return _apply_submission(draft, submit.input)
            if not uses:
                return _apply_text(draft, response)
            if last:
                break
            messages.append({"role": "assistant", "content": _echo(response)})
            results = await asyncio.gather(*(self._run_tool(use, run) for use in uses))
            content: list[ToolResultBlockParam | TextBlockParam] = list(results)
            if step + 1 == max_steps:
                content.append({"type": "text", "text": FORCE_ANSWER})
            messages.append({"role": "user", "content": content})
        raise _Fallback(f"no answer within {max_steps} steps")

    def _first_turn(self, question: str, draft: Reply, history: Sequence[tuple[str, str]]) -> str:
        limits = self._limits
        turns = list(history)[-limits.max_history_turns :] if limits.max_history_turns else []
        if turns:
            lines = [
                f"{redact(role)}: {truncate(redact(text), limits.max_history_chars)}"
                for role, text in turns
            ]
            history_text = fence_untrusted(
                "slack thread history", truncate("\n".join(lines), limits.max_history_chars)
            )
        else:
            history_text = NO_HISTORY
        draft_text = truncate(redact(render_draft(draft)), limits.max_draft_chars)
        return first_turn(
            question=truncate(redact(question), limits.max_question_chars),
            history=history_text,
            draft=fence_untrusted("deterministic draft analysis", draft_text),
        )

    def _build_tool_params(self) -> list[ToolParam]:
        params: list[ToolParam] = [
            {"name": t.name, "description": t.description, "input_schema": t.input_schema()}
            for t in self._tools.values()
        ]
        if self._remediation is not None:
            params.append(_propose_tool_param(self._remediation.catalogue))
        params.append(
            {
                "name": SUBMIT_TOOL_NAME,
                "description": SUBMIT_TOOL_DESCRIPTION,
                "input_schema": SUBMIT_TOOL_SCHEMA,
                # the last definition closes the cached prefix (system + all tools)
                "cache_control": _EPHEMERAL,
            }
        )
        return params

    async def _run_tool(self, use: ToolUseBlock, run: _Run) -> ToolResultBlockParam:
        if use.name == PROPOSE_TOOL_NAME and self._remediation is not None:
            return await self._propose(use, run, self._remediation)
        tool = self._tools.get(use.name)
        if use.name in self._refused or (tool is not None and tool.mutating):
            logger.warning("model asked for mutating tool %s: refused", use.name)
            return _error_block(
                use.id,
                f"refused: {use.name} is a mutating action; it runs only through an approved "
                "remediation proposal, never from the assistant",
            )
        if tool is None:
            logger.warning("model asked for unknown tool %s: refused", use.name)
            known = ", ".join(sorted(self._tools)) or "none"
            return _error_block(use.id, f"unknown tool {use.name!r} (available: {known})")
        if not isinstance(use.input, dict):
            return _error_block(use.id, "invalid arguments: expected a JSON object")
        try:
            async with asyncio.timeout(self._limits.tool_timeout_s):
                result = await tool.run(use.input)
        except TimeoutError:
            result = ToolResult(
                tool=tool.name,
                status=ToolStatus.ERROR,
                source=tool.integration,
                error=f"timeout: no answer within {self._limits.tool_timeout_s:g}s",
            )
        text = truncate(_render_result(result), self._limits.max_tool_output_chars)
        return {
            "type": "tool_result",
            "tool_use_id": use.id,
            "content": fence_untrusted(f"tool_result {tool.name}", text),
            "is_error": result.status is ToolStatus.ERROR,
        }

    async def _propose(
        self, use: ToolUseBlock, run: _Run, access: RemediationAccess
    ) -> ToolResultBlockParam:
        """Store one pending proposal for human approval; never executes anything."""
        limit = self._limits.max_proposals
        if len(run.proposals) + run.in_flight >= limit:
            logger.warning("model asked for more than %d proposal(s): refused", limit)
            return _error_block(
                use.id, f"refused: at most {limit} remediation proposal(s) per answer"
            )
        if not isinstance(use.input, dict):
            return _error_block(use.id, "invalid arguments: expected a JSON object")
        try:
            args = _ProposeInput.model_validate(use.input)
        except ValidationError as exc:
            return _error_block(use.id, "invalid arguments: " + describe_validation_error(exc))
        if access.catalogue.get(args.action) is None:
            logger.warning("model proposed unknown action %r: refused", args.action[:80])
            known = ", ".join(access.catalogue.names())
            return _error_block(
                use.id, f"unknown action {truncate(args.action, 80)!r} (known: {known})"
            )
        reason = truncate(redact(args.rationale), self._limits.max_rationale_chars)
        run.in_flight += 1  # reserved before the first await: parallel calls cannot exceed it
        try:
            proposal = await access.service.propose(
                workspace_id=run.workspace_id or access.workspace_id,
                action=args.action,
                params=args.params,
                environment=access.environment,
                proposed_by=LLM_PROPOSER,
                reason=reason,
                allow_auto_execute=False,
            )
        except CopilotError as exc:  # ToolInputError: bad parameters, named by field
            logger.info("model proposal of %s refused: %s", args.action, exc)
            return _error_block(use.id, redact(str(exc)))
        except Exception as exc:  # boundary: a storage failure must not end the answer
            logger.exception("storing the model's proposal of %s failed", args.action)
            return _error_block(use.id, f"could not store the proposal ({type(exc).__name__})")
        finally:
            run.in_flight -= 1
        ref = ProposalRef(
            id=proposal.id,
            action=proposal.action,
            status=str(proposal.status),
            required_approvals=proposal.required_approvals,
            dry_run=proposal.dry_run,
            proposed_by=proposal.proposed_by,
        )
        run.proposals.append(ref)
        logger.info("model proposed %s as %s (pending approval)", ref.action, ref.id)
        text = redact(
            json.dumps(
                {
                    "proposal_id": ref.id,
                    "action": ref.action,
                    "status": ref.status,
                    "required_approvals": ref.required_approvals,
                    "dry_run": ref.dry_run,
                    "note": "stored for human approval; nothing was executed",
                },
                ensure_ascii=False,
            )
        )
        return {
            "type": "tool_result",
            "tool_use_id": use.id,
            "content": fence_untrusted(
                f"tool_result {PROPOSE_TOOL_NAME}",
                truncate(text, self._limits.max_tool_output_chars),
            ),
            "is_error": False,
        }


# ---------------------------------------------------------------------- helpers


def _propose_tool_param(catalogue: ActionCatalogue) -> ToolParam:
    """The ``propose_remediation`` definition: the catalogue's actions and their params."""
    lines = [PROPOSE_TOOL_DESCRIPTION]
    for name in catalogue.names():
        act = catalogue.get(name)
        if act is None:  # pragma: no cover - names() lists registered actions
            continue
        schema = act.params_model.model_json_schema()
        params = {
            key: {k: v for k, v in prop.items() if k in ("type", "items", "description")}
            for key, prop in schema.get("properties", {}).items()
        }
        spec = json.dumps(
            {"params": params, "required": schema.get("required", [])},
            separators=(",", ":"),
            sort_keys=True,
        )
        lines.append(f"- {name} ({act.risk}): {act.description} {spec}")
    return {
        "name": PROPOSE_TOOL_NAME,
        "description": "\n".join(lines),
        "input_schema": {
            "type": "object",
            "properties": {
                "action": {
                    "type": "string",
                    "enum": catalogue.names(),
                    "description": "Catalogue name of the action.",
                },
                "params": {
                    "type": "object",
                    "description": "Parameters of the action, as listed in the catalogue.",
                },
                "rationale": {"type": "string", "description": PROPOSE_RATIONALE_DESCRIPTION},
            },
            "required": ["action", "params", "rationale"],
        },
    }


def _add_proposals(reply: Reply, run: _Run) -> None:
    """List the refinement's proposals in the reply (and one note each)."""
    for ref in run.proposals:
        reply.proposals.append(ref.model_copy())
        reply.notes.append(PROPOSED_NOTE.format(action=ref.action, id=ref.id))


def render_draft(draft: Reply) -> str:
    """Compact text of the draft analysis as the model sees it (before redaction).

    Args:
        draft: The deterministic analyst's reply.

    Returns:
        Headline, numbered hypotheses with confidence, rationale and evidence,
        recommended runbooks and failed sources.
    """
    lines = [f"headline: {draft.text}"]
    if not draft.hypotheses:
        lines.append("hypotheses: none")
    for i, hyp in enumerate(draft.hypotheses):
        tags = [f"confidence {hyp.confidence:.2f}"]
        tags += [f"{k}: {v}" for k, v in (("fault", hyp.fault), ("service", hyp.service)) if v]
        lines.append(f"[{i}] {hyp.title} ({'; '.join(tags)})")
        if hyp.rationale:
            lines.append(f"    rationale: {hyp.rationale}")
        for ev in hyp.evidence:
            extra = [
                f"{k}: {v}"
                for k, v in (("query", ev.query), ("range", ev.time_range), ("value", ev.value))
                if v
            ]
            suffix = f" [{'; '.join(extra)}]" if extra else ""
            lines.append(f"    evidence: {ev.source}: {ev.summary}{suffix}")
    if draft.runbooks:
        lines.append("runbooks:")
        lines += [
            f"- {rb.title} ({rb.path}{'#' + rb.section if rb.section else ''})"
            for rb in draft.runbooks
        ]
    if draft.failed_sources:
        lines.append("failed sources:")
        lines += [f"- {f.source}: {f.error}" for f in draft.failed_sources]
    return "\n".join(lines)


def _render_result(result: ToolResult) -> str:
    try:
        payload: Any = result.model_dump(mode="json", exclude_none=True, exclude={"duration_ms"})
    except Exception:  # data that pydantic cannot serialise: fall back to its text
        payload = {"tool": result.tool, "status": result.status.value, "data": str(result.data)}
    text = json.dumps(redact_obj(payload), ensure_ascii=False, separators=(",", ":"), default=str)
    return redact(text)


def _error_block(tool_use_id: str, message: str) -> ToolResultBlockParam:
    return {"type": "tool_result", "tool_use_id": tool_use_id, "content": message, "is_error": True}


def _echo(message: Message) -> list[TextBlockParam | ToolUseBlockParam]:
    """The assistant turn as request params (only the fields the API accepts back)."""
    blocks: list[TextBlockParam | ToolUseBlockParam] = []
    for block in message.content:
        if isinstance(block, TextBlock) and block.text:
            blocks.append({"type": "text", "text": block.text})
        elif isinstance(block, ToolUseBlock):
            args = block.input if isinstance(block.input, dict) else {}
            blocks.append({"type": "tool_use", "id": block.id, "name": block.name, "input": args})
    return blocks


def _apply_submission(draft: Reply, raw: object) -> Reply:
    if not isinstance(raw, Mapping):
        raise _Fallback("malformed answer: submit_analysis input is not a JSON object")
    try:
        answer = _Submission.model_validate(dict(raw))
    except ValidationError as exc:
        raise _Fallback(f"malformed answer: {describe_validation_error(exc)}") from None
    count = len(draft.hypotheses)
    seen: list[int] = []
    for item in answer.ranking:
        if item.index >= count:
            raise _Fallback(
                f"malformed answer: hypothesis index {item.index} out of range "
                f"(the draft has {count})"
            )
        if item.index in seen:
            raise _Fallback(f"malformed answer: hypothesis {item.index} ranked twice")
        seen.append(item.index)
    ranked = [
        draft.hypotheses[item.index].model_copy(
            deep=True,
            update={
                "confidence": item.confidence,
                "rationale": redact(item.rationale) or draft.hypotheses[item.index].rationale,
            },
        )
        for item in answer.ranking
    ]
    rest = [h.model_copy(deep=True) for i, h in enumerate(draft.hypotheses) if i not in seen]
    return draft.model_copy(
        deep=True, update={"hypotheses": ranked + rest, "text": redact(answer.narrative)}
    )


def _apply_text(draft: Reply, message: Message) -> Reply:
    if message.stop_reason == "max_tokens":
        raise _Fallback("answer cut off at max_tokens")
    if message.stop_reason == "refusal":
        raise _Fallback("the model declined to answer")
    text = "\n".join(b.text for b in message.content if isinstance(b, TextBlock)).strip()
    if not text:
        raise _Fallback(f"empty answer (stop reason {message.stop_reason})")
    return draft.model_copy(deep=True, update={"text": redact(text)})


def _describe_api_error(exc: anthropic.AnthropicError) -> str:
    """A short cause naming what went wrong, for the fallback note (no secrets, no bodies)."""
    if isinstance(exc, anthropic.AuthenticationError):
        return "invalid API key"
    if isinstance(exc, anthropic.PermissionDeniedError):
        return "API key not allowed to use this model"
    if isinstance(exc, anthropic.RateLimitError):
        return "rate limited"
    if isinstance(exc, anthropic.OverloadedError):
        return "overloaded"
    if isinstance(exc, anthropic.APITimeoutError):
        return "request timed out"
    if isinstance(exc, anthropic.APIConnectionError):
        return "cannot reach the API"
    if isinstance(exc, anthropic.InternalServerError):
        return f"server error {exc.status_code}"
    if isinstance(exc, anthropic.NotFoundError):
        return "model or endpoint not found"
    if isinstance(exc, anthropic.APIStatusError):
        return f"request rejected with HTTP {exc.status_code} ({exc.type or 'error'})"
    return f"unexpected API response ({type(exc).__name__})"
