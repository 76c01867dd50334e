"""A small Go ``text/template`` engine: the subset of the language our Helm chart uses.

No Helm binary can be installed on the machines this project is built on, so
``scripts/helm_render.py`` renders the chart with this engine (plus the Sprig
functions the chart calls) and ``scripts/helm_validate.py`` prefers a real
``helm template`` whenever one is on ``PATH``.

What is supported, with Go's semantics:

* actions ``{{ pipeline }}`` with ``{{-`` / ``-}}`` trimming and ``{{/* comments */}}``;
* fields ``.A.b``, ``$``, variables ``$x`` / ``$x.a``, declaration ``:=`` and
  assignment ``=``, parenthesised pipelines (``(...).Field``), string, raw string,
  number, ``true``/``false``/``nil`` literals;
* pipelines ``a | f b`` (the piped value is the last argument) and method calls
  (a field holding a callable, e.g. ``.Capabilities.APIVersions.Has "x/v1"``);
* ``if``/``else if``/``else``, ``with``/``else with``/``else``, ``range`` over lists
  and maps (sorted keys, ``$i, $v :=``) with ``else``, ``define``, ``template``, ``end``;
* Go's built-in functions ``and or not eq ne lt le gt ge len index print printf println``
  (``and``/``or`` short-circuit and return an operand, as in Go 1.18+).

Not supported (a template using them fails loudly instead of rendering wrongly):
``block``, ``break``/``continue``, character constants, complex numbers, ``call``,
``slice`` and the ``html``/``js``/``urlquery`` escapers.

Known difference from Helm: Helm reads values through JSON, so every number is a
float64 and ``{{ 1000000 }}`` prints ``1e+06``; here integers stay integers.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

Function = Callable[..., Any]

KEYWORDS = frozenset(
    {"if", "else", "end", "range", "with", "define", "template", "block", "break", "continue"}
)
TRIM_CHARS = " \t\r\n"


class TemplateError(Exception):
    """A template failed to parse or to execute; the message names template and line."""


# --------------------------------------------------------------------------- lexing


@dataclass(frozen=True)
class Token:
    """One token inside an action."""

    # string number bool nil field var ident lparen rparen pipe decl assign comma chain
    kind: str
    value: str
    line: int


_TOKEN_RE = re.compile(
    r"""
    (?P<space>\s+)
  | (?P<string>"(?:[^"\\\n]|\\.)*")
  | (?P<raw>`[^`]*`)
  | (?P<char>'(?:[^'\\]|\\.)*')
  | (?P<decl>:=)
  | (?P<assign>=)
  | (?P<number>[-+]?(?:0[xX][0-9a-fA-F_]+|\d[\d_]*(?:\.\d+)?(?:[eE][-+]?\d+)?|\.\d+))
  | (?P<var>\$[A-Za-z0-9_]*(?:\.[A-Za-z0-9_]+)*)
  | (?P<field>(?:\.[A-Za-z0-9_]+)+|\.)
  | (?P<ident>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<lparen>\()
  | (?P<rparen>\)(?:\.[A-Za-z0-9_]+)*)
  | (?P<pipe>\|)
  | (?P<comma>,)
    """,
    re.VERBOSE,
)


def _lex_action(text: str, line: int, where: str) -> list[Token]:
    tokens: list[Token] = []
    pos = 0
    while pos < len(text):
        m = _TOKEN_RE.match(text, pos)
        if m is None:
            raise TemplateError(f"{where}:{line}: unexpected {text[pos]!r} in action")
        kind = m.lastgroup or ""
        value = m.group()
        if kind == "char":
            raise TemplateError(f"{where}:{line}: character constants are not supported")
        if kind == "raw":
            tokens.append(Token("string", value, line))
        elif kind == "ident" and value in ("true", "false"):
            tokens.append(Token("bool", value, line))
        elif kind == "ident" and value == "nil":
            tokens.append(Token("nil", value, line))
        elif kind == "rparen":
            tokens.append(Token("rparen", ")", line))
            if len(value) > 1:
                tokens.append(Token("chain", value[1:], line))
        elif kind != "space":
            tokens.append(Token(kind, value, line))
        line += value.count("\n")
        pos = m.end()
    return tokens


@dataclass(frozen=True)
class _Chunk:
    """Template text, or the body of one action (trim markers already applied)."""

    text: str
    line: int
    is_action: bool


def _find_action_end(src: str, start: int, where: str, line: int) -> int:
    """Index of the ``}}`` closing the action whose body starts at ``start``."""
    i = start
    quote: str | None = None
    while i < len(src):
        ch = src[i]
        if quote is not None:
            if ch == "\\" and quote == '"':
                i += 2
                continue
            if ch == quote:
                quote = None
        elif ch in "\"`'":
            quote = ch
        elif src.startswith("/*", i):
            close = src.find("*/", i + 2)
            if close < 0:
                raise TemplateError(f"{where}:{line}: unclosed comment")
            i = close + 2
            continue
        elif src.startswith("}}", i):
            return i
        i += 1
    raise TemplateError(f"{where}:{line}: unclosed action")


def _chunks(src: str, where: str) -> list[_Chunk]:
    chunks: list[_Chunk] = []
    pos = 0
    line = 1
    trim_next = False
    while True:
        open_at = src.find("{{", pos)
        text = src[pos:] if open_at < 0 else src[pos:open_at]
        if trim_next:
            stripped = text.lstrip(TRIM_CHARS)
            line += text[: len(text) - len(stripped)].count("\n")
            text = stripped
        if open_at < 0:
            if text:
                chunks.append(_Chunk(text, line, False))
            return chunks
        body_start = open_at + 2
        # "{{- " trims; "{{-3}}" is the number -3 (Go requires the space).
        if src.startswith("-", body_start) and src[body_start + 1 : body_start + 2] in (
            " ",
            "\t",
            "\r",
            "\n",
        ):
            text = text.rstrip(TRIM_CHARS)
            body_start += 1
        if text:
            chunks.append(_Chunk(text, line, False))
        line += src[pos:body_start].count("\n")
        end = _find_action_end(src, body_start, where, line)
        body = src[body_start:end]
        trim_next = False
        if body.endswith("-") and body[-2:-1] in (" ", "\t", "\r", "\n"):
            body = body[:-1]
            trim_next = True
        chunks.append(_Chunk(body, line, True))
        line += src[body_start : end + 2].count("\n")
        pos = end + 2


# --------------------------------------------------------------------------- parse tree


@dataclass
class Command:
    """Operands of one command; the first may be a function name."""

    args: list[Any]
    line: int


@dataclass
class Pipeline:
    """``[$a[, $b] :=|=] cmd | cmd ...``."""

    commands: list[Command]
    decl: list[str] = field(default_factory=list)
    is_assign: bool = False
    line: int = 0


@dataclass(frozen=True)
class Literal:
    """A constant operand."""

    value: Any


@dataclass(frozen=True)
class FieldRef:
    """``.A.b`` (``names`` empty for ``.``)."""

    names: tuple[str, ...]


@dataclass(frozen=True)
class VarRef:
    """``$x.a.b`` (``$`` alone has name ``$``)."""

    name: str
    names: tuple[str, ...]


@dataclass(frozen=True)
class FuncRef:
    """A function name in operand position."""

    name: str


@dataclass(frozen=True)
class SubPipeline:
    """``( pipeline ).a.b``."""

    pipeline: Pipeline
    names: tuple[str, ...]


@dataclass
class TextNode:
    """Literal text."""

    text: str


@dataclass
class ActionNode:
    """``{{ pipeline }}``: prints unless it declares or assigns variables."""

    pipeline: Pipeline


@dataclass
class Branch:
    """One ``if``/``with`` condition and its body (``pipeline`` None for ``else``)."""

    pipeline: Pipeline | None
    body: list[Any]


@dataclass
class IfNode:
    """``if``/``else if``/``else`` (``kind`` "if"), or the same shape for ``with``."""

    kind: str
    branches: list[Branch]


@dataclass
class RangeNode:
    """``range`` with an optional ``else``."""

    pipeline: Pipeline
    body: list[Any]
    else_body: list[Any]


@dataclass
class TemplateNode:
    """``template "name" [pipeline]``."""

    name: str
    pipeline: Pipeline | None
    line: int


def _names(chain: str) -> tuple[str, ...]:
    """``".a.b"`` → ``("a", "b")``."""
    return tuple(n for n in chain.split(".") if n)


class _Parser:
    def __init__(self, src: str, where: str, functions: Mapping[str, Function]) -> None:
        self.where = where
        self.functions = functions
        self.chunks = _chunks(src, where)
        self.pos = 0
        self.defines: dict[str, list[Any]] = {}

    def error(self, line: int, message: str) -> TemplateError:
        return TemplateError(f"{self.where}:{line}: {message}")

    def parse(self) -> list[Any]:
        body, stop = self.parse_list(top=True)
        if stop is not None:
            raise self.error(stop[1], f"unexpected {{{{{stop[0]}}}}}")
        return body

    def parse_list(
        self, top: bool = False
    ) -> tuple[list[Any], tuple[str, int, list[Token]] | None]:
        """Parse nodes until ``end``/``else`` (returned as the stop) or the end of input."""
        nodes: list[Any] = []
        while self.pos < len(self.chunks):
            chunk = self.chunks[self.pos]
            self.pos += 1
            if not chunk.is_action:
                nodes.append(TextNode(chunk.text))
                continue
            stripped = chunk.text.strip(TRIM_CHARS)
            if stripped.startswith("/*"):
                if not stripped.endswith("*/"):
                    raise self.error(chunk.line, "comment must end the action")
                continue
            tokens = _lex_action(chunk.text, chunk.line, self.where)
            if not tokens:
                raise self.error(chunk.line, "empty action")
            head = tokens[0]
            if head.kind == "ident" and head.value in ("end", "else"):
                return nodes, (head.value, head.line, tokens[1:])
            if head.kind == "ident" and head.value in ("if", "with"):
                nodes.append(self.parse_branches(head.value, tokens[1:], head.line))
            elif head.kind == "ident" and head.value == "range":
                nodes.append(self.parse_range(tokens[1:], head.line))
            elif head.kind == "ident" and head.value == "define":
                if not top:
                    raise self.error(head.line, "define is allowed only at the top level")
                self.parse_define(tokens[1:], head.line)
            elif head.kind == "ident" and head.value == "template":
                nodes.append(self.parse_template(tokens[1:], head.line))
            elif head.kind == "ident" and head.value in KEYWORDS:
                raise self.error(head.line, f"{{{{{head.value}}}}} is not supported")
            else:
                nodes.append(ActionNode(self.parse_pipeline(tokens, allow_decl=True)))
        return nodes, None

    def parse_branches(self, kind: str, tokens: list[Token], line: int) -> IfNode:
        branches = [Branch(self.parse_pipeline(tokens, allow_decl=True), [])]
        while True:
            body, stop = self.parse_list()
            branches[-1].body = body
            if stop is None:
                raise self.error(line, f"unclosed {{{{{kind}}}}}")
            word, stop_line, rest = stop
            if word == "end":
                if rest:
                    raise self.error(stop_line, "unexpected tokens after end")
                return IfNode(kind, branches)
            if branches[-1].pipeline is None:
                raise self.error(stop_line, "else after else")
            if not rest:
                branches.append(Branch(None, []))
            elif rest[0].kind == "ident" and rest[0].value == kind:
                branches.append(Branch(self.parse_pipeline(rest[1:], allow_decl=True), []))
            else:
                raise self.error(stop_line, f"expected else or else {kind} inside {kind}")

    def parse_range(self, tokens: list[Token], line: int) -> RangeNode:
        pipeline = self.parse_pipeline(tokens, allow_decl=True, max_decl=2)
        body, stop = self.parse_list()
        else_body: list[Any] = []
        if stop is not None and stop[0] == "else" and not stop[2]:
            else_body, stop = self.parse_list()
        if stop is None or stop[0] != "end" or stop[2]:
            raise self.error(line, "range must be closed by {{end}}")
        return RangeNode(pipeline, body, else_body)

    def parse_define(self, tokens: list[Token], line: int) -> None:
        if len(tokens) != 1 or tokens[0].kind != "string":
            raise self.error(line, "define takes one quoted name")
        name = self.unquote(tokens[0])
        body, stop = self.parse_list()
        if stop is None or stop[0] != "end" or stop[2]:
            raise self.error(line, f"define {name!r} must be closed by {{{{end}}}}")
        self.defines[name] = body

    def parse_template(self, tokens: list[Token], line: int) -> TemplateNode:
        if not tokens or tokens[0].kind != "string":
            raise self.error(line, "template takes a quoted name")
        name = self.unquote(tokens[0])
        pipeline = self.parse_pipeline(tokens[1:]) if len(tokens) > 1 else None
        return TemplateNode(name, pipeline, line)

    def unquote(self, token: Token) -> str:
        if token.value.startswith("`"):
            return token.value[1:-1]
        try:
            value = ast.literal_eval(token.value)
        except (SyntaxError, ValueError) as exc:
            raise self.error(token.line, f"bad string {token.value}: {exc}") from None
        if not isinstance(value, str):
            raise self.error(token.line, f"bad string {token.value}")
        return value

    def parse_pipeline(
        self, tokens: list[Token], *, allow_decl: bool = False, max_decl: int = 1
    ) -> Pipeline:
        line = tokens[0].line if tokens else 0
        decl: list[str] = []
        is_assign = False
        # "$x :=", "$x =", "$i, $v :="
        for i, tok in enumerate(tokens):
            if tok.kind in ("decl", "assign"):
                names = tokens[:i]
                ok = (
                    all(t.kind == ("var" if j % 2 == 0 else "comma") for j, t in enumerate(names))
                    and len(names) % 2 == 1
                )
                if not (allow_decl and ok) or "." in "".join(t.value for t in names):
                    raise self.error(tok.line, "bad variable declaration")
                decl = [t.value for t in names if t.kind == "var"]
                if len(decl) > max_decl:
                    raise self.error(tok.line, "too many declarations")
                is_assign = tok.kind == "assign"
                tokens = tokens[i + 1 :]
                break
            if tok.kind not in ("var", "comma"):
                break
        pos, pipeline = self.parse_commands(tokens, 0, line)
        if pos != len(tokens):
            raise self.error(tokens[pos].line, f"unexpected {tokens[pos].value!r}")
        pipeline.decl = decl
        pipeline.is_assign = is_assign
        return pipeline

    def parse_commands(self, tokens: list[Token], pos: int, line: int) -> tuple[int, Pipeline]:
        commands: list[Command] = []
        args: list[Any] = []
        while pos < len(tokens):
            tok = tokens[pos]
            if tok.kind == "rparen":
                break
            if tok.kind == "pipe":
                if not args:
                    raise self.error(tok.line, "missing command before |")
                commands.append(Command(args, tok.line))
                args = []
                pos += 1
                continue
            pos, operand = self.parse_operand(tokens, pos)
            args.append(operand)
        if not args:
            raise self.error(line, "missing command")
        commands.append(Command(args, tokens[pos - 1].line if pos else line))
        return pos, Pipeline(commands, line=line)

    def parse_operand(self, tokens: list[Token], pos: int) -> tuple[int, Any]:
        tok = tokens[pos]
        if tok.kind == "string":
            return pos + 1, Literal(self.unquote(tok))
        if tok.kind == "number":
            text = tok.value.replace("_", "")
            try:
                number: Any = (
                    int(text, 0)
                    if not any(c in text for c in ".eE") or text.lower().startswith(("0x", "-0x"))
                    else float(text)
                )
            except ValueError:
                raise self.error(tok.line, f"bad number {tok.value}") from None
            return pos + 1, Literal(number)
        if tok.kind == "bool":
            return pos + 1, Literal(tok.value == "true")
        if tok.kind == "nil":
            return pos + 1, Literal(None)
        if tok.kind == "field":
            return pos + 1, FieldRef(_names(tok.value))
        if tok.kind == "var":
            name, _, rest = tok.value.partition(".")
            return pos + 1, VarRef(name, _names(rest))
        if tok.kind == "ident":
            if tok.value in KEYWORDS:
                raise self.error(tok.line, f"unexpected keyword {tok.value!r}")
            if tok.value not in self.functions:
                raise self.error(tok.line, f'function "{tok.value}" not defined')
            return pos + 1, FuncRef(tok.value)
        if tok.kind == "lparen":
            end, inner = self.parse_commands(tokens, pos + 1, tok.line)
            if end >= len(tokens) or tokens[end].kind != "rparen":
                raise self.error(tok.line, "unclosed (")
            chain: tuple[str, ...] = ()
            end += 1
            if end < len(tokens) and tokens[end].kind == "chain":
                chain = _names(tokens[end].value)
                end += 1
            return end, SubPipeline(inner, chain)
        raise self.error(tok.line, f"unexpected {tok.value!r}")


# --------------------------------------------------------------------------- values


def truth(value: Any) -> bool:
    """Go's truth: false, 0, nil and empty strings/lists/maps are false."""
    if value is None:
        return False
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return value != 0
    if isinstance(value, str | list | tuple | dict):
        return len(value) > 0
    return True


def format_value(value: Any) -> str:
    """Print a value the way Go's ``fmt`` ``%v`` does (``nil`` prints as Helm's ``""``)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e21:
        return str(int(value))
    if isinstance(value, list | tuple):
        return "[" + " ".join(format_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "map[" + " ".join(f"{k}:{format_value(value[k])}" for k in sorted(value)) + "]"
    return str(value)


def go_quote(text: str) -> str:
    """Go's ``%q`` of a string (printable characters kept, others escaped)."""
    out = ['"']
    for ch in text:
        if ch == '"':
            out.append('\\"')
        elif ch == "\\":
            out.append("\\\\")
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\t":
            out.append("\\t")
        elif ch == "\r":
            out.append("\\r")
        elif not ch.isprintable():
            code = ord(ch)
            out.append(f"\\x{code:02x}" if code < 0x80 else f"\\u{code:04x}")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


_VERB_RE = re.compile(r"%([-+# 0]*)(\d*)(?:\.(\d+))?([a-zA-Z%])")


def go_sprintf(fmt: str, *args: Any) -> str:
    """Go's ``fmt.Sprintf`` for the verbs templates use: %s %v %d %q %t %f %x %%."""
    items = list(args)
    out: list[str] = []
    pos = 0
    for m in _VERB_RE.finditer(fmt):
        out.append(fmt[pos : m.start()])
        pos = m.end()
        flags, width, precision, verb = m.groups()
        if verb == "%":
            out.append("%")
            continue
        if not items:
            out.append(f"%!{verb}(MISSING)")
            continue
        arg = items.pop(0)
        if verb in ("s", "v"):
            text = format_value(arg)
        elif verb == "d" and isinstance(arg, int) and not isinstance(arg, bool):
            text = str(arg)
        elif verb == "q" and isinstance(arg, str):
            text = go_quote(arg)
        elif verb == "t" and isinstance(arg, bool):
            text = format_value(arg)
        elif verb == "f" and isinstance(arg, int | float) and not isinstance(arg, bool):
            text = f"{float(arg):.{int(precision or 6)}f}"
        elif verb == "x" and isinstance(arg, int) and not isinstance(arg, bool):
            text = f"{arg:x}"
        elif verb == "x" and isinstance(arg, str):
            text = arg.encode().hex()
        else:
            text = f"%!{verb}({type(arg).__name__}={format_value(arg)})"
        if width:
            pad = "0" if "0" in flags and "-" not in flags else " "
            text = text.ljust(int(width)) if "-" in flags else text.rjust(int(width), pad)
        out.append(text)
    out.append(fmt[pos:])
    if items:
        out.append("%!(EXTRA " + ", ".join(format_value(a) for a in items) + ")")
    return "".join(out)


def go_sprint(*args: Any) -> str:
    """Go's ``fmt.Sprint``: a space between operands when neither is a string."""
    out = ""
    for i, arg in enumerate(args):
        if i and not isinstance(arg, str) and not isinstance(args[i - 1], str):
            out += " "
        out += format_value(arg)
    return out


def _comparable(a: Any, b: Any) -> bool:
    numbers = (int, float)
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool)
    if isinstance(a, numbers) and isinstance(b, numbers):
        return True
    return type(a) is type(b)


def go_eq(first: Any, *others: Any) -> bool:
    """Go's ``eq``: true when ``first`` equals any of ``others``; mixed kinds are an error."""
    if not others:
        raise TemplateError("eq: missing argument for comparison")
    for other in others:
        if first is None or other is None:
            if first is other:
                return True
            continue
        if not _comparable(first, other):
            raise TemplateError(
                f"eq: incompatible types for comparison: {type(first).__name__} and "
                f"{type(other).__name__}"
            )
        if first == other:
            return True
    return False


def _ordered(name: str, a: Any, b: Any) -> tuple[Any, Any]:
    if isinstance(a, bool) or isinstance(b, bool) or not _comparable(a, b):
        raise TemplateError(f"{name}: incompatible types for comparison")
    if not isinstance(a, int | float | str):
        raise TemplateError(f"{name}: invalid type for comparison")
    return a, b


def _go_len(value: Any) -> int:
    if isinstance(value, str | list | tuple | dict):
        return len(value)
    raise TemplateError(f"len of type {type(value).__name__}")


def _go_index(value: Any, *keys: Any) -> Any:
    for key in keys:
        if isinstance(value, dict):
            value = value.get(key)
        elif isinstance(value, list | tuple | str) and isinstance(key, int):
            if not 0 <= key < len(value):
                raise TemplateError(f"index out of range: {key}")
            value = value[key]
        else:
            raise TemplateError(f"can't index item of type {type(value).__name__}")
    return value


def builtin_functions() -> dict[str, Function]:
    """Go's predefined template functions (``and``/``or`` are handled lazily)."""

    def _lt(a: Any, b: Any) -> bool:
        x, y = _ordered("lt", a, b)
        return bool(x < y)

    def _le(a: Any, b: Any) -> bool:
        x, y = _ordered("le", a, b)
        return bool(x <= y)

    return {
        "and": lambda *a: a[-1],
        "or": lambda *a: a[-1],
        "not": lambda v: not truth(v),
        "eq": go_eq,
        "ne": lambda a, b: not go_eq(a, b),
        "lt": _lt,
        "le": _le,
        "gt": lambda a, b: not _le(a, b),
        "ge": lambda a, b: not _lt(a, b),
        "len": _go_len,
        "index": _go_index,
        "print": go_sprint,
        "printf": go_sprintf,
        "println": lambda *a: " ".join(format_value(v) for v in a) + "\n",
    }


# --------------------------------------------------------------------------- execution


_MISSING = object()


@dataclass
class _State:
    where: str
    vars: list[list[Any]]  # [name, value] pairs; a stack, as in Go's exec.go
    depth: int = 0


class TemplateSet:
    """Parsed templates sharing one function map and one namespace of ``define``s."""

    MAX_DEPTH = 100

    def __init__(self, functions: Mapping[str, Function] | None = None) -> None:
        self.functions: dict[str, Function] = builtin_functions()
        if functions:
            self.functions.update(functions)
        self.templates: dict[str, list[Any]] = {}

    def add(self, name: str, source: str) -> None:
        """Parse ``source`` as template ``name``; its ``define``s join the set (last wins)."""
        parser = _Parser(source, name, self.functions)
        body = parser.parse()
        self.templates.update(parser.defines)
        self.templates[name] = body

    def execute(self, name: str, data: Any, *, depth: int = 0) -> str:
        """Render template ``name`` with ``data`` as both ``.`` and ``$``."""
        body = self.templates.get(name)
        if body is None:
            raise TemplateError(f'no template "{name}" defined')
        if depth > self.MAX_DEPTH:
            raise TemplateError(f"exceeded maximum template depth ({self.MAX_DEPTH})")
        state = _State(where=name, vars=[["$", data]], depth=depth)
        out: list[str] = []
        self._walk(state, body, data, out)
        return "".join(out)

    # -- nodes

    def _walk(self, state: _State, nodes: list[Any], dot: Any, out: list[str]) -> None:
        for node in nodes:
            if isinstance(node, TextNode):
                out.append(node.text)
            elif isinstance(node, ActionNode):
                value = self._pipeline(state, node.pipeline, dot)
                if not node.pipeline.decl:
                    out.append(format_value(value))
            elif isinstance(node, IfNode):
                self._branches(state, node, dot, out)
            elif isinstance(node, RangeNode):
                self._range(state, node, dot, out)
            elif isinstance(node, TemplateNode):
                arg = None if node.pipeline is None else self._pipeline(state, node.pipeline, dot)
                out.append(self._call_template(state, node.name, arg, node.line))

    def _call_template(self, state: _State, name: str, arg: Any, line: int) -> str:
        try:
            return self.execute(name, arg, depth=state.depth + 1)
        except TemplateError as exc:
            if str(exc).startswith(f'no template "{name}"'):
                raise TemplateError(f"{state.where}:{line}: {exc}") from None
            raise

    def _branches(self, state: _State, node: IfNode, dot: Any, out: list[str]) -> None:
        mark = len(state.vars)
        try:
            for branch in node.branches:
                if branch.pipeline is None:
                    self._walk(state, branch.body, dot, out)
                    return
                value = self._pipeline(state, branch.pipeline, dot)
                if truth(value):
                    self._walk(state, branch.body, value if node.kind == "with" else dot, out)
                    return
        finally:
            del state.vars[mark:]

    def _range(self, state: _State, node: RangeNode, dot: Any, out: list[str]) -> None:
        mark = len(state.vars)
        try:
            value = self._pipeline(state, node.pipeline, dot, declare=False)
            items: list[tuple[Any, Any]]
            if value is None:
                items = []
            elif isinstance(value, dict):
                items = [(k, value[k]) for k in sorted(value)]
            elif isinstance(value, list | tuple):
                items = list(enumerate(value))
            else:
                raise TemplateError(
                    f"{state.where}:{node.pipeline.line}: range can't iterate over "
                    f"{format_value(value)}"
                )
            if not items:
                self._walk(state, node.else_body, dot, out)
                return
            names = node.pipeline.decl
            for key, elem in items:
                inner = len(state.vars)
                if len(names) == 1:
                    state.vars.append([names[0], elem])
                elif len(names) == 2:
                    state.vars.append([names[0], key])
                    state.vars.append([names[1], elem])
                self._walk(state, node.body, elem, out)
                del state.vars[inner:]
        finally:
            del state.vars[mark:]

    # -- pipelines

    def _pipeline(self, state: _State, pipe: Pipeline, dot: Any, *, declare: bool = True) -> Any:
        value: Any = _MISSING
        for command in pipe.commands:
            value = self._command(state, command, dot, value)
        if declare and pipe.decl:
            if pipe.is_assign:
                self._assign(state, pipe.decl[0], value, pipe.line)
            else:
                state.vars.append([pipe.decl[0], value])
        return value

    def _assign(self, state: _State, name: str, value: Any, line: int) -> None:
        for pair in reversed(state.vars):
            if pair[0] == name:
                pair[1] = value
                return
        raise TemplateError(f"{state.where}:{line}: undefined variable: {name}")

    def _command(self, state: _State, cmd: Command, dot: Any, piped: Any) -> Any:
        head, rest = cmd.args[0], cmd.args[1:]
        where = f"{state.where}:{cmd.line}"
        if isinstance(head, FuncRef):
            fn = self.functions[head.name]
            if head.name in ("and", "or"):
                return self._and_or(state, head.name, rest, dot, piped)
            args = [self._operand(state, a, dot, where) for a in rest]
            if piped is not _MISSING:
                args.append(piped)
            try:
                return fn(*args)
            except TemplateError as exc:
                raise TemplateError(f"{where}: error calling {head.name}: {exc}") from None
            except (TypeError, ValueError, KeyError, ArithmeticError) as exc:
                raise TemplateError(f"{where}: error calling {head.name}: {exc}") from None
        if rest or piped is not _MISSING:
            target = self._operand(state, head, dot, where, call=False)
            if not callable(target):
                raise TemplateError(f"{where}: can't give argument to non-function")
            args = [self._operand(state, a, dot, where) for a in rest]
            if piped is not _MISSING:
                args.append(piped)
            return target(*args)
        return self._operand(state, head, dot, where)

    def _and_or(self, state: _State, name: str, rest: list[Any], dot: Any, piped: Any) -> Any:
        where = f"{state.where}"

        def values() -> Iterator[Any]:
            for operand in rest:
                yield self._operand(state, operand, dot, where)
            if piped is not _MISSING:
                yield piped

        value: Any = _MISSING
        for value in values():
            if truth(value) != (name == "and"):
                return value
        if value is _MISSING:
            raise TemplateError(f"{where}: {name} needs at least one argument")
        return value

    def _operand(self, state: _State, op: Any, dot: Any, where: str, call: bool = True) -> Any:
        if isinstance(op, Literal):
            return op.value
        if isinstance(op, FieldRef):
            return self._fields(dot, op.names, where, call)
        if isinstance(op, VarRef):
            for name, value in reversed(state.vars):
                if name == op.name:
                    return self._fields(value, op.names, where, call)
            raise TemplateError(f"{where}: undefined variable: {op.name}")
        if isinstance(op, SubPipeline):
            value = self._pipeline(state, op.pipeline, dot, declare=False)
            return self._fields(value, op.names, where, call)
        if isinstance(op, FuncRef):
            fn = self.functions[op.name]
            return fn()
        raise TemplateError(f"{where}: bad operand {op!r}")

    @staticmethod
    def _fields(value: Any, names: tuple[str, ...], where: str, call: bool) -> Any:
        for i, name in enumerate(names):
            if value is None:
                raise TemplateError(f"{where}: nil pointer evaluating interface {{}}.{name}")
            if isinstance(value, dict):
                value = value.get(name)
            else:
                attr = getattr(value, name, _MISSING)
                if attr is _MISSING:
                    raise TemplateError(
                        f"{where}: can't evaluate field {name} in type {type(value).__name__}"
                    )
                value = attr
            last = i == len(names) - 1
            if callable(value) and (call or not last):
                value = value()
        return value
