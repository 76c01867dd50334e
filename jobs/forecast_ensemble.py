"""The production forecaster: Prophet and simple models, chosen per series by backtest.

No single model wins on metric series: Prophet learns daily and weekly shapes and trends
but chases spikes and misses level shifts; seasonal naive repeats yesterday's incidents;
a level model cannot see tomorrow's peak; intermittent series (mostly exact zeros) punish
any smooth model. So :class:`BacktestEnsembleForecaster` re-runs a fixed set of candidates
on the last ``windows`` horizons of the series' own history (rolling origin, each
candidate seeing only the samples before the window), and forecasts with the candidate of
lowest mean sMAPE there. One configuration for every series; nothing is tuned per series.

Candidates: Prophet (daily + weekly seasonality, ``log`` for positive series, fitted on
30-minute means), seasonal naive (day and week), 7-day same-phase median (plain and
rescaled to the last 3 hours' level), the last value, the last hour's median, and three
pointwise medians that pair Prophet with the robust models.

The band is empirical (split-conformal style): the chosen candidate's backtest errors,
per quarter of the horizon, give the quantiles added to the forecast. With too little
history for any backtest window (2 to 2.5 days at a 12 h horizon), Prophet forecasts alone
with its own band, and ``detail`` says so.

Cost: up to ``windows + 1`` Prophet fits per series (about 0.15 s each on 14 days of
5-minute samples); the simple candidates cost milliseconds.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field, replace

import numpy as np

from jobs.forecast_models import (
    DAY_S,
    DEFAULT_INTERVAL,
    WEEK_S,
    FloatArray,
    Forecast,
    Forecaster,
    ForecastError,
    History,
    LevelForecaster,
    SeasonalMedianForecaster,
    SeasonalNaiveForecaster,
    duration,
)
from jobs.prophet_adapter import ProphetForecaster

logger = logging.getLogger(__name__)

MIN_BACKTEST_HISTORY_S = 2 * DAY_S
"""History a backtest window needs before it (as for a real forecast)."""


def _default_members() -> dict[str, Forecaster]:
    return {
        "prophet": ProphetForecaster(fit_step_s=1800.0, uncertainty_samples=0),
        "seasonal_naive": SeasonalNaiveForecaster(),
        "seasonal_naive_week": SeasonalNaiveForecaster(season_s=WEEK_S, max_seasons_back=2),
        "seasonal_median": SeasonalMedianForecaster(),
        "seasonal_median_rescaled": SeasonalMedianForecaster(rescale_window_s=3 * 3600.0),
        "last_value": LevelForecaster(),
        "recent_median": LevelForecaster(window_s=3600.0),
    }


_DEFAULT_CANDIDATES: tuple[tuple[str, ...], ...] = (
    ("prophet",),
    ("seasonal_naive",),
    ("seasonal_naive_week",),
    ("seasonal_median",),
    ("last_value",),
    ("recent_median",),
    ("seasonal_median_rescaled",),
    ("prophet", "seasonal_median", "recent_median"),
    ("prophet", "seasonal_median_rescaled", "recent_median"),
    ("prophet", "seasonal_naive", "seasonal_naive_week", "seasonal_median", "last_value"),
)


def candidate_name(members: tuple[str, ...]) -> str:
    """``prophet`` for one member, ``median(a, b, c)`` for several."""
    return members[0] if len(members) == 1 else f"median({', '.join(members)})"


@dataclass
class _Score:
    smape: list[float] = field(default_factory=list)
    leads: list[FloatArray] = field(default_factory=list)
    errors: list[FloatArray] = field(default_factory=list)


@dataclass(frozen=True)
class BacktestEnsembleForecaster:
    """Pick, per series, the candidate with the lowest sMAPE on recent backtest windows.

    Args:
        windows: Backtest windows, each one horizon long, ending at the last sample.
        interval: Coverage aimed at by the empirical band.
        members: Base models by name (default: see the module docstring).
        candidates: Member-name tuples; one name is that model, several their median.
        fallback: Model used when no backtest window fits in the history.
    """

    windows: int = 6
    interval: float = DEFAULT_INTERVAL
    members: Mapping[str, Forecaster] = field(default_factory=_default_members)
    candidates: tuple[tuple[str, ...], ...] = _DEFAULT_CANDIDATES
    fallback: Forecaster = field(default_factory=ProphetForecaster)

    @property
    def name(self) -> str:
        """``ensemble``."""
        return "ensemble"

    def forecast(self, history: History, *, horizon_s: float, step_s: float) -> Forecast:
        """Backtest the candidates, then forecast with the best one.

        Raises:
            ForecastError: No candidate could forecast the history.
        """
        scores = self._backtest(history, horizon_s=horizon_s, step_s=step_s)
        windows = max((len(s.smape) for s in scores.values()), default=0)
        if windows == 0:
            result = self.fallback.forecast(history, horizon_s=horizon_s, step_s=step_s)
            return replace(
                result,
                fallback_reason=f"history {duration(history.span_s)} leaves no backtest window "
                f"of {duration(horizon_s)}: {result.method} alone",
            )
        ranked = sorted(
            (float(np.mean(s.smape)), index, members)
            for index, (members, s) in enumerate(scores.items())
            if len(s.smape) == windows
        )
        failures: list[str] = []
        for rank, (score, _, members) in enumerate(ranked):
            try:
                predictions = self._run(members, history, horizon_s=horizon_s, step_s=step_s)
            except ForecastError as exc:
                failures.append(f"{candidate_name(members)}: {exc}")
                continue
            times, yhat = predictions
            low, high = _band(scores[members], times - history.end, horizon_s, self.interval)
            detail = (
                f"{candidate_name(members)} chosen by backtest: sMAPE {score:.1f}% over "
                f"{windows} window(s) of {duration(horizon_s)}"
            )
            if rank:
                detail += f" (better-scored candidates failed: {'; '.join(failures)})"
            if len(ranked) > rank + 1:
                runner = ranked[rank + 1]
                detail += f"; runner-up {candidate_name(runner[2])} {runner[0]:.1f}%"
            return Forecast(
                times,
                yhat,
                yhat + low,
                yhat + high,
                method=self.name,
                interval=self.interval,
                detail=detail,
            )
        raise ForecastError("no candidate could forecast: " + "; ".join(failures))

    def _backtest(
        self, history: History, *, horizon_s: float, step_s: float
    ) -> dict[tuple[str, ...], _Score]:
        scores = {members: _Score() for members in self.candidates}
        for k in range(1, self.windows + 1):
            cut = history.end - k * horizon_s
            train = history.until(cut)
            test = (history.times > cut) & (history.times <= cut + horizon_s)
            if train.span_s < MIN_BACKTEST_HISTORY_S or np.count_nonzero(test) < 3:
                continue
            actual_t, actual = history.times[test], history.values[test]
            base = self._members_at(train, horizon_s=horizon_s, step_s=step_s)
            for members, score in scores.items():
                if not all(m in base for m in members):
                    continue
                times = base[members[0]][0]
                yhat = np.median(np.vstack([base[m][1] for m in members]), axis=0)
                predicted = np.interp(actual_t, times, yhat)
                score.smape.append(smape(actual, predicted))
                score.leads.append(actual_t - cut)
                score.errors.append(actual - predicted)
        return scores

    def _members_at(
        self, history: History, *, horizon_s: float, step_s: float
    ) -> dict[str, tuple[FloatArray, FloatArray]]:
        needed = {m for members in self.candidates for m in members}
        out: dict[str, tuple[FloatArray, FloatArray]] = {}
        for name in sorted(needed):
            try:
                result = self.members[name].forecast(history, horizon_s=horizon_s, step_s=step_s)
            except ForecastError as exc:
                logger.debug("ensemble member %s skipped: %s", name, exc)
                continue
            except Exception as exc:  # boundary: one failing third-party member is not fatal
                logger.warning("ensemble member %s failed: %s", name, exc)
                continue
            if bool(np.all(np.isfinite(result.yhat))):
                out[name] = (result.times, result.yhat)
        return out

    def _run(
        self, members: tuple[str, ...], history: History, *, horizon_s: float, step_s: float
    ) -> tuple[FloatArray, FloatArray]:
        forecasts = [
            self.members[m].forecast(history, horizon_s=horizon_s, step_s=step_s) for m in members
        ]
        yhat = np.median(np.vstack([f.yhat for f in forecasts]), axis=0)
        if not bool(np.all(np.isfinite(yhat))):
            raise ForecastError("non-finite forecast")
        return forecasts[0].times, yhat


def smape(actual: FloatArray, predicted: FloatArray) -> float:
    """Symmetric MAPE in percent, ``0/0`` counting as a perfect point."""
    denominator = np.abs(actual) + np.abs(predicted)
    ratio = np.divide(
        2 * np.abs(predicted - actual),
        denominator,
        out=np.zeros_like(actual),
        where=denominator > 0,
    )
    return float(100 * ratio.mean())


def _band(
    score: _Score, leads: FloatArray, horizon_s: float, interval: float
) -> tuple[FloatArray, FloatArray]:
    """Quantiles of the backtest errors per quarter of the horizon, added to the forecast.

    Each quarter's quantiles sit at its middle lead and are interpolated in between, so
    the band widens smoothly; a quarter with under 20 errors uses all of them.
    """
    all_leads = np.concatenate(score.leads)
    all_errors = np.concatenate(score.errors)
    quarters = 4
    quarter_of = np.minimum((all_leads / horizon_s * quarters).astype(np.int64), quarters - 1)
    probabilities = [0.5 - interval / 2, 0.5 + interval / 2]
    pooled = np.quantile(all_errors, probabilities)
    low_q, high_q = np.empty(quarters), np.empty(quarters)
    for quarter in range(quarters):
        errors = all_errors[quarter_of == quarter]
        q = np.quantile(errors, probabilities) if errors.size >= 20 else pooled
        low_q[quarter], high_q[quarter] = min(float(q[0]), 0.0), max(float(q[1]), 0.0)
    centres = (np.arange(quarters) + 0.5) / quarters * horizon_s
    return np.interp(leads, centres, low_q), np.interp(leads, centres, high_q)
