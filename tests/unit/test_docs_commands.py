"""The docs' commands work as written, and their relative links lead somewhere.

Every ``sre-copilot …`` command in a shell code block of README.md, docs/*.md and
helm/README.md (and in inline code that starts with ``sre-copilot``) is parsed
against the real Typer app: the sub-command path must exist, every option must
belong to the command it is given to, option values must be among the choices,
required options and arguments must be there, and ``<path> --help`` must succeed
in-process. ``python bench/x.py --opt`` commands need the script and its options;
``make target`` needs the target. Nothing is executed beyond ``--help``.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from bot.cli import app

ROOT = Path(__file__).resolve().parents[2]
DOC_FILES = sorted(
    p
    for p in [ROOT / "README.md", *ROOT.glob("docs/*.md"), ROOT / "helm" / "README.md"]
    if p.is_file()
)
SHELL_LANGS = {"", "bash", "sh", "shell", "console", "zsh"}
FENCE = re.compile(
    r"^(?P<fence>```+|~~~+)[ \t]*(?P<lang>[\w+-]*)[^\n]*\n(?P<body>.*?)^(?P=fence)[ \t]*$",
    re.M | re.S,
)
INLINE_CODE = re.compile(r"(?<!`)`([^`\n]+)`(?!`)")
LINK = re.compile(r"!?\[(?:[^\]\[]|\[[^\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
HTML_LINK = re.compile(r"""(?:src|href)=["']([^"']+)["']""")
PLACEHOLDER = re.compile(r"…|\.\.\.")
PREFIXES = {"sudo", "time", "exec", "env", "nohup"}
CLI_NAMES = ("sre-copilot",)
runner = CliRunner()


@dataclass(frozen=True)
class Command:
    """One simple command found in a doc."""

    doc: str
    line: int
    argv: tuple[str, ...]
    inline: bool = False  # prose may name a command without its required arguments

    def __str__(self) -> str:
        return f"{self.doc}:{self.line}: {shlex.join(self.argv)}"


def _logical_lines(body: str, first_line: int) -> Iterator[tuple[int, str]]:
    """Lines of a shell block with ``\\`` continuations joined and prompts removed."""
    pending, start = "", first_line
    for offset, raw in enumerate(body.splitlines()):
        line = raw.rstrip()
        if not pending:
            start = first_line + offset
            line = re.sub(r"^\s*\$\s+", "", line)
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        yield start, pending + line
        pending = ""
    if pending:
        yield start, pending


def _simple_commands(text: str) -> Iterator[list[str]]:
    """Split a shell line into simple commands (at ``|``, ``&&``, ``;``…, redirections cut)."""
    lexer = shlex.shlex(text, posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    try:
        tokens = list(lexer)
    except ValueError:  # unbalanced quotes: not a command we can check
        return
    current: list[str] = []
    redirected = False
    for tok in tokens:
        if tok in ("|", "||", "&&", ";", "&", "(", ")"):
            if current:
                yield current
            current, redirected = [], False
        elif set(tok) <= set("<>&|;()"):
            redirected = True  # the rest of this command is a redirection target
        elif not redirected:
            current.append(tok)
    if current:
        yield current


def _strip_prefixes(argv: list[str]) -> list[str]:
    while argv and (argv[0] in PREFIXES or re.match(r"^[A-Za-z_][A-Za-z0-9_]*=", argv[0])):
        argv = argv[1:]
    return argv


def commands_in(path: Path) -> list[Command]:
    """Commands in the shell code blocks and inline code of one Markdown file."""
    text = path.read_text(encoding="utf-8")
    rel = str(path.relative_to(ROOT))
    found: list[Command] = []
    for m in FENCE.finditer(text):
        if m.group("lang").lower() not in SHELL_LANGS:
            continue
        first = text.count("\n", 0, m.start("body")) + 1
        for lineno, line in _logical_lines(m.group("body"), first):
            for argv in _simple_commands(line):
                argv = _strip_prefixes(argv)
                if argv:
                    found.append(Command(rel, lineno, tuple(argv)))
    prose = FENCE.sub(lambda m: "\n" * m.group(0).count("\n"), text)
    for m in INLINE_CODE.finditer(prose):
        span = m.group(1).strip()
        if PLACEHOLDER.search(span):
            continue
        lineno = prose.count("\n", 0, m.start()) + 1
        for argv in _simple_commands(span):
            argv = _strip_prefixes(argv)
            if len(argv) > 1 and (_cli_args(argv) is not None or _is_script(argv)):
                found.append(Command(rel, lineno, tuple(argv), inline=True))
    return found


def _cli_args(argv: list[str] | tuple[str, ...]) -> list[str] | None:
    """The arguments after ``sre-copilot`` (directly, or after ``--`` as in kubectl exec)."""
    if argv[0].split("/")[-1] in CLI_NAMES:
        return list(argv[1:])
    if "--" in argv:
        rest = argv[argv.index("--") + 1 :]
        if rest and rest[0].split("/")[-1] in CLI_NAMES:
            return list(rest[1:])
    return None


def _is_script(argv: list[str] | tuple[str, ...]) -> bool:
    return (
        len(argv) >= 2
        and argv[0].split("/")[-1] in ("python", "python3", "python3.11")
        and argv[1].endswith(".py")
    )


ALL_COMMANDS = [c for doc in DOC_FILES for c in commands_in(doc)]
CLI_COMMANDS = [c for c in ALL_COMMANDS if _cli_args(c.argv) is not None]
SCRIPT_COMMANDS = [c for c in ALL_COMMANDS if _is_script(c.argv)]
MAKE_COMMANDS = [c for c in ALL_COMMANDS if c.argv[0] == "make"]


# Typer vendors its own copy of click (typer._click), so parameters and groups are
# recognised by what they have, not by click's classes.
def _is_group(cmd: Any) -> bool:
    return isinstance(getattr(cmd, "commands", None), dict)


def _options(cmd: Any) -> list[Any]:
    return [p for p in cmd.params if p.param_type_name == "option"]


def _arguments(cmd: Any) -> list[Any]:
    return [p for p in cmd.params if p.param_type_name == "argument"]


def _option(cmd: Any, name: str) -> Any | None:
    for param in _options(cmd):
        if name in (*param.opts, *param.secondary_opts):
            return param
    return None


def check_cli(args: list[str], *, complete: bool = True) -> tuple[list[str], list[str]]:
    """Parse ``args`` like click would; ``(sub-command path, problems)``.

    ``complete=False`` (commands named in prose) skips the checks for a missing
    sub-command, argument or required option.
    """
    cmd: Any = typer.main.get_command(app)
    path: list[str] = []
    problems: list[str] = []
    positionals: list[str] = []
    given: set[str] = set()
    i = 0
    while i < len(args):
        tok = args[i]
        i += 1
        if tok == "--help":
            given.add("--help")
            continue
        if tok.startswith("-") and len(tok) > 1:
            name, has_value, value = tok.partition("=")
            opt = _option(cmd, name)
            if opt is None:
                where = " ".join(["sre-copilot", *path])
                problems.append(f"`{where}` has no option {name}")
                continue
            given.add(opt.name or name)
            takes_value = not (opt.is_flag or opt.count)
            if takes_value and not has_value:
                value = args[i] if i < len(args) else ""
                i += 1
            choices = getattr(getattr(opt, "type", None), "choices", None)
            if takes_value and choices is not None and value not in choices:
                problems.append(f"{name} {value!r} is not one of {list(choices)}")
            continue
        if _is_group(cmd) and not positionals:
            sub = cmd.commands.get(tok)
            if sub is not None:
                cmd, path = sub, [*path, tok]
                continue
            if not _arguments(cmd):
                where = " ".join(["sre-copilot", *path])
                problems.append(f"`{where}` has no command {tok!r}")
                continue
        positionals.append(tok)
    if "--help" in given or not complete:
        return path, problems
    if _is_group(cmd) and not cmd.invoke_without_command:
        problems.append(f"`sre-copilot {' '.join(path)}` needs a command")
    arguments = _arguments(cmd)
    if not any(a.nargs == -1 for a in arguments):
        if len(positionals) > sum(max(a.nargs, 1) for a in arguments):
            problems.append(f"too many arguments: {positionals}")
        missing = [a.name for a in arguments[len(positionals) :] if a.required]
        if missing:
            problems.append(f"missing argument(s) {missing}")
    for param in _options(cmd):
        if param.required and param.name not in given:
            problems.append(f"missing required option {param.opts[0]}")
    return path, problems


def test_docs_have_commands():
    assert len(CLI_COMMANDS) >= 10, [str(c) for c in CLI_COMMANDS]


@pytest.mark.parametrize("command", CLI_COMMANDS, ids=str)
def test_cli_command_parses(command: Command):
    args = _cli_args(command.argv)
    assert args is not None
    path, problems = check_cli(args, complete=not command.inline)
    assert not problems, f"{command}: " + "; ".join(problems)
    result = runner.invoke(app, [*path, "--help"])
    assert result.exit_code == 0, f"{command}: `--help` failed: {result.output}"


@pytest.mark.parametrize("command", SCRIPT_COMMANDS, ids=str)
def test_script_command_exists(command: Command):
    script = ROOT / command.argv[1]
    assert script.is_file(), f"{command}: no file {command.argv[1]}"
    source = script.read_text(encoding="utf-8")
    for tok in command.argv[2:]:
        if tok.startswith("--"):
            name = tok.split("=")[0]
            assert f'"{name}"' in source, f"{command}: {command.argv[1]} has no option {name}"


@pytest.mark.parametrize("command", MAKE_COMMANDS, ids=str)
def test_make_target_exists(command: Command):
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    targets = set(re.findall(r"^([A-Za-z0-9_.-]+):", makefile, re.M))
    for target in command.argv[1:]:
        if "=" not in target and not target.startswith("-"):
            assert target in targets, f"{command}: the Makefile has no target {target!r}"


def test_check_cli_catches_mistakes():
    assert check_cli(["db", "upgrade"]) == (["db", "upgrade"], [])
    assert check_cli(["digest", "--since", "7d"]) == (["digest"], [])
    assert check_cli(["tool", "run", "x", "--args", "{}"]) == (["tool", "run"], [])
    assert check_cli(["db", "migrate"])[1]
    assert check_cli(["db"])[1]
    assert check_cli(["serve", "--sockets"])[1]
    assert check_cli(["runbooks", "search"])[1]  # the query is required
    assert check_cli(["eval", "nab", "--json"])[1]  # --data and --labels are required
    assert check_cli(["-v", "doctor"]) == (["doctor"], [])


def test_command_extraction():
    doc = ROOT / "README.md"
    assert any(c.doc == "README.md" for c in CLI_COMMANDS), "README.md lists no command"
    lines = list(_simple_commands("FOO=1 sre-copilot config docs > out.md && make docs"))
    assert [_strip_prefixes(argv) for argv in lines] == [
        ["sre-copilot", "config", "docs"],
        ["make", "docs"],
    ]
    kubectl = ["kubectl", "exec", "deploy/x", "--", "sre-copilot", "db", "upgrade"]
    assert _cli_args(kubectl) == ["db", "upgrade"]
    assert _cli_args(["helm", "install", "sre-copilot", "helm/sre-copilot"]) is None
    assert doc.is_file()


# --- links -------------------------------------------------------------------------------


def _anchors(path: Path) -> set[str]:
    """GitHub's heading anchors of a Markdown file."""
    text = FENCE.sub("", path.read_text(encoding="utf-8"))
    out = set()
    for heading in re.findall(r"^#{1,6}\s+(.+?)\s*#*\s*$", text, re.M):
        plain = re.sub(r"[`*]|\[([^\]]*)\]\([^)]*\)", r"\1", heading).strip().lower()
        out.add(re.sub(r"[^\w\- ]", "", plain).replace(" ", "-"))
    return out


def links_in(path: Path) -> Iterator[tuple[int, str]]:
    """Relative link targets outside code, with their line numbers."""
    text = path.read_text(encoding="utf-8")
    prose = FENCE.sub(lambda m: "\n" * m.group(0).count("\n"), text)
    prose = INLINE_CODE.sub(lambda m: " " * len(m.group(0)), prose)
    for pattern in (LINK, HTML_LINK):
        for m in pattern.finditer(prose):
            target = m.group(1)
            if re.match(r"^[a-z][a-z0-9+.-]*:", target, re.I):  # http:, mailto:...
                continue
            yield prose.count("\n", 0, m.start()) + 1, target


@pytest.mark.parametrize("doc", DOC_FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_resolve(doc: Path):
    broken = []
    for lineno, target in links_in(doc):
        file_part, _, fragment = target.partition("#")
        dest = (doc.parent / file_part).resolve() if file_part else doc
        if not dest.exists():
            broken.append(f"line {lineno}: {target} (no such file)")
        elif fragment and dest.suffix == ".md" and fragment.lower() not in _anchors(dest):
            broken.append(f"line {lineno}: {target} (no heading #{fragment})")
    assert not broken, f"{doc.relative_to(ROOT)}: " + "; ".join(broken)
