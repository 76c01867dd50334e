from __future__ import annotations

import pytest

from agents.followup import explain
from agents.intents import IntentKind, route, topic_of
from agents.reply import Evidence, HypothesisView, Reply


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("what's wrong with checkout?", IntentKind.INVESTIGATE),
        ("why is payments slow?", IntentKind.INVESTIGATE),
        ("CheckoutHighErrorRate", IntentKind.INVESTIGATE),
        ("what is the p99 latency of checkout", IntentKind.METRIC),
        ("graph the error rate of search", IntentKind.METRIC),
        ("promql: sum(up)", IntentKind.METRIC),
        ("runbook for disk full", IntentKind.RUNBOOK),
        ("who is on call?", IntentKind.ONCALL),
        ("open incidents", IntentKind.INCIDENTS),
        ("draft the post-mortem", IntentKind.POSTMORTEM),
        ("help", IntentKind.HELP),
    ],
)
def test_route(text: str, kind: IntentKind):
    assert route(text).kind is kind


def test_followups_need_a_previous_answer():
    assert route("why not the database?").kind is IntentKind.INVESTIGATE
    intent = route("why not the database?", has_previous_answer=True)
    assert (intent.kind, intent.topic) == (IntentKind.FOLLOWUP, "db_connections")
    assert route("why is checkout slow?", has_previous_answer=True).kind is IntentKind.INVESTIGATE
    assert topic_of("is it the TLS cert?") == "certificate"


def previous() -> dict:
    ev = Evidence(
        source="prometheus http://p",
        summary="connections 30% → 100%",
        query="pg_stat_activity_count",
    )
    return Reply(
        text="x",
        hypotheses=[
            HypothesisView(
                title="checkout: pool",
                confidence=0.9,
                fault="db_connections",
                service="checkout",
                evidence=[ev],
            ),
            HypothesisView(
                title="checkout: deploy",
                confidence=0.6,
                fault="deploy",
                service="checkout",
                rationale="began 10:00",
            ),
        ],
    ).model_dump(mode="json")


def test_explain_first_second_and_absent():
    first = explain(previous(), route("why do you think it's the DB?", has_previous_answer=True))
    assert (
        "ranked *checkout: pool* first" in first.text
        and "outranks *checkout: deploy*" in first.text
    )
    assert first.hypotheses[0].evidence[0].query == "pg_stat_activity_count"
    second = explain(previous(), route("why not the deploy?", has_previous_answer=True))
    assert (
        "ranked #2 (0.60) behind *checkout: pool*" in second.text and "began 10:00" in second.text
    )
    absent = explain(previous(), route("what about memory?", has_previous_answer=True))
    assert absent.text.startswith("I found no evidence for memory exhaustion")
    assert explain({}, route("why?", has_previous_answer=True)).kind == "info"
