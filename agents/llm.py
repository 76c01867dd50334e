"""Claude refines the deterministic analysis: the only module importing ``anthropic``.

:class:`ClaudeAnalyst` sends the engineer's question, the thread history and the
deterministic analyst's draft (redacted, truncated and fenced as untrusted data) to
the Messages API together with the read-only tools it was given, runs the tools the
model asks for, and stops when the model calls ``submit_analysis`` (or answers in
plain text). The answer re-ranks the draft's hypotheses; it never removes one, nor
any cited evidence.

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
from typing import Any

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
    SUBMIT_TOOL_DESCRIPTION,
    SUBMIT_TOOL_NAME,
    SUBMIT_TOOL_SCHEMA,
    SYSTEM_PROMPT,
    first_turn,
)
from agents.reply import Reply
from memory.errors import CopilotError
from tools.base import Tool, ToolResult, ToolStatus, describe_validation_error

logger = logging.getLogger(__name__)

REFINED_NOTE = "Analysis refined by Claude ({model})"
FALLBACK_NOTE = "Claude unavailable ({cause}): showing the deterministic analysis"
USAGE_NOTE = "Claude tokens: input {input}, output {output}, cache read {cache_read}"

_EPHEMERAL: anthropic.types.CacheControlEphemeralParam = {"type": "ephemeral"}


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
    """

    max_tool_output_chars: int = 4000
    max_history_chars: int = 6000
    max_history_turns: int = 10
    max_draft_chars: int = 12000
    max_question_chars: int = 4000
    tool_timeout_s: float = 8.0
    max_retries: int = anthropic.DEFAULT_MAX_RETRIES


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
    """

    def __init__(
        self,
        config: LLMConfig,
        *,
        tools: Sequence[Tool[Any]],
        http_client: httpx2.AsyncClient | None = None,
        limits: RefineLimits | None = None,
    ) -> None:
        self._config = config
        self._limits = limits or RefineLimits()
        self._tools: dict[str, Tool[Any]] = {}
        self._refused: set[str] = set()
        for tool in tools:
            if tool.mutating:
                logger.warning("refusing mutating tool %s: never offered to the LLM", tool.name)
                self._refused.add(tool.name)
            elif tool.name == SUBMIT_TOOL_NAME or tool.name in self._tools:
                logger.warning("ignoring tool %s: name already taken", tool.name)
            else:
                self._tools[tool.name] = tool
        self._tool_params = self._build_tool_params()
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

    @property
    def model(self) -> str:
        """The configured model id."""
        return self._config.model

    @property
    def tool_names(self) -> list[str]:
        """Names of the tools offered to the model (without ``submit_analysis``)."""
        return list(self._tools)

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
    ) -> Reply:
        """Refine ``draft`` with Claude; on any failure return it unchanged with a note.

        Args:
            question: The engineer's question.
            draft: The deterministic analysis (never modified).
            history: Earlier turns of the thread as ``(role, text)``, oldest first.
            budget_s: Wall-clock budget for the whole refinement, tool calls included.

        Returns:
            The refined reply, or the draft with a note naming why Claude was not used.
        """
        outcome = await self.refine_detailed(
            question=question, draft=draft, history=history, budget_s=budget_s
        )
        return outcome.reply

    async def refine_detailed(
        self,
        *,
        question: str,
        draft: Reply,
        history: Sequence[tuple[str, str]],
        budget_s: float,
    ) -> Refinement:
        """Like :meth:`refine`, also returning whether it worked, why not, and token usage."""
        usage = LLMUsage()
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
                return Refinement(reply=reply, refined=True, usage=usage)
        self.total_usage.add(usage)
        logger.warning("Claude refinement fell back to the draft: %s", cause)
        notes = [*draft.notes, FALLBACK_NOTE.format(cause=cause)]
        if usage.requests:
            notes.append(usage.note())
        fallback = draft.model_copy(deep=True, update={"notes": notes})
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
            results = await asyncio.gather(*(self._run_tool(use) for use in uses))
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

    async def _run_tool(self, use: ToolUseBlock) -> ToolResultBlockParam:
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


# ---------------------------------------------------------------------- helpers


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
