"""PagerDuty: read-only incident tools, one approved-only note writer, webhook signatures.

The REST API is reached through the maintained ``pagerduty`` client
(:class:`pagerduty.RestApiV2Client`, the successor of ``pdpyras``). It is synchronous,
so :class:`PagerDutyClient` runs each call in a worker thread with
:func:`asyncio.to_thread`; pagination (``iter_all``), entity wrapping (``rget`` /
``rpost``) and retries stay the library's. Two things are tuned on top of it:

* Retries are bounded. The library retries HTTP 429 forever with its own exponential
  backoff and ignores ``Retry-After``; here 429 is retried ``max_rate_limit_retries``
  times and each wait follows the server's ``Retry-After`` (capped). Network errors are
  retried ``max_network_retries`` times.
* Errors are translated into the project's exception tree (``memory.errors``) with
  one-line messages naming the request, the base URL and the HTTP status; the tools
  turn those into :class:`~tools.base.ToolResult` errors and never raise.

Webhooks (v3) are checked with :func:`verify_webhook_signature`.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field

from memory.errors import CopilotError, UpstreamHTTPError
from tools.base import Health, HealthState, TimeRange, Tool, ToolResult, ToolStatus
from tools.config import PagerDutyConfig
from tools.pagerduty_client import (
    Json,
    PagerDutyClient,
    _window,
    change_events_request,
    compact_alert,
    compact_change_event,
    compact_incident,
    compact_log_entry,
    compact_note,
    compact_oncall,
    compact_service,
    describe_request,
    incidents_request,
    oncalls_request,
)

__all__ = [
    "AddNoteArgs",
    "GetIncidentArgs",
    "Json",
    "ListChangeEventsArgs",
    "ListIncidentAlertsArgs",
    "ListIncidentsArgs",
    "ListLogEntriesArgs",
    "ListNotesArgs",
    "ListOncallsArgs",
    "ListServicesArgs",
    "PagerDutyClient",
    "PagerDutyIntegration",
    "WEBHOOK_SIGNATURE_HEADER",
    "change_events_request",
    "compact_alert",
    "compact_change_event",
    "compact_incident",
    "compact_log_entry",
    "compact_note",
    "compact_oncall",
    "compact_service",
    "describe_request",
    "incidents_request",
    "oncalls_request",
    "verify_webhook_signature",
]

WEBHOOK_SIGNATURE_HEADER = "X-PagerDuty-Signature"
"""Header carrying ``v1=<hex HMAC-SHA256>`` signatures of a v3 webhook body."""

_ID = r"^[A-Za-z0-9]{1,40}$"  # PagerDuty object ids; also keeps ids from rewriting paths


# --------------------------------------------------------------------------- tool arguments


IncidentId = Annotated[str, Field(pattern=_ID, description="PagerDuty incident id, e.g. PABC123.")]
Since = Annotated[
    datetime | None, Field(description="Start of the window (ISO 8601, UTC if no offset).")
]
Until = Annotated[
    datetime | None, Field(description="End of the window (ISO 8601, UTC if no offset).")
]


class ListIncidentsArgs(BaseModel):
    """Arguments of ``pagerduty_list_incidents``."""

    statuses: list[Literal["triggered", "acknowledged", "resolved"]] = Field(
        default=["triggered", "acknowledged"],
        description="Statuses to include; empty means all. Default: open incidents.",
    )
    service_ids: list[str] = Field(default=[], description="Only these service ids.")
    since: Since = None
    until: Until = None
    limit: int = Field(default=25, ge=1, le=100, description="Most incidents to return.")


class GetIncidentArgs(BaseModel):
    """Arguments of ``pagerduty_get_incident``."""

    incident_id: IncidentId


class ListLogEntriesArgs(BaseModel):
    """Arguments of ``pagerduty_list_log_entries``."""

    incident_id: IncidentId
    since: Since = None
    until: Until = None
    limit: int = Field(default=50, ge=1, le=200, description="Most entries to return.")


class ListNotesArgs(BaseModel):
    """Arguments of ``pagerduty_list_notes``."""

    incident_id: IncidentId


class ListIncidentAlertsArgs(BaseModel):
    """Arguments of ``pagerduty_list_incident_alerts``."""

    incident_id: IncidentId
    statuses: list[Literal["triggered", "resolved"]] = Field(
        default=[], description="Alert statuses to include; empty means all."
    )
    limit: int = Field(default=50, ge=1, le=200, description="Most alerts to return.")


class ListOncallsArgs(BaseModel):
    """Arguments of ``pagerduty_list_oncalls``."""

    escalation_policy_ids: list[str] = Field(default=[], description="Only these policies.")
    schedule_ids: list[str] = Field(default=[], description="Only these schedules.")
    since: Since = None
    until: Until = None
    limit: int = Field(default=100, ge=1, le=200, description="Most on-calls to return.")


class ListServicesArgs(BaseModel):
    """Arguments of ``pagerduty_list_services``."""

    query: str | None = Field(default=None, description="Filter services by name.")
    team_ids: list[str] = Field(default=[], description="Only services of these teams.")
    limit: int = Field(default=100, ge=1, le=500, description="Most services to return.")


class ListChangeEventsArgs(BaseModel):
    """Arguments of ``pagerduty_list_change_events``."""

    service_id: str | None = Field(
        default=None, pattern=_ID, description="Only this service's change events."
    )
    since: Since = None
    until: Until = None
    limit: int = Field(default=50, ge=1, le=200, description="Most change events to return.")


class AddNoteArgs(BaseModel):
    """Arguments of ``pagerduty_add_note``."""

    incident_id: IncidentId
    content: str = Field(min_length=1, description="Text of the note.")


# --------------------------------------------------------------------------- integration


class PagerDutyIntegration:
    """PagerDuty as an :class:`~tools.base.Integration`: health probe and tools.

    The client is built on first use, so a half-configured integration still reports
    its health instead of failing at start-up.
    """

    name: str = "pagerduty"

    def __init__(self, config: PagerDutyConfig, *, client: PagerDutyClient | None = None) -> None:
        self._config = config
        self._client = client
        self._tools: list[Tool[Any]] | None = None

    @property
    def configured(self) -> bool:
        """Whether an API token is set."""
        return self._config.configured

    @property
    def source(self) -> str:
        """``pagerduty <base_url>``, as results cite it."""
        return f"pagerduty {self._config.base_url.rstrip('/')}"

    @property
    def client(self) -> PagerDutyClient:
        """The API client (raises :class:`~memory.errors.ConfigError` if it cannot exist)."""
        if self._client is None:
            self._client = PagerDutyClient.from_config(self._config)
        return self._client

    async def health(self) -> Health:
        """Probe ``GET /abilities``, which any valid token may read."""
        if not self.configured:
            return Health(
                integration=self.name, state=HealthState.NOT_CONFIGURED, reason="no api_token"
            )
        try:
            abilities = await self.client.abilities()
        except CopilotError as exc:
            return Health(integration=self.name, state=HealthState.UNHEALTHY, reason=str(exc))
        return Health(
            integration=self.name,
            state=HealthState.HEALTHY,
            reason=f"{self.source}: token accepted ({len(abilities)} abilities)",
        )

    async def aclose(self) -> None:
        """Close the client's connections."""
        if self._client is not None:
            await self._client.aclose()

    def tools(self) -> list[Tool[Any]]:
        """Eight read-only tools and the mutating ``pagerduty_add_note``."""
        if self._tools is None:
            define = Tool.define
            self._tools = [
                define(self._list_incidents, args_model=ListIncidentsArgs,
                       integration=self.name, name="pagerduty_list_incidents"),
                define(self._get_incident, args_model=GetIncidentArgs,
                       integration=self.name, name="pagerduty_get_incident"),
                define(self._list_log_entries, args_model=ListLogEntriesArgs,
                       integration=self.name, name="pagerduty_list_log_entries"),
                define(self._list_notes, args_model=ListNotesArgs,
                       integration=self.name, name="pagerduty_list_notes"),
                define(self._list_incident_alerts, args_model=ListIncidentAlertsArgs,
                       integration=self.name, name="pagerduty_list_incident_alerts"),
                define(self._list_oncalls, args_model=ListOncallsArgs,
                       integration=self.name, name="pagerduty_list_oncalls"),
                define(self._list_services, args_model=ListServicesArgs,
                       integration=self.name, name="pagerduty_list_services"),
                define(self._list_change_events, args_model=ListChangeEventsArgs,
                       integration=self.name, name="pagerduty_list_change_events"),
                define(self._add_note, args_model=AddNoteArgs, integration=self.name,
                       name="pagerduty_add_note", mutating=True),
            ]  # fmt: skip
        return self._tools

    async def _run(
        self,
        *,
        tool: str,
        query: str,
        call: Callable[[PagerDutyClient], Awaitable[Any]],
        shape: Callable[[Any], Any],
        empty: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> ToolResult:
        result = ToolResult(
            tool=tool,
            status=ToolStatus.OK,
            source=self.source,
            query=query,
            time_range=TimeRange(start=since, end=until) if since and until else None,
        )
        try:
            data = shape(await call(self.client))
        except CopilotError as exc:
            status = exc.status_code if isinstance(exc, UpstreamHTTPError) else None
            update = {"status": ToolStatus.ERROR, "error": str(exc), "upstream_status": status}
            return result.model_copy(update=update)
        if empty is not None and not data:
            return result.model_copy(
                update={"status": ToolStatus.NO_DATA, "data": data, "error": empty}
            )
        return result.model_copy(update={"data": data})

    async def _list_incidents(self, args: ListIncidentsArgs) -> ToolResult:
        """List PagerDuty incidents, newest first: status, urgency, service, assignees, link.

        Defaults to open incidents (triggered and acknowledged); pass statuses=[] for
        all, or ["resolved"] for history. Filter by service ids and by creation window
        (since/until). Use it to see what is paging now or what fired around a symptom.
        """
        path, params = incidents_request(
            statuses=args.statuses, service_ids=args.service_ids, since=args.since, until=args.until
        )
        return await self._run(
            tool="pagerduty_list_incidents",
            query=describe_request("GET", path, params),
            call=lambda c: c.list_incidents(
                statuses=args.statuses,
                service_ids=args.service_ids,
                since=args.since,
                until=args.until,
                max_items=args.limit,
            ),
            shape=lambda items: [compact_incident(i) for i in items],
            empty="no incident matched",
            since=args.since,
            until=args.until,
        )

    async def _get_incident(self, args: GetIncidentArgs) -> ToolResult:
        """Get one PagerDuty incident by id, with assignees, acknowledgers, teams, alert counts."""
        return await self._run(
            tool="pagerduty_get_incident",
            query=f"GET /incidents/{args.incident_id}",
            call=lambda c: c.get_incident(args.incident_id),
            shape=lambda incident: compact_incident(incident, detailed=True),
        )

    async def _list_log_entries(self, args: ListLogEntriesArgs) -> ToolResult:
        """List an incident's log entries: triggers, notifications, acks, escalations, notes.

        This is the incident's own timeline as PagerDuty recorded it, oldest first.
        """
        path = f"/incidents/{args.incident_id}/log_entries"
        return await self._run(
            tool="pagerduty_list_log_entries",
            query=describe_request("GET", path, _window(args.since, args.until)),
            call=lambda c: c.list_log_entries(
                args.incident_id, since=args.since, until=args.until, max_items=args.limit
            ),
            shape=lambda items: [compact_log_entry(e) for e in items],
            empty="no log entry in this window",
            since=args.since,
            until=args.until,
        )

    async def _list_notes(self, args: ListNotesArgs) -> ToolResult:
        """List the notes responders wrote on an incident (author, time, text)."""
        return await self._run(
            tool="pagerduty_list_notes",
            query=f"GET /incidents/{args.incident_id}/notes",
            call=lambda c: c.list_notes(args.incident_id),
            shape=lambda items: [compact_note(n) for n in items],
            empty="the incident has no notes",
        )

    async def _list_incident_alerts(self, args: ListIncidentAlertsArgs) -> ToolResult:
        """List the alerts grouped into an incident: summary, severity, status, alert key."""
        path = f"/incidents/{args.incident_id}/alerts"
        params = {"statuses[]": list(args.statuses)} if args.statuses else {}
        return await self._run(
            tool="pagerduty_list_incident_alerts",
            query=describe_request("GET", path, params),
            call=lambda c: c.list_incident_alerts(
                args.incident_id, statuses=args.statuses, max_items=args.limit
            ),
            shape=lambda items: [compact_alert(a) for a in items],
            empty="no alert matched",
        )

    async def _list_oncalls(self, args: ListOncallsArgs) -> ToolResult:
        """List who is on call now (or in a window), per escalation policy, level and schedule.

        Filter by escalation policy ids or schedule ids. Use it to name who to page or
        who owns a service right now.
        """
        path, params = oncalls_request(
            escalation_policy_ids=args.escalation_policy_ids,
            schedule_ids=args.schedule_ids,
            since=args.since,
            until=args.until,
        )
        return await self._run(
            tool="pagerduty_list_oncalls",
            query=describe_request("GET", path, params),
            call=lambda c: c.list_oncalls(
                escalation_policy_ids=args.escalation_policy_ids,
                schedule_ids=args.schedule_ids,
                since=args.since,
                until=args.until,
                max_items=args.limit,
            ),
            shape=lambda items: [compact_oncall(o) for o in items],
            empty="nobody is on call for these filters",
            since=args.since,
            until=args.until,
        )

    async def _list_services(self, args: ListServicesArgs) -> ToolResult:
        """List PagerDuty services with status (active, warning, critical...) and policy.

        Use it to map a service name to its id before filtering incidents or changes.
        """
        params: Json = {"query": args.query, "team_ids[]": list(args.team_ids)}
        return await self._run(
            tool="pagerduty_list_services",
            query=describe_request("GET", "/services", params),
            call=lambda c: c.list_services(
                query=args.query, team_ids=args.team_ids, max_items=args.limit
            ),
            shape=lambda items: [compact_service(s) for s in items],
            empty="no service matched",
        )

    async def _list_change_events(self, args: ListChangeEventsArgs) -> ToolResult:
        """List change events (deploys, config changes) account-wide or for one service.

        Give since/until around the start of a symptom: a change just before it is a
        prime suspect.
        """
        path, params = change_events_request(
            service_id=args.service_id, since=args.since, until=args.until
        )
        return await self._run(
            tool="pagerduty_list_change_events",
            query=describe_request("GET", path, params),
            call=lambda c: c.list_change_events(
                service_id=args.service_id, since=args.since, until=args.until, max_items=args.limit
            ),
            shape=lambda items: [compact_change_event(e) for e in items],
            empty="no change event in this window",
            since=args.since,
            until=args.until,
        )

    async def _add_note(self, args: AddNoteArgs) -> ToolResult:
        """Add a note to a PagerDuty incident (mutating: runs only after an approval)."""
        return await self._run(
            tool="pagerduty_add_note",
            query=f"POST /incidents/{args.incident_id}/notes",
            call=lambda c: c.add_note(args.incident_id, content=args.content),
            shape=compact_note,
        )


# --------------------------------------------------------------------------- webhooks


def verify_webhook_signature(*, secret: str, body: bytes, header: str | None) -> bool:
    """Check a PagerDuty v3 webhook's ``X-PagerDuty-Signature`` header.

    The header holds one or more comma-separated ``v1=<hex HMAC-SHA256(secret, body)>``
    values (several while a secret is being rotated); the body must be the raw bytes
    as received.

    Args:
        secret: The webhook subscription's secret.
        body: The raw request body.
        header: The header value, or None when it is missing.

    Returns:
        True if any ``v1`` signature matches; False otherwise (also for an empty
        secret or a missing header).
    """
    if not secret or not header:
        return False
    digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    expected = f"v1={digest}".encode()
    matched = False
    for candidate in header.split(","):
        # compare every candidate, in constant time each, without stopping early
        matched |= hmac.compare_digest(candidate.strip().encode(), expected)
    return matched
