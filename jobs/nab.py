"""Numenta Anomaly Benchmark (NAB v1.1): data loading and the scorer.

The scorer follows ``shared/evals/nab/README.md`` ("NAB scoring, precisely"):
ground-truth windows are taken as given from ``combined_windows.json`` and mapped
to row indices, the first ``min(floor(0.15 n), 750)`` rows are probationary, each
window counts once with its earliest detection (scaled sigmoid of the position),
every detection outside all windows costs ``A_FP`` (softened just after a window),
a missed window costs ``A_FN``. One threshold serves a whole corpus; it is either
given or optimised by sweeping the distinct anomaly-score values. Scores are
normalised with the null (``-A_FN K``) and perfect (``A_TP K``) detectors.

Rows are scored by index, not by clock time: a series keeps its file order, with
duplicate and backwards timestamps left in place.
"""

from __future__ import annotations

import csv
import json
import logging
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

logger = logging.getLogger(__name__)

FloatArray = npt.NDArray[np.float64]

PROBATIONARY_PERCENT = 0.15
PROBATIONARY_CAP = 750


@dataclass(frozen=True)
class Profile:
    """A NAB application profile (cost matrix); ``A_TN`` has no effect and is omitted.

    Attributes:
        name: NAB's profile name (``standard``, ``reward_low_FP_rate``, ...).
        a_tp: Reward for a window detected on its first row.
        a_fp: Cost of a false positive.
        a_fn: Cost of a missed window.
    """

    name: str
    a_tp: float
    a_fp: float
    a_fn: float


PROFILES: dict[str, Profile] = {
    "standard": Profile("standard", 1.0, 0.11, 1.0),
    "reward_low_FP_rate": Profile("reward_low_FP_rate", 1.0, 0.22, 1.0),
    "reward_low_FN_rate": Profile("reward_low_FN_rate", 1.0, 0.11, 2.0),
}


@dataclass(frozen=True)
class NabSeries:
    """One NAB data file in file order.

    Attributes:
        name: Path relative to the data root, e.g. ``realKnownCause/nyc_taxi.csv``.
        timestamps: Row timestamps (``datetime64[ns]``), duplicates kept.
        values: Row values as floats (NaN where the file holds no number).
        windows: Inclusive ``(first_row, last_row)`` ground-truth windows.
    """

    name: str
    timestamps: npt.NDArray[np.datetime64]
    values: FloatArray
    windows: tuple[tuple[int, int], ...]

    @property
    def probationary(self) -> int:
        """Number of leading rows excluded from scoring."""
        return probationary_rows(len(self.values))


def probationary_rows(n: int) -> int:
    """Return NAB's probationary period ``min(floor(0.15 n), 750)`` for ``n`` rows."""
    return min(math.floor(PROBATIONARY_PERCENT * n), PROBATIONARY_CAP)


def scaled_sigmoid(y: float) -> float:
    """Return NAB's scaled sigmoid ``2 / (1 + exp(5 y)) - 1``, and ``-1`` for ``y > 3``."""
    if y > 3.0:
        return -1.0
    return 2.0 / (1.0 + math.exp(5.0 * y)) - 1.0


def load_windows(labels: Path) -> dict[str, list[tuple[str, str]]]:
    """Read ``combined_windows.json`` into ``{file: [(start, end), ...]}``.

    Args:
        labels: Path of a NAB windows file.

    Returns:
        Window timestamps per file, with NAB's ``.000000`` suffix stripped.

    Raises:
        ValueError: If the file does not hold ``[start, end]`` pairs (for example the
            point labels of ``combined_labels.json``, from which windows must not be
            rebuilt).
    """
    raw = json.loads(labels.read_text(encoding="utf-8"))
    out: dict[str, list[tuple[str, str]]] = {}
    for name, wins in raw.items():
        pairs: list[tuple[str, str]] = []
        for win in wins:
            if not isinstance(win, list) or len(win) != 2:
                raise ValueError(f"{labels}: {name} holds {win!r}, not a [start, end] window")
            pairs.append((_strip_ts(str(win[0])), _strip_ts(str(win[1]))))
        out[name] = pairs
    return out


def _strip_ts(text: str) -> str:
    return text[:-7] if text.endswith(".000000") else text


def _parse_ts(text: str) -> np.datetime64:
    """Parse NAB's ``YYYY-MM-DD HH:MM:SS[.ffffff]`` as naive UTC nanoseconds."""
    return np.datetime64(text.strip().replace(" ", "T"), "ns")


def _parse_value(text: str) -> float:
    """Parse a value; anything that is not a number becomes NaN (the detector skips it)."""
    try:
        return float(text)
    except ValueError:
        return math.nan


def _row_of(stamps: npt.NDArray[np.datetime64], when: np.datetime64, *, first: bool) -> int:
    """Map a window bound to the first row with that timestamp (or the nearest inside)."""
    exact = np.flatnonzero(stamps == when)
    if exact.size:
        return int(exact[0])
    # Not in the file (only for hand-made labels): clip to the rows inside the window.
    inside = np.flatnonzero(stamps >= when) if first else np.flatnonzero(stamps <= when)
    if not inside.size:
        raise ValueError(f"window bound {when} lies outside the series")
    logger.warning("window bound %s is not a row timestamp; using the nearest row inside", when)
    return int(inside[0] if first else inside[-1])


def load_series(*, path: Path, name: str, windows: Sequence[tuple[str, str]]) -> NabSeries:
    """Load one NAB CSV (``timestamp,value``) and map its windows to rows.

    Args:
        path: The CSV file.
        name: Its name relative to the data root (the key in the labels file).
        windows: Its window bounds from :func:`load_windows`.

    Returns:
        The series in file order.
    """
    stamps_raw: list[np.datetime64] = []
    values_raw: list[float] = []
    with path.open(newline="", encoding="utf-8") as fh:
        for rec in csv.DictReader(fh):
            stamps_raw.append(_parse_ts(rec["timestamp"]))
            values_raw.append(_parse_value(rec["value"]))
    stamps = np.array(stamps_raw, dtype="datetime64[ns]")
    values = np.array(values_raw, dtype=np.float64)
    rows: list[tuple[int, int]] = []
    for start, end in windows:
        lo = _row_of(stamps, _parse_ts(start), first=True)
        hi = _row_of(stamps, _parse_ts(end), first=False)
        rows.append((lo, hi))
    rows.sort()
    return NabSeries(name=name, timestamps=stamps, values=values, windows=tuple(rows))


def load_corpus(*, data: Path, labels: Path) -> list[NabSeries]:
    """Load every ``*.csv`` under ``data`` with its windows from ``labels``.

    Args:
        data: The NAB ``data/`` directory (``<category>/<name>.csv``).
        labels: The NAB ``combined_windows.json``.

    Returns:
        The series sorted by name. Files absent from the labels have no windows.
    """
    wins = load_windows(labels)
    out: list[NabSeries] = []
    for path in sorted(data.rglob("*.csv")):
        name = path.relative_to(data).as_posix()
        if name not in wins:
            logger.warning("%s has no entry in %s; scoring it without windows", name, labels)
        out.append(load_series(path=path, name=name, windows=wins.get(name, [])))
    return out


def _detection_values(
    *, n: int, windows: Sequence[tuple[int, int]], profile: Profile
) -> tuple[FloatArray, npt.NDArray[np.int64]]:
    """Value of a detection on each row, and the window index of each row (-1 outside)."""
    value = np.full(n, -profile.a_fp)
    owner = np.full(n, -1, dtype=np.int64)
    sig_m1 = scaled_sigmoid(-1.0)
    bounds = sorted(windows)
    for k, (lo, hi) in enumerate(bounds):
        width = hi - lo + 1
        for i in range(lo, hi + 1):
            value[i] = profile.a_tp * scaled_sigmoid(-(hi - i + 1) / width) / sig_m1
        owner[lo : hi + 1] = k
        nxt = bounds[k + 1][0] if k + 1 < len(bounds) else n
        for i in range(hi + 1, nxt):
            # A one-row window has w - 1 = 0: every later row is "far" after it.
            y = (i - hi) / (width - 1) if width > 1 else math.inf
            value[i] = profile.a_fp * scaled_sigmoid(y)
    return value, owner


def score_file(
    *,
    scores: Iterable[float],
    windows: Sequence[tuple[int, int]],
    profile: Profile,
    threshold: float,
) -> float:
    """Raw NAB score of one file at one threshold.

    Args:
        scores: One anomaly score per row, in file order.
        windows: Inclusive row windows of the file.
        profile: The application profile.
        threshold: Rows with ``score >= threshold`` (after probation) are detections.

    Returns:
        The file's raw score (window part plus false-positive part).
    """
    a = np.asarray(list(scores), dtype=np.float64)
    n = a.size
    value, owner = _detection_values(n=n, windows=windows, profile=profile)
    det = a >= threshold
    det[: probationary_rows(n)] = False
    total = float(value[det & (owner < 0)].sum())
    for lo, hi in windows:
        hits = np.flatnonzero(det[lo : hi + 1])
        total += max(-profile.a_fn, float(value[lo + hits[0]])) if hits.size else -profile.a_fn
    return total


@dataclass(frozen=True)
class ScoreCurve:
    """A file's raw score as a step function of the threshold.

    ``score(θ) = base + sum(delta[j] for j if at[j] >= θ)``.

    Attributes:
        base: Score with no detections (``-A_FN`` per window).
        at: Anomaly-score levels where the score changes.
        delta: Change in score once the threshold falls to ``at[j]`` or below.
    """

    base: float
    at: FloatArray
    delta: FloatArray


def score_curve(
    *, scores: Sequence[float] | FloatArray, windows: Sequence[tuple[int, int]], profile: Profile
) -> ScoreCurve:
    """Build the threshold → raw score step function of one file.

    Args:
        scores: One anomaly score per row, in file order.
        windows: Inclusive row windows of the file.
        profile: The application profile.

    Returns:
        The step function; see :class:`ScoreCurve`.
    """
    a = np.asarray(scores, dtype=np.float64)
    n = a.size
    p = probationary_rows(n)
    value, owner = _detection_values(n=n, windows=windows, profile=profile)
    fp_rows = np.flatnonzero(owner < 0)
    fp_rows = fp_rows[fp_rows >= p]
    at: list[FloatArray] = [a[fp_rows]]
    delta: list[FloatArray] = [value[fp_rows]]
    for lo, hi in windows:
        lo_s = max(lo, p)
        if lo_s > hi:
            continue
        seg = a[lo_s : hi + 1]
        # Rows that set a new running maximum: the earliest detection for a band of θ.
        run = np.maximum.accumulate(seg)
        rec = np.flatnonzero(np.r_[True, run[1:] > run[:-1]])
        vals = np.maximum(-profile.a_fn, value[lo_s + rec])
        levels = seg[rec]
        steps = np.empty_like(vals)
        steps[:-1] = vals[:-1] - vals[1:]
        steps[-1] = vals[-1] + profile.a_fn
        at.append(levels)
        delta.append(steps)
    return ScoreCurve(
        base=-profile.a_fn * len(windows), at=np.concatenate(at), delta=np.concatenate(delta)
    )


def best_threshold(curves: Sequence[ScoreCurve]) -> tuple[float, float]:
    """Return the threshold maximising the summed raw score, and that score.

    Candidates are the distinct anomaly-score levels (ties go to the higher
    threshold); a threshold above every score, i.e. no detections, is the fallback.

    Args:
        curves: One curve per file, all for the same profile.

    Returns:
        ``(threshold, raw_score)``.
    """
    base = float(sum(c.base for c in curves))
    at = np.concatenate([c.at for c in curves]) if curves else np.empty(0)
    delta = np.concatenate([c.delta for c in curves]) if curves else np.empty(0)
    finite = np.isfinite(at)
    at, delta = at[finite], delta[finite]
    if not at.size:
        return math.inf, base
    order = np.argsort(-at, kind="stable")
    at, delta = at[order], delta[order]
    csum = np.cumsum(delta)
    last_of_level = np.r_[at[1:] != at[:-1], True]
    levels, totals = at[last_of_level], base + csum[last_of_level]
    k = int(np.argmax(totals))
    if totals[k] <= base:
        return float(levels[0]) + 1.0, base
    return float(levels[k]), float(totals[k])


def curve_score(curve: ScoreCurve, threshold: float) -> float:
    """Evaluate a :class:`ScoreCurve` at one threshold."""
    return curve.base + float(curve.delta[curve.at >= threshold].sum())


def normalise(raw: float, *, n_windows: int, profile: Profile) -> float:
    """Map a raw corpus score to NAB's 0 (null detector) .. 100 (perfect) scale.

    Args:
        raw: Summed raw score over the corpus.
        n_windows: Number of windows ``K`` in the corpus.
        profile: The profile the raw score was computed with.

    Returns:
        ``100 (S - S_null) / (S_perfect - S_null)``; 0.0 for a corpus without windows.
    """
    perfect, null = profile.a_tp * n_windows, -profile.a_fn * n_windows
    if perfect == null:
        return 0.0
    return 100.0 * (raw - null) / (perfect - null)
