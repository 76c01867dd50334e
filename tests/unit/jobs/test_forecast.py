"""Forecasts: cleaning, models, fallbacks, crossings, capacity, the job and the evaluation.

Fast tests use the numpy models (and the ensemble without Prophet); tests that fit
Prophet are marked ``slow``.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from jobs.forecast import (
    DAY_S,
    BacktestEnsembleForecaster,
    Forecast,
    Forecaster,
    ForecastError,
    History,
    LevelForecaster,
    LinearForecaster,
    ProphetForecaster,
    SeasonalMedianForecaster,
    SeasonalNaiveForecaster,
    days_to_saturation,
    default_forecaster,
    forecast_series,
    threshold_crossing,
)
from jobs.forecast_ensemble import smape
from jobs.forecast_eval import evaluate_forecast, format_horizon
from jobs.forecast_job import (
    DEFAULT_FORECAST_SERIES,
    ForecastSeries,
    run_forecast_job,
    run_forecasts,
)
from memory.errors import UpstreamHTTPError
from tools.base import TimeRange
from tools.prometheus_client import QueryResult, Series
from tools.promql_file import FilePrometheusClient
from tools.scenario import Series as ScenarioSeries

STEP = 300.0
NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
H12 = 12 * 3600.0
GIB = 1024.0**3


def _times(days: float, *, end: float = NOW.timestamp()) -> np.ndarray:
    n = int(days * DAY_S / STEP)
    return end - STEP * np.arange(n)[::-1]


def _daily(t: np.ndarray, *, base: float = 50.0, amp: float = 20.0) -> np.ndarray:
    return base + amp * np.sin(2 * np.pi * t / DAY_S)


def _fast_ensemble() -> BacktestEnsembleForecaster:
    """The ensemble without Prophet (fast, deterministic)."""
    members: dict[str, Forecaster] = {
        "seasonal_naive": SeasonalNaiveForecaster(),
        "seasonal_median": SeasonalMedianForecaster(),
        "last_value": LevelForecaster(),
        "recent_median": LevelForecaster(window_s=3600.0),
        "linear": LinearForecaster(),
    }
    candidates = (
        ("seasonal_naive",),
        ("seasonal_median",),
        ("last_value",),
        ("recent_median",),
        ("linear",),
        ("seasonal_median", "recent_median", "linear"),
    )
    return BacktestEnsembleForecaster(
        members=members,
        candidates=candidates,
        fallback=SeasonalNaiveForecaster(),
    )


# --- cleaning -------------------------------------------------------------------------------


def test_history_drops_non_finite_sorts_and_merges_duplicates() -> None:
    history = History.from_arrays(
        [30.0, 10.0, 20.0, 20.0, 40.0, 50.0, math.nan],
        [3.0, 1.0, 2.0, 4.0, math.nan, math.inf, 9.0],
    )
    assert history.times.tolist() == [10.0, 20.0, 30.0]
    assert history.values.tolist() == [1.0, 3.0, 3.0]  # the duplicate at 20 s is the mean
    joined = " ".join(history.notes)
    assert "dropped 3 non-finite" in joined
    assert "out of order" in joined
    assert "merged 1 duplicate" in joined


def test_history_notes_gaps_and_rejects_ragged_input() -> None:
    t = np.concatenate([np.arange(0, 3600, 60.0), np.arange(7200, 9000, 60.0)])
    history = History.from_arrays(t, np.ones(t.size))
    assert history.step_s == 60.0
    assert any("1 gap(s), longest 1.0 h" in note for note in history.notes)
    with pytest.raises(ValueError):
        History.from_arrays([1.0, 2.0], [1.0])


def test_history_from_points_reads_prometheus_samples() -> None:
    series = Series(metric={"instance": "a"}, values=[(1.0, 5.0), (2.0, math.nan), (3.0, 6.0)])
    history = History.from_points(series.values)
    assert history.times.tolist() == [1.0, 3.0]
    assert len(history) == 2


# --- bad input → stated fallbacks ----------------------------------------------------------


@pytest.mark.parametrize("values", [[], [math.nan] * 5, [1.0, 2.0]])
def test_too_few_finite_samples_give_no_forecast_with_a_reason(values: list[float]) -> None:
    history = History.from_arrays(np.arange(len(values), dtype=float) * STEP, values)
    forecast = forecast_series(history, horizon_s=H12, model=SeasonalNaiveForecaster())
    assert forecast.method == "none"
    assert forecast.empty
    assert forecast.fallback_reason is not None and "at least 3 needed" in forecast.fallback_reason
    assert threshold_crossing(forecast, threshold=0.0, direction="above") is None


def test_constant_series_gives_a_flat_forecast_with_a_zero_band() -> None:
    t = _times(5)
    forecast = forecast_series(History.from_arrays(t, np.full(t.size, 7.0)), horizon_s=H12)
    assert forecast.method == "constant"
    assert np.all(forecast.yhat == 7.0) and np.all(forecast.lower == forecast.upper)
    assert forecast.fallback_reason is not None and "constant" in forecast.fallback_reason
    assert forecast.times[0] == t[-1] + STEP
    assert forecast.times[-1] == t[-1] + H12


def test_under_two_days_of_history_falls_back_to_linear() -> None:
    t = _times(1.5)
    history = History.from_arrays(t, 100 + 0.01 * (t - t[0]))
    forecast = forecast_series(history, horizon_s=H12, model=_fast_ensemble())
    assert forecast.method == "linear"
    assert forecast.fallback_reason is not None and "under two days" in forecast.fallback_reason
    expected = 100 + 0.01 * (forecast.times - t[0])
    np.testing.assert_allclose(forecast.yhat, expected, rtol=1e-9)


@dataclass(frozen=True)
class _Broken:
    error: Exception

    @property
    def name(self) -> str:
        return "broken"

    def forecast(self, history: History, *, horizon_s: float, step_s: float) -> Forecast:
        raise self.error


@dataclass(frozen=True)
class _NonFinite:
    @property
    def name(self) -> str:
        return "nonfinite"

    def forecast(self, history: History, *, horizon_s: float, step_s: float) -> Forecast:
        good = SeasonalNaiveForecaster().forecast(history, horizon_s=horizon_s, step_s=step_s)
        yhat = good.yhat.copy()
        yhat[3] = math.inf
        return Forecast(good.times, yhat, good.lower, good.upper, method=self.name)


@pytest.mark.parametrize(
    ("model", "expected"),
    [
        (_Broken(ForecastError("fit failed")), "broken: fit failed"),
        (_Broken(RuntimeError("boom")), "broken failed: RuntimeError: boom"),
        (_NonFinite(), "nonfinite: non-finite forecast"),
    ],
)
def test_failing_model_falls_back_to_seasonal_naive(
    model: _Broken | _NonFinite, expected: str, caplog: pytest.LogCaptureFixture
) -> None:
    t = _times(4)
    with caplog.at_level(logging.WARNING, logger="jobs.forecast"):
        forecast = forecast_series(History.from_arrays(t, _daily(t)), horizon_s=H12, model=model)
    assert forecast.method == "seasonal_naive"
    assert forecast.fallback_reason is not None
    assert expected in forecast.fallback_reason
    assert "fell back to seasonal_naive" in forecast.fallback_reason
    assert forecast.finite()


@dataclass(frozen=True)
class _BrokenLinear(_Broken):
    @property
    def name(self) -> str:
        return "linear"  # the last resort itself: nothing left to fall back to


def test_when_no_model_can_forecast_the_result_is_empty_with_the_reason() -> None:
    t = _times(3)
    history = History.from_arrays(t, _daily(t))
    forecast = forecast_series(history, horizon_s=H12, model=_BrokenLinear(ForecastError("no")))
    assert forecast.method == "none" and forecast.empty
    assert forecast.fallback_reason == "linear: no"


def test_never_negative_series_keeps_forecast_and_band_at_or_above_zero() -> None:
    t = _times(3)
    values = np.maximum(0.0, 100 - 0.002 * (t - t[0]))  # reaches zero, linear would go below
    forecast = forecast_series(
        History.from_arrays(t, values), horizon_s=H12, model=LinearForecaster()
    )
    assert forecast.yhat.min() >= 0 and forecast.lower.min() >= 0


def test_cleaning_notes_travel_with_the_forecast() -> None:
    t = _times(3)
    values = _daily(t)
    values[10] = math.nan
    forecast = forecast_series(
        History.from_arrays(t, values), horizon_s=H12, model=SeasonalNaiveForecaster()
    )
    assert any("non-finite" in note for note in forecast.notes)
    assert forecast.last_value == pytest.approx(values[-1])


# --- simple models --------------------------------------------------------------------------


def test_seasonal_naive_repeats_yesterday_and_bridges_a_gap() -> None:
    t = _times(4)
    values = _daily(t)
    history = History.from_arrays(t, values)
    forecast = SeasonalNaiveForecaster().forecast(history, horizon_s=H12, step_s=STEP)
    np.testing.assert_allclose(forecast.yhat, _daily(forecast.times), atol=1e-9)
    # remove yesterday's same-phase samples: the day before is used instead
    gap = (t > t[-1] - DAY_S + 3600) & (t < t[-1] - DAY_S + 4 * 3600)
    gapped = History.from_arrays(t[~gap], values[~gap])
    forecast = SeasonalNaiveForecaster().forecast(gapped, horizon_s=H12, step_s=STEP)
    np.testing.assert_allclose(forecast.yhat, _daily(forecast.times), atol=1e-9)
    with pytest.raises(ForecastError):
        SeasonalNaiveForecaster().forecast(gapped.since(t[-1] - 3600), horizon_s=H12, step_s=STEP)


def test_seasonal_median_ignores_a_one_off_spike_that_seasonal_naive_repeats() -> None:
    t = _times(8)
    values = _daily(t)
    spike = (t > t[-1] - DAY_S + 2 * 3600) & (t < t[-1] - DAY_S + 3 * 3600)
    values[spike] += 500
    history = History.from_arrays(t, values)
    naive = SeasonalNaiveForecaster().forecast(history, horizon_s=H12, step_s=STEP)
    median = SeasonalMedianForecaster().forecast(history, horizon_s=H12, step_s=STEP)
    truth = _daily(naive.times)
    assert np.abs(naive.yhat - truth).max() > 400
    np.testing.assert_allclose(median.yhat, truth, atol=1e-9)


def test_level_models_and_rescaled_median() -> None:
    t = _times(3)
    values = np.where(t > t[-1] - 1800, 10.0, 0.0)
    values[-1] = 50.0
    history = History.from_arrays(t, values)
    last = LevelForecaster().forecast(history, horizon_s=H12, step_s=STEP)
    recent = LevelForecaster(window_s=3 * 3600).forecast(history, horizon_s=H12, step_s=STEP)
    assert np.all(last.yhat == 50.0) and np.all(recent.yhat == 0.0)
    doubled = np.where(t > t[-1] - 3 * 3600, 2, 1) * _daily(t)
    rescaled = SeasonalMedianForecaster(rescale_window_s=3 * 3600).forecast(
        History.from_arrays(t, doubled), horizon_s=H12, step_s=STEP
    )
    np.testing.assert_allclose(rescaled.yhat, 2 * _daily(rescaled.times), rtol=0.05)


def test_linear_is_predict_linear_over_six_hours_with_a_widening_band() -> None:
    t = _times(3)
    # a [6h] range is closed in Prometheus 2.x: the sample at exactly -6 h counts
    values = np.where(t >= t[-1] - 6 * 3600, 1000 - 0.01 * (t - t[-1]), 0.0)
    forecast = LinearForecaster().forecast(
        History.from_arrays(t, values), horizon_s=H12, step_s=STEP
    )
    np.testing.assert_allclose(forecast.yhat, 1000 - 0.01 * (forecast.times - t[-1]), atol=1e-6)
    noisy = values + np.random.default_rng(1).normal(0, 1, t.size)
    forecast = LinearForecaster().forecast(
        History.from_arrays(t, noisy), horizon_s=H12, step_s=STEP
    )
    width = forecast.upper - forecast.lower
    assert width[0] > 0 and width[-1] > width[0]


def test_smape_counts_zero_over_zero_as_perfect() -> None:
    assert smape(np.array([0.0, 0.0]), np.array([0.0, 0.0])) == 0.0
    assert smape(np.array([0.0, 1.0]), np.array([1.0, 1.0])) == pytest.approx(100.0)
    assert smape(np.array([100.0]), np.array([110.0])) == pytest.approx(200 * 10 / 210)


# --- ensemble --------------------------------------------------------------------------------


def test_ensemble_picks_a_seasonal_candidate_for_a_seasonal_series() -> None:
    t = _times(10)
    values = _daily(t) + np.random.default_rng(0).normal(0, 0.5, t.size)
    forecast = forecast_series(
        History.from_arrays(t, values), horizon_s=H12, model=_fast_ensemble()
    )
    assert forecast.method == "ensemble"
    assert forecast.fallback_reason is None
    assert forecast.detail is not None and "seasonal_median chosen by backtest" in forecast.detail
    assert "over 6 window(s)" in forecast.detail
    assert smape(_daily(forecast.times), forecast.yhat) < 2.0
    assert np.all(forecast.lower <= forecast.yhat) and np.all(forecast.yhat <= forecast.upper)


def test_ensemble_predicts_zero_for_an_intermittent_series_that_is_idle() -> None:
    t = _times(6)
    rng = np.random.default_rng(3)
    values = np.where(rng.random(t.size) < 0.05, rng.uniform(1, 50, t.size), 0.0)
    values[-36:] = 0.0  # idle for the last three hours
    forecast = forecast_series(
        History.from_arrays(t, values), horizon_s=H12, model=_fast_ensemble()
    )
    assert forecast.method == "ensemble"
    assert np.all(forecast.yhat == 0.0)


def test_ensemble_without_room_for_backtests_uses_its_fallback_and_says_so() -> None:
    t = _times(2.2)
    forecast = forecast_series(
        History.from_arrays(t, _daily(t)), horizon_s=H12, model=_fast_ensemble()
    )
    assert forecast.method == "seasonal_naive"
    assert forecast.fallback_reason is not None
    assert "no backtest window" in forecast.fallback_reason


def test_ensemble_skips_backtest_windows_emptied_by_a_gap() -> None:
    t = _times(6)
    keep = (t < t[-1] - 2 * H12) | (t > t[-1] - H12)  # the second window has no samples
    history = History.from_arrays(t[keep], _daily(t[keep]))
    forecast = forecast_series(history, horizon_s=H12, model=_fast_ensemble())
    assert forecast.detail is not None and "over 5 window(s)" in forecast.detail


def test_default_forecaster_is_the_backtest_ensemble_with_prophet() -> None:
    model = default_forecaster()
    assert isinstance(model, BacktestEnsembleForecaster)
    assert isinstance(model.members["prophet"], ProphetForecaster)
    assert model.name == "ensemble"


# --- crossings and capacity ----------------------------------------------------------------


def _ramp_forecast() -> Forecast:
    times = NOW.timestamp() + 3600 * np.arange(1, 13, dtype=float)
    yhat = 10.0 * np.arange(1, 13, dtype=np.float64)  # 10 at +1 h ... 120 at +12 h
    return Forecast(times, yhat, yhat - 20, yhat + 20, method="test", last_value=0.0)


def test_threshold_crossing_interpolates_on_the_pessimistic_band_edge() -> None:
    forecast = _ramp_forecast()
    above = threshold_crossing(forecast, threshold=65.0, direction="above")
    likely = threshold_crossing(forecast, threshold=65.0, direction="above", bound="yhat")
    assert above == NOW + timedelta(hours=4.5)  # upper = 10h + 20 reaches 65 at 4.5 h
    assert likely == NOW + timedelta(hours=6.5)
    falling = Forecast(forecast.times, -forecast.yhat, -forecast.upper, -forecast.lower, "t")
    assert threshold_crossing(falling, threshold=-65.0, direction="below") == above
    assert threshold_crossing(forecast, threshold=500.0, direction="above") is None
    assert threshold_crossing(forecast, threshold=5.0, direction="above") == NOW + timedelta(
        hours=1
    )


def test_days_to_saturation_follows_the_trend_of_daily_peaks() -> None:
    t = _times(14)
    values = 0.5 + 0.01 * (t - t[-1]) / DAY_S + 0.1 * _daily(t, base=0.0, amp=1.0)
    history = History.from_arrays(t, values)
    result = days_to_saturation(history, threshold=0.9, direction="above")
    assert result.trend_per_day == pytest.approx(0.01, rel=0.05)
    assert result.current == pytest.approx(0.6, abs=0.01)  # today's peak
    assert result.days == pytest.approx(30.0, rel=0.1)
    free = History.from_arrays(t, 100 * GIB - 2 * GIB * (t - t[0]) / DAY_S)
    disk = days_to_saturation(free, threshold=5 * GIB, direction="below")
    assert disk.days == pytest.approx((100 - 28 - 5) / 2, abs=0.1)  # 72 GiB free, -2/day


def test_days_to_saturation_none_zero_and_short_history() -> None:
    t = _times(7)
    flat = History.from_arrays(t, _daily(t))
    assert days_to_saturation(flat, threshold=1000.0, direction="above").days is None
    assert days_to_saturation(flat, threshold=10.0, direction="above").days == 0.0
    short = History.from_arrays(t[-288:], np.linspace(0, 1, 288))
    result = days_to_saturation(short, threshold=5.0, direction="above")
    assert result.days is None and result.reason is not None and "< 3 d" in result.reason


# --- the job -------------------------------------------------------------------------------


class _Source:
    """A MetricsSource over fixed series per query; a query listed in ``failing`` errors."""

    def __init__(self, by_query: dict[str, list[Series]], failing: Sequence[str] = ()) -> None:
        self.by_query = by_query
        self.failing = set(failing)
        self.calls: list[tuple[str, float | None, datetime, datetime]] = []

    @property
    def base_url(self) -> str:
        return "test://"

    async def query(self, promql: str, *, at: datetime) -> QueryResult:
        return QueryResult(
            query=promql, result_type="vector", time_range=TimeRange(start=at, end=at)
        )

    async def query_range(
        self, promql: str, *, start: datetime, end: datetime, step_s: float | None = None
    ) -> QueryResult:
        self.calls.append((promql, step_s, start, end))
        if promql in self.failing:
            raise UpstreamHTTPError("bad_data: parse error", status_code=400)
        return QueryResult(
            query=promql,
            result_type="matrix",
            series=self.by_query.get(promql, []),
            time_range=TimeRange(start=start, end=end, step_s=step_s),
        )

    async def metric_names(self, **_: object) -> list[str]:
        return []

    async def label_values(self, label: str, **_: object) -> list[str]:
        return []


DISK = ForecastSeries(
    name="filesystem_free_bytes",
    resource="disk",
    promql="node_filesystem_avail_bytes",
    threshold=5 * GIB,
    direction="below",
    unit="bytes",
)


def _series(t: np.ndarray, values: np.ndarray, instance: str) -> Series:
    return Series(
        metric={"instance": instance}, values=list(zip(t.tolist(), values.tolist(), strict=True))
    )


def _disk_series() -> list[Series]:
    t = _times(14)
    filling = 5 * GIB + 2 * GIB * (NOW.timestamp() + 6 * 3600 - t) / (6 * 3600)  # 5 GiB at +6 h
    return [
        _series(t, filling, "filling"),  # alert
        _series(t, np.full(t.size, 80 * GIB), "steady"),  # constant: ok
        _series(t, 5 * GIB + GIB * (NOW.timestamp() + 3600 - t) / 3600, "soon"),  # +1 h
        _series(t, np.full(t.size, 1 * GIB) + t * 0, "full"),  # already below
        _series(t[:-100], filling[:-100], "stale"),  # stopped 8 h ago
        _series(t, np.full(t.size, math.nan), "nan"),  # all NaN
    ]


async def test_job_alerts_on_a_filling_disk_with_eta_band_and_chart(tmp_path: Path) -> None:
    source = _Source({DISK.promql: _disk_series()})
    report = await run_forecast_job(
        source=source,
        series_config=[DISK],
        now=NOW,
        horizon=timedelta(hours=12),
        chart_dir=tmp_path / "charts",
        workers=0,
        model=_fast_ensemble(),
    )
    assert [a.labels["instance"] for a in report.alerts] == ["filling"]
    alert = report.alerts[0]
    assert 3 <= alert.lead_hours <= 6.5
    assert alert.likely_eta is not None and abs(
        alert.likely_eta - (NOW + timedelta(hours=6))
    ) < timedelta(minutes=15)
    assert alert.band_at_eta[0] <= 5 * GIB <= alert.band_at_eta[1] + 1
    assert (
        alert.chart_path is not None and alert.chart_path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    )
    assert "may fall below 5 GiB" in alert.summary and 'instance="filling"' in alert.summary
    status = {o.labels.get("instance"): (o.status, o.reason) for o in report.outcomes}
    assert status["steady"][0] == "ok" and "constant" in (status["steady"][1] or "")
    assert status["soon"][0] == "crossing_too_soon"
    assert status["full"][0] == "past_threshold"
    assert status["stale"] == ("skipped", "stale: last sample 8.3 h ago")
    assert status["nan"] == ("skipped", "no finite samples")
    capacity = {c.labels["instance"]: c for c in report.capacity}
    assert capacity["filling"].days_to_saturation is not None
    assert capacity["filling"].days_to_saturation == pytest.approx(0.25, abs=0.05)
    assert capacity["full"].days_to_saturation == 0.0
    assert capacity["steady"].days_to_saturation is None
    promql, step, start, end = source.calls[0]
    assert step == 300.0 and end == NOW and end - start == timedelta(days=14)


async def test_job_survives_a_failing_query_and_an_empty_result(tmp_path: Path) -> None:
    broken = DISK.model_copy(update={"name": "broken", "promql": "broken{"})
    empty = DISK.model_copy(update={"name": "empty", "promql": "nothing"})
    source = _Source({DISK.promql: _disk_series()[:1]}, failing=["broken{"])
    report = await run_forecast_job(
        source=source,
        series_config=[broken, empty, DISK],
        now=NOW,
        horizon=timedelta(hours=12),
        chart_dir=tmp_path,
        workers=0,
        model=_fast_ensemble(),
    )
    assert len(report.alerts) == 1
    by_name = {o.name: o for o in report.outcomes}
    assert by_name["broken"].status == "error" and "400" not in (by_name["broken"].reason or "x")
    assert by_name["empty"].status == "skipped"


async def test_job_keeps_the_alert_when_the_chart_cannot_be_written(tmp_path: Path) -> None:
    not_a_dir = tmp_path / "charts"
    not_a_dir.write_text("a file where the chart directory should be", encoding="utf-8")
    alerts = await run_forecasts(
        source=_Source({DISK.promql: _disk_series()[:1]}),
        series_config=[DISK],
        now=NOW,
        horizon=timedelta(hours=12),
        chart_dir=not_a_dir,
        workers=0,
        model=_fast_ensemble(),
    )
    assert len(alerts) == 1 and alerts[0].chart_path is None


async def test_job_records_a_series_whose_forecast_task_fails(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*_: object, **__: object) -> None:
        raise RuntimeError("bug")

    monkeypatch.setattr("jobs.forecast_job.days_to_saturation", broken)
    report = await run_forecast_job(
        source=_Source({DISK.promql: _disk_series()[:2]}),
        series_config=[DISK],
        now=NOW,
        horizon=timedelta(hours=12),
        chart_dir=tmp_path,
        workers=0,
        model=_fast_ensemble(),
    )
    assert report.alerts == [] and report.capacity == []
    assert [o.status for o in report.outcomes] == ["error", "error"]
    assert "RuntimeError('bug')" in (report.outcomes[0].reason or "")


async def test_job_refuses_a_step_too_fine_for_fourteen_days(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="at least 120"):
        await run_forecast_job(
            source=_Source({}),
            series_config=[DISK],
            now=NOW,
            horizon=timedelta(hours=12),
            chart_dir=tmp_path,
            step_s=60.0,
        )


async def test_job_runs_on_a_file_backed_prometheus(tmp_path: Path) -> None:
    t = _times(3)
    free = 5 * GIB + 2 * GIB * (NOW.timestamp() + 8 * 3600 - t) / (8 * 3600)
    client = FilePrometheusClient(
        [
            ScenarioSeries(
                name="node_filesystem_avail_bytes",
                labels={"instance": "db-1", "mountpoint": "/data"},
                samples=list(zip(t.tolist(), free.tolist(), strict=True)),
            )
        ],
        source="test.om",
    )
    alerts = await run_forecasts(
        source=client,
        series_config=[DISK],
        now=NOW,
        horizon=timedelta(hours=12),
        chart_dir=tmp_path,
        workers=0,
        model=_fast_ensemble(),
    )
    assert len(alerts) == 1 and alerts[0].labels["mountpoint"] == "/data"
    assert alerts[0].method == "ensemble"


def test_default_series_configs_cover_disk_memory_cpu_and_requests() -> None:
    resources = {c.resource for c in DEFAULT_FORECAST_SERIES}
    assert resources == {"disk", "memory", "cpu", "requests"}
    text = " ".join(c.promql for c in DEFAULT_FORECAST_SERIES)
    for metric in (
        "node_filesystem_avail_bytes",
        "node_memory_MemAvailable_bytes",
        "node_cpu_seconds_total",
        "container_memory_working_set_bytes",
        "container_cpu_usage_seconds_total",
        "http_requests_total",
    ):
        assert metric in text
    assert len({c.name for c in DEFAULT_FORECAST_SERIES}) == len(DEFAULT_FORECAST_SERIES)


# --- evaluation ------------------------------------------------------------------------------


def _write_nab_like(root: Path) -> None:
    folder = root / "data" / "realTest"
    folder.mkdir(parents=True)
    t = np.arange(0, 12 * DAY_S, 3600.0) + datetime(2014, 1, 1, tzinfo=UTC).timestamp()
    rng = np.random.default_rng(5)
    for name, values in (
        ("seasonal.csv", _daily(t) + rng.normal(0, 1, t.size)),
        ("level.csv", 10 + np.cumsum(rng.normal(0, 0.1, t.size))),
    ):
        lines = ["timestamp,value"] + [
            f"{datetime.fromtimestamp(s, tz=UTC):%Y-%m-%d %H:%M:%S},{v}"
            for s, v in zip(t, values, strict=True)
        ]
        (folder / name).write_text("\n".join(lines) + "\n", encoding="utf-8")
    (root / "data" / "artificialNoAnomaly").mkdir()  # not a "real" category: ignored


def test_evaluate_forecast_reports_smape_of_model_and_baselines(tmp_path: Path) -> None:
    _write_nab_like(tmp_path)
    seen: list[str] = []
    result = evaluate_forecast(
        data=tmp_path,
        horizon=timedelta(hours=12),
        model=_fast_ensemble(),
        progress=lambda done, total, name: seen.append(f"{done}/{total} {name}"),
    )
    assert result["series"] == 2 and result["horizon"] == "12h"
    for key in ("smape_model", "smape_seasonal_naive", "smape_linear"):
        value = result[key]
        assert isinstance(value, float) and 0 <= value < 200
    assert result["origins"] == 24
    assert seen == ["1/2 level.csv", "2/2 seasonal.csv"]
    per_series = result["per_series"]
    assert isinstance(per_series, list) and per_series[1]["series"] == "realTest/seasonal.csv"
    with pytest.raises(FileNotFoundError):
        evaluate_forecast(
            data=tmp_path / "data" / "artificialNoAnomaly", horizon=timedelta(hours=1)
        )


def test_format_horizon() -> None:
    assert format_horizon(timedelta(hours=12)) == "12h"
    assert format_horizon(timedelta(minutes=90)) == "90m"
    assert format_horizon(timedelta(days=2)) == "2d"
    assert format_horizon(timedelta(seconds=61)) == "61s"


# --- Prophet (slow) ------------------------------------------------------------------------


@pytest.mark.slow
def test_prophet_learns_daily_seasonality_and_stays_quiet() -> None:
    t = _times(8)
    values = _daily(t) + np.random.default_rng(2).normal(0, 1, t.size)
    forecast = ProphetForecaster().forecast(
        History.from_arrays(t, values), horizon_s=H12, step_s=STEP
    )
    assert forecast.method == "prophet"
    assert smape(_daily(forecast.times), forecast.yhat) < 5.0
    assert np.all(forecast.lower <= forecast.yhat) and np.all(forecast.yhat <= forecast.upper)
    for name in ("cmdstanpy", "prophet"):
        assert logging.getLogger(name).getEffectiveLevel() >= logging.ERROR


@pytest.mark.slow
def test_prophet_refuses_under_two_days() -> None:
    t = _times(1.5)
    with pytest.raises(ForecastError, match="two days"):
        ProphetForecaster().forecast(History.from_arrays(t, _daily(t)), horizon_s=H12, step_s=STEP)


@pytest.mark.slow
def test_default_ensemble_forecasts_through_prophet_members() -> None:
    t = _times(9)
    values = _daily(t) * (1 + 0.02 * (t - t[0]) / DAY_S)
    forecast = forecast_series(History.from_arrays(t, values), horizon_s=H12)
    assert forecast.method == "ensemble" and forecast.fallback_reason is None
    assert forecast.detail is not None and "chosen by backtest" in forecast.detail
    assert (
        smape(_daily(forecast.times) * (1 + 0.02 * (forecast.times - t[0]) / DAY_S), forecast.yhat)
        < 5
    )


@pytest.mark.slow
async def test_job_forecasts_in_two_worker_processes(tmp_path: Path) -> None:
    source = _Source({DISK.promql: _disk_series()[:3]})
    report = await run_forecast_job(
        source=source,
        series_config=[DISK],
        now=NOW,
        horizon=timedelta(hours=12),
        chart_dir=tmp_path,
        workers=2,
    )
    assert [a.labels["instance"] for a in report.alerts] == ["filling"]
    assert report.alerts[0].chart_path is not None and report.alerts[0].chart_path.exists()
    assert len(report.capacity) == 3
