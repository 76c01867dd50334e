"""``sre-copilot demo``: the whole product on the embedded default, no tokens, no servers.

SQLite in the data directory, the bundled scenario read from files. Each later
feature adds a step here until the demo walks the whole product.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from agents.gather import Sources
from agents.sources import ScenarioSources, parse_time
from bot.config import Settings
from bot.console import ConsoleAdapter
from bot.container import Container, open_runbook_store
from memory.models import AlertStatus
from tools.promql_file import FilePrometheusClient
from tools.runbooks import SAMPLE_RUNBOOKS
from tools.scenario import Scenario, bundled_scenario_dir, load_scenario

DEMO_WORKSPACE = "demo"
DEMO_QUESTIONS = (
    "what's wrong with checkout?",
    "why not the deploy?",
    "what is the p99 latency of checkout?",
    "runbook for database connection pool exhausted",
    "who is on call?",
    "open incidents",
)


def describe_scenario(scenario: Scenario) -> list[str]:
    """Readable lines describing what a scenario contains."""
    meta = scenario.meta
    lines = [
        f"Scenario: {meta.name}",
        f"  {meta.description}",
        f"  window: {meta.start:%Y-%m-%d %H:%M} → {meta.end:%H:%M} UTC",
        f"  question: {meta.question!r}",
        f"Metrics: {len(scenario.series)} series, {scenario.sample_count} samples",
    ]
    for name in scenario.metric_names:
        count = sum(1 for s in scenario.series if s.name == name)
        lines.append(f"  - {name} ({count} series)")
    lines.append(
        f"Alerts: {len(scenario.alerts)} in {len(scenario.alert_payloads)} webhook payloads"
    )
    for alert in sorted(scenario.alerts, key=lambda a: str(a.get("startsAt"))):
        labels = alert.get("labels", {})
        where = labels.get("service") or labels.get("instance") or "-"
        lines.append(
            f"  - {alert.get('startsAt', '?')[11:16]} {labels.get('alertname', '?'):<30} "
            f"{labels.get('severity', '?'):<8} {where}: "
            f"{alert.get('annotations', {}).get('summary', '')}"
        )
    incidents = scenario.pagerduty.get("incidents", [])
    lines.append(f"PagerDuty: {len(incidents)} incident(s)")
    for inc in incidents:
        lines.append(
            f"  - #{inc.get('incident_number')} {inc.get('title')} "
            f"[{inc.get('status')}, {inc.get('urgency')}] service {inc['service']['summary']}"
        )
    lines.append(f"Changes: {len(scenario.changes)}")
    for change in scenario.changes:
        lines.append(f"  - {change.get('timestamp', '?')[11:16]} {change.get('summary')}")
    return lines


async def run_demo(
    settings: Settings, *, emit: Callable[[str], None], scenario_dir: Path | None = None
) -> None:
    """Walk the product on the embedded default, writing progress through ``emit``."""
    emit(f"== Data directory: {settings.data_dir.resolve()}")
    scenario = load_scenario(scenario_dir or bundled_scenario_dir())
    files = ScenarioSources(scenario)
    metrics = FilePrometheusClient.from_openmetrics(scenario.path / "metrics.om")
    sources = Sources(metrics=metrics, alerts=[files], paging=files)
    end = scenario.meta.end
    async with Container(
        settings, sources=sources, clock=lambda: end, lookback=end - scenario.meta.start
    ) as container:
        revision = await container.db.current_revision()
        emit(f"== Database: {container.db.display_url} (migration {revision})")
        emit("== Bundled scenario")
        for line in describe_scenario(scenario):
            emit(line)

        await container.repos.workspaces.ensure(workspace_id=DEMO_WORKSPACE, name="Demo")
        created = 0
        for alert in scenario.alerts:
            labels = alert.get("labels", {})
            _, is_new = await container.repos.alerts.upsert(
                workspace_id=DEMO_WORKSPACE,
                fingerprint=alert["fingerprint"],
                name=labels.get("alertname", "unknown"),
                status=AlertStatus(alert.get("status", "firing")),
                labels=labels,
                annotations=alert.get("annotations", {}),
                starts_at=parse_time(alert["startsAt"]) or datetime.now(UTC),
                severity=labels.get("severity", "warning"),
                service=labels.get("service"),
            )
            created += int(is_new)
        emit("== Runbooks: ingesting the sample runbooks (offline MiniLM embeddings, local Chroma)")
        store = container.runbooks or await open_runbook_store(
            data_dir=settings.data_dir, config=settings.vector_store
        )
        report = await store.ingest(SAMPLE_RUNBOOKS)
        emit(
            f"   {report.added} added, {report.updated} updated, {report.unchanged} unchanged, "
            f"{report.removed} removed, {report.skipped} skipped"
        )
        if container.runbooks is None:
            await container.attach_runbooks(store)
        stored = await container.repos.alerts.list(workspace_id=DEMO_WORKSPACE)
        emit(
            f"== Stored alerts: {len(stored)} in the database "
            f"({created} new, {len(stored) - created} already known, deduplicated by fingerprint)"
        )

        console = ConsoleAdapter(
            chat=container.chat,
            repos=container.repos,
            workspace_id=DEMO_WORKSPACE,
            conversation="demo",
        )
        emit(
            f"== Investigation (no LLM; metrics, alerts, changes and PagerDuty read from "
            f"the scenario's files, as of {end:%H:%M} UTC)"
        )
        for line in DEMO_QUESTIONS:
            emit(f"== Console: you> {line}")
            answer = await console.handle_line(line)
            emit(answer or "")
        emit("== Demo done. Try `sre-copilot chat` for the interactive console.")
