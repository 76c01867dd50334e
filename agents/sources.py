"""Evidence sources the investigation reads, behind small protocols.

Each protocol has a live adapter (over the clients in ``tools/``) and a file-backed
one (over a :class:`tools.scenario.Scenario`, for the demo and the offline evals),
so the analyst never knows which it is talking to. Everything is normalised into
the ``*Fact`` models below.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, Protocol

from pydantic import BaseModel, Field

from agents.reply import RunbookRef, SuggestedAction
from memory.models import AlertStatus
from memory.repositories import Repositories
from tools.alertmanager_client import AlertmanagerClient
from tools.pagerduty_client import PagerDutyClient
from tools.runbooks import RunbookStore
from tools.scenario import Scenario

_DEPLOY_WORDS = re.compile(
    r"\b(deploy|deployed|release|rollout|rolled out|upgrade|v\d+\.\d+)", re.I
)
_CONFIG_WORDS = re.compile(r"\b(config|configuration|feature flag|flag|toggle|setting)", re.I)


class AlertFact(BaseModel):
    """A firing (or recently resolved) alert."""

    name: str
    severity: str = "warning"
    status: str = "firing"
    labels: dict[str, str] = Field(default_factory=dict)
    summary: str = ""
    starts_at: datetime | None = None
    source: str = "alerts"


class ChangeFact(BaseModel):
    """A change event: deploy, config change, feature flag, scale."""

    id: str = ""
    summary: str
    services: list[str] = Field(default_factory=list)
    at: datetime
    kind: str = "change"
    source: str = "changes"


class IncidentFact(BaseModel):
    """An incident from the paging system."""

    id: str
    title: str
    status: str
    urgency: str = ""
    service: str = ""
    created_at: datetime | None = None
    url: str = ""


class OncallFact(BaseModel):
    """Who is on call for what."""

    user: str
    policy: str = ""
    level: int | None = None


class AlertSource(Protocol):
    """Alerts that fired in a window."""

    @property
    def name(self) -> str:
        """Source label used in citations."""
        ...

    async def alerts(self, *, start: datetime, end: datetime) -> list[AlertFact]:
        """Alerts active at any time in ``[start, end]``."""
        ...


class PagingSource(Protocol):
    """Incidents, on-call and change events (PagerDuty or a scenario file)."""

    @property
    def name(self) -> str:
        """Source label used in citations."""
        ...

    async def changes(self, *, start: datetime, end: datetime) -> list[ChangeFact]:
        """Change events in ``[start, end]``."""
        ...

    async def incidents(self, *, start: datetime, end: datetime) -> list[IncidentFact]:
        """Incidents created in ``[start, end]`` or still open."""
        ...

    async def oncall(self) -> list[OncallFact]:
        """Who is on call now."""
        ...


def parse_time(value: Any) -> datetime | None:
    """Parse an RFC 3339 string (``Z`` allowed) into an aware datetime."""
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if not value or not isinstance(value, str) or value.startswith("0001-"):
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def change_kind(summary: str, details: dict[str, Any] | None = None) -> str:
    """Classify a change as deploy / config / other from its details or wording."""
    declared = str((details or {}).get("kind") or (details or {}).get("type") or "").lower()
    if declared in ("deploy", "deployment", "release", "rollout"):
        return "deploy"
    if declared in ("config", "configuration", "feature_flag", "flag"):
        return "config"
    if declared:
        return declared
    if _CONFIG_WORDS.search(summary):
        return "config"
    if _DEPLOY_WORDS.search(summary):
        return "deploy"
    return "change"


def _alert_from_payload(alert: dict[str, Any], source: str) -> AlertFact:
    labels = {str(k): str(v) for k, v in (alert.get("labels") or {}).items()}
    annotations = alert.get("annotations") or {}
    return AlertFact(
        name=labels.get("alertname", "unknown"),
        severity=labels.get("severity", "warning"),
        status=str(alert.get("status") or alert.get("state") or "firing"),
        labels=labels,
        summary=str(annotations.get("summary") or annotations.get("description") or ""),
        starts_at=parse_time(alert.get("startsAt") or alert.get("starts_at")),
        source=source,
    )


def _started_by(at: datetime | None, end: datetime) -> bool:
    return at is None or at <= end


class ScenarioSources:
    """File-backed alerts, changes, incidents and on-call from a scenario directory."""

    def __init__(self, scenario: Scenario) -> None:
        self._scenario = scenario

    @property
    def name(self) -> str:
        """Citation label."""
        return f"file {self._scenario.path.name}"

    async def alerts(self, *, start: datetime, end: datetime) -> list[AlertFact]:  # noqa: ARG002
        """Alerts of the scenario's webhook payloads that started by ``end``."""
        facts = [_alert_from_payload(a, self.name) for a in self._scenario.alerts]
        return [f for f in facts if _started_by(f.starts_at, end)]

    async def changes(self, *, start: datetime, end: datetime) -> list[ChangeFact]:
        """The scenario's change events inside the window."""
        out = []
        for raw in self._scenario.changes:
            at = parse_time(raw.get("timestamp"))
            if at is None or not start <= at <= end:
                continue
            services = raw.get("services") or ([raw["service"]] if raw.get("service") else [])
            out.append(
                ChangeFact(
                    id=str(raw.get("id", "")),
                    summary=str(raw.get("summary", "")),
                    services=[str(s) for s in services],
                    at=at,
                    kind=change_kind(str(raw.get("summary", "")), raw.get("custom_details")),
                    source=self.name,
                )
            )
        return out

    async def incidents(self, *, start: datetime, end: datetime) -> list[IncidentFact]:  # noqa: ARG002
        """The scenario's PagerDuty incidents created by ``end``."""
        out = []
        for raw in self._scenario.pagerduty.get("incidents", []):
            created = parse_time(raw.get("created_at"))
            if created is not None and created > end:
                continue
            service = raw.get("service") or {}
            out.append(
                IncidentFact(
                    id=str(raw.get("id", "")),
                    title=str(raw.get("title", "")),
                    status=str(raw.get("status", "")),
                    urgency=str(raw.get("urgency", "")),
                    service=str(service.get("summary", "")),
                    created_at=created,
                    url=str(raw.get("html_url", "")),
                )
            )
        return out

    async def oncall(self) -> list[OncallFact]:
        """The scenario's on-call entries."""
        return [
            OncallFact(
                user=str((o.get("user") or {}).get("summary", "?")),
                policy=str((o.get("escalation_policy") or {}).get("summary", "")),
                level=o.get("escalation_level"),
            )
            for o in self._scenario.pagerduty.get("oncalls", [])
        ]


class AlertmanagerAlertSource:
    """Active alerts from a live Alertmanager."""

    def __init__(self, client: AlertmanagerClient) -> None:
        self._client = client

    @property
    def name(self) -> str:
        """Citation label."""
        return f"alertmanager {self._client.base_url}"

    async def alerts(self, *, start: datetime, end: datetime) -> list[AlertFact]:  # noqa: ARG002
        """Alerts Alertmanager holds now (it keeps only active ones)."""
        alerts = await self._client.alerts()
        return [
            AlertFact(
                name=a.labels.get("alertname", "unknown"),
                severity=a.labels.get("severity", "warning"),
                status=a.state,
                labels=a.labels,
                summary=a.annotations.get("summary") or a.annotations.get("description") or "",
                starts_at=a.starts_at,
                source=self.name,
            )
            for a in alerts
            if a.starts_at is None or a.starts_at <= end
        ]


class RepositoryAlertSource:
    """Alerts received by webhook and stored in the database."""

    def __init__(self, repos: Repositories, *, workspace_id: str) -> None:
        self._repos = repos
        self._workspace_id = workspace_id

    @property
    def name(self) -> str:
        """Citation label."""
        return "alert store"

    async def alerts(self, *, start: datetime, end: datetime) -> list[AlertFact]:
        """Stored alerts firing, or resolved inside the window."""
        rows = await self._repos.alerts.list(workspace_id=self._workspace_id)
        out = []
        for row in rows:
            if row.starts_at > end:
                continue
            if row.status == AlertStatus.RESOLVED and row.ends_at and row.ends_at < start:
                continue
            out.append(
                AlertFact(
                    name=row.name,
                    severity=row.severity,
                    status=str(row.status),
                    labels=row.labels,
                    summary=row.annotations.get("summary", ""),
                    starts_at=row.starts_at,
                    source=self.name,
                )
            )
        return out


class PagerDutySource:
    """Incidents, on-call and change events from the live PagerDuty API."""

    def __init__(self, client: PagerDutyClient, *, base_url: str) -> None:
        self._client = client
        self._base_url = base_url

    @property
    def name(self) -> str:
        """Citation label."""
        return f"pagerduty {self._base_url}"

    async def changes(self, *, start: datetime, end: datetime) -> list[ChangeFact]:
        """Change events in the window."""
        raw = await self._client.list_change_events(since=start, until=end)
        out = []
        for c in raw:
            at = parse_time(c.get("timestamp"))
            if at is None:
                continue
            summary = str(c.get("summary", ""))
            out.append(
                ChangeFact(
                    id=str(c.get("id", "")),
                    summary=summary,
                    services=[_ref_summary(s) for s in c.get("services") or []],
                    at=at,
                    kind=change_kind(summary, c.get("custom_details")),
                    source=self.name,
                )
            )
        return out

    async def incidents(self, *, start: datetime, end: datetime) -> list[IncidentFact]:
        """Incidents created in the window."""
        raw = await self._client.list_incidents(since=start, until=end)
        return [
            IncidentFact(
                id=str(i.get("id", "")),
                title=str(i.get("title", "")),
                status=str(i.get("status", "")),
                urgency=str(i.get("urgency", "")),
                service=_ref_summary(i.get("service")),
                created_at=parse_time(i.get("created_at")),
                url=str(i.get("html_url", "")),
            )
            for i in raw
        ]

    async def oncall(self) -> list[OncallFact]:
        """Who is on call now."""
        raw = await self._client.list_oncalls()
        return [
            OncallFact(
                user=_ref_summary(o.get("user")) or "?",
                policy=_ref_summary(o.get("escalation_policy")),
                level=o.get("escalation_level"),
            )
            for o in raw
        ]


def _ref_summary(ref: Any) -> str:
    """``summary`` of a PagerDuty reference object (or the value itself)."""
    if isinstance(ref, dict):
        return str(ref.get("summary") or ref.get("name") or ref.get("id") or "")
    return str(ref or "")


def merge_alerts(groups: Sequence[Sequence[AlertFact]]) -> list[AlertFact]:
    """Union of alert lists, deduplicated by (name, labels)."""
    seen: dict[tuple[str, tuple[tuple[str, str], ...]], AlertFact] = {}
    for group in groups:
        for alert in group:
            seen.setdefault((alert.name, tuple(sorted(alert.labels.items()))), alert)
    return list(seen.values())


class RunbookStoreSearcher:
    """Runbook search over the hybrid store, as :class:`agents.gather.RunbookSearcher`."""

    def __init__(self, store: RunbookStore) -> None:
        self._store = store

    async def search_runbooks(self, query: str, *, k: int = 3) -> list[RunbookRef]:
        """Best sections; ``score`` is the hit's absolute relevance (0..1)."""
        hits = await self._store.search(query, k=k)
        return [
            RunbookRef(
                title=h.title,
                path=h.path,
                section=h.section,
                score=h.relevance,
                snippet=h.snippet,
                actions=[SuggestedAction.model_validate(a.model_dump()) for a in h.actions],
            )
            for h in hits
        ]
