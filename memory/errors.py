"""The one exception tree of SRE Copilot.

It lives in ``memory`` because that is the bottom layer: every other package may
import it without breaking the one-way import rule (bot → jobs → agents → tools
→ memory).

::

    CopilotError                    base of everything we raise on purpose
    ├── ConfigError                 a setting is missing, malformed or inconsistent
    ├── StorageError                the database or vector store cannot be used
    │   ├── DatabaseUnavailable     cannot connect / file locked / directory unwritable
    │   └── SchemaMismatch          the database is at a migration the code does not know
    ├── IntegrationError            an upstream system misbehaved
    │   ├── UpstreamTimeout         no answer within the deadline
    │   └── UpstreamHTTPError       an HTTP error status from upstream
    ├── ToolInputError              tool arguments failed validation
    ├── ApprovalError               a remediation decision was refused
    └── InvalidTransition           a state machine refused a transition

Errors are caught at the boundaries only (CLI command, Slack listener, job
wrapper, tool wrapper), logged with context, and turned into one short line for
the user. Each error's ``str()`` is that line: it names the cause and what to do.
"""

from __future__ import annotations


class CopilotError(Exception):
    """Base class for every error SRE Copilot raises deliberately."""


class ConfigError(CopilotError):
    """A setting is missing, malformed or inconsistent."""


class StorageError(CopilotError):
    """The database or the vector store cannot be used."""


class DatabaseUnavailable(StorageError):
    """The database cannot be reached, opened or written."""


class SchemaMismatch(StorageError):
    """The database schema is at a revision this code does not know (or is behind)."""


class IntegrationError(CopilotError):
    """An upstream system (Prometheus, Slack, PagerDuty, ...) misbehaved."""


class UpstreamTimeout(IntegrationError):
    """The upstream did not answer within the deadline."""


class UpstreamHTTPError(IntegrationError):
    """The upstream answered with an HTTP error status."""

    def __init__(self, message: str, *, status_code: int) -> None:
        super().__init__(message)
        self.status_code = status_code


class ToolInputError(CopilotError):
    """Tool arguments failed validation."""


class ApprovalError(CopilotError):
    """A remediation approval or rejection was refused."""


class InvalidTransition(CopilotError):
    """A state machine refused a transition (incident or proposal)."""
