"""Recursive-descent (Pratt) parser of the PromQL subset the file metrics source evaluates.

:func:`parse` turns a query into a :mod:`tools.promql_ast` tree and applies Prometheus's
static checks (argument counts and types, ``bool`` only on comparisons, set operators only
between vectors, ...). Operator precedence, lowest first, is that of Prometheus: ``or``;
``and``/``unless``; comparisons; ``+ -``; ``* / %``; ``^`` (right-associative). Unary
minus binds tighter than ``*`` but looser than ``^`` (``-2 ^ 2`` is ``-4``).

Errors:

* a syntax or type error raises :class:`~memory.errors.UpstreamHTTPError` (status 400)
  whose message is ``line:column: parse error: ...``, as Prometheus's ``bad_data``;
* valid PromQL outside the subset (subqueries, ``@``, ``atan2``, other functions and
  aggregations) raises :class:`~memory.errors.IntegrationError` naming the construct.
"""

from __future__ import annotations

import re

from memory.errors import IntegrationError
from tools.promql_ast import (
    AGGREGATORS,
    COMPARISONS,
    FUNCTIONS,
    OTHER_AGGREGATORS,
    OTHER_FUNCTIONS,
    PARAM_AGGREGATORS,
    SET_OPERATORS,
    Aggregate,
    Binary,
    Call,
    Card,
    Expr,
    LabelMatcher,
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
from tools.promql_lexer import Kind, Token, TokenStream, syntax_error

_PRECEDENCE = {
    "or": 1,
    "and": 2,
    "unless": 2,
    **dict.fromkeys(COMPARISONS, 3),
    "+": 4,
    "-": 4,
    "*": 5,
    "/": 5,
    "%": 5,
    "atan2": 5,
    "^": 6,
}
_KEYWORDS = frozenset(
    {"by", "without", "on", "ignoring", "group_left", "group_right", "bool", "offset"}
    | SET_OPERATORS
    | {"atan2"}
)
_LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
_MATCH_OPS = ("=", "!=", "=~", "!~")


def unsupported(construct: str) -> IntegrationError:
    """The error for valid PromQL that the file metrics source does not evaluate."""
    return IntegrationError(
        f"{construct} is not supported by the file metrics source, which evaluates only a "
        "PromQL subset; use a live Prometheus for this query"
    )


def parse(query: str) -> Expr:
    """Parse a PromQL expression of the supported subset.

    Raises:
        UpstreamHTTPError: (400) the query is not valid PromQL.
        IntegrationError: the query uses PromQL the file source does not support.
    """
    return _Parser(query).parse()


def parse_selector(query: str) -> VectorSelector:
    """Parse a series selector (``match[]`` of the metadata APIs).

    Raises:
        UpstreamHTTPError: (400) the text is not a plain instant vector selector.
    """
    expr = _Parser(query).parse()
    if not isinstance(expr, VectorSelector) or expr.has_offset:
        raise syntax_error(query, pos=0, message='expected a series selector such as up{job="x"}')
    return expr


class _Parser(TokenStream):
    # -- expressions ----------------------------------------------------------------------

    def parse(self) -> Expr:
        if self.peek().kind is Kind.EOF:
            raise self.error(0, "no expression found in input")
        expr = self._expr(0)
        if self.peek().kind is not Kind.EOF:
            raise self.unexpected(self.peek())
        return expr

    def _binary_op(self) -> str | None:
        token = self.peek()
        if token.kind is Kind.SYMBOL and token.text in _PRECEDENCE:
            return token.text
        if token.kind is Kind.IDENT and token.text.lower() in ("and", "or", "unless", "atan2"):
            return token.text.lower()
        return None

    def _expr(self, min_precedence: int) -> Expr:
        start = self.peek().pos
        lhs = self._unary()
        while (op := self._binary_op()) is not None and _PRECEDENCE[op] >= min_precedence:
            token = self.next()
            if op == "atan2":
                raise unsupported("the atan2 operator")
            return_bool, matching = self._modifiers(token, start)
            rhs = self._expr(_PRECEDENCE[op] + (0 if op == "^" else 1))
            lhs = self._binary(
                token, start=start, lhs=lhs, rhs=rhs, return_bool=return_bool, matching=matching
            )
        return lhs

    def _unary(self) -> Expr:
        if self.at("-") or self.at("+"):
            token = self.next()
            operand = self._expr(_PRECEDENCE["^"])
            if value_type(operand) not in (ValueType.SCALAR, ValueType.VECTOR):
                raise self.error(
                    token.pos,
                    "unary expression only allowed on expressions of type scalar or instant vector"
                    f", got {value_type(operand)}",
                )
            return Unary(token.text, operand)
        start = self.peek().pos
        return self._postfix(self._primary(), start)

    def _primary(self) -> Expr:
        token = self.next()
        if token.kind is Kind.NUMBER:
            return NumberLiteral(token.number)
        if token.kind is Kind.STRING:
            return StringLiteral(token.string)
        if token.kind is Kind.SYMBOL and token.text == "(":
            inner = self._expr(0)
            self.expect(")", "parenthesized expression")
            return Paren(inner)
        if token.kind is Kind.SYMBOL and token.text == "{":
            return self._selector(None, token)
        if token.kind is Kind.IDENT:
            word = token.text.lower()
            if word in AGGREGATORS or word in OTHER_AGGREGATORS:
                return self._aggregate(token)
            if self.at("("):
                return self._call(token)
            if word not in _KEYWORDS:
                return self._selector(token.text, token)
        raise self.unexpected(token)

    def _postfix(self, expr: Expr, start: int) -> Expr:
        while True:
            if self.at("["):
                expr = self._range(expr)
            elif self.at_keyword("offset"):
                expr = self._offset(expr, start)
            elif self.at("@"):
                raise unsupported("the @ modifier")
            else:
                return expr

    def _range(self, expr: Expr) -> Expr:
        bracket = self.next()
        duration = self.next()
        if duration.kind is Kind.NUMBER:
            raise self.error(duration.pos, "missing unit character in duration")
        if duration.kind is not Kind.DURATION:
            raise self.unexpected(duration, " in range, expected duration")
        if self.at(":"):
            raise unsupported("a subquery")
        self.expect("]", "range")
        if not isinstance(expr, VectorSelector):
            raise self.error(bracket.pos, "ranges only allowed for vector selectors")
        if expr.has_offset:
            raise self.error(bracket.pos, "no offset modifiers allowed before range")
        return MatrixSelector(expr, int(duration.number))

    def _offset(self, expr: Expr, start: int) -> Expr:
        self.next()
        sign = -1 if self.at("-") else 1
        if self.at("-") or self.at("+"):
            self.next()
        duration = self.next()
        if duration.kind is not Kind.DURATION:
            raise self.unexpected(duration, " in offset, expected duration")
        offset_ms = sign * int(duration.number)
        selector = expr.vector if isinstance(expr, MatrixSelector) else expr
        if not isinstance(selector, VectorSelector):
            raise self.error(
                start,
                "offset modifier must be preceded by an instant vector selector or range "
                "vector selector or a subquery",
            )
        if selector.has_offset:
            raise self.error(start, "offset may not be set multiple times")
        moved = VectorSelector(selector.name, selector.matchers, offset_ms, has_offset=True)
        return MatrixSelector(moved, expr.range_ms) if isinstance(expr, MatrixSelector) else moved

    # -- selectors ------------------------------------------------------------------------

    def _selector(self, name: str | None, start: Token) -> VectorSelector:
        matchers = [LabelMatcher("__name__", "=", name)] if name else []
        if name is None or self.at("{"):
            if name is not None:
                self.next()
            while not self.at("}"):
                matcher = self._matcher()
                if matcher.name == "__name__" and name:
                    raise self.error(
                        start.pos,
                        f'metric name must not be set twice: "{name}" or "{matcher.value}"',
                    )
                matchers.append(matcher)
                if not self.at("}"):
                    self.expect(",", "label matching")
            self.next()
        if name is None and all(m.matches("") for m in matchers):
            raise self.error(
                start.pos, "vector selector must contain at least one non-empty matcher"
            )
        return VectorSelector(name, tuple(matchers))

    def _matcher(self) -> LabelMatcher:
        label = self.next()
        if label.kind is Kind.EOF:
            raise self.error(label.pos, "unexpected end of input inside braces")
        if label.kind is not Kind.IDENT or not _LABEL_NAME.fullmatch(label.text):
            raise self.unexpected(label, " in label matching, expected label")
        op = self.next()
        if op.kind is not Kind.SYMBOL or op.text not in _MATCH_OPS:
            raise self.unexpected(op, " in label matching, expected label matching operator")
        value = self.next()
        if value.kind is not Kind.STRING:
            raise self.unexpected(value, " in label matching, expected string")
        regex = None
        if op.text in ("=~", "!~"):
            try:
                regex = re.compile(f"(?:{value.string})", re.ASCII)
            except re.error as exc:
                raise self.error(label.pos, f"error parsing regexp: {exc}") from None
        return LabelMatcher(label.text, op.text, value.string, regex)

    def _labels(self, context: str) -> tuple[str, ...]:
        self.expect("(", context)
        names: list[str] = []
        while not self.at(")"):
            token = self.next()
            if token.kind is not Kind.IDENT or not _LABEL_NAME.fullmatch(token.text):
                raise self.unexpected(token, f" in {context}, expected label")
            names.append(token.text)
            if not self.at(")"):
                self.expect(",", context)
        self.next()
        return tuple(names)

    # -- calls and aggregations -----------------------------------------------------------

    def _args(self, context: str) -> list[tuple[Expr, int]]:
        """Parenthesised arguments, each with the offset where it starts."""
        self.expect("(", context)
        args: list[tuple[Expr, int]] = []
        while not self.at(")"):
            start = self.peek().pos
            args.append((self._expr(0), start))
            if not self.at(")"):
                self.expect(",", context)
        self.next()
        return args

    def _call(self, token: Token) -> Expr:
        name = token.text
        if name not in FUNCTIONS:
            if name in OTHER_FUNCTIONS:
                raise unsupported(f"function {name}()")
            raise self.error(token.pos, f'unknown function with name "{name}"')
        args = self._args("function call")
        spec = FUNCTIONS[name]
        if len(args) != len(spec.args):
            raise self.error(
                token.pos,
                f'expected {len(spec.args)} argument(s) in call to "{name}", got {len(args)}',
            )
        for (arg, start), expected in zip(args, spec.args, strict=True):
            if value_type(arg) is not expected:
                raise self.error(
                    start,
                    f'expected type {expected} in call to function "{name}", got {value_type(arg)}',
                )
        return Call(name, tuple(arg for arg, _ in args))

    def _aggregate(self, token: Token) -> Expr:
        op = token.text.lower()
        if op in OTHER_AGGREGATORS:
            raise unsupported(f"aggregation {op}")
        grouping: tuple[str, ...] = ()
        without = False
        has_grouping = self.at_keyword("by", "without")
        if has_grouping:
            without = self.next().text.lower() == "without"
            grouping = self._labels("grouping opts")
        args = self._args("aggregation")
        if not has_grouping and self.at_keyword("by", "without"):
            without = self.next().text.lower() == "without"
            grouping = self._labels("grouping opts")
        wanted = 2 if op in PARAM_AGGREGATORS else 1
        if len(args) != wanted:
            raise self.error(
                token.pos,
                "wrong number of arguments for aggregate expression provided, "
                f"expected {wanted}, got {len(args)}",
            )
        expr, expr_pos = args[-1]
        if value_type(expr) is not ValueType.VECTOR:
            raise self.error(
                expr_pos,
                f"expected type instant vector in aggregation expression, got {value_type(expr)}",
            )
        param, param_pos = args[0] if wanted == 2 else (None, 0)
        if param is not None and value_type(param) is not ValueType.SCALAR:
            raise self.error(
                param_pos,
                f"expected type scalar in aggregation parameter, got {value_type(param)}",
            )
        return Aggregate(op, expr, param, grouping, without)

    # -- binary operations ----------------------------------------------------------------

    def _modifiers(self, token: Token, start: int) -> tuple[bool, VectorMatching | None]:
        op = token.text.lower()
        return_bool = False
        if self.at_keyword("bool"):
            self.next()
            if op not in COMPARISONS:
                raise self.error(
                    token.pos, "bool modifier can only be used on comparison operators"
                )
            return_bool = True
        if not self.at_keyword("on", "ignoring"):
            return return_bool, None
        on = self.next().text.lower() == "on"
        labels = self._labels("grouping opts")
        card = Card.MANY_TO_MANY if op in SET_OPERATORS else Card.ONE_TO_ONE
        include: tuple[str, ...] = ()
        if self.at_keyword("group_left", "group_right"):
            keyword = self.next()
            if op in SET_OPERATORS:
                raise self.error(start, f'no grouping allowed for "{op}" operation')
            left = keyword.text.lower() == "group_left"
            card = Card.MANY_TO_ONE if left else Card.ONE_TO_MANY
            include = self._labels("grouping opts") if self.at("(") else ()
            if on:
                for name in include:
                    if name in labels:
                        raise self.error(
                            token.pos,
                            f'label "{name}" must not occur in ON and GROUP clause at once',
                        )
        return return_bool, VectorMatching(card, on, labels, include)

    def _binary(
        self,
        token: Token,
        *,
        start: int,
        lhs: Expr,
        rhs: Expr,
        return_bool: bool,
        matching: VectorMatching | None,
    ) -> Binary:
        op = token.text.lower()
        lt, rt = value_type(lhs), value_type(rhs)
        operands = (ValueType.SCALAR, ValueType.VECTOR)
        if lt not in operands or rt not in operands:
            raise self.error(
                start, "binary expression must contain only scalar and instant vector types"
            )
        vectors = lt is ValueType.VECTOR and rt is ValueType.VECTOR
        if op in SET_OPERATORS and not vectors:
            raise self.error(start, f'set operator "{op}" not allowed in binary scalar expression')
        if op in COMPARISONS and not return_bool and lt is rt is ValueType.SCALAR:
            raise self.error(token.pos, "comparisons between scalars must use BOOL modifier")
        if not vectors:
            if matching is not None and matching.labels:
                raise self.error(start, "vector matching only allowed between instant vectors")
            matching = None
        elif matching is None:
            card = Card.MANY_TO_MANY if op in SET_OPERATORS else Card.ONE_TO_ONE
            matching = VectorMatching(card)
        return Binary(op, lhs, rhs, matching, return_bool)
