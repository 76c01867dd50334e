"""Gather evidence in parallel, each call under its own deadline and all under a budget.

A dead or slow source never sinks the investigation: its failure is recorded (which
source, which query, what went wrong) and the analysis goes on with the rest.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol, TypeVar

from agents.analyst import Inputs, ProbeData
from agents.entities import EntityMap, pod_base
from agents.reply import RunbookRef, SourceFailure
from agents.signals import MetricNames, features, probes
from agents.sources import (
    AlertFact,
    AlertSource,
    ChangeFact,
    PagingSource,
    RepositoryAlertSource,
    merge_alerts,
)
from memory.errors import CopilotError
from memory.repositories import Repositories
from tools.metrics import MetricsSource
from tools.telemetry import current

logger = logging.getLogger(__name__)
T = TypeVar("T")


class RunbookSearcher(Protocol):
    """Finds runbook sections for a text."""

    async def search_runbooks(self, query: str, *, k: int = 3) -> list[RunbookRef]:
        """Best runbook sections for ``query``."""
        ...


@dataclass
class Sources:
    """Where evidence comes from; any of them may be missing."""

    metrics: MetricsSource | None = None
    alerts: Sequence[AlertSource] = ()
    paging: PagingSource | None = None
    runbooks: RunbookSearcher | None = None
    alert_store: Repositories | None = None
    """Alerts received by webhook, read per workspace."""
    names: MetricNames = field(default_factory=MetricNames)


@dataclass
class Budget:
    """Per-call deadline inside an overall budget."""

    per_call_s: float
    total_s: float
    started: float = field(default_factory=time.monotonic)

    def remaining(self) -> float:
        """Seconds left in the overall budget."""
        return max(0.0, self.total_s - (time.monotonic() - self.started))

    def deadline(self) -> float:
        """Deadline for the next call."""
        return max(0.05, min(self.per_call_s, self.remaining()))


async def guarded(
    what: str, source: str, coro: Awaitable[T], budget: Budget, failures: list[SourceFailure]
) -> T | None:
    """Await ``coro`` within the deadline; record a failure instead of raising."""
    started, status = time.perf_counter(), "cancelled"
    try:
        async with asyncio.timeout(budget.deadline()):
            result = await coro
        status = "ok"
        return result
    except TimeoutError:
        status = "timeout"
        failures.append(
            SourceFailure(source=source, error=f"{what}: timed out after {budget.deadline():.1f}s")
        )
    except CopilotError as exc:
        status = "error"
        failures.append(SourceFailure(source=source, error=f"{what}: {exc}"))
    except Exception as exc:  # boundary: one source must not sink the investigation
        status = "error"
        logger.exception("evidence call %s on %s failed", what, source)
        failures.append(SourceFailure(source=source, error=f"{what}: {type(exc).__name__}: {exc}"))
    finally:
        current().observe_evidence_call(
            what=what, source=source, status=status, seconds=time.perf_counter() - started
        )
    return None


def step_for(start: datetime, end: datetime) -> float:
    """About 360 points over the window, never finer than 60 s."""
    return max(60.0, (end - start).total_seconds() / 360)


async def gather(
    sources: Sources,
    *,
    start: datetime,
    end: datetime,
    budget: Budget,
    workspace_id: str | None = None,
) -> tuple[Inputs, list[SourceFailure]]:
    """Run every probe and source in parallel; build the analyst's inputs."""
    failures: list[SourceFailure] = []
    catalogue = probes(sources.names)
    metrics = sources.metrics
    step = step_for(start, end)
    metrics_label = f"prometheus {metrics.base_url}" if metrics is not None else "prometheus"

    async def run_probe(probe_key: str) -> ProbeData:
        probe = next(p for p in catalogue if p.key == probe_key)
        data = ProbeData(key=probe.key, title=probe.title, promql=probe.promql, unit=probe.unit)
        if metrics is None:
            return data
        result = await guarded(
            f"query {probe.promql!r}",
            metrics_label,
            metrics.query_range(probe.promql, start=start, end=end, step_s=step),
            budget,
            failures,
        )
        if result is None:
            data.error = "failed"
            return data
        for series in result.series:
            feat = features(series.metric, series.values)
            if feat is not None:
                data.series.append(feat)
        return data

    alert_sources: list[AlertSource] = list(sources.alerts)
    if sources.alert_store is not None and workspace_id is not None:
        alert_sources.append(RepositoryAlertSource(sources.alert_store, workspace_id=workspace_id))
    alert_calls = [
        guarded("list alerts", src.name, src.alerts(start=start, end=end), budget, failures)
        for src in alert_sources
    ]
    paging = sources.paging
    change_call = (
        guarded("list changes", paging.name, paging.changes(start=start, end=end), budget, failures)
        if paging is not None
        else asyncio.sleep(0, result=None)
    )
    probe_results, alert_results, changes = await asyncio.gather(
        asyncio.gather(*(run_probe(p.key) for p in catalogue)),
        asyncio.gather(*alert_calls),
        change_call,
    )
    if metrics is None:
        failures.append(
            SourceFailure(source="prometheus", error="not configured: metrics were not consulted")
        )
    probe_map = {p.key: p for p in probe_results}
    alerts: list[AlertFact] = merge_alerts([a for a in alert_results if a])
    change_list: list[ChangeFact] = list(changes or [])
    entities = build_entities(probe_map, alerts, change_list, sources.names.service_label)
    inputs = Inputs(
        service=None,
        start=start,
        end=end,
        probes=probe_map,
        alerts=alerts,
        changes=change_list,
        source=metrics_label,
        entities=entities,
    )
    return inputs, failures


def build_entities(
    probe_map: dict[str, ProbeData],
    alerts: Sequence[AlertFact],
    changes: Sequence[ChangeFact],
    service_label: str,
) -> EntityMap:
    """Known services (from the service-level probes, alerts, changes) and pod placement."""
    services: set[str] = set()
    for key in ("request_rate", "error_ratio", "latency_p99"):
        for feat in probe_map.get(key, ProbeData(key, "", "", "")).series:
            if feat.labels.get(service_label):
                services.add(feat.labels[service_label])
    for alert in alerts:
        if alert.labels.get("service"):
            services.add(alert.labels["service"])
    for change in changes:
        services.update(s for s in change.services if s)
    if not services:
        # no service-level metrics: fall back to pod names
        for key in ("pod_cpu_usage", "pod_memory"):
            for feat in probe_map.get(key, ProbeData(key, "", "", "")).series:
                if feat.labels.get("pod"):
                    services.add(pod_base(feat.labels["pod"]))
    entities = EntityMap(services)
    for feat in probe_map.get("pod_node", ProbeData("pod_node", "", "", "")).series:
        pod, node = feat.labels.get("pod"), feat.labels.get("node")
        if pod and node:
            entities.add_placement(pod=pod, node=node)
    return entities
