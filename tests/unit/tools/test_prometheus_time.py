"""Time and duration parsing (RFC 3339, unix seconds, now-relative)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from tools.prometheus_time import format_rfc3339, parse_duration, parse_time, to_api_time

NOW = datetime(2026, 1, 10, 6, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-01-10T03:00:00Z", datetime(2026, 1, 10, 3, tzinfo=UTC)),
        ("2026-01-10T04:00:00+01:00", datetime(2026, 1, 10, 3, tzinfo=UTC)),
        ("2026-01-10T03:00:00", datetime(2026, 1, 10, 3, tzinfo=UTC)),  # naive = UTC
        ("2026-01-10", datetime(2026, 1, 10, tzinfo=UTC)),
        ("1768017600", datetime(2026, 1, 10, 4, tzinfo=UTC)),
        ("1768017600.5", datetime(2026, 1, 10, 4, 0, 0, 500000, tzinfo=UTC)),
        (1768017600, datetime(2026, 1, 10, 4, tzinfo=UTC)),
        ("now", NOW),
        (" NOW ", NOW),
        ("now-1h", NOW - timedelta(hours=1)),
        ("now - 1h30m", NOW - timedelta(minutes=90)),
        ("now+15m", NOW + timedelta(minutes=15)),
        ("now-7d", NOW - timedelta(days=7)),
    ],
)
def test_parse_time_accepts_absolute_unix_and_relative(text: str | int, expected: datetime) -> None:
    parsed = parse_time(text, now=NOW)
    assert parsed == expected
    assert parsed.tzinfo is UTC


def test_parse_time_converts_aware_datetimes_to_utc() -> None:
    local = datetime(2026, 1, 10, 5, tzinfo=timezone(timedelta(hours=2)))
    assert parse_time(local, now=NOW) == datetime(2026, 1, 10, 3, tzinfo=UTC)


@pytest.mark.parametrize("text", ["yesterday", "now-", "now-1x", "10/01/2026", ""])
def test_parse_time_rejects_garbage_with_a_hint(text: str) -> None:
    with pytest.raises(ValueError, match="invalid"):
        parse_time(text, now=NOW)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("90s", 90),
        ("5m", 300),
        ("1h30m", 5400),
        ("2d", 172800),
        ("1w", 604800),
        ("500ms", 0.5),
        ("90", 90),
        ("1.5", 1.5),
        (60, 60),
        (timedelta(minutes=2), 120),
    ],
)
def test_parse_duration(text: str | int | timedelta, seconds: float) -> None:
    assert parse_duration(text).total_seconds() == seconds


@pytest.mark.parametrize("text", ["5 minutes", "m5", "-5m", "1h-30m", "", "-3"])
def test_parse_duration_rejects_garbage(text: str) -> None:
    with pytest.raises(ValueError):
        parse_duration(text)


def test_formatting_for_the_apis() -> None:
    at = datetime(2026, 1, 10, 3, 0, 0, 123456, tzinfo=UTC)
    assert to_api_time(at) == "1768014000.123"
    assert format_rfc3339(at) == "2026-01-10T03:00:00.123Z"
