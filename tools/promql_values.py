"""Values of the PromQL evaluator: label sets, stored series, samples and windows.

Shared by :mod:`tools.promql_eval`, :mod:`tools.promql_binops` and
:mod:`tools.promql_functions`. Timestamps are integer milliseconds, as in Prometheus, so
window edges compare exactly.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from memory.errors import UpstreamHTTPError

Labels = tuple[tuple[str, str], ...]
"""A label set as sorted ``(name, value)`` pairs, ``__name__`` included."""


@dataclass(frozen=True, slots=True)
class StoredSeries:
    """One stored series: label set and samples (milliseconds, value) in time order."""

    labels: Labels
    ts: list[int]
    values: list[float]

    def get(self, name: str) -> str:
        """Value of one label, ``""`` when absent."""
        return next((v for k, v in self.labels if k == name), "")


@dataclass(frozen=True, slots=True)
class Sample:
    """One element of an instant vector (``ts`` is the sample's time for selectors)."""

    labels: Labels
    value: float
    ts: int


@dataclass(frozen=True, slots=True)
class Window:
    """One element of a range vector: the samples of a series inside the range."""

    labels: Labels
    ts: Sequence[int]
    values: Sequence[float]


Value = float | str | list[Sample] | list[Window]
"""The result of evaluating an expression at one instant."""


def execution_error(message: str) -> UpstreamHTTPError:
    """An evaluation error, as Prometheus's ``execution`` answer (HTTP 422)."""
    return UpstreamHTTPError(message, status_code=422)


def drop_name(labels: Labels) -> Labels:
    """``labels`` without ``__name__``."""
    return tuple(p for p in labels if p[0] != "__name__")


def check_unique(samples: list[Sample]) -> list[Sample]:
    """Return ``samples``; raise like Prometheus when two share a label set."""
    if len({s.labels for s in samples}) != len(samples):
        raise execution_error("vector cannot contain metrics with the same labelset")
    return samples
