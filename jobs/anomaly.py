"""Streaming anomaly detection with explanations for metric series.

Method ("robust records over a seasonal baseline"), chosen by measuring variants on
the NAB dev split (see ``docs`` in the eval report; Prophet residuals and a
likelihood-style score were weaker and far slower):

* Three views of each new value: the value itself, its residual from a seasonal
  baseline (median of the same clock phase over the last few days or weeks; the
  daily or weekly period with the lower running error wins), and a short moving mean.
* Each view is centred on its rolling median. Its score is the deviation divided by
  the largest deviation on that side seen so far: a ratio above 1 means "further out
  than anything before", which adapts to heavy tails and to each series' own scale.
* An alarm needs a ratio of at least ``alarm_ratio``; after an alarm, lesser scores
  are halved for ``refractory_rows`` rows so one incident yields one alarm.

Everything is causal: the score of row ``t`` uses rows ``<= t`` only.

Bad input never raises: NaN/Inf values are skipped (score 0, status
``non_finite``, state untouched); duplicate or backwards timestamps are scored as
ordinary rows and ignored for the sampling-interval estimate; gaps only make the
seasonal baseline older (it is keyed by clock phase, not by row); a constant series
scores 0 until it moves, and any move off a constant is a maximal deviation.
"""

from __future__ import annotations

import logging
import math
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np

logger = logging.getLogger(__name__)

_MAX_RATIO = 10.0  # ratio given to any move off a view that never deviated before
_SIGMA_BAND = 3.0  # half-width of the expected range, in robust sigmas
_MAD_TO_SIGMA = 1.4826


@dataclass(frozen=True)
class DetectorConfig:
    """The one configuration used for every series (no per-series tuning).

    Attributes:
        seasonal_periods_s: Candidate seasonal periods in seconds (daily, weekly).
        seasonal_cycles: Same-phase values kept per period for the baseline median.
        smoothing_rows: Rows in the short moving mean view.
        baseline_rows: Rows in the rolling median that centres each view.
        baseline_refresh: Recompute the rolling median every this many rows.
        warmup_rows: Rows a view observes before it may score.
        alarm_ratio: Minimum record ratio that raises an alarm.
        refractory_rows: Rows after an alarm during which scores are halved.
    """

    seasonal_periods_s: tuple[float, ...] = (86_400.0, 604_800.0)
    seasonal_cycles: int = 5
    smoothing_rows: int = 6
    baseline_rows: int = 1000
    baseline_refresh: int = 50
    warmup_rows: int = 50
    alarm_ratio: float = 1.03
    refractory_rows: int = 100

    @property
    def alarm_score(self) -> float:
        """Score at and above which a row is an alarm."""
        return self.alarm_ratio / (1.0 + self.alarm_ratio)


@dataclass(frozen=True)
class AnomalyScore:
    """The detector's verdict on one row.

    Attributes:
        timestamp: Unix seconds of the row.
        value: The observed value.
        score: Anomaly score in ``[0, 1)``; 0.5 means "as far out as ever before".
        alarm: Whether the score reached the alarm level (after the refractory rule).
        signal: View that deviated most: ``value``, ``seasonal`` or ``smoothed``.
        expected: Baseline for the value (seasonal if known, else rolling median).
        sigma: Robust standard deviation of the value around ``expected``.
        status: ``ok``, ``warming_up``, ``refractory`` or ``non_finite``.
    """

    timestamp: float
    value: float
    score: float
    alarm: bool
    signal: str | None = None
    expected: float | None = None
    sigma: float | None = None
    status: str = "ok"


class _RecordView:
    """Scores one derived signal by its deviation relative to its own record."""

    def __init__(self, config: DetectorConfig) -> None:
        self._cfg = config
        self._buf: deque[float] = deque(maxlen=config.baseline_rows)
        self._count = 0
        self.centre: float | None = None
        self.scale = 0.0
        self._up = 0.0
        self._down = 0.0

    def score(self, v: float | None) -> float:
        if v is None:
            return 0.0
        self._buf.append(v)
        self._count += 1
        if self.centre is None or self._count % self._cfg.baseline_refresh == 0:
            arr = np.fromiter(self._buf, dtype=np.float64)
            self.centre = float(np.median(arr))
            self.scale = _MAD_TO_SIGMA * float(np.median(np.abs(arr - self.centre)))
        d = v - self.centre
        ratio = 0.0
        if self._count >= self._cfg.warmup_rows:
            if d > 0:
                ratio = d / self._up if self._up > 0 else _MAX_RATIO
            elif d < 0:
                ratio = -d / self._down if self._down > 0 else _MAX_RATIO
        self._up = max(self._up, d)
        self._down = max(self._down, -d)
        return ratio


class AnomalyDetector:
    """Streaming detector: feed rows in order with :meth:`update`.

    Args:
        config: Detector configuration; defaults to :class:`DetectorConfig`.
        probationary_rows: Leading rows that only train (score 0), as NAB's
            probationary period.
    """

    def __init__(self, config: DetectorConfig | None = None, probationary_rows: int = 0) -> None:
        self.config = config or DetectorConfig()
        self._probation = probationary_rows
        self._views = {name: _RecordView(self.config) for name in ("value", "smoothed", "seasonal")}
        self._rows = 0
        self._prev_ts: float | None = None
        self._steps: list[float] = []
        self._dt: float | None = None
        self._recent: deque[float] = deque(maxlen=self.config.smoothing_rows)
        self._phase: dict[tuple[float, int], deque[float]] = {}
        self._err: dict[float, float] = {}
        self._since_alarm = math.inf

    def _sampling_interval(self, ts: float) -> None:
        if self._prev_ts is not None and len(self._steps) < 200:
            step = ts - self._prev_ts
            if step > 0:  # duplicate and backwards timestamps say nothing about the step
                self._steps.append(step)
            if len(self._steps) >= 20:
                self._dt = float(np.median(self._steps))
        self._prev_ts = ts

    def _seasonal_residual(self, ts: float, x: float) -> tuple[float, float] | None:
        """Return (residual, prediction) of the best seasonal period, and learn ``x``."""
        if self._dt is None:
            return None
        best: tuple[float, float, float] | None = None
        for per in self.config.seasonal_periods_s:
            bins = max(1, round(per / self._dt))
            key = (per, round((ts % per) / self._dt) % bins)
            hist = self._phase.get(key)
            if hist:
                pred = float(np.median(hist))
                err = abs(x - pred)
                self._err[per] = err if per not in self._err else 0.99 * self._err[per] + 0.01 * err
                if best is None or self._err[per] < best[0]:
                    best = (self._err[per], x - pred, pred)
            self._phase.setdefault(key, deque(maxlen=self.config.seasonal_cycles)).append(x)
        return None if best is None else (best[1], best[2])

    def update(self, t: float | datetime, value: float) -> AnomalyScore:
        """Score one row; it may only be followed by rows that come after it.

        Args:
            t: Unix seconds or an aware/naive-UTC datetime.
            value: The observed value.

        Returns:
            The row's :class:`AnomalyScore`.
        """
        ts = t.replace(tzinfo=t.tzinfo or UTC).timestamp() if isinstance(t, datetime) else float(t)
        self._rows += 1
        x = float(value)
        if not (math.isfinite(x) and math.isfinite(ts)):
            return AnomalyScore(ts, x, 0.0, alarm=False, status="non_finite")
        self._sampling_interval(ts)
        ratios = {"value": self._views["value"].score(x)}
        self._recent.append(x)
        full = len(self._recent) == self.config.smoothing_rows
        ratios["smoothed"] = self._views["smoothed"].score(
            sum(self._recent) / len(self._recent) if full else None
        )
        seasonal = self._seasonal_residual(ts, x)
        ratios["seasonal"] = self._views["seasonal"].score(
            None if seasonal is None else seasonal[0]
        )
        signal = max(ratios, key=lambda k: ratios[k])
        ratio = min(ratios[signal], 1e12)
        score = ratio / (1.0 + ratio)
        expected, sigma = self._baseline(signal if ratio > 0 else None, seasonal)
        status = "ok"
        if self._rows <= self._probation:
            score, status = 0.0, "warming_up"
        if self._since_alarm < self.config.refractory_rows:
            score *= 0.5
            status = "refractory" if status == "ok" else status
        self._since_alarm += 1
        alarm = score >= self.config.alarm_score
        if alarm:
            self._since_alarm = 0
        return AnomalyScore(
            ts, x, score, alarm, signal if ratio > 0 else None, expected, sigma, status
        )

    def _baseline(
        self, signal: str | None, seasonal: tuple[float, float] | None
    ) -> tuple[float | None, float | None]:
        """Expected value and robust sigma from the view that fired (seasonal if none did)."""
        use_seasonal = seasonal is not None and signal in (None, "seasonal")
        view = self._views["seasonal" if use_seasonal else "value"]
        if view.centre is None:
            return None, None
        base = seasonal[1] + view.centre if use_seasonal and seasonal else view.centre
        return base, view.scale


def score_series(
    timestamps: Sequence[float], values: Sequence[float], *, probationary_rows: int = 0
) -> list[AnomalyScore]:
    """Run a fresh :class:`AnomalyDetector` over a whole series, row by row."""
    det = AnomalyDetector(probationary_rows=probationary_rows)
    return [det.update(float(t), float(v)) for t, v in zip(timestamps, values, strict=True)]


@dataclass(frozen=True)
class MetricSeries:
    """One metric series: Prometheus-style name and labels plus its samples.

    Attributes:
        metric: Metric name (``__name__``).
        labels: The other labels.
        timestamps: Unix seconds, in order.
        values: Sample values.
    """

    metric: str
    labels: Mapping[str, str]
    timestamps: Sequence[float]
    values: Sequence[float]

    @classmethod
    def from_prometheus(cls, item: Mapping[str, Any]) -> MetricSeries:
        """Build from one ``matrix`` result item (``{"metric": {...}, "values": [[t, "v"]]}``)."""
        labels = {str(k): str(v) for k, v in dict(item.get("metric", {})).items()}
        name = labels.pop("__name__", "")
        pairs = [(float(t), float(v)) for t, v in item.get("values", [])]
        return cls(name, labels, [p[0] for p in pairs], [p[1] for p in pairs])

    @property
    def display(self) -> str:
        """``name{k="v",...}`` as PromQL writes a series."""
        inner = ",".join(f'{k}="{v}"' for k, v in sorted(self.labels.items()))
        return f"{self.metric}{{{inner}}}" if inner else self.metric


@dataclass(frozen=True)
class CorrelatedSeries:
    """Another series that moved in the anomaly's window.

    Attributes:
        metric: Its name.
        labels: Its labels.
        deviation_sigmas: Largest signed move in the window, in robust sigmas of its
            own pre-window baseline.
        correlation: Pearson correlation with the anomalous series over the window
            (None when either is flat there).
    """

    metric: str
    labels: Mapping[str, str]
    deviation_sigmas: float
    correlation: float | None


@dataclass(frozen=True)
class AnomalyExplanation:
    """What deviated, by how much, since when, and what moved with it.

    Attributes:
        metric: Metric name.
        labels: Its labels.
        at: Time of the alarm.
        since: Start of the contiguous deviation that led to the alarm.
        observed: Value at the alarm.
        expected: Baseline value at the alarm.
        expected_low: Lower end of the expected range (baseline - 3 robust sigmas).
        expected_high: Upper end of the expected range.
        deviation_sigmas: Signed deviation from the baseline in robust sigmas.
        deviation_pct: Signed deviation in percent of the baseline (None if it is 0).
        signal: Detector view that fired (``value``, ``seasonal``, ``smoothed``).
        score: Anomaly score at the alarm.
        correlated: Other series that moved in ``[since, at]``, strongest first.
    """

    metric: str
    labels: Mapping[str, str]
    at: datetime
    since: datetime
    observed: float
    expected: float
    expected_low: float
    expected_high: float
    deviation_sigmas: float
    deviation_pct: float | None
    signal: str
    score: float
    correlated: tuple[CorrelatedSeries, ...] = field(default_factory=tuple)

    def summary(self) -> str:
        """One line for chat: observed vs expected range, size, start and co-movers."""
        pct = "" if self.deviation_pct is None else f", {self.deviation_pct:+.0f}%"
        moved = ", ".join(f"{c.metric} ({c.deviation_sigmas:+.1f}σ)" for c in self.correlated)
        return (
            f"{self.metric} is {self.observed:.4g}, expected {self.expected_low:.4g}"
            f"–{self.expected_high:.4g} ({self.deviation_sigmas:+.1f}σ{pct}, {self.signal})"
            f" since {self.since:%Y-%m-%d %H:%M} UTC"
            + (f"; moved with it: {moved}" if moved else "")
        )


def _utc(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, tz=UTC)


def _since(scores: Sequence[AnomalyScore], at: int, *, min_sigmas: float = 2.0) -> int:
    """First row of the run of rows, ending at ``at``, deviating >= ``min_sigmas``."""
    ref = scores[at]
    start = at
    for i in range(at - 1, -1, -1):
        s = scores[i]
        if s.status == "non_finite":
            continue
        if ref.expected is None or s.expected is None or not s.sigma:
            break
        if abs(s.value - s.expected) / s.sigma < min_sigmas:
            break
        start = i
    return start


def _co_movers(
    *, target: MetricSeries, others: Sequence[MetricSeries], lo: float, hi: float
) -> tuple[CorrelatedSeries, ...]:
    """Series that moved >= 3 robust sigmas in ``[lo, hi]`` off their own earlier baseline.

    ``lo`` lies a little before the anomaly's start so that leading movers count. The
    baseline is each series' last 200 finite samples before ``lo``; the correlation with
    the target is taken over ``[lo, hi]``.
    """
    t_ts = np.asarray(target.timestamps, dtype=np.float64)
    t_v = np.asarray(target.values, dtype=np.float64)
    sel = (t_ts >= lo) & (t_ts <= hi) & np.isfinite(t_v)
    out: list[CorrelatedSeries] = []
    for other in others:
        ts = np.asarray(other.timestamps, dtype=np.float64)
        v = np.asarray(other.values, dtype=np.float64)
        ok = np.isfinite(ts) & np.isfinite(v)
        ts, v = ts[ok], v[ok]
        before = v[ts < lo][-200:]
        inside = (ts >= lo) & (ts <= hi)
        if before.size < 5 or not inside.any():
            continue
        med = float(np.median(before))
        scale = _MAD_TO_SIGMA * float(np.median(np.abs(before - med)))
        scale = scale or float(np.std(before)) or max(abs(med) * 1e-3, 1e-12)
        dev = (v[inside] - med) / scale
        peak = float(dev[int(np.argmax(np.abs(dev)))])
        if abs(peak) < _SIGMA_BAND:
            continue
        corr = None
        if sel.sum() >= 3 and ts.size >= 2:
            mine = t_v[sel]
            theirs = np.interp(t_ts[sel], ts, v)
            if np.std(mine) > 0 and np.std(theirs) > 0:
                corr = float(np.corrcoef(mine, theirs)[0, 1])
        out.append(CorrelatedSeries(other.metric, dict(other.labels), peak, corr))
    out.sort(key=lambda c: -abs(c.deviation_sigmas))
    return tuple(out)


def explain(
    *,
    series: MetricSeries,
    others: Sequence[MetricSeries] = (),
    probationary_rows: int | None = None,
    limit: int = 3,
) -> list[AnomalyExplanation]:
    """Detect anomalies in a batch of samples and explain the most recent ones.

    Args:
        series: The series to examine, in time order.
        others: Related series (same service, host, ...) checked for co-movement.
        probationary_rows: Rows that only train; default NAB's rule
            ``min(15 % of the rows, 750)``.
        limit: Maximum number of explanations, most recent first.

    Returns:
        One explanation per alarm, newest first; empty if nothing is anomalous.
    """
    n = len(series.values)
    probation = min(int(0.15 * n), 750) if probationary_rows is None else probationary_rows
    scores = score_series(series.timestamps, series.values, probationary_rows=probation)
    out: list[AnomalyExplanation] = []
    for at in reversed([i for i, s in enumerate(scores) if s.alarm]):
        s = scores[at]
        if s.expected is None or s.sigma is None or s.signal is None:
            continue
        start = _since(scores, at)
        sigma = s.sigma or max(abs(s.expected) * 1e-3, 1e-12)
        dev = s.value - s.expected
        out.append(
            AnomalyExplanation(
                metric=series.metric,
                labels=dict(series.labels),
                at=_utc(s.timestamp),
                since=_utc(scores[start].timestamp),
                observed=s.value,
                expected=s.expected,
                expected_low=s.expected - _SIGMA_BAND * s.sigma,
                expected_high=s.expected + _SIGMA_BAND * s.sigma,
                deviation_sigmas=dev / sigma,
                deviation_pct=100.0 * dev / abs(s.expected) if s.expected else None,
                signal=s.signal,
                score=s.score,
                correlated=_co_movers(
                    target=series,
                    others=others,
                    lo=scores[max(0, start - max(12, at - start))].timestamp,
                    hi=s.timestamp,
                ),
            )
        )
        if len(out) >= limit:
            break
    logger.debug("explain %s: %s alarms explained", series.display, len(out))
    return out
