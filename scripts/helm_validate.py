"""Render the Helm chart for each value set and validate every manifest (``make lint``).

* Renderer: a real ``helm template`` when ``helm`` is on ``PATH``, otherwise
  ``scripts/helm_render.py`` (a Go-template/Sprig subset; see its docstring).
* Value sets: the chart's defaults plus ``helm/sre-copilot/ci/*-values.yaml``
  (chart-testing's convention).
* Kubernetes objects: ``kubernetes-validate`` against the Kubernetes
  ``KUBERNETES_VERSION`` JSON schemas in strict mode (unknown fields are errors),
  offline (the schemas ship inside the package). An object kind without a schema
  is an error, not a warning.
* ServiceMonitor is a Prometheus Operator CRD that kubernetes-validate has no
  schema for: it is checked against ``SERVICE_MONITOR_SCHEMA`` below, a strict
  subset of the CRD's schema covering the fields the chart sets.

Prints one summary line and exits 0, or prints each problem and exits 1.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jsonschema  # type: ignore[import-untyped]
import kubernetes_validate  # type: ignore[import-untyped]
import yaml
from helm_render import RenderError, render_chart

REPO_ROOT = Path(__file__).resolve().parent.parent
CHART_DIR = REPO_ROOT / "helm" / "sre-copilot"
KUBERNETES_VERSION = "1.35.0"
RELEASE_NAME = "sre-copilot"
NAMESPACE = "sre-copilot"
# CRDs the chart may use, announced to the renderer as served API versions.
EXTRA_API_VERSIONS = ("monitoring.coreos.com/v1",)

# Prometheus durations, as the CRD's own pattern has them.
_DURATION = {
    "type": "string",
    "pattern": r"^(0|(([0-9]+)y)?(([0-9]+)w)?(([0-9]+)d)?(([0-9]+)h)?(([0-9]+)m)?"
    r"(([0-9]+)s)?(([0-9]+)ms)?)$",
}
_LABELS = {"type": "object", "additionalProperties": {"type": "string"}}
SERVICE_MONITOR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["apiVersion", "kind", "metadata", "spec"],
    "additionalProperties": False,
    "properties": {
        "apiVersion": {"const": "monitoring.coreos.com/v1"},
        "kind": {"const": "ServiceMonitor"},
        "metadata": {
            "type": "object",
            "required": ["name"],
            "additionalProperties": False,
            "properties": {
                "name": {"type": "string", "pattern": r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"},
                "namespace": {"type": "string"},
                "labels": _LABELS,
                "annotations": _LABELS,
            },
        },
        "spec": {
            "type": "object",
            "required": ["selector", "endpoints"],
            "additionalProperties": False,
            "properties": {
                "selector": {
                    "type": "object",
                    "additionalProperties": False,
                    "properties": {"matchLabels": _LABELS},
                    "required": ["matchLabels"],
                },
                "namespaceSelector": {
                    "type": "object",
                    "additionalProperties": False,
                    "properties": {
                        "any": {"type": "boolean"},
                        "matchNames": {"type": "array", "items": {"type": "string"}},
                    },
                },
                "jobLabel": {"type": "string"},
                "endpoints": {
                    "type": "array",
                    "minItems": 1,
                    "items": {
                        "type": "object",
                        "additionalProperties": False,
                        "anyOf": [{"required": ["port"]}, {"required": ["targetPort"]}],
                        "properties": {
                            "port": {"type": "string"},
                            "targetPort": {"type": ["string", "integer"]},
                            "path": {"type": "string", "pattern": "^/"},
                            "scheme": {"enum": ["http", "https", "HTTP", "HTTPS"]},
                            "interval": _DURATION,
                            "scrapeTimeout": _DURATION,
                            "honorLabels": {"type": "boolean"},
                        },
                    },
                },
            },
        },
    },
}


@dataclass(frozen=True)
class ValueSet:
    """One combination of values to render: a name and its ``-f`` files."""

    name: str
    files: tuple[Path, ...]


@dataclass
class Report:
    """What a validation run found."""

    renderer: str
    value_sets: int = 0
    documents: int = 0
    custom_checked: int = 0
    problems: list[str] = field(default_factory=list)

    def summary(self) -> str:
        """The one line ``make lint`` prints."""
        return (
            f"helm chart: rendered with {self.renderer}; "
            f"{self.documents} documents validated for {self.value_sets} value sets "
            f"(Kubernetes {KUBERNETES_VERSION} schemas, strict; {self.custom_checked} "
            f"ServiceMonitor checked against the chart's own schema)"
        )


def value_sets(chart_dir: Path = CHART_DIR) -> list[ValueSet]:
    """The chart's defaults and each ``ci/*-values.yaml`` (defaults included only once)."""
    found = [
        ValueSet(p.name.removesuffix("-values.yaml"), (p,))
        for p in sorted(chart_dir.glob("ci/*-values.yaml"))
    ]
    if not any(v.name == "default" for v in found):
        found.insert(0, ValueSet("default", ()))
    return found


Renderer = Callable[[ValueSet], list[dict[str, Any]]]


def python_renderer(chart_dir: Path) -> Renderer:
    """Render with ``scripts/helm_render.py``."""

    def render(value_set: ValueSet) -> list[dict[str, Any]]:
        rendered = render_chart(
            chart_dir,
            values_files=value_set.files,
            release_name=RELEASE_NAME,
            namespace=NAMESPACE,
            kube_version=KUBERNETES_VERSION,
            api_versions=EXTRA_API_VERSIONS,
        )
        return rendered.documents()

    return render


def helm_renderer(helm: str, chart_dir: Path) -> Renderer:
    """Render with a real ``helm template``."""

    def render(value_set: ValueSet) -> list[dict[str, Any]]:
        cmd = [helm, "template", RELEASE_NAME, str(chart_dir), "--namespace", NAMESPACE]
        cmd += ["--kube-version", KUBERNETES_VERSION]
        for api in EXTRA_API_VERSIONS:
            cmd += ["--api-versions", api]
        for path in value_set.files:
            cmd += ["--values", str(path)]
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            raise RenderError(f"{' '.join(cmd)}: {proc.stderr.strip()}")
        return [d for d in yaml.safe_load_all(proc.stdout) if d is not None]

    return render


def pick_renderer(chart_dir: Path = CHART_DIR, path: str | None = None) -> tuple[str, Renderer]:
    """A real Helm when one is on ``PATH``, else the Python renderer; and its name."""
    helm = shutil.which("helm", path=path)
    if helm:
        return f"helm ({helm})", helm_renderer(helm, chart_dir)
    return "scripts/helm_render.py (no helm on PATH)", python_renderer(chart_dir)


def validate_document(doc: dict[str, Any]) -> str | None:
    """Validate one object; the problem as one line, or None when it is valid."""
    kind = doc.get("kind")
    name = (doc.get("metadata") or {}).get("name", "?")
    where = f"{kind}/{name}"
    if kind == "ServiceMonitor":
        validator = jsonschema.Draft202012Validator(SERVICE_MONITOR_SCHEMA)
        errors = sorted(validator.iter_errors(doc), key=lambda e: list(e.path))
        if errors:
            err = errors[0]
            return f"{where}: {'.'.join(str(p) for p in err.path) or '<root>'}: {err.message}"
        return None
    try:
        kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)
    except kubernetes_validate.ValidationError as exc:
        path = ".".join(str(p) for p in exc.path) or "<root>"
        return f"{where}: {path}: {exc.message}"
    except kubernetes_validate.SchemaNotFoundError as exc:
        return f"{where}: {exc.message}"
    return None


def check_unique(docs: Iterable[dict[str, Any]]) -> list[str]:
    """Two objects of one kind may not share a name."""
    seen: set[tuple[str, str]] = set()
    problems = []
    for doc in docs:
        key = (str(doc.get("kind")), str((doc.get("metadata") or {}).get("name")))
        if key in seen:
            problems.append(f"{key[0]}/{key[1]}: rendered twice")
        seen.add(key)
    return problems


def run(sets: Sequence[ValueSet], renderer_name: str, renderer: Renderer) -> Report:
    """Render each value set and validate each document."""
    report = Report(renderer=renderer_name)
    for value_set in sets:
        try:
            docs = renderer(value_set)
        except RenderError as exc:
            report.problems.append(f"[{value_set.name}] render failed: {exc}")
            continue
        report.value_sets += 1
        if not docs:
            report.problems.append(f"[{value_set.name}] rendered no documents")
        report.problems += [f"[{value_set.name}] {p}" for p in check_unique(docs)]
        for doc in docs:
            problem = validate_document(doc)
            report.documents += 1
            report.custom_checked += doc.get("kind") == "ServiceMonitor"
            if problem:
                report.problems.append(f"[{value_set.name}] {problem}")
    return report


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``make lint``'s chart check; returns the exit status."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chart", type=Path, default=CHART_DIR)
    args = parser.parse_args(argv)
    name, renderer = pick_renderer(args.chart)
    report = run(value_sets(args.chart), name, renderer)
    for problem in report.problems:
        sys.stderr.write(f"error: {problem}\n")
    sys.stdout.write(report.summary() + "\n")
    return 1 if report.problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
