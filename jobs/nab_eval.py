"""Run the project's anomaly detector on NAB and score it (``sre-copilot eval nab``).

Each series is streamed row by row through a fresh :class:`jobs.anomaly.AnomalyDetector`
(one configuration for all series, told NAB's probationary period), then scored
with :mod:`jobs.nab`. By default the thresholds are the ones frozen after tuning
on the NAB dev split (:data:`DEV_THRESHOLDS`), so held-back series are scored
without looking at their labels; ``optimise=True`` instead re-tunes one threshold
per profile on the evaluated corpus, as NAB does for its published detectors.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from jobs.anomaly import AnomalyDetector
from jobs.nab import (
    PROFILES,
    FloatArray,
    NabSeries,
    best_threshold,
    curve_score,
    load_corpus,
    normalise,
    score_curve,
)

logger = logging.getLogger(__name__)

#: Thresholds tuned on the NAB dev split (19 files) for the default detector config.
DEV_THRESHOLDS: dict[str, float] = {
    "standard": 0.5071976321808153,
    "reward_low_FP_rate": 0.5071976321808153,
    "reward_low_FN_rate": 0.5071976321808153,
}

#: Keys of the result dict, per profile.
RESULT_KEYS: dict[str, str] = {
    "standard": "standard",
    "reward_low_FP_rate": "reward_low_fp",
    "reward_low_FN_rate": "reward_low_fn",
}

Progress = Callable[[str, int, int], None]


@dataclass(frozen=True)
class NabReport:
    """Full outcome of a NAB run.

    Attributes:
        scores: Normalised score per NAB profile name.
        thresholds: Threshold used per profile.
        raw: Raw (summed) score per profile.
        per_file: Raw score per profile and file.
        n_windows: Number of ground-truth windows.
    """

    scores: dict[str, float]
    thresholds: dict[str, float]
    raw: dict[str, float]
    per_file: dict[str, dict[str, float]]
    n_windows: int


def detect_series(series: NabSeries) -> FloatArray:
    """Stream one NAB series through a fresh detector; one score per row."""
    det = AnomalyDetector(probationary_rows=series.probationary)
    ts = series.timestamps.astype("int64") / 1e9
    return np.array(
        [det.update(float(t), float(v)).score for t, v in zip(ts, series.values, strict=True)],
        dtype=np.float64,
    )


def _detect_all(
    corpus: Sequence[NabSeries], *, processes: int, progress: Progress | None
) -> list[FloatArray]:
    out: list[FloatArray] = []
    if processes <= 1:
        results = map(detect_series, corpus)
        for i, (s, scores) in enumerate(zip(corpus, results, strict=True)):
            out.append(scores)
            if progress:
                progress(s.name, i + 1, len(corpus))
        return out
    with ProcessPoolExecutor(max_workers=processes) as pool:
        for i, (s, scores) in enumerate(zip(corpus, pool.map(detect_series, corpus), strict=True)):
            out.append(scores)
            if progress:
                progress(s.name, i + 1, len(corpus))
    return out


def run_nab(
    *,
    data: Path,
    labels: Path,
    progress: Progress | None = None,
    optimise: bool = False,
    processes: int = 2,
) -> NabReport:
    """Run the detector over every series under ``data`` and score all three profiles.

    Args:
        data: NAB ``data/`` directory.
        labels: NAB ``combined_windows.json``.
        progress: Called as ``progress(series_name, done, total)`` after each series.
        optimise: Re-tune thresholds on this corpus instead of using
            :data:`DEV_THRESHOLDS`.
        processes: Worker processes (series run in parallel).

    Returns:
        The :class:`NabReport`.
    """
    corpus = load_corpus(data=data, labels=labels)
    outputs = _detect_all(corpus, processes=processes, progress=progress)
    n_windows = sum(len(s.windows) for s in corpus)
    scores: dict[str, float] = {}
    thresholds: dict[str, float] = {}
    raw: dict[str, float] = {}
    per_file: dict[str, dict[str, float]] = {}
    for name, profile in PROFILES.items():
        curves = [
            score_curve(scores=o, windows=s.windows, profile=profile)
            for o, s in zip(outputs, corpus, strict=True)
        ]
        theta = best_threshold(curves)[0] if optimise else DEV_THRESHOLDS[name]
        files = {s.name: curve_score(c, theta) for s, c in zip(corpus, curves, strict=True)}
        thresholds[name] = theta
        raw[name] = sum(files.values())
        scores[name] = normalise(raw[name], n_windows=n_windows, profile=profile)
        per_file[name] = files
        logger.info("NAB %s: %.2f (threshold %s)", name, scores[name], theta)
    return NabReport(scores, thresholds, raw, per_file, n_windows)


def evaluate_nab(
    *, data: Path, labels: Path, progress: Progress | None = None
) -> dict[str, float | int]:
    """Score the detector on NAB, for ``sre-copilot eval nab``.

    Args:
        data: NAB ``data/`` directory (``<category>/<name>.csv``).
        labels: NAB ``combined_windows.json``.
        progress: Optional ``progress(series_name, done, total)`` callback.

    Returns:
        ``{"series": n, "standard": s, "reward_low_fp": s, "reward_low_fn": s}``, the
        normalised NAB scores at the dev-tuned thresholds.
    """
    report = run_nab(data=data, labels=labels, progress=progress)
    out: dict[str, float | int] = {"series": sum(1 for _ in report.per_file["standard"])}
    for name, key in RESULT_KEYS.items():
        out[key] = round(report.scores[name], 2)
    return out
