"""Configuration of the reasoning layer (composed by ``bot.config``)."""

from __future__ import annotations

from pydantic import BaseModel, Field, SecretStr

# claude-sonnet-4-5 reaches end of life on 2026-11-30 (DESIGN.md); default to a
# current id, overridable by SRE_COPILOT_LLM__MODEL.
DEFAULT_MODEL = "claude-sonnet-4-6"


class LLMConfig(BaseModel):
    """Anthropic Claude. Optional: with no key the deterministic analyst answers."""

    api_key: SecretStr | None = Field(default=None, description="Anthropic API key.")
    base_url: str | None = Field(default=None, description="Override the Anthropic API URL.")
    model: str = Field(default=DEFAULT_MODEL, description="Claude model id.")
    max_tokens: int = Field(default=2048, ge=64, le=64000, description="Max output tokens.")
    max_steps: int = Field(default=6, ge=1, le=30, description="Tool-calling steps per turn.")
    timeout_s: float = Field(default=60.0, gt=0, description="Per-request timeout in seconds.")
    propose_remediation: bool = Field(
        default=False,
        description="Offer Claude the propose_remediation tool (it only creates proposals "
        "that wait for human approval; it never executes).",
    )

    @property
    def configured(self) -> bool:
        """Whether an API key is set."""
        return self.api_key is not None and bool(self.api_key.get_secret_value())


class AgentConfig(BaseModel):
    """Budgets of the investigation graph."""

    tool_deadline_s: float = Field(default=8.0, gt=0, description="Deadline of one tool call.")
    total_budget_s: float = Field(default=20.0, gt=0, description="Budget of one investigation.")
