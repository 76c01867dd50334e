"""PromQL recipes and question parsing behind :mod:`agents.metric_questions`.

Pure functions, no I/O: which metric family answers which kind of question, how its
PromQL is written once the service label and value are known, and how a question's
wording is read (kind, quantile, service name, raw PromQL). Discovery against a live
source happens in :mod:`agents.metric_questions`.
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import NamedTuple

RATE_WINDOW_S = 300
"""Shortest ``rate()``/``increase()`` window (5 minutes)."""
TARGET_POINTS = 200
"""Points per series aimed at by :func:`step_for`."""
SERVICE_LABELS = ("service", "job", "app", "container")
"""Labels tried, in order, for the service a question names."""
NODE_LABELS = ("instance", "node", "job")
"""Labels tried for node-level metrics (node_exporter)."""
ERROR_LABELS = ("code", "status", "status_code")
"""Labels that may carry the HTTP status of ``http_requests_total``."""
DEFAULT_QUANTILE = 0.99
"""Latency quantile when the question names none."""
KIND_NAMES = {
    "request_rate": "request rate",
    "error_ratio": "error ratio",
    "latency": "latency quantile",
    "cpu": "CPU",
    "memory": "memory",
    "disk": "disk free",
    "db_connections": "DB connections",
    "restarts": "restarts",
}
"""Kinds of question, with their names for people."""

_NICE_STEPS_S = (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 21600, 86400)
_FS = 'fstype!~"tmpfs|overlay|squashfs"'
_REAL_CONTAINER = 'container!=""'  # drops the per-pod cgroup total cAdvisor also reports
_IDLE = 'mode="idle"'
_STOPWORDS = frozenset(
    "a about all an and any are at by current currently did do does each for from has have "
    "how i in is it last latest me my now of on our over past per please show since service "
    "services that the this to today was what whats which yesterday with second seconds "
    "minute minutes hour hours day days week weeks ago window request requests rate ratio "
    "error errors latency cpu memory disk usage used connections restarts percentile "
    "median".split()
)
_KIND_PATTERNS = (
    ("restarts", r"\brestart|\bcrash"),
    ("db_connections", r"\bconnections?\b|\bpg_stat|\bmax_connections"),
    ("disk", r"\bdisk|\bfile ?system|\bstorage\b|\bfree space|\bvolume"),
    ("memory", r"\bmemory\b|\bmem\b|\bram\b|\boom|\bworking set"),
    ("cpu", r"\bcpu|\bprocessor"),
    ("latency", r"\blatenc|\bp\d{2,3}\b|percentile|\bmedian\b|\bresponse time|\bduration|\bslow"),
    ("error_ratio", r"\berror|\b5xx\b|\bfail|\b50\d\b"),
    ("request_rate", r"\brequest|\brps\b|\bqps\b|\bthroughput|\btraffic|\bhits\b|\bcalls\b"),
)


class Query(NamedTuple):
    """A recipe's output: the PromQL and how to present its values."""

    promql: str
    title: str
    unit: str
    threshold: float | None = None


@dataclass(frozen=True)
class RecipeContext:
    """What a recipe needs to write its PromQL.

    Attributes:
        matchers: Label matchers selecting the service, e.g. ``('service="checkout"',)``.
        group: Label to keep in ``sum by (...)`` (``None``: aggregate everything).
        window_s: ``rate()`` window in seconds.
        names: Metric names that exist (optional companions such as limits are used if so).
        quantile: Latency quantile (0..1).
        error_label: Label carrying the HTTP status (error ratio only).
    """

    matchers: tuple[str, ...] = ()
    group: str | None = None
    window_s: int = RATE_WINDOW_S
    names: frozenset[str] = frozenset()
    quantile: float = DEFAULT_QUANTILE
    error_label: str | None = None

    @property
    def window(self) -> str:
        """The ``rate()`` window as a PromQL duration (``5m``)."""
        return prom_duration(self.window_s)


@dataclass(frozen=True)
class Recipe:
    """One metric family that answers one kind of question.

    Attributes:
        kind: The kind of question (a key of :data:`KIND_NAMES`).
        metric: The metric whose presence enables the recipe and scopes label discovery.
        requires: Other metrics that must exist too.
        labels: Labels tried, in order, for the service.
        group: Fixed grouping label (``pod``, ``instance``); ``None`` groups by the
            service label found.
        build: Writes the query.
        fallback: Writes a simpler query for when ``build``'s returns no series.
    """

    kind: str
    metric: str
    labels: tuple[str, ...]
    build: Callable[[RecipeContext], Query]
    group: str | None = None
    requires: tuple[str, ...] = ()
    fallback: Callable[[RecipeContext], Query] | None = None


def _sel(ctx: RecipeContext, *extra: str) -> str:
    matchers = [*ctx.matchers, *extra]
    return "{" + ", ".join(matchers) + "}" if matchers else ""


def _by(ctx: RecipeContext, *extra: str) -> str:
    labels = [*extra, *([ctx.group] if ctx.group else [])]
    return f" by ({', '.join(labels)}) " if labels else ""


def _request_rate(c: RecipeContext) -> Query:
    expr = f"sum{_by(c)}(rate(http_requests_total{_sel(c)}[{c.window}]))"
    return Query(expr, "request rate", "req/s")


def _error_ratio(c: RecipeContext) -> Query:
    five_xx = f'{c.error_label}=~"5.."'
    errors = f"sum{_by(c)}(rate(http_requests_total{_sel(c, five_xx)}[{c.window}]))"
    total = f"sum{_by(c)}(rate(http_requests_total{_sel(c)}[{c.window}]))"
    # "or total * 0" keeps a service with no 5xx series at all at 0 instead of dropping it
    return Query(f"({errors} or {total} * 0) / {total}", "error ratio (5xx)", "ratio")


def _latency(c: RecipeContext) -> Query:
    rate = f"rate(http_request_duration_seconds_bucket{_sel(c)}[{c.window}])"
    expr = f"histogram_quantile({c.quantile:g}, sum{_by(c, 'le')}({rate}))"
    return Query(expr, f"p{c.quantile * 100:g} latency", "s")


def _container_cpu(c: RecipeContext) -> Query:
    rate = f"rate(container_cpu_usage_seconds_total{_sel(c, _REAL_CONTAINER)}[{c.window}])"
    return Query(f"sum{_by(c)}({rate})", "CPU usage", "cores")


def _node_cpu(c: RecipeContext) -> Query:
    expr = f"1 - avg{_by(c)}(rate(node_cpu_seconds_total{_sel(c, _IDLE)}[{c.window}]))"
    return Query(expr, "CPU busy", "ratio")


def _container_memory_bytes(c: RecipeContext) -> Query:
    expr = f"sum{_by(c)}(container_memory_working_set_bytes{_sel(c, _REAL_CONTAINER)})"
    return Query(expr, "memory working set", "bytes")


def _container_memory(c: RecipeContext) -> Query:
    if "kube_pod_container_resource_limits" not in c.names:
        return _container_memory_bytes(c)
    used = f"container_memory_working_set_bytes{_sel(c, _REAL_CONTAINER)}"
    limits = 'kube_pod_container_resource_limits{resource="memory"}'
    expr = (
        f"sum by (namespace, pod) ({used}) / on (namespace, pod) sum by (namespace, pod) ({limits})"
    )
    return Query(expr, "memory working set / limit", "ratio", 1.0)


def _node_memory(c: RecipeContext) -> Query:
    available = f"sum{_by(c)}(node_memory_MemAvailable_bytes{_sel(c)})"
    if "node_memory_MemTotal_bytes" not in c.names:
        return Query(available, "available memory", "bytes")
    total = f"sum{_by(c)}(node_memory_MemTotal_bytes{_sel(c)})"
    return Query(f"1 - {available} / {total}", "memory used", "ratio")


def _disk_free(c: RecipeContext) -> Query:
    ratio = f"node_filesystem_avail_bytes{_sel(c, _FS)} / node_filesystem_size_bytes{_sel(c, _FS)}"
    return Query(f"min{_by(c, 'mountpoint')}({ratio})", "disk free", "ratio")


def _db_connection_count(c: RecipeContext) -> Query:
    return Query(f"sum{_by(c)}(pg_stat_activity_count{_sel(c)})", "DB connections", "")


def _db_connections(c: RecipeContext) -> Query:
    if "pg_settings_max_connections" not in c.names:
        return _db_connection_count(c)
    used = f"sum{_by(c)}(pg_stat_activity_count{_sel(c)})"
    limit = f"max{_by(c)}(pg_settings_max_connections{_sel(c)})"
    return Query(f"{used} / {limit}", "DB connections / max_connections", "ratio", 1.0)


def _restarts(c: RecipeContext) -> Query:
    window = prom_duration(max(3600, c.window_s))  # restarts are rare: count them per hour
    expr = f"sum{_by(c)}(increase(kube_pod_container_status_restarts_total{_sel(c)}[{window}]))"
    return Query(expr, f"container restarts per {window}", "")


RECIPES: tuple[Recipe, ...] = (
    Recipe("request_rate", "http_requests_total", SERVICE_LABELS, _request_rate),
    Recipe("error_ratio", "http_requests_total", SERVICE_LABELS, _error_ratio),
    Recipe("latency", "http_request_duration_seconds_bucket", SERVICE_LABELS, _latency),
    Recipe("cpu", "container_cpu_usage_seconds_total", SERVICE_LABELS, _container_cpu, "pod"),
    Recipe("cpu", "node_cpu_seconds_total", NODE_LABELS, _node_cpu, "instance"),
    Recipe(
        "memory",
        "container_memory_working_set_bytes",
        SERVICE_LABELS,
        _container_memory,
        "pod",
        fallback=_container_memory_bytes,
    ),
    Recipe("memory", "node_memory_MemAvailable_bytes", NODE_LABELS, _node_memory, "instance"),
    Recipe(
        "disk",
        "node_filesystem_avail_bytes",
        NODE_LABELS,
        _disk_free,
        "instance",
        requires=("node_filesystem_size_bytes",),
    ),
    Recipe(
        "db_connections",
        "pg_stat_activity_count",
        ("service", "job", "instance", "server"),
        _db_connections,
        fallback=_db_connection_count,
    ),
    Recipe(
        "restarts",
        "kube_pod_container_status_restarts_total",
        ("container", "service", "app", "job"),
        _restarts,
        "pod",
    ),
)
"""Recipes in order of preference within each kind (containers before nodes)."""


def detect_kind(question: str) -> str | None:
    """The kind of metric question (a key of :data:`KIND_NAMES`), or ``None``."""
    text = question.lower()
    return next((kind for kind, pattern in _KIND_PATTERNS if re.search(pattern, text)), None)


def parse_quantile(question: str) -> float:
    """The latency quantile named by ``p99``, ``p99.9``, ``95th percentile`` or ``median``.

    Returns:
        The quantile in 0..1; :data:`DEFAULT_QUANTILE` when none is named.
    """
    text = question.lower()
    if short := re.search(r"\bp(\d{2,3}(?:\.\d+)?)\b", text):
        digits = short.group(1)
        value = float(digits) / 100 if "." in digits else float(f"0.{digits}")
    elif spelled := re.search(r"(\d{1,2}(?:\.\d+)?)\s*(?:st|nd|rd|th)?\s*(?:percentile|pct)", text):
        value = float(spelled.group(1)) / 100
    elif re.search(r"\bmedian\b", text):
        value = 0.5
    else:
        return DEFAULT_QUANTILE
    return value if 0 < value < 1 else DEFAULT_QUANTILE


def raw_promql(question: str) -> str | None:
    """PromQL given verbatim: ``promql: <expr>``, a fenced block, or inline backticks.

    Inline backticks count only when the text looks like PromQL (has ``(``, ``{``, ``[``
    or ``_``), so "latency of `checkout`" is still a plain question.
    """
    prefixed = re.match(r"\s*promql\s*:\s*(.+)", question, flags=re.IGNORECASE | re.DOTALL)
    if prefixed:
        return prefixed.group(1).strip().strip("`").strip() or None
    fenced = re.search(r"```(?:promql)?\s*(.+?)```", question, flags=re.DOTALL)
    if fenced:
        return fenced.group(1).strip() or None
    for inline in re.findall(r"`([^`]+)`", question):
        if re.search(r"[({\[_]", inline):
            return str(inline).strip()
    return None


def guess_unit(promql: str) -> str:
    """A unit for raw PromQL from metric-name conventions (``_seconds``, ``_bytes``, rate)."""
    if "histogram_quantile" in promql or re.search(r"_seconds(?!_total)\b", promql):
        return "s"
    if "_bytes" in promql:
        return "bytes"
    if re.search(r"\bi?rate\s*\(", promql):
        return "/s"
    return ""


def question_tokens(text: str) -> list[str]:
    """Lower-case words of a question, keeping ``-_.:/`` inside names (``node-1:9100``)."""
    return [t.strip(".:/-_") for t in re.findall(r"[a-z0-9][a-z0-9_.:/-]*", text.lower())]


def service_hint(question: str) -> str | None:
    """The word after "of/for/on/in/at/from" that is not a common or time word, if any.

    Used to tell "no service named" (aggregate everything) from "named a service that does
    not exist" (say so rather than answer for everything).
    """
    pattern = r"\b(?:of|for|on|in|at|from)\s+(?:the\s+)?([a-z0-9][a-z0-9_.:/-]*)"
    for candidate in re.findall(pattern, question.lower()):
        token = str(candidate).strip(".:/-_")
        if token and token not in _STOPWORDS and not re.fullmatch(r"\d+[smhdw]?", token):
            return token
    return None


def best_match(
    tokens: Sequence[str], values: Mapping[str, Sequence[str]]
) -> tuple[str, str] | None:
    """The ``(label, value)`` that the question's tokens name best, or ``None``.

    Scores, best first: a multi-word value appears as a phrase (``checkout api``); the
    value is a token; a token is a prefix up to a separator (``node-1`` → ``node-1:9100``);
    every part of the value appears; a token of 4+ letters is a substring; fuzzy (ratio
    ≥ 0.85). Ties go to the earlier label in ``values``, then the shorter value.

    Args:
        tokens: From :func:`question_tokens`.
        values: Label → values, in order of preference.
    """
    parts = {p for t in tokens for p in re.split(r"[-_.:/]+", t) if p}
    content = [t for t in tokens if len(t) >= 4 and t not in _STOPWORDS]
    phrase = f" {' '.join(tokens)} "
    best: tuple[float, int, int, str, str] | None = None
    for order, (label, candidates) in enumerate(values.items()):
        for value in candidates:
            score = _score(value.lower(), tokens, parts, content, phrase)
            key = (score, -order, -len(value), label, value)
            if score > 0 and (best is None or key > best):
                best = key
    return (best[3], best[4]) if best else None


def _score(
    value: str, tokens: Sequence[str], parts: set[str], content: list[str], phrase: str
) -> float:
    value_parts = [p for p in re.split(r"[-_.:/\s]+", value) if p]
    if len(value_parts) > 1 and f" {' '.join(value_parts)} " in phrase:
        return 4.5  # "checkout api" names checkout-api, more specifically than checkout
    if value in tokens:
        return 4.0
    if any(
        len(value) > len(t) and value.startswith(t) and not value[len(t)].isalnum() for t in content
    ):
        return 2.5
    if value_parts and all(p in parts for p in value_parts):
        return 2.0
    if any(t in value for t in content):
        return 1.5
    candidates = (value, *value_parts)
    close = (difflib.SequenceMatcher(None, t, v).ratio() for t in content for v in candidates)
    return 1.0 if any(ratio >= 0.85 for ratio in close) else 0.0


def step_for(span_s: float) -> float:
    """A round step giving at most about :data:`TARGET_POINTS` points over ``span_s``."""
    wanted = span_s / TARGET_POINTS
    return float(next((s for s in _NICE_STEPS_S if s >= wanted), math.ceil(wanted)))


def prom_duration(seconds: int) -> str:
    """Seconds as a PromQL duration: ``300`` → ``5m``, ``7200`` → ``2h``, ``90`` → ``90s``."""
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def label_matcher(label: str, value: str) -> str:
    """``label="value"`` with the value escaped for a PromQL string."""
    escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'{label}="{escaped}"'
