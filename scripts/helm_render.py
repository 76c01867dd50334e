"""Render a Helm 3 chart without Helm: ``helm template`` for the subset our chart uses.

Usage (the same arguments as ``helm template``, fewer of them)::

    python scripts/helm_render.py template RELEASE CHART_DIR [-f VALUES]... \
        [--namespace NS] [--kube-version 1.35.0] [--api-versions monitoring.coreos.com/v1]

How it renders, as Helm does:

* every file under ``templates/`` is parsed into one template set named
  ``<chart>/templates/<path>``, so ``define``s are global and a file can be
  ``include``d (checksum annotations); files starting with ``_`` only define;
* the data is ``.Values`` (``values.yaml`` deep-merged with each ``-f`` file in
  order; ``null`` deletes a key), ``.Release``, ``.Chart`` (Chart.yaml with Go field
  names), ``.Capabilities`` (``KubeVersion``, ``APIVersions.Has``) and ``.Template``;
* functions are Go's built-ins (see ``helm_template``), Helm's ``include``,
  ``required``, ``fail``, ``tpl``, ``toYaml`` and the Sprig functions listed in
  :func:`sprig_functions`; an unknown function fails the parse, as in Helm;
* output is every rendered manifest file that is not blank, as ``# Source:`` blocks;
  ``NOTES.txt`` is rendered but, like ``helm template``, not printed.

Not emulated: subcharts, ``.Files``, ``lookup``, schema files, hooks ordering and
the ``kubeVersion`` constraint of Chart.yaml.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from helm_template import Function, TemplateError, TemplateSet, format_value, go_quote, truth

DEFAULT_KUBE_VERSION = "1.35.0"
# API groups a plain cluster serves; --api-versions adds more (e.g. CRDs).
BASE_API_VERSIONS = (
    "v1",
    "apps/v1",
    "batch/v1",
    "autoscaling/v2",
    "networking.k8s.io/v1",
    "policy/v1",
    "rbac.authorization.k8s.io/v1",
)


class RenderError(Exception):
    """The chart could not be rendered (bad values, a template error, ``required``)."""


# --------------------------------------------------------------------------- Sprig


def strval(value: Any) -> str:
    """Sprig's ``strval``: strings as they are, anything else as Go prints it."""
    return value if isinstance(value, str) else format_value(value)


def empty(value: Any) -> bool:
    """Sprig's ``empty``: nil, false, 0 and empty strings/lists/maps."""
    return not truth(value)


def to_yaml(value: Any) -> str:
    """Helm's ``toYaml``: sorted keys, block style, no trailing newline."""

    class _Dumper(yaml.SafeDumper):
        pass

    def _str(dumper: yaml.SafeDumper, data: str) -> yaml.ScalarNode:
        style = "|" if "\n" in data else None
        return dumper.represent_scalar("tag:yaml.org,2002:str", data, style=style)

    _Dumper.add_representer(str, _str)
    if value is None:
        return "null"
    text = yaml.dump(
        value,
        Dumper=_Dumper,
        sort_keys=True,
        default_flow_style=False,
        allow_unicode=True,
        width=1 << 16,
    )
    return text.removesuffix("\n...\n").removesuffix("\n")


def indent(spaces: int, text: Any) -> str:
    """Sprig's ``indent``: pad every line, blank ones included."""
    pad = " " * spaces
    return pad + strval(text).replace("\n", "\n" + pad)


def trunc(count: int, text: Any) -> str:
    """Sprig's ``trunc``: first ``count`` characters (last ``-count`` when negative)."""
    s = strval(text)
    if count < 0 and len(s) + count > 0:
        return s[len(s) + count :]
    if count >= 0 and len(s) > count:
        return s[:count]
    return s


def default(fallback: Any, *given: Any) -> Any:
    """Sprig's ``default``: ``fallback`` when the value is missing or empty."""
    if not given or empty(given[0]):
        return fallback
    return given[0]


def required(message: str, value: Any) -> Any:
    """Helm's ``required``: fail with ``message`` on nil or an empty string."""
    if value is None or value == "":
        raise TemplateError(message)
    return value


def fail(message: str) -> str:
    """Helm's ``fail``: stop rendering with ``message``."""
    raise TemplateError(message)


def sprig_dict(*pairs: Any) -> dict[str, Any]:
    """Sprig's ``dict``: ``dict "k1" v1 "k2" v2`` (a missing last value is ``""``)."""
    items = list(pairs)
    if len(items) % 2:
        items.append("")
    return {strval(items[i]): items[i + 1] for i in range(0, len(items), 2)}


def to_int(value: Any) -> int:
    """Sprig's ``int``: numbers and numeric strings; anything else is 0."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int | float):
        return int(value)
    try:
        return int(float(str(value)))
    except ValueError:
        return 0


def sprig_functions() -> dict[str, Function]:
    """The Sprig functions this renderer implements (each mirrors Sprig v3)."""
    return {
        "default": default,
        "empty": empty,
        "quote": lambda *a: " ".join(go_quote(strval(v)) for v in a if v is not None),
        "squote": lambda *a: " ".join(f"'{strval(v)}'" for v in a if v is not None),
        "toYaml": to_yaml,
        "indent": indent,
        "nindent": lambda n, text: "\n" + indent(n, text),
        "trunc": trunc,
        "trimSuffix": lambda suffix, s: strval(s).removesuffix(suffix),
        "trimPrefix": lambda prefix, s: strval(s).removeprefix(prefix),
        "trim": lambda s: strval(s).strip(),
        "lower": lambda s: strval(s).lower(),
        "upper": lambda s: strval(s).upper(),
        "replace": lambda old, new, s: strval(s).replace(old, new),
        "contains": lambda sub, s: sub in strval(s),
        "hasPrefix": lambda prefix, s: strval(s).startswith(prefix),
        "toString": strval,
        "int": to_int,
        "b64enc": lambda s: base64.b64encode(strval(s).encode()).decode(),
        "sha256sum": lambda s: hashlib.sha256(strval(s).encode()).hexdigest(),
        "dict": sprig_dict,
        "list": lambda *a: list(a),
        "hasKey": lambda d, key: isinstance(d, dict) and key in d,
        "ternary": lambda if_true, if_false, condition: if_true if truth(condition) else if_false,
        "required": required,
        "fail": fail,
    }


def new_template_set(tpl_name: str = "tpl") -> TemplateSet:
    """An empty template set with Sprig plus Helm's ``include`` and ``tpl`` bound to it."""
    templates = TemplateSet(sprig_functions())

    def include(name: str, data: Any) -> str:
        return templates.execute(name, data)

    def tpl(text: str, data: Any) -> str:
        # Helm parses the text in a copy of the chart's set: it sees every define.
        inline = TemplateSet(templates.functions)
        inline.templates.update(templates.templates)
        inline.add(tpl_name, text)
        return inline.execute(tpl_name, data)

    templates.functions.update({"include": include, "tpl": tpl})
    return templates


# --------------------------------------------------------------------------- values


def merge_values(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """Helm's coalescing: maps merge recursively, other values replace, ``null`` deletes."""
    out = dict(base)
    for key, value in override.items():
        if value is None:
            out.pop(key, None)
        elif isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = merge_values(out[key], value)
        else:
            out[key] = value
    return out


def load_yaml_mapping(path: Path) -> dict[str, Any]:
    """A YAML file holding a mapping (an empty file is ``{}``)."""
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise RenderError(f"{path}: expected a mapping at the top level")
    return data


# --------------------------------------------------------------------------- chart


_CHART_FIELDS = {
    "apiVersion": "APIVersion",
    "appVersion": "AppVersion",
    "kubeVersion": "KubeVersion",
}


@dataclass(frozen=True)
class Rendered:
    """One rendered chart: manifest text by template name, plus NOTES.txt."""

    manifests: dict[str, str]
    notes: str

    def documents(self) -> list[dict[str, Any]]:
        """Every non-empty YAML document of every manifest, in template-name order."""
        docs: list[dict[str, Any]] = []
        for name in sorted(self.manifests):
            for doc in yaml.safe_load_all(self.manifests[name]):
                if doc is None:
                    continue
                if not isinstance(doc, dict):
                    raise RenderError(f"{name}: a document is not a mapping: {doc!r}")
                docs.append(doc)
        return docs

    def text(self) -> str:
        """The output ``helm template`` prints."""
        return "".join(
            f"---\n# Source: {name}\n{self.manifests[name].strip(chr(10))}\n"
            for name in sorted(self.manifests)
        )


def _capabilities(kube_version: str, api_versions: Sequence[str]) -> dict[str, Any]:
    version = kube_version.removeprefix("v")
    major, minor = (version.split(".") + ["0"])[:2]
    served = frozenset((*BASE_API_VERSIONS, *api_versions))

    def has(api: str) -> bool:
        # Helm accepts "group/version" and "group/version/Kind"
        return api in served or api.rsplit("/", 1)[0] in served

    return {
        "KubeVersion": {
            "Version": f"v{version}",
            "GitVersion": f"v{version}",
            "Major": major,
            "Minor": minor,
        },
        "APIVersions": {"Has": has},
        "HelmVersion": {"Version": "v3-compatible (scripts/helm_render.py)"},
    }


def render_chart(
    chart_dir: Path,
    *,
    values_files: Sequence[Path] = (),
    values: Mapping[str, Any] | None = None,
    release_name: str = "release-name",
    namespace: str = "default",
    kube_version: str = DEFAULT_KUBE_VERSION,
    api_versions: Sequence[str] = (),
) -> Rendered:
    """Render ``chart_dir`` as ``helm template`` would.

    Args:
        chart_dir: The chart (Chart.yaml, values.yaml, templates/).
        values_files: ``-f`` files, merged over values.yaml in order.
        values: Merged last (like ``--set``, but structured).
        release_name: ``.Release.Name``.
        namespace: ``.Release.Namespace``.
        kube_version: ``.Capabilities.KubeVersion``.
        api_versions: Extra API versions for ``.Capabilities.APIVersions.Has``.

    Raises:
        RenderError: a template fails to parse or execute, or values are not a mapping.
    """
    chart_meta = load_yaml_mapping(chart_dir / "Chart.yaml")
    chart_name = str(chart_meta.get("name", chart_dir.name))
    merged = load_yaml_mapping(chart_dir / "values.yaml")
    for path in values_files:
        merged = merge_values(merged, load_yaml_mapping(path))
    if values:
        merged = merge_values(merged, values)
    chart = {_CHART_FIELDS.get(k, k[:1].upper() + k[1:]): v for k, v in chart_meta.items()}
    base_path = f"{chart_name}/templates"
    root: dict[str, Any] = {
        "Values": merged,
        "Release": {
            "Name": release_name,
            "Namespace": namespace,
            "Service": "Helm",
            "IsInstall": True,
            "IsUpgrade": False,
            "Revision": 1,
        },
        "Chart": chart,
        "Capabilities": _capabilities(kube_version, api_versions),
        "Template": {"Name": "", "BasePath": base_path},
    }

    templates = new_template_set(tpl_name=f"{base_path}/tpl")
    files = sorted(p for p in (chart_dir / "templates").rglob("*") if p.is_file())
    names: list[str] = []
    try:
        for path in files:
            name = f"{base_path}/{path.relative_to(chart_dir / 'templates').as_posix()}"
            templates.add(name, path.read_text(encoding="utf-8"))
            names.append(name)
        manifests: dict[str, str] = {}
        notes = ""
        for name in names:
            leaf = name.rsplit("/", 1)[-1]
            if leaf.startswith("_"):
                continue
            root["Template"] = {"Name": name, "BasePath": base_path}
            text = templates.execute(name, root)
            if leaf == "NOTES.txt":
                notes = text
            elif text.strip():
                manifests[name] = text
    except TemplateError as exc:
        raise RenderError(f"{chart_name}: {exc}") from None
    return Rendered(manifests=manifests, notes=notes)


# --------------------------------------------------------------------------- CLI


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="helm_render.py", description="Render a Helm chart like `helm template`."
    )
    sub = parser.add_subparsers(dest="command", required=True)
    tmpl = sub.add_parser("template", help="Render chart templates locally and print them.")
    tmpl.add_argument("release")
    tmpl.add_argument("chart", type=Path)
    tmpl.add_argument("-f", "--values", action="append", type=Path, default=[])
    tmpl.add_argument("-n", "--namespace", default="default")
    tmpl.add_argument("--kube-version", default=DEFAULT_KUBE_VERSION)
    tmpl.add_argument("-a", "--api-versions", action="append", default=[])
    return parser


def main(argv: Sequence[str] | None = None, out: Callable[[str], object] | None = None) -> int:
    """Command-line entry point; returns the exit status."""
    args = _parser().parse_args(argv)
    write = out or sys.stdout.write
    try:
        rendered = render_chart(
            args.chart,
            values_files=args.values,
            release_name=args.release,
            namespace=args.namespace,
            kube_version=args.kube_version,
            api_versions=args.api_versions,
        )
    except (RenderError, OSError, yaml.YAMLError) as exc:
        sys.stderr.write(f"Error: {exc}\n")
        return 1
    write(rendered.text())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
