"""Forecasts of metric series: one front door with stated fallbacks, crossings, capacity.

Every forecast goes through :func:`forecast_series`, which takes a cleaned
:class:`History` (:meth:`History.from_points` cleans) and applies one stated fallback per
kind of bad input. A caller gets either a forecast whose ``method`` and
``fallback_reason`` say how it was made, or an empty one (``method="none"``) saying why
there is none. Never a crash, never a silent guess:

================================  ========================================================
input                             handling
================================  ========================================================
NaN / ±Inf values or times        dropped before anything else (counted in ``notes``)
duplicate timestamps              merged into their mean (counted in ``notes``)
unsorted samples                  sorted (noted)
gaps                              kept as gaps, every model works on irregular times; a
                                  backtest window with under 3 samples is skipped; the
                                  longest gap is noted
fewer than 3 finite samples       no forecast (``method="none"``)
constant values                   flat forecast with a zero-width band (``"constant"``)
under two days of history         linear fallback (``"linear"``): no seasonality can be
                                  learnt from less than two cycles
model error or non-finite output  seasonal-naive fallback, then linear, then ``"none"``
never-negative history            forecast and band clipped at zero
================================  ========================================================

Models (all implement :class:`Forecaster`): :class:`BacktestEnsembleForecaster` (the
production model, :func:`default_forecaster`), :class:`ProphetForecaster`,
:class:`SeasonalNaiveForecaster`, :class:`LinearForecaster` (``predict_linear``) and the
simple members of the ensemble.

:func:`threshold_crossing` turns a forecast into an ETA; :func:`days_to_saturation` gives
the capacity figure (trend of the daily worst value) for the digest.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Literal

import numpy as np

from jobs.forecast_ensemble import BacktestEnsembleForecaster
from jobs.forecast_models import (
    DAY_S,
    DEFAULT_INTERVAL,
    MIN_SAMPLES,
    WEEK_S,
    FloatArray,
    Forecast,
    Forecaster,
    ForecastError,
    History,
    LevelForecaster,
    LinearForecaster,
    SeasonalMedianForecaster,
    SeasonalNaiveForecaster,
    duration,
    future_times,
)
from jobs.prophet_adapter import ProphetForecaster

__all__ = [
    "DAY_S",
    "DEFAULT_INTERVAL",
    "MIN_SEASONAL_HISTORY_S",
    "WEEK_S",
    "BacktestEnsembleForecaster",
    "Direction",
    "Forecast",
    "ForecastError",
    "Forecaster",
    "History",
    "LevelForecaster",
    "LinearForecaster",
    "ProphetForecaster",
    "Saturation",
    "SeasonalMedianForecaster",
    "SeasonalNaiveForecaster",
    "days_to_saturation",
    "default_forecaster",
    "forecast_series",
    "threshold_crossing",
]

logger = logging.getLogger(__name__)

Direction = Literal["above", "below"]
"""Which side of a threshold is trouble: ``above`` (CPU, memory) or ``below`` (free bytes)."""

MIN_SEASONAL_HISTORY_S = 2 * DAY_S
"""Below this much history no seasonal model is fitted (linear fallback)."""
MIN_CAPACITY_HISTORY_S = 3 * DAY_S
"""History needed for a days-to-saturation trend (three daily worst values)."""


def default_forecaster() -> Forecaster:
    """The production model: :class:`BacktestEnsembleForecaster` with its defaults."""
    return BacktestEnsembleForecaster()


def forecast_series(
    history: History,
    *,
    horizon_s: float,
    step_s: float | None = None,
    model: Forecaster | None = None,
) -> Forecast:
    """Forecast one cleaned series with ``model``, applying the stated fallbacks.

    Args:
        history: Cleaned samples (:meth:`History.from_points`).
        horizon_s: How far past the last sample to predict.
        step_s: Spacing of the predicted points (default: the history's step, at least 60 s).
        model: The model to use (default :func:`default_forecaster`).

    Returns:
        The forecast; ``method`` names the model that made it and ``fallback_reason`` says
        why it is not ``model`` (see the module docstring for the rules).

    Raises:
        ValueError: ``horizon_s`` is not positive.
    """
    if horizon_s <= 0:
        raise ValueError("horizon must be positive")
    chosen = model or default_forecaster()
    notes = history.notes
    if len(history) < MIN_SAMPLES:
        why_none = f"{len(history)} finite sample(s); at least {MIN_SAMPLES} needed"
        return Forecast.none(why_none, notes=notes)
    last = float(history.values[-1])
    step = step_s if step_s and step_s > 0 else max(history.step_s, 60.0)
    low, high = float(history.values.min()), float(history.values.max())
    if high - low <= 1e-12 * max(1.0, abs(high)):
        times = future_times(history, horizon_s=horizon_s, step_s=step)
        flat = np.full(times.size, last)
        return Forecast(
            times,
            flat,
            flat,
            flat,
            method="constant",
            fallback_reason=f"constant series: {len(history)} samples all equal {last:g}",
            notes=notes,
            last_value=last,
        )
    failures: list[str] = []
    for candidate, reason in _plan(chosen, history):
        try:
            result = candidate.forecast(history, horizon_s=horizon_s, step_s=step)
        except ForecastError as exc:
            failures.append(f"{candidate.name}: {exc}")
            continue
        except Exception as exc:  # boundary: a third-party model must not kill the job
            logger.warning("forecast model %s failed: %s", candidate.name, exc, exc_info=True)
            failures.append(f"{candidate.name} failed: {type(exc).__name__}: {exc}")
            continue
        if result.empty or not result.finite():
            failures.append(f"{candidate.name}: non-finite forecast")
            continue
        why: str | None = reason
        if failures:
            why = "; ".join(failures) + f"; fell back to {candidate.name}"
        return replace(
            _clip_to_domain(result, history),
            fallback_reason=why or result.fallback_reason,
            notes=notes,
            last_value=last,
        )
    return Forecast.none("; ".join(failures) or "no model could forecast", notes=notes)


def _plan(chosen: Forecaster, history: History) -> list[tuple[Forecaster, str | None]]:
    """Models to try in order, each with the reason it would be a fallback."""
    linear = LinearForecaster()
    if history.span_s < MIN_SEASONAL_HISTORY_S and chosen.name != linear.name:
        return [(linear, f"history {duration(history.span_s)} is under two days: linear fallback")]
    plan: list[tuple[Forecaster, str | None]] = [(chosen, None)]
    if chosen.name not in ("seasonal_naive", linear.name):
        plan.append((SeasonalNaiveForecaster(), None))
    if chosen.name != linear.name:
        plan.append((linear, None))
    return plan


def _clip_to_domain(forecast: Forecast, history: History) -> Forecast:
    """Keep a never-negative series' forecast and band at or above zero."""
    if float(history.values.min()) < 0:
        return forecast
    return replace(
        forecast,
        yhat=np.maximum(forecast.yhat, 0.0),
        lower=np.maximum(forecast.lower, 0.0),
        upper=np.maximum(forecast.upper, 0.0),
    )


def threshold_crossing(
    forecast: Forecast,
    *,
    threshold: float,
    direction: Direction,
    bound: Literal["band", "yhat"] = "band",
) -> datetime | None:
    """When the forecast first reaches ``threshold`` on its trouble side.

    Args:
        forecast: A forecast (an empty one never crosses).
        threshold: The limit.
        direction: ``above``: trouble is ``>= threshold``, judged on the upper band edge;
            ``below``: trouble is ``<= threshold``, judged on the lower edge.
        bound: ``band`` (the pessimistic band edge, for alerting) or ``yhat`` (the point
            forecast, for "most likely" ETAs).

    Returns:
        The UTC time of the first crossing, linearly interpolated between the two points
        around it; the first forecast time when already across there; ``None`` when the
        forecast never crosses within its horizon.
    """
    if forecast.empty:
        return None
    if bound == "yhat":
        values = forecast.yhat
    else:
        values = forecast.upper if direction == "above" else forecast.lower
    sign = 1.0 if direction == "above" else -1.0
    beyond = sign * (values - threshold) >= 0
    if not bool(np.any(beyond)):
        return None
    index = int(np.argmax(beyond))
    when = float(forecast.times[index])
    if index > 0:
        t0, t1 = float(forecast.times[index - 1]), when
        v0, v1 = float(values[index - 1]), float(values[index])
        if v1 != v0:
            when = t0 + (threshold - v0) / (v1 - v0) * (t1 - t0)
    return datetime.fromtimestamp(when, tz=UTC)


@dataclass(frozen=True)
class Saturation:
    """Capacity figure of one series: when its daily worst value reaches the threshold.

    Attributes:
        days: Days from the last sample until saturation; ``0`` when already there;
            ``None`` when the trend does not head there (or the history is too short).
        current: Worst value of the last 24 h (hourly medians; max for ``above``, min for
            ``below``).
        trend_per_day: Theil-Sen slope of the daily worst values, in units per day.
        reason: Why ``days`` is ``None`` or ``0``, for people.
    """

    days: float | None
    current: float
    trend_per_day: float
    reason: str | None = None


def days_to_saturation(history: History, *, threshold: float, direction: Direction) -> Saturation:
    """Days until the series' daily worst value reaches ``threshold``, by its trend.

    Capacity is about peaks, not averages: a CPU at 60 % on average that peaks at 88 %
    every afternoon saturates when the peaks do. So the series is reduced to hourly
    medians (robust to spikes), then to one worst value per day (max for ``above``,
    min for ``below``), and the Theil-Sen slope of those (robust to one bad day) is
    extrapolated from the last 24 h's worst value.

    Args:
        history: Cleaned samples, ideally the 14 days the forecast job queries.
        threshold: The limit.
        direction: Which side of it is trouble.

    Returns:
        The figure; ``days`` is ``None`` under three days of history, with a flat trend or
        one heading away from the threshold.
    """
    if len(history) < MIN_SAMPLES:
        return Saturation(None, math.nan, 0.0, "too few samples")
    sign = 1.0 if direction == "above" else -1.0
    hours = _bucket_medians(history, 3600.0)
    recent = hours[1][hours[0] > history.end - DAY_S]
    current = float(sign * np.max(sign * recent))
    if sign * (current - threshold) >= 0:
        return Saturation(0.0, current, 0.0, "already at or past the threshold")
    if history.span_s < MIN_CAPACITY_HISTORY_S:
        return Saturation(None, current, 0.0, f"history {duration(history.span_s)} < 3 d")
    day_index = np.floor((history.end - hours[0]) / DAY_S)
    days_t, worst = [], []
    for day in np.unique(day_index):
        in_day = day_index == day
        if np.count_nonzero(in_day) < 12:  # a partial day's worst value is biased
            continue
        days_t.append(float(np.mean(hours[0][in_day])))
        worst.append(float(sign * np.max(sign * hours[1][in_day])))
    if len(worst) < 3:
        return Saturation(None, current, 0.0, "fewer than three full days")
    slope = _theil_sen(np.asarray(days_t) / DAY_S, np.asarray(worst))
    if sign * slope <= 0:
        return Saturation(None, current, slope, "trend flat or away from the threshold")
    return Saturation((threshold - current) / slope, current, slope)


def _bucket_medians(history: History, bucket_s: float) -> tuple[FloatArray, FloatArray]:
    index = np.floor((history.times - history.times[0]) / bucket_s).astype(np.int64)
    times, values = [], []
    for bucket in np.unique(index):
        in_bucket = index == bucket
        times.append(float(np.mean(history.times[in_bucket])))
        values.append(float(np.median(history.values[in_bucket])))
    return np.asarray(times), np.asarray(values)


def _theil_sen(x: FloatArray, y: FloatArray) -> float:
    """Median of the pairwise slopes (0 with fewer than two points)."""
    i, j = np.triu_indices(x.size, k=1)
    dx = x[j] - x[i]
    keep = dx != 0
    if not bool(np.any(keep)):
        return 0.0
    return float(np.median((y[j] - y[i])[keep] / dx[keep]))
