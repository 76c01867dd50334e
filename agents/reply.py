"""The transport-neutral reply: what the bot says, before Slack or the console renders it.

Front-ends (``bot/slack/blocks.py``, ``bot/console.py``) turn a :class:`Reply`
into Block Kit or terminal text; nothing in here knows about either.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field


class Evidence(BaseModel):
    """One cited piece of evidence: where it came from and what it showed."""

    source: str = Field(description="Integration and address, e.g. 'prometheus http://...'.")
    summary: str = Field(description="What it showed, in plain language.")
    query: str | None = Field(default=None, description="Exact query (PromQL, API path...).")
    time_range: str | None = Field(default=None, description="Window looked at.")
    value: str | None = Field(default=None, description="The observed value, formatted.")


class HypothesisView(BaseModel):
    """A ranked explanation with a numeric confidence and its evidence."""

    title: str
    confidence: float = Field(ge=0.0, le=1.0)
    fault: str | None = None
    service: str | None = None
    rationale: str = ""
    evidence: list[Evidence] = Field(default_factory=list)
    id: int | None = Field(default=None, description="Stored hypothesis id (for feedback).")


class SuggestedAction(BaseModel):
    """A runbook step that a catalogue action can do (offered with a Propose button)."""

    action: str = Field(description="Catalogue name of the action.")
    params: dict[str, Any] = Field(default_factory=dict)
    environment: str | None = None
    command: str = Field(default="", description="The runbook text it came from.")


class RunbookRef(BaseModel):
    """A recommended runbook section."""

    title: str
    path: str
    section: str = ""
    score: float = 0.0
    snippet: str = ""
    actions: list[SuggestedAction] = Field(default_factory=list)


class Section(BaseModel):
    """A titled block of Markdown text."""

    title: str
    body: str


class SourceFailure(BaseModel):
    """A source that failed or timed out while answering."""

    source: str
    error: str


class Attachment(BaseModel):
    """A file to attach (chart PNG, post-mortem Markdown)."""

    filename: str
    title: str
    mimetype: str = "image/png"
    path: str


class Capability(BaseModel):
    """One integration and whether the bot can use it."""

    name: str
    state: str
    reason: str = ""


class ProposalRef(BaseModel):
    """A remediation proposal made while answering (pending a human decision)."""

    id: str = Field(description="Stored proposal id (the Approve / Reject value).")
    action: str = Field(description="Catalogue name of the action.")
    status: str = Field(description="Proposal status when the reply was built.")
    required_approvals: int = 0
    dry_run: str = Field(default="", description="What executing would change.")
    proposed_by: str = ""


class Reply(BaseModel):
    """Everything the bot answers to one message."""

    kind: Literal["answer", "help", "status", "error", "info"] = "answer"
    text: str = Field(description="Headline in Markdown; always present.")
    sections: list[Section] = Field(default_factory=list)
    hypotheses: list[HypothesisView] = Field(default_factory=list)
    runbooks: list[RunbookRef] = Field(default_factory=list)
    promql: list[str] = Field(default_factory=list)
    attachments: list[Attachment] = Field(default_factory=list)
    capabilities: list[Capability] = Field(default_factory=list)
    failed_sources: list[SourceFailure] = Field(default_factory=list)
    notes: list[str] = Field(default_factory=list)
    proposals: list[ProposalRef] = Field(
        default_factory=list, description="Remediation proposals made while answering."
    )
