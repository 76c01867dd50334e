"""Conformance of the NAB scorer with NAB's published per-file scores (numenta detector)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from jobs.nab import (
    PROFILES,
    best_threshold,
    curve_score,
    load_corpus,
    load_windows,
    normalise,
    probationary_rows,
    scaled_sigmoid,
    score_curve,
    score_file,
)
from tests.conftest import require

NAB = Path(__file__).resolve().parents[3].parent / "shared" / "evals" / "nab"
TOLERANCE = 1e-9


def _nab_or_skip() -> Path:
    require((NAB / "scoreboard.json").exists(), f"the NAB eval data is missing at {NAB}")
    return NAB


@pytest.fixture(scope="module")
def nab() -> tuple[dict[str, object], list[object], dict[str, np.ndarray]]:
    root = _nab_or_skip()
    board = json.loads((root / "scoreboard.json").read_text())
    corpus = load_corpus(data=root / "data", labels=root / "labels" / "combined_windows.json")
    conf: dict[str, np.ndarray] = {}
    for s in corpus:
        cat, name = s.name.split("/")
        frame = pd.read_csv(root / "conformance" / "numenta" / cat / f"numenta_{name}")
        conf[s.name] = frame["anomaly_score"].to_numpy(dtype=np.float64)
    return board, corpus, conf


def test_scaled_sigmoid_reference_values() -> None:
    assert scaled_sigmoid(-1.0) == pytest.approx(0.98661, abs=1e-5)
    assert scaled_sigmoid(0.0) == 0.0
    assert scaled_sigmoid(1.0) == pytest.approx(-0.98661, abs=1e-5)
    assert scaled_sigmoid(3.5) == -1.0


def test_probationary_rows_rule() -> None:
    assert probationary_rows(1000) == 150
    assert probationary_rows(22695) == 750


def test_score_file_matches_published_per_file_scores(nab) -> None:
    board, corpus, conf = nab
    published = board["per_file_raw_scores"]["numenta"]
    checked = 0
    for s in corpus:
        for pname, profile in PROFILES.items():
            ref = published[pname][s.name]
            got = score_file(
                scores=conf[s.name], windows=s.windows, profile=profile, threshold=ref["threshold"]
            )
            curve = score_curve(scores=conf[s.name], windows=s.windows, profile=profile)
            assert got == pytest.approx(ref["score"], abs=TOLERANCE), (s.name, pname)
            assert curve_score(curve, ref["threshold"]) == pytest.approx(
                ref["score"], abs=TOLERANCE
            )
            checked += 1
    assert checked == 57


def test_normalised_subset_scores_match_scoreboard(nab) -> None:
    board, corpus, conf = nab
    k = sum(len(s.windows) for s in corpus)
    assert k == board["subset"]["n_windows"] == 39
    for pname, profile in PROFILES.items():
        theta = board["official_thresholds"]["numenta"][pname]["threshold"]
        raw = sum(
            score_file(scores=conf[s.name], windows=s.windows, profile=profile, threshold=theta)
            for s in corpus
        )
        expected = board["subset"]["normalized_at_official_threshold"]["numenta"][pname]
        assert normalise(raw, n_windows=k, profile=profile) == pytest.approx(expected, abs=1e-6)


def test_best_threshold_never_worse_than_published(nab) -> None:
    board, corpus, conf = nab
    profile = PROFILES["standard"]
    curves = [score_curve(scores=conf[s.name], windows=s.windows, profile=profile) for s in corpus]
    theta, raw = best_threshold(curves)
    assert raw == pytest.approx(sum(curve_score(c, theta) for c in curves))
    assert raw >= board["subset"]["detector_raw_score"]["numenta"]["standard"] - 1e-9


def test_window_values_and_false_positive_decay() -> None:
    profile = PROFILES["standard"]
    n = 200
    windows = [(100, 109)]  # P = 30
    first = np.zeros(n)
    first[100] = 1.0
    assert score_file(scores=first, windows=windows, profile=profile, threshold=0.5) == (
        pytest.approx(1.0)
    )
    late = np.zeros(n)
    late[109] = 1.0
    value = scaled_sigmoid(-1 / 10) / scaled_sigmoid(-1.0)
    assert score_file(scores=late, windows=windows, profile=profile, threshold=0.5) == (
        pytest.approx(value)
    )
    fps = np.zeros(n)
    fps[[10, 50, 111, 190]] = 1.0  # 10 is probationary; 111 just after; 190 far after
    expect = -1.0 - 0.11 + 0.11 * scaled_sigmoid(2 / 9) - 0.11
    assert score_file(scores=fps, windows=windows, profile=profile, threshold=0.5) == (
        pytest.approx(expect)
    )
    assert best_threshold([score_curve(scores=fps, windows=windows, profile=profile)]) == (
        2.0,
        -1.0,
    )


def test_load_windows_rejects_point_labels(tmp_path: Path) -> None:
    labels = tmp_path / "combined_labels.json"
    labels.write_text(json.dumps({"a/b.csv": ["2014-01-01 00:00:00"]}))
    with pytest.raises(ValueError, match="not a \\[start, end\\] window"):
        load_windows(labels)


def test_load_corpus_maps_windows_to_first_duplicate_row(tmp_path: Path) -> None:
    (tmp_path / "data" / "cat").mkdir(parents=True)
    rows = ["timestamp,value"] + [f"2020-01-01 00:{m:02d}:00,{m}" for m in (0, 1, 2, 2, 3, 4, 5)]
    (tmp_path / "data" / "cat" / "s.csv").write_text("\n".join(rows) + "\n")
    labels = tmp_path / "w.json"
    labels.write_text(
        json.dumps({"cat/s.csv": [["2020-01-01 00:02:00.000000", "2020-01-01 00:03:00.000000"]]})
    )
    (series,) = load_corpus(data=tmp_path / "data", labels=labels)
    assert series.windows == ((2, 4),)
    assert math.isclose(series.values[3], 2.0)
