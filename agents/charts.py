"""Time-series charts as PNG files, and the unit formatting they share with answers.

Charts are drawn with matplotlib's object API on the Agg canvas
(:class:`~matplotlib.backends.backend_agg.FigureCanvasAgg`), chosen explicitly per figure:
no display is needed, ``pyplot`` is never imported, and no global backend or figure state is
touched, so rendering in a worker thread or in a test leaves nothing behind.

The default size is 1000 x 450 px, which Slack shows as a readable inline preview.
Timestamps are Unix seconds and the time axis is UTC.

Units understood by :func:`format_value` (and the y-axis labels): ``"s"`` (shown as s, ms
or µs), ``"ratio"`` (0..1 shown as %), ``"bytes"`` (B, KiB, MiB, GiB, TiB), ``"req/s"``,
``"cores"``, ``""`` (a plain number), ``"/s"``-style rates (appended without a space) and
any other string, appended after a space.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from datetime import UTC
from pathlib import Path

import numpy as np
from matplotlib.artist import Artist
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.dates import AutoDateLocator, ConciseDateFormatter
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import FuncFormatter
from numpy.typing import NDArray

logger = logging.getLogger(__name__)

CHART_WIDTH_PX = 1000
"""Width of a chart (Slack's inline preview keeps it readable)."""
CHART_HEIGHT_PX = 450
"""Height of a chart."""
MAX_LEGEND_ENTRIES = 8
"""Series named in the legend; the rest are drawn and counted as ``+N more``."""

_DPI = 100
_MAX_LABEL_CHARS = 48
_BYTE_UNITS = ("B", "KiB", "MiB", "GiB", "TiB", "PiB")

Points = Sequence[tuple[float, float]]
"""``(unix seconds, value)`` samples of one series."""
BandPoints = Sequence[tuple[float, float, float]]
"""``(unix seconds, lower, upper)`` samples of a confidence band."""


def format_number(value: float) -> str:
    """A number with about three significant digits, without exponent for usual sizes.

    Args:
        value: The number.

    Returns:
        For example ``"0.21"``, ``"10"``, ``"16.7"``, ``"1,234"``; ``"n/a"`` for NaN.
    """
    if math.isnan(value):
        return "n/a"
    if math.isinf(value):
        return "∞" if value > 0 else "-∞"
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    if value == 0:
        return "0"
    return f"{value:.3g}"


def format_value(value: float, unit: str) -> str:
    """Format a value in its unit for people.

    Args:
        value: The raw value (seconds, a 0..1 ratio, bytes, ...).
        unit: One of the units listed in the module docstring.

    Returns:
        For example ``"210 ms"``, ``"16.7%"``, ``"7.65 GiB"``, ``"10 req/s"``.
    """
    if not math.isfinite(value):
        return format_number(value)
    if unit == "s":
        magnitude = abs(value)
        if magnitude == 0 or magnitude >= 1:
            return f"{format_number(value)} s"
        if magnitude >= 1e-3:
            return f"{format_number(value * 1e3)} ms"
        return f"{format_number(value * 1e6)} µs"
    if unit == "ratio":
        return f"{format_number(value * 100)}%"
    if unit == "bytes":
        scaled, index = value, 0
        while abs(scaled) >= 1024 and index < len(_BYTE_UNITS) - 1:
            scaled /= 1024
            index += 1
        return f"{format_number(scaled)} {_BYTE_UNITS[index]}"
    if not unit:
        return format_number(value)
    if unit.startswith("/"):
        return f"{format_number(value)}{unit}"
    return f"{format_number(value)} {unit}"


def render_timeseries_png(
    *,
    title: str,
    series: Sequence[tuple[str, Points]],
    unit: str,
    path: Path,
    threshold: float | None = None,
    band: BandPoints | None = None,
    threshold_label: str = "threshold",
    band_label: str = "confidence band",
) -> Path:
    """Draw series over time into a PNG file of 1000 x 450 px.

    Args:
        title: Chart title.
        series: ``(label, [(unix seconds, value), ...])`` per line; NaN values leave gaps.
        unit: Unit of the values, used for the y-axis tick labels (see :func:`format_value`).
        path: Where to write the PNG; the parent directory must exist.
        threshold: Draw a dashed horizontal line at this value.
        band: ``[(unix seconds, lower, upper), ...]`` drawn as a shaded band (forecasts).
        threshold_label: Legend text of the threshold line.
        band_label: Legend text of the band.

    Returns:
        ``path``, once written.

    Raises:
        OSError: The file cannot be written.
    """
    figure = Figure(figsize=(CHART_WIDTH_PX / _DPI, CHART_HEIGHT_PX / _DPI), dpi=_DPI)
    FigureCanvasAgg(figure)  # attaches itself as figure.canvas: Agg, whatever the default
    axes = figure.add_subplot()
    handles: list[Line2D] = []
    for label, points in series:
        if not points:
            continue
        (line,) = axes.plot(
            _times([t for t, _ in points]),
            [v for _, v in points],
            linewidth=1.8,
            label=_short(label),
        )
        handles.append(line)
    if band:
        axes.fill_between(
            _times([t for t, _, _ in band]),
            [lo for _, lo, _ in band],
            [hi for _, _, hi in band],
            alpha=0.2,
            color="tab:blue",
            linewidth=0,
        )
    if threshold is not None:
        axes.axhline(threshold, color="tab:red", linestyle="--", linewidth=1.4)
    if not handles and not band:
        axes.text(0.5, 0.5, "no data", ha="center", va="center", transform=axes.transAxes)
    _style(axes, title=title, unit=unit)
    _legend(
        axes,
        handles,
        threshold=threshold,
        threshold_label=threshold_label,
        band_label=band_label if band else None,
    )
    figure.subplots_adjust(left=0.09, right=0.98, top=0.9, bottom=0.14)
    figure.savefig(path, format="png", dpi=_DPI)
    logger.debug("chart %s written with %s series", path, len(handles))
    return path


def _times(timestamps: Sequence[float]) -> NDArray[np.datetime64]:
    # datetime64 has no zone; matplotlib reads it as UTC, which is what the samples are
    return np.array([round(t * 1000) for t in timestamps], dtype="datetime64[ms]")


def _short(label: str) -> str:
    if len(label) <= _MAX_LABEL_CHARS:
        return label
    return label[: _MAX_LABEL_CHARS - 1] + "…"


def _style(axes: Axes, *, title: str, unit: str) -> None:
    axes.set_title(title if len(title) <= 90 else title[:89] + "…", fontsize=14)
    # matplotlib.dates ships without type hints, hence the two named ignores
    locator = AutoDateLocator(tz=UTC, minticks=4, maxticks=10)  # type: ignore[no-untyped-call]
    formatter = ConciseDateFormatter(locator, tz=UTC)  # type: ignore[no-untyped-call]
    axes.xaxis.set_major_locator(locator)
    axes.xaxis.set_major_formatter(formatter)
    axes.set_xlabel("time (UTC)", fontsize=11)
    axes.yaxis.set_major_formatter(FuncFormatter(lambda value, _pos: format_value(value, unit)))
    axes.tick_params(labelsize=11)
    axes.grid(visible=True, alpha=0.3)
    low, high = axes.get_ylim()
    if low > 0:  # anchor positive series at zero so small wiggles do not look dramatic
        axes.set_ylim(bottom=0.0, top=high)


def _legend(
    axes: Axes,
    handles: list[Line2D],
    *,
    threshold: float | None,
    threshold_label: str,
    band_label: str | None,
) -> None:
    entries: list[Artist] = list(handles[:MAX_LEGEND_ENTRIES])
    hidden = len(handles) - len(entries)
    if hidden > 0:
        entries.append(Line2D([], [], linestyle="none", label=f"+{hidden} more"))
    if threshold is not None:
        entries.append(Line2D([], [], color="tab:red", linestyle="--", label=threshold_label))
    if band_label is not None:
        entries.append(Patch(color="tab:blue", alpha=0.2, label=band_label))
    if entries:
        axes.legend(handles=entries, loc="best", fontsize=10, framealpha=0.85)
