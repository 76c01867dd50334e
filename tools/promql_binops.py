"""Binary operators of the PromQL evaluator, with Prometheus's vector matching.

Scalar/vector operations apply to every sample; vector/vector operations match samples by
their label sets (all labels but ``__name__``, or ``on(...)``/``ignoring(...)``),
one-to-one unless ``group_left``/``group_right`` names the "many" side. Arithmetic and
``bool`` comparisons drop ``__name__``; filtering comparisons keep the left value (the
vector's, for a scalar on the left). ``and``/``or``/``unless`` keep samples unchanged.
Duplicate matches raise ``UpstreamHTTPError(422)`` with Prometheus's messages.
"""

from __future__ import annotations

from tools.promql_ast import ARITHMETIC, COMPARISONS, Card, VectorMatching
from tools.promql_math import go_div, go_mod, go_pow
from tools.promql_values import Labels, Sample, drop_name, execution_error


def elem_binop(op: str, *, lhs: float, rhs: float) -> tuple[float, bool]:
    """Prometheus's ``vectorElemBinop``: the value, and whether a comparison holds."""
    match op:
        case "+":
            return lhs + rhs, True
        case "-":
            return lhs - rhs, True
        case "*":
            return lhs * rhs, True
        case "/":
            return go_div(lhs, rhs), True
        case "%":
            return go_mod(lhs, rhs), True
        case "^":
            return go_pow(lhs, rhs), True
        case "==":
            return lhs, lhs == rhs
        case "!=":
            return lhs, lhs != rhs
        case "<":
            return lhs, lhs < rhs
        case "<=":
            return lhs, lhs <= rhs
        case ">":
            return lhs, lhs > rhs
        case ">=":
            return lhs, lhs >= rhs
    raise AssertionError(f"not an element operator: {op}")


def set_operation(
    op: str, *, lhs: list[Sample], rhs: list[Sample], matching: VectorMatching
) -> list[Sample]:
    """``and``, ``or`` or ``unless`` of two vectors."""
    if op == "or":
        keys = {_signature(s.labels, matching) for s in lhs}
        return lhs + [s for s in rhs if _signature(s.labels, matching) not in keys]
    keys = {_signature(s.labels, matching) for s in rhs}
    if op == "and":
        return [s for s in lhs if _signature(s.labels, matching) in keys] if rhs else []
    return [s for s in lhs if _signature(s.labels, matching) not in keys]


def _signature(labels: Labels, matching: VectorMatching) -> Labels:
    if matching.on:
        return tuple(p for p in labels if p[0] in matching.labels)
    return tuple(p for p in labels if p[0] not in matching.labels and p[0] != "__name__")


def vector_scalar(
    op: str, *, samples: list[Sample], scalar: float, swap: bool, ts: int, bool_: bool
) -> list[Sample]:
    """Apply ``op`` between every sample and a scalar (on the left when ``swap``)."""
    out = []
    for sample in samples:
        lhs, rhs = (scalar, sample.value) if swap else (sample.value, scalar)
        value, keep = elem_binop(op, lhs=lhs, rhs=rhs)
        if op in COMPARISONS and swap:
            value = rhs  # a filtering comparison keeps the vector's value
        if bool_:
            value, keep = (1.0 if keep else 0.0), True
        if keep:
            drop = op in ARITHMETIC or bool_
            out.append(Sample(drop_name(sample.labels) if drop else sample.labels, value, ts))
    return out


def vector_vector(
    op: str,
    *,
    lhs: list[Sample],
    rhs: list[Sample],
    matching: VectorMatching,
    ts: int,
    bool_: bool,
) -> list[Sample]:
    """Apply an arithmetic or comparison ``op`` between two matched vectors.

    Raises:
        UpstreamHTTPError: (422) the matching is many-to-many or not unique.
    """
    one_to_many = matching.card is Card.ONE_TO_MANY
    if one_to_many:
        lhs, rhs = rhs, lhs
    one_side: dict[Labels, Sample] = {}
    for sample in rhs:
        sig = _signature(sample.labels, matching)
        if sig in one_side:
            side = "left" if one_to_many else "right"
            raise execution_error(
                f"found duplicate series for the match group {_fmt(sig)} on the {side} "
                f"hand-side of the operation: [{_fmt(sample.labels)}, "
                f"{_fmt(one_side[sig].labels)}];many-to-many matching not allowed: "
                "matching labels must be unique on one side"
            )
        one_side[sig] = sample
    matched: dict[Labels, set[Labels]] = {}
    out = []
    for sample in lhs:
        sig = _signature(sample.labels, matching)
        other = one_side.get(sig)
        if other is None:
            continue
        left, right = (other.value, sample.value) if one_to_many else (sample.value, other.value)
        value, keep = elem_binop(op, lhs=left, rhs=right)
        if bool_:
            value = 1.0 if keep else 0.0
        elif not keep:
            continue
        labels = _result_labels(sample.labels, other.labels, op=op, matching=matching)
        if bool_:
            labels = drop_name(labels)
        seen = matched.setdefault(sig, set())
        if matching.card is Card.ONE_TO_ONE:
            if seen:
                raise execution_error(
                    "multiple matches for labels: many-to-one matching must be explicit "
                    "(group_left/group_right)"
                )
        elif labels in seen:
            raise execution_error(
                "multiple matches for labels: grouping labels must ensure unique matches"
            )
        seen.add(labels)
        out.append(Sample(labels, value, ts))
    return out


def _result_labels(many: Labels, one: Labels, *, op: str, matching: VectorMatching) -> Labels:
    result = dict(many)
    if op in ARITHMETIC:
        result.pop("__name__", None)
    if matching.card is Card.ONE_TO_ONE:
        if matching.on:
            result = {k: v for k, v in result.items() if k in matching.labels}
        else:
            result = {k: v for k, v in result.items() if k not in matching.labels}
    one_map = dict(one)
    for name in matching.include:
        if one_map.get(name):
            result[name] = one_map[name]
        else:
            result.pop(name, None)
    return tuple(sorted(result.items()))


def _fmt(labels: Labels) -> str:
    return "{" + ", ".join(f'{k}="{v}"' for k, v in labels) + "}"
