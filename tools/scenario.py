"""Scenarios: a production incident captured as files, for the demo and the evals.

A scenario directory holds ``scenario.yaml`` (name, description, question,
``start``/``end`` in RFC 3339, ``truth: {service, fault}``), ``metrics.om``
(OpenMetrics), ``alerts.json`` (Alertmanager webhook payloads), and optionally
``pagerduty.json`` and ``changes.json``. The bundled demo scenario ships inside
this package; :func:`bundled_scenario_dir` finds it.
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, Field, ValidationError

from memory.errors import ConfigError

SCENARIOS_DIR = Path(__file__).parent / "scenarios"
DEFAULT_SCENARIO = "checkout-db-pool"

_SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)(?:\s+(\S+))?$")
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def bundled_scenario_dir(name: str = DEFAULT_SCENARIO) -> Path:
    """Directory of a scenario shipped with the package."""
    return SCENARIOS_DIR / name


class Truth(BaseModel):
    """The labelled answer of a scenario."""

    service: str
    fault: str


class ScenarioMeta(BaseModel):
    """Contents of ``scenario.yaml``."""

    name: str
    description: str = ""
    question: str
    start: datetime
    end: datetime
    truth: Truth


class Series(BaseModel):
    """One time series: metric name, labels and (unix seconds, value) samples."""

    name: str
    labels: dict[str, str]
    samples: list[tuple[float, float]] = Field(default_factory=list)


class Scenario(BaseModel):
    """A loaded scenario."""

    path: Path
    meta: ScenarioMeta
    series: list[Series]
    alert_payloads: list[dict[str, Any]]
    pagerduty: dict[str, Any] = Field(default_factory=dict)
    changes: list[dict[str, Any]] = Field(default_factory=list)

    @property
    def alerts(self) -> list[dict[str, Any]]:
        """Every alert of every webhook payload."""
        return [a for p in self.alert_payloads for a in p.get("alerts", [])]

    @property
    def metric_names(self) -> list[str]:
        """Distinct metric names, sorted."""
        return sorted({s.name for s in self.series})

    @property
    def sample_count(self) -> int:
        """Total number of samples."""
        return sum(len(s.samples) for s in self.series)


def parse_openmetrics(text: str, *, source: str = "metrics.om") -> list[Series]:
    """Parse the OpenMetrics text format (samples with explicit timestamps).

    Raises:
        ConfigError: a line is malformed (names the file and line number).
    """
    by_key: dict[tuple[str, tuple[tuple[str, str], ...]], Series] = {}
    samples: dict[tuple[str, tuple[tuple[str, str], ...]], list[tuple[float, float]]] = defaultdict(
        list
    )
    for lineno, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        m = _SAMPLE.match(line)
        if m is None or m.group(5) is None:
            raise ConfigError(f"{source}:{lineno}: expected 'name{{labels}} value timestamp'")
        name, labels_text, value, ts = m.group(1), m.group(3) or "", m.group(4), m.group(5)
        labels = tuple(sorted((k, v.replace('\\"', '"')) for k, v in _LABEL.findall(labels_text)))
        try:
            point = (float(ts), float(value))
        except ValueError:
            raise ConfigError(f"{source}:{lineno}: value or timestamp is not a number") from None
        key = (name, labels)
        if key not in by_key:
            by_key[key] = Series(name=name, labels=dict(labels))
        samples[key].append(point)
    for key, series in by_key.items():
        series.samples = samples[key]
    return list(by_key.values())


def _read_json(path: Path, default: Any) -> Any:
    if not path.exists():
        return default
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{path}: invalid JSON at line {exc.lineno}: {exc.msg}") from None


def load_scenario(path: Path) -> Scenario:
    """Load a scenario directory.

    Raises:
        ConfigError: a file is missing or malformed; the message names it.
    """
    meta_file = path / "scenario.yaml"
    if not meta_file.is_file():
        raise ConfigError(f"{path}: not a scenario directory (no scenario.yaml)")
    try:
        raw = yaml.safe_load(meta_file.read_text(encoding="utf-8"))
        meta = ScenarioMeta.model_validate(raw)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{meta_file}: invalid YAML: {exc}") from None
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ConfigError(f"{meta_file}: {where}: {first['msg']}") from None
    for attr in ("start", "end"):
        value = getattr(meta, attr)
        if value.tzinfo is None:
            setattr(meta, attr, value.replace(tzinfo=UTC))
    metrics_file = path / "metrics.om"
    series = (
        parse_openmetrics(metrics_file.read_text(encoding="utf-8"), source=str(metrics_file))
        if metrics_file.exists()
        else []
    )
    payloads = _read_json(path / "alerts.json", [])
    if not isinstance(payloads, list):
        raise ConfigError(f"{path / 'alerts.json'}: expected a list of webhook payloads")
    return Scenario(
        path=path,
        meta=meta,
        series=series,
        alert_payloads=payloads,
        pagerduty=_read_json(path / "pagerduty.json", {}),
        changes=_read_json(path / "changes.json", []),
    )
