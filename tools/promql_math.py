"""Float arithmetic of the PromQL engine as Prometheus (Go) computes it.

Python raises where Go returns ``Inf`` or ``NaN`` (division by zero, ``fmod`` by zero,
``pow`` overflow), and Python's ``max``/``min`` ignore ``NaN`` depending on argument order;
these helpers give Go's answers. The statistics (:func:`mean`, :func:`kahan_sum`,
:func:`quantile`, :func:`linear_regression`, :func:`bucket_quantile`) follow the
algorithms of Prometheus 2.x so results agree to rounding.
"""

from __future__ import annotations

import math
from collections.abc import Sequence


def go_div(lhs: float, rhs: float) -> float:
    """IEEE division as Go does it (``x/0`` is ``±Inf`` or ``NaN``, never an exception)."""
    if rhs != 0:
        return lhs / rhs
    if lhs == 0 or math.isnan(lhs):
        return math.nan
    return math.copysign(math.inf, lhs) * math.copysign(1.0, rhs)


def go_mod(lhs: float, rhs: float) -> float:
    """Go's ``math.Mod`` (sign of the dividend; ``NaN`` for ``x % 0`` or ``Inf % y``)."""
    if rhs == 0 or math.isinf(lhs) or math.isnan(lhs) or math.isnan(rhs):
        return math.nan
    return math.fmod(lhs, rhs)


def go_pow(lhs: float, rhs: float) -> float:
    """Go's ``math.Pow`` (overflow gives ``±Inf``, a negative base to a fraction ``NaN``)."""
    odd = float(rhs).is_integer() and abs(rhs) < 2**53 and int(rhs) % 2 == 1
    try:
        return math.pow(lhs, rhs)
    except OverflowError:
        return -math.inf if lhs < 0 and odd else math.inf
    except ValueError:
        if lhs == 0:  # zero to a negative power
            return math.copysign(math.inf, lhs) if odd else math.inf
        return math.nan


def go_max(lhs: float, rhs: float) -> float:
    """Go's ``math.Max``: ``NaN`` if either argument is ``NaN``."""
    return math.nan if math.isnan(lhs) or math.isnan(rhs) else max(lhs, rhs)


def go_min(lhs: float, rhs: float) -> float:
    """Go's ``math.Min``: ``NaN`` if either argument is ``NaN``."""
    return math.nan if math.isnan(lhs) or math.isnan(rhs) else min(lhs, rhs)


def max_value(values: Sequence[float]) -> float:
    """The largest value; ``NaN`` only when every value is ``NaN`` (``max``, ``max_over_time``)."""
    best = values[0]
    for value in values[1:]:
        if value > best or math.isnan(best):
            best = value
    return best


def min_value(values: Sequence[float]) -> float:
    """The smallest value; ``NaN`` only when every value is ``NaN`` (``min``, ``min_over_time``)."""
    best = values[0]
    for value in values[1:]:
        if value < best or math.isnan(best):
            best = value
    return best


def _kahan_inc(inc: float, total: float, comp: float) -> tuple[float, float]:
    new = total + inc
    if abs(total) >= abs(inc):
        comp += (total - new) + inc
    else:
        comp += (inc - new) + total
    return new, comp


def kahan_sum(values: Sequence[float]) -> float:
    """Neumaier-compensated sum, as ``sum_over_time``."""
    total = comp = 0.0
    for value in values:
        total, comp = _kahan_inc(value, total, comp)
    return total if math.isinf(total) else total + comp


def mean(values: Sequence[float]) -> float:
    """Incremental mean that survives huge values and infinities, as ``avg``."""
    avg = comp = 0.0
    for count, value in enumerate(values, start=1):
        if math.isinf(avg):
            if math.isinf(value) and (avg > 0) == (value > 0):
                continue
            if not math.isinf(value) and not math.isnan(value):
                continue
        avg, comp = _kahan_inc(value / count - avg / count, avg, comp)
    return avg if math.isinf(avg) else avg + comp


def quantile(q: float, values: Sequence[float]) -> float:
    """The φ-quantile by linear interpolation between ranks (``quantile``, ``*_over_time``)."""
    if not values or math.isnan(q):
        return math.nan
    if q < 0:
        return -math.inf
    if q > 1:
        return math.inf
    ordered = sorted(values, key=lambda v: (not math.isnan(v), v))  # NaN first, as Go's sort
    n = len(ordered)
    rank = q * (n - 1)
    lower = max(0, math.floor(rank))
    upper = min(n - 1, lower + 1)
    weight = rank - math.floor(rank)
    return ordered[lower] * (1 - weight) + ordered[upper] * weight


def linear_regression(
    ts: Sequence[int], values: Sequence[float], *, intercept_ms: int
) -> tuple[float, float]:
    """Least-squares slope (per second) and intercept at ``intercept_ms``."""
    first = values[0]
    if all(v == first for v in values):
        return (math.nan, math.nan) if math.isinf(first) else (0.0, first)
    n = float(len(values))
    xs = [(t - intercept_ms) / 1000 for t in ts]
    sum_x, sum_y = kahan_sum(xs), kahan_sum(values)
    sum_xy = kahan_sum([x * y for x, y in zip(xs, values, strict=True)])
    sum_x2 = kahan_sum([x * x for x in xs])
    cov_xy = sum_xy - sum_x * sum_y / n
    var_x = sum_x2 - sum_x * sum_x / n
    slope = go_div(cov_xy, var_x)
    return slope, sum_y / n - slope * sum_x / n


def bucket_quantile(q: float, buckets: list[tuple[float, float]]) -> float:
    """``histogram_quantile`` of classic buckets ``(upper bound, cumulative count)``.

    Mirrors Prometheus: ``NaN`` without a ``+Inf`` bucket, with fewer than two buckets or
    no observations; buckets with the same bound are merged; counts are forced to be
    monotonic; a quantile in the ``+Inf`` bucket is the highest finite bound; a first
    bucket with a non-positive bound answers that bound; otherwise linear interpolation.
    """
    if math.isnan(q):
        return math.nan
    if q < 0:
        return -math.inf
    if q > 1:
        return math.inf
    ordered = sorted(buckets, key=lambda b: b[0])
    if not ordered or not (math.isinf(ordered[-1][0]) and ordered[-1][0] > 0):
        return math.nan
    merged: list[list[float]] = []
    for bound, count in ordered:
        if merged and merged[-1][0] == bound:
            merged[-1][1] += count
        else:
            merged.append([bound, count])
    highest = -math.inf
    for bucket in merged:
        if bucket[1] > highest:
            highest = bucket[1]
        elif bucket[1] < highest:
            bucket[1] = highest
    if len(merged) < 2:
        return math.nan
    observations = merged[-1][1]
    if observations == 0:
        return math.nan
    rank = q * observations
    b = next((i for i in range(len(merged) - 1) if merged[i][1] >= rank), len(merged) - 1)
    if b == len(merged) - 1:
        return merged[-2][0]
    if b == 0 and merged[0][0] <= 0:
        return merged[0][0]
    start, end, count = 0.0, merged[b][0], merged[b][1]
    if b > 0:
        start = merged[b - 1][0]
        count -= merged[b - 1][1]
        rank -= merged[b - 1][1]
    return start + (end - start) * go_div(rank, count)
