"""Syntax tree of the PromQL subset the file metrics source evaluates.

Built by :func:`tools.promql_parser.parse`, evaluated by :mod:`tools.promql_eval`. Nodes
are immutable; :func:`value_type` gives the static type Prometheus assigns to each
(scalar, instant vector, range vector, string) and :func:`render` prints a tree fully
parenthesised, which tests use to check precedence.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import StrEnum


class ValueType(StrEnum):
    """Static type of an expression, named as Prometheus's errors name it."""

    SCALAR = "scalar"
    VECTOR = "instant vector"
    MATRIX = "range vector"
    STRING = "string"


class Card(StrEnum):
    """Cardinality of vector matching in a binary operation."""

    ONE_TO_ONE = "one-to-one"
    MANY_TO_ONE = "many-to-one"
    ONE_TO_MANY = "one-to-many"
    MANY_TO_MANY = "many-to-many"


ARITHMETIC = frozenset({"+", "-", "*", "/", "%", "^"})
COMPARISONS = frozenset({"==", "!=", "<", "<=", ">", ">="})
SET_OPERATORS = frozenset({"and", "or", "unless"})


@dataclass(frozen=True, slots=True)
class LabelMatcher:
    """One label matcher; regular expressions are fully anchored, as in Prometheus.

    Attributes:
        name: Label name (``__name__`` for the metric name).
        op: ``=``, ``!=``, ``=~`` or ``!~``.
        value: The string or regular expression to match.
        regex: The compiled expression (for ``=~`` and ``!~``).
    """

    name: str
    op: str
    value: str
    regex: re.Pattern[str] | None = field(default=None, compare=False)

    def matches(self, value: str) -> bool:
        """Whether a label value (``""`` when absent) satisfies the matcher."""
        if self.op == "=":
            return value == self.value
        if self.op == "!=":
            return value != self.value
        assert self.regex is not None
        found = self.regex.fullmatch(value) is not None
        return found if self.op == "=~" else not found


@dataclass(frozen=True, slots=True)
class NumberLiteral:
    """A float literal (``1``, ``2.5e3``, ``0x1f``, ``Inf``)."""

    value: float


@dataclass(frozen=True, slots=True)
class StringLiteral:
    """A string literal."""

    value: str


@dataclass(frozen=True, slots=True)
class VectorSelector:
    """An instant vector selector, e.g. ``http_requests_total{code=~"5.."} offset 5m``."""

    name: str | None
    matchers: tuple[LabelMatcher, ...]
    offset_ms: int = 0
    has_offset: bool = False


@dataclass(frozen=True, slots=True)
class MatrixSelector:
    """A range vector selector, e.g. ``http_requests_total[5m]``."""

    vector: VectorSelector
    range_ms: int


@dataclass(frozen=True, slots=True)
class Call:
    """A function call."""

    func: str
    args: tuple[Expr, ...]


@dataclass(frozen=True, slots=True)
class Aggregate:
    """An aggregation such as ``sum by (job) (x)`` or ``topk(3, x)``."""

    op: str
    expr: Expr
    param: Expr | None = None
    grouping: tuple[str, ...] = ()
    without: bool = False


@dataclass(frozen=True, slots=True)
class VectorMatching:
    """How the two vectors of a binary operation are matched.

    Attributes:
        card: One-to-one, many-to-one (``group_left``), one-to-many (``group_right``),
            or many-to-many (set operators).
        on: Whether ``labels`` are the labels to match on (``on``) rather than to ignore.
        labels: The ``on(...)`` or ``ignoring(...)`` labels.
        include: Labels copied from the "one" side (``group_left(...)``).
    """

    card: Card = Card.ONE_TO_ONE
    on: bool = False
    labels: tuple[str, ...] = ()
    include: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Binary:
    """A binary operation; ``matching`` is set only when both sides are vectors."""

    op: str
    lhs: Expr
    rhs: Expr
    matching: VectorMatching | None = None
    return_bool: bool = False


@dataclass(frozen=True, slots=True)
class Unary:
    """Unary ``-`` or ``+``."""

    op: str
    expr: Expr


@dataclass(frozen=True, slots=True)
class Paren:
    """A parenthesised expression."""

    expr: Expr


Expr = (
    NumberLiteral
    | StringLiteral
    | VectorSelector
    | MatrixSelector
    | Call
    | Aggregate
    | Binary
    | Unary
    | Paren
)


@dataclass(frozen=True, slots=True)
class FunctionSpec:
    """Argument and return types of a supported function."""

    args: tuple[ValueType, ...]
    returns: ValueType


_S, _V, _M = ValueType.SCALAR, ValueType.VECTOR, ValueType.MATRIX
FUNCTIONS: dict[str, FunctionSpec] = {
    **{
        name: FunctionSpec((_M,), _V)
        for name in (
            "rate",
            "irate",
            "increase",
            "delta",
            "deriv",
            "avg_over_time",
            "max_over_time",
            "min_over_time",
            "sum_over_time",
            "count_over_time",
            "last_over_time",
        )
    },
    "predict_linear": FunctionSpec((_M, _S), _V),
    "quantile_over_time": FunctionSpec((_S, _M), _V),
    "histogram_quantile": FunctionSpec((_S, _V), _V),
    "abs": FunctionSpec((_V,), _V),
    "clamp_min": FunctionSpec((_V, _S), _V),
    "clamp_max": FunctionSpec((_V, _S), _V),
    "time": FunctionSpec((), _S),
    "vector": FunctionSpec((_S,), _V),
    "scalar": FunctionSpec((_V,), _S),
    "timestamp": FunctionSpec((_V,), _V),
    "absent": FunctionSpec((_V,), _V),
}
"""Functions the file source evaluates."""

OTHER_FUNCTIONS = frozenset(
    """absent_over_time acos acosh asin asinh atan atanh ceil changes clamp cos cosh
    day_of_month day_of_week day_of_year days_in_month deg exp floor histogram_count
    histogram_fraction histogram_stddev histogram_stdvar histogram_sum holt_winters hour
    idelta label_join label_replace ln log10 log2 minute month pi present_over_time rad
    resets round sgn sin sinh sort sort_desc sqrt stddev_over_time stdvar_over_time
    tan tanh year""".split()
)
"""Prometheus functions the file source does not evaluate (a live Prometheus does)."""

AGGREGATORS = frozenset({"sum", "avg", "max", "min", "count", "topk", "bottomk", "quantile"})
PARAM_AGGREGATORS = frozenset({"topk", "bottomk", "quantile"})
OTHER_AGGREGATORS = frozenset({"stddev", "stdvar", "count_values", "group"})


def value_type(expr: Expr) -> ValueType:
    """The static type of an expression."""
    match expr:
        case NumberLiteral():
            return ValueType.SCALAR
        case StringLiteral():
            return ValueType.STRING
        case VectorSelector() | Aggregate():
            return ValueType.VECTOR
        case MatrixSelector():
            return ValueType.MATRIX
        case Call(func=func):
            return FUNCTIONS[func].returns
        case Binary(lhs=lhs, rhs=rhs):
            scalar = ValueType.SCALAR
            both_scalar = value_type(lhs) is scalar and value_type(rhs) is scalar
            return scalar if both_scalar else ValueType.VECTOR
        case Unary(expr=inner) | Paren(expr=inner):
            return value_type(inner)


def unwrap_parens(expr: Expr) -> Expr:
    """``expr`` without enclosing parentheses."""
    while isinstance(expr, Paren):
        expr = expr.expr
    return expr


def render(expr: Expr) -> str:
    """Print ``expr`` with every operation parenthesised (for tests and logs)."""
    match expr:
        case NumberLiteral(value=value):
            return f"{value:g}"
        case StringLiteral(value=value):
            return repr(value)
        case VectorSelector():
            return _render_selector(expr)
        case MatrixSelector(vector=vector, range_ms=range_ms):
            text = _render_selector(vector, offset=False)
            offset = f" offset {vector.offset_ms}ms" if vector.has_offset else ""
            return f"{text}[{range_ms}ms]{offset}"
        case Call(func=func, args=args):
            return f"{func}({', '.join(render(a) for a in args)})"
        case Aggregate():
            operands = ([render(expr.param)] if expr.param else []) + [render(expr.expr)]
            clause = " without" if expr.without else (" by" if expr.grouping else "")
            grouping = f"{clause} ({', '.join(expr.grouping)})" if clause else ""
            return f"{expr.op}{grouping}({', '.join(operands)})"
        case Binary():
            return f"({render(expr.lhs)} {expr.op}{_render_modifiers(expr)} {render(expr.rhs)})"
        case Unary(op=op, expr=inner):
            return f"({op}{render(inner)})"
        case Paren(expr=inner):
            return render(inner)


def _render_selector(selector: VectorSelector, *, offset: bool = True) -> str:
    matchers = [m for m in selector.matchers if not (m.name == "__name__" and selector.name)]
    inner = ", ".join(f"{m.name}{m.op}{m.value!r}" for m in matchers)
    text = (selector.name or "") + (f"{{{inner}}}" if inner or not selector.name else "")
    return text + (f" offset {selector.offset_ms}ms" if offset and selector.has_offset else "")


def _render_modifiers(expr: Binary) -> str:
    text = " bool" if expr.return_bool else ""
    matching = expr.matching
    grouped = matching is not None and matching.card in (Card.MANY_TO_ONE, Card.ONE_TO_MANY)
    if matching is None or not (matching.on or matching.labels or grouped):
        return text
    text += f" {'on' if matching.on else 'ignoring'}({', '.join(matching.labels)})"
    if matching.card is Card.MANY_TO_ONE:
        text += f" group_left({', '.join(matching.include)})"
    elif matching.card is Card.ONE_TO_MANY:
        text += f" group_right({', '.join(matching.include)})"
    return text
