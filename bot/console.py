"""Console adapter: ``sre-copilot chat``, a REPL over the same ChatService as Slack.

In the manner of Errbot's text backend and Hubot's shell adapter: every line is a
message in one conversation (``console:<name>``), kept in the database, so
``sre-copilot chat --conversation NAME`` resumes it. :class:`ConsoleAdapter` is
also the test driver: push a line, read the rendered reply.
"""

from __future__ import annotations

import asyncio
import sys
import uuid
from typing import TextIO

from agents.reply import Reply
from bot import messages
from bot.chat import ChatService
from jobs.remediation import RemediationService
from memory.errors import CopilotError
from memory.models import ProposalStatus
from memory.repositories import Repositories
from tools.actions.commands import parse_annotation

_STATE_MARK = {
    "healthy": "✔",
    "configured": "•",
    "not configured": "–",
    "unhealthy": "✘",
}


def render(reply: Reply) -> str:
    """Render a Reply as readable terminal text."""
    out = [reply.text]
    if reply.capabilities:
        width = max(len(c.name) for c in reply.capabilities)
        out.append("")
        for cap in reply.capabilities:
            mark = _STATE_MARK.get(cap.state, "?")
            reason = f"  ({cap.reason})" if cap.reason else ""
            out.append(f"  {mark} {cap.name:<{width}}  {cap.state}{reason}")
    for i, hyp in enumerate(reply.hypotheses, start=1):
        out.append("")
        out.append(f"{i}. {hyp.title}  [confidence {hyp.confidence:.2f}]")
        if hyp.rationale:
            out.append(f"   {hyp.rationale}")
        for ev in hyp.evidence:
            # PromQL is listed once at the end; other citations (change ids...) stay inline
            cite = f" — {ev.query}" if ev.query and ev.query not in reply.promql else ""
            source = "prometheus" if ev.source.startswith("prometheus") else ev.source
            out.append(f"   · {ev.summary}{cite} ({source})")
    if reply.runbooks:
        out.append("")
        out.append("Runbooks:")
        for rb in reply.runbooks:
            section = f" › {rb.section}" if rb.section else ""
            out.append(f"  - {rb.title}{section}  ({rb.path})")
    for part in reply.sections:
        out.append("")
        out.append(f"{part.title}:")
        out.extend(f"  {line}" for line in part.body.splitlines())
    if reply.promql:
        out.append("")
        out.extend(f"PromQL: {q}" for q in reply.promql)
    for att in reply.attachments:
        out.append(f"[attachment] {att.title}: {att.path}")
    if reply.failed_sources:
        out.append("")
        out.extend(f"! {f.source} failed: {f.error}" for f in reply.failed_sources)
    out.extend(f"note: {n}" for n in reply.notes)
    return "\n".join(out)


class ConsoleAdapter:
    """Reads lines, sends them to ChatService, renders replies."""

    def __init__(
        self,
        *,
        chat: ChatService,
        repos: Repositories,
        workspace_id: str,
        conversation: str = "default",
        user_id: str = "console",
        remediation: RemediationService | None = None,
    ) -> None:
        self._remediation_service = remediation
        self._chat = chat
        self._repos = repos
        self.workspace_id = workspace_id
        self.conversation = conversation
        self.user_id = user_id

    @property
    def conversation_key(self) -> str:
        """Key under which this conversation's turns are stored."""
        return f"console:{self.conversation}"

    async def banner(self) -> str:
        """The greeting, with how many turns the conversation already has."""
        turns = await self._repos.conversations.count(
            workspace_id=self.workspace_id, conversation_key=self.conversation_key
        )
        return messages.CONSOLE_BANNER.format(key=self.conversation, turns=turns)

    async def handle_line(self, line: str) -> str | None:
        """Answer one line; ``None`` means the user asked to leave."""
        stripped = line.strip()
        if stripped in ("/quit", "/exit", "quit", "exit"):
            return None
        if stripped == "/new":
            self.conversation = uuid.uuid4().hex[:8]
            return f"Started a new conversation {self.conversation!r}."
        if stripped.split(" ", 1)[0] in ("/approve", "/reject", "/proposals", "/propose"):
            return await self._remediation(stripped)
        reply = await self._chat.handle(
            workspace_id=self.workspace_id,
            conversation_key=self.conversation_key,
            text=stripped,
            user_id=self.user_id,
        )
        return render(reply)

    async def _remediation(self, line: str) -> str:
        """``/approve ID``, ``/reject ID reason``, ``/proposals``, ``/propose ACTION k=v``."""
        if self._remediation_service is None:
            return "Remediation is not available in this console."
        command, _, rest = line.partition(" ")
        if command == "/propose":
            return await self._propose(rest)
        if command == "/proposals":
            await self._remediation_service.expire_due(workspace_id=self.workspace_id)
            pending = await self._repos.proposals.list(
                workspace_id=self.workspace_id, status=ProposalStatus.PENDING
            )
            if not pending:
                return "No pending proposals."
            return "\n".join(
                f"{p.id}  {p.action}  by {p.proposed_by}  ({len(p.approvals)}/"
                f"{p.required_approvals} approvals, expires {p.expires_at:%H:%M} UTC)"
                f"\n  {p.dry_run}"
                for p in pending
            )
        proposal_id, _, reason = rest.strip().partition(" ")
        if not proposal_id:
            return f"usage: {command} ID" + (" REASON" if command == "/reject" else "")
        if command == "/reject" and not reason.strip():
            return "usage: /reject ID REASON (a reason is required)"
        decision = await self._remediation_service.decide(
            workspace_id=self.workspace_id,
            proposal_id=proposal_id,
            actor=self.user_id,
            approve=command == "/approve",
            reason=reason.strip(),
        )
        if not decision.accepted:
            return f"Refused: {decision.reason}"
        state = decision.proposal.status if decision.proposal is not None else "?"
        done = " and executed" if decision.executed else ""
        verb = "Approved" if command == "/approve" else "Rejected"
        return f"{verb}{done}: proposal {proposal_id} is now {state}."

    async def _propose(self, rest: str) -> str:
        """``/propose ACTION key=value ... [environment=NAME]``: a proposal by this user."""
        assert self._remediation_service is not None
        parsed = parse_annotation(rest.strip(), any_action=True)
        if parsed is None:
            return (
                "usage: /propose ACTION key=value ... [environment=NAME], e.g. "
                "/propose kubernetes.rollout_restart namespace=shop deployment=checkout"
            )
        try:
            proposal = await self._remediation_service.propose(
                workspace_id=self.workspace_id,
                action=parsed.action,
                params=parsed.params,
                environment=parsed.environment or "production",
                proposed_by=self.user_id,
                reason="proposed from the console",
            )
        except CopilotError as exc:
            return f"Refused: {exc}"
        return (
            f"Proposed {proposal.id} ({proposal.status}, {proposal.required_approvals} "
            f"approval(s) needed): {proposal.dry_run}"
        )

    async def run(self, *, stdin: TextIO | None = None, stdout: TextIO | None = None) -> None:
        """The REPL loop; ends on /quit or end of input."""
        inp = stdin or sys.stdin
        out = stdout or sys.stdout
        interactive = inp.isatty()
        print(await self.banner(), file=out, flush=True)
        while True:
            if interactive:
                print("you> ", end="", file=out, flush=True)
            line = await asyncio.to_thread(inp.readline)
            if not line:
                break
            if not line.strip():
                continue
            answer = await self.handle_line(line)
            if answer is None:
                break
            print(answer, file=out, flush=True)
            print("", file=out, flush=True)
