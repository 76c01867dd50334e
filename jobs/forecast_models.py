"""Forecast data model and the simple models: seasonal naive, seasonal median, level, linear.

:class:`History` holds cleaned samples, :class:`Forecast` a prediction with its band, and
:class:`Forecaster` is the protocol every model implements (these, Prophet in
:mod:`jobs.prophet_adapter` and the backtest ensemble in :mod:`jobs.forecast_ensemble`).
Use them through :mod:`jobs.forecast`, which also applies the fallbacks.

Times are Unix seconds (UTC). A forecast starts one step after the last sample. Bands of
the simple models are empirical: quantiles of the changes the history showed over a
comparable lag, so they need no distributional assumption.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from statistics import NormalDist
from typing import Protocol

import numpy as np
from numpy.typing import NDArray

FloatArray = NDArray[np.float64]

DAY_S = 86_400.0
WEEK_S = 7 * DAY_S
DEFAULT_INTERVAL = 0.8
"""Coverage aimed at by every band (Prophet's default ``interval_width``)."""
MIN_SAMPLES = 3
"""Below this many finite samples there is no forecast at all."""
GAP_FACTOR = 3.0
"""A spacing larger than this many median steps counts as a gap."""


class ForecastError(Exception):
    """A model cannot forecast this history (:func:`jobs.forecast.forecast_series` catches it)."""


@dataclass(frozen=True, eq=False)
class History:
    """Clean samples of one series: sorted, unique and finite times and values.

    Attributes:
        times: Unix seconds, strictly increasing.
        values: Finite values, one per time.
        step_s: Median spacing of the samples (0 with fewer than two).
        notes: What cleaning did (dropped, merged, sorted, gaps), for people.
    """

    times: FloatArray
    values: FloatArray
    step_s: float
    notes: tuple[str, ...] = ()

    @classmethod
    def from_arrays(
        cls, times: Sequence[float] | FloatArray, values: Sequence[float] | FloatArray
    ) -> History:
        """Clean parallel arrays of times and values.

        Non-finite times or values are dropped, samples sorted, and values sharing a
        timestamp merged into their mean; gaps (spacings over :data:`GAP_FACTOR` median
        steps) are kept and noted.

        Args:
            times: Unix seconds, in any order, possibly repeated or non-finite.
            values: One value per time, possibly NaN or ±Inf.

        Returns:
            The cleaned history (possibly empty), with ``notes`` saying what changed.

        Raises:
            ValueError: ``times`` and ``values`` are not one-dimensional and equally long.
        """
        t = np.asarray(times, dtype=np.float64)
        v = np.asarray(values, dtype=np.float64)
        if t.shape != v.shape or t.ndim != 1:
            raise ValueError("times and values must be one-dimensional and of equal length")
        notes: list[str] = []
        finite = np.isfinite(t) & np.isfinite(v)
        dropped = int(t.size - np.count_nonzero(finite))
        if dropped:
            notes.append(f"dropped {dropped} non-finite sample(s) (NaN/Inf)")
            t, v = t[finite], v[finite]
        if t.size > 1 and bool(np.any(np.diff(t) < 0)):
            notes.append("samples were out of order: sorted")
        order = np.argsort(t, kind="stable")
        t, v = t[order], v[order]
        unique, inverse, counts = np.unique(t, return_inverse=True, return_counts=True)
        if unique.size < t.size:
            notes.append(f"merged {t.size - unique.size} duplicate timestamp(s) into their mean")
            v = np.bincount(inverse, weights=v) / counts
            t = unique
        step = float(np.median(np.diff(t))) if t.size > 1 else 0.0
        if t.size > 2 and step > 0:
            spacing = np.diff(t)
            gaps = int(np.count_nonzero(spacing > GAP_FACTOR * step))
            if gaps:
                notes.append(f"{gaps} gap(s), longest {duration(float(spacing.max()))}")
        return cls(times=t, values=v, step_s=step, notes=tuple(notes))

    @classmethod
    def from_points(cls, points: Iterable[tuple[float, float]]) -> History:
        """Clean ``(unix seconds, value)`` samples, as ``tools.prometheus_client.Series`` holds."""
        pairs = list(points)
        return cls.from_arrays([p[0] for p in pairs], [p[1] for p in pairs])

    def __len__(self) -> int:
        return int(self.times.size)

    @property
    def span_s(self) -> float:
        """Seconds between the first and the last sample."""
        return float(self.times[-1] - self.times[0]) if self.times.size else 0.0

    @property
    def end(self) -> float:
        """Time of the last sample."""
        return float(self.times[-1])

    def since(self, start: float) -> History:
        """The samples at or after ``start``."""
        keep = self.times >= start
        return replace(self, times=self.times[keep], values=self.values[keep])

    def until(self, end: float) -> History:
        """The samples at or before ``end``."""
        keep = self.times <= end
        return replace(self, times=self.times[keep], values=self.values[keep])


@dataclass(frozen=True, eq=False)
class Forecast:
    """Predicted values of one series, with a band and how they were made.

    Attributes:
        times: Unix seconds of the predicted points (after the last sample).
        yhat: Point forecast.
        lower: Lower edge of the band.
        upper: Upper edge of the band.
        method: Model that produced it: ``ensemble``, ``prophet``, ``seasonal_naive``,
            ``linear``, ``constant`` or ``none`` (no forecast; arrays empty).
        fallback_reason: Why ``method`` is not the model asked for (``None`` when it is).
        interval: Coverage the band aims at (0.8 = 80 %).
        notes: Data-cleaning notes of the history it was made from.
        last_value: Last observed value (NaN when there was none).
        detail: How the model decided (e.g. the ensemble's chosen candidate and its score).
    """

    times: FloatArray
    yhat: FloatArray
    lower: FloatArray
    upper: FloatArray
    method: str
    fallback_reason: str | None = None
    interval: float = DEFAULT_INTERVAL
    notes: tuple[str, ...] = ()
    last_value: float = math.nan
    detail: str | None = None

    @classmethod
    def none(cls, reason: str, *, notes: tuple[str, ...] = ()) -> Forecast:
        """An empty forecast that says why there is none."""
        empty = np.zeros(0, dtype=np.float64)
        return cls(empty, empty, empty, empty, method="none", fallback_reason=reason, notes=notes)

    @property
    def empty(self) -> bool:
        """Whether there are no predicted points."""
        return self.times.size == 0

    @property
    def timestamps(self) -> list[datetime]:
        """The predicted points' times as UTC datetimes."""
        return [datetime.fromtimestamp(t, tz=UTC) for t in self.times.tolist()]

    def points(self) -> list[tuple[float, float]]:
        """``(time, yhat)`` pairs, as charts take them."""
        return list(zip(self.times.tolist(), self.yhat.tolist(), strict=True))

    def band(self) -> list[tuple[float, float, float]]:
        """``(time, lower, upper)`` triples, as charts take them."""
        return list(zip(self.times.tolist(), self.lower.tolist(), self.upper.tolist(), strict=True))

    def finite(self) -> bool:
        """Whether every predicted value and band edge is finite."""
        return bool(
            np.all(np.isfinite(self.yhat))
            and np.all(np.isfinite(self.lower))
            and np.all(np.isfinite(self.upper))
        )


class Forecaster(Protocol):
    """A forecasting model: clean history in, forecast out.

    Implementations may assume ``history`` holds at least :data:`MIN_SAMPLES` samples and
    is not constant (:func:`jobs.forecast.forecast_series` handles those cases), and raise
    :class:`ForecastError` when they cannot forecast it.
    """

    @property
    def name(self) -> str:
        """Short name, used as :attr:`Forecast.method`."""
        ...

    def forecast(self, history: History, *, horizon_s: float, step_s: float) -> Forecast:
        """Predict ``(history.end, history.end + horizon_s]`` every ``step_s`` seconds."""
        ...


def future_times(history: History, *, horizon_s: float, step_s: float) -> FloatArray:
    """Times of the predicted points: every ``step_s`` after the last sample, up to the horizon.

    Raises:
        ValueError: ``horizon_s`` or ``step_s`` is not positive.
    """
    if step_s <= 0 or horizon_s <= 0:
        raise ValueError("horizon and step must be positive")
    count = max(1, math.floor(horizon_s / step_s + 1e-9))
    return history.end + step_s * np.arange(1, count + 1, dtype=np.float64)


def nearest_values(history: History, at: FloatArray, *, tolerance: float) -> FloatArray:
    """Value of the sample nearest each time; NaN when none lies within ``tolerance``."""
    if len(history) == 0:
        return np.full(at.shape, np.nan)
    last = history.times.size - 1
    right = np.clip(np.searchsorted(history.times, at), 0, last)
    left = np.clip(right - 1, 0, last)
    pick = np.where(
        np.abs(at - history.times[left]) <= np.abs(history.times[right] - at), left, right
    )
    near = np.abs(history.times[pick] - at) <= tolerance
    return np.where(near, history.values[pick], np.nan)


def same_phase(history: History, at: FloatArray, *, season_s: float, seasons: int) -> FloatArray:
    """Values at ``at - k * season`` for ``k = 1..seasons`` (rows); NaN where unknown.

    A row is NaN where that sample is missing (a gap) or lies after the last sample.
    """
    tolerance = max(history.step_s, 1.0) * 0.75
    rows = []
    for k in range(1, seasons + 1):
        source = at - k * season_s
        values = nearest_values(history, source, tolerance=tolerance)
        rows.append(np.where(source <= history.end + tolerance, values, np.nan))
    return np.vstack(rows)


def nan_median(rows: FloatArray) -> FloatArray:
    """Column-wise median ignoring NaN (NaN where a column has none), without warnings."""
    ordered = np.sort(rows, axis=0)  # NaN sorts last
    count = np.count_nonzero(~np.isnan(rows), axis=0)
    cols = np.arange(rows.shape[1])
    low = ordered[np.maximum((count - 1) // 2, 0), cols]
    high = ordered[np.maximum(count // 2, 0), cols]
    return np.where(count > 0, (low + high) / 2, np.nan)


def lag_quantiles(history: History, *, lag_s: float, interval: float) -> tuple[float, float]:
    """Quantiles of ``y(t) - y(t - lag)`` around the median, for a band of ``interval``.

    Falls back to step-to-step changes when fewer than ten lagged pairs exist. The lower
    quantile is at most 0 and the upper at least 0, so a band always contains its forecast.
    """
    tolerance = max(history.step_s, 1.0) * 0.75
    previous = nearest_values(history, history.times - lag_s, tolerance=tolerance)
    changes = history.values - previous
    changes = changes[np.isfinite(changes)]
    if changes.size < 10:
        changes = np.diff(history.values)
    if changes.size == 0:
        return 0.0, 0.0
    low, high = np.quantile(changes, [0.5 - interval / 2, 0.5 + interval / 2])
    return min(float(low), 0.0), max(float(high), 0.0)


def _require_season(history: History, season_s: float) -> None:
    if history.span_s < season_s:
        raise ForecastError(
            f"history {duration(history.span_s)} is shorter than a season ({duration(season_s)})"
        )


@dataclass(frozen=True)
class SeasonalNaiveForecaster:
    """The value one season earlier (``y[t - season]``): the deterministic baseline.

    Where that sample is missing (a gap), the same phase one more season back is used, up
    to ``max_seasons_back``; a point with no same-phase sample at all takes the last value.
    The band adds the quantiles of the season-over-season changes seen in the history.

    Args:
        season_s: Season length (default one day).
        interval: Coverage aimed at by the band.
        max_seasons_back: How many seasons back to look for a same-phase sample.
    """

    season_s: float = DAY_S
    interval: float = DEFAULT_INTERVAL
    max_seasons_back: int = 7

    @property
    def name(self) -> str:
        """``seasonal_naive`` (``seasonal_naive_week`` for a weekly season)."""
        return "seasonal_naive_week" if self.season_s == WEEK_S else "seasonal_naive"

    def forecast(self, history: History, *, horizon_s: float, step_s: float) -> Forecast:
        """Repeat the last season (see the class docstring).

        Raises:
            ForecastError: The history is shorter than one season.
        """
        _require_season(history, self.season_s)
        times = future_times(history, horizon_s=horizon_s, step_s=step_s)
        rows = same_phase(history, times, season_s=self.season_s, seasons=self.max_seasons_back)
        yhat = np.full(times.size, np.nan)
        for row in rows:  # the most recent same-phase sample that exists
            yhat = np.where(np.isnan(yhat), row, yhat)
        yhat = np.where(np.isnan(yhat), history.values[-1], yhat)
        low, high = lag_quantiles(history, lag_s=self.season_s, interval=self.interval)
        return Forecast(
            times, yhat, yhat + low, yhat + high, method=self.name, interval=self.interval
        )


@dataclass(frozen=True)
class SeasonalMedianForecaster:
    """Median of the same phase over the last ``seasons`` days, optionally rescaled.

    Robust to one-off spikes that seasonal naive would repeat. With ``rescale_window_s``
    the profile is multiplied by ``median(recent values) / median(profile over the same
    recent times)`` when both are positive, so it follows a level shift of the last hours.

    Args:
        seasons: Same-phase samples to take the median of (default 7 days).
        rescale_window_s: Recent window for the level ratio (``0``: no rescaling).
        season_s: Season length (default one day).
        interval: Coverage aimed at by the band.
    """

    seasons: int = 7
    rescale_window_s: float = 0.0
    season_s: float = DAY_S
    interval: float = DEFAULT_INTERVAL

    @property
    def name(self) -> str:
        """``seasonal_median`` or ``seasonal_median_rescaled``."""
        return "seasonal_median_rescaled" if self.rescale_window_s > 0 else "seasonal_median"

    def forecast(self, history: History, *, horizon_s: float, step_s: float) -> Forecast:
        """Predict the same-phase median (see the class docstring).

        Raises:
            ForecastError: The history is shorter than one season.
        """
        _require_season(history, self.season_s)
        times = future_times(history, horizon_s=horizon_s, step_s=step_s)
        yhat = self._profile(history, times)
        if self.rescale_window_s > 0:
            recent = history.since(history.end - self.rescale_window_s)
            profile = self._profile(history, recent.times)
            observed, expected = float(np.median(recent.values)), float(np.median(profile))
            if observed > 0 and expected > 0:
                yhat = yhat * (observed / expected)
        low, high = lag_quantiles(history, lag_s=self.season_s, interval=self.interval)
        return Forecast(
            times, yhat, yhat + low, yhat + high, method=self.name, interval=self.interval
        )

    def _profile(self, history: History, at: FloatArray) -> FloatArray:
        rows = same_phase(history, at, season_s=self.season_s, seasons=self.seasons)
        median = nan_median(rows)
        return np.where(np.isnan(median), history.values[-1], median)


@dataclass(frozen=True)
class LevelForecaster:
    """A flat forecast at the recent level: the last value, or the median of a window.

    The median of the last hour ignores a last-sample blip and, for intermittent series
    (mostly exact zeros), predicts the state the series is in. The band adds the quantiles
    of the changes over half the horizon.

    Args:
        window_s: Window of the median (``0``: the last value, the naive forecast).
        interval: Coverage aimed at by the band.
    """

    window_s: float = 0.0
    interval: float = DEFAULT_INTERVAL

    @property
    def name(self) -> str:
        """``last_value`` or ``recent_median``."""
        return "recent_median" if self.window_s > 0 else "last_value"

    def forecast(self, history: History, *, horizon_s: float, step_s: float) -> Forecast:
        """Predict the recent level (see the class docstring)."""
        times = future_times(history, horizon_s=horizon_s, step_s=step_s)
        if self.window_s > 0:
            level = float(np.median(history.since(history.end - self.window_s).values))
        else:
            level = float(history.values[-1])
        yhat = np.full(times.size, level)
        low, high = lag_quantiles(history, lag_s=horizon_s / 2, interval=self.interval)
        return Forecast(
            times, yhat, yhat + low, yhat + high, method=self.name, interval=self.interval
        )


@dataclass(frozen=True)
class LinearForecaster:
    """Prometheus ``predict_linear``: a least-squares line over the last ``lookback_s``.

    The default 6 h lookback is the one of the well-known node_exporter/kube-prometheus rule
    ``predict_linear(node_filesystem_avail_bytes[6h], ...)``. With fewer than three samples
    in the lookback, the last three samples are used. The band is the regression's
    prediction interval, which widens with the distance from the fitted window.

    Args:
        lookback_s: Window of the fit (default 6 h).
        interval: Coverage aimed at by the band.
    """

    lookback_s: float = 6 * 3600.0
    interval: float = DEFAULT_INTERVAL

    @property
    def name(self) -> str:
        """``linear``."""
        return "linear"

    def forecast(self, history: History, *, horizon_s: float, step_s: float) -> Forecast:
        """Extrapolate the fitted line (see the class docstring).

        Raises:
            ForecastError: Fewer than two samples.
        """
        if len(history) < 2:
            raise ForecastError("a line needs two samples")
        recent = history.since(history.end - self.lookback_s)
        if len(recent) < MIN_SAMPLES:
            recent = History(history.times[-MIN_SAMPLES:], history.values[-MIN_SAMPLES:], 0.0)
        t, y = recent.times - history.end, recent.values
        slope, intercept, sigma = linear_fit(t, y)
        times = future_times(history, horizon_s=horizon_s, step_s=step_s)
        x = times - history.end
        yhat = intercept + slope * x
        t_mean = float(t.mean())
        sxx = max(float(np.sum((t - t_mean) ** 2)), 1e-9)
        z = NormalDist().inv_cdf(0.5 + self.interval / 2)
        spread = z * sigma * np.sqrt(1 + 1 / t.size + (x - t_mean) ** 2 / sxx)
        return Forecast(
            times, yhat, yhat - spread, yhat + spread, method=self.name, interval=self.interval
        )


def linear_fit(t: FloatArray, y: FloatArray) -> tuple[float, float, float]:
    """Least-squares slope, intercept (at ``t = 0``) and residual standard deviation."""
    t_mean, y_mean = float(t.mean()), float(y.mean())
    sxx = float(np.sum((t - t_mean) ** 2))
    if sxx <= 0:
        return 0.0, y_mean, float(y.std())
    slope = float(np.sum((t - t_mean) * (y - y_mean)) / sxx)
    intercept = y_mean - slope * t_mean
    residual = y - (intercept + slope * t)
    sigma = float(np.sqrt(np.sum(residual**2) / max(1, t.size - 2)))
    return slope, intercept, sigma


def duration(seconds: float) -> str:
    """``2.5 d``, ``3.0 h`` or ``45 min``: a duration for people."""
    if seconds >= 2 * DAY_S:
        return f"{seconds / DAY_S:.1f} d"
    if seconds >= 3600:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 60:.0f} min"
