"""Tokenizer of PromQL for the file metrics source (used by :mod:`tools.promql_parser`).

Follows Prometheus's lexer where it matters for the supported subset: numbers (decimal,
hex, ``Inf``/``NaN``), durations (``5m``, ``1h30m``, ``500ms``), the three string quotes
with Go escapes, identifiers (metric names may contain ``:`` outside brackets), operators
and ``#`` comments. :class:`TokenStream` is the parser's cursor over them. A malformed
token raises :class:`~memory.errors.UpstreamHTTPError` with status 400 and a
``line:column`` position, like Prometheus's ``bad_data`` answer.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

from memory.errors import UpstreamHTTPError

_DURATION_UNITS_MS = {
    "ms": 1,
    "s": 1000,
    "m": 60_000,
    "h": 3_600_000,
    "d": 86_400_000,
    "w": 604_800_000,
    "y": 31_536_000_000,
}
_DURATION = re.compile(r"(?:\d+(?:ms|[smhdwy]))+")
_DURATION_PART = re.compile(r"(\d+)(ms|[smhdwy])")
_NUMBER = re.compile(r"0[xX][0-9a-fA-F]+|(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")
_IDENT = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
_METRIC_IDENT = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
_SYMBOLS = (
    "==",
    "!=",
    "<=",
    ">=",
    "=~",
    "!~",
    "=",
    "<",
    ">",
    "+",
    "-",
    "*",
    "/",
    "%",
    "^",
    "(",
    ")",
    "{",
    "}",
    "[",
    "]",
    ",",
    ":",
    "@",
)
_DIGITS = "0123456789"
_DIGITS_NONEMPTY = tuple(_DIGITS)
_IDENT_START = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_"
_SIMPLE_ESCAPES = {
    "a": "\a",
    "b": "\b",
    "f": "\f",
    "n": "\n",
    "r": "\r",
    "t": "\t",
    "v": "\v",
    "\\": "\\",
    "'": "'",
    '"': '"',
}
_HEX_ESCAPES = {"x": 2, "u": 4, "U": 8}


class Kind(StrEnum):
    """Kind of a token."""

    NUMBER = "number"
    DURATION = "duration"
    STRING = "string"
    IDENT = "identifier"
    SYMBOL = "symbol"
    EOF = "end of input"


@dataclass(frozen=True, slots=True)
class Token:
    """One token: its kind, source text, offset and decoded value.

    Attributes:
        kind: What the token is.
        text: The source text of the token.
        pos: Offset of its first character in the query.
        number: Value of a number, or milliseconds of a duration.
        string: Decoded content of a string literal.
    """

    kind: Kind
    text: str
    pos: int
    number: float = 0.0
    string: str = ""

    def describe(self) -> str:
        """The token as parse errors name it (``"*"``, ``identifier "foo"``, ...)."""
        if self.kind is Kind.EOF:
            return "end of input"
        if self.kind is Kind.SYMBOL:
            return f'"{self.text}"'
        return f'{self.kind.value} "{self.text}"'


_UNCLOSED = {
    "parenthesized expression": "unclosed left parenthesis",
    "function call": "unclosed left parenthesis",
    "aggregation": "unclosed left parenthesis",
    "label matching": "unexpected end of input inside braces",
}


class TokenStream:
    """A cursor over the tokens of one query, with Prometheus-style error helpers.

    Args:
        text: The query.

    Raises:
        UpstreamHTTPError: (400) the query cannot be tokenized.
    """

    def __init__(self, text: str) -> None:
        self.text = text
        self._tokens = tokenize(text)
        self._i = 0

    def peek(self) -> Token:
        """The next token, not consumed."""
        return self._tokens[self._i]

    def next(self) -> Token:
        """Consume and return the next token (``EOF`` stays put)."""
        token = self._tokens[self._i]
        if token.kind is not Kind.EOF:
            self._i += 1
        return token

    def at(self, symbol: str) -> bool:
        """Whether the next token is ``symbol``."""
        token = self.peek()
        return token.kind is Kind.SYMBOL and token.text == symbol

    def at_keyword(self, *words: str) -> bool:
        """Whether the next token is one of ``words`` (case-insensitive, like PromQL)."""
        token = self.peek()
        return token.kind is Kind.IDENT and token.text.lower() in words

    def expect(self, symbol: str, context: str) -> Token:
        """Consume ``symbol`` or raise a parse error naming ``context``."""
        token = self.peek()
        if not self.at(symbol):
            if token.kind is Kind.EOF and context in _UNCLOSED:
                raise self.error(token.pos, _UNCLOSED[context])
            raise self.unexpected(token, f' in {context}, expected "{symbol}"')
        return self.next()

    def error(self, pos: int, message: str) -> UpstreamHTTPError:
        """A parse error at offset ``pos``."""
        return syntax_error(self.text, pos=pos, message=message)

    def unexpected(self, token: Token, suffix: str = "") -> UpstreamHTTPError:
        """A parse error for an unexpected token."""
        return self.error(token.pos, f"unexpected {token.describe()}{suffix}")


def syntax_error(text: str, *, pos: int, message: str) -> UpstreamHTTPError:
    """A parse error at offset ``pos`` of ``text``, worded like Prometheus's."""
    line = text.count("\n", 0, pos) + 1
    column = pos - (text.rfind("\n", 0, pos) + 1) + 1
    return UpstreamHTTPError(f"{line}:{column}: parse error: {message}", status_code=400)


def duration_ms(text: str) -> int:
    """Milliseconds of a Prometheus duration such as ``1h30m`` (no validation)."""
    return sum(int(n) * _DURATION_UNITS_MS[u] for n, u in _DURATION_PART.findall(text))


def tokenize(text: str) -> list[Token]:
    """Split a PromQL expression into tokens, ending with an ``EOF`` token.

    Raises:
        UpstreamHTTPError: (400) a character or literal is malformed.
    """
    tokens: list[Token] = []
    pos = 0
    brackets = 0  # inside [...], ':' separates a subquery range and step
    while pos < len(text):
        char = text[pos]
        if char.isspace():
            pos += 1
        elif char == "#":
            end = text.find("\n", pos)
            pos = len(text) if end < 0 else end
        elif char in _DIGITS or (char == "." and text[pos + 1 : pos + 2] in _DIGITS_NONEMPTY):
            token = _number_or_duration(text, pos)
            tokens.append(token)
            pos += len(token.text)
        elif char in "\"'`":
            token = _string(text, pos)
            tokens.append(token)
            pos += len(token.text)
        elif char in _IDENT_START or (char == ":" and not brackets):
            match = (_IDENT if brackets else _METRIC_IDENT).match(text, pos)
            assert match is not None  # the first character is a valid start
            word = match.group()
            if word.lower() in ("inf", "nan"):
                tokens.append(Token(Kind.NUMBER, word, pos, number=float(word)))
            else:
                tokens.append(Token(Kind.IDENT, word, pos))
            pos = match.end()
        else:
            symbol = next((s for s in _SYMBOLS if text.startswith(s, pos)), None)
            if symbol is None:
                raise syntax_error(text, pos=pos, message=f"unexpected character: {char!r}")
            brackets += {"[": 1, "]": -1}.get(symbol, 0)
            tokens.append(Token(Kind.SYMBOL, symbol, pos))
            pos += len(symbol)
    tokens.append(Token(Kind.EOF, "", len(text)))
    return tokens


def _number_or_duration(text: str, pos: int) -> Token:
    duration = _DURATION.match(text, pos)
    if duration and not _continues_word(text, duration.end()):
        word = duration.group()
        if duration_ms(word) == 0:
            raise syntax_error(text, pos=pos, message="duration must be greater than 0")
        return Token(Kind.DURATION, word, pos, number=float(duration_ms(word)))
    number = _NUMBER.match(text, pos)
    if number is None or _continues_word(text, number.end()):
        raise syntax_error(text, pos=pos, message="bad number or duration syntax")
    word = number.group()
    value = float(int(word, 16)) if word[:2].lower() == "0x" else float(word)
    return Token(Kind.NUMBER, word, pos, number=value)


def _continues_word(text: str, pos: int) -> bool:
    return pos < len(text) and (text[pos] in _IDENT_START or text[pos] in _DIGITS + ".")


def _string(text: str, pos: int) -> Token:
    quote = text[pos]
    out: list[str] = []
    i = pos + 1
    while i < len(text):
        char = text[i]
        if char == quote:
            return Token(Kind.STRING, text[pos : i + 1], pos, string="".join(out))
        if quote != "`" and char == "\n":
            break
        if quote != "`" and char == "\\":
            escaped = _escape(text, i)
            if escaped is None:
                raise syntax_error(text, pos=pos, message="unknown escape sequence")
            decoded, i = escaped
            out.append(decoded)
            continue
        out.append(char)
        i += 1
    raise syntax_error(text, pos=pos, message="unterminated quoted string")


def _escape(text: str, pos: int) -> tuple[str, int] | None:
    """Decode the Go escape sequence at the backslash at ``pos`` (``None`` if invalid)."""
    code = text[pos + 1 : pos + 2]
    if code in _SIMPLE_ESCAPES:
        return _SIMPLE_ESCAPES[code], pos + 2
    if code in _HEX_ESCAPES:
        digits = text[pos + 2 : pos + 2 + _HEX_ESCAPES[code]]
        if len(digits) == _HEX_ESCAPES[code] and all(c in "0123456789abcdefABCDEF" for c in digits):
            return chr(int(digits, 16)), pos + 2 + len(digits)
    elif code in "01234567" and code:
        digits = text[pos + 1 : pos + 4]
        if len(digits) == 3 and all(c in "01234567" for c in digits) and int(digits, 8) < 256:
            return chr(int(digits, 8)), pos + 4
    return None
