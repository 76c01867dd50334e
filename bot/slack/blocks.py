"""Block Kit rendering: the Slack twin of ``bot/console.py:render``.

Pure functions from :class:`agents.reply.Reply` (and a few database rows) to Block
Kit dicts. Nothing here calls Slack. Every block carries a stable ``block_id`` so
tests, and later updates of a message, can find it:

=================================  ==================================================
block_id                           what it holds
=================================  ==================================================
``placeholder``                    the "looking into it" placeholder
``reply.asked``                    who asked what (answers to ``/sre`` and the ask form)
``reply.headline[.N]``             the headline (split in parts past 3,000 chars)
``reply.capabilities``             integrations and their state (help, status)
``hypothesis.R``                   hypothesis of rank R: title, confidence, rationale
``hypothesis.R.evidence``          its first cited evidence (context)
``hypothesis.R.actions``           👍 / 👎 / show evidence (only for stored hypotheses)
``reply.runbooks``                 recommended runbooks
``reply.runbook_actions``          runbook steps an action can do (``.buttons``: Propose)
``reply.section.J[.N]``            the J-th titled section
``reply.promql``                   the PromQL used
``reply.attachments``              files uploaded into the thread
``reply.failed_sources``           sources that failed or timed out
``reply.notes``                    notes
``reply.actions``                  "investigate again"
``reply.continued``                "continued in the next message"
``reply.truncated``                "the full answer is attached"
``help.*``                         ``/sre help``
``home.*``                         the App Home tab (``home.incident.ID``, ``home.approval.ID``)
``evidence.*``                     the evidence modal (``evidence.N``, ``evidence.N.query``)
``ask.question``                   the ``/sre ask`` modal's input
``incident.header``                incident message: severity emoji, ``#ID`` and title
``incident.status``                its status, severity, service (and summary)
``incident.times``                 started / acknowledged / mitigated / resolved, MTTA, MTTR
``incident.alerts``                firing and resolved counts, top 5 alert names (×count)
``incident.actions``               Acknowledge / Mitigate / Resolve / Post-mortem
``remediation.header``            proposal message: risk emoji, action and risk
``remediation.summary``           environment, proposer, reason
``remediation.dry_run``           what executing would change
``remediation.status``            status and approvals so far (``1/2 approvals: <@U1>``)
``remediation.result``            precondition, execution and verification (once run)
``remediation.actions``           Approve / Reject (only while pending)
``remediation.reason``            the Reject modal's required reason input
``timeline.title``                 ``/sre timeline``: which incident
``timeline.events[.N]``            its events, oldest first (actor, kind, time)
=================================  ==================================================

Action ids: ``hypothesis.feedback_up``, ``hypothesis.feedback_down`` and
``hypothesis.show_evidence`` (value: the stored hypothesis id), ``investigation.rerun``
(value: the question), ``incident.ack``, ``incident.mitigate``, ``incident.resolve`` and
``incident.postmortem`` (value: the incident id; a transition that is no longer valid
has no button, and a resolved incident keeps only Post-mortem), ``remediation.approve``
and ``remediation.reject`` (value: the proposal id), ``remediation.propose.N`` (value:
the runbook step as JSON, see :func:`runbook_action_blocks`). View callback ids: ``ask.submit``,
``hypothesis.evidence``, ``remediation.reject_reason``.

Limits respected (Slack's): 3,000 characters per section text, 50 blocks per message,
100 per modal or Home tab, 150 per header, 2,000 per button value, 10 elements per
context block. Longer replies are split over several messages; past
:data:`MAX_MESSAGES` the rest is attached as a Markdown file.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from agents.reply import Evidence, HypothesisView, Reply
from bot.slack import messages
from bot.slack.mrkdwn import escape, split_text, to_mrkdwn, truncate
from jobs.incidents import ORDER, format_duration, metrics
from memory.models import (
    Alert,
    AlertStatus,
    Incident,
    IncidentStatus,
    JobRun,
    ProposalStatus,
    RemediationProposal,
    TimelineEvent,
)

Block = dict[str, Any]
View = dict[str, Any]

SECTION_TEXT_LIMIT = 3000
MESSAGE_BLOCK_LIMIT = 50
VIEW_BLOCK_LIMIT = 100
HEADER_TEXT_LIMIT = 150
BUTTON_VALUE_LIMIT = 2000
CONTEXT_ELEMENT_LIMIT = 10
FALLBACK_TEXT_LIMIT = 3000
MAX_MESSAGES = 3
EVIDENCE_INLINE = 3
HOME_LIST_LIMIT = 15

ACTION_FEEDBACK_UP = "hypothesis.feedback_up"
ACTION_FEEDBACK_DOWN = "hypothesis.feedback_down"
ACTION_SHOW_EVIDENCE = "hypothesis.show_evidence"
ACTION_RERUN = "investigation.rerun"
VIEW_ASK = "ask.submit"
VIEW_EVIDENCE = "hypothesis.evidence"
ASK_BLOCK = "ask.question"
ASK_INPUT = "ask.question_input"
OVERFLOW_FILENAME = "answer.md"
ACTION_INCIDENT_ACK = "incident.ack"
ACTION_INCIDENT_MITIGATE = "incident.mitigate"
ACTION_INCIDENT_RESOLVE = "incident.resolve"
ACTION_INCIDENT_POSTMORTEM = "incident.postmortem"
ACTION_REMEDIATION_APPROVE = "remediation.approve"
ACTION_REMEDIATION_REJECT = "remediation.reject"
ACTION_REMEDIATION_PROPOSE = "remediation.propose"
"""Prefix of the runbook steps' Propose buttons (``remediation.propose.N``)."""
VIEW_REMEDIATION_REJECT = "remediation.reject_reason"
REJECT_BLOCK = "remediation.reason"
REJECT_INPUT = "remediation.reason_input"
RISK_EMOJI = {
    "low": ":large_green_circle:",
    "medium": ":large_orange_circle:",
    "high": ":red_circle:",
}
PROPOSAL_STATUS_EMOJI = {
    ProposalStatus.PENDING: ":hourglass_flowing_sand:",
    ProposalStatus.APPROVED: ":white_check_mark:",
    ProposalStatus.EXECUTING: ":gear:",
    ProposalStatus.SUCCEEDED: ":heavy_check_mark:",
    ProposalStatus.FAILED: ":x:",
    ProposalStatus.VERIFIED: ":white_check_mark:",
    ProposalStatus.REJECTED: ":no_entry_sign:",
    ProposalStatus.EXPIRED: ":hourglass:",
}
INCIDENT_TOP_ALERTS = 5
TIMELINE_LIMIT = 200

SEVERITY_EMOJI = {
    "critical": ":red_circle:",
    "error": ":large_orange_circle:",
    "high": ":large_orange_circle:",
    "warning": ":large_yellow_circle:",
    "info": ":large_blue_circle:",
}
"""Emoji of an incident's severity (others get :white_circle:)."""

STATUS_EMOJI = {
    IncidentStatus.TRIGGERED: ":rotating_light:",
    IncidentStatus.ACKNOWLEDGED: ":eyes:",
    IncidentStatus.INVESTIGATING: ":mag:",
    IncidentStatus.MITIGATED: ":adhesive_bandage:",
    IncidentStatus.RESOLVED: ":white_check_mark:",
}
"""Emoji of an incident's status."""

_STATE_MARK = {
    "healthy": ":large_green_circle:",
    "configured": ":large_blue_circle:",
    "not configured": ":white_circle:",
    "unhealthy": ":red_circle:",
}


@dataclass(frozen=True)
class Message:
    """One Slack message: notification text plus blocks."""

    text: str
    blocks: list[Block]


@dataclass(frozen=True)
class RenderedReply:
    """A reply as Slack messages.

    Attributes:
        messages: The first replaces the placeholder; the others follow in the thread.
        overflow: The whole answer as Markdown when it did not fit (attach it as
            :data:`OVERFLOW_FILENAME`), else ``None``.
    """

    messages: list[Message]
    overflow: str | None = None


# --- primitives -----------------------------------------------------------------------


def mrkdwn(text: str) -> dict[str, Any]:
    """A mrkdwn text object."""
    return {"type": "mrkdwn", "text": text}


def plain(text: str, *, limit: int = SECTION_TEXT_LIMIT, emoji: bool = True) -> dict[str, Any]:
    """A plain_text object, cut to ``limit``."""
    return {"type": "plain_text", "text": truncate(text, limit), "emoji": emoji}


def section(block_id: str, text: str) -> Block:
    """A section with mrkdwn text (the caller keeps it within 3,000 characters)."""
    return {"type": "section", "block_id": block_id, "text": mrkdwn(text)}


def sections(block_id: str, text: str) -> list[Block]:
    """One section, or several (``block_id.1``, ``.2``…) when ``text`` is too long."""
    parts = split_text(text, limit=SECTION_TEXT_LIMIT)
    if len(parts) == 1:
        return [section(block_id, parts[0])]
    return [section(f"{block_id}.{i}", part) for i, part in enumerate(parts, start=1)]


def context(block_id: str, lines: Sequence[str]) -> Block:
    """A context block with one mrkdwn element per line (at most 10)."""
    shown = list(lines[:CONTEXT_ELEMENT_LIMIT])
    if len(lines) > CONTEXT_ELEMENT_LIMIT:
        shown[-1] = f"… and {len(lines) - CONTEXT_ELEMENT_LIMIT + 1} more"
    return {
        "type": "context",
        "block_id": block_id,
        "elements": [mrkdwn(truncate(line, SECTION_TEXT_LIMIT)) for line in shown],
    }


def header(block_id: str, text: str) -> Block:
    """A header block (plain text, at most 150 characters)."""
    return {"type": "header", "block_id": block_id, "text": plain(text, limit=HEADER_TEXT_LIMIT)}


def button(text: str, *, action_id: str, value: str, style: str | None = None) -> dict[str, Any]:
    """A button; ``value`` is cut to 2,000 characters."""
    out: dict[str, Any] = {
        "type": "button",
        "text": plain(text, limit=75),
        "action_id": action_id,
        "value": value[:BUTTON_VALUE_LIMIT],
    }
    if style:
        out["style"] = style
    return out


def divider() -> Block:
    """A divider."""
    return {"type": "divider"}


def confidence_bar(confidence: float, *, width: int = 10) -> str:
    """``▰▰▰▰▰▰▱▱▱▱ 62%``."""
    filled = max(0, min(width, round(confidence * width)))
    return "▰" * filled + "▱" * (width - filled) + f" {confidence:.0%}"


# --- replies ---------------------------------------------------------------------------


def placeholder(*, text: str = messages.PLACEHOLDER) -> Message:
    """The message posted at once, replaced by the answer."""
    return Message(text=text, blocks=[section("placeholder", text)])


def fallback_text(reply: Reply) -> str:
    """Notification text of a reply (what push notifications and screen readers show)."""
    prefix = ":warning: " if reply.kind == "error" else ""
    return truncate(prefix + to_mrkdwn(reply.text), FALLBACK_TEXT_LIMIT)


def _evidence_line(ev: Evidence) -> str:
    parts = [escape(ev.summary)]
    if ev.value:
        parts.append(f"*{escape(ev.value)}*")
    if ev.query:
        parts.append(f"`{escape(truncate(ev.query, 300))}`")
    return " · ".join(parts) + f" _({escape(ev.source)})_"


def hypothesis_blocks(rank: int, hyp: HypothesisView) -> list[Block]:
    """Blocks of one ranked hypothesis: title and confidence, evidence, buttons."""
    where = f" · `{escape(hyp.service)}`" if hyp.service else ""
    head = f"*{rank}. {escape(hyp.title)}*{where}\n{confidence_bar(hyp.confidence)}"
    if hyp.rationale:
        head += "\n" + to_mrkdwn(hyp.rationale)
    out = [section(f"hypothesis.{rank}", truncate(head, SECTION_TEXT_LIMIT))]
    if hyp.evidence:
        lines = [_evidence_line(ev) for ev in hyp.evidence[:EVIDENCE_INLINE]]
        if len(hyp.evidence) > EVIDENCE_INLINE:
            lines.append(f"+{len(hyp.evidence) - EVIDENCE_INLINE} more (show evidence)")
        out.append(context(f"hypothesis.{rank}.evidence", lines))
    if hyp.id is not None:
        value = str(hyp.id)
        out.append(
            {
                "type": "actions",
                "block_id": f"hypothesis.{rank}.actions",
                "elements": [
                    button("👍 Looks right", action_id=ACTION_FEEDBACK_UP, value=value),
                    button("👎 Looks wrong", action_id=ACTION_FEEDBACK_DOWN, value=value),
                    button("Show evidence", action_id=ACTION_SHOW_EVIDENCE, value=value),
                ],
            }
        )
    return out


def _runbook_line(title: str, path: str, section_name: str) -> str:
    where = f" › {escape(section_name)}" if section_name else ""
    if path.startswith(("http://", "https://")):
        return f"• <{path}|{escape(title)}>{where}"
    return f"• *{escape(title)}*{where} — `{escape(path)}`"


def runbook_action_blocks(reply: Reply) -> list[Block]:
    """The runbook steps a catalogue action can do, each with a Propose button.

    Block ``reply.runbook_actions``; action ids ``remediation.propose.N``; each value is
    ``{"a": action, "p": params, "e": environment}`` as JSON (steps whose value would
    pass Slack's 2,000 characters are left out rather than cut).
    """
    lines: list[str] = []
    buttons: list[dict[str, Any]] = []
    for ref in reply.runbooks:
        for step in ref.actions:
            value = json.dumps(
                {"a": step.action, "p": step.params, "e": step.environment},
                separators=(",", ":"),
            )
            if len(value) > BUTTON_VALUE_LIMIT or len(buttons) >= 5:
                continue
            n = len(buttons) + 1
            lines.append(f"{n}. `{escape(truncate(step.command, 200))}` → `{step.action}`")
            buttons.append(
                button(f"Propose {n}", action_id=f"{ACTION_REMEDIATION_PROPOSE}.{n}", value=value)
            )
    if not buttons:
        return []
    text = "*Runbook steps I can propose* (approval per policy)\n" + "\n".join(lines)
    return [
        section("reply.runbook_actions", truncate(text, SECTION_TEXT_LIMIT)),
        {"type": "actions", "block_id": "reply.runbook_actions.buttons", "elements": buttons},
    ]


def reply_blocks(
    reply: Reply, *, question: str | None = None, asked_by: str | None = None
) -> list[Block]:
    """Every block of a reply, before splitting into messages.

    ``question`` adds the "investigate again" button (answers only); ``asked_by``
    (a user id) recalls who asked what, for answers that start their own thread.
    """
    prefix = ":warning: " if reply.kind == "error" else ""
    blocks: list[Block] = []
    if asked_by and question:
        asked = f"<@{asked_by}> asked: _{escape(truncate(question, 500))}_"
        blocks.append(context("reply.asked", [asked]))
    blocks += sections("reply.headline", prefix + to_mrkdwn(reply.text))
    if reply.capabilities:
        lines = [
            f"{_STATE_MARK.get(c.state, ':grey_question:')} *{escape(c.name)}* — {c.state}"
            + (f" _({escape(c.reason)})_" if c.reason else "")
            for c in reply.capabilities
        ]
        blocks += sections("reply.capabilities", "\n".join(lines))
    if reply.hypotheses:
        blocks.append(divider())
        for rank, hyp in enumerate(reply.hypotheses, start=1):
            blocks += hypothesis_blocks(rank, hyp)
    if reply.runbooks:
        lines = ["*Runbooks*"] + [_runbook_line(r.title, r.path, r.section) for r in reply.runbooks]
        blocks += sections("reply.runbooks", "\n".join(lines))
        blocks += runbook_action_blocks(reply)
    for j, part in enumerate(reply.sections, start=1):
        blocks += sections(f"reply.section.{j}", f"*{escape(part.title)}*\n{to_mrkdwn(part.body)}")
    if reply.promql:
        body = "\n".join(f"```\n{escape(q)}\n```" for q in reply.promql)
        blocks += sections("reply.promql", f"*PromQL*\n{body}")
    if reply.attachments:
        names = ", ".join(f"`{escape(a.filename)}`" for a in reply.attachments)
        blocks.append(context("reply.attachments", [messages.ATTACHED.format(names=names)]))
    if reply.failed_sources:
        blocks.append(
            context(
                "reply.failed_sources",
                [
                    f":warning: *{escape(f.source)}* failed: {escape(f.error)}"
                    for f in reply.failed_sources
                ],
            )
        )
    if reply.notes:
        blocks.append(context("reply.notes", [to_mrkdwn(n) for n in reply.notes]))
    if question and reply.kind == "answer":
        blocks.append(
            {
                "type": "actions",
                "block_id": "reply.actions",
                "elements": [
                    button("🔁 Investigate again", action_id=ACTION_RERUN, value=question)
                ],
            }
        )
    return blocks


def render_reply(
    reply: Reply, *, question: str | None = None, asked_by: str | None = None
) -> RenderedReply:
    """A reply as one or more messages within Slack's limits (see the module docstring).

    The "investigate again" button always ends the last message.
    """
    every = reply_blocks(reply, question=question, asked_by=asked_by)
    text = fallback_text(reply)
    if len(every) <= MESSAGE_BLOCK_LIMIT:
        return RenderedReply(messages=[Message(text=text, blocks=every)])
    tail = [b for b in every if b.get("block_id") == "reply.actions"]
    body = [b for b in every if b.get("block_id") != "reply.actions"]
    per_page = MESSAGE_BLOCK_LIMIT - 1  # one block left for "continued" / "truncated"
    pages = [body[i : i + per_page] for i in range(0, len(body), per_page)]
    if len(pages[-1]) + len(tail) > per_page:
        keep = per_page - len(tail)
        pages[-1], spill = pages[-1][:keep], pages[-1][keep:]
        pages.append(spill)
    overflow: str | None = None
    if len(pages) > MAX_MESSAGES:
        pages = pages[:MAX_MESSAGES]
        pages[-1] = pages[-1][: per_page - len(tail)]
        overflow = reply_markdown(reply)
    out: list[Message] = []
    for n, page in enumerate(pages):
        if n < len(pages) - 1:
            page = page + [context("reply.continued", [messages.CONTINUED])]
        else:
            if overflow is not None:
                note = messages.TRUNCATED.format(filename=OVERFLOW_FILENAME)
                page = page + [context("reply.truncated", [note])]
            page = page + tail
        out.append(Message(text=text if n == 0 else f"{text} ({n + 1}/{len(pages)})", blocks=page))
    return RenderedReply(messages=out, overflow=overflow)


def reply_markdown(reply: Reply) -> str:
    """The whole reply as Markdown (the file attached when it does not fit)."""
    out = [reply.text]
    for i, hyp in enumerate(reply.hypotheses, start=1):
        out += ["", f"## {i}. {hyp.title} (confidence {hyp.confidence:.2f})"]
        if hyp.rationale:
            out.append(hyp.rationale)
        for ev in hyp.evidence:
            query = f" — `{ev.query}`" if ev.query else ""
            out.append(f"- {ev.summary}{query} ({ev.source})")
    if reply.runbooks:
        out += ["", "## Runbooks"]
        out += [f"- {r.title} › {r.section} ({r.path})" for r in reply.runbooks]
    for part in reply.sections:
        out += ["", f"## {part.title}", part.body]
    if reply.promql:
        out += ["", "## PromQL"] + [f"```\n{q}\n```" for q in reply.promql]
    if reply.failed_sources:
        out += ["", "## Failed sources"]
        out += [f"- {f.source}: {f.error}" for f in reply.failed_sources]
    out += [f"> {n}" for n in reply.notes]
    return "\n".join(out) + "\n"


def error_message(text: str) -> Message:
    """A short error message."""
    return Message(
        text=text, blocks=[section("reply.headline", truncate(text, SECTION_TEXT_LIMIT))]
    )


def help_message() -> Message:
    """``/sre help``."""
    lines = [f"`{escape(cmd)}` — {escape(what)}" for cmd, what in messages.SLASH_HELP]
    return Message(
        text=messages.SLASH_HELP_TITLE,
        blocks=[
            section("help.title", f"*{messages.SLASH_HELP_TITLE}*"),
            section("help.commands", "\n".join(lines)),
            context("help.footer", [messages.SLASH_HELP_FOOTER]),
        ],
    )


# --- modals ----------------------------------------------------------------------------


def ask_modal(*, channel_id: str, initial: str = "") -> View:
    """The ``/sre ask`` form; the answer goes to ``channel_id`` (in private_metadata)."""
    element: dict[str, Any] = {
        "type": "plain_text_input",
        "action_id": ASK_INPUT,
        "multiline": True,
        "placeholder": plain("what's wrong with checkout?"),
    }
    if initial:
        element["initial_value"] = initial
    return {
        "type": "modal",
        "callback_id": VIEW_ASK,
        "private_metadata": json.dumps({"channel": channel_id}),
        "title": plain("Ask SRE Copilot", limit=24),
        "submit": plain("Ask", limit=24),
        "close": plain("Cancel", limit=24),
        "blocks": [
            {
                "type": "input",
                "block_id": ASK_BLOCK,
                "label": plain("Question"),
                "element": element,
            }
        ],
    }


def evidence_modal(
    *, title: str, confidence: float, evidence: Sequence[Evidence], service: str | None = None
) -> View:
    """The evidence behind one hypothesis."""
    where = f" · `{escape(service)}`" if service else ""
    blocks: list[Block] = [
        section(
            "evidence.title",
            truncate(f"*{escape(title)}*{where}\n{confidence_bar(confidence)}", SECTION_TEXT_LIMIT),
        )
    ]
    if not evidence:
        blocks.append(context("evidence.none", [messages.EVIDENCE_NONE]))
    budget = (VIEW_BLOCK_LIMIT - len(blocks) - 1) // 3
    for n, ev in enumerate(evidence[:budget], start=1):
        facts = [f"_{escape(ev.source)}_"]
        if ev.time_range:
            facts.append(escape(ev.time_range))
        if ev.value:
            facts.append(f"value *{escape(ev.value)}*")
        blocks.append(divider())
        blocks.append(
            section(
                f"evidence.{n}",
                truncate(f"*{escape(ev.summary)}*\n" + " · ".join(facts), SECTION_TEXT_LIMIT),
            )
        )
        if ev.query:
            code = truncate(escape(ev.query), SECTION_TEXT_LIMIT - 8)
            blocks.append(section(f"evidence.{n}.query", f"```\n{code}\n```"))
    if len(evidence) > budget:
        blocks.append(context("evidence.more", [f"… and {len(evidence) - budget} more"]))
    return {
        "type": "modal",
        "callback_id": VIEW_EVIDENCE,
        "title": plain("Evidence", limit=24),
        "close": plain("Close", limit=24),
        "blocks": blocks,
    }


# --- App Home --------------------------------------------------------------------------


def _local(at: datetime, tz_offset_s: int) -> str:
    local = at.astimezone(timezone(timedelta(seconds=tz_offset_s)))
    return f"{local:%a %d %b %H:%M}"


def _incident_line(inc: Incident, tz_offset_s: int) -> str:
    where = f" · `{escape(inc.service)}`" if inc.service else ""
    thread = f" · <#{inc.channel_id}>" if inc.channel_id else ""
    return (
        f"*#{inc.id} {escape(inc.title)}*{where}\n"
        f"`{inc.status}` · {escape(inc.severity)} · "
        f"since {_local(inc.started_at, tz_offset_s)}{thread}"
    )


def _approval_line(p: RemediationProposal, tz_offset_s: int) -> str:
    params = ", ".join(f"{k}={v}" for k, v in sorted(p.params.items()))
    return (
        f"*{escape(p.action)}*" + (f" `{escape(truncate(params, 200))}`" if params else "") + "\n"
        f"{escape(p.environment)} · risk {escape(p.risk)} · proposed by {escape(p.proposed_by)} · "
        f"{len(p.approvals)}/{p.required_approvals} approvals · "
        f"expires {_local(p.expires_at, tz_offset_s)}"
    )


def home_view(
    *,
    incidents: Sequence[Incident],
    approvals: Sequence[RemediationProposal],
    last_digest: JobRun | None,
    digest_cron: str,
    now: datetime,
    tz_offset_s: int = 0,
) -> View:
    """The App Home tab: open incidents, pending approvals, latest digest."""
    blocks: list[Block] = [
        header("home.header", messages.HOME_TITLE),
        context("home.updated", [f"Updated {_local(now, tz_offset_s)} (your time)"]),
        header("home.incidents.header", f"Open incidents ({len(incidents)})"),
    ]
    if not incidents:
        blocks.append(section("home.incidents.none", messages.HOME_NO_INCIDENTS))
    for inc in incidents[:HOME_LIST_LIMIT]:
        blocks.append(
            section(
                f"home.incident.{inc.id}",
                truncate(_incident_line(inc, tz_offset_s), SECTION_TEXT_LIMIT),
            )
        )
    if len(incidents) > HOME_LIST_LIMIT:
        blocks.append(
            context(
                "home.incidents.more",
                [f"… and {len(incidents) - HOME_LIST_LIMIT} more: `/sre incidents`"],
            )
        )
    blocks += [divider(), header("home.approvals.header", f"Pending approvals ({len(approvals)})")]
    if not approvals:
        blocks.append(section("home.approvals.none", messages.HOME_NO_APPROVALS))
    for p in approvals[:HOME_LIST_LIMIT]:
        blocks.append(
            section(
                f"home.approval.{p.id}",
                truncate(_approval_line(p, tz_offset_s), SECTION_TEXT_LIMIT),
            )
        )
    if len(approvals) > HOME_LIST_LIMIT:
        blocks.append(
            context("home.approvals.more", [f"… and {len(approvals) - HOME_LIST_LIMIT} more"])
        )
    blocks += [divider(), header("home.digest.header", "Latest digest")]
    if last_digest is None:
        blocks.append(
            section("home.digest", messages.HOME_NO_DIGEST.format(cron=escape(digest_cron)))
        )
    else:
        blocks.append(
            section(
                "home.digest",
                f"Weekly digest of {_local(last_digest.started_at, tz_offset_s)} · "
                f"`{last_digest.status}`",
            )
        )
    return {"type": "home", "blocks": blocks[:VIEW_BLOCK_LIMIT]}


# --- incidents -------------------------------------------------------------------------


def severity_emoji(severity: str) -> str:
    """The emoji of a severity (``critical`` → :red_circle:...)."""
    return SEVERITY_EMOJI.get(severity.lower(), ":white_circle:")


def slack_time(at: datetime) -> str:
    """A time each reader sees in their own time zone (UTC in the fallback text)."""
    aware = at if at.tzinfo is not None else at.replace(tzinfo=UTC)
    fallback = f"{aware.astimezone(UTC):%Y-%m-%d %H:%M} UTC"
    return f"<!date^{int(aware.timestamp())}^{{date_short_pretty}} {{time}}|{fallback}>"


def _incident_buttons(incident: Incident) -> list[dict[str, Any]]:
    value = str(incident.id)
    current = ORDER.index(IncidentStatus(incident.status))
    out: list[dict[str, Any]] = []
    for label, action_id, target, style in (
        ("Acknowledge", ACTION_INCIDENT_ACK, IncidentStatus.ACKNOWLEDGED, "primary"),
        ("Mitigate", ACTION_INCIDENT_MITIGATE, IncidentStatus.MITIGATED, None),
        ("Resolve", ACTION_INCIDENT_RESOLVE, IncidentStatus.RESOLVED, None),
    ):
        if ORDER.index(target) > current:
            out.append(button(label, action_id=action_id, value=value, style=style))
    out.append(button("Post-mortem", action_id=ACTION_INCIDENT_POSTMORTEM, value=value))
    return out


def incident_message(incident: Incident, alerts: Sequence[Alert]) -> Message:
    """The message heading an incident's thread, updated in place as it changes.

    Args:
        incident: The incident (its id is the buttons' value).
        alerts: Its alerts (firing and resolved).

    Returns:
        Header, status, times, alert counts and the lifecycle buttons.
    """
    status = IncidentStatus(incident.status)
    emoji = severity_emoji(incident.severity)
    blocks: list[Block] = [
        header("incident.header", f"{emoji} #{incident.id} {incident.title}"),
    ]
    facts = [
        f"{STATUS_EMOJI[status]} *Status:* `{status.value}`",
        f"*Severity:* {escape(incident.severity)}",
    ]
    if incident.service:
        facts.append(f"*Service:* `{escape(incident.service)}`")
    status_text = " · ".join(facts)
    if incident.summary:
        status_text += "\n" + escape(truncate(incident.summary, 1000))
    blocks.append(section("incident.status", status_text))
    times = [f"Started {slack_time(incident.started_at)}"]
    for label, at in (
        ("Acknowledged", incident.acknowledged_at),
        ("Mitigated", incident.mitigated_at),
        ("Resolved", incident.resolved_at),
    ):
        if at is not None:
            times.append(f"{label} {slack_time(at)}")
    measured = metrics(incident)
    if measured.mtta is not None:
        times.append(f"MTTA {format_duration(measured.mtta)}")
    if measured.mttr is not None:
        times.append(f"MTTR {format_duration(measured.mttr)}")
    blocks.append(context("incident.times", times))
    firing = sum(1 for a in alerts if a.status == AlertStatus.FIRING)
    resolved = len(alerts) - firing
    counts: Counter[str] = Counter()
    for alert in alerts:
        counts[alert.name] += alert.occurrences
    top = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:INCIDENT_TOP_ALERTS]
    lines = [f"*Alerts:* {firing} firing · {resolved} resolved"]
    lines += [f"• `{escape(truncate(name, 200))}` ×{count}" for name, count in top]
    if len(counts) > INCIDENT_TOP_ALERTS:
        lines.append(f"… and {len(counts) - INCIDENT_TOP_ALERTS} more alert names")
    blocks.append(section("incident.alerts", "\n".join(lines)))
    blocks.append(
        {"type": "actions", "block_id": "incident.actions", "elements": _incident_buttons(incident)}
    )
    text = truncate(
        f"{emoji} Incident #{incident.id} ({status.value}): {escape(incident.title)}",
        FALLBACK_TEXT_LIMIT,
    )
    return Message(text=text, blocks=blocks)


def _actor(actor: str) -> str:
    if actor[:1] in ("U", "W") and actor[1:].isalnum() and actor.isupper():
        return f"<@{actor}>"
    return escape(actor)


def timeline_message(incident: Incident, events: Sequence[TimelineEvent]) -> Message:
    """``/sre timeline``: every event of an incident, oldest first (the last 200).

    Args:
        incident: The incident.
        events: Its timeline events, oldest first.

    Returns:
        A title and the events, one line each: time, kind, actor, text.
    """
    title = (
        f"*Timeline of incident #{incident.id}* — {escape(truncate(incident.title, 300))} "
        f"(`{incident.status}`)"
    )
    blocks: list[Block] = [section("timeline.title", title)]
    shown = list(events)[-TIMELINE_LIMIT:]
    lines = [
        f"{slack_time(e.at)} · *{escape(e.kind)}* · {_actor(e.actor)} — "
        f"{escape(truncate(e.text, 300))}"
        for e in shown
    ]
    if len(events) > len(shown):
        lines.insert(0, f"_… {len(events) - len(shown)} earlier events not shown_")
    blocks += sections("timeline.events", "\n".join(lines) or messages.TIMELINE_EMPTY)
    return Message(
        text=f"Timeline of incident #{incident.id} ({len(events)} events)",
        blocks=blocks[:MESSAGE_BLOCK_LIMIT],
    )


# --- remediation -----------------------------------------------------------------------


def _outcome_line(label: str, outcome: Any) -> str | None:
    if not isinstance(outcome, dict):
        return None
    mark = ":white_check_mark:" if outcome.get("ok") else ":x:"
    detail = escape(truncate(str(outcome.get("detail") or ""), 500))
    return f"{mark} *{label}:* {detail}"


def _result_lines(result: dict[str, Any]) -> list[str]:
    lines: list[str] = []
    if result.get("error"):
        lines.append(f":x: *Error:* {escape(truncate(str(result['error']), 500))}")
    pre = result.get("precondition")
    if isinstance(pre, dict) and not pre.get("ok"):
        lines.append(_outcome_line("Precondition", pre) or "")
    for label, key in (("Result", "execution"), ("Verification", "verification")):
        line = _outcome_line(label, result.get(key))
        if line is not None:
            lines.append(line)
    if result.get("needs_human_check"):
        detail = escape(truncate(str(result.get("detail") or ""), 500))
        lines.append(f":warning: *Needs a human check:* {detail}")
    return [line for line in lines if line]


def proposal_message(proposal: RemediationProposal, *, note: str | None = None) -> Message:
    """A remediation proposal, updated in place as it is approved, rejected or run.

    Args:
        proposal: The stored proposal (its id is the buttons' value).
        note: An extra line under the status (e.g. who rejected it and why).

    Returns:
        Header (action and risk), summary, dry run, status with the approvals so far,
        the result and verification once executed, and Approve / Reject while pending.
    """
    status = ProposalStatus(proposal.status)
    risk = str(proposal.risk)
    blocks: list[Block] = [
        header(
            "remediation.header",
            f"{RISK_EMOJI.get(risk, ':white_circle:')} {proposal.action} · {risk} risk",
        )
    ]
    summary = (
        f"*Environment:* `{escape(proposal.environment)}` · "
        f"*Proposed by:* {_actor(proposal.proposed_by)}"
    )
    if proposal.reason:
        summary += "\n" + escape(truncate(proposal.reason, 1000))
    blocks.append(section("remediation.summary", summary))
    dry = escape(truncate(proposal.dry_run or "(no dry run)", 2500)).replace("```", "'''")
    blocks.append(section("remediation.dry_run", f"*Dry run*\n```{dry}```"))
    approvers = ", ".join(_actor(a) for a in proposal.approvals) or "none yet"
    status_text = (
        f"{PROPOSAL_STATUS_EMOJI[status]} *Status:* `{status.value}` · "
        f"{len(proposal.approvals)}/{proposal.required_approvals} approvals: {approvers}"
    )
    if not note and status is ProposalStatus.REJECTED and proposal.rejected_by:
        note = f"Rejected by {_actor(proposal.rejected_by)}"
    if note:
        status_text += "\n" + truncate(note, 1000)
    blocks.append(section("remediation.status", status_text))
    lines = _result_lines(proposal.result or {})
    if lines:
        blocks.append(section("remediation.result", truncate("\n".join(lines), SECTION_TEXT_LIMIT)))
    if status is ProposalStatus.PENDING:
        blocks.append(
            {
                "type": "actions",
                "block_id": "remediation.actions",
                "elements": [
                    button(
                        "Approve",
                        action_id=ACTION_REMEDIATION_APPROVE,
                        value=proposal.id,
                        style="primary",
                    ),
                    button("Reject", action_id=ACTION_REMEDIATION_REJECT, value=proposal.id),
                ],
            }
        )
    text = truncate(
        f"Remediation {escape(proposal.action)} in {escape(proposal.environment)} "
        f"({status.value}, {risk} risk): {escape(proposal.dry_run)}",
        FALLBACK_TEXT_LIMIT,
    )
    return Message(text=text, blocks=blocks)


def reject_modal(*, proposal_id: str, channel: str, message_ts: str) -> View:
    """The Reject form: a required reason; where the proposal message is in private_metadata."""
    return {
        "type": "modal",
        "callback_id": VIEW_REMEDIATION_REJECT,
        "private_metadata": json.dumps(
            {"proposal_id": proposal_id, "channel": channel, "message_ts": message_ts}
        ),
        "title": plain("Reject remediation", limit=24),
        "submit": plain("Reject", limit=24),
        "close": plain("Cancel", limit=24),
        "blocks": [
            {
                "type": "input",
                "block_id": REJECT_BLOCK,
                "label": plain("Why reject it?"),
                "optional": False,
                "element": {
                    "type": "plain_text_input",
                    "action_id": REJECT_INPUT,
                    "multiline": True,
                    "min_length": 1,
                },
            }
        ],
    }
