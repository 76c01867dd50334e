"""Benchmark: 100 realistic synthetic series through the forecast job, two worker processes.

The series (14 days at 5 minutes, seeded) imitate what the default queries return:
filesystems filling at different rates (some cross 5 GiB within hours, one is constant),
node and container memory with leaks and restarts, CPU with daily and weekly cycles and
spikes, request rates with growth; a few have scrape gaps, NaN samples or only a day of
history. They are served in-process by a small :class:`~tools.metrics.MetricsSource`, so the
figure is the job itself: queries, forecasts in the process pool (spawn included),
crossings, capacity and charts.

Prints one JSON line: ``{"series", "seconds", "workers", "alerts", "fallbacks", "charts"}``.

Run from the repository root: ``python bench/forecast_job.py [--series 100] [--workers 2]``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from jobs.forecast_job import DEFAULT_FORECAST_SERIES, LOOKBACK, run_forecast_job
from tools.base import TimeRange
from tools.prometheus_client import QueryResult, Series

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
STEP_S = 300.0
GIB = 1024.0**3


class SyntheticSource:
    """A MetricsSource answering each default PromQL with pre-generated series."""

    def __init__(self, by_query: dict[str, list[Series]]) -> None:
        self._by_query = by_query

    @property
    def base_url(self) -> str:
        return "synthetic://bench"

    async def query(self, promql: str, *, at: datetime) -> QueryResult:
        return QueryResult(
            query=promql, result_type="vector", time_range=TimeRange(start=at, end=at)
        )

    async def query_range(
        self, promql: str, *, start: datetime, end: datetime, step_s: float | None = None
    ) -> QueryResult:
        await asyncio.sleep(0)
        return QueryResult(
            query=promql,
            result_type="matrix",
            series=self._by_query.get(promql, []),
            time_range=TimeRange(start=start, end=end, step_s=step_s),
        )

    async def metric_names(
        self,
        *,
        match: Sequence[str] = (),
        start: datetime | None = None,
        end: datetime | None = None,
    ) -> list[str]:
        del match, start, end  # the protocol's arguments; nothing to list here
        return []

    async def label_values(
        self,
        label: str,
        *,
        match: Sequence[str] = (),
        start: datetime | None = None,
        end: datetime | None = None,
    ) -> list[str]:
        del label, match, start, end  # the protocol's arguments; nothing to list here
        return []


def _daily(t: np.ndarray, peak_hour: float) -> np.ndarray:
    return np.cos(2 * np.pi * ((t / 3600.0) % 24 - peak_hour) / 24)


def _weekday(t: np.ndarray) -> np.ndarray:
    day = ((t // 86_400) + 3) % 7  # 1970-01-01 was a Thursday
    return np.where(day >= 5, 0.6, 1.0)


def _generate(kind: str, index: int, t: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    n = t.size
    days = (t - t[-1]) / 86_400.0  # <= 0, 0 at now
    if kind == "filesystem_free_bytes":
        size = rng.choice([50.0, 100.0, 250.0, 500.0]) * GIB
        free_now = rng.uniform(0.02, 0.6) * size
        rate = rng.choice([0.0, 0.2, 1.0, 3.0, 20.0]) * GIB  # per day
        if index % 7 == 0:  # fast filler: crosses 5 GiB in a few hours
            free_now, rate = 8 * GIB, 12 * GIB
        saw = (0.5 * GIB) * ((t / 86_400.0) % 1)  # daily log rotation frees space
        values = free_now - rate * days - saw + rng.normal(0, 0.02 * GIB, n)
        if index == 12:
            values = np.full(n, 42 * GIB)  # an untouched volume: constant
        return np.clip(values, 0, size)
    if kind == "node_memory_available_ratio":
        leak = rng.choice([0.0, 0.005, 0.02])
        base = rng.uniform(0.2, 0.6) + leak * days
        return np.clip(base + 0.05 * _daily(t, 14) + rng.normal(0, 0.01, n), 0.01, 1)
    if kind == "node_cpu_utilisation":
        base = rng.uniform(0.2, 0.55)
        amp = rng.uniform(0.1, 0.3)
        values = base + amp * _daily(t, 15) * _weekday(t) + rng.normal(0, 0.03, n)
        spikes = rng.random(n) < 0.002
        return np.clip(np.where(spikes, values + 0.3, values), 0, 1)
    if kind == "container_memory_limit_ratio":
        period = rng.uniform(1.5, 5) * 86_400  # leak then restart
        return np.clip(
            0.3 + 0.6 * ((t + index * 7919) % period) / period + rng.normal(0, 0.01, n), 0, 1
        )
    if kind == "container_cpu_limit_ratio":
        base = rng.uniform(0.1, 0.5)
        return np.clip(base + 0.25 * _daily(t, 13) * _weekday(t) + rng.normal(0, 0.04, n), 0, 1.5)
    growth = 1 + rng.uniform(0, 0.03) * (days + 14)
    rate = rng.uniform(80, 700) * growth * (1 + 0.5 * _daily(t, 16) * _weekday(t))
    return np.maximum(rate + rng.normal(0, 10, n), 0)


def build_source(count: int, seed: int = 7) -> SyntheticSource:
    rng = np.random.default_rng(seed)
    start = NOW - LOOKBACK
    t = np.arange(start.timestamp(), NOW.timestamp() + 1, STEP_S)
    configs = DEFAULT_FORECAST_SERIES
    by_query: dict[str, list[Series]] = {c.promql: [] for c in configs}
    for i in range(count):
        config = configs[i % len(configs)]
        values = _generate(config.name, i, t, rng)
        times = t
        if i % 17 == 5:  # scrape outage of 9 hours
            keep = (times < t[-1] - 4 * 86_400) | (times > t[-1] - 4 * 86_400 + 9 * 3600)
            times, values = times[keep], values[keep]
        if i % 23 == 11:  # a few NaN samples
            values = values.copy()
            values[rng.integers(0, values.size, 5)] = np.nan
        if i % 29 == 13:  # a new target: one day of history
            times, values = times[-288:], values[-288:]
        labels = {"instance": f"node-{i:03d}:9100", "job": "bench"}
        points = list(zip(times.tolist(), values.tolist(), strict=True))
        by_query[config.promql].append(Series(metric=labels, values=points))
    return SyntheticSource(by_query)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--series", type=int, default=100)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--chart-dir", type=Path, default=None)
    args = parser.parse_args()
    source = build_source(args.series)
    with tempfile.TemporaryDirectory() as tmp:
        chart_dir = args.chart_dir or Path(tmp)
        started = time.perf_counter()
        report = await run_forecast_job(
            source=source,
            series_config=DEFAULT_FORECAST_SERIES,
            now=NOW,
            horizon=timedelta(hours=12),
            chart_dir=chart_dir,
            workers=args.workers,
        )
        seconds = time.perf_counter() - started
        charts = sum(1 for a in report.alerts if a.chart_path and a.chart_path.exists())
    forecast_count = len(report.capacity)
    fallbacks = sum(1 for o in report.outcomes if o.method not in (None, "ensemble"))
    print(
        json.dumps(
            {
                "series": forecast_count,
                "seconds": round(seconds, 1),
                "workers": args.workers,
                "alerts": len(report.alerts),
                "fallbacks": fallbacks,
                "charts": charts,
            }
        )
    )


if __name__ == "__main__":
    asyncio.run(main())
