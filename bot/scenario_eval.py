"""``sre-copilot eval scenarios``: run the investigation over labelled scenarios.

Each scenario's metrics go into a real, throwaway Prometheus (promtool backfill) or,
with ``source="file"``, into the file-backed PromQL evaluator; its alerts, changes
and PagerDuty data are read from its files. The question is asked through
ChatService "as of" the scenario's end, and the first hypotheses are compared with
the labelled truth. One JSON line: ``{"n", "top1", "top3", "top1_service", "p50_s",
"p95_s"}``.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel

from agents.config import AgentConfig
from agents.gather import Sources
from agents.graph import InvestigationAgent, Refiner
from agents.reply import Capability
from agents.sources import ScenarioSources
from bot.chat import ChatService
from memory.db import Database
from memory.errors import ConfigError
from memory.repositories import Repositories
from tools.config import PrometheusConfig
from tools.metrics import MetricsSource
from tools.prometheus_client import PrometheusClient
from tools.prometheus_local import LocalPrometheus
from tools.promql_file import FilePrometheusClient
from tools.scenario import Scenario, load_scenario

SourceKind = Literal["prometheus", "file"]


class CaseResult(BaseModel):
    """Outcome of one scenario."""

    name: str
    truth_service: str
    truth_fault: str
    answer: list[tuple[str | None, str | None, float]]
    top1: bool
    top3: bool
    top1_service: bool
    seconds: float
    failed_sources: list[str]
    notes: list[str] = []


def find_scenarios(directory: Path) -> list[Path]:
    """Scenario directories under ``directory`` (those holding a scenario.yaml)."""
    if not directory.is_dir():
        raise ConfigError(f"{directory}: not a directory")
    found = sorted(p.parent for p in directory.glob("*/scenario.yaml"))
    if not found:
        raise ConfigError(f"{directory}: no scenario directories (*/scenario.yaml)")
    return found


async def _no_caps() -> list[Capability]:
    return []


async def run_case(
    scenario: Scenario,
    *,
    metrics: MetricsSource,
    repos: Repositories,
    config: AgentConfig,
    chart_dir: Path,
    refiner: Refiner | None = None,
) -> CaseResult:
    """Ask the scenario's question and score the answer."""
    files = ScenarioSources(scenario)
    end = scenario.meta.end
    agent = InvestigationAgent(
        sources=Sources(metrics=metrics, alerts=[files], paging=files),
        config=config,
        repos=repos,
        clock=lambda: end,
        lookback=end - scenario.meta.start,
        chart_dir=chart_dir,
        refiner=refiner,
    )
    chat = ChatService(repos=repos, capabilities=_no_caps, responder=agent)
    started = time.perf_counter()
    reply = await chat.handle(
        workspace_id=f"eval-{scenario.meta.name}"[:64],
        conversation_key=f"eval:{time.monotonic_ns()}",
        text=scenario.meta.question,
    )
    seconds = time.perf_counter() - started
    truth = scenario.meta.truth
    answer = [(h.service, h.fault, h.confidence) for h in reply.hypotheses]
    hits = [(s == truth.service and f == truth.fault) for s, f, _ in answer]
    return CaseResult(
        name=scenario.meta.name,
        truth_service=truth.service,
        truth_fault=truth.fault,
        answer=answer,
        top1=bool(hits[:1] and hits[0]),
        top3=any(hits[:3]),
        top1_service=bool(answer and answer[0][0] == truth.service),
        seconds=seconds,
        failed_sources=[f"{f.source}: {f.error}" for f in reply.failed_sources],
        notes=list(reply.notes),
    )


async def evaluate_scenarios(
    directory: Path,
    *,
    source: SourceKind = "prometheus",
    config: AgentConfig | None = None,
    progress: Callable[[CaseResult], None] | None = None,
    refiner: Refiner | None = None,
) -> tuple[dict[str, Any], list[CaseResult]]:
    """Run every scenario; return the summary figures and the per-case results."""
    paths = find_scenarios(directory)
    config = config or AgentConfig()
    results: list[CaseResult] = []
    with tempfile.TemporaryDirectory(prefix="sre-copilot-eval-") as tmp:
        async with Database(f"sqlite+aiosqlite:///{tmp}/eval.db") as db:
            await db.upgrade()
            repos = Repositories.build(db)
            for path in paths:
                scenario = load_scenario(path)
                metrics_file = path / "metrics.om"
                if source == "file":
                    file_client = FilePrometheusClient.from_openmetrics(metrics_file)
                    result = await run_case(
                        scenario,
                        metrics=file_client,
                        repos=repos,
                        config=config,
                        chart_dir=Path(tmp) / "charts",
                        refiner=refiner,
                    )
                else:
                    async with LocalPrometheus([metrics_file]) as prom:
                        client = PrometheusClient(PrometheusConfig(base_url=prom.url))
                        try:
                            result = await run_case(
                                scenario,
                                metrics=client,
                                repos=repos,
                                config=config,
                                chart_dir=Path(tmp) / "charts",
                                refiner=refiner,
                            )
                        finally:
                            await client.aclose()
                results.append(result)
                if progress is not None:
                    progress(result)
    times = sorted(r.seconds for r in results)
    n = len(results)
    summary = {
        "n": n,
        "top1": round(sum(r.top1 for r in results) / n, 4),
        "top3": round(sum(r.top3 for r in results) / n, 4),
        "top1_service": round(sum(r.top1_service for r in results) / n, 4),
        "p50_s": round(statistics.median(times), 4),
        "p95_s": round(times[min(n - 1, max(0, round(0.95 * n) - 1))], 4),
    }
    return summary, results
