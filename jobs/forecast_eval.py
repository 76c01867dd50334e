"""Rolling-origin evaluation of the forecaster on the NAB "real" series.

Protocol (fixed before any model was compared, identical for every model):

- Series: every CSV under a ``real*`` directory of the NAB ``data`` folder (header
  ``timestamp,value``, UTC), cleaned by :meth:`~jobs.forecast.History.from_arrays`
  (non-finite samples dropped, duplicate timestamps merged, order restored).
- Origins: :data:`ORIGINS_PER_SERIES` origins per series, evenly spaced in time from
  ``first + warm-up`` to ``last - horizon``; the warm-up is 7 days, or half the usable span
  when the series is shorter (never under 2 days). An origin whose horizon holds under half
  the expected samples (a gap) is skipped.
- At each origin every model sees the same history: the samples of the 14 days up to and
  including the origin (what the production job queries), at the series' own resolution.
- Score: sMAPE in percent over every actual sample in ``(origin, origin + horizon]``,
  ``100 * mean(2 |F - A| / (|A| + |F|))`` with ``0/0 = 0``, the forecast interpolated to
  the actual sample times. Per series the mean over its origins; overall the mean over
  series (each series weighs the same, however long).
- Models: ours (:func:`~jobs.forecast.default_forecaster` through
  :func:`~jobs.forecast.forecast_series`, fallbacks included), seasonal naive (one day) and
  linear (``predict_linear`` over 6 h). ``coverage_model`` is the share of actual samples
  inside our band.

The data is read from disk and never copied into the repository.
"""

from __future__ import annotations

import csv
import logging
from collections.abc import Callable, Mapping
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from multiprocessing import get_context
from pathlib import Path

import numpy as np

from jobs.forecast import (
    DAY_S,
    Forecaster,
    History,
    LinearForecaster,
    SeasonalNaiveForecaster,
    default_forecaster,
    forecast_series,
)
from jobs.forecast_ensemble import smape
from jobs.forecast_models import FloatArray

logger = logging.getLogger(__name__)

ORIGINS_PER_SERIES = 12
"""Forecast origins per series."""
TRAIN_WINDOW_S = 14 * DAY_S
"""History each model sees at an origin (the production query range)."""
WARMUP_S = 7 * DAY_S
"""Time before the first origin, when the series is long enough."""

Progress = Callable[[int, int, str], None]
"""Called after each series as ``progress(done, total, series_name)``."""


@dataclass(frozen=True)
class SeriesScore:
    """Scores of one series: mean sMAPE per model over its origins."""

    name: str
    origins: int
    smape: dict[str, float]
    coverage: float
    fallbacks: int = 0


def load_series(path: Path) -> History:
    """Read one NAB CSV (``timestamp,value``; ``YYYY-MM-DD HH:MM:SS`` in UTC) and clean it."""
    times: list[float] = []
    values: list[float] = []
    with path.open(newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            stamp = datetime.strptime(row["timestamp"], "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC)
            times.append(stamp.timestamp())
            try:
                values.append(float(row["value"]))
            except ValueError:
                values.append(float("nan"))
    return History.from_arrays(times, values)


def real_series_files(data: Path) -> list[Path]:
    """The CSVs of the ``real*`` categories under ``data`` (the NAB root or its ``data`` dir)."""
    root = data / "data" if (data / "data").is_dir() else data
    return sorted(p for p in root.glob("real*/*.csv") if p.is_file())


def origins_for(
    history: History, *, horizon_s: float, count: int = ORIGINS_PER_SERIES
) -> FloatArray:
    """Evenly spaced forecast origins of one series (see the module docstring)."""
    usable = history.span_s - horizon_s
    warmup = min(WARMUP_S, max(2 * DAY_S, usable / 2))
    first, last = history.times[0] + warmup, history.end - horizon_s
    if last < first:
        return np.zeros(0, dtype=np.float64)
    return np.linspace(first, last, count)


def score_series(
    history: History,
    *,
    name: str,
    horizon_s: float,
    models: Mapping[str, Forecaster],
) -> SeriesScore | None:
    """Rolling-origin sMAPE of each model on one series (``None`` when no origin fits).

    Every model runs through :func:`~jobs.forecast.forecast_series` (fallbacks included);
    the key ``"model"`` also gets its band coverage and fallback count measured.
    """
    errors: dict[str, list[float]] = {key: [] for key in models}
    inside: list[float] = []
    fallbacks = 0
    expected = horizon_s / max(history.step_s, 1.0)
    for origin in origins_for(history, horizon_s=horizon_s):
        train_mask = (history.times <= origin) & (history.times > origin - TRAIN_WINDOW_S)
        test_mask = (history.times > origin) & (history.times <= origin + horizon_s)
        if np.count_nonzero(test_mask) < expected / 2 or np.count_nonzero(train_mask) < 3:
            continue
        train = History(history.times[train_mask], history.values[train_mask], history.step_s)
        actual_t, actual = history.times[test_mask], history.values[test_mask]
        for key, model in models.items():
            result = forecast_series(train, horizon_s=horizon_s, step_s=train.step_s, model=model)
            if result.empty:  # counted as the worst score rather than skipped
                errors[key].append(200.0)
                continue
            errors[key].append(smape(actual, np.interp(actual_t, result.times, result.yhat)))
            if key == "model":
                fallbacks += result.fallback_reason is not None
                low = np.interp(actual_t, result.times, result.lower)
                high = np.interp(actual_t, result.times, result.upper)
                inside.append(float(np.mean((actual >= low) & (actual <= high))))
    if not inside:
        return None
    return SeriesScore(
        name=name,
        origins=len(inside),
        smape={key: float(np.mean(values)) for key, values in errors.items()},
        coverage=float(np.mean(inside)),
        fallbacks=fallbacks,
    )


def _score_file(path: Path, horizon_s: float, model: Forecaster) -> SeriesScore | None:
    models: dict[str, Forecaster] = {
        "model": model,
        "seasonal_naive": SeasonalNaiveForecaster(),
        "linear": LinearForecaster(),
    }
    name = f"{path.parent.name}/{path.name}"
    return score_series(load_series(path), name=name, horizon_s=horizon_s, models=models)


def evaluate_forecast(
    *,
    data: Path,
    horizon: timedelta,
    progress: Progress | None = None,
    model: Forecaster | None = None,
    workers: int = 1,
) -> dict[str, object]:
    """Rolling-origin sMAPE of our forecaster against seasonal naive and linear on NAB.

    Args:
        data: The NAB folder (``../shared/evals/nab``) or its ``data`` directory.
        horizon: Forecast horizon (12 h for the published target).
        progress: Called after each series.
        model: Forecaster to evaluate (default :func:`~jobs.forecast.default_forecaster`).
        workers: Processes scoring series in parallel (1: in this process).

    Returns:
        ``{"series", "horizon", "smape_model", "smape_seasonal_naive", "smape_linear",
        "coverage_model", "fallbacks_model", "origins", "per_series"}``: sMAPE in percent
        (mean over series of the mean over origins), rounded to two decimals;
        ``coverage_model`` is the share of actual samples inside our band;
        ``per_series`` lists each series' name, origins and sMAPE per model.

    Raises:
        FileNotFoundError: No ``real*/*.csv`` under ``data``.
    """
    files = real_series_files(data)
    if not files:
        raise FileNotFoundError(f"no real*/*.csv series under {data}")
    horizon_s = horizon.total_seconds()
    chosen = model or default_forecaster()
    results: list[SeriesScore | None] = []
    if workers <= 1:
        for done, path in enumerate(files, start=1):
            results.append(_score_file(path, horizon_s, chosen))
            if progress is not None:
                progress(done, len(files), path.name)
    else:
        with ProcessPoolExecutor(max_workers=workers, mp_context=get_context("spawn")) as pool:
            futures = [pool.submit(_score_file, path, horizon_s, chosen) for path in files]
            for done, (path, future) in enumerate(zip(files, futures, strict=True), start=1):
                results.append(future.result())
                if progress is not None:
                    progress(done, len(files), path.name)
    scores = [s for s in results if s is not None]
    for path, score in zip(files, results, strict=True):
        if score is None:
            logger.warning("forecast eval: %s has no usable origin at %s", path.name, horizon)
    return {
        "series": len(scores),
        "horizon": format_horizon(horizon),
        "smape_model": _mean(scores, "model"),
        "smape_seasonal_naive": _mean(scores, "seasonal_naive"),
        "smape_linear": _mean(scores, "linear"),
        "coverage_model": round(float(np.mean([s.coverage for s in scores])), 3),
        "fallbacks_model": sum(s.fallbacks for s in scores),
        "origins": sum(s.origins for s in scores),
        "per_series": [
            {"series": s.name, "origins": s.origins}
            | {f"smape_{k}": round(v, 2) for k, v in s.smape.items()}
            for s in scores
        ],
    }


def _mean(scores: list[SeriesScore], key: str) -> float:
    return round(float(np.mean([s.smape[key] for s in scores])), 2) if scores else float("nan")


def format_horizon(horizon: timedelta) -> str:
    """``12h``, ``90m``, ``2d`` or ``3600s``: the shortest exact form."""
    seconds = int(horizon.total_seconds())
    for unit, size in (("d", 86_400), ("h", 3600), ("m", 60)):
        if seconds and seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"
