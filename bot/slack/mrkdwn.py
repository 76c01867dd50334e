"""Markdown → Slack mrkdwn, and splitting text to Block Kit's size limits.

Slack's mrkdwn is not Markdown: bold is ``*x*``, italic ``_x_``, strike ``~x~``,
links ``<url|text>``, there are no headings or tables, and ``&``, ``<``, ``>`` must
be escaped everywhere. :func:`to_mrkdwn` follows CommonMark's reading of the input
(``*x*`` is italic, ``**x**`` bold) and keeps code spans and fences verbatim (only
escaped); tokens that already are Slack syntax (``<@U123>``, ``<#C123>``,
``<!here>``, ``<https://…|text>``) pass through unchanged. Tables are wrapped in a
code fence so their columns stay aligned.

Pure functions only: no Slack client, no I/O.
"""

from __future__ import annotations

import re
from typing import Any

NO_UNFURL: dict[str, Any] = {"unfurl_links": False, "unfurl_media": False}
"""``chat.postMessage`` arguments for every message the bot posts: they may quote
untrusted text (alert annotations, runbooks, Claude's answer), and Slack must never
fetch the links in it to build previews."""

_FENCE = re.compile(r"^\s*```")
_SLACK_TOKEN = re.compile(r"<(?:[@#!][^<>\s|]+|(?:https?|mailto):[^<>\s|]+)(?:\|[^<>]*)?>")
_CODE_SPAN = re.compile(r"`[^`\n]+`")
_IMAGE = re.compile(r"!\[([^\]\n]*)\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
_LINK = re.compile(r"\[([^\]\n]+)\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
_BOLD = re.compile(r"\*\*(?=\S)(.+?)(?<=\S)\*\*|__(?=\S)(.+?)(?<=\S)__")
_ITALIC = re.compile(r"(?<![\w*])\*(?=[^\s*])(.+?)(?<=[^\s*])\*(?![\w*])")
_STRIKE = re.compile(r"~~(?=\S)(.+?)(?<=\S)~~")
_HEADING = re.compile(r"^\s{0,3}#{1,6}\s+(.*?)\s*#*\s*$")
_BULLET = re.compile(r"^(\s*)[-*+]\s+")
_QUOTE = re.compile(r"^\s{0,3}>\s?")
_RULE = re.compile(r"^\s{0,3}([-*_])(\s*\1){2,}\s*$")
_TABLE_ROW = re.compile(r"^\s*\|.*\|\s*$")

# Sentinels (private-use code points) stand for Slack's ``*`` and ``_`` while the
# other rules run, so bold and italic never re-match each other's output.
_B = "\ue000"
_I = "\ue001"


def escape(text: str) -> str:
    """Escape the three characters Slack reserves (``&``, ``<``, ``>``)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _link(url: str, label: str) -> str:
    label = label.replace("|", "∣").replace("<", "&lt;").replace(">", "&gt;")
    return f"<{url.replace('>', '%3E').replace('|', '%7C')}|{label}>"


def _inline(text: str) -> str:
    """Convert one line of Markdown (outside code fences)."""
    kept: list[str] = []

    def keep(value: str) -> str:
        kept.append(value)
        return f"\ue002{len(kept) - 1}\ue003"

    text = _CODE_SPAN.sub(lambda m: keep(escape(m.group(0))), text)
    text = _SLACK_TOKEN.sub(lambda m: keep(m.group(0)), text)
    text = _IMAGE.sub(lambda m: keep(_link(m.group(2), m.group(1) or m.group(2))), text)
    text = _LINK.sub(lambda m: keep(_link(m.group(2), _plain(m.group(1)))), text)
    text = escape(text)
    text = _BOLD.sub(lambda m: f"{_B}{m.group(1) or m.group(2)}{_B}", text)
    text = _STRIKE.sub(lambda m: f"~{m.group(1)}~", text)
    text = _ITALIC.sub(lambda m: f"{_I}{m.group(1)}{_I}", text)
    text = text.replace(_B, "*").replace(_I, "_")
    return re.sub(r"\ue002(\d+)\ue003", lambda m: kept[int(m.group(1))], text)


def _plain(text: str) -> str:
    """Strip emphasis markers (for link labels and headings)."""
    return re.sub(r"(\*\*|__|~~|\*|`)", "", text)


def to_mrkdwn(markdown: str) -> str:
    """Convert Markdown to Slack mrkdwn (see the module docstring for the rules)."""
    out: list[str] = []
    in_fence = False
    table: list[str] = []

    def flush_table() -> None:
        if table:
            out.append("```")
            out.extend(escape(row) for row in table)
            out.append("```")
            table.clear()

    for line in markdown.splitlines():
        if _FENCE.match(line):
            flush_table()
            # Slack shows a fence's language tag as code: drop it.
            out.append("```")
            in_fence = not in_fence
            continue
        if in_fence:
            out.append(escape(line))
            continue
        if _TABLE_ROW.match(line):
            table.append(line.strip())
            continue
        flush_table()
        heading = _HEADING.match(line)
        if heading:
            out.append(f"*{escape(_plain(heading.group(1)))}*")
            continue
        if _RULE.match(line):
            out.append("──────────")
            continue
        prefix = ""
        quote = _QUOTE.match(line)
        if quote:
            prefix, line = "> ", line[quote.end() :]
        bullet = _BULLET.match(line)
        if bullet:
            prefix += f"{bullet.group(1)}• "
            line = line[bullet.end() :]
        out.append(prefix + _inline(line))
    flush_table()
    if in_fence:
        out.append("```")
    return "\n".join(out)


def split_text(text: str, *, limit: int) -> list[str]:
    """Split ``text`` into chunks of at most ``limit`` characters.

    Chunks end at line breaks where possible (longer lines are cut); a code fence
    open at a break is closed at the end of its chunk and reopened at the start of
    the next one, so each chunk renders on its own. Always returns at least one chunk.
    """
    if limit < 16:
        raise ValueError("limit must be at least 16 characters")
    if len(text) <= limit:
        return [text]
    fence = "```"
    budget = limit - len(fence) - 1  # room to close a fence left open
    width = budget - len(fence) - 1  # room to reopen it
    chunks: list[str] = []
    current: list[str] = []
    size = 0
    in_fence = False
    for line in text.split("\n"):
        for piece in [line[i : i + width] for i in range(0, len(line), width)] or [""]:
            extra = len(piece) + (1 if current else 0)
            if current and size + extra > budget:
                chunks.append("\n".join(current) + (f"\n{fence}" if in_fence else ""))
                current, size = ([fence], len(fence)) if in_fence else ([], 0)
                extra = len(piece) + (1 if current else 0)
            current.append(piece)
            size += extra
        if _FENCE.match(line):
            in_fence = not in_fence
    if current:
        chunks.append("\n".join(current))
    return chunks


def truncate(text: str, limit: int, *, marker: str = "…") -> str:
    """``text`` cut to ``limit`` characters, ending with ``marker`` when cut."""
    if len(text) <= limit:
        return text
    return text[: max(0, limit - len(marker))] + marker
