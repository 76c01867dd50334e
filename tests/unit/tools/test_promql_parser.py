"""PromQL parser of the file metrics source: precedence, errors, unsupported constructs."""

from __future__ import annotations

import math

import pytest

from memory.errors import IntegrationError, UpstreamHTTPError
from tools.promql_ast import (
    Aggregate,
    Binary,
    Card,
    MatrixSelector,
    NumberLiteral,
    ValueType,
    VectorSelector,
    render,
    value_type,
)
from tools.promql_lexer import Kind, tokenize
from tools.promql_parser import parse, parse_selector


@pytest.mark.parametrize(
    ("query", "tree"),
    [
        ("1 + 2 * 3", "(1 + (2 * 3))"),
        ("1 * 2 + 3", "((1 * 2) + 3)"),
        ("10 - 2 - 3", "((10 - 2) - 3)"),
        ("100 / 10 / 2", "((100 / 10) / 2)"),
        ("2 ^ 3 ^ 2", "(2 ^ (3 ^ 2))"),
        ("-2 ^ 2", "(-(2 ^ 2))"),
        ("-a * b", "((-a) * b)"),
        ("a * -b ^ c", "(a * (-(b ^ c)))"),
        ("2 ^ -1", "(2 ^ (-1))"),
        ("a + b % c", "(a + (b % c))"),
        ("a > b + 1", "(a > (b + 1))"),
        ("a or b and c unless d", "(a or ((b and c) unless d))"),
        ("a and b > bool 1", "(a and (b > bool 1))"),
        ("(1 + 2) * 3", "((1 + 2) * 3)"),
        ("1 + 2 > bool 3 * 4", "((1 + 2) > bool (3 * 4))"),
        ("a / on(x) group_left(y) b", "(a / on(x) group_left(y) b)"),
        ("a - ignoring(x) group_right b", "(a - ignoring(x) group_right() b)"),
        ("a + on() b", "(a + on() b)"),
        ("a == ignoring(code) b", "(a == ignoring(code) b)"),
        ("sum by (job) (x)", "sum by (job)(x)"),
        ("sum(x) by (job)", "sum by (job)(x)"),
        ("SUM WITHOUT (a, b,) (x)", "sum without (a, b)(x)"),
        ("topk(3, x) by (a)", "topk by (a)(3, x)"),
        ("-foo offset 5m", "(-foo offset 300000ms)"),
        ("rate(x[1h30m] offset -5m)", "rate(x[5400000ms] offset -300000ms)"),
        ('x{a="b", c=~"d.*", e!="", f!~"g",}', "x{a='b', c=~'d.*', e!='', f!~'g'}"),
    ],
)
def test_parse_follows_prometheus_precedence(query: str, tree: str) -> None:
    assert render(parse(query)) == tree


def test_parse_builds_typed_nodes() -> None:
    expr = parse('sum by (job) (rate(http_requests_total{code=~"5.."}[5m] offset 1m))')
    assert isinstance(expr, Aggregate)
    assert value_type(expr) is ValueType.VECTOR
    call = expr.expr
    assert value_type(call) is ValueType.VECTOR
    matrix = call.args[0]  # type: ignore[union-attr]
    assert isinstance(matrix, MatrixSelector)
    assert matrix.range_ms == 300_000
    assert matrix.vector.offset_ms == 60_000
    assert [(m.name, m.op, m.value) for m in matrix.vector.matchers] == [
        ("__name__", "=", "http_requests_total"),
        ("code", "=~", "5.."),
    ]
    binary = parse("x / on(a) group_left(b) y")
    assert isinstance(binary, Binary) and binary.matching is not None
    assert binary.matching.card is Card.MANY_TO_ONE
    assert (binary.matching.on, binary.matching.labels, binary.matching.include) == (
        True,
        ("a",),
        ("b",),
    )
    assert parse("x and y").matching.card is Card.MANY_TO_MANY  # type: ignore[union-attr]
    assert value_type(parse("time() + 1")) is ValueType.SCALAR
    assert value_type(parse('"text"')) is ValueType.STRING


@pytest.mark.parametrize(
    ("text", "value"),
    [("42", 42.0), ("2.5e3", 2500.0), (".5", 0.5), ("0x1f", 31.0), ("Inf", math.inf)],
)
def test_number_literals(text: str, value: float) -> None:
    expr = parse(text)
    assert isinstance(expr, NumberLiteral) and expr.value == value


def test_nan_literal_and_comments() -> None:
    expr = parse("NaN # not a number\n")
    assert isinstance(expr, NumberLiteral) and math.isnan(expr.value)


def test_strings_decode_go_escapes_and_raw_backticks() -> None:
    selector = parse(r'x{a="q\"\n\x41\u00e9", b=' + "'s'" + ", c=`\\d+`}")
    assert isinstance(selector, VectorSelector)
    values = {m.name: m.value for m in selector.matchers}
    assert values == {"__name__": "x", "a": 'q"\nAé', "b": "s", "c": "\\d+"}


def test_regex_matchers_are_anchored() -> None:
    selector = parse('{job=~"check", code!~"5.."}')
    assert isinstance(selector, VectorSelector)
    job, code = selector.matchers
    assert job.matches("check") and not job.matches("checkout")
    assert code.matches("200") and not code.matches("503")


def test_tokenizer_keeps_colons_in_metric_names_but_not_in_brackets() -> None:
    kinds = [(t.kind, t.text) for t in tokenize("job:up:sum[5m:1m]")]
    assert kinds[0] == (Kind.IDENT, "job:up:sum")
    assert (Kind.SYMBOL, ":") in kinds
    assert (Kind.DURATION, "1m") in kinds


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("", "1:1: parse error: no expression found in input"),
        ("foo +* 1", '1:6: parse error: unexpected "*"'),
        ("rate(foo)", '1:6: parse error: expected type range vector in call to function "rate"'),
        ("sum(1)", "1:5: parse error: expected type instant vector in aggregation expression"),
        ("topk(x, y)", "1:6: parse error: expected type scalar in aggregation parameter"),
        ("topk(x)", "1:1: parse error: wrong number of arguments for aggregate expression"),
        ("rate(x[5m], 1)", '1:1: parse error: expected 1 argument(s) in call to "rate", got 2'),
        ("1 > 2", "1:3: parse error: comparisons between scalars must use BOOL modifier"),
        ("x + bool y", "1:3: parse error: bool modifier can only be used on comparison"),
        ("x and 1", '1:1: parse error: set operator "and" not allowed in binary scalar'),
        ("1 + on(a) x", "1:1: parse error: vector matching only allowed between instant"),
        ("x or on(a) group_left y", '1:1: parse error: no grouping allowed for "or" operation'),
        ("x == on(a) group_left(a) y", '1:3: parse error: label "a" must not occur in ON and'),
        ("x[5m] + 1", "1:1: parse error: binary expression must contain only scalar"),
        ("-x[5m]", "1:1: parse error: unary expression only allowed on expressions of type"),
        ("{}", "1:1: parse error: vector selector must contain at least one non-empty matcher"),
        ('{a=~".*"}', "1:1: parse error: vector selector must contain at least one non-empty"),
        ('x{__name__="y"}', '1:1: parse error: metric name must not be set twice: "x" or "y"'),
        ('x{a=~"("}', "1:3: parse error: error parsing regexp"),
        ('foo{a="b"', "1:10: parse error: unexpected end of input inside braces"),
        ("sum(x", "1:6: parse error: unclosed left parenthesis"),
        ("x[5]", "1:3: parse error: missing unit character in duration"),
        ("rate(x[0s])", "1:8: parse error: duration must be greater than 0"),
        ("x offset", "1:9: parse error: unexpected end of input in offset, expected duration"),
        ("sum(x) offset 5m", "1:1: parse error: offset modifier must be preceded by an instant"),
        ("x offset 5m offset 1m", "1:1: parse error: offset may not be set multiple times"),
        ("(x)[5m]", "1:4: parse error: ranges only allowed for vector selectors"),
        ("x offset 5m [5m]", "1:13: parse error: no offset modifiers allowed before range"),
        ("foo(1)", '1:1: parse error: unknown function with name "foo"'),
        ('"abc', "1:1: parse error: unterminated quoted string"),
        (r'x{a="\q"}', "1:5: parse error: unknown escape sequence"),
        ("5m", '1:1: parse error: unexpected duration "5m"'),
        ("1.2.3", "1:1: parse error: bad number or duration syntax"),
        ("x ! y", "1:3: parse error: unexpected character: '!'"),
        ("sum by (a) x", '1:12: parse error: unexpected identifier "x" in aggregation'),
        ("x\n  + by", '2:5: parse error: unexpected identifier "by"'),
    ],
)
def test_parse_errors_are_bad_data_with_position(query: str, message: str) -> None:
    with pytest.raises(UpstreamHTTPError) as caught:
        parse(query)
    assert caught.value.status_code == 400
    assert str(caught.value).startswith(message)


@pytest.mark.parametrize(
    ("query", "construct"),
    [
        ('label_replace(x, "a", "b", "c", "d")', "function label_replace()"),
        ("sort(x)", "function sort()"),
        ("max_over_time(rate(x[5m])[30m:1m])", "a subquery"),
        ("x @ 1768003200", "the @ modifier"),
        ("stddev(x)", "aggregation stddev"),
        ('count_values("v", x)', "aggregation count_values"),
        ("x atan2 y", "the atan2 operator"),
    ],
)
def test_unsupported_constructs_name_themselves_and_point_to_prometheus(
    query: str, construct: str
) -> None:
    with pytest.raises(IntegrationError) as caught:
        parse(query)
    assert not isinstance(caught.value, UpstreamHTTPError)
    message = str(caught.value)
    assert message.startswith(f"{construct} is not supported by the file metrics source")
    assert "PromQL subset" in message
    assert message.endswith("use a live Prometheus for this query")


def test_parse_selector_accepts_only_plain_selectors() -> None:
    selector = parse_selector('http_requests_total{code="500"}')
    assert selector.name == "http_requests_total"
    for text in ("sum(x)", "x offset 5m", "x[5m]"):
        with pytest.raises(UpstreamHTTPError, match="expected a series selector"):
            parse_selector(text)
