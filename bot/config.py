"""Settings: the one typed object built from the environment (and ``.env``).

This is the only module that reads the environment. Every variable is named
``SRE_COPILOT_<SECTION>__<FIELD>`` (nested delimiter ``__``), e.g.
``SRE_COPILOT_PROMETHEUS__BASE_URL`` or ``SRE_COPILOT_DATABASE__URL``. Each layer
owns the config models of its section; this module composes them.

``load_settings()`` turns pydantic's validation errors into a :class:`ConfigError`
whose message is one line per bad variable, naming it and what is expected.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, SecretStr, ValidationError, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict, SettingsError

from agents.config import AgentConfig, LLMConfig
from jobs.config import IncidentConfig, JobsConfig
from memory.config import DatabaseConfig, VectorStoreConfig
from memory.errors import ConfigError
from tools.config import (
    AlertmanagerConfig,
    KubernetesConfig,
    PagerDutyConfig,
    PrometheusConfig,
    RemediationWebhookConfig,
)

ENV_PREFIX = "SRE_COPILOT_"
NESTED_DELIMITER = "__"

# Values people paste from examples; refused outside development.
PLACEHOLDER_SECRETS = frozenset({"changeme", "change-me", "xoxb-your-token", "secret", "todo"})


class SlackConfig(BaseModel):
    """Slack app credentials (HTTP mode needs bot token + signing secret)."""

    bot_token: SecretStr | None = Field(default=None, description="Bot token (xoxb-...).")
    signing_secret: SecretStr | None = Field(
        default=None, description="Signing secret used to verify requests from Slack."
    )
    app_token: SecretStr | None = Field(
        default=None, description="App-level token (xapp-...) for Socket Mode."
    )
    api_base_url: str | None = Field(
        default=None, description="Override the Slack Web API URL (tests, proxies)."
    )
    default_channel: str | None = Field(
        default=None, description="Channel id for notifications without a routed channel."
    )
    client_id: str | None = Field(
        default=None, description="OAuth client id (multi-workspace installs from /slack/install)."
    )
    client_secret: SecretStr | None = Field(
        default=None, description="OAuth client secret (multi-workspace installs)."
    )
    state_secret: SecretStr | None = Field(
        default=None,
        description="Key signing the OAuth state parameter (defaults to the client secret).",
    )
    redirect_url: str | None = Field(
        default=None,
        description="OAuth redirect URL registered in the app (https://HOST/slack/oauth_redirect).",
    )
    workers: int = Field(
        default=16, ge=1, le=256, description="Slack jobs run at once per lane (the rest queue)."
    )

    @property
    def configured(self) -> bool:
        """Whether a bot token and a signing secret are both set."""
        return bool(self.bot_token and self.signing_secret)


class WebhookConfig(BaseModel):
    """Authentication of inbound webhooks (PagerDuty's secret lives in ``pagerduty``)."""

    alertmanager_token: SecretStr | None = Field(
        default=None,
        description="Bearer token Alertmanager sends (http_config.authorization.credentials).",
    )
    alertmanager_basic_user: str | None = Field(
        default=None, description="Basic-auth user Alertmanager sends (http_config.basic_auth)."
    )
    alertmanager_basic_password: SecretStr | None = Field(
        default=None, description="Basic-auth password Alertmanager sends."
    )
    allow_unauthenticated: bool = Field(
        default=False,
        description="Accept webhooks without credentials (only on a trusted network).",
    )


class WebConfig(BaseModel):
    """The ASGI server of ``sre-copilot serve``."""

    host: str = Field(default="127.0.0.1", description="Address to bind.")
    port: int = Field(default=8080, ge=1, le=65535, description="Port to bind.")


class Settings(BaseSettings):
    """Root settings of SRE Copilot."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_nested_delimiter=NESTED_DELIMITER,
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        validate_default=True,
    )

    environment: Literal["dev", "test", "production"] = Field(
        default="dev", description="dev and test allow placeholder secrets; production refuses."
    )
    data_dir: Path = Field(
        default=Path(".sre-copilot"),
        description="Directory for the SQLite database, Chroma files and drafts.",
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        default="INFO", description="Log level."
    )
    log_format: Literal["text", "json"] = Field(
        default="text",
        description="Log line format of `serve`: text for a terminal, json (one object per "
        "line with request_id, conversation_id and workspace_id) recommended in production.",
    )
    workspace_id: str = Field(
        default="local",
        min_length=1,
        description="Workspace (Slack team id) used by the console and jobs in single-team mode.",
    )

    database: DatabaseConfig = Field(default_factory=DatabaseConfig)
    vector_store: VectorStoreConfig = Field(default_factory=VectorStoreConfig)
    prometheus: PrometheusConfig = Field(default_factory=PrometheusConfig)
    alertmanager: AlertmanagerConfig = Field(default_factory=AlertmanagerConfig)
    pagerduty: PagerDutyConfig = Field(default_factory=PagerDutyConfig)
    llm: LLMConfig = Field(default_factory=LLMConfig)
    agent: AgentConfig = Field(default_factory=AgentConfig)
    slack: SlackConfig = Field(default_factory=SlackConfig)
    web: WebConfig = Field(default_factory=WebConfig)
    jobs: JobsConfig = Field(default_factory=JobsConfig)
    webhooks: WebhookConfig = Field(default_factory=WebhookConfig)
    remediation_policy: Path | None = Field(
        default=None,
        description="Remediation policy YAML (autonomy levels, approvers); default: one "
        "approval from anyone but the proposer, 30 min expiry.",
    )
    incidents: IncidentConfig = Field(default_factory=IncidentConfig)
    kubernetes: KubernetesConfig = Field(
        default_factory=KubernetesConfig,
        description="Kubernetes API server for the Deployment remediation actions.",
    )
    remediation_webhooks: dict[str, RemediationWebhookConfig] = Field(
        default_factory=dict,
        description="Allow-listed webhooks for the webhook.trigger action, name → url and "
        "secret, e.g. SRE_COPILOT_REMEDIATION_WEBHOOKS__DISK_CLEANUP__URL and "
        "..._SECRET (names are lower-cased), or the whole mapping as JSON.",
    )

    @model_validator(mode="after")
    def _refuse_placeholders(self) -> Settings:
        if self.environment != "production":
            return self
        for section, key, secret in self._secrets():
            if secret is not None and secret.get_secret_value().strip().lower() in (
                PLACEHOLDER_SECRETS
            ):
                raise ValueError(f"{section}.{key}: a placeholder secret is not allowed here")
        return self

    def _secrets(self) -> list[tuple[str, str, SecretStr | None]]:
        return [
            ("slack", "bot_token", self.slack.bot_token),
            ("slack", "signing_secret", self.slack.signing_secret),
            ("slack", "app_token", self.slack.app_token),
            ("slack", "client_secret", self.slack.client_secret),
            ("slack", "state_secret", self.slack.state_secret),
            ("llm", "api_key", self.llm.api_key),
            ("pagerduty", "api_token", self.pagerduty.api_token),
            ("pagerduty", "webhook_secret", self.pagerduty.webhook_secret),
            ("webhooks", "alertmanager_token", self.webhooks.alertmanager_token),
            ("kubernetes", "bearer_token", self.kubernetes.bearer_token),
        ] + [
            ("remediation_webhooks", f"{name}.secret", hook.secret)
            for name, hook in sorted(self.remediation_webhooks.items())
        ]

    @property
    def database_url(self) -> str:
        """The database URL actually used (SQLite in ``data_dir`` by default)."""
        return self.database.resolved_url(self.data_dir)

    @property
    def chroma_path(self) -> Path:
        """Local Chroma directory."""
        return self.vector_store.path or self.data_dir / "chroma"


def env_name(loc: tuple[int | str, ...]) -> str:
    """Map a pydantic error location to the environment variable a user sets."""
    return ENV_PREFIX + NESTED_DELIMITER.join(str(p).upper() for p in loc)


def load_settings(**overrides: Any) -> Settings:
    """Build :class:`Settings` from the environment, ``.env`` and ``overrides``.

    Raises:
        ConfigError: one line per invalid variable, naming it and what is expected.
    """
    try:
        return Settings(**overrides)
    except SettingsError as exc:  # a complex value (JSON) that does not parse
        field = re.search(r'field "([^"]+)"', str(exc))
        where = env_name((field.group(1),)) if field else "a setting"
        raise ConfigError(f"{where}: not valid JSON ({exc})") from None
    except ValidationError as exc:
        lines = []
        for err in exc.errors():
            loc = tuple(err["loc"])
            msg = err["msg"].removeprefix("Value error, ")
            # model-level validators report the field inside the message ("slack.bot_token: ...")
            if not loc and ":" in msg:
                head, _, msg = msg.partition(":")
                loc = tuple(head.strip().split("."))
            value = err.get("input")
            shown = "" if isinstance(value, dict) or "secret" in str(loc) else f" (got {value!r})"
            lines.append(f"{env_name(loc)}: {msg.strip()}{shown}")
        raise ConfigError("; ".join(lines)) from None


def settings_env_snapshot() -> dict[str, str]:
    """The ``SRE_COPILOT_*`` variables currently set, secrets masked (for ``doctor``)."""
    out = {}
    for key, value in sorted(os.environ.items()):
        if key.startswith(ENV_PREFIX):
            secret = any(w in key for w in ("TOKEN", "SECRET", "KEY", "PASSWORD"))
            out[key] = "***" if secret else value
    return out
