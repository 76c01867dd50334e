"""Low-level PagerDuty REST client: bounded retries, error translation, JSON shaping.

The REST API is reached through the maintained ``pagerduty`` library
(:class:`pagerduty.RestApiV2Client`). :class:`PagerDutyClient` wraps it in an async
facade that runs each synchronous call in a worker thread; ``_RestClient`` makes the
library's HTTP 429 cooldown follow the server's ``Retry-After``. Upstream trouble is
raised as the project's exception tree (``memory.errors``).

The module also holds the request builders (``incidents_request`` and friends,
:func:`describe_request`) that tools use to report the call they made, and the
``compact_*`` functions that reduce PagerDuty objects to the fields an investigation
needs.

Typical usage example:

    client = PagerDutyClient.from_config(config)
    incidents = [compact_incident(i) for i in await client.list_incidents()]
"""

from __future__ import annotations

import asyncio
import email.utils
import logging
import ssl
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from itertools import islice
from typing import Any, TypeVar, cast
from urllib.parse import urlencode

import httpx2
import pagerduty

from memory.errors import (
    ConfigError,
    CopilotError,
    IntegrationError,
    UpstreamHTTPError,
    UpstreamTimeout,
)
from tools.config import PagerDutyConfig

logger = logging.getLogger(__name__)

T = TypeVar("T")

_MAX_PAGE = 100  # PagerDuty's highest ``limit`` for classic pagination
_MIN_SLEEP_S = 0.01  # keeps the library's multiplicative backoff above zero

Json = dict[str, Any]


# --------------------------------------------------------------------------- client


class _RestClient(pagerduty.RestApiV2Client):
    """``RestApiV2Client`` whose 429 cooldown follows the server's ``Retry-After``.

    Before each retry the library multiplies a per-request backoff by
    ``cooldown_factor()`` and sleeps that long. Calls run in worker threads, so the
    per-request backoff is mirrored in thread-local state and the factor returned is
    the one that makes the next sleep equal ``Retry-After`` (when the last response
    carried one).
    """

    def __init__(self, *, max_retry_after_s: float, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._max_retry_after_s = max_retry_after_s
        self._retry_state = threading.local()

    # Same signature as ApiClient.request, which already narrows httpx2's.
    def request(self, method: str, url: str, **kwargs: Any) -> httpx2.Response:  # type: ignore[override]
        self._retry_state.sleep_s = self.sleep_timer
        self._retry_state.retry_after_s = None
        response: httpx2.Response = super().request(method, url, **kwargs)
        return response

    def postprocess(self, response: httpx2.Response, suffix: str | None = None) -> None:
        super().postprocess(response, suffix)
        retry_after = None
        if response.status_code == 429:
            retry_after = _retry_after_seconds(response.headers.get("retry-after"))
        self._retry_state.retry_after_s = retry_after

    def cooldown_factor(self) -> float:
        factor: float = super().cooldown_factor()
        current: float = getattr(self._retry_state, "sleep_s", self.sleep_timer)
        retry_after: float | None = getattr(self._retry_state, "retry_after_s", None)
        self._retry_state.retry_after_s = None  # one header, one sleep
        if retry_after is None:
            target = current * factor
        else:
            target = min(max(retry_after, _MIN_SLEEP_S), self._max_retry_after_s)
            logger.debug("pagerduty: honouring Retry-After %.3gs", target)
        self._retry_state.sleep_s = target
        return target / current


def _retry_after_seconds(value: str | None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or HTTP date)."""
    if not value:
        return None
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max((when - datetime.now(UTC)).total_seconds(), 0.0)


def _iso(moment: datetime) -> str:
    """ISO 8601 in UTC; naive datetimes are taken as UTC."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _window(since: datetime | None, until: datetime | None) -> Json:
    params: Json = {}
    if since is not None:
        params["since"] = _iso(since)
    if until is not None:
        params["until"] = _iso(until)
    return params


def describe_request(method: str, path: str, params: Mapping[str, Any] | None = None) -> str:
    """The request line as tools report it, e.g. ``GET /incidents?statuses[]=triggered``."""
    query = urlencode(
        {k: v for k, v in (params or {}).items() if v not in (None, [])},
        doseq=True,
        safe="[]:",
    )
    return f"{method} {path}" + (f"?{query}" if query else "")


def incidents_request(
    *,
    statuses: Sequence[str] = (),
    service_ids: Sequence[str] = (),
    since: datetime | None = None,
    until: datetime | None = None,
) -> tuple[str, Json]:
    """Path and query of ``GET /incidents`` (newest first)."""
    params: Json = {"sort_by": "created_at:desc"}
    if statuses:
        params["statuses[]"] = list(statuses)
    if service_ids:
        params["service_ids[]"] = list(service_ids)
    return "/incidents", params | _window(since, until)


def oncalls_request(
    *,
    escalation_policy_ids: Sequence[str] = (),
    schedule_ids: Sequence[str] = (),
    since: datetime | None = None,
    until: datetime | None = None,
) -> tuple[str, Json]:
    """Path and query of ``GET /oncalls`` (now, unless a window is given)."""
    params: Json = {"earliest": "true"}
    if escalation_policy_ids:
        params["escalation_policy_ids[]"] = list(escalation_policy_ids)
    if schedule_ids:
        params["schedule_ids[]"] = list(schedule_ids)
    return "/oncalls", params | _window(since, until)


def change_events_request(
    *, service_id: str | None = None, since: datetime | None = None, until: datetime | None = None
) -> tuple[str, Json]:
    """Path and query of ``GET /change_events`` or ``GET /services/{id}/change_events``."""
    path = f"/services/{service_id}/change_events" if service_id else "/change_events"
    return path, _window(since, until)


class PagerDutyClient:
    """Async facade over the sync ``pagerduty.RestApiV2Client``.

    Methods return PagerDuty's JSON objects as dicts and raise only
    :class:`~memory.errors.IntegrationError` subclasses for upstream trouble
    (:class:`~memory.errors.UpstreamHTTPError` carries the status) and
    :class:`~memory.errors.ConfigError` for settings that cannot work.

    Args:
        api_token: REST API token (sent as ``Authorization: Token token=...``).
        base_url: REST API base URL; the library accepts https only.
        from_email: Requester email sent as ``From``; needed by write calls.
        timeout_s: Per-request timeout.
        ca_bundle: PEM file of CAs to trust instead of the system store.
        max_rate_limit_retries: Retries after HTTP 429 (at least 1; the library
            would retry forever otherwise), each after the server's ``Retry-After``.
        max_network_retries: Retries after connection errors and timeouts.
        backoff_s: First wait before a retry without ``Retry-After``; doubles each time.
        max_retry_after_s: Longest ``Retry-After`` honoured.

    Raises:
        ConfigError: A non-https base URL, an unreadable CA bundle or bad retry knobs.
    """

    def __init__(
        self,
        *,
        api_token: str,
        base_url: str = "https://api.pagerduty.com",
        from_email: str | None = None,
        timeout_s: float = 10.0,
        ca_bundle: str | None = None,
        max_rate_limit_retries: int = 3,
        max_network_retries: int = 1,
        backoff_s: float = 0.25,
        max_retry_after_s: float = 30.0,
    ) -> None:
        if backoff_s <= 0 or max_rate_limit_retries < 1 or max_network_retries < 0:
            raise ConfigError(
                "pagerduty retry knobs: backoff_s > 0, max_rate_limit_retries >= 1, "
                "max_network_retries >= 0"
            )
        self.base_url = base_url.rstrip("/")
        self.from_email = from_email
        self.timeout_s = timeout_s
        self.max_rate_limit_retries = max_rate_limit_retries
        try:
            verify: ssl.SSLContext | bool = (
                ssl.create_default_context(cafile=ca_bundle) if ca_bundle else True
            )
            rest = _RestClient(
                api_key=api_token,
                default_from=from_email,
                base_url=self.base_url,
                verify=verify,
                max_retry_after_s=max_retry_after_s,
            )
        except pagerduty.UrlError as exc:
            raise ConfigError(f"pagerduty.base_url {base_url!r}: {exc}") from exc
        except OSError as exc:
            raise ConfigError(f"pagerduty.ca_bundle {ca_bundle!r} unusable: {exc}") from exc
        rest.timeout = timeout_s  # type: ignore[assignment]  # declared int, sent to httpx2
        rest.retry = {429: max_rate_limit_retries}
        rest.max_network_attempts = max_network_retries
        rest.sleep_timer = backoff_s
        self._rest = rest

    @classmethod
    def from_config(cls, config: PagerDutyConfig, **tuning: Any) -> PagerDutyClient:
        """Build from settings; ``tuning`` overrides the retry knobs of ``__init__``."""
        if config.api_token is None or not config.api_token.get_secret_value():
            raise ConfigError("pagerduty.api_token is not set")
        return cls(
            api_token=config.api_token.get_secret_value(),
            base_url=config.base_url,
            from_email=config.from_email,
            timeout_s=config.timeout_s,
            ca_bundle=config.ca_bundle,
            **tuning,
        )

    async def aclose(self) -> None:
        """Close the connection pool."""
        await asyncio.to_thread(self._rest.close)

    async def abilities(self) -> list[str]:
        """``GET /abilities``: the account's abilities (works for any valid token)."""
        return list(await self._call("GET /abilities", lambda: self._rest.rget("/abilities")))

    async def list_incidents(
        self,
        *,
        statuses: Sequence[str] = (),
        service_ids: Sequence[str] = (),
        since: datetime | None = None,
        until: datetime | None = None,
        max_items: int = 25,
    ) -> list[Json]:
        """Incidents, newest first, filtered by status, service and creation window."""
        path, params = incidents_request(
            statuses=statuses, service_ids=service_ids, since=since, until=until
        )
        return await self._list(path, params, max_items=max_items)

    async def get_incident(self, incident_id: str) -> Json:
        """One incident by id."""
        path = f"/incidents/{incident_id}"
        incident: Json = await self._call(f"GET {path}", lambda: self._rest.rget(path))
        return incident

    async def list_log_entries(
        self,
        incident_id: str,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        max_items: int = 50,
    ) -> list[Json]:
        """An incident's log entries (trigger, notify, acknowledge, escalate, annotate...)."""
        path = f"/incidents/{incident_id}/log_entries"
        return await self._list(path, _window(since, until), max_items=max_items)

    async def list_notes(self, incident_id: str) -> list[Json]:
        """An incident's notes (that endpoint is not paginated)."""
        path = f"/incidents/{incident_id}/notes"
        return list(await self._call(f"GET {path}", lambda: self._rest.rget(path)))

    async def list_incident_alerts(
        self, incident_id: str, *, statuses: Sequence[str] = (), max_items: int = 50
    ) -> list[Json]:
        """The alerts grouped into an incident."""
        params: Json = {"statuses[]": list(statuses)} if statuses else {}
        return await self._list(f"/incidents/{incident_id}/alerts", params, max_items=max_items)

    async def list_oncalls(
        self,
        *,
        escalation_policy_ids: Sequence[str] = (),
        schedule_ids: Sequence[str] = (),
        since: datetime | None = None,
        until: datetime | None = None,
        max_items: int = 100,
    ) -> list[Json]:
        """Who is on call (now, or in a window), by escalation policy and/or schedule."""
        path, params = oncalls_request(
            escalation_policy_ids=escalation_policy_ids,
            schedule_ids=schedule_ids,
            since=since,
            until=until,
        )
        return await self._list(path, params, max_items=max_items)

    async def list_services(
        self, *, query: str | None = None, team_ids: Sequence[str] = (), max_items: int = 100
    ) -> list[Json]:
        """Services, optionally filtered by a name query or teams."""
        params: Json = {}
        if query:
            params["query"] = query
        if team_ids:
            params["team_ids[]"] = list(team_ids)
        return await self._list("/services", params, max_items=max_items)

    async def list_change_events(
        self,
        *,
        service_id: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        max_items: int = 50,
    ) -> list[Json]:
        """Change events (deploys, config changes), account-wide or for one service."""
        path, params = change_events_request(service_id=service_id, since=since, until=until)
        return await self._list(path, params, max_items=max_items)

    async def add_note(self, incident_id: str, *, content: str) -> Json:
        """Add a note to an incident (a write: needs ``from_email`` for the From header)."""
        if not self.from_email:
            raise ConfigError(
                "pagerduty.from_email is not set; PagerDuty needs a requester email "
                "(From header) to add a note"
            )
        path = f"/incidents/{incident_id}/notes"
        note: Json = await self._call(
            f"POST {path}", lambda: self._rest.rpost(path, json={"content": content})
        )
        return note

    async def _list(self, path: str, params: Json, *, max_items: int) -> list[Json]:
        page_size = max(1, min(max_items, _MAX_PAGE))

        def fetch() -> list[Json]:
            items = self._rest.iter_all(path, params=dict(params), page_size=page_size)
            return list(islice(items, max_items))

        return await self._call(describe_request("GET", path, params), fetch)

    async def _call(self, action: str, func: Callable[[], T]) -> T:
        started = time.perf_counter()
        try:
            return await asyncio.to_thread(func)
        except pagerduty.HttpError as exc:
            raise self._http_error(action, exc) from exc
        except pagerduty.Error as exc:
            raise self._network_error(action, exc) from exc
        except pagerduty.UrlError as exc:
            raise IntegrationError(f"pagerduty cannot request {action}: {exc}") from exc
        finally:
            logger.debug("pagerduty %s took %.0f ms", action, (time.perf_counter() - started) * 1e3)

    def _http_error(self, action: str, exc: pagerduty.HttpError) -> CopilotError:
        response = cast(httpx2.Response, exc.response)  # always set on HttpError
        status = response.status_code
        detail = _error_detail(response)
        if status == 401:
            message = (
                f"PagerDuty refused the API token (HTTP 401) for {action} at {self.base_url}: "
                "check pagerduty.api_token and the account's region (base_url)"
            )
        elif status == 403:
            message = f"PagerDuty denied {action} (HTTP 403): the token lacks permission{detail}"
        elif status == 404:
            message = f"PagerDuty found nothing at {action} (HTTP 404){detail}"
        elif status == 429:
            message = (
                f"PagerDuty rate limit (HTTP 429) on {action}: still limited after "
                f"{self.max_rate_limit_retries} retries; try again later"
            )
        elif status >= 500:
            message = f"PagerDuty server error HTTP {status} on {action} at {self.base_url}"
        elif status >= 400:
            message = f"PagerDuty rejected {action} (HTTP {status}){detail}"
        else:
            return IntegrationError(f"unexpected PagerDuty answer to {action}: {exc}")
        logger.warning("pagerduty %s -> HTTP %s", action, status)
        return UpstreamHTTPError(message, status_code=status)

    def _network_error(self, action: str, exc: pagerduty.Error) -> CopilotError:
        cause = exc.__cause__
        logger.warning("pagerduty %s failed: %s", action, type(cause or exc).__name__)
        if isinstance(cause, httpx2.TimeoutException):
            return UpstreamTimeout(
                f"PagerDuty at {self.base_url} did not answer {action} "
                f"within {self.timeout_s:g}s ({type(cause).__name__})"
            )
        reason = f"{type(cause).__name__}: {cause}" if cause else str(exc)
        return IntegrationError(f"cannot reach PagerDuty at {self.base_url} ({action}): {reason}")


def _error_detail(response: httpx2.Response) -> str:
    """``: message (errors)`` from PagerDuty's ``{"error": {...}}`` body, or ``""``."""
    try:
        error = response.json().get("error")
    except ValueError:
        return ""
    if not isinstance(error, dict):
        return ""
    text = str(error.get("message") or "")
    if errors := error.get("errors"):
        text += f" ({'; '.join(str(e) for e in errors)})"
    return f": {text[:300]}" if text else ""


# --------------------------------------------------------------------------- shaping


def _summary(ref: Any) -> str | None:
    return ref.get("summary") if isinstance(ref, dict) else None


def _ref_id(ref: Any) -> str | None:
    return ref.get("id") if isinstance(ref, dict) else None


def _compact(values: Json) -> Json:
    return {k: v for k, v in values.items() if v not in (None, [], {}, "")}


def compact_incident(incident: Json, *, detailed: bool = False) -> Json:
    """The fields an investigation needs from a PagerDuty incident."""
    out = {
        "id": incident.get("id"),
        "number": incident.get("incident_number"),
        "title": incident.get("title") or incident.get("summary"),
        "status": incident.get("status"),
        "urgency": incident.get("urgency"),
        "priority": _summary(incident.get("priority")),
        "service": _summary(incident.get("service")),
        "service_id": _ref_id(incident.get("service")),
        "escalation_policy": _summary(incident.get("escalation_policy")),
        "assignees": [_summary(a.get("assignee")) for a in incident.get("assignments") or []],
        "created_at": incident.get("created_at"),
        "last_status_change_at": incident.get("last_status_change_at"),
        "html_url": incident.get("html_url"),
    }
    if detailed:
        out |= {
            "incident_key": incident.get("incident_key"),
            "acknowledged_by": [
                _summary(a.get("acknowledger")) for a in incident.get("acknowledgements") or []
            ],
            "teams": [_summary(t) for t in incident.get("teams") or []],
            "alert_counts": incident.get("alert_counts"),
            "resolve_reason": _summary(incident.get("resolve_reason")),
            "updated_at": incident.get("updated_at"),
        }
    return _compact(out)


def compact_log_entry(entry: Json) -> Json:
    """A log entry: what happened, when, by whom."""
    return _compact(
        {
            "id": entry.get("id"),
            "type": str(entry.get("type", "")).removesuffix("_log_entry"),
            "created_at": entry.get("created_at"),
            "summary": entry.get("summary"),
            "agent": _summary(entry.get("agent")),
            "channel": (entry.get("channel") or {}).get("type"),
        }
    )


def compact_note(note: Json) -> Json:
    """A note: author, time, text."""
    return _compact(
        {
            "id": note.get("id"),
            "user": _summary(note.get("user")),
            "created_at": note.get("created_at"),
            "content": note.get("content"),
        }
    )


def compact_alert(alert: Json) -> Json:
    """An alert grouped into an incident."""
    return _compact(
        {
            "id": alert.get("id"),
            "summary": alert.get("summary"),
            "status": alert.get("status"),
            "severity": alert.get("severity"),
            "alert_key": alert.get("alert_key"),
            "service": _summary(alert.get("service")),
            "created_at": alert.get("created_at"),
            "html_url": alert.get("html_url"),
        }
    )


def compact_oncall(oncall: Json) -> Json:
    """One on-call: who, for which policy and level, until when."""
    return _compact(
        {
            "user": _summary(oncall.get("user")),
            "user_id": _ref_id(oncall.get("user")),
            "escalation_policy": _summary(oncall.get("escalation_policy")),
            "escalation_policy_id": _ref_id(oncall.get("escalation_policy")),
            "level": oncall.get("escalation_level"),
            "schedule": _summary(oncall.get("schedule")),
            "start": oncall.get("start"),
            "end": oncall.get("end"),
        }
    )


def compact_service(service: Json) -> Json:
    """A service with its status and escalation policy."""
    return _compact(
        {
            "id": service.get("id"),
            "name": service.get("name") or service.get("summary"),
            "status": service.get("status"),
            "description": service.get("description"),
            "escalation_policy": _summary(service.get("escalation_policy")),
            "teams": [_summary(t) for t in service.get("teams") or []],
            "last_incident_timestamp": service.get("last_incident_timestamp"),
            "html_url": service.get("html_url"),
        }
    )


def compact_change_event(change: Json) -> Json:
    """A change event (deploy, config change) with the services it touched."""
    return _compact(
        {
            "id": change.get("id"),
            "summary": change.get("summary"),
            "timestamp": change.get("timestamp"),
            "source": change.get("source"),
            "services": [_summary(s) for s in change.get("services") or []],
            "links": [link.get("href") for link in change.get("links") or []],
        }
    )
