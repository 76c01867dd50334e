"""The PromQL functions the file metrics source evaluates, with Prometheus 2.x semantics.

``rate``/``increase``/``delta`` use Prometheus's extrapolation: the increase between the
first and last sample of the window (adding back counter resets for ``rate`` and
``increase``) is extrapolated to the window edges when the first/last sample lies within
1.1 average sample intervals of them (otherwise by half an interval), and a counter is
never extrapolated below zero. A window needs two samples. ``histogram_quantile`` follows
:func:`tools.promql_math.bucket_quantile`. Every function drops ``__name__`` except
``last_over_time`` and ``vector``/``scalar``/``time`` (which have none).
"""

from __future__ import annotations

import math
from collections.abc import Callable

from tools.promql_ast import Call, Expr, MatrixSelector, VectorSelector, unwrap_parens
from tools.promql_eval import Evaluator, FunctionImpl
from tools.promql_math import (
    bucket_quantile,
    go_max,
    go_min,
    kahan_sum,
    linear_regression,
    max_value,
    mean,
    min_value,
    quantile,
)
from tools.promql_values import Labels, Sample, Window, drop_name

RangeCompute = Callable[[Window, MatrixSelector, Evaluator, Call, int], "float | None"]


def _range_function(compute: RangeCompute, *, keep_name: bool = False) -> FunctionImpl:
    """A function of one range-vector argument, computed window by window."""

    def impl(ev: Evaluator, call: Call, ts: int) -> list[Sample]:
        selector = next(a for a in map(unwrap_parens, call.args) if isinstance(a, MatrixSelector))
        out = []
        for window in ev.matrix(selector, ts):
            value = compute(window, selector, ev, call, ts)
            if value is not None:
                labels = window.labels if keep_name else drop_name(window.labels)
                out.append(Sample(labels, value, ts))
        return out

    return impl


def _extrapolated(*, is_counter: bool, is_rate: bool) -> RangeCompute:
    def compute(w: Window, sel: MatrixSelector, _ev: Evaluator, _c: Call, ts: int) -> float | None:
        if len(w.values) < 2:
            return None
        range_end = ts - sel.vector.offset_ms
        range_start = range_end - sel.range_ms
        result = w.values[-1] - w.values[0]
        if is_counter:
            previous = w.values[0]
            for value in w.values[1:]:
                if value < previous:
                    result += previous  # a counter reset: the counter restarted from zero
                previous = value
        to_start = (w.ts[0] - range_start) / 1000
        to_end = (range_end - w.ts[-1]) / 1000
        sampled = (w.ts[-1] - w.ts[0]) / 1000
        average = sampled / (len(w.values) - 1)
        if is_counter and result > 0 and w.values[0] >= 0:
            to_zero = sampled * (w.values[0] / result)
            to_start = min(to_start, to_zero)
        threshold = average * 1.1
        interval = sampled
        interval += to_start if to_start < threshold else average / 2
        interval += to_end if to_end < threshold else average / 2
        factor = interval / sampled
        if is_rate:
            factor /= sel.range_ms / 1000
        return result * factor

    return compute


def _irate(w: Window, _sel: MatrixSelector, _ev: Evaluator, _call: Call, _ts: int) -> float | None:
    if len(w.values) < 2:
        return None
    last, previous = w.values[-1], w.values[-2]
    interval_ms = w.ts[-1] - w.ts[-2]
    if interval_ms == 0:
        return None
    increase = last if last < previous else last - previous
    return increase / (interval_ms / 1000)


def _deriv(w: Window, _sel: MatrixSelector, _ev: Evaluator, _call: Call, _ts: int) -> float | None:
    if len(w.values) < 2:
        return None
    return linear_regression(w.ts, w.values, intercept_ms=w.ts[0])[0]


def _predict_linear(
    w: Window, _sel: MatrixSelector, ev: Evaluator, call: Call, ts: int
) -> float | None:
    if len(w.values) < 2:
        return None
    slope, intercept = linear_regression(w.ts, w.values, intercept_ms=ts)
    return slope * ev.scalar(call.args[1], ts) + intercept


def _quantile_over_time(
    w: Window, _sel: MatrixSelector, ev: Evaluator, call: Call, ts: int
) -> float | None:
    return quantile(ev.scalar(call.args[0], ts), w.values)


def _over_time(reduce: Callable[[list[float]], float]) -> RangeCompute:
    def compute(w: Window, _sel: MatrixSelector, _ev: Evaluator, _c: Call, _ts: int) -> float:
        return reduce(list(w.values))

    return compute


def _elementwise(op: Callable[[float, float], float]) -> FunctionImpl:
    """A function of an instant vector and an optional scalar, applied sample by sample."""

    def impl(ev: Evaluator, call: Call, ts: int) -> list[Sample]:
        param = ev.scalar(call.args[1], ts) if len(call.args) > 1 else math.nan
        return [
            Sample(drop_name(s.labels), op(s.value, param), ts) for s in ev.vector(call.args[0], ts)
        ]

    return impl


def _histogram_quantile(ev: Evaluator, call: Call, ts: int) -> list[Sample]:
    q = ev.scalar(call.args[0], ts)
    groups: dict[Labels, tuple[Labels, list[tuple[float, float]]]] = {}
    for sample in ev.vector(call.args[1], ts):
        le = dict(sample.labels).get("le", "")
        try:
            if "_" in le or le != le.strip():
                raise ValueError(le)  # Go's ParseFloat accepts neither
            bound = float(le)
        except ValueError:
            continue  # no or malformed bucket label: Prometheus skips the sample
        key = tuple(p for p in sample.labels if p[0] != "le")
        output = tuple(p for p in key if p[0] != "__name__")
        groups.setdefault(key, (output, []))[1].append((bound, sample.value))
    return [Sample(labels, bucket_quantile(q, b), ts) for labels, b in groups.values()]


def _time(_ev: Evaluator, _call: Call, ts: int) -> float:
    return ts / 1000


def _vector(ev: Evaluator, call: Call, ts: int) -> list[Sample]:
    return [Sample((), ev.scalar(call.args[0], ts), ts)]


def _scalar(ev: Evaluator, call: Call, ts: int) -> float:
    samples = ev.vector(call.args[0], ts)
    return samples[0].value if len(samples) == 1 else math.nan


def _timestamp(ev: Evaluator, call: Call, ts: int) -> list[Sample]:
    # Of a selector, the sample's own time; of anything else, the evaluation time.
    arg = unwrap_parens(call.args[0])
    direct = isinstance(arg, VectorSelector)
    return [
        Sample(drop_name(s.labels), (s.ts if direct else ts) / 1000, ts) for s in ev.vector(arg, ts)
    ]


def _absent(ev: Evaluator, call: Call, ts: int) -> list[Sample]:
    if ev.vector(call.args[0], ts):
        return []
    return [Sample(_absent_labels(unwrap_parens(call.args[0])), 1.0, ts)]


def _absent_labels(arg: Expr) -> Labels:
    """Labels of ``absent``'s answer: the selector's ``=`` matchers used once."""
    selector = arg.vector if isinstance(arg, MatrixSelector) else arg
    if not isinstance(selector, VectorSelector):
        return ()
    labels: dict[str, str] = {}
    ambiguous = set()
    for matcher in selector.matchers:
        if matcher.name == "__name__":
            continue
        if matcher.op == "=" and matcher.name not in labels:
            labels[matcher.name] = matcher.value
        else:
            ambiguous.add(matcher.name)
    return tuple(sorted((k, v) for k, v in labels.items() if k not in ambiguous and v))


FUNCTION_IMPLS: dict[str, FunctionImpl] = {
    "rate": _range_function(_extrapolated(is_counter=True, is_rate=True)),
    "increase": _range_function(_extrapolated(is_counter=True, is_rate=False)),
    "delta": _range_function(_extrapolated(is_counter=False, is_rate=False)),
    "irate": _range_function(_irate),
    "deriv": _range_function(_deriv),
    "predict_linear": _range_function(_predict_linear),
    "avg_over_time": _range_function(_over_time(mean)),
    "max_over_time": _range_function(_over_time(max_value)),
    "min_over_time": _range_function(_over_time(min_value)),
    "sum_over_time": _range_function(_over_time(kahan_sum)),
    "count_over_time": _range_function(_over_time(lambda v: float(len(v)))),
    "quantile_over_time": _range_function(_quantile_over_time),
    "last_over_time": _range_function(_over_time(lambda v: v[-1]), keep_name=True),
    "histogram_quantile": _histogram_quantile,
    "abs": _elementwise(lambda v, _: abs(v)),
    "clamp_min": _elementwise(go_max),
    "clamp_max": _elementwise(go_min),
    "time": _time,
    "vector": _vector,
    "scalar": _scalar,
    "timestamp": _timestamp,
    "absent": _absent,
}
"""Implementation of every function in :data:`tools.promql_ast.FUNCTIONS`."""
