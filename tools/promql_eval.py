"""Evaluation of a parsed PromQL expression at one instant, with Prometheus 2.x semantics.

:class:`Evaluator` holds in-memory series (:class:`StoredSeries`) and evaluates a
:mod:`tools.promql_ast` tree at a timestamp in milliseconds, as Prometheus's engine does at
each step of a range query. Semantics mirrored from Prometheus 2.x (the version the
differential tests run):

* an instant selector takes the newest sample in ``[t - 5m, t]`` (the lookback delta);
  a range selector ``[r]`` takes the samples in ``[t - r, t]``, both shifted by ``offset``;
* arithmetic, ``bool`` comparisons, ``-`` and most functions drop ``__name__``; filtering
  comparisons, set operators, ``last_over_time`` and ``topk``/``bottomk`` keep it;
* vector matching is one-to-one unless ``group_left``/``group_right``; duplicate matches,
  or two output series with one label set, raise ``UpstreamHTTPError(422)`` like
  Prometheus's ``execution`` error.

Binary operators live in :mod:`tools.promql_binops`, functions in
:mod:`tools.promql_functions`, value types in :mod:`tools.promql_values`.
"""

from __future__ import annotations

import math
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Sequence

from tools.promql_ast import (
    COMPARISONS,
    SET_OPERATORS,
    Aggregate,
    Binary,
    Call,
    Expr,
    MatrixSelector,
    NumberLiteral,
    Paren,
    StringLiteral,
    Unary,
    ValueType,
    VectorMatching,
    VectorSelector,
    value_type,
)
from tools.promql_binops import elem_binop, set_operation, vector_scalar, vector_vector
from tools.promql_math import max_value, mean, min_value, quantile
from tools.promql_values import (
    Labels,
    Sample,
    StoredSeries,
    Value,
    Window,
    check_unique,
    drop_name,
    execution_error,
)

LOOKBACK_MS = 5 * 60 * 1000
"""Prometheus's default ``--query.lookback-delta`` (5 minutes)."""

FunctionImpl = Callable[["Evaluator", Call, int], "float | list[Sample]"]
"""A function implementation: evaluator, call node and time (ms) to its value."""


class Evaluator:
    """Evaluates expressions over a fixed set of series.

    Args:
        series: The stored series (label sets must be distinct).
        functions: Implementation of each supported function by name.
    """

    def __init__(self, series: Sequence[StoredSeries], functions: dict[str, FunctionImpl]) -> None:
        self._series = series
        self._functions = functions
        self._selected: dict[int, list[StoredSeries]] = {}

    def select(self, selector: VectorSelector) -> list[StoredSeries]:
        """The stored series a selector's matchers accept (cached per selector node)."""
        key = id(selector)
        if key not in self._selected:
            self._selected[key] = [
                s for s in self._series if all(m.matches(s.get(m.name)) for m in selector.matchers)
            ]
        return self._selected[key]

    def evaluate(self, expr: Expr, ts: int) -> Value:
        """Evaluate ``expr`` at ``ts`` (ms): a float, string, vector or range vector."""
        match value_type(expr):
            case ValueType.SCALAR:
                return self.scalar(expr, ts)
            case ValueType.VECTOR:
                return self.vector(expr, ts)
            case ValueType.MATRIX:
                return self.matrix(expr, ts)
            case ValueType.STRING:
                inner = expr
                while isinstance(inner, Paren):
                    inner = inner.expr
                assert isinstance(inner, StringLiteral)
                return inner.value

    def scalar(self, expr: Expr, ts: int) -> float:
        """Evaluate a scalar-typed expression."""
        match expr:
            case NumberLiteral(value=value):
                return value
            case Paren(expr=inner):
                return self.scalar(inner, ts)
            case Unary(op=op, expr=inner):
                value = self.scalar(inner, ts)
                return -value if op == "-" else value
            case Binary(op=op, lhs=lhs, rhs=rhs):
                value, keep = elem_binop(op, lhs=self.scalar(lhs, ts), rhs=self.scalar(rhs, ts))
                if op in COMPARISONS:  # the parser requires bool here
                    return 1.0 if keep else 0.0
                return value
            case Call(func=func):
                result = self._functions[func](self, expr, ts)
                assert isinstance(result, float)
                return result
        raise AssertionError(f"not a scalar expression: {expr}")

    def vector(self, expr: Expr, ts: int) -> list[Sample]:
        """Evaluate an instant-vector-typed expression."""
        match expr:
            case VectorSelector():
                return self._instant(expr, ts)
            case Paren(expr=inner):
                return self.vector(inner, ts)
            case Unary(op=op, expr=inner):
                samples = self.vector(inner, ts)
                if op == "+":
                    return samples
                return check_unique([Sample(drop_name(s.labels), -s.value, ts) for s in samples])
            case Call(func=func):
                result = self._functions[func](self, expr, ts)
                assert isinstance(result, list)
                return check_unique(result)
            case Aggregate():
                return self._aggregate(expr, ts)
            case Binary():
                return check_unique(self._binary(expr, ts))
        raise AssertionError(f"not a vector expression: {expr}")

    def matrix(self, expr: Expr, ts: int) -> list[Window]:
        """Evaluate a range-vector-typed expression (a range selector)."""
        while isinstance(expr, Paren):
            expr = expr.expr
        assert isinstance(expr, MatrixSelector)
        end = ts - expr.vector.offset_ms
        start = end - expr.range_ms
        windows = []
        for series in self.select(expr.vector):
            lo, hi = bisect_left(series.ts, start), bisect_right(series.ts, end)
            if hi > lo:
                windows.append(Window(series.labels, series.ts[lo:hi], series.values[lo:hi]))
        return windows

    def _instant(self, selector: VectorSelector, ts: int) -> list[Sample]:
        ref = ts - selector.offset_ms
        samples = []
        for series in self.select(selector):
            i = bisect_right(series.ts, ref) - 1
            if i >= 0 and series.ts[i] >= ref - LOOKBACK_MS:
                samples.append(Sample(series.labels, series.values[i], series.ts[i]))
        return samples

    # -- binary operations ----------------------------------------------------------------

    def _binary(self, expr: Binary, ts: int) -> list[Sample]:
        op = expr.op
        lt, rt = value_type(expr.lhs), value_type(expr.rhs)
        if lt is ValueType.SCALAR:
            scalar = self.scalar(expr.lhs, ts)
            samples = self.vector(expr.rhs, ts)
            return vector_scalar(
                op, samples=samples, scalar=scalar, swap=True, ts=ts, bool_=expr.return_bool
            )
        if rt is ValueType.SCALAR:
            scalar = self.scalar(expr.rhs, ts)
            samples = self.vector(expr.lhs, ts)
            return vector_scalar(
                op, samples=samples, scalar=scalar, swap=False, ts=ts, bool_=expr.return_bool
            )
        lhs, rhs = self.vector(expr.lhs, ts), self.vector(expr.rhs, ts)
        matching = expr.matching or VectorMatching()
        if op in SET_OPERATORS:
            return set_operation(op, lhs=lhs, rhs=rhs, matching=matching)
        return vector_vector(op, lhs=lhs, rhs=rhs, matching=matching, ts=ts, bool_=expr.return_bool)

    # -- aggregations ---------------------------------------------------------------------

    def _aggregate(self, expr: Aggregate, ts: int) -> list[Sample]:
        samples = self.vector(expr.expr, ts)
        param = self.scalar(expr.param, ts) if expr.param is not None else math.nan
        k = 0
        if expr.op in ("topk", "bottomk"):
            if math.isnan(param) or not -(2.0**63) <= param < 2.0**63:
                shown = {math.inf: "+Inf", -math.inf: "-Inf"}.get(param, f"{param:g}")
                shown = "NaN" if math.isnan(param) else shown
                raise execution_error(f"Scalar value {shown} overflows int64")
            k = int(param)
            if k < 1:
                return []
        groups: dict[Labels, list[Sample]] = {}
        for sample in samples:
            if expr.without:
                drop = {*expr.grouping, "__name__"}
                key = tuple(p for p in sample.labels if p[0] not in drop)
            else:
                key = tuple(p for p in sample.labels if p[0] in expr.grouping)
            groups.setdefault(key, []).append(sample)
        out: list[Sample] = []
        for key, members in groups.items():
            if expr.op in ("topk", "bottomk"):
                top = expr.op == "topk"
                ranked = sorted(
                    members,
                    key=lambda s: (math.isnan(s.value), -s.value if top else s.value),
                )
                out += [Sample(s.labels, s.value, ts) for s in ranked[:k]]
            else:
                values = [s.value for s in members]
                out.append(Sample(key, _aggregate_values(expr.op, values, param), ts))
        return out


def _aggregate_values(op: str, values: list[float], param: float) -> float:
    match op:
        case "sum":
            return sum(values)
        case "avg":
            return mean(values)
        case "count":
            return float(len(values))
        case "max":
            return max_value(values)
        case "min":
            return min_value(values)
        case "quantile":
            return quantile(param, values)
    raise AssertionError(f"not an aggregation: {op}")
