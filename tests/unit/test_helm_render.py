"""The Go-template/Sprig renderer behind ``make lint``'s chart check (scripts/helm_*.py).

Expected outputs are what Helm 3 (Go text/template + Sprig v3) prints for the same
template, so a divergence here is a divergence from ``helm template``.
"""

from __future__ import annotations

import base64
import hashlib
import importlib
import sys
from pathlib import Path
from typing import Any

import pytest

SCRIPTS = Path(__file__).resolve().parents[2] / "scripts"
if str(SCRIPTS) not in sys.path:
    sys.path.insert(0, str(SCRIPTS))
helm_template: Any = importlib.import_module("helm_template")
helm_render: Any = importlib.import_module("helm_render")

TemplateError = helm_template.TemplateError


def render(source: str, data: Any = None) -> str:
    templates = helm_render.new_template_set()
    templates.add("inline", source)
    return str(templates.execute("inline", data))


VALUES = {
    "Values": {
        "name": "copilot",
        "replicas": 2,
        "empty": "",
        "zero": 0,
        "flag": False,
        "nested": {"b": 2, "a": 1},
        "items": ["x", "y"],
        "nothing": None,
    }
}


# --------------------------------------------------------------------------- actions


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("a  {{- 1 -}}  b", "a1b"),
        ("a \n\t{{- 1 }} b", "a1 b"),
        ("a {{ 1 -}} \n b", "a 1b"),
        ("{{-3}}", "-3"),  # Go: "{{-" needs a space to trim, so this is the number -3
        ("a{{/* note */}}b", "ab"),
        ("a {{- /* note */ -}} b", "ab"),
        ("{{ `raw \\n` }}", "raw \\n"),
        ('{{ "esc\\"aped" }}', 'esc"aped'),
        ("{{ true }} {{ false }} {{ nil }}", "true false "),
        ("{{ 0x1F }} {{ 1.5 }} {{ 2.0 }}", "31 1.5 2"),
    ],
)
def test_render_actions_trim_comments_and_literals(source: str, expected: str) -> None:
    assert render(source) == expected


def test_render_fields_missing_keys_print_empty_but_nil_chains_fail() -> None:
    assert render("{{ .Values.name }}/{{ .Values.nested.a }}", VALUES) == "copilot/1"
    assert render("[{{ .Values.absent }}]", VALUES) == "[]"
    with pytest.raises(TemplateError, match=r"nil pointer evaluating interface \{\}\.deeper"):
        render("{{ .Values.absent.deeper }}", VALUES)


def test_render_prints_values_like_go_fmt() -> None:
    assert render("{{ .Values.items }}", VALUES) == "[x y]"
    assert render("{{ .Values.nested }}", VALUES) == "map[a:1 b:2]"
    assert render("{{ .Values.flag }}", VALUES) == "false"


def test_render_if_else_if_else_uses_go_truth() -> None:
    source = (
        "{{ if .Values.empty }}A{{ else if .Values.zero }}B{{ else if .Values.items }}C"
        "{{ else }}D{{ end }}"
    )
    assert render(source, VALUES) == "C"
    for falsy in ("empty", "zero", "flag", "nothing", "absent"):
        assert render(f"{{{{ if .Values.{falsy} }}}}T{{{{ else }}}}F{{{{ end }}}}", VALUES) == "F"


def test_render_range_over_list_and_map_with_index_key_and_else() -> None:
    assert render("{{ range $i, $v := .Values.items }}{{ $i }}={{ $v }};{{ end }}", VALUES) == (
        "0=x;1=y;"
    )
    # maps iterate in sorted key order, as Go does
    assert render("{{ range $k, $v := .Values.nested }}{{ $k }}:{{ . }} {{ end }}", VALUES) == (
        "a:1 b:2 "
    )
    assert render("{{ range $v := .Values.items }}<{{ $v }}>{{ end }}", VALUES) == "<x><y>"
    assert render("{{ range list }}x{{ else }}none{{ end }}", VALUES) == "none"
    assert render("{{ range .Values.nothing }}x{{ else }}none{{ end }}", VALUES) == "none"
    with pytest.raises(TemplateError, match="range can't iterate over copilot"):
        render("{{ range .Values.name }}x{{ end }}", VALUES)  # as in Go: not over strings


def test_render_with_rebinds_dot_and_has_else() -> None:
    assert render("{{ with .Values.nested }}{{ .a }}{{ end }}", VALUES) == "1"
    assert render("{{ with .Values.empty }}x{{ else }}fallback{{ end }}", VALUES) == "fallback"
    assert (
        render("{{ with .Values.zero }}x{{ else with .Values.name }}{{ . }}{{ end }}", VALUES)
        == "copilot"
    )


def test_render_define_include_and_template_pass_their_argument_as_dot_and_dollar() -> None:
    source = (
        '{{- define "greet" -}}hi {{ .who }} ({{ $.who }}){{- end -}}'
        '{{ include "greet" (dict "who" "ann") | upper }}|{{ template "greet" (dict "who" "bo") }}'
    )
    assert render(source) == "HI ANN (ANN)|hi bo (bo)"


def test_render_variables_declare_assign_and_scope() -> None:
    source = (
        '{{- $any := false }}{{ range .Values.items }}{{ if eq . "y" }}{{ $any = true }}'
        "{{ end }}{{ end }}{{ $any }}"
    )
    assert render(source, VALUES) == "true"
    assert render("{{ $x := .Values.name }}{{ $x }}-{{ $.Values.replicas }}", VALUES) == (
        "copilot-2"
    )
    with pytest.raises(TemplateError, match=r"undefined variable: \$inner"):
        render("{{ if true }}{{ $inner := 1 }}{{ end }}{{ $inner }}")
    with pytest.raises(TemplateError, match=r"undefined variable: \$nope"):
        render("{{ $nope = 1 }}")


def test_render_pipelines_pass_the_value_as_last_argument() -> None:
    assert render('{{ "x" | printf "%s-%s" "a" }}') == "a-x"
    assert render('{{ (print "a" "b") | upper }}') == "AB"
    assert render('{{ (dict "k" "v").k }}') == "v"
    assert render("{{ .Values.name | trunc 4 | quote }}", VALUES) == '"copi"'


def test_render_method_calls_on_fields() -> None:
    data = {"Capabilities": {"APIVersions": {"Has": lambda api: api == "monitoring.coreos.com/v1"}}}
    source = '{{ if .Capabilities.APIVersions.Has "monitoring.coreos.com/v1" }}yes{{ end }}'
    assert render(source, data) == "yes"
    assert render('{{ .Capabilities.APIVersions.Has "x/v1" }}', data) == "false"


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("{{ nosuchfn 1 }}", 'function "nosuchfn" not defined'),
        ("{{ if true }}open", "unclosed"),
        ("{{ end }}", "unexpected"),
        ("{{ range .x }}{{ break }}{{ end }}", "not supported"),
        ('{{ template "missing" }}', 'no template "missing"'),
        ("{{ 1 | 2 }}", "non-function"),
        ("{{ 'c' }}", "character constants"),
    ],
)
def test_render_rejects_what_it_does_not_support(source: str, message: str) -> None:
    with pytest.raises(TemplateError, match=message):
        render(source, {"x": [1]})


def test_render_errors_name_template_and_line() -> None:
    with pytest.raises(TemplateError, match=r"inline:3: error calling required: need it"):
        render('a\nb\n{{ required "need it" .missing }}', {})


# --------------------------------------------------------------------------- functions


def test_default_replaces_every_empty_value() -> None:
    for key in ("empty", "zero", "flag", "nothing", "absent"):
        assert render(f'{{{{ default "d" .Values.{key} }}}}', VALUES) == "d"
    assert render('{{ default "d" .Values.name }}', VALUES) == "copilot"
    assert render("{{ .Values.replicas | default 5 }}", VALUES) == "2"
    assert render('{{ default "d" (list) }}|{{ default "d" (dict) }}') == "d|d"


def test_quote_and_squote() -> None:
    assert render('{{ quote "a\\"b" }}') == '"a\\"b"'
    assert render("{{ .Values.replicas | quote }}", VALUES) == '"2"'
    assert render("{{ quote .Values.nothing }}", VALUES) == ""  # Sprig drops nil
    assert render('{{ squote "it" }}') == "'it'"


def test_to_yaml_sorts_keys_and_keeps_block_style() -> None:
    data = {"v": {"b": [1, "two"], "a": {"y": True, "x": "1"}, "e": {}, "text": "l1\nl2\n"}}
    assert render("{{ toYaml .v }}", data) == (
        "a:\n  x: '1'\n  y: true\nb:\n- 1\n- two\ne: {}\ntext: |\n  l1\n  l2"
    )
    assert render("{{ toYaml .n }}", {"n": None}) == "null"
    assert render("{{ toYaml .s }}", {"s": "plain"}) == "plain"


def test_indent_and_nindent_pad_every_line() -> None:
    assert render('{{ "a\\n\\nb" | indent 2 }}') == "  a\n  \n  b"
    assert render('x:{{ "a: 1\\nb: 2" | nindent 4 }}') == "x:\n    a: 1\n    b: 2"


def test_trunc_and_trim_functions() -> None:
    assert render('{{ trunc 3 "abcdef" }}|{{ trunc -2 "abcdef" }}|{{ trunc 9 "ab" }}') == (
        "abc|ef|ab"
    )
    assert render('{{ "name-" | trimSuffix "-" }}|{{ trimPrefix "v" "v1.2" }}') == "name|1.2"
    assert render('{{ trim "  x  " }}|{{ replace "+" "_" "1+2" }}') == "x|1_2"


def test_printf_verbs() -> None:
    assert render('{{ printf "%s/%d/%v/%q/%%" "a" 7 true "q" }}') == 'a/7/true/"q"/%'
    assert render('{{ printf "%s-%s" "only" }}') == "only-%!s(MISSING)"
    assert render('{{ printf "%05d|%-3s|" 42 "x" }}') == "00042|x  |"


def test_required_fails_on_nil_and_empty_string_only() -> None:
    assert render('{{ required "m" .Values.zero }}', VALUES) == "0"
    for key in ("empty", "nothing", "absent"):
        with pytest.raises(TemplateError, match="error calling required: m"):
            render(f'{{{{ required "m" .Values.{key} }}}}', VALUES)
    with pytest.raises(TemplateError, match="stop here"):
        render('{{ fail "stop here" }}')


def test_comparisons_and_logic() -> None:
    assert render('{{ eq "a" "b" "a" }} {{ ne 1 2 }} {{ eq 2 2.0 }}') == "true true true"
    assert render("{{ lt 1 2 }} {{ le 2 2 }} {{ gt 1 2 }} {{ ge 3 2 }}") == "true true false true"
    assert render('{{ and 1 "x" }}|{{ and 1 0 "x" }}|{{ or 0 "" "y" }}|{{ or 0 "" }}') == "x|0|y|"
    assert render("{{ not 0 }} {{ not .Values.name }}", VALUES) == "true false"
    # short-circuit: the second operand is never evaluated
    assert render('{{ and false (fail "boom") }}|{{ or "a" (fail "boom") }}') == "false|a"
    with pytest.raises(TemplateError, match="incompatible types"):
        render('{{ eq 1 "1" }}')


def test_encoding_and_hash_functions() -> None:
    assert render('{{ b64enc "xoxb-1" }}') == base64.b64encode(b"xoxb-1").decode()
    assert render('{{ "abc" | sha256sum }}') == hashlib.sha256(b"abc").hexdigest()


def test_collection_and_conversion_functions() -> None:
    assert render('{{ len (list 1 2 3) }} {{ index (list "a" "b") 1 }}') == "3 b"
    assert render('{{ hasKey (dict "a" 1) "a" }} {{ hasKey (dict) "a" }}') == "true false"
    assert render('{{ ternary "y" "n" true }}{{ ternary "y" "n" 0 }}') == "yn"
    assert render('{{ int "42" }} {{ toString 5 | quote }} {{ contains "b" "abc" }}') == (
        '42 "5" true'
    )
    assert render('{{ print "a" 1 2 "b" }}') == "a1 2b"  # Go adds spaces between non-strings


# --------------------------------------------------------------------------- charts


def test_merge_values_merges_maps_replaces_lists_and_null_deletes() -> None:
    base = {"a": {"x": 1, "y": 2}, "l": [1, 2], "gone": {"k": 1}}
    merged = helm_render.merge_values(base, {"a": {"y": 3}, "l": [9], "gone": None})
    assert merged == {"a": {"x": 1, "y": 3}, "l": [9]}
    assert base["a"] == {"x": 1, "y": 2}  # inputs untouched


def _chart(tmp_path: Path, templates: dict[str, str], values: str = "") -> Path:
    chart = tmp_path / "demo"
    (chart / "templates").mkdir(parents=True)
    (chart / "Chart.yaml").write_text(
        "apiVersion: v2\nname: demo\nversion: 1.2.3\nappVersion: '9.9'\n", encoding="utf-8"
    )
    (chart / "values.yaml").write_text(values, encoding="utf-8")
    for name, text in templates.items():
        (chart / "templates" / name).write_text(text, encoding="utf-8")
    return chart


def test_render_chart_exposes_helm_objects_and_file_includes(tmp_path: Path) -> None:
    chart = _chart(
        tmp_path,
        {
            "_helpers.tpl": (
                '{{- define "demo.name" -}}{{ .Release.Name }}-{{ .Chart.Name }}{{- end }}'
            ),
            "cm.yaml": (
                'kind: ConfigMap\nname: {{ include "demo.name" . }}\n'
                "data: {{ .Values.greeting }} {{ .Chart.Version }} {{ .Chart.AppVersion }}"
                " {{ .Release.Namespace }} {{ .Capabilities.KubeVersion.Version }}\n"
            ),
            "sum.yaml": (
                'sum: {{ include (print $.Template.BasePath "/cm.yaml") . | sha256sum }}\n'
                "self: {{ .Template.Name }}\n"
            ),
            "empty.yaml": "{{- if .Values.off }}\nkind: Never\n{{- end }}\n",
            "NOTES.txt": "Installed {{ .Release.Name }}.",
        },
        values="greeting: hello\noff: false\n",
    )
    extra = tmp_path / "extra.yaml"
    extra.write_text("greeting: hi\n", encoding="utf-8")
    rendered = helm_render.render_chart(
        chart, values_files=[extra], release_name="rel", namespace="ops", kube_version="1.30.2"
    )
    cm = rendered.manifests["demo/templates/cm.yaml"]
    assert cm == "kind: ConfigMap\nname: rel-demo\ndata: hi 1.2.3 9.9 ops v1.30.2\n"
    digest = hashlib.sha256(cm.encode()).hexdigest()
    assert rendered.manifests["demo/templates/sum.yaml"] == (
        f"sum: {digest}\nself: demo/templates/sum.yaml\n"
    )
    # partials and blank manifests are not output; NOTES.txt is kept apart
    assert set(rendered.manifests) == {"demo/templates/cm.yaml", "demo/templates/sum.yaml"}
    assert rendered.notes == "Installed rel."
    assert rendered.text().startswith("---\n# Source: demo/templates/cm.yaml\nkind: ConfigMap")


def test_render_chart_reports_the_failing_template(tmp_path: Path) -> None:
    chart = _chart(tmp_path, {"a.yaml": 'x: {{ required "host is required" .Values.host }}\n'})
    with pytest.raises(
        helm_render.RenderError, match=r"demo/templates/a.yaml:1: .*host is required"
    ):
        helm_render.render_chart(chart)
    assert helm_render.render_chart(chart, values={"host": "h"}).documents() == [{"x": "h"}]


def test_render_chart_tpl_renders_values_as_templates(tmp_path: Path) -> None:
    chart = _chart(
        tmp_path,
        {"a.yaml": "host: {{ tpl .Values.host . }}\n"},
        values='host: "{{ .Release.Name }}.example.com"\n',
    )
    rendered = helm_render.render_chart(chart, release_name="blue")
    assert rendered.documents() == [{"host": "blue.example.com"}]


def test_render_cli_prints_like_helm_template(tmp_path: Path) -> None:
    chart = _chart(tmp_path, {"a.yaml": "name: {{ .Release.Name }}\n"})
    out: list[str] = []
    status = helm_render.main(["template", "rel", str(chart), "-n", "x"], out=out.append)
    assert status == 0
    assert "".join(out) == "---\n# Source: demo/templates/a.yaml\nname: rel\n"
