"""``sre-copilot config``: the settings reference, and the effective settings.

``config docs`` walks :class:`bot.config.Settings` (pydantic v2 ``model_fields``,
recursively through nested sections) and prints ``docs/configuration.md``: one row
per environment variable with its type, default, allowed values and description.
Nothing here lists settings by hand, so a field added to any section's model shows
up in the reference the next time ``make docs`` runs (and a test fails until it does).

``config show`` prints the settings this process would use, one variable per line,
with every secret masked.
"""

from __future__ import annotations

import enum
import json
import sys
import types
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal, Union, get_args, get_origin

import annotated_types
import typer
from pydantic import BaseModel, SecretBytes, SecretStr
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from bot.config import ENV_PREFIX, NESTED_DELIMITER, Settings, load_settings
from memory.errors import CopilotError

app = typer.Typer(
    help="Settings: the reference of every variable, and the values in effect.",
    no_args_is_help=True,
)

MASK = "********"
_SECRET_TYPES = (SecretStr, SecretBytes)
# Field names that hold secrets even when typed as plain strings (as in bot.config's
# settings_env_snapshot): masked by ``config show`` and marked in the reference.
_SECRET_WORDS = frozenset({"token", "secret", "password", "key"})


def _secret_name(name: str) -> bool:
    return bool(_SECRET_WORDS.intersection(name.lower().split("_")))


@dataclass(frozen=True)
class SettingDoc:
    """One environment variable of the reference.

    Attributes:
        path: Field names from the root, e.g. ``("database", "url")``.
        env: The variable a user sets, e.g. ``SRE_COPILOT_DATABASE__URL``.
        type: Readable type, e.g. ``integer (1 to 256)`` or ``one of `dev`, `test```.
        default: The default as written in the environment (``unset`` for none).
        description: The field's description.
        secret: Whether the value is a secret (masked by ``config show``).
        items: For lists and mappings of models: ``(field, type, description)`` of
            each item's fields.
    """

    path: tuple[str, ...]
    env: str
    type: str
    default: str
    description: str
    secret: bool
    items: tuple[tuple[str, str, str], ...] = ()


@dataclass(frozen=True)
class SectionDoc:
    """A nested settings model (``database``, ``slack``...) and its variables."""

    path: tuple[str, ...]
    title: str
    description: str
    settings: tuple[SettingDoc, ...]


# --- walking the model -------------------------------------------------------------------


def _strip_optional(annotation: Any) -> tuple[Any, bool]:
    """``X | None`` → ``(X, True)``; anything else → ``(annotation, False)``."""
    if get_origin(annotation) in (Union, types.UnionType):
        args = [a for a in get_args(annotation) if a is not type(None)]
        if len(args) < len(get_args(annotation)):
            inner = args[0] if len(args) == 1 else Union[tuple(args)]  # noqa: UP007
            return inner, True
    return annotation, False


def _model_of(annotation: Any) -> type[BaseModel] | None:
    """The model class when ``annotation`` is a model or an optional model."""
    inner, _ = _strip_optional(annotation)
    if isinstance(inner, type) and issubclass(inner, BaseModel):
        return inner
    return None


def _item_model(annotation: Any) -> type[BaseModel] | None:
    """The model of a ``list[Model]`` / ``dict[str, Model]`` field's items."""
    inner, _ = _strip_optional(annotation)
    args = get_args(inner)
    if get_origin(inner) in (list, tuple, set, frozenset) and args:
        return _model_of(args[0])
    if get_origin(inner) is dict and len(args) == 2:
        return _model_of(args[1])
    return None


def is_secret(annotation: Any) -> bool:
    """Whether a field holds a secret (``SecretStr``, possibly optional or nested)."""
    if isinstance(annotation, type) and issubclass(annotation, _SECRET_TYPES):
        return True
    return any(is_secret(arg) for arg in get_args(annotation))


def type_name(annotation: Any) -> str:
    """A readable name for a field's type, as it is written in the environment."""
    inner, _ = _strip_optional(annotation)
    origin, args = get_origin(inner), get_args(inner)
    if origin is Annotated:
        return type_name(args[0])
    if origin is Literal:
        return "one of " + ", ".join(f"`{a}`" for a in args)
    if origin in (Union, types.UnionType):
        return " or ".join(type_name(a) for a in args)
    if origin in (list, tuple, set, frozenset):
        item_model = _model_of(args[0]) if args else None
        if item_model is not None:
            return f"JSON list of {item_model.__name__} objects"
        item = type_name(args[0]) if args else "value"
        return f"JSON list of {item}"
    if origin is dict:
        value = type_name(args[1]) if len(args) == 2 else "value"
        return f"JSON object: name → {value}"
    if isinstance(inner, type):
        if issubclass(inner, _SECRET_TYPES):
            return "string"
        if issubclass(inner, enum.Enum):
            return "one of " + ", ".join(f"`{m.value}`" for m in inner)
        if issubclass(inner, BaseModel):
            return f"object ({inner.__name__})"
        simple = {bool: "boolean", int: "integer", float: "number", str: "string", Path: "path"}
        for kind, name in simple.items():
            if issubclass(inner, kind):
                return name
        return inner.__name__
    return str(inner).replace("typing.", "")


def _bounds(info: FieldInfo) -> str:
    """``1 to 256``, ``> 0``... from the field's constraints ("" when none)."""
    lower = upper = ""
    other: list[str] = []
    for meta in info.metadata:
        if isinstance(meta, annotated_types.Ge):
            lower = f"≥ {meta.ge}"
        elif isinstance(meta, annotated_types.Gt):
            lower = f"> {meta.gt}"
        elif isinstance(meta, annotated_types.Le):
            upper = f"≤ {meta.le}"
        elif isinstance(meta, annotated_types.Lt):
            upper = f"< {meta.lt}"
        elif isinstance(meta, annotated_types.MinLen) and meta.min_length:
            other.append("non-empty" if meta.min_length == 1 else f"≥ {meta.min_length} chars")
        elif isinstance(meta, annotated_types.MaxLen):
            other.append(f"≤ {meta.max_length} chars")
    if lower.startswith("≥") and upper.startswith("≤"):
        return ", ".join([f"{lower[2:]} to {upper[2:]}", *other])
    return ", ".join(part for part in (lower, upper, *other) if part)


def _env_value(value: Any) -> str:
    """A value as one would write it in the environment."""
    if value is None:
        return "unset"
    if isinstance(value, _SECRET_TYPES):
        return MASK
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, enum.Enum):
        return str(value.value)
    if isinstance(value, str | int | float | Path):
        return str(value)
    return json.dumps(_jsonable(value), separators=(",", ":"), default=str)


def _jsonable(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return _jsonable(value.model_dump(mode="json"))
    if isinstance(value, SecretStr | SecretBytes):
        return MASK
    if isinstance(value, dict):
        return {
            str(k): MASK if _secret_name(str(k)) and v else _jsonable(v) for k, v in value.items()
        }
    if isinstance(value, list | tuple | set | frozenset):
        return [_jsonable(v) for v in value]
    return value


def _default(info: FieldInfo) -> Any:
    if info.default_factory is not None:
        return info.default_factory()  # type: ignore[call-arg]
    return None if info.default is PydanticUndefined else info.default


def _field_name(name: str, info: FieldInfo) -> str:
    """The name pydantic-settings reads: the alias when there is a plain one."""
    alias = info.validation_alias if isinstance(info.validation_alias, str) else info.alias
    return alias or name


def env_var(path: tuple[str, ...]) -> str:
    """``("database", "url")`` → ``SRE_COPILOT_DATABASE__URL``."""
    return ENV_PREFIX + NESTED_DELIMITER.join(p.upper() for p in path)


def _first_paragraph(text: str | None) -> str:
    return _first_line((text or "").strip().split("\n\n")[0])


def _leaf(path: tuple[str, ...], info: FieldInfo) -> SettingDoc:
    annotation = info.annotation
    kind = type_name(annotation)
    bounds = _bounds(info)
    items: tuple[tuple[str, str, str], ...] = ()
    item_model = _item_model(annotation)
    if item_model is not None:
        items = tuple(
            (
                name,
                _with_default(sub) + (", *secret*" if _secret_name(name) else ""),
                sub.description or "",
            )
            for name, sub in item_model.model_fields.items()
        )
    return SettingDoc(
        path=path,
        env=env_var(path),
        type=f"{kind} ({bounds})" if bounds else kind,
        default=_env_value(_default(info)) if not info.is_required() else "required",
        description=_first_line(info.description),
        secret=is_secret(annotation) or _secret_name(path[-1]),
        items=items,
    )


def _with_default(info: FieldInfo) -> str:
    kind = type_name(info.annotation)
    if info.is_required():
        return f"{kind}, required"
    return f"{kind}, default `{_env_value(_default(info))}`"


def _first_line(text: str | None) -> str:
    """One line of prose; reST ````literals```` become Markdown ```literals```."""
    return " ".join((text or "").split()).replace("``", "`")


def walk(
    model: type[BaseModel] = Settings,
    path: tuple[str, ...] = (),
    title: str = "Top level",
    description: str | None = None,
) -> Iterator[SectionDoc]:
    """Every section of ``model`` (itself first), each with its own variables.

    A field whose type is a model (or an optional model) is a nested section; every
    other field, including lists and mappings of models (set as JSON), is a variable.
    """
    leaves: list[SettingDoc] = []
    nested: list[tuple[str, FieldInfo, type[BaseModel]]] = []
    for name, info in model.model_fields.items():
        sub = _model_of(info.annotation)
        if sub is not None:
            nested.append((_field_name(name, info), info, sub))
        else:
            leaves.append(_leaf((*path, _field_name(name, info)), info))
    text = description if description is not None else _first_paragraph(model.__doc__)
    yield SectionDoc(path=path, title=title, description=text, settings=tuple(leaves))
    for name, info, sub in nested:
        yield from walk(
            sub,
            (*path, name),
            title=".".join((*path, name)),
            description=_first_line(info.description) or _first_paragraph(sub.__doc__),
        )


def all_settings(model: type[BaseModel] = Settings) -> list[SettingDoc]:
    """Every variable of ``model``, in reference order."""
    return [s for section in walk(model) for s in section.settings]


# --- Markdown ----------------------------------------------------------------------------

HEADER = f"""\
# Configuration reference

<!-- Generated by `sre-copilot config docs` from bot.config.Settings. Do not edit by
hand: change the Field(description=...) in the code and run `make docs`. -->

Every setting is an environment variable named `{ENV_PREFIX}<SECTION>{NESTED_DELIMITER}<FIELD>`
(prefix `{ENV_PREFIX}`, nested delimiter `{NESTED_DELIMITER}`, case-insensitive). The same
names may be written in a `.env` file in the working directory; the environment wins
over `.env`. One typed object, `bot.config.Settings`, reads them, and nothing else in
the product reads the environment.

- A malformed value stops every command with one line naming the variable and what
  is expected; `sre-copilot doctor` then shows which integrations are configured
  and healthy.
- Values marked *secret* are held as pydantic `SecretStr` where typed so (their repr
  is masked), and `sre-copilot config show`, which prints the settings in effect,
  masks every one of them. With `SRE_COPILOT_ENVIRONMENT=production`, placeholder
  secrets (`changeme`, `secret`...) are refused.
- Lists and objects are written as JSON, for example
  `SRE_COPILOT_INCIDENTS__ROUTES='[{{"match": {{"team": "payments"}}, "channel": "C0123"}}]'`.
- Booleans accept `true`/`false` (also `1`/`0`, `yes`/`no`).
"""


def _prose(text: str) -> str:
    """Text safe in a Markdown table cell (no stray HTML tags, no column breaks)."""
    return text.replace("<", "&lt;").replace(">", "&gt;").replace("|", "\\|")


def _code(text: str) -> str:
    if text in ("unset", "required"):
        return text
    return "`" + text.replace("`", "'").replace("|", "\\|") + "`"


def render_markdown(model: type[BaseModel] = Settings) -> str:
    """The whole configuration reference as Markdown (``docs/configuration.md``)."""
    sections = list(walk(model))
    out = [HEADER, "## Sections", ""]
    for section in sections:
        anchor = _anchor(section.title)
        out.append(f"- [{section.title}](#{anchor}): {len(section.settings)} variables")
    for section in sections:
        out += ["", f"## {section.title}", ""]
        if section.description:
            out += [_prose(section.description), ""]
        out.append("| variable | type | default | description |")
        out.append("| --- | --- | --- | --- |")
        notes: list[str] = []
        for s in section.settings:
            kind = f"{s.type}, *secret*" if s.secret else s.type
            out.append(f"| `{s.env}` | {kind} | {_code(s.default)} | {_prose(s.description)} |")
            if s.items:
                notes.append(f"Each item of `{s.env}` has these fields:")
                notes.append("")
                notes += [f"- `{name}` ({kind}): {_prose(desc)}" for name, kind, desc in s.items]
                notes.append("")
        if notes:
            out += ["", *notes[:-1]]
    return "\n".join(out) + "\n"


def _anchor(title: str) -> str:
    """GitHub's heading anchor for a section title (``remediation.x`` → ``remediationx``)."""
    return "".join(c for c in title.lower().replace(" ", "-") if c.isalnum() or c in "-_")


# --- effective settings ------------------------------------------------------------------


def effective(settings: Settings) -> list[tuple[str, str, bool]]:
    """``(variable, value, is default)`` for every setting, secrets masked."""
    rows = []
    defaults = {s.env: s.default for s in all_settings(type(settings))}
    for doc in all_settings(type(settings)):
        value: Any = settings
        for part in doc.path:
            value = getattr(value, part, None) if value is not None else None
        shown = _env_value(value)
        if doc.secret and value is not None:
            shown = MASK
        rows.append((doc.env, shown, shown == defaults[doc.env]))
    return rows


# --- commands ----------------------------------------------------------------------------


@app.command("docs")
def docs(
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="Write to this file instead of standard output."),
    ] = None,
) -> None:
    """Print the configuration reference (Markdown) generated from the Settings model."""
    text = render_markdown()
    if output is None:
        sys.stdout.write(text)
        return
    tmp = output.with_name(output.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(output)
    print(f"wrote {output} ({len(all_settings())} settings)", file=sys.stderr)


@app.command("show")
def show(
    ctx: typer.Context,
    changed: Annotated[
        bool, typer.Option("--changed", help="Only the settings that differ from the default.")
    ] = False,
) -> None:
    """Print the settings in effect (environment and .env), secrets masked."""
    try:
        settings = ctx.obj if isinstance(ctx.obj, Settings) else load_settings()
    except CopilotError as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise typer.Exit(1) from None
    rows = [r for r in effective(settings) if not (changed and r[2])]
    width = max((len(r[0]) for r in rows), default=0)
    for env, value, is_default in rows:
        mark = "" if is_default else "  (changed)"
        print(f"{env:<{width}}  {value}{mark}")
