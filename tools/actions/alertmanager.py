"""Alertmanager actions: create and expire silences.

Both go through :class:`tools.alertmanager_client.AlertmanagerClient`. A silence must
name at least one matcher and must not match every alert (a matcher set in which every
matcher also matches the empty label value silences everything; Alertmanager refuses it
too, but the precondition says so before anything is sent).
"""

from __future__ import annotations

import logging
import re
from datetime import UTC, datetime, timedelta

from pydantic import BaseModel, ConfigDict, Field, field_validator

from memory.errors import CopilotError, UpstreamHTTPError
from tools.actions.base import ActionOutcome, Risk
from tools.alertmanager_client import AlertmanagerClient, Matcher

logger = logging.getLogger(__name__)

MAX_SILENCE_MINUTES = 7 * 24 * 60
"""Longest silence an action may create (one week)."""


class SilenceCreateParams(BaseModel):
    """Parameters of ``alertmanager.silence_create``."""

    model_config = ConfigDict(extra="forbid")

    matchers: list[str] = Field(description='Label matchers, e.g. service="checkout".')
    duration_minutes: int = Field(gt=0, le=MAX_SILENCE_MINUTES)
    comment: str = Field(min_length=1)
    created_by: str = Field(min_length=1)

    @field_validator("matchers")
    @classmethod
    def _parseable(cls, value: list[str]) -> list[str]:
        for text in value:
            Matcher.parse(text)  # raises ValueError -> ValidationError
        return value

    def parsed(self) -> list[Matcher]:
        """The matchers as :class:`Matcher` objects."""
        return [Matcher.parse(m) for m in self.matchers]


class SilenceExpireParams(BaseModel):
    """Parameters of ``alertmanager.silence_expire``."""

    model_config = ConfigDict(extra="forbid")

    silence_id: str = Field(min_length=1)


def matches_empty(matcher: Matcher) -> bool:
    """Whether ``matcher`` holds for an alert that lacks its label (value ``""``).

    An invalid regular expression is treated as not matching (Alertmanager rejects it).
    """
    if matcher.is_regex:
        try:
            hit = re.fullmatch(matcher.value, "") is not None
        except re.error:
            return False
    else:
        hit = matcher.value == ""
    return hit if matcher.is_equal else not hit


def _matchers_text(matchers: list[Matcher]) -> str:
    return "{" + ", ".join(str(m) for m in matchers) + "}"


class SilenceCreateAction:
    """``alertmanager.silence_create``: silence alerts matching every matcher for a while.

    Args:
        client: The Alertmanager to change.
    """

    name = "alertmanager.silence_create"
    description = "Create an Alertmanager silence for the given matchers and duration."
    risk = Risk.LOW
    safe = True
    params_model: type[BaseModel] = SilenceCreateParams

    def __init__(self, *, client: AlertmanagerClient) -> None:
        self._client = client

    async def dry_run(self, params: BaseModel) -> str:
        """Matchers, duration and how many currently-active alerts would be silenced."""
        p = SilenceCreateParams.model_validate(params, from_attributes=True)
        matchers = p.parsed()
        text = (
            f"create a silence on {self._client.base_url} matching {_matchers_text(matchers)} "
            f"for {p.duration_minutes} min (by {p.created_by}: {p.comment!r})"
        )
        if not matchers:
            return text + "; no matcher given, nothing would be silenced"
        try:
            alerts = await self._client.alerts(filters=matchers, active=True, silenced=False)
        except CopilotError as exc:
            return text + f"; active alerts unknown ({exc})"
        return text + f"; it would silence {len(alerts)} currently active alert(s)"

    async def precondition(self, params: BaseModel) -> ActionOutcome:
        """At least one matcher, and not a matcher set that matches every alert."""
        p = SilenceCreateParams.model_validate(params, from_attributes=True)
        matchers = p.parsed()
        if not matchers:
            return ActionOutcome(ok=False, detail="a silence needs at least one matcher")
        if all(matches_empty(m) for m in matchers):
            return ActionOutcome(
                ok=False,
                detail=f"{_matchers_text(matchers)} matches every alert; add a specific matcher",
            )
        return ActionOutcome(ok=True, detail=f"{len(matchers)} matcher(s), none match-all")

    async def execute(self, params: BaseModel) -> ActionOutcome:
        """Create the silence, starting now."""
        p = SilenceCreateParams.model_validate(params, from_attributes=True)
        starts = datetime.now(UTC)
        ends = starts + timedelta(minutes=p.duration_minutes)
        try:
            silence_id = await self._client.create_silence(
                matchers=p.parsed(),
                starts_at=starts,
                ends_at=ends,
                created_by=p.created_by,
                comment=p.comment,
            )
        except (CopilotError, ValueError) as exc:
            logger.warning("silence_create failed: %s", exc)
            return ActionOutcome(ok=False, detail=f"could not create the silence: {exc}")
        return ActionOutcome(
            ok=True,
            detail=f"created silence {silence_id} until {ends.isoformat(timespec='seconds')}",
            data={"silence_id": silence_id, "ends_at": ends.isoformat()},
        )

    async def verify(self, params: BaseModel, executed: ActionOutcome) -> ActionOutcome:
        """The silence is active and listed among the silences for its matchers."""
        p = SilenceCreateParams.model_validate(params, from_attributes=True)
        silence_id = str(executed.data.get("silence_id") or "")
        if not executed.ok or not silence_id:
            return ActionOutcome(ok=False, detail="no silence was created")
        try:
            silence = await self._client.silence(silence_id)
            listed = await self._client.silences(filters=p.parsed())
        except CopilotError as exc:
            return ActionOutcome(ok=False, detail=f"cannot read silence {silence_id}: {exc}")
        if silence.state != "active":
            return ActionOutcome(ok=False, detail=f"silence {silence_id} is {silence.state}")
        if silence_id not in {s.id for s in listed}:
            return ActionOutcome(ok=False, detail=f"silence {silence_id} is not listed")
        return ActionOutcome(
            ok=True, detail=f"silence {silence_id} is active", data={"silence_id": silence_id}
        )


class SilenceExpireAction:
    """``alertmanager.silence_expire``: end an active silence now.

    Args:
        client: The Alertmanager to change.
    """

    name = "alertmanager.silence_expire"
    description = "Expire an active Alertmanager silence by id."
    risk = Risk.LOW
    safe = True
    params_model: type[BaseModel] = SilenceExpireParams

    def __init__(self, *, client: AlertmanagerClient) -> None:
        self._client = client

    async def dry_run(self, params: BaseModel) -> str:
        """Which silence would end (with its matchers when it can be read)."""
        p = SilenceExpireParams.model_validate(params, from_attributes=True)
        text = f"expire silence {p.silence_id} on {self._client.base_url}"
        try:
            silence = await self._client.silence(p.silence_id)
        except CopilotError as exc:
            return text + f" (cannot read it: {exc})"
        return (
            text + f" ({silence.state}, {_matchers_text(silence.matchers)}, "
            f"by {silence.created_by}: {silence.comment!r})"
        )

    async def precondition(self, params: BaseModel) -> ActionOutcome:
        """The silence exists and is active."""
        p = SilenceExpireParams.model_validate(params, from_attributes=True)
        try:
            silence = await self._client.silence(p.silence_id)
        except UpstreamHTTPError as exc:
            if exc.status_code == 404:
                return ActionOutcome(ok=False, detail=f"silence {p.silence_id} does not exist")
            return ActionOutcome(ok=False, detail=f"cannot read silence {p.silence_id}: {exc}")
        except CopilotError as exc:
            return ActionOutcome(ok=False, detail=f"cannot read silence {p.silence_id}: {exc}")
        if silence.state != "active":
            return ActionOutcome(
                ok=False, detail=f"silence {p.silence_id} is {silence.state}, not active"
            )
        return ActionOutcome(ok=True, detail=f"silence {p.silence_id} is active")

    async def execute(self, params: BaseModel) -> ActionOutcome:
        """Expire the silence."""
        p = SilenceExpireParams.model_validate(params, from_attributes=True)
        try:
            await self._client.expire_silence(p.silence_id)
        except CopilotError as exc:
            logger.warning("silence_expire %s failed: %s", p.silence_id, exc)
            return ActionOutcome(ok=False, detail=f"could not expire {p.silence_id}: {exc}")
        return ActionOutcome(
            ok=True, detail=f"expired silence {p.silence_id}", data={"silence_id": p.silence_id}
        )

    async def verify(self, params: BaseModel, executed: ActionOutcome) -> ActionOutcome:
        """The silence's state is now ``expired``."""
        p = SilenceExpireParams.model_validate(params, from_attributes=True)
        if not executed.ok:
            return ActionOutcome(ok=False, detail=f"silence {p.silence_id} was not expired")
        try:
            silence = await self._client.silence(p.silence_id)
        except CopilotError as exc:
            return ActionOutcome(ok=False, detail=f"cannot read silence {p.silence_id}: {exc}")
        if silence.state != "expired":
            return ActionOutcome(ok=False, detail=f"silence {p.silence_id} is {silence.state}")
        return ActionOutcome(ok=True, detail=f"silence {p.silence_id} is expired")
