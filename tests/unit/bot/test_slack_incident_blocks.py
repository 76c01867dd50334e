"""The incident message and the timeline: pure Block Kit, expected dicts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bot.slack import blocks
from memory.models import Alert, AlertStatus, Incident, IncidentStatus, TimelineEvent
from tests.stubs.slack_api import MESSAGE_BLOCK_LIMIT, _check_blocks

START = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)


def incident(status: IncidentStatus = IncidentStatus.TRIGGERED, **kw: object) -> Incident:
    values: dict[str, object] = {
        "id": 7,
        "workspace_id": "T1",
        "title": "checkout 5xx <script>",
        "status": status,
        "severity": "critical",
        "service": "checkout",
        "started_at": START,
    }
    values.update(kw)
    return Incident.model_validate(values)


def alert(name: str, *, occurrences: int = 1, status: AlertStatus = AlertStatus.FIRING) -> Alert:
    return Alert(
        workspace_id="T1",
        fingerprint=name,
        name=name,
        status=status,
        occurrences=occurrences,
        starts_at=START,
    )


def by_id(message: blocks.Message) -> dict[str, dict]:
    return {b["block_id"]: b for b in message.blocks}


def buttons(message: blocks.Message) -> list[tuple[str, str]]:
    return [(el["action_id"], el["value"]) for el in by_id(message)["incident.actions"]["elements"]]


def test_incident_message_layout_and_buttons():
    msg = blocks.incident_message(
        incident(),
        [
            alert("HighErrorRate", occurrences=5),
            alert("Latency", occurrences=2, status=AlertStatus.RESOLVED),
        ],
    )
    assert [b["block_id"] for b in msg.blocks] == [
        "incident.header",
        "incident.status",
        "incident.times",
        "incident.alerts",
        "incident.actions",
    ]
    found = by_id(msg)
    assert found["incident.header"]["type"] == "header"
    assert found["incident.header"]["text"]["text"] == ":red_circle: #7 checkout 5xx <script>"
    status = found["incident.status"]["text"]["text"]
    assert "`triggered`" in status and "critical" in status and "`checkout`" in status
    assert found["incident.times"]["elements"] == [
        {
            "type": "mrkdwn",
            "text": f"Started <!date^{int(START.timestamp())}^{{date_short_pretty}} {{time}}"
            "|2026-11-27 10:00 UTC>",
        }
    ]
    assert found["incident.alerts"]["text"]["text"] == (
        "*Alerts:* 1 firing · 1 resolved\n• `HighErrorRate` ×5\n• `Latency` ×2"
    )
    assert buttons(msg) == [
        ("incident.ack", "7"),
        ("incident.mitigate", "7"),
        ("incident.resolve", "7"),
        ("incident.postmortem", "7"),
    ]
    assert "&lt;script&gt;" in msg.text and msg.text.startswith(":red_circle: Incident #7")
    assert _check_blocks(msg.blocks, limit=MESSAGE_BLOCK_LIMIT) is None


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (IncidentStatus.ACKNOWLEDGED, ["incident.mitigate", "incident.resolve"]),
        (IncidentStatus.INVESTIGATING, ["incident.mitigate", "incident.resolve"]),
        (IncidentStatus.MITIGATED, ["incident.resolve"]),
        (IncidentStatus.RESOLVED, []),
    ],
)
def test_only_valid_transitions_have_buttons(status: IncidentStatus, expected: list[str]):
    msg = blocks.incident_message(incident(status), [])
    assert [a for a, _ in buttons(msg)] == [*expected, "incident.postmortem"]


def test_resolved_incident_shows_its_times_and_metrics():
    msg = blocks.incident_message(
        incident(
            IncidentStatus.RESOLVED,
            acknowledged_at=START + timedelta(minutes=4, seconds=10),
            resolved_at=START + timedelta(hours=1, minutes=5),
        ),
        [alert("HighErrorRate", status=AlertStatus.RESOLVED)],
    )
    times = [e["text"] for e in by_id(msg)["incident.times"]["elements"]]
    assert [t.split(" ")[0] for t in times] == [
        "Started",
        "Acknowledged",
        "Resolved",
        "MTTA",
        "MTTR",
    ]
    assert times[-2:] == ["MTTA 4 min 10 s", "MTTR 1 h 05 min"]
    assert ":white_check_mark:" in by_id(msg)["incident.status"]["text"]["text"]
    assert "0 firing · 1 resolved" in by_id(msg)["incident.alerts"]["text"]["text"]


def test_top_five_alert_names_noisiest_first():
    alerts = [alert(f"A{i}", occurrences=i) for i in range(1, 9)]
    alerts.append(alert("A8", occurrences=3))  # same name, another fingerprint: summed
    text = by_id(blocks.incident_message(incident(), alerts))["incident.alerts"]["text"]["text"]
    lines = text.split("\n")
    assert lines[0] == "*Alerts:* 9 firing · 0 resolved"
    assert lines[1:6] == ["• `A8` ×11", "• `A7` ×7", "• `A6` ×6", "• `A5` ×5", "• `A4` ×4"]
    assert lines[6] == "… and 3 more alert names"


def test_severity_emoji_and_long_titles_fit_slack():
    assert blocks.severity_emoji("warning") == ":large_yellow_circle:"
    assert blocks.severity_emoji("whatever") == ":white_circle:"
    msg = blocks.incident_message(incident(title="x" * 500, summary="y" * 5000), [])
    assert len(by_id(msg)["incident.header"]["text"]["text"]) <= blocks.HEADER_TEXT_LIMIT
    assert _check_blocks(msg.blocks, limit=MESSAGE_BLOCK_LIMIT) is None


def test_timeline_message_lists_events_with_actor():
    events = [
        TimelineEvent(
            workspace_id="T1",
            incident_id=7,
            kind="alert",
            text="HighErrorRate firing",
            actor="alertmanager",
            at=START,
        ),
        TimelineEvent(
            workspace_id="T1",
            incident_id=7,
            kind="transition",
            text="triggered → acknowledged",
            actor="U0ABC",
            at=START + timedelta(minutes=3),
        ),
    ]
    msg = blocks.timeline_message(incident(IncidentStatus.ACKNOWLEDGED), events)
    assert [b["block_id"] for b in msg.blocks] == ["timeline.title", "timeline.events"]
    lines = by_id(msg)["timeline.events"]["text"]["text"].split("\n")
    assert lines[0].endswith("· *alert* · alertmanager — HighErrorRate firing")
    assert lines[1].endswith("· *transition* · <@U0ABC> — triggered → acknowledged")
    assert msg.text == "Timeline of incident #7 (2 events)"


def test_long_timeline_is_split_and_capped():
    events = [
        TimelineEvent(
            workspace_id="T1", incident_id=7, kind="alert", text="z" * 250, actor="am", at=START
        )
        for _ in range(300)
    ]
    msg = blocks.timeline_message(incident(), events)
    assert len(msg.blocks) > 2
    assert "100 earlier events not shown" in msg.blocks[1]["text"]["text"]
    assert _check_blocks(msg.blocks, limit=MESSAGE_BLOCK_LIMIT) is None
    assert blocks.timeline_message(incident(), []).blocks[1]["text"]["text"] == (
        "No events recorded yet."
    )
