"""HTTPS loopback stub of the PagerDuty REST API v2, driven through the real ``pagerduty`` client.

The ``pagerduty`` library refuses non-https base URLs, so the stub serves TLS with a
throwaway certificate from ``trustme``; point ``PagerDutyConfig.ca_bundle`` at
:attr:`PagerDutyStub.ca_bundle` to trust it. It speaks the REST v2 wire format: wrapped
entities, classic pagination (``limit``/``offset``/``more``/``total``), the
``Authorization: Token token=...`` check with PagerDuty's JSON error body, and
scripted failures (the next N requests to a path answer 429 with ``Retry-After`` or a
5xx). Every request is recorded so tests can assert on method, path, query, headers
and body.

Use it as a context manager::

    with serve_pagerduty_stub() as stub:
        config = stub.config(from_email="oncall@example.com")
        ...
        assert stub.requests_to("/incidents")[0].param("statuses[]") == "triggered"
"""

from __future__ import annotations

import contextlib
import copy
import json
import re
import ssl
import tempfile
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import trustme
from pydantic import SecretStr

from tools.config import PagerDutyConfig

STUB_TOKEN = "pd-test-token"
"""The API token the stub accepts (an obvious fake)."""

API = "https://api.pagerduty.com"
WEB = "https://acme.pagerduty.com"

AUTH_FAILED = {"error": {"message": "Authentication failed", "code": 2006}}
NOT_FOUND = {"error": {"message": "Not Found", "code": 2100}}


@dataclass(frozen=True)
class RecordedRequest:
    """One request as the stub received it."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]  # lower-cased names
    body: Any  # decoded JSON, or None
    raw_body: bytes
    status: int  # what the stub answered

    def param(self, name: str) -> str | None:
        """First value of a query parameter."""
        values = self.query.get(name)
        return values[0] if values else None


@dataclass
class _Failure:
    status: int
    remaining: int
    retry_after: str | None


# --------------------------------------------------------------------------- seed data


def _ref(kind: str, id_: str, summary: str, collection: str) -> dict[str, Any]:
    return {
        "id": id_,
        "type": f"{kind}_reference",
        "summary": summary,
        "self": f"{API}/{collection}/{id_}",
        "html_url": f"{WEB}/{collection}/{id_}",
    }


USERS = {
    "PUSR001": "Alice Martin",
    "PUSR002": "Bob Okafor",
    "PUSR003": "Carol Nguyen",
    "PUSR004": "Dave Schmidt",
}
SERVICES = {
    "PSVC001": ("checkout-api", "critical", "PEP0001"),
    "PSVC002": ("payments-db", "warning", "PEP0002"),
    "PSVC003": ("search-indexer", "active", "PEP0002"),
    "PSVC004": ("edge-gateway", "active", "PEP0001"),
}
POLICIES = {"PEP0001": "Checkout On-Call", "PEP0002": "Data Platform On-Call"}
SCHEDULES = {"PSCH001": "Checkout Primary", "PSCH002": "Data Primary", "PSCH003": "Data Secondary"}


def _user(id_: str) -> dict[str, Any]:
    return _ref("user", id_, USERS[id_], "users")


def _service_ref(id_: str) -> dict[str, Any]:
    return _ref("service", id_, SERVICES[id_][0], "services")


def _policy(id_: str) -> dict[str, Any]:
    return _ref("escalation_policy", id_, POLICIES[id_], "escalation_policies")


def _incident(
    id_: str,
    number: int,
    title: str,
    *,
    status: str,
    urgency: str,
    service: str,
    created_at: str,
    assignee: str | None = None,
) -> dict[str, Any]:
    return {
        "id": id_,
        "type": "incident",
        "summary": f"[#{number}] {title}",
        "self": f"{API}/incidents/{id_}",
        "html_url": f"{WEB}/incidents/{id_}",
        "incident_number": number,
        "title": title,
        "description": title,
        "created_at": created_at,
        "updated_at": created_at,
        "status": status,
        "incident_key": f"{SERVICES[service][0]}/{number}",
        "service": _service_ref(service),
        "assignments": (
            [{"at": created_at, "assignee": _user(assignee)}]
            if assignee and status != "resolved"
            else []
        ),
        "acknowledgements": (
            [{"at": created_at, "acknowledger": _user(assignee)}]
            if assignee and status == "acknowledged"
            else []
        ),
        "last_status_change_at": created_at,
        "escalation_policy": _policy(SERVICES[service][2]),
        "teams": [_ref("team", "PTEAM01", "Payments", "teams")],
        "urgency": urgency,
        "priority": (
            {"id": "PPRIO01", "type": "priority", "summary": "P1"} if urgency == "high" else None
        ),
        "alert_counts": {"all": 2, "triggered": 2 if status != "resolved" else 0, "resolved": 0},
    }


def seed_incidents() -> list[dict[str, Any]]:
    """Seven incidents over four services, oldest first (PagerDuty's default order)."""
    return [
        _incident(
            "PDEF201", 1038, "search-indexer queue backlog growing",
            status="resolved", urgency="low", service="PSVC003",
            created_at="2026-03-01T22:03:00Z",
        ),
        _incident(
            "PDEF202", 1039, "Disk usage 92% on payments-db-2",
            status="acknowledged", urgency="low", service="PSVC002",
            created_at="2026-03-01T23:47:31Z", assignee="PUSR002",
        ),
        _incident(
            "PDEF203", 1040, "edge-gateway TLS handshake errors",
            status="resolved", urgency="high", service="PSVC004",
            created_at="2026-03-02T02:10:09Z",
        ),
        _incident(
            "PABC125", 1041, "checkout-api p99 latency above SLO",
            status="resolved", urgency="low", service="PSVC001",
            created_at="2026-03-02T08:55:12Z",
        ),
        _incident(
            "PABC123", 1042, "High 5xx rate on checkout-api",
            status="triggered", urgency="high", service="PSVC001",
            created_at="2026-03-02T09:14:07Z", assignee="PUSR001",
        ),
        _incident(
            "PABC124", 1043, "payments-db replication lag > 30s",
            status="acknowledged", urgency="high", service="PSVC002",
            created_at="2026-03-02T09:16:40Z", assignee="PUSR002",
        ),
        _incident(
            "PGHI301", 1044, "checkout-api pods CrashLoopBackOff",
            status="triggered", urgency="high", service="PSVC001",
            created_at="2026-03-02T09:21:55Z", assignee="PUSR001",
        ),
    ]  # fmt: skip


def seed_services() -> list[dict[str, Any]]:
    """The four services."""
    return [
        {
            "id": id_,
            "type": "service",
            "name": name,
            "summary": name,
            "description": f"{name} (production)",
            "status": status,
            "self": f"{API}/services/{id_}",
            "html_url": f"{WEB}/service-directory/{id_}",
            "escalation_policy": _policy(policy),
            "teams": [_ref("team", "PTEAM01", "Payments", "teams")],
            "last_incident_timestamp": "2026-03-02T09:21:55Z",
            "alert_creation": "create_alerts_and_incidents",
        }
        for id_, (name, status, policy) in SERVICES.items()
    ]


def seed_log_entries() -> dict[str, list[dict[str, Any]]]:
    """Log entries of PABC123."""
    incident_summary = "[#1042] High 5xx rate on checkout-api"

    def entry(n: int, kind: str, at: str, summary: str, agent: dict[str, Any]) -> dict[str, Any]:
        return {
            "id": f"RLOG00{n}",
            "type": f"{kind}_log_entry",
            "summary": summary,
            "self": f"{API}/log_entries/RLOG00{n}",
            "created_at": at,
            "agent": agent,
            "channel": {"type": "auto" if kind != "annotate" else "web_ui"},
            "incident": _ref("incident", "PABC123", incident_summary, "incidents"),
        }

    prom = _ref("generic_events_api_inbound_integration", "PINT001", "Alertmanager", "integrations")
    return {
        "PABC123": [
            entry(1, "trigger", "2026-03-02T09:14:07Z", "Triggered through the API.", prom),
            entry(2, "notify", "2026-03-02T09:14:08Z", "Notified Alice Martin by SMS.", prom),
            entry(3, "escalate", "2026-03-02T09:19:08Z", "Escalated to level 2.", prom),
            entry(4, "annotate", "2026-03-02T09:20:31Z", "Note added", _user("PUSR002")),
        ]
    }


def seed_notes() -> dict[str, list[dict[str, Any]]]:
    """Notes of PABC123."""
    return {
        "PABC123": [
            {
                "id": "PNOTE01",
                "user": _user("PUSR002"),
                "content": "Rolled back deploy 2026.03.02-1 at 09:20, watching the error rate.",
                "created_at": "2026-03-02T09:20:31Z",
            }
        ]
    }


def seed_alerts() -> dict[str, list[dict[str, Any]]]:
    """Alerts of PABC123."""

    def alert(id_: str, summary: str, severity: str, key: str) -> dict[str, Any]:
        return {
            "id": id_,
            "type": "alert",
            "summary": summary,
            "self": f"{API}/alerts/{id_}",
            "html_url": f"{WEB}/alerts/{id_}",
            "created_at": "2026-03-02T09:14:07Z",
            "status": "triggered",
            "alert_key": key,
            "service": _service_ref("PSVC001"),
            "severity": severity,
            "suppressed": False,
            "body": {"details": {"alertname": key.split("/")[0], "namespace": "shop"}},
        }

    return {
        "PABC123": [
            alert("Q1ALRT01", "HTTP 5xx ratio > 5% (checkout-api)", "critical", "HighErrorRate/c1"),
            alert("Q1ALRT02", "Checkout synthetic check failing", "error", "SyntheticFail/c1"),
        ]
    }


def seed_oncalls() -> list[dict[str, Any]]:
    """Who is on call now for the two escalation policies."""

    def oncall(user: str, policy: str, level: int, schedule: str | None) -> dict[str, Any]:
        return {
            "user": _user(user),
            "escalation_policy": _policy(policy),
            "escalation_level": level,
            "schedule": _ref("schedule", schedule, SCHEDULES[schedule], "schedules")
            if schedule
            else None,
            "start": "2026-03-02T08:00:00Z" if schedule else None,
            "end": "2026-03-09T08:00:00Z" if schedule else None,
        }

    return [
        oncall("PUSR001", "PEP0001", 1, "PSCH001"),
        oncall("PUSR003", "PEP0001", 2, None),
        oncall("PUSR002", "PEP0002", 1, "PSCH002"),
        oncall("PUSR004", "PEP0002", 2, "PSCH003"),
    ]


def seed_change_events() -> list[dict[str, Any]]:
    """Recent deploys and config changes."""

    def change(id_: str, summary: str, at: str, service: str, source: str) -> dict[str, Any]:
        return {
            "id": id_,
            "type": "change_event",
            "summary": summary,
            "timestamp": at,
            "source": source,
            "services": [_service_ref(service)],
            "integration": _ref("inbound_integration", "PCHG001", "Change events", "integrations"),
            "custom_details": {"actor": "ci-bot"},
            "links": [{"href": f"https://ci.example.com/{id_}", "text": "pipeline"}],
        }

    rows = [
        ("PCE0003", "Deploy search-indexer v4.18.0", "2026-03-01T21:30:00Z", "PSVC003", "argo-cd"),
        (
            "PCE0002",
            "payments-db max_connections 200 -> 400",
            "2026-03-02T08:40:00Z",
            "PSVC002",
            "terraform",
        ),
        (
            "PCE0001",
            "Deploy checkout-api 2026.03.02-1",
            "2026-03-02T09:05:00Z",
            "PSVC001",
            "argo-cd",
        ),
    ]
    return [change(*row) for row in rows]


# --------------------------------------------------------------------------- server


def _parse_time(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def _in_window(stamp: str, query: dict[str, list[str]]) -> bool:
    at = _parse_time(stamp)
    since, until = query.get("since"), query.get("until")
    if since and at < _parse_time(since[0]):
        return False
    return not (until and at >= _parse_time(until[0]))


class PagerDutyStub:
    """A PagerDuty REST API v2 stub serving HTTPS on ``127.0.0.1:<free port>``.

    Attributes:
        token: The API token it accepts.
        max_page_size: Highest ``limit`` it honours (PagerDuty's is 100); lower it to
            force pagination.
    """

    def __init__(self, *, ca: trustme.CA, ca_bundle: str, token: str = STUB_TOKEN) -> None:
        self.token = token
        self.ca_bundle = ca_bundle
        self.max_page_size = 100
        self._ca = ca
        self._lock = threading.Lock()
        self._requests: list[RecordedRequest] = []
        self._failures: dict[str, list[_Failure]] = {}
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._note_seq = 0
        self.reset()

    # -- test API

    @property
    def base_url(self) -> str:
        """``https://127.0.0.1:<port>``."""
        assert self._server is not None, "stub not started"
        return f"https://127.0.0.1:{self._server.server_address[1]}"

    def config(self, **overrides: Any) -> PagerDutyConfig:
        """A ``PagerDutyConfig`` pointing at the stub and trusting its CA."""
        values: dict[str, Any] = {
            "api_token": SecretStr(self.token),
            "base_url": self.base_url,
            "ca_bundle": self.ca_bundle,
            "timeout_s": 5.0,
        }
        values.update(overrides)
        return PagerDutyConfig(**values)

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every request received so far, in order."""
        with self._lock:
            return list(self._requests)

    def requests_to(self, path: str, method: str = "GET") -> list[RecordedRequest]:
        """Requests received for one method and path."""
        return [r for r in self.requests if r.path == path and r.method == method]

    def fail_next(
        self, path: str, *, status: int, times: int = 1, retry_after: str | None = None
    ) -> None:
        """Make the next ``times`` requests to ``path`` answer ``status``."""
        with self._lock:
            self._failures.setdefault(path, []).append(_Failure(status, times, retry_after))

    def reset(self) -> None:
        """Forget requests and scripted failures; restore the seed data."""
        with self._lock:
            self._requests.clear()
            self._failures.clear()
            self.max_page_size = 100
            self.incidents = seed_incidents()
            self.services = seed_services()
            self.log_entries = seed_log_entries()
            self.notes = seed_notes()
            self.alerts = seed_alerts()
            self.oncalls = seed_oncalls()
            self.change_events = seed_change_events()

    # -- lifecycle

    def start(self) -> None:
        """Bind a free port and serve in a daemon thread."""
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self._ca.issue_cert("127.0.0.1", "localhost").configure_cert(ctx)
        server = _Server(("127.0.0.1", 0), _Handler)
        server.stub = self
        server.socket = ctx.wrap_socket(server.socket, server_side=True)
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        """Stop serving and close the socket."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    # -- request handling (called from handler threads)

    def _take_failure(self, path: str) -> _Failure | None:
        with self._lock:
            queue = self._failures.get(path, [])
            while queue and queue[0].remaining <= 0:
                queue.pop(0)
            if not queue:
                return None
            queue[0].remaining -= 1
            return queue[0]

    def _record(self, request: RecordedRequest) -> None:
        with self._lock:
            self._requests.append(request)

    def handle(
        self,
        method: str,
        path: str,
        query: dict[str, list[str]],
        headers: dict[str, str],
        body: Any,
    ) -> tuple[int, dict[str, str], Any]:
        """Answer one request: (status, extra headers, JSON body)."""
        if headers.get("authorization") != f"Token token={self.token}":
            return 401, {}, AUTH_FAILED
        failure = self._take_failure(path)
        if failure is not None:
            extra = {"Retry-After": failure.retry_after} if failure.retry_after else {}
            if failure.status == 429:
                return 429, extra, {"error": {"message": "Rate Limit Exceeded", "code": 2020}}
            return failure.status, extra, {"error": {"message": "Internal Server Error"}}
        for route_method, pattern, handler in self._routes():
            match = pattern.fullmatch(path)
            if match and route_method == method:
                answer: tuple[int, dict[str, str], Any] = handler(
                    query, headers, body, *match.groups()
                )
                return answer
        return 404, {}, NOT_FOUND

    def _routes(self) -> list[tuple[str, re.Pattern[str], Callable[..., Any]]]:
        id_ = r"([A-Za-z0-9]+)"
        return [
            ("GET", re.compile("/abilities"), self._abilities),
            ("GET", re.compile("/incidents"), self._list_incidents),
            ("GET", re.compile(f"/incidents/{id_}"), self._get_incident),
            ("PUT", re.compile(f"/incidents/{id_}"), self._update_incident),
            ("GET", re.compile(f"/incidents/{id_}/log_entries"), self._incident_log_entries),
            ("GET", re.compile(f"/incidents/{id_}/notes"), self._list_notes),
            ("POST", re.compile(f"/incidents/{id_}/notes"), self._create_note),
            ("GET", re.compile(f"/incidents/{id_}/alerts"), self._incident_alerts),
            ("GET", re.compile("/oncalls"), self._oncalls),
            ("GET", re.compile("/services"), self._list_services),
            ("GET", re.compile(f"/services/{id_}/change_events"), self._service_change_events),
            ("GET", re.compile("/change_events"), self._change_events),
        ]

    def _page(self, key: str, items: list[Any], query: dict[str, list[str]]) -> Any:
        limit = min(int(query.get("limit", ["25"])[0]), 100, self.max_page_size)
        offset = int(query.get("offset", ["0"])[0])
        page = items[offset : offset + limit]
        total = len(items) if query.get("total", ["false"])[0] == "true" else None
        body = {key: page, "limit": limit, "offset": offset, "total": total}
        return 200, {}, body | {"more": offset + len(page) < len(items)}

    def _find_incident(self, incident_id: str) -> dict[str, Any] | None:
        return next((i for i in self.incidents if i["id"] == incident_id), None)

    def _abilities(self, *_: Any) -> Any:
        return 200, {}, {"abilities": ["teams", "read_only_users", "service_support_hours"]}

    def _list_incidents(self, query: dict[str, list[str]], *_: Any) -> Any:
        items = list(self.incidents)
        if statuses := query.get("statuses[]"):
            items = [i for i in items if i["status"] in statuses]
        if services := query.get("service_ids[]"):
            items = [i for i in items if i["service"]["id"] in services]
        items = [i for i in items if _in_window(i["created_at"], query)]
        if query.get("sort_by", [""])[0] == "created_at:desc":
            items.sort(key=lambda i: i["created_at"], reverse=True)
        return self._page("incidents", items, query)

    def _get_incident(self, _q: Any, _h: Any, _b: Any, incident_id: str) -> Any:
        incident = self._find_incident(incident_id)
        if incident is None:
            return 404, {}, NOT_FOUND
        return 200, {}, {"incident": incident}

    def _update_incident(
        self, _q: Any, headers: dict[str, str], body: Any, incident_id: str
    ) -> Any:
        """``PUT /incidents/{id}``: change ``status`` (acknowledged/resolved) or ``assignments``."""
        incident = self._find_incident(incident_id)
        if incident is None:
            return 404, {}, NOT_FOUND
        invalid = {"message": "Invalid Input Provided", "code": 2001}
        sender = headers.get("from")
        if not sender:
            return 400, {}, {"error": invalid | {"errors": ["Requester User Not Found"]}}
        fields = body.get("incident") if isinstance(body, dict) else None
        if not isinstance(fields, dict):
            return 400, {}, {"error": invalid | {"errors": ["Incident is required"]}}
        status = fields.get("status")
        assignments = fields.get("assignments")
        if status is not None and status not in ("acknowledged", "resolved"):
            return 400, {}, {"error": invalid | {"errors": [f"Status {status!r} is invalid"]}}
        if incident["status"] == "resolved" and (status or assignments):
            error = {"message": "Incident Already Resolved", "code": 2002}
            return 400, {}, {"error": error | {"errors": ["Incident Already Resolved"]}}
        now = datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
        if assignments is not None:
            ids = [a.get("assignee", {}).get("id") for a in assignments if isinstance(a, dict)]
            if not ids or any(i not in USERS for i in ids):
                return 400, {}, {"error": invalid | {"errors": ["Assignee is invalid"]}}
            incident["assignments"] = [{"at": now, "assignee": _user(i)} for i in ids]
            incident["acknowledgements"] = []
            incident["status"] = "triggered"
        if status == "acknowledged":
            user = (incident["assignments"] or [{"assignee": _user("PUSR001")}])[0]["assignee"]
            incident["acknowledgements"] = [{"at": now, "acknowledger": user}]
        if status == "resolved":
            incident["assignments"] = []
            incident["acknowledgements"] = []
        if status is not None:
            incident["status"] = status
        incident["updated_at"] = incident["last_status_change_at"] = now
        return 200, {}, {"incident": incident}

    def _incident_log_entries(self, query: Any, _h: Any, _b: Any, incident_id: str) -> Any:
        if self._find_incident(incident_id) is None:
            return 404, {}, NOT_FOUND
        entries = self.log_entries.get(incident_id, [])
        entries = [e for e in entries if _in_window(e["created_at"], query)]
        return self._page("log_entries", entries, query)

    def _list_notes(self, _q: Any, _h: Any, _b: Any, incident_id: str) -> Any:
        if self._find_incident(incident_id) is None:
            return 404, {}, NOT_FOUND
        return 200, {}, {"notes": self.notes.get(incident_id, [])}

    def _create_note(self, _q: Any, headers: dict[str, str], body: Any, incident_id: str) -> Any:
        if self._find_incident(incident_id) is None:
            return 404, {}, NOT_FOUND
        sender = headers.get("from")
        if not sender:
            error = {"message": "Invalid Input Provided", "code": 2001}
            return 400, {}, {"error": error | {"errors": ["Requester User Not Found"]}}
        content = body.get("note", {}).get("content") if isinstance(body, dict) else None
        if not isinstance(content, str) or not content:
            error = {"message": "Invalid Input Provided", "code": 2001}
            return 400, {}, {"error": error | {"errors": ["Note content can't be blank"]}}
        with self._lock:
            self._note_seq += 1
            seq = self._note_seq
        note = {
            "id": f"PNOTE{100 + seq}",
            "user": {"id": "PUSR900", "type": "user_reference", "summary": sender},
            "content": content,
            "created_at": datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
        }
        self.notes.setdefault(incident_id, []).append(note)
        return 201, {}, {"note": note}

    def _incident_alerts(self, query: Any, _h: Any, _b: Any, incident_id: str) -> Any:
        if self._find_incident(incident_id) is None:
            return 404, {}, NOT_FOUND
        alerts = self.alerts.get(incident_id, [])
        if statuses := query.get("statuses[]"):
            alerts = [a for a in alerts if a["status"] in statuses]
        return self._page("alerts", alerts, query)

    def _oncalls(self, query: dict[str, list[str]], *_: Any) -> Any:
        items = list(self.oncalls)
        if policies := query.get("escalation_policy_ids[]"):
            items = [o for o in items if o["escalation_policy"]["id"] in policies]
        if schedules := query.get("schedule_ids[]"):
            items = [o for o in items if o["schedule"] and o["schedule"]["id"] in schedules]
        return self._page("oncalls", items, query)

    def _list_services(self, query: dict[str, list[str]], *_: Any) -> Any:
        items = list(self.services)
        if text := query.get("query"):
            items = [s for s in items if text[0].lower() in s["name"].lower()]
        if teams := query.get("team_ids[]"):
            items = [s for s in items if any(t["id"] in teams for t in s["teams"])]
        return self._page("services", items, query)

    def _change_events(self, query: dict[str, list[str]], *_: Any) -> Any:
        items = [c for c in self.change_events if _in_window(c["timestamp"], query)]
        return self._page("change_events", items, query)

    def _service_change_events(self, query: Any, _h: Any, _b: Any, service_id: str) -> Any:
        if service_id not in SERVICES:
            return 404, {}, NOT_FOUND
        items = [
            c
            for c in self.change_events
            if any(s["id"] == service_id for s in c["services"])
            and _in_window(c["timestamp"], query)
        ]
        return self._page("change_events", items, query)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    stub: PagerDutyStub


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def _serve(self) -> None:
        url = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        headers = {k.lower(): v for k, v in self.headers.items()}
        query = parse_qs(url.query, keep_blank_values=True)
        stub = self.server.stub
        status, extra, payload = stub.handle(
            self.command, url.path, query, headers, copy.deepcopy(body)
        )
        stub._record(
            RecordedRequest(
                method=self.command,
                path=url.path,
                query=query,
                headers=headers,
                body=body,
                raw_body=raw,
                status=status,
            )
        )
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("X-Request-Id", f"stub-{id(self):x}")
        for name, value in extra.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    do_GET = _serve
    do_POST = _serve
    do_PUT = _serve
    do_DELETE = _serve

    def log_message(self, format: str, *args: Any) -> None:
        """Keep test output quiet."""


@contextlib.contextmanager
def serve_pagerduty_stub(*, token: str = STUB_TOKEN) -> Iterator[PagerDutyStub]:
    """Start a stub with a fresh throwaway CA; stop it and delete the CA file on exit."""
    ca = trustme.CA()
    with tempfile.TemporaryDirectory(prefix="pd-stub-") as tmp:
        ca_path = Path(tmp) / "pagerduty-stub-ca.pem"
        ca.cert_pem.write_to_path(str(ca_path))
        stub = PagerDutyStub(ca=ca, ca_bundle=str(ca_path), token=token)
        stub.start()
        try:
            yield stub
        finally:
            stub.stop()
