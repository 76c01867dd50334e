"""Argument models of the Prometheus tools (their JSON schemas are what the LLM sees).

Times accept RFC 3339, unix seconds or ``now-1h`` and are checked here for syntax only;
relative times are resolved against the integration's clock when the tool runs.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from tools.prometheus_time import parse_duration, parse_time, utc_now

__all__ = [
    "ListLabelValuesArgs",
    "ListLabelsArgs",
    "ListMetricsArgs",
    "ListPrometheusAlertsArgs",
    "ListRulesArgs",
    "ListTargetsArgs",
    "QueryInstantArgs",
    "QueryRangeArgs",
    "TimeArg",
]

_TIME_HELP = "RFC 3339 (2026-01-10T03:00:00Z), unix seconds, or relative like 'now' or 'now-1h'"
_MATCH_HELP = "Series selectors to restrict the answer, e.g. ['http_requests_total{job=\"api\"}']"

TimeArg = str | float
"""A time argument: RFC 3339 text, unix seconds, or relative like ``now-1h``."""


def _valid_time(value: TimeArg | None) -> TimeArg | None:
    if value is not None:
        parse_time(value, now=utc_now())  # syntax check only; resolved when the tool runs
    return value


class _Args(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class _WindowArgs(_Args):
    match: list[str] = Field(default_factory=list, description=_MATCH_HELP)
    start: TimeArg | None = Field(default=None, description=f"Window start: {_TIME_HELP}.")
    end: TimeArg | None = Field(default=None, description=f"Window end: {_TIME_HELP}.")

    _check_times = field_validator("start", "end")(_valid_time)


class QueryInstantArgs(_Args):
    """Arguments of ``prometheus_query_instant``."""

    query: str = Field(min_length=1, description="PromQL expression to evaluate.")
    time: TimeArg = Field(default="now", description=f"Evaluation time: {_TIME_HELP}.")
    max_series: int = Field(default=20, ge=1, le=1000, description="Series to return at most.")

    _check_time = field_validator("time")(_valid_time)


class QueryRangeArgs(_Args):
    """Arguments of ``prometheus_query_range``."""

    query: str = Field(min_length=1, description="PromQL expression to evaluate.")
    start: TimeArg = Field(default="now-1h", description=f"Range start: {_TIME_HELP}.")
    end: TimeArg = Field(default="now", description=f"Range end: {_TIME_HELP}.")
    step: str | float | None = Field(
        default=None,
        description="Resolution, e.g. '60s', '5m' or seconds. Default: about 250 points. "
        "Raised automatically to stay under Prometheus's 11,000 points per series.",
    )
    max_series: int = Field(default=10, ge=1, le=500, description="Series to return at most.")

    _check_times = field_validator("start", "end")(_valid_time)

    @field_validator("step")
    @classmethod
    def _check_step(cls, value: str | float | None) -> str | float | None:
        if value is not None and parse_duration(value).total_seconds() <= 0:
            raise ValueError("step must be positive")
        return value


class ListMetricsArgs(_WindowArgs):
    """Arguments of ``prometheus_list_metrics``."""

    contains: str | None = Field(
        default=None, description="Keep names containing this text (case-insensitive)."
    )
    limit: int = Field(default=200, ge=1, le=10000, description="Names to return at most.")


class ListLabelsArgs(_WindowArgs):
    """Arguments of ``prometheus_list_labels``."""


class ListLabelValuesArgs(_WindowArgs):
    """Arguments of ``prometheus_list_label_values``."""

    label: str = Field(
        pattern=r"^[a-zA-Z_][a-zA-Z0-9_]*$", description="Label name, e.g. 'service' or 'job'."
    )
    limit: int = Field(default=200, ge=1, le=10000, description="Values to return at most.")


class ListPrometheusAlertsArgs(_Args):
    """Arguments of ``prometheus_list_alerts``."""

    state: Literal["firing", "pending", "any"] = Field(
        default="any", description="Keep only alerts in this state."
    )


class ListRulesArgs(_Args):
    """Arguments of ``prometheus_list_rules``."""

    type: Literal["alert", "record", "any"] = Field(
        default="any", description="Alerting rules, recording rules, or both."
    )
    only_unhealthy: bool = Field(default=False, description="Keep only rules failing to evaluate.")


class ListTargetsArgs(_Args):
    """Arguments of ``prometheus_list_targets``."""

    state: Literal["active", "dropped", "any"] = Field(
        default="active", description="Active (scraped) targets, dropped ones, or both."
    )
    only_unhealthy: bool = Field(default=False, description="Keep only targets that are not up.")
