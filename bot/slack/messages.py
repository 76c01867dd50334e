"""User-facing texts of the Slack front-end (one place, so they read as one voice)."""

from __future__ import annotations

PLACEHOLDER = ":hourglass_flowing_sand: Looking into it…"
PLACEHOLDER_COMMAND = ":hourglass_flowing_sand: <@{user}> asked: {question}"

FAILED = (
    ":warning: Something went wrong while answering. The details are in the bot's log; "
    "try again, or run `sre-copilot chat` on the server to reproduce."
)

RENDER_FAILED = "Slack refused this answer's layout: the full answer is attached."
CONTINUED = "Continued in the next message ↓"
TRUNCATED = "The full answer did not fit in Slack messages: it is attached as `{filename}`."
ATTACHED = ":paperclip: {names} attached in this thread."

FEEDBACK_UP = ":thumbsup: Thanks — recorded that *{title}* looks right (net score {score:+d})."
FEEDBACK_DOWN = ":thumbsdown: Thanks — recorded that *{title}* looks wrong (net score {score:+d})."
HYPOTHESIS_GONE = "That hypothesis is no longer stored, so I can't record feedback on it."

ASK_EMPTY = "Type a question, e.g. _what's wrong with checkout?_"
NOT_IN_CHANNEL = (
    "I can't post in this channel: invite me with `/invite @SRE Copilot`, or ask me in a DM."
)
UNKNOWN_SUBCOMMAND = "I don't know `/sre {sub}`. Try `/sre help`."

SLASH_HELP_TITLE = "SRE Copilot — `/sre` commands"
SLASH_HELP = (
    ("/sre ask <question>", "investigate or answer in this channel (no text: opens a form)"),
    ("/sre status", "which integrations I can use right now (only you see it)"),
    ("/sre runbook <symptom>", "find the runbook for a symptom or alert"),
    ("/sre oncall", "who is on call now"),
    ("/sre incidents", "open incidents"),
    (
        "/sre incident ack|investigate|mitigate|resolve <id> [reason]",
        "move an incident forward (updates its thread)",
    ),
    ("/sre timeline <id>", "every event of an incident, with actor and time (only you see it)"),
    ("/sre postmortem <id>", "draft the post-mortem and post it to the incident's thread"),
    ("/sre help", "this message"),
)
SLASH_HELP_FOOTER = (
    "You can also mention me in a channel (`@SRE Copilot what's wrong with checkout?`), "
    "reply in my threads without mentioning me, or DM me."
)

HOME_TITLE = "SRE Copilot"
HOME_NO_INCIDENTS = ":white_check_mark: No open incidents."
HOME_NO_APPROVALS = "Nothing waiting for approval."
HOME_NO_DIGEST = "No weekly digest yet (scheduled `{cron}`)."

EVIDENCE_NONE = "No evidence was recorded for this hypothesis."

INCIDENT_USAGE = (
    "Usage: `/sre incident ack|investigate|mitigate|resolve <id> [reason]`, "
    "e.g. `/sre incident ack 42`."
)
TIMELINE_USAGE = "Usage: `/sre timeline <id>`, e.g. `/sre timeline 42`."
POSTMORTEM_USAGE = "Usage: `/sre postmortem <id>`, e.g. `/sre postmortem 42`."
BAD_INCIDENT_ID = "`{value}` is not an incident id (a number, like `42`)."
INCIDENT_REFUSED = ":no_entry: {reason}"
INCIDENT_MOVED = "{emoji} <@{user}> marked incident #{id} *{status}*{reason}"
INCIDENT_MOVED_EPHEMERAL = "Incident #{id} is now *{status}*."
POSTMORTEM_TITLE = "Post-mortem (draft) of incident #{id}"
POSTMORTEM_POSTED = ":memo: The post-mortem draft of incident #{id} is posted in <#{channel}>."
POSTMORTEM_NOWHERE = (
    "Incident #{id} has no Slack thread and this command came from nowhere I can post to."
)
POSTMORTEM_UPLOAD_FAILED = (
    ":warning: I drafted the post-mortem of incident #{id} (it is stored on its timeline) "
    "but Slack refused the upload: `{error}`."
)
TIMELINE_EMPTY = "No events recorded yet."

REMEDIATION_REFUSED = ":no_entry: Not done: {reason}"
REMEDIATION_UNAVAILABLE = "Remediation is not available in this deployment."
REMEDIATION_REJECTED = ":no_entry_sign: Rejected by <@{user}>: {reason}"
REJECT_EMPTY = "Say why (one line is enough)."
