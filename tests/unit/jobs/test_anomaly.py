"""Streaming anomaly detector: behaviour, bad input and explanations."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from jobs.anomaly import AnomalyDetector, DetectorConfig, MetricSeries, explain, score_series
from jobs.nab_eval import evaluate_nab, run_nab

STEP = 300.0
T0 = 1_700_000_000.0


def _daily(n: int, *, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    ts = T0 + STEP * np.arange(n)
    values = 50 + 20 * np.sin(2 * np.pi * ts / 86_400) + rng.normal(0, 1, n)
    return ts, values


def test_detector_flags_a_spike_in_a_seasonal_series() -> None:
    ts, values = _daily(2500)
    values[2200] += 40
    scores = score_series(ts, values, probationary_rows=375)
    assert all(0.0 <= s.score < 1.0 for s in scores)
    alarms = [i for i, s in enumerate(scores) if s.alarm]
    assert 2200 in alarms
    assert scores[2200].expected is not None
    assert abs(scores[2200].expected - (values[2200] - 40)) < 5
    assert all(s.score == 0.0 and s.status == "warming_up" for s in scores[:375])


def test_detector_is_causal() -> None:
    ts, values = _daily(1200)
    other = values.copy()
    other[900:] += 100
    a = score_series(ts, values)
    b = score_series(ts, other)
    assert [s.score for s in a[:900]] == [s.score for s in b[:900]]


def test_refractory_halves_scores_after_an_alarm() -> None:
    ts, values = _daily(1500)
    values[1200] += 40
    values[1210] += 80
    scores = score_series(ts, values, probationary_rows=200)
    assert scores[1200].alarm
    assert scores[1210].status == "refractory"
    assert not scores[1210].alarm


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_non_finite_values_are_skipped(bad: float) -> None:
    det = AnomalyDetector()
    for i in range(100):
        det.update(T0 + STEP * i, 1.0 + (i % 3))
    verdict = det.update(T0 + STEP * 100, bad)
    assert verdict.score == 0.0 and verdict.status == "non_finite" and not verdict.alarm
    assert det.update(T0 + STEP * 101, 2.0).status != "non_finite"


def test_constant_series_scores_zero_until_it_moves() -> None:
    det = AnomalyDetector()
    out = [det.update(T0 + STEP * i, 7.0) for i in range(300)]
    assert all(s.score == 0.0 for s in out)
    moved = det.update(T0 + STEP * 300, 8.0)
    assert moved.alarm and moved.signal == "value"


def test_gaps_duplicates_and_backwards_timestamps_do_not_crash() -> None:
    ts, values = _daily(1000)
    ts = ts.copy()
    ts[400:] += 3 * 86_400  # a three-day gap
    ts[500] = ts[499]  # duplicate
    ts[600] = ts[598]  # backwards step
    scores = score_series(ts, values)
    assert len(scores) == 1000
    assert all(np.isfinite(s.score) for s in scores)


def test_update_accepts_datetimes() -> None:
    det = AnomalyDetector()
    verdict = det.update(datetime(2024, 1, 1, tzinfo=UTC), 1.0)
    assert verdict.timestamp == datetime(2024, 1, 1, tzinfo=UTC).timestamp()


def test_config_alarm_score() -> None:
    assert DetectorConfig(alarm_ratio=1.0).alarm_score == 0.5


def test_explain_reports_range_size_start_and_co_movers() -> None:
    ts, latency = _daily(2000, seed=1)
    _, errors = _daily(2000, seed=2)
    _, unrelated = _daily(2000, seed=3)
    latency[1800:1810] += np.linspace(30, 60, 10)
    errors[1800:1810] += 40
    target = MetricSeries("http_latency_seconds", {"job": "api"}, list(ts), list(latency))
    others = [
        MetricSeries("http_errors_total", {"job": "api"}, list(ts), list(errors)),
        MetricSeries("disk_free_bytes", {"job": "api"}, list(ts), list(unrelated)),
    ]
    (first, *_) = explain(series=target, others=others)
    assert first.metric == "http_latency_seconds" and first.labels == {"job": "api"}
    assert first.expected_low < first.expected < first.expected_high < first.observed
    assert first.deviation_sigmas > 3 and first.deviation_pct is not None
    assert first.deviation_pct > 0
    assert first.since <= first.at
    assert first.at >= datetime.fromtimestamp(ts[1800], tz=UTC)
    assert [c.metric for c in first.correlated] == ["http_errors_total"]
    assert first.correlated[0].deviation_sigmas > 3
    assert first.correlated[0].correlation is not None and first.correlated[0].correlation > 0.5
    text = first.summary()
    assert "http_latency_seconds" in text and "http_errors_total" in text and "since" in text


def test_explain_on_quiet_or_empty_series_returns_nothing() -> None:
    ts, values = _daily(800)
    assert explain(series=MetricSeries("m", {}, list(ts), list(values * 0 + 3.0))) == []
    assert explain(series=MetricSeries("m", {}, [], [])) == []


def test_metric_series_from_prometheus_matrix_item() -> None:
    item = {"metric": {"__name__": "up", "job": "node"}, "values": [[1.0, "1"], [2.0, "NaN"]]}
    series = MetricSeries.from_prometheus(item)
    assert series.metric == "up" and series.labels == {"job": "node"}
    assert series.timestamps == [1.0, 2.0] and math.isnan(series.values[1])
    assert series.display == 'up{job="node"}'


def _tiny_nab(tmp_path: Path) -> tuple[Path, Path]:
    ts, values = _daily(1200)
    values[1000] += 60
    stamps = [datetime.fromtimestamp(t, tz=UTC).strftime("%Y-%m-%d %H:%M:%S") for t in ts]
    (tmp_path / "data" / "synthetic").mkdir(parents=True)
    lines = ["timestamp,value"] + [f"{s},{v}" for s, v in zip(stamps, values, strict=True)]
    (tmp_path / "data" / "synthetic" / "spike.csv").write_text("\n".join(lines) + "\n")
    labels = tmp_path / "combined_windows.json"
    window = [[stamps[970] + ".000000", stamps[1030] + ".000000"]]
    labels.write_text(json.dumps({"synthetic/spike.csv": window}))
    return tmp_path / "data", labels


def test_evaluate_nab_on_a_tiny_corpus(tmp_path: Path) -> None:
    data, labels = _tiny_nab(tmp_path)
    seen: list[str] = []
    result = evaluate_nab(data=data, labels=labels, progress=lambda name, *_: seen.append(name))
    assert set(result) == {"series", "standard", "reward_low_fp", "reward_low_fn"}
    assert result["series"] == 1 and seen == ["synthetic/spike.csv"]
    assert result["standard"] > 50
    report = run_nab(data=data, labels=labels, optimise=True, processes=1)
    assert report.n_windows == 1
    assert report.scores["standard"] >= result["standard"] - 0.01
