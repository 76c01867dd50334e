"""Plain-language metric questions: question → PromQL → range query → summary and chart.

The path is deterministic (no LLM). A question is read for its kind (request rate, error
ratio, latency quantile, CPU, memory, disk free, DB connections, restarts; see
:mod:`agents.metric_recipes`), then the source is asked what exists instead of assuming:

1. which metric names exist in the window (``metric_names``), to pick a recipe;
2. which label carries the service (``service``, ``job``, ``app``, ``container``; node
   metrics use ``instance``, ``node``, ``job``), via ``label_values`` scoped with
   ``match=[metric]``, and which of its values the question names;
3. for error ratios, whether the status lives in ``code``, ``status`` or ``status_code``.

A question starting with ``promql:`` or containing backticked PromQL runs as-is.

The range query aims at about 200 points with a round step (the client raises a step that
would exceed Prometheus's point limit); ``rate()`` windows are ``5m``, or the step when
longer, so long windows do not skip samples between steps.

Upstream trouble never raises out of :func:`answer_metric_question`: it becomes a reply of
kind ``"error"`` whose ``failed_sources`` names the source and the exact query.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from agents.charts import format_value, render_timeseries_png
from agents.metric_recipes import (
    ERROR_LABELS,
    KIND_NAMES,
    RATE_WINDOW_S,
    RECIPES,
    Query,
    Recipe,
    RecipeContext,
    best_match,
    detect_kind,
    guess_unit,
    label_matcher,
    parse_quantile,
    question_tokens,
    raw_promql,
    service_hint,
    step_for,
)
from agents.reply import Attachment, Reply, Section, SourceFailure
from memory.errors import CopilotError
from tools.metrics import MetricsSource
from tools.prometheus_client import QueryResult
from tools.prometheus_time import as_utc

logger = logging.getLogger(__name__)

MAX_SERIES_SHOWN = 5
"""Series summarised and drawn: the top ones by last value."""
TREND_THRESHOLD = 0.1
"""Least-squares change over the window, relative to the mean, that counts as a trend."""


@dataclass(frozen=True)
class MetricPlan:
    """A question turned into one PromQL range query.

    Attributes:
        kind: A key of :data:`agents.metric_recipes.KIND_NAMES`, or ``raw`` for PromQL
            given by the user.
        promql: The exact expression to run.
        title: What the values are, e.g. ``"p99 latency"``.
        unit: Unit for formatting (see :func:`agents.charts.format_value`).
        service_label: Label that selected the service (``None``: no service filter).
        service: The label value selected.
        step_s: Range-query step (about 200 points).
        threshold: Reference line for the chart (1.0 for ratios to a limit).
        fallback: A simpler plan to run when this one returns no series.
    """

    kind: str
    promql: str
    title: str
    unit: str
    service_label: str | None = None
    service: str | None = None
    step_s: float = 60.0
    threshold: float | None = None
    fallback: MetricPlan | None = None


@dataclass(frozen=True)
class SeriesStats:
    """Summary of one series' finite samples over the window."""

    name: str
    first: float
    last: float
    minimum: float
    maximum: float
    mean: float
    trend: str
    points: list[tuple[float, float]]


@dataclass(frozen=True)
class _NoMatch:
    reason: str
    looked_for: list[str]
    found: list[str]


class _QueryFailed(Exception):
    """A source call failed; carries what was asked (PromQL or a discovery call)."""

    def __init__(self, query: str, cause: CopilotError) -> None:
        super().__init__(query)
        self.query = query
        self.cause = cause


async def plan_metric_query(
    *,
    question: str,
    source: MetricsSource,
    start: datetime,
    end: datetime,
    service: str | None = None,
) -> MetricPlan | None:
    """Turn a plain-language question into one PromQL range query, using discovery.

    Args:
        question: For example ``"p99 latency of checkout"`` or ``"promql: up"``.
        source: Where to discover metric names and label values.
        start: Window start (aware, or naive UTC).
        end: Window end.
        service: The service to filter on, overriding what the question names.

    Returns:
        The plan, or ``None`` when the question matches no known metric family, the
        family does not exist in the window, or the named service is not found.

    Raises:
        IntegrationError: The source failed during discovery.
    """
    try:
        found = await _plan(question=question, source=source, start=start, end=end, service=service)
    except _QueryFailed as failed:
        raise failed.cause from None
    return found if isinstance(found, MetricPlan) else None


async def answer_metric_question(
    *,
    question: str,
    source: MetricsSource,
    start: datetime,
    end: datetime,
    chart_dir: Path,
    service: str | None = None,
) -> Reply:
    """Answer a metric question with a one-sentence summary, per-series stats and a chart.

    Args:
        question: Plain language, or PromQL (``promql: <expr>`` or in backticks).
        source: The metrics source (live Prometheus or files).
        start: Window start (aware, or naive UTC).
        end: Window end.
        chart_dir: Directory for the PNG chart (created when missing).
        service: The service to filter on, overriding what the question names.

    Returns:
        A reply whose ``text`` is the headline, ``promql`` the query run, with one section
        of per-series last / min / max / mean / trend (top :data:`MAX_SERIES_SHOWN` by last
        value) and the chart as an attachment. No match or no data gives kind ``"info"``;
        a failing source gives kind ``"error"`` with ``failed_sources``. Never raises for
        upstream trouble.
    """
    start, end = as_utc(start), as_utc(end)
    if end <= start:
        return Reply(kind="error", text=f"The window is empty: {_window(start, end)}.")
    where = f"metrics {source.base_url}"
    try:
        plan = await _plan(question=question, source=source, start=start, end=end, service=service)
        if isinstance(plan, _NoMatch):
            return _no_match_reply(plan)
        result = await _run(source, plan, start=start, end=end)
        while result.empty and plan.fallback is not None:
            plan = plan.fallback
            result = await _run(source, plan, start=start, end=end)
    except _QueryFailed as failed:
        logger.warning("metric question failed at %s on %s: %s", where, failed.query, failed.cause)
        is_promql = not failed.query.startswith("discovery:")
        return Reply(
            kind="error",
            text=f"Could not answer: the metrics source failed on `{failed.query}`.",
            promql=[failed.query] if is_promql else [],
            failed_sources=[
                SourceFailure(source=where, error=f"{failed.cause} (query: {failed.query})")
            ],
            notes=[f"Window {_window(start, end)}."],
        )
    return await _answer(plan, result, start=start, end=end, chart_dir=chart_dir)


def summarize_series(name: str, points: Sequence[tuple[float, float]]) -> SeriesStats | None:
    """First, last, min, max, mean and trend of one series' finite samples.

    The trend is the least-squares slope times the window length, relative to the mean
    (or to the largest magnitude when the mean is zero): beyond :data:`TREND_THRESHOLD`
    it is ``"rising"`` or ``"falling"``, otherwise ``"flat"``.

    Args:
        name: Display name of the series.
        points: ``(unix seconds, value)`` samples; NaN and infinities are ignored.

    Returns:
        The summary (``points`` kept as given, for charts), or ``None`` when no sample
        is finite.
    """
    finite = [(t, v) for t, v in points if math.isfinite(v)]
    if not finite:
        return None
    values = [v for _, v in finite]
    mean = math.fsum(values) / len(values)
    trend = "flat"
    t_mean = math.fsum(t for t, _ in finite) / len(finite)
    var = math.fsum((t - t_mean) ** 2 for t, _ in finite)
    scale = abs(mean) or max(abs(v) for v in values)
    if var > 0 and scale > 0:
        slope = math.fsum((t - t_mean) * (v - mean) for t, v in finite) / var
        change = slope * (finite[-1][0] - finite[0][0]) / scale
        if change > TREND_THRESHOLD:
            trend = "rising"
        elif change < -TREND_THRESHOLD:
            trend = "falling"
    return SeriesStats(
        name=name,
        first=values[0],
        last=values[-1],
        minimum=min(values),
        maximum=max(values),
        mean=mean,
        trend=trend,
        points=list(points),
    )


async def _run(
    source: MetricsSource, plan: MetricPlan, *, start: datetime, end: datetime
) -> QueryResult:
    try:
        return await source.query_range(plan.promql, start=start, end=end, step_s=plan.step_s)
    except CopilotError as exc:
        raise _QueryFailed(plan.promql, exc) from exc


async def _plan(
    *, question: str, source: MetricsSource, start: datetime, end: datetime, service: str | None
) -> MetricPlan | _NoMatch:
    start, end = as_utc(start), as_utc(end)
    step = step_for((end - start).total_seconds())
    raw = raw_promql(question)
    if raw is not None:
        return MetricPlan(kind="raw", promql=raw, title="result", unit=guess_unit(raw), step_s=step)
    kind = detect_kind(question)
    try:
        names = frozenset(await source.metric_names(start=start, end=end))
    except CopilotError as exc:
        raise _QueryFailed("discovery: metric names", exc) from exc
    known = sorted({m for r in RECIPES for m in (r.metric, *r.requires)} & names)
    found = known or sorted(names)[:15]
    if kind is None:
        looked = [f"{KIND_NAMES[r.kind]}: {r.metric}" for r in RECIPES]
        return _NoMatch("the question names no kind of metric I know", looked, found)
    recipes = [r for r in RECIPES if r.kind == kind]
    looked = [" and ".join((r.metric, *r.requires)) for r in recipes]
    usable = [r for r in recipes if {r.metric, *r.requires} <= names]
    if not usable:
        return _NoMatch(f"no {KIND_NAMES[kind]} metric exists in this window", looked, found)
    tokens = question_tokens(service or question)
    hint = service or service_hint(question)
    seen: list[str] = []
    for recipe in usable:
        values = await _label_values(source, recipe, kind=kind, start=start, end=end)
        error_label = next((label for label in ERROR_LABELS if values.get(label)), None)
        if kind == "error_ratio" and error_label is None:
            seen.append(f"{recipe.metric} (no {'/'.join(ERROR_LABELS)} label)")
            continue
        candidates = {label: values[label] for label in recipe.labels if values.get(label)}
        match = best_match(tokens, candidates)
        if match is None and hint is not None:
            seen += [f"{recipe.metric} {k}: {', '.join(v[:10])}" for k, v in candidates.items()]
            continue
        ctx = RecipeContext(
            matchers=(label_matcher(*match),) if match else (),
            group=recipe.group or (match[0] if match else next(iter(candidates), None)),
            window_s=max(RATE_WINDOW_S, math.ceil(step)),
            names=names,
            quantile=parse_quantile(question),
            error_label=error_label,
        )
        return _make(recipe, ctx, kind=kind, match=match, step=step)
    reason = f"nothing matches the service {hint!r}" if hint else "no usable series"
    return _NoMatch(reason, looked, seen or found)


def _make(
    recipe: Recipe,
    ctx: RecipeContext,
    *,
    kind: str,
    match: tuple[str, str] | None,
    step: float,
) -> MetricPlan:
    def plan(query: Query, fallback: MetricPlan | None = None) -> MetricPlan:
        return MetricPlan(
            kind=kind,
            promql=query.promql,
            title=query.title,
            unit=query.unit,
            service_label=match[0] if match else None,
            service=match[1] if match else None,
            step_s=step,
            threshold=query.threshold,
            fallback=fallback,
        )

    main = recipe.build(ctx)
    simpler = recipe.fallback(ctx) if recipe.fallback else None
    if simpler is None or simpler.promql == main.promql:
        return plan(main)
    return plan(main, plan(simpler))


async def _label_values(
    source: MetricsSource, recipe: Recipe, *, kind: str, start: datetime, end: datetime
) -> dict[str, list[str]]:
    extra = ERROR_LABELS if kind == "error_ratio" else ()
    labels = list(dict.fromkeys((*recipe.labels, *extra)))
    answers = await asyncio.gather(
        *(source.label_values(lbl, match=[recipe.metric], start=start, end=end) for lbl in labels),
        return_exceptions=True,  # so one failure does not leave the others unawaited
    )
    values: dict[str, list[str]] = {}
    for label, answer in zip(labels, answers, strict=True):
        if isinstance(answer, CopilotError):
            raise _QueryFailed(f"discovery: values of {label} for {recipe.metric}", answer)
        if isinstance(answer, BaseException):
            raise answer
        values[label] = sorted(answer)
    return values


async def _answer(
    plan: MetricPlan, result: QueryResult, *, start: datetime, end: datetime, chart_dir: Path
) -> Reply:
    notes = [f"Window {_window(start, end)}, step {result.time_range.step_s or plan.step_s:g}s."]
    if result.step_clamped:
        notes.append("The step was raised to stay under Prometheus's point limit.")
    stats = [s for s in (_summarize(series.metric, series.values) for series in result.series) if s]
    if not stats:
        return Reply(
            kind="info",
            text=f"No data for {_subject(plan, None)} in {_window(start, end)}.",
            promql=[plan.promql],
            notes=[*notes, "Check the window, or rephrase (or give PromQL as `promql: ...`)."],
        )
    stats.sort(key=lambda s: s.last, reverse=True)
    shown = stats[:MAX_SERIES_SHOWN]
    lines = [_stats_line(s, plan.unit) for s in shown]
    if len(stats) > len(shown):
        lines.append(
            f"_{len(stats) - len(shown)} more series omitted "
            f"(showing the top {len(shown)} by last value)._"
        )
    counted = "1 series" if len(stats) == 1 else f"top {len(shown)} of {len(stats)} series"
    reply = Reply(
        text=_headline(plan, shown[0], total=len(stats)),
        sections=[
            Section(
                title=f"{plan.title[:1].upper()}{plan.title[1:]} ({counted})", body="\n".join(lines)
            )
        ],
        promql=[plan.promql],
        notes=notes,
    )
    title = _subject(plan, None) if plan.kind != "raw" else _clip(plan.promql, 80)
    digest = hashlib.sha256(f"{plan.promql}|{start}|{end}".encode()).hexdigest()[:12]
    slug = re.sub(r"[^a-z0-9]+", "-", f"{plan.kind}-{plan.service or 'all'}".lower()).strip("-")
    path = chart_dir / f"{slug}-{digest}.png"
    try:
        await asyncio.to_thread(_draw, title, shown, plan, path)
    except OSError as exc:  # the numbers stand without the chart
        logger.warning("chart %s not written: %s", path, exc)
        reply.notes.append(f"No chart: {exc}")
        return reply
    reply.attachments.append(Attachment(filename=path.name, title=title, path=str(path)))
    return reply


def _draw(title: str, stats: Sequence[SeriesStats], plan: MetricPlan, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    render_timeseries_png(
        title=title,
        series=[(s.name, s.points) for s in stats],
        unit=plan.unit,
        path=path,
        threshold=plan.threshold,
        threshold_label="limit",
    )


def _summarize(metric: dict[str, str], points: Sequence[tuple[float, float]]) -> SeriesStats | None:
    labels = {k: v for k, v in metric.items() if k != "__name__"}
    if len(labels) == 1:
        name = next(iter(labels.values()))
    elif labels:
        name = ", ".join(f"{k}={v}" for k, v in sorted(labels.items()))
    else:
        name = metric.get("__name__", "")
    return summarize_series(name, points)


def _subject(plan: MetricPlan, series: str | None) -> str:
    if plan.kind == "raw":
        return series or f"`{_clip(plan.promql, 80)}`"
    who = series or plan.service
    return f"{who} {plan.title}" if who else plan.title


def _headline(plan: MetricPlan, top: SeriesStats, *, total: int) -> str:
    def fmt(value: float) -> str:
        return format_value(value, plan.unit)

    subject, now = _subject(plan, top.name or None), fmt(top.last)
    if top.trend == "rising":
        text = f"{subject} rose from {fmt(top.first)} to {fmt(top.maximum)}; now {now} (rising)"
    elif top.trend == "falling":
        text = f"{subject} fell from {fmt(top.first)} to {fmt(top.minimum)}; now {now} (falling)"
    elif fmt(top.minimum) == fmt(top.maximum):
        text = f"{subject} is {now} (flat)"
    else:
        text = f"{subject} is {now} (flat, {fmt(top.minimum)} to {fmt(top.maximum)})"
    if total > 1:
        text += f", the highest of {total} series"
    return text + "."


def _stats_line(s: SeriesStats, unit: str) -> str:
    def fmt(value: float) -> str:
        return format_value(value, unit)

    return (
        f"• *{s.name or 'value'}*: last {fmt(s.last)} · min {fmt(s.minimum)}"
        f" · max {fmt(s.maximum)} · mean {fmt(s.mean)} · {s.trend}"
    )


def _no_match_reply(no_match: _NoMatch) -> Reply:
    return Reply(
        kind="info",
        text=f"I could not turn that into a metric query: {no_match.reason}.",
        sections=[
            Section(title="Looked for", body="\n".join(f"• {m}" for m in no_match.looked_for)),
            Section(title="Found", body="\n".join(f"• {m}" for m in no_match.found) or "nothing"),
        ],
        notes=[
            "Try rephrasing, e.g. “p99 latency of checkout”, “error ratio for payments”, "
            "“CPU of node-1”, or give PromQL as `promql: <expr>`."
        ],
    )


def _window(start: datetime, end: datetime) -> str:
    return f"{start:%Y-%m-%d %H:%M} → {end:%Y-%m-%d %H:%M} UTC"


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
