"""Typed async client of the Alertmanager API v2 (alerts and silences).

Used by the Alertmanager tools, by the remediation catalogue (silences) and by jobs.
Methods return pydantic models and raise the :mod:`memory.errors` tree through
:mod:`tools.http`. Creating and expiring silences change Alertmanager's state: callers
outside the approved-remediation path must not reach them (the tools wrapping them are
declared ``mutating=True``).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from datetime import datetime
from typing import Any
from urllib.parse import quote

import httpx
from pydantic import BaseModel, ConfigDict, Field, model_validator

from memory.errors import IntegrationError
from tools.config import AlertmanagerConfig
from tools.http import build_client, display_url, read_json, send
from tools.prometheus_time import format_rfc3339

logger = logging.getLogger(__name__)

_OPS = {(True, False): "=", (False, False): "!=", (True, True): "=~", (False, True): "!~"}
_MATCHER = re.compile(r"^\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*(.*?)\s*$")


class Matcher(BaseModel):
    """One label matcher, e.g. ``service="checkout"`` or ``severity=~"critical|page"``."""

    model_config = ConfigDict(frozen=True, populate_by_name=True)

    name: str
    value: str
    is_regex: bool = Field(default=False, alias="isRegex")
    is_equal: bool = Field(default=True, alias="isEqual")

    @property
    def op(self) -> str:
        """The operator: ``=``, ``!=``, ``=~`` or ``!~``."""
        return _OPS[(self.is_equal, self.is_regex)]

    def __str__(self) -> str:
        escaped = self.value.replace("\\", "\\\\").replace('"', '\\"')
        return f'{self.name}{self.op}"{escaped}"'

    @classmethod
    def parse(cls, text: str) -> Matcher:
        """Parse ``name="value"`` (also ``!=``, ``=~``, ``!~``; quotes optional).

        Raises:
            ValueError: ``text`` is not a matcher.
        """
        found = _MATCHER.match(text)
        if not found:
            raise ValueError(f'invalid matcher {text!r}: use e.g. service="checkout"')
        name, op, value = found.groups()
        if len(value) >= 2 and value[0] == value[-1] == '"':
            value = value[1:-1].replace('\\"', '"').replace("\\\\", "\\")
        return cls(name=name, value=value, is_regex="~" in op, is_equal=not op.startswith("!"))

    def to_api(self) -> dict[str, Any]:
        """The API v2 JSON form."""
        return {
            "name": self.name,
            "value": self.value,
            "isRegex": self.is_regex,
            "isEqual": self.is_equal,
        }


def as_matchers(items: Sequence[Matcher | str]) -> list[Matcher]:
    """Parse every string in ``items`` into a :class:`Matcher` (raises ``ValueError``)."""
    return [m if isinstance(m, Matcher) else Matcher.parse(m) for m in items]


class AlertmanagerAlert(BaseModel):
    """An alert as Alertmanager holds it (after grouping, silencing and inhibition)."""

    model_config = ConfigDict(populate_by_name=True)

    fingerprint: str
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)
    state: str = "unknown"
    silenced_by: list[str] = Field(default_factory=list)
    inhibited_by: list[str] = Field(default_factory=list)
    receivers: list[str] = Field(default_factory=list)
    starts_at: datetime | None = Field(default=None, alias="startsAt")
    ends_at: datetime | None = Field(default=None, alias="endsAt")
    updated_at: datetime | None = Field(default=None, alias="updatedAt")
    generator_url: str = Field(default="", alias="generatorURL")

    @model_validator(mode="before")
    @classmethod
    def _flatten(cls, raw: Any) -> Any:
        if isinstance(raw, dict) and isinstance(raw.get("status"), dict):
            status = raw["status"]
            raw = {
                **raw,
                "state": status.get("state", "unknown"),
                "silenced_by": status.get("silencedBy") or [],
                "inhibited_by": status.get("inhibitedBy") or [],
                "receivers": [
                    r.get("name", "") if isinstance(r, dict) else str(r)
                    for r in raw.get("receivers") or []
                ],
            }
        return raw

    @property
    def alertname(self) -> str:
        """The ``alertname`` label."""
        return self.labels.get("alertname", "")


class Silence(BaseModel):
    """A silence: matchers, validity window, author and state (active/pending/expired)."""

    model_config = ConfigDict(populate_by_name=True)

    id: str
    state: str = "unknown"
    matchers: list[Matcher] = Field(default_factory=list)
    starts_at: datetime = Field(alias="startsAt")
    ends_at: datetime = Field(alias="endsAt")
    updated_at: datetime | None = Field(default=None, alias="updatedAt")
    created_by: str = Field(default="", alias="createdBy")
    comment: str = ""

    @model_validator(mode="before")
    @classmethod
    def _flatten(cls, raw: Any) -> Any:
        if isinstance(raw, dict) and isinstance(raw.get("status"), dict):
            raw = {**raw, "state": raw["status"].get("state", "unknown")}
        return raw


class AlertmanagerStatus(BaseModel):
    """Version and cluster status of the Alertmanager."""

    version: str = "unknown"
    cluster_status: str = "unknown"


class AlertmanagerClient:
    """Async client of one Alertmanager (API v2).

    Args:
        config: Base URL, timeout, TLS verification and optional bearer token.
        transport: Optional httpx transport (``httpx.MockTransport`` in unit tests).

    Raises:
        ValueError: ``config.base_url`` is empty.
    """

    def __init__(
        self, config: AlertmanagerConfig, *, transport: httpx.AsyncBaseTransport | None = None
    ) -> None:
        self._config = config
        self._http = build_client(config, bearer_token=config.bearer_token, transport=transport)

    @property
    def base_url(self) -> str:
        """The configured base URL."""
        return str(self._config.base_url)

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._http.aclose()

    async def alerts(
        self,
        *,
        filters: Sequence[Matcher | str] = (),
        active: bool = True,
        silenced: bool = True,
        inhibited: bool = True,
        unprocessed: bool = True,
        receiver: str | None = None,
    ) -> list[AlertmanagerAlert]:
        """Alerts matching every filter, in the requested states (``GET /api/v2/alerts``).

        Raises:
            ValueError: A filter is not a matcher.
        """
        params: dict[str, Any] = {
            "filter": [str(m) for m in as_matchers(filters)],
            "active": _flag(active),
            "silenced": _flag(silenced),
            "inhibited": _flag(inhibited),
            "unprocessed": _flag(unprocessed),
        }
        if receiver:
            params["receiver"] = receiver
        body = await self._json("GET", "/api/v2/alerts", params=params, expect_list=True)
        return [AlertmanagerAlert.model_validate(a) for a in body]

    async def silences(self, *, filters: Sequence[Matcher | str] = ()) -> list[Silence]:
        """Silences (any state) whose matchers match every filter (``GET /api/v2/silences``)."""
        params = {"filter": [str(m) for m in as_matchers(filters)]}
        body = await self._json("GET", "/api/v2/silences", params=params, expect_list=True)
        return [Silence.model_validate(s) for s in body]

    async def silence(self, silence_id: str) -> Silence:
        """One silence by id (``GET /api/v2/silence/{id}``)."""
        body = await self._json("GET", f"/api/v2/silence/{quote(silence_id, safe='')}")
        return Silence.model_validate(body)

    async def create_silence(
        self,
        *,
        matchers: Sequence[Matcher | str],
        starts_at: datetime,
        ends_at: datetime,
        created_by: str,
        comment: str,
    ) -> str:
        """Create a silence and return its id (``POST /api/v2/silences``). Mutating.

        Raises:
            ValueError: No matcher, a malformed matcher, or ``ends_at`` not after ``starts_at``.
            UpstreamHTTPError: Alertmanager refused it (e.g. every matcher matches "").
        """
        parsed = as_matchers(matchers)
        if not parsed:
            raise ValueError("a silence needs at least one matcher")
        if ends_at <= starts_at:
            raise ValueError("a silence must end after it starts")
        payload = {
            "matchers": [m.to_api() for m in parsed],
            "startsAt": format_rfc3339(starts_at),
            "endsAt": format_rfc3339(ends_at),
            "createdBy": created_by,
            "comment": comment,
        }
        body = await self._json("POST", "/api/v2/silences", json_body=payload)
        silence_id = body.get("silenceID") if isinstance(body, dict) else None
        if not silence_id:
            raise IntegrationError(f"Alertmanager at {self.base_url} returned no silenceID")
        logger.info("created silence %s (%s) by %s", silence_id, parsed, created_by)
        return str(silence_id)

    async def expire_silence(self, silence_id: str) -> None:
        """Expire a silence now (``DELETE /api/v2/silence/{id}``). Mutating."""
        await send(self._http, "DELETE", f"/api/v2/silence/{quote(silence_id, safe='')}")
        logger.info("expired silence %s", silence_id)

    async def status(self, *, timeout_s: float | None = None) -> AlertmanagerStatus:
        """Version and cluster status (``GET /api/v2/status``)."""
        body = await self._json("GET", "/api/v2/status", timeout_s=timeout_s)
        body = body if isinstance(body, dict) else {}
        return AlertmanagerStatus(
            version=str((body.get("versionInfo") or {}).get("version", "unknown")),
            cluster_status=str((body.get("cluster") or {}).get("status", "unknown")),
        )

    async def _json(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        json_body: Any = None,
        timeout_s: float | None = None,
        expect_list: bool = False,
    ) -> Any:
        response = await send(
            self._http, method, path, params=params, json_body=json_body, timeout_s=timeout_s
        )
        body = read_json(response)
        if expect_list and not isinstance(body, list):
            url = display_url(response.request.url)
            raise IntegrationError(f"unexpected answer from {url}: expected a JSON list")
        return body


def _flag(value: bool) -> str:
    return "true" if value else "false"
