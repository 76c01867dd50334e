"""Alertmanager integration (API v2): alert and silence tools.

:class:`AlertmanagerIntegration` owns one
:class:`~tools.alertmanager_client.AlertmanagerClient` and exposes four tools:

* read-only: ``alertmanager_list_alerts``, ``alertmanager_list_silences``;
* mutating (``mutating=True``): ``alertmanager_create_silence``,
  ``alertmanager_expire_silence``. The registry never runs these directly and never gives
  them to the LLM; they run only through an approved remediation proposal.

Results carry ``source`` (``alertmanager <base URL>``) and ``query`` (the API call with
its filters); upstream trouble is an error result naming the URL, status and message.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import httpx
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from memory.errors import ConfigError, IntegrationError
from tools.alertmanager_client import (
    AlertmanagerAlert,
    AlertmanagerClient,
    Matcher,
    Silence,
    as_matchers,
)
from tools.base import Health, HealthState, TimeRange, Tool, ToolResult, ToolStatus
from tools.config import AlertmanagerConfig
from tools.http import describe_source, error_result
from tools.prometheus_time import parse_duration, parse_time, utc_now

__all__ = [
    "AlertmanagerAlert",
    "AlertmanagerClient",
    "AlertmanagerIntegration",
    "CreateSilenceArgs",
    "ExpireSilenceArgs",
    "ListAlertsArgs",
    "ListSilencesArgs",
    "Matcher",
    "Silence",
]

logger = logging.getLogger(__name__)

HEALTH_TIMEOUT_S = 5.0
_FILTER_HELP = (
    "Label matchers that must all match, e.g. ['service=\"checkout\"', 'severity=~\"crit.*\"']"
)
_TIME_HELP = "RFC 3339 (2026-01-10T03:00:00Z), unix seconds, or relative like 'now+2h'"


def _valid_matchers(value: list[str]) -> list[str]:
    return [str(m) for m in as_matchers(value)]


class _Args(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ListAlertsArgs(_Args):
    """Arguments of ``alertmanager_list_alerts``."""

    filters: list[str] = Field(default_factory=list, description=_FILTER_HELP)
    active: bool = Field(default=True, description="Include active (notifying) alerts.")
    silenced: bool = Field(default=True, description="Include alerts muted by a silence.")
    inhibited: bool = Field(default=True, description="Include alerts inhibited by another.")
    receiver: str | None = Field(default=None, description="Regex on the receiver name.")
    limit: int = Field(default=50, ge=1, le=1000, description="Alerts to return at most.")

    _check_filters = field_validator("filters")(_valid_matchers)


class ListSilencesArgs(_Args):
    """Arguments of ``alertmanager_list_silences``."""

    filters: list[str] = Field(default_factory=list, description=_FILTER_HELP)
    include_expired: bool = Field(default=False, description="Also list expired silences.")
    limit: int = Field(default=50, ge=1, le=1000, description="Silences to return at most.")

    _check_filters = field_validator("filters")(_valid_matchers)


class CreateSilenceArgs(_Args):
    """Arguments of ``alertmanager_create_silence``."""

    matchers: list[str] = Field(min_length=1, description=_FILTER_HELP)
    duration: str | float = Field(
        default="1h", description="How long, e.g. '30m', '2h' (ignored when ends_at is set)."
    )
    starts_at: str | float | None = Field(
        default=None, description=f"Start (default now): {_TIME_HELP}."
    )
    ends_at: str | float | None = Field(default=None, description=f"End: {_TIME_HELP}.")
    created_by: str = Field(min_length=1, description="Who asks for the silence.")
    comment: str = Field(min_length=1, description="Why (ticket, incident, change).")

    _check_matchers = field_validator("matchers")(_valid_matchers)

    @model_validator(mode="after")
    def _check_times(self) -> CreateSilenceArgs:
        now = utc_now()
        for value in (self.starts_at, self.ends_at):
            if value is not None:
                parse_time(value, now=now)
        if parse_duration(self.duration) <= timedelta(0) and self.ends_at is None:
            raise ValueError("duration must be positive")
        return self


class ExpireSilenceArgs(_Args):
    """Arguments of ``alertmanager_expire_silence``."""

    silence_id: str = Field(min_length=1, description="Id of the silence to expire.")


class AlertmanagerIntegration:
    """Alertmanager as tools (two read-only, two mutating), plus its typed client.

    Args:
        config: Base URL, timeout, TLS verification and optional bearer token.
        transport: Optional httpx transport (``httpx.MockTransport`` in unit tests).
        clock: What "now" is, for silence windows (aware UTC; injectable for tests).
    """

    name = "alertmanager"

    def __init__(
        self,
        config: AlertmanagerConfig,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self._config = config
        self._clock = clock
        self._client = (
            AlertmanagerClient(config, transport=transport) if config.configured else None
        )
        self.source = describe_source(self.name, config.base_url)
        read_only: list[tuple[Any, type[BaseModel]]] = [
            (self.alertmanager_list_alerts, ListAlertsArgs),
            (self.alertmanager_list_silences, ListSilencesArgs),
        ]
        mutating: list[tuple[Any, type[BaseModel]]] = [
            (self.alertmanager_create_silence, CreateSilenceArgs),
            (self.alertmanager_expire_silence, ExpireSilenceArgs),
        ]
        self._tools: list[Tool[Any]] = [
            Tool.define(
                func,
                args_model=model,
                integration=self.name,
                name=func.__name__,
                mutating=is_mutating,
            )
            for group, is_mutating in ((read_only, False), (mutating, True))
            for func, model in group
        ]

    @property
    def configured(self) -> bool:
        """Whether a base URL is set."""
        return self._client is not None

    @property
    def client(self) -> AlertmanagerClient:
        """The typed client (for jobs and the remediation catalogue).

        Raises:
            ConfigError: No base URL is configured.
        """
        if self._client is None:
            raise ConfigError(
                "Alertmanager is not configured: set SRE_COPILOT_ALERTMANAGER__BASE_URL"
            )
        return self._client

    def tools(self) -> list[Tool[Any]]:
        """The Alertmanager tools (list alerts/silences; create/expire silence are mutating)."""
        return list(self._tools)

    async def aclose(self) -> None:
        """Close the HTTP connection pool."""
        if self._client is not None:
            await self._client.aclose()

    async def health(self) -> Health:
        """Probe ``/api/v2/status`` within 5 s."""
        if self._client is None:
            return Health(
                integration=self.name, state=HealthState.NOT_CONFIGURED, reason="no base URL set"
            )
        try:
            status = await self._client.status(
                timeout_s=min(self._config.timeout_s, HEALTH_TIMEOUT_S)
            )
        except IntegrationError as exc:
            return Health(integration=self.name, state=HealthState.UNHEALTHY, reason=str(exc))
        reason = f"Alertmanager {status.version} at {self._client.base_url}"
        return Health(integration=self.name, state=HealthState.HEALTHY, reason=reason)

    def _require(self) -> AlertmanagerClient:
        if self._client is None:
            raise IntegrationError("Alertmanager is not configured (no base URL)")
        return self._client

    def _result(self, tool: str, **fields: Any) -> ToolResult:
        return ToolResult(tool=tool, source=self.source, **fields)

    async def alertmanager_list_alerts(self, args: ListAlertsArgs) -> ToolResult:
        """List alerts held by Alertmanager, with labels, annotations, state and start time.

        Use it first when asked what is firing or alerting for a service. State is
        active (notifying), suppressed (silenced or inhibited; see silenced_by /
        inhibited_by) or unprocessed. Filter with label matchers such as
        service="checkout".
        """
        tool = "alertmanager_list_alerts"
        query = (
            f"GET /api/v2/alerts filter={args.filters} active={args.active} "
            f"silenced={args.silenced} inhibited={args.inhibited}"
            + (f" receiver={args.receiver}" if args.receiver else "")
        )
        try:
            alerts = await self._require().alerts(
                filters=args.filters,
                active=args.active,
                silenced=args.silenced,
                inhibited=args.inhibited,
                receiver=args.receiver,
            )
        except IntegrationError as exc:
            return error_result(tool=tool, exc=exc, source=self.source, query=query)
        if not alerts:
            return self._result(
                tool, status=ToolStatus.NO_DATA, query=query, error=f"no alerts match {query}"
            )
        by_state: dict[str, int] = {}
        for alert in alerts:
            by_state[alert.state] = by_state.get(alert.state, 0) + 1
        data = {
            "alerts": [a.model_dump(mode="json") for a in alerts[: args.limit]],
            "total": len(alerts),
            "truncated": len(alerts) > args.limit,
            "by_state": by_state,
        }
        return self._result(tool, status=ToolStatus.OK, query=query, data=data)

    async def alertmanager_list_silences(self, args: ListSilencesArgs) -> ToolResult:
        """List silences (active and pending; expired ones on request) with matchers and author.

        Use it to explain why an alert is not notifying, or to check whether someone already
        silenced a noisy alert.
        """
        tool = "alertmanager_list_silences"
        query = f"GET /api/v2/silences filter={args.filters}"
        if args.include_expired:
            query += " include_expired=True"
        try:
            silences = await self._require().silences(filters=args.filters)
        except IntegrationError as exc:
            return error_result(tool=tool, exc=exc, source=self.source, query=query)
        if not args.include_expired:
            silences = [s for s in silences if s.state != "expired"]
        if not silences:
            return self._result(
                tool, status=ToolStatus.NO_DATA, query=query, error=f"no silences match {query}"
            )
        data = {
            "silences": [_silence_dict(s) for s in silences[: args.limit]],
            "total": len(silences),
            "truncated": len(silences) > args.limit,
        }
        return self._result(tool, status=ToolStatus.OK, query=query, data=data)

    async def alertmanager_create_silence(self, args: CreateSilenceArgs) -> ToolResult:
        """Silence alerts matching every matcher for a while. Mutating: needs an approval.

        Returns the new silence's id and window. Runs only through an approved remediation
        proposal, never directly from a conversation.
        """
        tool = "alertmanager_create_silence"
        now = self._clock()
        starts_at = parse_time(args.starts_at, now=now) if args.starts_at is not None else now
        if args.ends_at is not None:
            ends_at = parse_time(args.ends_at, now=now)
        else:
            ends_at = starts_at + parse_duration(args.duration)
        window = TimeRange(start=starts_at, end=ends_at)
        query = f"POST /api/v2/silences matchers={args.matchers}"
        if ends_at <= starts_at:
            return self._result(
                tool,
                status=ToolStatus.ERROR,
                query=query,
                time_range=window,
                error=f"invalid window: end {ends_at.isoformat()} is not after start",
            )
        try:
            silence_id = await self._require().create_silence(
                matchers=args.matchers,
                starts_at=starts_at,
                ends_at=ends_at,
                created_by=args.created_by,
                comment=args.comment,
            )
        except IntegrationError as exc:
            return error_result(
                tool=tool, exc=exc, source=self.source, query=query, time_range=window
            )
        data = {
            "silence_id": silence_id,
            "matchers": args.matchers,
            "url": f"{self._require().base_url.rstrip('/')}/#/silences/{silence_id}",
        }
        return self._result(tool, status=ToolStatus.OK, query=query, time_range=window, data=data)

    async def alertmanager_expire_silence(self, args: ExpireSilenceArgs) -> ToolResult:
        """Expire (end now) a silence by id. Mutating: needs an approval.

        Alerts it muted notify again at their next evaluation.
        """
        tool = "alertmanager_expire_silence"
        query = f"DELETE /api/v2/silence/{args.silence_id}"
        try:
            await self._require().expire_silence(args.silence_id)
        except IntegrationError as exc:
            return error_result(tool=tool, exc=exc, source=self.source, query=query)
        data = {"silence_id": args.silence_id, "state": "expired"}
        return self._result(tool, status=ToolStatus.OK, query=query, data=data)


def _silence_dict(silence: Silence) -> dict[str, Any]:
    data = silence.model_dump(mode="json", exclude={"matchers"})
    data["matchers"] = [str(m) for m in silence.matchers]
    return data
