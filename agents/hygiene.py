"""Prompt hygiene: redact secrets, bound sizes and fence untrusted text before it reaches an LLM.

Everything the bot sends to a model passes through here first:

* :func:`redact` replaces credentials found in free text (Slack and Anthropic tokens,
  bearer tokens, ``Authorization`` headers, ``password=``-style pairs, credentials in
  URLs, AWS access key ids, PEM private keys) with :data:`REDACTED`.
* :func:`redact_obj` does the same through nested dicts and lists (label and
  annotation maps, tool payloads), and blanks string values of secret-looking keys.
* :func:`truncate` caps a text and says how much was dropped.
* :func:`fence_untrusted` wraps text we did not write (alert annotations, runbooks,
  Slack messages, tool outputs) in delimiters that the system prompt tells the model
  to treat as data, never as instructions.

These are pure functions with no I/O; they are cheap enough to call on every turn.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import TypeVar, cast

REDACTED = "[REDACTED]"
"""What every secret is replaced with."""

FENCE_TAG = "untrusted-data"
"""Tag name of the delimiters around untrusted text (the system prompt names it)."""

_T = TypeVar("_T")

# Key names whose values are secrets: password, passwd, secret, token, api_key, apikey,
# possibly with a prefix or suffix (db_password, client_secret, x-api-key, auth_token).
_SECRET_KEY = r"[A-Za-z0-9_.-]*(?:password|passwd|secret|token|api[_-]?key)[A-Za-z0-9_.-]*"
_SECRET_KEY_RE = re.compile(rf"^{_SECRET_KEY}$|^(?:proxy-)?authorization$", re.IGNORECASE)

_PEM_RE = re.compile(
    r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----.*?(?:-----END [A-Z0-9 ]*PRIVATE KEY-----|\Z)",
    re.DOTALL,
)
_URL_CREDENTIALS_RE = re.compile(
    r"(?P<prefix>\b[A-Za-z][A-Za-z0-9+.-]*://[^\s:/?#@\[\]\"']*:)[^\s/?#@\"']+(?=@)"
)
_AUTH_HEADER_RE = re.compile(
    r"(?P<key>\\?[\"']?\b(?:proxy-)?authorization\\?[\"']?\s*[:=]\s*)"
    r"(?:(?P<q>\\?[\"'])(?:(?!(?P=q))(?:\\.|.))*(?P=q)|[^\r\n,;}&\"'\\]+)",
    re.IGNORECASE,
)
_QUOTED_PAIR_RE = re.compile(
    rf"(?P<key>\\?[\"']?\b{_SECRET_KEY}\\?[\"']?\s*[:=]\s*)"
    r"(?P<q>\\?[\"'])(?:(?!(?P=q))(?:\\.|.))*(?P=q)",
    re.IGNORECASE,
)
_PAIR_RE = re.compile(
    rf"(?P<key>\b{_SECRET_KEY}\s*[:=]\s*)(?![\"'\s\\]|\[REDACTED\])[^\s&,;\"'}}\]\)\\]+",
    re.IGNORECASE,
)
_TOKEN_RES = (
    # a bearer credential has a digit or symbol, or is long: "bearer of bad news" is not one
    re.compile(r"\bBearer\s+(?=\S*[0-9_.~+/=-]|\S{16,})[A-Za-z0-9._~+/=-]+", re.IGNORECASE),
    re.compile(r"\bxox[abeoprs]-[A-Za-z0-9-]+"),
    re.compile(r"\bxapp-[A-Za-z0-9-]+"),
    re.compile(r"\bsk-ant-[A-Za-z0-9_-]+"),
    re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b"),
)


def _keep_key(match: re.Match[str]) -> str:
    quote = match.group("q") or ""
    return f"{match.group('key')}{quote}{REDACTED}{quote}"


def _bearer_or_token(match: re.Match[str]) -> str:
    text = match.group(0)
    if text[:6].lower() == "bearer":
        return f"{text[:6]} {REDACTED}"
    return REDACTED


def redact(text: str) -> str:
    """Replace every credential found in ``text`` with :data:`REDACTED`.

    Key names are kept so the reader still sees *what* was there
    (``password=[REDACTED]``, ``Authorization: [REDACTED]``,
    ``postgres://app:[REDACTED]@db``). The function is idempotent.

    Args:
        text: Free text: a Slack message, an annotation, a log line, serialised JSON.

    Returns:
        The text with secrets replaced.
    """
    if not text:
        return text
    out = _PEM_RE.sub(REDACTED, text)
    out = _URL_CREDENTIALS_RE.sub(lambda m: m.group("prefix") + REDACTED, out)
    out = _AUTH_HEADER_RE.sub(_keep_key, out)
    out = _QUOTED_PAIR_RE.sub(_keep_key, out)
    out = _PAIR_RE.sub(lambda m: m.group("key") + REDACTED, out)
    for pattern in _TOKEN_RES:
        out = pattern.sub(_bearer_or_token, out)
    return out


def is_secret_key(key: str) -> bool:
    """Whether a mapping key names a secret (``password``, ``api_key``, ``Authorization``...)."""
    return bool(_SECRET_KEY_RE.match(key.strip()))


def redact_obj(obj: _T) -> _T:
    """Redact secrets inside nested dicts, lists and tuples; returns a new object.

    Strings are passed through :func:`redact`. In mappings, a string value whose key
    names a secret (see :func:`is_secret_key`) is replaced entirely; numbers and
    booleans are kept (``input_tokens: 1200`` is not a secret). Other objects are
    returned unchanged.

    Args:
        obj: A JSON-like value: label or annotation maps, tool payloads, request dicts.

    Returns:
        A redacted copy of the same shape.
    """
    return cast(_T, _redact_any(obj))


def _redact_any(obj: object) -> object:
    if isinstance(obj, str):
        return redact(obj)
    if isinstance(obj, Mapping):
        out: dict[object, object] = {}
        for key, value in obj.items():
            if isinstance(key, str) and isinstance(value, str) and is_secret_key(key):
                out[key] = REDACTED if value else value
            else:
                out[key] = _redact_any(value)
        return out
    if isinstance(obj, list):
        return [_redact_any(v) for v in obj]
    if isinstance(obj, tuple):
        return tuple(_redact_any(v) for v in obj)
    return obj


def truncate(text: str, max_chars: int) -> str:
    """Cap ``text`` at ``max_chars`` characters, ending with ``…[truncated N chars]``.

    The marker counts towards the limit, so the result is never longer than
    ``max_chars`` unless ``max_chars`` is shorter than the marker itself (then only
    the marker is returned).

    Args:
        text: The text to cap.
        max_chars: Maximum length of the result; must not be negative.

    Returns:
        ``text`` unchanged when short enough, otherwise its head and the marker.

    Raises:
        ValueError: If ``max_chars`` is negative (a programming error).
    """
    if max_chars < 0:
        raise ValueError("max_chars must not be negative")
    if len(text) <= max_chars:
        return text
    dropped = len(text) - max_chars
    marker = ""
    for _ in range(4):  # the marker's own length depends on the count; settles in <= 2 rounds
        marker = f"…[truncated {dropped} chars]"
        keep = max(0, max_chars - len(marker))
        if len(text) - keep == dropped:
            break
        dropped = len(text) - keep
    return text[: len(text) - dropped] + marker


_LABEL_RE = re.compile(r"[^A-Za-z0-9 _.:/@#-]+")
_FENCE_INSIDE_RE = re.compile(rf"<(/?)\s*{FENCE_TAG}", re.IGNORECASE)


def fence_untrusted(label: str, text: str) -> str:
    """Wrap untrusted ``text`` in ``<untrusted-data>`` delimiters labelled with its origin.

    Any delimiter-like sequence inside ``text`` is defused, so the content cannot
    close the fence early and smuggle instructions out of it.

    Args:
        label: Where the text came from, e.g. ``"tool_result prometheus_query"``.
        text: The untrusted text (already redacted and truncated by the caller).

    Returns:
        The fenced block.
    """
    safe_label = _LABEL_RE.sub("_", label).strip()[:80] or "data"
    body = _FENCE_INSIDE_RE.sub(lambda m: f"‹{m.group(1)}{FENCE_TAG}", text)
    return f'<{FENCE_TAG} source="{safe_label}">\n{body}\n</{FENCE_TAG}>'
