"""Prophet behind the :class:`~jobs.forecast.Forecaster` protocol (the only module importing it).

Prophet (and pandas, and cmdstanpy) are imported on first use, not at import time, so the
rest of the product loads fast and works where prophet is missing (the ensemble then
carries on with its other candidates; Prophet asked for alone falls back to seasonal naive,
saying so). The import also silences the noisy loggers:
cmdstanpy logs two INFO lines per fit and prophet an ERROR line when plotly is absent.

Prophet 1.x running on pandas 3 emits deprecation warnings (``inplace`` in
``DataFrame.drop``, ...) from its own code; they are ignored around the fit and the
prediction only, for prophet's modules only.
"""

from __future__ import annotations

import importlib
import logging
import math
import warnings
from dataclasses import dataclass
from functools import cache
from typing import Any, Literal

import numpy as np

from jobs.forecast_models import (
    DAY_S,
    DEFAULT_INTERVAL,
    WEEK_S,
    FloatArray,
    Forecast,
    ForecastError,
    History,
    future_times,
)

logger = logging.getLogger(__name__)

_NOISY_LOGGERS = {"cmdstanpy": logging.ERROR, "prophet": logging.ERROR, "prophet.plot": 100}


@cache
def _prophet_class() -> Any:
    """Import prophet once, with its loggers silenced; raise ForecastError if it is missing."""
    for name, level in _NOISY_LOGGERS.items():
        logging.getLogger(name).setLevel(level)
    try:
        from cmdstanpy.utils import get_logger  # noqa: PLC0415  (lazy: heavy)
        from prophet import Prophet  # noqa: PLC0415  (lazy: heavy, optional at run time)
    except ImportError as exc:  # pragma: no cover - prophet is a declared dependency
        raise ForecastError(f"prophet is not importable: {exc}") from exc
    # cmdstanpy configures its logger (DEBUG + a stderr handler) on first use, and prophet
    # sets INFO on import: force both now, then lower them
    get_logger()
    for name, level in _NOISY_LOGGERS.items():
        logging.getLogger(name).setLevel(level)
    return Prophet


def warm_up() -> None:
    """Import prophet now (a worker process calls this before its first forecast)."""
    try:
        _prophet_class()
    except ForecastError as exc:
        logger.warning("prophet unavailable, forecasts will fall back: %s", exc)


@dataclass(frozen=True)
class ProphetForecaster:
    """Prophet with daily and weekly seasonality, for irregular, gappy metric series.

    Daily seasonality is on from two days of history, weekly from ``min_weekly_s`` (one week
    by default; Prophet's own ``auto`` wants more than two weeks, which a 14-day query never
    has). Yearly seasonality is off.

    Args:
        interval: Band coverage (Prophet's ``interval_width``).
        changepoint_prior_scale: Trend flexibility (Prophet's default 0.05).
        seasonality_prior_scale: Seasonality flexibility (Prophet's default 10).
        log_transform: ``"auto"`` fits ``log(y)`` when every value is positive (multiplicative
            seasonality, forecasts stay positive); ``"never"`` fits ``y``.
        fit_step_s: Average the history into buckets of this many seconds before fitting
            (0 keeps the samples); 15 min keeps a day's shape and makes fits 3x cheaper.
        fit_window_s: Only the most recent part of the history is fitted.
        min_weekly_s: History needed before weekly seasonality is fitted.
        uncertainty_samples: Simulated trend paths for the band (Prophet's default 1000).
        daily_order: Fourier order of the daily seasonality (Prophet's default 4).
        weekly_order: Fourier order of the weekly seasonality (Prophet's default 3).
        changepoint_range: Share of the history where the trend may change (default 0.8).
    """

    interval: float = DEFAULT_INTERVAL
    changepoint_prior_scale: float = 0.05
    seasonality_prior_scale: float = 10.0
    log_transform: Literal["auto", "never"] = "auto"
    fit_step_s: float = 0.0
    fit_window_s: float = 2 * WEEK_S
    min_weekly_s: float = WEEK_S
    uncertainty_samples: int = 300
    daily_order: int = 4
    weekly_order: int = 3
    changepoint_range: float = 0.8

    @property
    def name(self) -> str:
        """``prophet``."""
        return "prophet"

    def forecast(self, history: History, *, horizon_s: float, step_s: float) -> Forecast:
        """Fit Prophet on the history and predict the horizon.

        Raises:
            ForecastError: Under two days of history, prophet missing, or a failed fit.
        """
        recent = history.since(history.end - self.fit_window_s)
        if recent.span_s < 2 * DAY_S - max(recent.step_s, 1.0):
            raise ForecastError("prophet needs two days of history")
        prophet_cls = _prophet_class()
        times, values = _bucket(recent, self.fit_step_s)
        use_log = self.log_transform == "auto" and bool(np.all(values > 0))
        target = np.log(values) if use_log else values
        future = future_times(history, horizon_s=horizon_s, step_s=step_s)
        pd: Any = importlib.import_module("pandas")  # lazy, like prophet (and untyped)
        frame = pd.DataFrame({"ds": pd.to_datetime(times, unit="s"), "y": target})
        model = prophet_cls(
            growth="linear",
            daily_seasonality=self.daily_order,
            weekly_seasonality=self.weekly_order if recent.span_s >= self.min_weekly_s else False,
            changepoint_range=self.changepoint_range,
            yearly_seasonality=False,
            changepoint_prior_scale=self.changepoint_prior_scale,
            seasonality_prior_scale=self.seasonality_prior_scale,
            interval_width=self.interval,
            uncertainty_samples=self.uncertainty_samples,
        )
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", category=DeprecationWarning, module=r"prophet\.")
            warnings.filterwarnings("ignore", category=FutureWarning, module=r"prophet\.")
            try:
                model.fit(frame)
                predicted = model.predict(pd.DataFrame({"ds": pd.to_datetime(future, unit="s")}))
            except (RuntimeError, ValueError) as exc:  # cmdstan optimisation failures
                raise ForecastError(f"prophet fit failed: {exc}") from exc
        yhat = predicted["yhat"].to_numpy(dtype=np.float64)
        if "yhat_lower" in predicted:
            lower = predicted["yhat_lower"].to_numpy(dtype=np.float64)
            upper = predicted["yhat_upper"].to_numpy(dtype=np.float64)
        else:  # uncertainty_samples=0: a point forecast (backtests need no band)
            lower, upper = yhat.copy(), yhat.copy()
        if use_log:
            # exp of a huge log value would overflow to inf: such a forecast is no forecast
            with np.errstate(over="ignore"):
                yhat, lower, upper = np.exp(yhat), np.exp(lower), np.exp(upper)
        return Forecast(
            future,
            yhat,
            np.minimum(lower, yhat),
            np.maximum(upper, yhat),
            method=self.name,
            interval=self.interval,
        )


def _bucket(history: History, bucket_s: float) -> tuple[FloatArray, FloatArray]:
    """Mean of the samples per ``bucket_s`` bucket (empty buckets stay gaps)."""
    if bucket_s <= 0 or bucket_s <= history.step_s or len(history) < 2:
        return history.times, history.values
    start = math.floor(history.times[0] / bucket_s) * bucket_s
    index = np.floor((history.times - start) / bucket_s).astype(np.int64)
    sums = np.bincount(index, weights=history.values)
    counts = np.bincount(index)
    filled = counts > 0
    centres = start + (np.arange(counts.size, dtype=np.float64) + 0.5) * bucket_s
    return centres[filled], sums[filled] / counts[filled]
