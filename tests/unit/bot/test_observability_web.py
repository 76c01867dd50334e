"""``/metrics`` of the real ASGI app, and the agent's investigation metrics."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families

from agents.config import AgentConfig
from agents.gather import Sources
from agents.graph import InvestigationAgent
from bot.config import Settings
from bot.web import create_app
from tests.scenario.harness import serve_asgi
from tools.telemetry import Telemetry, use


def settings_in(tmp_path: Path, **overrides: Any) -> Settings:
    return Settings(
        _env_file=None,  # type: ignore[call-arg]
        environment="test",
        data_dir=tmp_path / "data",
        log_level="WARNING",
        jobs={"enabled": False},
        **overrides,
    )


def samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


async def test_metrics_scrape_sets_the_proposal_gauge_for_every_state(tmp_path: Path):
    async with (
        serve_asgi(create_app(settings_in(tmp_path))) as url,
        httpx.AsyncClient(base_url=url) as http,
    ):
        scrape = await http.get("/metrics")
    found = samples(scrape.text)
    assert found[("sre_copilot_proposals", frozenset({("state", "pending")}))] == 0
    assert found[("sre_copilot_proposals", frozenset({("state", "executing")}))] == 0
    assert scrape.headers["x-request-id"]


async def test_investigations_are_counted_by_intent_outcome_and_llm(tmp_path: Path):
    agent = InvestigationAgent(sources=Sources(), config=AgentConfig(), chart_dir=tmp_path)
    with use(Telemetry(process_metrics=False)) as t:
        await agent.respond(workspace_id="T1", conversation_key="c", text="help", history=[])
        await agent.respond(
            workspace_id="T1", conversation_key="c", text="what's wrong with checkout?", history=[]
        )

    def count(**labels: str) -> float | None:
        return t.registry.get_sample_value("sre_copilot_investigations_total", labels)

    assert count(intent="help", outcome="ok", llm="no") == 1
    # no metrics source configured: answered, but degraded
    assert count(intent="investigate", outcome="degraded", llm="no") == 1
    duration = t.registry.get_sample_value(
        "sre_copilot_investigation_duration_seconds_count", {"intent": "investigate", "llm": "no"}
    )
    assert duration == 1
