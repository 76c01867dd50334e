"""Reading runbook files: checks, Markdown parsing and the records stored for each runbook.

A runbook is a Markdown file, optionally opening with YAML front matter::

    ---
    title: Checkout DB pool exhausted
    service: checkout
    tags: [postgres, database]
    alerts: [CheckoutDBPoolExhausted]
    ---
    # Checkout DB pool exhausted
    ## Symptoms
    ...

It is split at its ATX headings (``#`` to ``######``, ignoring those inside fenced code)
into sections that remember their heading path (``Checks > Pool usage``); long sections
are cut at paragraph boundaries. Each runbook becomes one *document* record (title,
first heading, alert names and its description: the front-matter ``description`` or the
"Meaning"/"Description"/"Summary"-like section, else the first section) and one record
per section. Files that cannot be used (empty, binary, oversized, broken front matter)
raise :class:`RunbookFileError`, which the ingest turns into a warning and a skip.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from memory.errors import CopilotError
from memory.vectorstore import Scalar, VectorRecord

logger = logging.getLogger(__name__)

DEFAULT_MAX_BYTES = 1_000_000
"""Files larger than this are skipped (runbooks are prose, not data dumps)."""

MAX_SECTION_CHARS = 1500
"""Sections longer than this are cut at paragraph boundaries (MiniLM reads ~256 tokens)."""

RUNBOOK_SUFFIXES = (".md", ".markdown")

_DESCRIPTION_HEADINGS = frozenset(
    {
        "meaning",
        "description",
        "summary",
        "overview",
        "symptoms",
        "what it means",
        "what this alert means",
        "about",
        "context",
    }
)
_HEADING = re.compile(r"^ {0,3}(#{1,6})[ \t]+(.*?)[ \t]*#*[ \t]*$")
_FENCE = re.compile(r"^ {0,3}(```|~~~)")
_SHORTCODE = re.compile(r"\{\{[<%].*?[>%]\}\}", re.S)
_LINK = re.compile(r"\[([^\]]*)\]\([^)]*\)")
_HTML_TAG = re.compile(r"</?[A-Za-z][^>]*>")
_BLANK_RUN = re.compile(r"\n{3,}")


class RunbookFileError(CopilotError):
    """A runbook file cannot be used; ``str()`` names the file and the reason."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Section:
    """A run of text under one heading.

    Attributes:
        heading: The heading's text (empty for text before the first heading).
        path: Headings from the top level down to this one.
        body: The Markdown text of the section (without sub-sections).
        position: Order in the file, from 0.
    """

    heading: str
    path: tuple[str, ...]
    body: str
    position: int

    @property
    def label(self) -> str:
        """The heading path as ``A > B``."""
        return " > ".join(self.path)


@dataclass(frozen=True, slots=True)
class Runbook:
    """A parsed runbook.

    Attributes:
        path: Path relative to the ingested root, with ``/`` separators.
        title: Front-matter ``title``, else the first heading, else the file name.
        heading: The first top-level heading (often the alert name), or ``""``.
        description: What the runbook is about (see the module docstring).
        alerts: Alert names from front matter ``alerts``/``alert``.
        service: Front matter ``service``, or ``""``.
        tags: Front matter ``tags``.
        sections: Sections with text, in file order.
        front_matter: The whole front matter mapping.
    """

    path: str
    title: str
    heading: str
    description: str
    alerts: tuple[str, ...]
    service: str
    tags: tuple[str, ...]
    sections: tuple[Section, ...]
    front_matter: dict[str, Any] = field(default_factory=dict)


def read_runbook_file(file: Path, *, display: str, max_bytes: int = DEFAULT_MAX_BYTES) -> bytes:
    """Read a runbook's bytes, refusing files that cannot be runbooks.

    Raises:
        RunbookFileError: The file is unreadable, empty, larger than ``max_bytes``,
            binary (NUL bytes) or not UTF-8.
    """
    try:
        size = file.stat().st_size
        if size > max_bytes:
            raise RunbookFileError(display, f"too large ({size} bytes > {max_bytes})")
        raw = file.read_bytes()
    except OSError as exc:
        raise RunbookFileError(display, f"unreadable ({exc.strerror or exc})") from exc
    if not raw.strip():
        raise RunbookFileError(display, "empty")
    if b"\x00" in raw[:8192]:
        raise RunbookFileError(display, "binary content")
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise RunbookFileError(display, f"not UTF-8 text (byte {exc.start})") from exc
    return raw


def content_hash(raw: bytes) -> str:
    """SHA-256 of a file's bytes: unchanged files are not embedded again."""
    return hashlib.sha256(raw).hexdigest()


def split_front_matter(text: str, *, path: str) -> tuple[dict[str, Any], str]:
    """Separate YAML front matter from the Markdown body.

    Raises:
        RunbookFileError: The front matter is not closed, not YAML, or not a mapping.
    """
    text = text.removeprefix("\ufeff")
    lines = text.splitlines(keepends=True)
    if not lines or lines[0].rstrip() != "---":
        return {}, text
    for index, line in enumerate(lines[1:], start=1):
        if line.rstrip() in ("---", "..."):
            block = "".join(lines[1:index])
            body = "".join(lines[index + 1 :])
            break
    else:
        raise RunbookFileError(path, "front matter is not closed by '---'")
    try:
        data = yaml.safe_load(block)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 2}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or type(exc).__name__
        raise RunbookFileError(path, f"front matter is not valid YAML{where}: {problem}") from exc
    if data is None:
        return {}, body
    if not isinstance(data, dict):
        raise RunbookFileError(path, "front matter must be a YAML mapping")
    return {str(k): v for k, v in data.items()}, body


def split_sections(body: str) -> list[Section]:
    """Split Markdown at its headings; each section keeps its heading path."""
    sections: list[Section] = []
    stack: list[tuple[int, str]] = []
    heading = ""
    buffer: list[str] = []
    in_fence = False

    def flush() -> None:
        text = "\n".join(buffer).strip()
        if text:
            path = tuple(h for _, h in stack)
            for part in _cut(text, MAX_SECTION_CHARS):
                sections.append(Section(heading, path, part, len(sections)))

    for line in body.splitlines():
        if _FENCE.match(line):
            in_fence = not in_fence
        match = None if in_fence else _HEADING.match(line)
        if match is None:
            buffer.append(line)
            continue
        flush()
        buffer = []
        level = len(match.group(1))
        while stack and stack[-1][0] >= level:
            stack.pop()
        heading = match.group(2).strip()
        stack.append((level, heading))
    flush()
    return sections


def _cut(text: str, limit: int) -> list[str]:
    """Cut ``text`` into parts of at most ``limit`` characters at blank lines, then lines."""
    if len(text) <= limit:
        return [text]
    parts: list[str] = []
    current = ""
    for block in re.split(r"\n\s*\n", text):
        pieces = [block] if len(block) <= limit else _cut_lines(block, limit)
        for piece in pieces:
            if current and len(current) + len(piece) + 2 > limit:
                parts.append(current)
                current = piece
            else:
                current = f"{current}\n\n{piece}" if current else piece
    if current:
        parts.append(current)
    return parts


def _cut_lines(block: str, limit: int) -> list[str]:
    parts: list[str] = []
    current = ""
    for line in block.splitlines():
        while len(line) > limit:
            parts.append(line[:limit])
            line = line[limit:]
        if current and len(current) + len(line) + 1 > limit:
            parts.append(current)
            current = line
        else:
            current = f"{current}\n{line}" if current else line
    if current:
        parts.append(current)
    return parts


def clean_markdown(text: str) -> str:
    """Markdown to indexable text: drop shortcodes, link targets and HTML tags; keep code."""
    text = _SHORTCODE.sub(" ", text)
    text = _LINK.sub(r"\1", text)
    text = _HTML_TAG.sub(" ", text)
    return _BLANK_RUN.sub("\n\n", text).strip()


def _names(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    items: Iterable[Any] = re.split(r"[,\s]+", value) if isinstance(value, str) else value
    if not isinstance(items, Iterable):
        items = [items]
    return tuple(str(v).strip() for v in items if str(v).strip())


def parse_runbook(text: str, *, path: str) -> Runbook:
    """Parse a runbook's text.

    Args:
        text: The file's content.
        path: Its path relative to the ingested root (for messages and identity).

    Raises:
        RunbookFileError: The front matter is broken.
    """
    meta, body = split_front_matter(text, path=path)
    sections = split_sections(body)
    heading = ""
    for line in body.splitlines():
        match = _HEADING.match(line)
        if match:
            heading = match.group(2).strip()
            break
    stem = Path(path).stem.replace("-", " ").replace("_", " ")
    title = str(meta.get("title") or heading or stem).strip()
    description = str(meta.get("description") or meta.get("summary") or "").strip()
    described = next(
        (s.body for s in sections if s.heading.lower().strip(" :") in _DESCRIPTION_HEADINGS), ""
    ) or next((s.body for s in sections), "")
    description = "\n".join(p for p in (description, described) if p)
    return Runbook(
        path=path,
        title=title,
        heading=heading,
        description=description,
        alerts=_names(meta.get("alerts", meta.get("alert"))),
        service=str(meta.get("service") or ""),
        tags=_names(meta.get("tags")),
        sections=tuple(sections),
        front_matter=meta,
    )


def document_text(runbook: Runbook) -> str:
    """What the document record embeds: title, first heading, alerts and description."""
    lines = [runbook.title, runbook.heading, " ".join(runbook.alerts)]
    lines.append(clean_markdown(runbook.description))
    return "\n".join(line for line in lines if line)


def section_text(runbook: Runbook, section: Section) -> str:
    """What a section record embeds: ``title > heading path`` then the section's text."""
    header = " > ".join([runbook.title, *section.path])
    return f"{header}\n{clean_markdown(section.body)}"


def runbook_records(
    runbook: Runbook, *, doc_key: str, root: str, digest: str
) -> list[VectorRecord]:
    """The document record and the section records stored for one runbook.

    Args:
        runbook: The parsed runbook.
        doc_key: Unique key of the runbook in the store (record ids start with it).
        root: The ingested directory the path is relative to.
        digest: Content hash of the file, to detect changes on the next ingest.
    """
    common: dict[str, Scalar] = {
        "doc": doc_key,
        "root": root,
        "path": runbook.path,
        "title": runbook.title,
        "hash": digest,
    }
    records = [
        VectorRecord(
            id=f"{doc_key}#doc",
            text=document_text(runbook),
            metadata={
                **common,
                "kind": "doc",
                "heading": runbook.heading,
                "alerts": ",".join(runbook.alerts),
                "service": runbook.service,
                "tags": ",".join(runbook.tags),
                "sections": len(runbook.sections),
            },
        )
    ]
    for section in runbook.sections:
        records.append(
            VectorRecord(
                id=f"{doc_key}#s{section.position}",
                text=section_text(runbook, section),
                metadata={
                    **common,
                    "kind": "section",
                    "section": _display_label(runbook, section),
                    "position": section.position,
                },
            )
        )
    return records


def _display_label(runbook: Runbook, section: Section) -> str:
    """Heading path without the top heading when it only repeats the runbook's name."""
    path = section.path
    if len(path) > 1 and path[0] == runbook.heading:
        path = path[1:]
    return " > ".join(path)


def find_runbook_files(root: Path) -> list[Path]:
    """Markdown files under ``root`` (or ``root`` itself), sorted, hidden folders skipped."""
    if root.is_file():
        return [root]
    return sorted(
        p
        for p in root.rglob("*")
        if p.suffix.lower() in RUNBOOK_SUFFIXES
        and p.is_file()
        and not any(part.startswith(".") for part in p.relative_to(root).parts)
    )
