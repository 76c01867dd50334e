"""Configuration models for the read-only integrations (composed by ``bot.config``)."""

from __future__ import annotations

import json
from typing import Annotated

from pydantic import BaseModel, Field, SecretStr, field_validator
from pydantic_settings import NoDecode


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


class KubernetesConfig(BaseModel):
    """Kubernetes API server for the Deployment actions (scale, rollout restart)."""

    host: str | None = Field(
        default=None,
        description="API server URL, e.g. https://10.0.0.1:6443; empty means the Kubernetes "
        "actions are off.",
    )
    bearer_token: SecretStr | None = Field(
        default=None, description="Service-account bearer token the actions authenticate with."
    )
    ca_bundle: str | None = Field(
        default=None, description="Path of the cluster CA certificate (PEM) to trust."
    )
    verify_tls: bool = Field(
        default=True, description="Verify the API server's certificate (keep on outside tests)."
    )
    namespaces: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description='Namespaces the actions may touch, as JSON (["shop", "web"]) or '
        "comma-separated; empty allows every namespace the token may reach.",
    )
    timeout_s: float = Field(default=10.0, gt=0, description="Per-request timeout in seconds.")

    @field_validator("host")
    @classmethod
    def _check_host(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        if not value.strip().startswith(("https://", "http://")):
            raise ValueError("must be an http(s) URL such as https://10.0.0.1:6443")
        return value.strip().rstrip("/")

    @field_validator("namespaces", mode="before")
    @classmethod
    def _split_namespaces(cls, value: object) -> object:
        if isinstance(value, str):
            if value.strip().startswith("["):
                try:
                    return json.loads(value)
                except ValueError:
                    raise ValueError('must be a JSON list (["shop"]) or comma-separated') from None
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @property
    def configured(self) -> bool:
        """Whether an API server URL is set."""
        return bool(self.host)


class RemediationWebhookConfig(BaseModel):
    """One allow-listed webhook the ``webhook.trigger`` action may POST to (signed)."""

    url: str = Field(description="http(s) URL the signed JSON payload is POSTed to.")
    secret: SecretStr = Field(
        description="HMAC-SHA256 key; the receiver checks the X-Copilot-Signature header."
    )

    @field_validator("url")
    @classmethod
    def _check_url(cls, value: str) -> str:
        if not value.startswith(("https://", "http://")):
            raise ValueError("must be an http(s) URL")
        return value

    @field_validator("secret")
    @classmethod
    def _check_secret(cls, value: SecretStr) -> SecretStr:
        if not value.get_secret_value().strip():
            raise ValueError("must not be empty (the payload is signed with it)")
        return value
