"""The ``retention`` job: old dedupe keys and job runs are deleted, so the database stops growing.

What each ``processedevent`` key is for, and so how long it must be kept:

* **Slack event ids** (``Ev…``, :meth:`bot.slack.services.SlackServices.first_time`): they
  drop Slack's redeliveries of an event. Slack retries at most three times, over about
  five minutes. After ``processed_event_retention_days`` (at least one day) they go.
* **Webhook replay keys** (``alertmanager:<sha256 of the body>``,
  :meth:`jobs.ingest.AlertIngestor.accept`): an identical body is refused only while the
  key's ``received_at`` is within ``incidents.replay_window_s`` (default 300 s; every
  accepted copy moves it forward). Older keys refuse nothing. They go after the retention
  or the replay window, whichever is longer.
* **PagerDuty event ids** (``pd:<event id>``, :mod:`jobs.pagerduty_ingest`): **never
  deleted**. They are the only replay protection PagerDuty v3 webhooks have: the
  ``X-PagerDuty-Signature`` HMAC covers the body but has no timestamp, so no skew bound
  ever makes an old signed body stale. Without its key, a resent event would be applied
  again: a second timeline entry, or a new incident if the old one could not be found.
  There is one key per PagerDuty event, so they grow no faster than the stored
  ``webhookdelivery`` bodies, which are kept as well.
* **Proposal message claims** (``proposal-message:<proposal id>``,
  :mod:`bot.slack.proposals`): they make posting a proposal's Approve/Reject message
  once-only across replicas. The claim is kept while the proposal is live (pending,
  approved or executing) and could still be posted or rendered again. Once the proposal
  has a final status (or no longer exists) it goes after the retention.

Any other key is deleted after the retention, like a Slack event id. A new kind of key
that must live longer has to be added to :data:`PROTECTED_PREFIXES` or given its own rule.

``jobrun`` rows older than ``job_run_retention_days`` (at least 35) are deleted too,
except each job's newest run: catch-up at start (``serve``, ``jobs serve``) only runs
jobs that ran before. A job's current period is never more than 32 days before its run
(:func:`jobs.scheduler.last_fire_time`), so a deleted period can never be claimed again.

Every delete removes at most ``batch_size`` rows and commits (5,000 by default), so a
large first run never holds a long lock. The job reports the rows deleted per table.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from jobs.config import JobsConfig
from jobs.scheduler import JobContext, JobFunc
from memory.models import ProposalStatus
from memory.repositories import DELETE_BATCH_SIZE

logger = logging.getLogger(__name__)

PAGERDUTY_EVENT_PREFIX = "pd:"
"""Key prefix of PagerDuty webhook event ids (``jobs.pagerduty_ingest``)."""
PROPOSAL_MESSAGE_PREFIX = "proposal-message:"
"""Key prefix of proposal message claims (``bot.slack.proposals.MESSAGE_CLAIM``)."""
PROTECTED_PREFIXES = (PAGERDUTY_EVENT_PREFIX, PROPOSAL_MESSAGE_PREFIX)
"""Keys the age-only rule never deletes (the second has its own rule)."""
LIVE_PROPOSAL_STATUSES = frozenset(
    {ProposalStatus.PENDING, ProposalStatus.APPROVED, ProposalStatus.EXECUTING}
)
"""Statuses whose proposal keeps its message claim."""


def retention_job(
    *, config: JobsConfig, replay_window_s: float, batch_size: int = DELETE_BATCH_SIZE
) -> JobFunc:
    """The ``retention`` job (see the module docstring for what is kept and why).

    Args:
        config: Retention periods (``processed_event_retention_days``,
            ``job_run_retention_days``).
        replay_window_s: The webhook replay window (``incidents.replay_window_s``):
            replay keys are kept at least this long.
        batch_size: Rows per ``DELETE`` statement.

    Returns:
        A job whose summary is ``{"processedevent_deleted": n, "jobrun_deleted": m}``.
    """
    key_age = max(
        timedelta(days=config.processed_event_retention_days),
        timedelta(seconds=replay_window_s),
    )
    run_age = timedelta(days=config.job_run_retention_days)

    async def run(ctx: JobContext) -> dict[str, Any]:
        events = ctx.repos.processed_events
        keys_before = ctx.now - key_age
        # keys are global (one deployment serves many Slack teams); runs are this scheduler's
        plain = await events.prune(
            before=keys_before, keep_prefixes=PROTECTED_PREFIXES, batch_size=batch_size
        )
        claims = await events.prune_proposal_claims(
            prefix=PROPOSAL_MESSAGE_PREFIX,
            before=keys_before,
            live_statuses=LIVE_PROPOSAL_STATUSES,
            batch_size=batch_size,
        )
        runs = await ctx.repos.job_runs.prune(
            workspace_id=ctx.workspace_id, before=ctx.now - run_age, batch_size=batch_size
        )
        logger.info(
            "retention: deleted %d keys and %d proposal claims before %s, %d job runs",
            plain,
            claims,
            keys_before,
            runs,
        )
        return {"processedevent_deleted": plain + claims, "jobrun_deleted": runs}

    return run
