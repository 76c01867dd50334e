"""Configuration of scheduled jobs (composed by ``bot.config``)."""

from __future__ import annotations

from pydantic import BaseModel, Field


class JobsConfig(BaseModel):
    """Cron schedules (crontab syntax, UTC) of the scheduled jobs; the scheduler's metrics."""

    enabled: bool = Field(default=True, description="Run the scheduler inside `serve`.")
    forecast_cron: str = Field(default="*/30 * * * *", description="Capacity forecasts.")
    anomaly_cron: str = Field(default="*/5 * * * *", description="Anomaly detection.")
    digest_cron: str = Field(default="0 9 * * mon", description="Weekly insight digest.")
    retention_cron: str = Field(
        default="17 3 * * *",
        description="Retention: delete old dedupe keys and job runs (daily, at a quiet hour).",
    )
    processed_event_retention_days: int = Field(
        default=7,
        ge=1,
        description="Days a Slack event id or webhook replay key is kept; PagerDuty event ids "
        "and the message claims of live proposals are kept longer (docs/operations.md).",
    )
    job_run_retention_days: int = Field(
        default=90,
        ge=35,
        description="Days a job run row is kept (each job's latest run is always kept); at "
        "least 35, so a period that can still come due is never claimable again.",
    )
    timezone: str = Field(default="UTC", description="Timezone of the cron expressions.")
    metrics_port: int = Field(
        default=0,
        ge=0,
        le=65535,
        description="Port where `jobs serve` exposes its /metrics (0: no metrics server).",
    )
    metrics_host: str = Field(
        default="127.0.0.1",
        description="Address the `jobs serve` metrics server binds (0.0.0.0 in a container).",
    )


class CorrelationRule(BaseModel):
    """Alerts sharing these label values within the window belong to one incident.

    Rules are tried in order; the first whose labels are all present on the alert
    gives its correlation key (in the spirit of Alertmanager's ``group_by``).
    """

    group_by: list[str] = Field(description="Label names whose values must match.")
    window_s: float = Field(default=1800, gt=0, description="Max gap between related alerts.")


class RouteRule(BaseModel):
    """Send incidents whose labels match to a Slack channel."""

    match: dict[str, str] = Field(description="Label values that must all match (exact).")
    channel: str = Field(description="Slack channel id.")


class IncidentConfig(BaseModel):
    """Alert ingest, correlation, routing and notification pacing."""

    correlation: list[CorrelationRule] = Field(
        default_factory=lambda: [
            CorrelationRule(group_by=["cluster", "service"]),
            CorrelationRule(group_by=["service"]),
            CorrelationRule(group_by=["cluster", "namespace"]),
            CorrelationRule(group_by=["namespace"]),
            CorrelationRule(group_by=["alertname", "instance"]),
        ],
        description="Correlation rules, most specific first.",
    )
    routes: list[RouteRule] = Field(default_factory=list, description="Channel routing by labels.")
    notify_delay_s: float = Field(
        default=60.0,
        ge=0,
        description="Wait before the first Slack post, so flapping alerts that resolve "
        "at once never page a channel (like PagerDuty's auto-pause).",
    )
    update_interval_s: float = Field(
        default=30.0, ge=0, description="At most one in-place thread update per incident per this."
    )
    feed_interval_s: float = Field(
        default=2.0, gt=0, description="How often the serving process checks for thread updates."
    )
    auto_investigate: bool = Field(
        default=True, description="Start an investigation when an incident's thread is opened."
    )
    postmortem_on_resolve: bool = Field(
        default=False, description="Draft the post-mortem when an incident is resolved."
    )
    max_body_bytes: int = Field(default=1_048_576, gt=0, description="Largest webhook body.")
    replay_window_s: float = Field(
        default=300, gt=0, description="An identical webhook body within this window is a replay."
    )
