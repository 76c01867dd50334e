"""Configuration models for the read-only integrations (composed by ``bot.config``)."""

from __future__ import annotations

from pydantic import BaseModel, Field, SecretStr


class HTTPIntegrationConfig(BaseModel):
    """Common knobs of an HTTP integration."""

    base_url: str | None = Field(default=None, description="Base URL; empty means not configured.")
    timeout_s: float = Field(default=10.0, gt=0, description="Per-request timeout in seconds.")
    verify_tls: bool = Field(default=True, description="Verify the server's TLS certificate.")

    @property
    def configured(self) -> bool:
        """Whether a base URL is set."""
        return bool(self.base_url)


class PrometheusConfig(HTTPIntegrationConfig):
    """Prometheus HTTP API (``/api/v1``)."""

    bearer_token: SecretStr | None = Field(default=None, description="Optional bearer token.")


class AlertmanagerConfig(HTTPIntegrationConfig):
    """Alertmanager API v2."""

    bearer_token: SecretStr | None = Field(default=None, description="Optional bearer token.")


class PagerDutyConfig(BaseModel):
    """PagerDuty REST API v2 and webhooks."""

    api_token: SecretStr | None = Field(default=None, description="REST API token.")
    base_url: str = Field(
        default="https://api.pagerduty.com", description="REST API base URL (https only)."
    )
    from_email: str | None = Field(
        default=None, description="Requester email for write calls (notes, acknowledge)."
    )
    webhook_secret: SecretStr | None = Field(
        default=None, description="Secret of the v3 webhook subscription (HMAC-SHA256)."
    )
    timeout_s: float = Field(default=10.0, gt=0, description="Per-request timeout in seconds.")
    ca_bundle: str | None = Field(
        default=None, description="Path of a CA bundle to trust (private CAs, tests)."
    )

    @property
    def configured(self) -> bool:
        """Whether an API token is set."""
        return self.api_token is not None and bool(self.api_token.get_secret_value())
