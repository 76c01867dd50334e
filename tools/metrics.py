"""The metrics-source protocol: what the agent and jobs need from Prometheus.

:class:`tools.prometheus_client.PrometheusClient` implements it against a live server;
:class:`tools.promql_file.FilePrometheusClient` implements it over OpenMetrics files
(the demo scenario and offline evals), evaluating the PromQL subset our templates use.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol, runtime_checkable

from tools.prometheus_client import QueryResult


@runtime_checkable
class MetricsSource(Protocol):
    """Read access to time series by PromQL."""

    @property
    def base_url(self) -> str:
        """Where the data comes from (URL, or ``file://`` path)."""
        ...

    async def query(self, promql: str, *, at: datetime) -> QueryResult:
        """Evaluate ``promql`` at one instant."""
        ...

    async def query_range(
        self, promql: str, *, start: datetime, end: datetime, step_s: float | None = None
    ) -> QueryResult:
        """Evaluate ``promql`` over ``[start, end]`` at ``step_s`` resolution."""
        ...

    async def metric_names(
        self,
        *,
        match: Sequence[str] = (),
        start: datetime | None = None,
        end: datetime | None = None,
    ) -> list[str]:
        """Metric names, optionally scoped by selectors and time."""
        ...

    async def label_values(
        self,
        label: str,
        *,
        match: Sequence[str] = (),
        start: datetime | None = None,
        end: datetime | None = None,
    ) -> list[str]:
        """Values of one label, optionally scoped by selectors and time."""
        ...
