"""Recognise runbook steps that a catalogue action can perform.

A runbook section offers an action when it contains either

* an explicit annotation (an HTML comment, invisible when the Markdown is rendered)::

      <!-- copilot:propose kubernetes.rollout_restart namespace=shop deployment=checkout -->

  with ``key=value`` parameters (shell quoting; a value that parses as JSON, such as
  ``3`` or ``["a=b"]``, keeps its type; a key given twice becomes a list), or
* a concrete command line (in a code block, inline code or a plain line):

  - ``kubectl -n NS rollout restart deployment/NAME`` → ``kubernetes.rollout_restart``
  - ``kubectl -n NS scale deployment/NAME --replicas=N`` → ``kubernetes.scale``
  - ``amtool silence add [--duration=2h] [--comment=TEXT] MATCHER...`` →
    ``alertmanager.silence_create``

Commands with a placeholder (``$SERVICE``, ``<name>``, ``{{ ... }}``) are skipped, as are
``kubectl`` commands without an explicit namespace: the kubeconfig's default namespace
is not known here, and guessing it could act on the wrong deployment.
"""

from __future__ import annotations

import json
import re
import shlex
from typing import Any

from pydantic import BaseModel, Field

from tools.actions.catalogue import ACTION_TYPES

MAX_SUGGESTIONS = 3

_ANNOTATION = re.compile(r"<!--\s*copilot:propose\s+(.+?)\s*-->", re.DOTALL)
_INLINE_CODE = re.compile(r"`([^`\n]+)`")
_PLACEHOLDER = re.compile(r"\$|<[^>]*>|\{\{")
_GO_DURATION = re.compile(r"(\d+)([hms])")
_DEPLOYMENT_KINDS = ("deployment", "deployments", "deploy")


class CommandSuggestion(BaseModel):
    """A runbook step a catalogue action can do.

    Attributes:
        action: Catalogue name.
        params: Parameters known from the runbook (``created_by`` is the proposer's).
        environment: Target environment, when the annotation names one.
        command: The runbook text it came from (shown on the button's confirmation).
    """

    action: str
    params: dict[str, Any] = Field(default_factory=dict)
    environment: str | None = None
    command: str


def _value(raw: str) -> Any:
    try:
        return json.loads(raw)
    except ValueError:
        return raw


def parse_annotation(body: str, *, any_action: bool = False) -> CommandSuggestion | None:
    """``ACTION key=value ...`` (the annotation's body, or a console ``/propose``).

    Only product action names are accepted unless ``any_action`` (the caller then
    checks the name against its catalogue).
    """
    try:
        words = shlex.split(body)
    except ValueError:
        return None
    if not words or not (words[0] in ACTION_TYPES or (any_action and "." in words[0])):
        return None
    params: dict[str, Any] = {}
    environment = None
    for word in words[1:]:
        key, sep, raw = word.partition("=")
        if not sep or not key:
            return None
        if key == "environment":
            environment = raw
            continue
        value = _value(raw)
        if key in params:
            previous = params[key]
            params[key] = [*previous, value] if isinstance(previous, list) else [previous, value]
        else:
            params[key] = value
    return CommandSuggestion(
        action=words[0], params=params, environment=environment, command=f"copilot:propose {body}"
    )


def _minutes(duration: str) -> int | None:
    parts = _GO_DURATION.findall(duration)
    if not parts or "".join(n + u for n, u in parts) != duration:
        return None
    seconds = sum(int(n) * {"h": 3600, "m": 60, "s": 1}[u] for n, u in parts)
    return max(1, seconds // 60)


def _options(words: list[str], names: dict[str, str]) -> tuple[dict[str, str], list[str]]:
    """Split ``--opt=v``/``--opt v``/``-o v`` options (only ``names``) from positionals."""
    found: dict[str, str] = {}
    rest: list[str] = []
    i = 0
    while i < len(words):
        word = words[i]
        key, sep, value = word.partition("=")
        if key in names and sep:
            found[names[key]] = value
        elif word in names and i + 1 < len(words):
            found[names[word]] = words[i + 1]
            i += 1
        elif word.startswith("-n") and len(word) > 2 and "-n" in names:
            found[names["-n"]] = word[2:]
        else:
            rest.append(word)
        i += 1
    return found, rest


def _deployment(words: list[str]) -> str | None:
    if not words:
        return None
    kind, _, name = words[0].partition("/")
    if kind in _DEPLOYMENT_KINDS and name:
        return name
    if kind in _DEPLOYMENT_KINDS and len(words) > 1:
        return words[1]
    return None


def _kubectl(words: list[str], line: str) -> CommandSuggestion | None:
    opts, rest = _options(
        words[1:], {"-n": "namespace", "--namespace": "namespace", "--replicas": "replicas"}
    )
    namespace = opts.get("namespace")
    if not namespace:
        return None
    if rest[:2] == ["rollout", "restart"]:
        name = _deployment(rest[2:])
        if name:
            return CommandSuggestion(
                action="kubernetes.rollout_restart",
                params={"namespace": namespace, "deployment": name},
                command=line,
            )
    if rest[:1] == ["scale"] and opts.get("replicas", "").isdigit():
        name = _deployment(rest[1:])
        if name:
            return CommandSuggestion(
                action="kubernetes.scale",
                params={
                    "namespace": namespace,
                    "deployment": name,
                    "replicas": int(opts["replicas"]),
                },
                command=line,
            )
    return None


def _amtool(words: list[str], line: str) -> CommandSuggestion | None:
    names = {"--duration": "duration", "-d": "duration", "--comment": "comment", "-c": "comment"}
    opts, rest = _options(words[1:], names)
    if rest[:2] != ["silence", "add"]:
        return None
    matchers = [w for w in rest[2:] if not w.startswith("-")]
    minutes = _minutes(opts.get("duration", "1h"))
    if not matchers or minutes is None:
        return None
    params: dict[str, Any] = {"matchers": matchers, "duration_minutes": minutes}
    params["comment"] = opts.get("comment") or f"from runbook step: {line}"
    return CommandSuggestion(action="alertmanager.silence_create", params=params, command=line)


def _command(line: str) -> CommandSuggestion | None:
    line = line.strip().removeprefix("$ ").strip()
    if not line.startswith(("kubectl ", "amtool ")) or _PLACEHOLDER.search(line):
        return None
    try:
        words = shlex.split(line, comments=True)
    except ValueError:
        return None
    return _kubectl(words, line) if words[0] == "kubectl" else _amtool(words, line)


def suggestions(text: str) -> list[CommandSuggestion]:
    """The catalogue actions a runbook section offers, annotations first (at most 3)."""
    found = [s for s in (parse_annotation(m.group(1)) for m in _ANNOTATION.finditer(text)) if s]
    for raw in _ANNOTATION.sub("", text).splitlines():
        candidates = _INLINE_CODE.findall(raw) or [re.sub(r"^\s*(?:[-*]|\d+[.)])\s+", "", raw)]
        for candidate in candidates:
            hit = _command(candidate)
            if hit is not None and all(
                (hit.action, hit.params) != (s.action, s.params) for s in found
            ):
                found.append(hit)
    return found[:MAX_SUGGESTIONS]
