"""OpenMetrics with the awkward shapes PromQL semantics hinge on, for differential tests.

Window: :data:`EDGE_START` (2026-03-01T00:00:00Z) to two hours later. Deterministic:

* ``edge_requests_total{instance="a"}``: a counter scraped every 15 s with 1.5 s jitter on
  every third scrape, reset at minutes 20 and 50, and silent from minute 60 to 75 (so
  instant selectors go stale after 5 min);
* ``edge_requests_total{instance="b"}``: a counter far from zero, every 30 s, ending at
  minute 90;
* ``edge_gauge{instance=a|nan|inf}``: a sine wave; one ``NaN`` (minute 30) and one
  ``+Inf`` (minute 40) sample in the last two;
* ``edge_dup_a{x="1"}`` / ``edge_dup_b{x="1"}``: two names with the same labels (a
  function dropping ``__name__`` yields duplicate label sets);
* ``edge_hist_bucket{case=...}``: classic histograms with a normal shape, no ``+Inf``
  bucket, non-monotonic counts, duplicate bounds (``1`` and ``1.0``), negative bounds,
  zero observations, only ``+Inf``, and an unparsable ``le``.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

EDGE_START = datetime(2026, 3, 1, tzinfo=UTC)
EDGE_END = EDGE_START + timedelta(hours=2)

_HISTOGRAMS: dict[str, dict[str, float]] = {
    "normal": {"0.1": 1, "0.5": 4, "1": 9, "+Inf": 10},
    "noinf": {"0.1": 1, "1": 3},
    "nonmono": {"0.1": 5, "0.5": 3, "1": 8, "+Inf": 9},
    "dupe": {"0.5": 2, "1": 3, "1.0": 4, "+Inf": 10},
    "negative": {"-1": 2, "0": 4, "1": 6, "+Inf": 8},
    "empty": {"0.1": 0, "+Inf": 0},
    "onlyinf": {"+Inf": 5},
    "bad": {"abc": 3, "0.2": 1, "+Inf": 4},
}


def _line(name: str, labels: dict[str, str], t: float, value: float) -> tuple[float, str]:
    rendered = ",".join(f'{k}="{v}"' for k, v in labels.items())
    text = "NaN" if math.isnan(value) else ("+Inf" if value == math.inf else repr(value))
    return t, f"{name}{{{rendered}}} {text} {t:.3f}"


def render_edge_metrics() -> str:
    """The OpenMetrics text (samples in time order, ``# EOF`` terminated)."""
    start = EDGE_START.timestamp()
    lines: list[tuple[float, str]] = []
    value = 5.0
    for i in range(481):
        if 60 <= i / 4 < 75:
            continue  # the scrape gap
        value = float(i % 5) if i in (80, 200) else value + 3 + i % 7
        t = start + i * 15 + (1.5 if i % 3 == 1 else 0.0)
        lines.append(_line("edge_requests_total", {"instance": "a", "job": "edge"}, t, value))
    for i in range(181):
        labels = {"instance": "b", "job": "edge"}
        lines.append(_line("edge_requests_total", labels, start + i * 30, 1e6 + 17.5 * i))
    for i in range(121):
        t = start + i * 60
        wave = 50 + 20 * math.sin(i / 9)
        lines.append(_line("edge_gauge", {"instance": "a"}, t, round(wave, 3)))
        nan = math.nan if i == 30 else round(wave * 2, 3)
        lines.append(_line("edge_gauge", {"instance": "nan"}, t, nan))
        inf = math.inf if i == 40 else round(-wave, 3)
        lines.append(_line("edge_gauge", {"instance": "inf"}, t, inf))
        lines.append(_line("edge_dup_a", {"x": "1"}, t, float(i)))
        lines.append(_line("edge_dup_b", {"x": "1"}, t, float(2 * i)))
        for case, buckets in _HISTOGRAMS.items():
            for le, per_minute in buckets.items():
                count = float(per_minute * i * (1 + (i % 4) / 10))
                lines.append(_line("edge_hist_bucket", {"case": case, "le": le}, t, count))
    lines.sort(key=lambda item: item[0])
    return "\n".join(text for _, text in lines) + "\n# EOF\n"
