"""Proposals made by jobs, and where proposal messages live.

:class:`TriggeredProposer` turns the forecast job's predictive alerts and the anomaly
scan's anomalies into remediation proposals, through the policy's ``triggers:``
(:mod:`jobs.triggers`) and :meth:`jobs.remediation.RemediationService.propose`, so a
job's proposal follows the same policy as a person's: it needs the approvals its rule
asks for, and runs on its own only under a level-3 rule for a safe action. The proposer
is ``job:forecast`` or ``job:anomaly``. A trigger and target that already have a
pending, unexpired proposal are skipped (the dedupe key is stored on the proposal; a
job period runs once, so two runs never race on it).

:class:`ProposalSink` is where proposal messages are posted and updated (a Slack
channel in production); the location is stored on the proposal
(:meth:`memory.repositories.ProposalRepository.set_message`) so later state changes,
such as :func:`expire_and_update`, update the same message.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

from jobs.anomaly import AnomalyExplanation
from jobs.forecast_alerts import PredictiveAlert
from jobs.remediation import EXECUTION_STALE_AFTER, RemediationService
from jobs.triggers import Trigger, TriggerError, placeholders, render
from memory.errors import CopilotError
from memory.models import RemediationProposal
from memory.repositories import Repositories
from memory.types import utcnow
from tools.actions.base import ActionCatalogue

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class MessageRef:
    """Where a proposal message was posted."""

    channel: str
    ts: str


@runtime_checkable
class ProposalSink(Protocol):
    """Posts proposal messages and updates them in place."""

    async def post_proposal(self, proposal: RemediationProposal) -> MessageRef | None:
        """Post the proposal message (with its buttons); where it went, if anywhere."""
        ...

    async def update_proposal(self, proposal: RemediationProposal, *, note: str = "") -> None:
        """Re-render the message at ``proposal.channel_id``/``message_ts`` in place."""
        ...


async def post_and_remember(
    *, sink: ProposalSink, repos: Repositories, proposal: RemediationProposal
) -> RemediationProposal:
    """Post ``proposal`` through ``sink`` and store the message location on it."""
    where = await sink.post_proposal(proposal)
    if where is not None:
        await repos.proposals.set_message(
            workspace_id=proposal.workspace_id,
            proposal_id=proposal.id,
            channel_id=where.channel,
            message_ts=where.ts,
        )
        proposal.channel_id, proposal.message_ts = where.channel, where.ts
    return proposal


class TriggeredProposer:
    """Proposals from alerts, by the policy's triggers.

    Args:
        service: Stores proposals under the policy.
        catalogue: The actions configured here (a trigger naming another is skipped).
        triggers: The policy's triggers.
        repos: For the dedupe lookup and the message location.
        sink: Where to post the proposal messages (``None``: stored only).
        clock: The time (UTC).
    """

    def __init__(
        self,
        *,
        service: RemediationService,
        catalogue: ActionCatalogue,
        triggers: Sequence[Trigger],
        repos: Repositories,
        sink: ProposalSink | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._service = service
        self._catalogue = catalogue
        self._triggers = list(triggers)
        self._repos = repos
        self._sink = sink
        self._clock = clock

    async def from_forecast(
        self, *, workspace_id: str, alert: PredictiveAlert
    ) -> list[RemediationProposal]:
        """Proposals for one predictive alert (none when no trigger matches)."""
        builtins = {
            "metric": alert.name,
            "resource": alert.resource,
            "threshold": alert.threshold,
            "current": alert.current,
            "unit": alert.unit,
            "eta": alert.eta.isoformat(),
        }
        return await self._fire(
            workspace_id=workspace_id,
            source="forecast",
            metric=alert.name,
            labels=alert.labels,
            builtins=builtins,
            summary=alert.summary,
        )

    async def from_anomaly(
        self, *, workspace_id: str, anomaly: AnomalyExplanation
    ) -> list[RemediationProposal]:
        """Proposals for one anomaly (none when no trigger matches)."""
        builtins = {
            "metric": anomaly.metric,
            "observed": anomaly.observed,
            "expected": anomaly.expected,
            "sigmas": round(anomaly.deviation_sigmas, 1),
        }
        return await self._fire(
            workspace_id=workspace_id,
            source="anomaly",
            metric=anomaly.metric,
            labels=anomaly.labels,
            builtins=builtins,
            summary=anomaly.summary(),
        )

    async def _fire(
        self,
        *,
        workspace_id: str,
        source: str,
        metric: str,
        labels: Mapping[str, str],
        builtins: dict[str, Any],
        summary: str,
    ) -> list[RemediationProposal]:
        made = []
        for trigger in self._triggers:
            if not trigger.matches(source=source, metric=metric, labels=labels):
                continue
            try:
                proposal = await self._propose(
                    trigger, workspace_id=workspace_id, metric=metric, labels=labels,
                    values={**labels, **builtins}, summary=summary,
                )  # fmt: skip
            except CopilotError as exc:  # one bad target must not stop the others
                logger.warning("trigger %s on %s%s: no proposal: %s", trigger.name, metric,
                               dict(labels), exc)  # fmt: skip
                continue
            if proposal is not None:
                made.append(proposal)
        return made

    async def _propose(
        self,
        trigger: Trigger,
        *,
        workspace_id: str,
        metric: str,
        labels: Mapping[str, str],
        values: dict[str, Any],
        summary: str,
    ) -> RemediationProposal | None:
        action = self._catalogue.get(trigger.action)
        if action is None:
            logger.info("trigger %s: %s is not configured here", trigger.name, trigger.action)
            return None
        key = trigger.dedupe_key(metric=metric, labels=labels)
        existing = await self._repos.proposals.pending_with_key(
            workspace_id=workspace_id, dedupe_key=key, now=self._clock()
        )
        if existing is not None:
            logger.info("trigger %s: proposal %s still pending", trigger.name, existing.id)
            return None
        if trigger.facts_used:
            # fill what does not need facts, read the facts of that target, then the rest
            partial = {
                k: render(v, values)
                for k, v in trigger.params.items()
                if not (placeholders(v) & trigger.facts_used)
            }
            reader = getattr(action, "facts", None)
            if reader is None:
                raise TriggerError(f"{trigger.action} reads no facts")
            facts = await reader(partial)
            values = {**values, **facts}
        params = render(trigger.params, values)
        environment = str(render(trigger.environment, values))
        reason = (
            str(render(trigger.reason, values))
            if trigger.reason
            else f"trigger {trigger.name}: {summary}"
        )
        proposal = await self._service.propose(
            workspace_id=workspace_id,
            action=trigger.action,
            params=params,
            environment=environment,
            proposed_by=f"job:{trigger.source}",
            reason=reason,
            dedupe_key=key,
        )
        logger.info("trigger %s proposed %s (%s)", trigger.name, proposal.id, proposal.status)
        if self._sink is not None:
            proposal = await post_and_remember(
                sink=self._sink, repos=self._repos, proposal=proposal
            )
        return proposal


EXPIRED_NOTE = "Expired: no decision before {at:%Y-%m-%d %H:%M} UTC."
STOPPED_NOTE = "Stopped while executing (the process died): not re-run; check the target by hand."


async def expire_and_update(
    *, service: RemediationService, sink: ProposalSink | None
) -> list[RemediationProposal]:
    """Expire overdue proposals (every workspace) and update their messages in place."""
    expired = await service.expire_overdue()
    for p in expired:
        if sink is None or not p.channel_id or not p.message_ts:
            continue
        try:
            await sink.update_proposal(p, note=EXPIRED_NOTE.format(at=p.expires_at))
        except Exception:  # boundary: one message that cannot be updated must not stop the rest
            logger.exception("could not mark the message of proposal %s expired", p.id)
    return expired


async def recover_and_update(
    *, service: RemediationService, sink: ProposalSink | None
) -> list[RemediationProposal]:
    """Mark executions whose process died (every workspace) for a human check, in place.

    Only executions older than :data:`EXECUTION_STALE_AFTER` are taken: another replica
    may be executing a younger one right now.
    """
    marked = await service.recover(stale_after=EXECUTION_STALE_AFTER)
    for p in marked:
        if sink is None or not p.channel_id or not p.message_ts:
            continue
        try:
            await sink.update_proposal(p, note=STOPPED_NOTE)
        except Exception:  # boundary: one message that cannot be updated must not stop the rest
            logger.exception("could not update the message of stopped proposal %s", p.id)
    return marked


async def run_expiry(
    *,
    service: RemediationService,
    sink: ProposalSink | None,
    stop: asyncio.Event,
    interval_s: float = 30.0,
) -> None:
    """Sweep proposals every ``interval_s`` until ``stop`` is set.

    Each pass runs :func:`expire_and_update` and :func:`recover_and_update`.
    """
    while not stop.is_set():
        try:
            await expire_and_update(service=service, sink=sink)
            await recover_and_update(service=service, sink=sink)
        except Exception:  # boundary: the loop must outlive one bad pass
            logger.exception("proposal expiry pass failed")
        try:
            await asyncio.wait_for(stop.wait(), timeout=interval_s)
        except TimeoutError:
            continue
