"""User-facing texts of the CLI and the console (one place, so they read as one voice)."""

from __future__ import annotations

HELP = """\
I'm SRE Copilot. Ask me about production in plain language, or use a command:

  help                       this message
  status                     which integrations I can use right now
  history                    what we said in this conversation
  what's wrong with <svc>?   investigate a service, alert or incident
  runbook <text>             find the runbook for a symptom or alert
  oncall / incidents         who is on call, what is open

Console only: /new starts a new conversation, /quit leaves."""

NO_AGENT = (
    "I can't investigate yet: the investigation agent is not enabled in this build. "
    "Type `help` for what I can do, or `status` for the integrations I see."
)

STATUS_HEADLINE = "Integrations I can use:"

CONSOLE_BANNER = (
    "SRE Copilot console. Conversation {key!r} ({turns} earlier turns). "
    "Type 'help', or /quit to leave."
)

SERVE_MISSING = "{what} not configured: {hint}"
