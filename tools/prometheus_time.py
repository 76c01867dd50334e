"""Times and durations as SREs write them to Prometheus, Grafana and Alertmanager.

Accepted times (see :func:`parse_time`):

* RFC 3339 / ISO 8601: ``2026-01-10T03:00:00Z``, ``2026-01-10T04:00:00+01:00``,
  ``2026-01-10`` (midnight UTC). A time without an offset is taken as UTC.
* Unix seconds: ``1768003200`` or ``1768003200.5`` (number or string).
* Relative to now: ``now``, ``now-1h``, ``now-1h30m``, ``now+15m``.

Accepted durations (see :func:`parse_duration`): Prometheus style ``90s``, ``5m``,
``1h30m``, ``2d``, ``1w``, ``500ms``, or a plain number of seconds.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

_UNITS = {
    "ms": 0.001,
    "s": 1.0,
    "m": 60.0,
    "h": 3600.0,
    "d": 86400.0,
    "w": 7 * 86400.0,
    "y": 365 * 86400.0,
}
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w|y)")
_DURATION = re.compile(r"^(?:\d+(?:\.\d+)?(?:ms|s|m|h|d|w|y))+$")
_NUMBER = re.compile(r"^[+-]?\d+(?:\.\d+)?$")
_RELATIVE = re.compile(r"^now\s*(?:([+-])\s*(\S+))?$")

TimeInput = str | int | float | datetime
DurationInput = str | int | float | timedelta


def utc_now() -> datetime:
    """The current time, timezone-aware UTC (the default clock of the integrations)."""
    return datetime.now(UTC)


def parse_duration(value: DurationInput) -> timedelta:
    """Parse a duration such as ``"5m"``, ``"1h30m"``, ``"90"`` or ``90.0``.

    Raises:
        ValueError: The text is not a duration, or it is negative.
    """
    if isinstance(value, timedelta):
        seconds = value.total_seconds()
    elif isinstance(value, int | float) and not isinstance(value, bool):
        seconds = float(value)
    elif isinstance(value, str):
        text = value.strip().lower().replace(" ", "")
        if _NUMBER.match(text):
            seconds = float(text)
        elif _DURATION.match(text):
            seconds = sum(float(num) * _UNITS[unit] for num, unit in _DURATION_PART.findall(text))
        else:
            raise ValueError(
                f"invalid duration {value!r}: use e.g. '90s', '5m', '1h30m', '2d' or seconds"
            )
    else:
        raise ValueError(f"invalid duration {value!r}")
    if seconds < 0:
        raise ValueError(f"duration {value!r} is negative")
    return timedelta(seconds=seconds)


def parse_time(value: TimeInput, *, now: datetime) -> datetime:
    """Parse an absolute or relative time into an aware UTC datetime.

    Args:
        value: RFC 3339 text, unix seconds (number or text), or ``now[+-]<duration>``.
        now: What ``now`` means (an aware datetime; injected so tests are deterministic).

    Raises:
        ValueError: The value is none of the accepted forms.
    """
    if isinstance(value, datetime):
        return as_utc(value)
    if isinstance(value, int | float) and not isinstance(value, bool):
        return datetime.fromtimestamp(float(value), UTC)
    if not isinstance(value, str):
        raise ValueError(f"invalid time {value!r}")
    text = value.strip()
    if _NUMBER.match(text):
        return datetime.fromtimestamp(float(text), UTC)
    relative = _RELATIVE.match(text.lower())
    if relative:
        sign, amount = relative.groups()
        if not sign:
            return as_utc(now)
        delta = parse_duration(amount)
        return as_utc(now - delta if sign == "-" else now + delta)
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(
            f"invalid time {value!r}: use RFC 3339 (2026-01-10T03:00:00Z), "
            "unix seconds, or relative like 'now-1h'"
        ) from None
    return as_utc(parsed)


def as_utc(value: datetime) -> datetime:
    """``value`` as aware UTC; a naive datetime is taken to be UTC already."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def to_api_time(value: datetime) -> str:
    """Render a time for the Prometheus API (unix seconds with millisecond precision)."""
    return f"{as_utc(value).timestamp():.3f}"


def format_rfc3339(value: datetime) -> str:
    """Render a time as RFC 3339 UTC with a ``Z`` suffix (Alertmanager API, messages)."""
    text = as_utc(value).isoformat(timespec="milliseconds")
    return text.replace("+00:00", "Z")
