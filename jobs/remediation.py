"""Remediation proposals: propose, decide (approve / reject), execute, verify, recover.

Nothing here executes an action without the approvals the policy requires, except a
level-3 rule on an action the catalogue marks safe. Every state change is a
compare-and-set on (status, version), so concurrent clicks and replicas never execute
twice; every click writes exactly one audit row, accepted or refused, with the reason.

Audit kinds: ``proposed``, ``approve``, ``reject`` (one per click), ``execution``,
``verification``, ``expired``, ``recovered``.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel, ValidationError

from jobs.policy import Policy, Requirements
from memory.errors import ApprovalError, ToolInputError
from memory.models import ProposalStatus, RemediationProposal
from memory.repositories import Repositories
from memory.types import utcnow
from tools.actions.base import Action, ActionCatalogue, ActionOutcome

logger = logging.getLogger(__name__)

SYSTEM_ACTOR = "sre-copilot"
_CAS_RETRIES = 200


EXECUTION_STALE_AFTER = timedelta(minutes=15)
"""An execution older than this has lost its process (each request an action makes
times out within seconds, verification within tens of seconds)."""


@dataclass(frozen=True)
class Decision:
    """The answer to one click.

    Attributes:
        accepted: Whether the click changed anything.
        reason: Why (always set when refused).
        proposal: The proposal as it stands after the click (``None`` if unknown).
        executed: Whether this click triggered the execution.
    """

    accepted: bool
    reason: str
    proposal: RemediationProposal | None
    executed: bool = False


class RemediationService:
    """Proposals, approvals and execution of catalogued actions."""

    def __init__(
        self,
        repos: Repositories,
        catalogue: ActionCatalogue,
        policy: Policy,
        *,
        clock: Callable[[], datetime] = utcnow,
        crash_hook: Callable[[str], None] | None = None,
    ) -> None:
        self._repos = repos
        self._catalogue = catalogue
        self._policy = policy
        self._clock = clock
        self._crash_hook = crash_hook

    # -- propose -------------------------------------------------------------------

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
        dedupe_key: str | None = None,
    ) -> RemediationProposal:
        """Store a pending proposal (with its dry run); execute at once only at level 3.

        Args:
            workspace_id: The workspace.
            action: Catalogue name of the action.
            params: Raw parameters, validated with the action's ``params_model``.
            environment: Target environment (policy rules match on it).
            proposed_by: Slack user id, or the bot for LLM proposals.
            reason: Why (free text; never interpreted).
            incident_id: The incident it belongs to, if any.
            allow_auto_execute: ``False`` for proposals the LLM makes: level 3 then
                needs one human approval instead of executing on its own.
            dedupe_key: Identity of what a job proposes (trigger + target), stored so the
                job can skip a second pending proposal of the same thing.

        Returns:
            The stored proposal (already executed when autonomous).

        Raises:
            ToolInputError: Unknown action or invalid parameters (names the field).
        """
        act = self._catalogue.get(action)
        if act is None:
            known = ", ".join(self._catalogue.names()) or "none"
            raise ToolInputError(f"unknown action {action!r} (known: {known})")
        model = _parse_params(act, params)
        dry = await act.dry_run(model)
        req = self._policy.decide_requirements(action, environment)
        autonomous = req.level == 3 and act.safe
        required = req.required_approvals
        note = ""
        if req.level == 3 and not act.safe:
            logger.warning("policy level 3 for unsafe action %s: one approval required", action)
            required, note = 1, "level 3 refused for an unsafe action: one approval required"
        if autonomous and not allow_auto_execute:
            autonomous, required = False, 1
            note = "proposed by the assistant: level 3 does not apply, one approval required"
        if autonomous and await self._rate_limited(workspace_id=workspace_id, action=action):
            autonomous, required = False, 1
            note = "hourly execution limit reached: one approval required"
        now = self._clock()
        proposal = RemediationProposal(
            workspace_id=workspace_id,
            incident_id=incident_id,
            action=action,
            params=model.model_dump(mode="json"),
            environment=environment,
            risk=str(act.risk),
            status=ProposalStatus.PENDING,
            proposed_by=proposed_by,
            reason=reason,
            dry_run=dry,
            required_approvals=required,
            approvals=[],
            expires_at=now + req.expiry,
            dedupe_key=dedupe_key,
        )
        proposal = await self._repos.proposals.create(proposal=proposal)
        await self._audit(
            workspace_id,
            proposal.id,
            proposed_by,
            "proposed",
            reason=note,
            data={
                "action": action,
                "environment": environment,
                "level": req.level,
                "required_approvals": required,
                "autonomous": autonomous,
            },
        )
        if not autonomous:
            return proposal
        moved = await self._repos.proposals.compare_and_set(
            workspace_id=workspace_id,
            proposal_id=proposal.id,
            expected_status=ProposalStatus.PENDING,
            expected_version=proposal.version,
            new_status=ProposalStatus.APPROVED,
        )
        if moved:
            await self._execute(workspace_id=workspace_id, proposal_id=proposal.id, autonomous=True)
        return await self._get(workspace_id, proposal.id) or proposal

    # -- decide --------------------------------------------------------------------

    async def decide(
        self,
        *,
        workspace_id: str,
        proposal_id: str,
        actor: str,
        approve: bool,
        reason: str = "",
    ) -> Decision:
        """Handle one Approve / Reject click; writes exactly one audit row for it.

        Args:
            workspace_id: The workspace.
            proposal_id: The proposal clicked.
            actor: Slack user id of the clicker.
            approve: ``True`` for Approve, ``False`` for Reject.
            reason: Free text from the clicker.

        Returns:
            Whether the click was accepted, and why not.
        """
        kind = "approve" if approve else "reject"
        try:
            decision = await self._decide(
                workspace_id=workspace_id, proposal_id=proposal_id, actor=actor, approve=approve
            )
        except ApprovalError as exc:
            current = await self._get(workspace_id, proposal_id)
            await self._audit(
                workspace_id,
                proposal_id if current is not None else None,
                actor,
                kind,
                accepted=False,
                reason=str(exc),
                data={"proposal_id": proposal_id, "comment": reason},
            )
            logger.info("%s by %s on %s refused: %s", kind, actor, proposal_id, exc)
            return Decision(accepted=False, reason=str(exc), proposal=current)
        proposal, quorum = decision
        await self._audit(
            workspace_id,
            proposal_id,
            actor,
            kind,
            reason=reason,
            data={
                "approvals": list(proposal.approvals),
                "required_approvals": proposal.required_approvals,
                "quorum": quorum,
            },
        )
        executed = False
        if quorum:
            executed = await self._execute(workspace_id=workspace_id, proposal_id=proposal_id)
            proposal = await self._get(workspace_id, proposal_id) or proposal
        return Decision(accepted=True, reason=reason, proposal=proposal, executed=executed)

    async def _decide(
        self, *, workspace_id: str, proposal_id: str, actor: str, approve: bool
    ) -> tuple[RemediationProposal, bool]:
        """Apply a click by compare-and-set; ``(proposal, quorum reached)`` or ApprovalError."""
        for _attempt in range(_CAS_RETRIES):
            p = await self._get(workspace_id, proposal_id)
            if p is None:
                raise ApprovalError(f"unknown proposal {proposal_id}")
            if p.status != ProposalStatus.PENDING:
                raise ApprovalError(f"proposal is {ProposalStatus(p.status).value}, not pending")
            if self._clock() >= p.expires_at:
                await self._mark_expired(p)
                raise ApprovalError(f"proposal expired at {p.expires_at.isoformat()}")
            req = self._policy.decide_requirements(p.action, p.environment)
            if not req.may_decide(actor):
                raise ApprovalError(f"{actor} is not an approver for {p.action} in {p.environment}")
            if not approve:
                if await self._cas(p, ProposalStatus.REJECTED, rejected_by=actor):
                    p.status, p.version = ProposalStatus.REJECTED, p.version + 1
                    p.rejected_by = actor
                    return p, False
                continue
            self._check_approval(p, req, actor)
            if await self._rate_limited(workspace_id=workspace_id, action=p.action):
                raise ApprovalError(
                    f"hourly execution limit of {p.action} reached "
                    f"({self._policy.max_executions(p.action)}/h); try later"
                )
            approvals = [*p.approvals, actor]
            quorum = len(approvals) >= max(1, p.required_approvals)
            new = ProposalStatus.APPROVED if quorum else ProposalStatus.PENDING
            if await self._cas(p, new, approvals=approvals):
                p.status, p.version, p.approvals = new, p.version + 1, approvals
                return p, quorum
            # version conflict: another click landed first; re-read and retry while pending
        raise ApprovalError("too many concurrent decisions; click again")  # pragma: no cover

    @staticmethod
    def _check_approval(p: RemediationProposal, req: Requirements, actor: str) -> None:
        if req.level == 0 or p.required_approvals == 0:
            raise ApprovalError(f"{p.action} in {p.environment} is suggest-only (level 0)")
        if actor == p.proposed_by:
            raise ApprovalError("the proposer cannot approve their own proposal")
        if actor in p.approvals:
            raise ApprovalError(f"{actor} already approved; a different person must approve")

    # -- execution -----------------------------------------------------------------

    async def _execute(
        self, *, workspace_id: str, proposal_id: str, autonomous: bool = False
    ) -> bool:
        """Run an approved proposal once; ``False`` when another caller got it first."""
        p = await self._get(workspace_id, proposal_id)
        if p is None or p.status != ProposalStatus.APPROVED:
            return False
        if not autonomous and len(set(p.approvals)) < max(1, p.required_approvals):
            logger.error("proposal %s approved without enough approvals: not run", p.id)
            return False
        if not await self._cas(p, ProposalStatus.EXECUTING):
            return False
        version = p.version + 1
        act = self._catalogue.get(p.action)
        actor = SYSTEM_ACTOR
        base = {"action": p.action, "autonomous": autonomous, "approvals": list(p.approvals)}
        if act is None:
            outcome = ActionOutcome(ok=False, detail=f"action {p.action} is no longer registered")
            await self._finish(p, version, ProposalStatus.FAILED, {"error": outcome.detail})
            await self._audit(
                workspace_id, p.id, actor, "execution", accepted=False, reason=outcome.detail,
                data={**base, "executed": False},
            )  # fmt: skip
            return True
        params = act.params_model.model_validate(p.params)
        pre = await _safely(act.precondition(params))
        if not pre.ok:
            result = {"precondition": pre.model_dump(mode="json")}
            await self._finish(p, version, ProposalStatus.FAILED, result)
            await self._audit(
                workspace_id, p.id, actor, "execution", accepted=False,
                reason=f"precondition failed: {pre.detail}", data={**base, "executed": False},
            )  # fmt: skip
            return True
        if self._crash_hook is not None:
            self._crash_hook("executing")
        outcome = await _safely(act.execute(params))
        result = {"precondition": pre.model_dump(mode="json"), "execution": outcome.model_dump()}
        status = ProposalStatus.SUCCEEDED if outcome.ok else ProposalStatus.FAILED
        await self._finish(p, version, status, result)
        version += 1
        await self._audit(
            workspace_id, p.id, actor, "execution", accepted=outcome.ok, reason=outcome.detail,
            data={**base, "executed": True},
        )  # fmt: skip
        if not outcome.ok:
            return True
        check = await _safely(act.verify(params, outcome))
        result["verification"] = check.model_dump(mode="json")
        if check.ok:
            await self._finish(p, version, ProposalStatus.VERIFIED, result, expected=status)
        else:
            await self._finish(p, version, ProposalStatus.SUCCEEDED, result, expected=status)
        await self._audit(
            workspace_id, p.id, actor, "verification", accepted=check.ok, reason=check.detail,
            data={"action": p.action},
        )  # fmt: skip
        return True

    async def _finish(
        self,
        p: RemediationProposal,
        version: int,
        new: ProposalStatus,
        result: dict[str, Any],
        *,
        expected: ProposalStatus = ProposalStatus.EXECUTING,
    ) -> None:
        ok = await self._repos.proposals.compare_and_set(
            workspace_id=p.workspace_id,
            proposal_id=p.id,
            expected_status=expected,
            expected_version=version,
            new_status=new,
            result=result,
        )
        if not ok:
            logger.error("proposal %s: could not record %s (state changed under us)", p.id, new)

    # -- maintenance ---------------------------------------------------------------

    async def recover(
        self, *, workspace_id: str | None = None, stale_after: timedelta | None = None
    ) -> list[RemediationProposal]:
        """Proposals left ``executing`` by a crash go to failed, never rerun.

        Args:
            workspace_id: Only this workspace (every workspace by default).
            stale_after: Only proposals executing for longer than this. ``None`` takes
                all of them: right for a single process at start-up, but with several
                replicas another one may be executing right now, so the periodic sweep
                passes :data:`EXECUTION_STALE_AFTER`, far above any action's timeout.

        Returns:
            The proposals marked for a human check, as stored afterwards.
        """
        before = None if stale_after is None else self._clock() - stale_after
        stuck = await self._repos.proposals.executing(
            updated_before=before, workspace_id=workspace_id
        )
        marked: list[RemediationProposal] = []
        for p in stuck:
            result = {
                **(p.result or {}),
                "needs_human_check": True,
                "detail": "the process stopped during execution; check the target by hand",
            }
            if await self._cas(p, ProposalStatus.FAILED, result=result):
                await self._audit(
                    p.workspace_id, p.id, SYSTEM_ACTOR, "recovered", accepted=False,
                    reason="found executing after a crash: not re-run, needs a human check",
                    data={"action": p.action},
                )  # fmt: skip
                logger.warning("proposal %s stopped while executing: needs a human check", p.id)
                marked.append(await self._get(p.workspace_id, p.id) or p)
        return marked

    async def expire_due(self, *, workspace_id: str) -> int:
        """Mark pending proposals past their expiry as expired; how many were."""
        return len(await self.expire_overdue(workspace_id=workspace_id))

    async def expire_overdue(self, *, workspace_id: str | None = None) -> list[RemediationProposal]:
        """Expire overdue pending proposals (every workspace by default).

        Returns:
            The proposals this call expired (a concurrent caller's are not included),
            as stored afterwards, so their messages can be updated.
        """
        due = await self._repos.proposals.due_to_expire(
            now=self._clock(), workspace_id=workspace_id
        )
        expired = []
        for p in due:
            if await self._mark_expired(p):
                expired.append(await self._get(p.workspace_id, p.id) or p)
        return expired

    async def _mark_expired(self, p: RemediationProposal) -> bool:
        if not await self._cas(p, ProposalStatus.EXPIRED):
            return False
        await self._audit(
            p.workspace_id, p.id, SYSTEM_ACTOR, "expired",
            reason=f"no decision before {p.expires_at.isoformat()}", data={"action": p.action},
        )  # fmt: skip
        return True

    # -- helpers -------------------------------------------------------------------

    async def _rate_limited(self, *, workspace_id: str, action: str) -> bool:
        limit = self._policy.max_executions(action)
        if limit is None:
            return False
        rows = await self._repos.audit.since(
            workspace_id=workspace_id, since=self._clock() - timedelta(hours=1)
        )
        done = sum(
            1
            for r in rows
            if r.kind == "execution" and r.data.get("action") == action and r.data.get("executed")
        )
        return done >= limit

    async def _cas(
        self,
        p: RemediationProposal,
        new: ProposalStatus,
        *,
        approvals: list[str] | None = None,
        result: dict[str, Any] | None = None,
        rejected_by: str | None = None,
    ) -> bool:
        return await self._repos.proposals.compare_and_set(
            workspace_id=p.workspace_id,
            proposal_id=p.id,
            expected_status=ProposalStatus(p.status),
            expected_version=p.version,
            new_status=new,
            approvals=approvals,
            result=result,
            rejected_by=rejected_by,
        )

    async def _get(self, workspace_id: str, proposal_id: str) -> RemediationProposal | None:
        return await self._repos.proposals.get(workspace_id=workspace_id, proposal_id=proposal_id)

    async def _audit(
        self,
        workspace_id: str,
        proposal_id: str | None,
        actor: str,
        kind: str,
        *,
        accepted: bool = True,
        reason: str = "",
        data: dict[str, Any] | None = None,
    ) -> None:
        await self._repos.audit.add(
            workspace_id=workspace_id,
            actor=actor,
            kind=kind,
            proposal_id=proposal_id,
            accepted=accepted,
            reason=reason,
            data=data,
        )


def _parse_params(act: Action, params: dict[str, Any]) -> BaseModel:
    try:
        return act.params_model.model_validate(params)
    except ValidationError as exc:
        err = exc.errors()[0]
        field = ".".join(str(p) for p in err["loc"]) or "(parameters)"
        raise ToolInputError(f"{act.name}: parameter {field!r} is invalid: {err['msg']}") from None


async def _safely(coro: Awaitable[ActionOutcome]) -> ActionOutcome:
    """Await an action step; an exception becomes a failed outcome (never re-raised)."""
    try:
        out = await coro
    except Exception as exc:  # an action's bug must not wedge the proposal
        logger.exception("action step failed")
        return ActionOutcome(ok=False, detail=f"{type(exc).__name__}: {exc}")
    if not isinstance(out, ActionOutcome):
        return ActionOutcome(ok=False, detail="action returned no outcome")
    return out
