"""A :class:`~tools.metrics.MetricsSource` over OpenMetrics files: PromQL without a server.

:class:`FilePrometheusClient` answers the same calls as
:class:`~tools.prometheus_client.PrometheusClient` (same signatures, same
:class:`~tools.prometheus_client.QueryResult`) from series held in memory, so the demo
scenario and the offline evals run the very PromQL sent to production. It evaluates a
subset of PromQL with Prometheus 2.x semantics (5 min lookback, closed range windows,
extrapolated ``rate``, classic ``histogram_quantile``, vector matching); see
:mod:`tools.promql_parser` for the grammar and :mod:`tools.promql_functions` for the
functions.

Errors mirror a live server: a malformed query raises
:class:`~memory.errors.UpstreamHTTPError` with status 400 (``bad_data``, with
``line:column``); an evaluation error (many-to-many matching, duplicate output series)
status 422 (``execution``); PromQL outside the subset raises
:class:`~memory.errors.IntegrationError` saying to use a live Prometheus.

Metadata calls (:meth:`~FilePrometheusClient.label_values` and friends) are exact: with
``start``/``end`` they consider only series with a sample in that window (a live
Prometheus may answer at block granularity).
"""

from __future__ import annotations

import logging
from bisect import bisect_left
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime
from pathlib import Path
from typing import TypeVar

from memory.errors import IntegrationError, UpstreamHTTPError
from tools.base import TimeRange
from tools.prometheus_client import QueryResult, Series, choose_step
from tools.prometheus_time import as_utc
from tools.promql_ast import Expr, ValueType, value_type
from tools.promql_eval import Evaluator
from tools.promql_functions import FUNCTION_IMPLS
from tools.promql_parser import parse, parse_selector
from tools.promql_values import Labels, Sample, StoredSeries, Window
from tools.scenario import Series as ScenarioSeries
from tools.scenario import parse_openmetrics

logger = logging.getLogger(__name__)

T = TypeVar("T")


def _ms(value: datetime) -> int:
    """Milliseconds since the epoch, as the API's millisecond-precision times."""
    return round(as_utc(value).timestamp() * 1000)


class FilePrometheusClient:
    """PromQL over in-memory series, behaving like a Prometheus server holding them.

    Args:
        series: Series as :func:`tools.scenario.parse_openmetrics` returns them; samples
            of one label set given twice are merged (a repeated time keeps the last value).
        source: Where they came from (shown as ``file://<source>`` in ``base_url``).
    """

    def __init__(self, series: Sequence[ScenarioSeries], *, source: str) -> None:
        self._source = source
        merged: dict[Labels, list[tuple[int, float]]] = {}
        for item in series:
            labels = tuple(sorted({**item.labels, "__name__": item.name}.items()))
            merged.setdefault(labels, []).extend((round(t * 1000), v) for t, v in item.samples)
        self._series: list[StoredSeries] = []
        for labels, samples in sorted(merged.items()):
            by_time = dict(sorted(samples, key=lambda p: p[0]))  # a repeated time keeps its last
            self._series.append(StoredSeries(labels, list(by_time), list(by_time.values())))

    @classmethod
    def from_openmetrics(cls, path: Path) -> FilePrometheusClient:
        """Load an OpenMetrics file (samples with timestamps).

        Raises:
            ConfigError: a line is malformed (names the file and line).
            OSError: the file cannot be read.
        """
        resolved = path.resolve()
        text = resolved.read_text(encoding="utf-8")
        return cls(parse_openmetrics(text, source=str(resolved)), source=str(resolved))

    @property
    def base_url(self) -> str:
        """``file://`` and the source path."""
        return f"file://{self._source}"

    async def aclose(self) -> None:
        """Nothing to release; present for parity with the HTTP client."""

    async def query(self, promql: str, *, at: datetime) -> QueryResult:
        """Evaluate ``promql`` at one instant (like ``/api/v1/query``).

        Raises:
            UpstreamHTTPError: 400 for an invalid query, 422 for an evaluation error.
            IntegrationError: the query uses PromQL outside the supported subset.
        """
        at = as_utc(at)
        ts = _ms(at)
        expr = self._parse(promql)
        value = self._evaluate(lambda ev: ev.evaluate(expr, ts))
        kind = value_type(expr)
        seconds = ts / 1000
        series: list[Series]
        if isinstance(value, float):
            series = [Series(values=[(seconds, value)])]
        elif isinstance(value, str):
            series = [Series(values=[(seconds, float("nan"))])]
        elif kind is ValueType.MATRIX:
            windows = [w for w in value if isinstance(w, Window)]
            series = [_window_series(w) for w in windows]
        else:
            samples = [s for s in value if isinstance(s, Sample)]
            series = [Series(metric=dict(s.labels), values=[(seconds, s.value)]) for s in samples]
        return QueryResult(
            query=promql,
            result_type=_RESULT_TYPES[kind],
            series=sorted(series, key=lambda s: sorted(s.metric.items())),
            time_range=TimeRange(start=at, end=at),
        )

    async def query_range(
        self, promql: str, *, start: datetime, end: datetime, step_s: float | None = None
    ) -> QueryResult:
        """Evaluate ``promql`` at every step of ``[start, end]`` (like ``/api/v1/query_range``).

        The step is chosen or clamped by :func:`~tools.prometheus_client.choose_step`.

        Raises:
            ValueError: ``end`` is before ``start`` or ``step_s`` is not positive.
            UpstreamHTTPError: 400 for an invalid query, 422 for an evaluation error.
            IntegrationError: the query uses PromQL outside the supported subset.
        """
        start, end = as_utc(start), as_utc(end)
        used, clamped = choose_step(start=start, end=end, step_s=step_s)
        if clamped:
            logger.info("range query step raised from %ss to %ss (point limit)", step_s, used)
        expr = self._parse(promql)
        kind = value_type(expr)
        if kind not in (ValueType.SCALAR, ValueType.VECTOR):
            raise self._http_error(
                400,
                f'bad_data: invalid parameter "query": invalid expression type "{kind}" for '
                "range query, must be Scalar or instant Vector",
            )
        step_ms = round(used * 1000)
        points: dict[Labels, list[tuple[float, float]]] = {}

        def run(ev: Evaluator) -> None:
            for ts in _steps(_ms(start), _ms(end), step_ms):
                value = ev.evaluate(expr, ts)
                if isinstance(value, float):
                    points.setdefault((), []).append((ts / 1000, value))
                    continue
                for sample in value:
                    if isinstance(sample, Sample):
                        points.setdefault(sample.labels, []).append((ts / 1000, sample.value))

        self._evaluate(run)
        return QueryResult(
            query=promql,
            result_type="matrix",
            series=[Series(metric=dict(k), values=v) for k, v in sorted(points.items())],
            time_range=TimeRange(start=start, end=end, step_s=used),
            step_clamped=clamped,
            requested_step_s=step_s,
        )

    async def metric_names(
        self,
        *,
        match: Sequence[str] = (),
        start: datetime | None = None,
        end: datetime | None = None,
    ) -> list[str]:
        """Metric names (values of ``__name__``), optionally scoped by selectors and time."""
        return await self.label_values("__name__", match=match, start=start, end=end)

    async def label_values(
        self,
        label: str,
        *,
        match: Sequence[str] = (),
        start: datetime | None = None,
        end: datetime | None = None,
    ) -> list[str]:
        """Values of one label, optionally scoped by selectors and time."""
        found = self._scoped(match, start, end)
        return sorted({v for s in found for k, v in s.labels if k == label})

    async def label_names(
        self,
        *,
        match: Sequence[str] = (),
        start: datetime | None = None,
        end: datetime | None = None,
    ) -> list[str]:
        """Label names, optionally scoped by selectors and time."""
        return sorted({k for s in self._scoped(match, start, end) for k, _ in s.labels})

    async def series(
        self, match: Sequence[str], *, start: datetime | None = None, end: datetime | None = None
    ) -> list[dict[str, str]]:
        """Label sets of the series matching any selector in ``match``.

        Raises:
            ValueError: ``match`` is empty.
            UpstreamHTTPError: (400) a selector is invalid.
        """
        if not match:
            raise ValueError("series() needs at least one selector")
        return [dict(s.labels) for s in self._scoped(match, start, end)]

    # -- helpers --------------------------------------------------------------------------

    def _http_error(self, status: int, detail: str) -> UpstreamHTTPError:
        return UpstreamHTTPError(
            f"HTTP {status} from {self.base_url}: {detail}", status_code=status
        )

    def _parse(self, promql: str) -> Expr:
        try:
            return parse(promql)
        except UpstreamHTTPError as exc:
            raise self._http_error(400, f'bad_data: invalid parameter "query": {exc}') from None
        except IntegrationError as exc:
            raise IntegrationError(f"{self.base_url}: {exc}") from None

    def _evaluate(self, run: Callable[[Evaluator], T]) -> T:
        try:
            return run(Evaluator(self._series, FUNCTION_IMPLS))
        except UpstreamHTTPError as exc:
            raise self._http_error(exc.status_code, f"execution: {exc}") from None

    def _scoped(
        self, match: Sequence[str], start: datetime | None, end: datetime | None
    ) -> list[StoredSeries]:
        """Series matching any selector of ``match`` with a sample in ``[start, end]``."""
        selectors = []
        for text in match:
            try:
                selectors.append(parse_selector(text))
            except (UpstreamHTTPError, IntegrationError) as exc:
                raise self._http_error(400, f"bad_data: {exc}") from None
        evaluator = Evaluator(self._series, FUNCTION_IMPLS)
        chosen = (
            {id(s): s for sel in selectors for s in evaluator.select(sel)}.values()
            if selectors
            else self._series
        )
        lo = _ms(start) if start is not None else None
        hi = _ms(end) if end is not None else None
        return sorted((s for s in chosen if _has_sample(s, lo, hi)), key=lambda s: s.labels)


_RESULT_TYPES = {
    ValueType.SCALAR: "scalar",
    ValueType.VECTOR: "vector",
    ValueType.MATRIX: "matrix",
    ValueType.STRING: "string",
}


def _steps(start_ms: int, end_ms: int, step_ms: int) -> Iterator[int]:
    ts = start_ms
    while ts <= end_ms:
        yield ts
        ts += step_ms


def _has_sample(series: StoredSeries, lo: int | None, hi: int | None) -> bool:
    first = bisect_left(series.ts, lo) if lo is not None else 0
    return first < len(series.ts) and (hi is None or series.ts[first] <= hi)


def _window_series(window: Window) -> Series:
    values = [(t / 1000, v) for t, v in zip(window.ts, window.values, strict=True)]
    return Series(metric=dict(window.labels), values=values)
