"""The Helm chart (helm/sre-copilot): what its rendered manifests promise.

Rendered with scripts/helm_render.py for the value sets in ``helm/sre-copilot/ci/``;
``make lint`` additionally validates every document against the Kubernetes schemas
(scripts/helm_validate.py, exercised at the end of this file).
"""

from __future__ import annotations

import base64
import importlib
import os
import re
import stat
import sys
import typing
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import BaseModel
from typer.testing import CliRunner

from bot.cli import app as cli_app
from bot.config import ENV_PREFIX, NESTED_DELIMITER, Settings
from jobs.policy import load_policy

REPO = Path(__file__).resolve().parents[2]
SCRIPTS = REPO / "scripts"
if str(SCRIPTS) not in sys.path:
    sys.path.insert(0, str(SCRIPTS))
helm_render: Any = importlib.import_module("helm_render")
helm_validate: Any = importlib.import_module("helm_validate")

CHART = REPO / "helm" / "sre-copilot"
VALUE_SETS = ("default", "full", "existing-secret", "socket-mode")
SECRET_WORDS = ("TOKEN", "SECRET", "KEY", "PASSWORD", "DATABASE__URL")


# --------------------------------------------------------------------------- helpers


def render(value_set: str, values: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    docs: list[dict[str, Any]] = helm_render.render_chart(
        CHART,
        values_files=[CHART / "ci" / f"{value_set}-values.yaml"],
        values=values,
        release_name="rel",
        namespace="ops",
        api_versions=["monitoring.coreos.com/v1"],
    ).documents()
    return docs


def chart_values(value_set: str) -> dict[str, Any]:
    base = yaml.safe_load((CHART / "values.yaml").read_text(encoding="utf-8"))
    extra = yaml.safe_load((CHART / "ci" / f"{value_set}-values.yaml").read_text("utf-8"))
    merged: dict[str, Any] = helm_render.merge_values(base, extra or {})
    return merged


def find(docs: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    found = [d for d in docs if d["kind"] == kind and d["metadata"]["name"] == name]
    assert len(found) == 1, f"{kind}/{name}: {len(found)} rendered"
    return found[0]


def kinds(docs: list[dict[str, Any]]) -> set[tuple[str, str]]:
    return {(d["kind"], d["metadata"]["name"]) for d in docs}


def container(deployment: dict[str, Any]) -> dict[str, Any]:
    containers = deployment["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1
    result: dict[str, Any] = containers[0]
    return result


def copilot_deployments(docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        d
        for d in docs
        if d["kind"] == "Deployment"
        and d["metadata"]["name"] in ("rel-sre-copilot-web", "rel-sre-copilot-scheduler")
    ]


def pod_env(docs: list[dict[str, Any]], deployment: dict[str, Any]) -> dict[str, str]:
    """The environment Kubernetes gives the container (secrets from the chart's Secret)."""
    c = container(deployment)
    env: dict[str, str] = {}
    for source in c.get("envFrom", []):
        env.update(find(docs, "ConfigMap", source["configMapRef"]["name"])["data"])
    secrets = {d["metadata"]["name"]: d.get("data") or {} for d in docs if d["kind"] == "Secret"}
    for item in c.get("env", []):
        if "value" in item:
            env[item["name"]] = item["value"]
            continue
        ref = item["valueFrom"]["secretKeyRef"]
        data = secrets.get(ref["name"], {})
        if ref["key"] in data:
            env[item["name"]] = base64.b64decode(data[ref["key"]]).decode()
    return env


def settings_from_env(env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Settings:
    for name in list(os.environ):
        if name.startswith(ENV_PREFIX):
            monkeypatch.delenv(name)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return Settings(_env_file=None)


def _model_of(annotation: Any) -> type[BaseModel] | None:
    candidates = [annotation, *typing.get_args(annotation)]
    for candidate in candidates:
        if isinstance(candidate, type) and issubclass(candidate, BaseModel):
            return candidate
    return None


def setting_path(env_name: str) -> tuple[str, ...] | None:
    """The Settings field an SRE_COPILOT_* variable sets, or None when it sets nothing."""
    if not env_name.startswith(ENV_PREFIX):
        return None
    parts = env_name.removeprefix(ENV_PREFIX).lower().split(NESTED_DELIMITER)
    model: type[BaseModel] | None = Settings
    for i, part in enumerate(parts):
        if model is None or part not in model.model_fields:
            return None
        if i < len(parts) - 1:
            model = _model_of(model.model_fields[part].annotation)
    return tuple(parts)


def parse_cli(args: list[str]) -> str:
    """Parse ``sre-copilot ARGS`` with the real CLI; the usage line of the command.

    ``--help`` goes last so every option before it is parsed first: an unknown command
    or flag exits with status 2, as it would in the pod.
    """
    result = CliRunner().invoke(cli_app, [*args, "--help"])
    if result.exit_code != 0:
        raise AssertionError(f"sre-copilot {' '.join(args)}: {result.output}")
    usage = next(line for line in result.output.splitlines() if "Usage:" in line)
    return usage.split("Usage:", 1)[1].split("[OPTIONS]", 1)[0].strip()


def undocumented_keys(text: str) -> list[str]:
    """Keys of a values file without a ``# --`` comment right above them."""
    lines = text.splitlines()
    missing: list[str] = []

    def walk(node: yaml.Node, path: tuple[str, ...]) -> None:
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                here = (*path, str(key.value))
                j = key.start_mark.line - 1
                block = []
                while j >= 0 and lines[j].strip().startswith("#"):
                    block.append(lines[j].strip())
                    j -= 1
                if not any(line.startswith("# --") for line in block):
                    missing.append(".".join(here))
                walk(value, here)
        elif isinstance(node, yaml.SequenceNode):
            for i, item in enumerate(node.value):
                walk(item, (*path, str(i)))

    root = yaml.compose(text)
    if root is not None:
        walk(root, ())
    return missing


def leaf_paths(value: Any, path: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    if isinstance(value, dict) and value:
        return [p for k, v in value.items() for p in leaf_paths(v, (*path, str(k)))]
    return [path]


# --------------------------------------------------------------------------- workloads


def test_default_web_deployment_serves_with_several_replicas_and_without_the_scheduler(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    docs = render("default")
    web = find(docs, "Deployment", "rel-sre-copilot-web")
    assert web["spec"]["replicas"] >= 2
    assert container(web)["args"] == ["serve"]
    settings = settings_from_env(pod_env(docs, web), monkeypatch)
    assert settings.jobs.enabled is False  # the in-process scheduler is off
    assert settings.web.host == "0.0.0.0"
    assert container(web)["ports"] == [
        {"name": "http", "containerPort": settings.web.port, "protocol": "TCP"}
    ]


def test_scheduler_deployment_runs_jobs_serve_exactly_once(monkeypatch: pytest.MonkeyPatch) -> None:
    docs = render("default")
    scheduler = find(docs, "Deployment", "rel-sre-copilot-scheduler")
    assert scheduler["spec"]["replicas"] == 1
    assert scheduler["spec"]["strategy"] == {"type": "Recreate"}  # never two during a rollout
    assert container(scheduler)["args"][:2] == ["jobs", "serve"]
    settings = settings_from_env(pod_env(docs, scheduler), monkeypatch)
    assert settings.jobs.enabled is True
    # the selectors keep the two workloads apart (the Service only reaches web pods)
    web = find(docs, "Deployment", "rel-sre-copilot-web")
    web_sel = web["spec"]["selector"]["matchLabels"]
    sched_labels = scheduler["spec"]["template"]["metadata"]["labels"]
    assert not web_sel.items() <= sched_labels.items()


def option(args: list[str], name: str) -> str:
    """The value given to ``name`` in a container's args."""
    assert args.count(name) == 1, args
    return args[args.index(name) + 1]


def test_scheduler_serves_metrics_on_its_port_with_probes_there() -> None:
    scheduler = container(find(render("default"), "Deployment", "rel-sre-copilot-scheduler"))
    args = scheduler["args"]
    assert parse_cli(args) == "sre-copilot jobs serve"
    port = int(option(args, "--metrics-port"))
    assert port > 0  # 0 would turn the metrics server (and what the probes hit) off
    assert option(args, "--metrics-host") == "0.0.0.0"  # reachable from the kubelet
    assert scheduler["ports"] == [{"name": "metrics", "containerPort": port, "protocol": "TCP"}]
    assert scheduler["livenessProbe"]["httpGet"] == {"path": "/metrics", "port": "metrics"}
    assert scheduler["startupProbe"]["httpGet"] == {"path": "/metrics", "port": "metrics"}
    moved = container(
        find(
            render("default", {"scheduler": {"metricsPort": 9100}}),
            "Deployment",
            "rel-sre-copilot-scheduler",
        )
    )
    assert option(moved["args"], "--metrics-port") == "9100"
    assert moved["ports"][0]["containerPort"] == 9100


def test_scheduler_disabled_runs_jobs_inside_web_pods(monkeypatch: pytest.MonkeyPatch) -> None:
    docs = render("socket-mode")
    assert ("Deployment", "rel-sre-copilot-scheduler") not in kinds(docs)
    web = find(docs, "Deployment", "rel-sre-copilot-web")
    assert container(web)["args"] == ["serve", "--socket-mode"]
    assert settings_from_env(pod_env(docs, web), monkeypatch).jobs.enabled is True


@pytest.mark.parametrize("value_set", VALUE_SETS)
def test_container_args_are_real_cli_commands(value_set: str) -> None:
    docs = render(value_set)
    commands = {parse_cli(container(d)["args"]) for d in copilot_deployments(docs)}
    assert "sre-copilot serve" in commands
    assert commands <= {"sre-copilot serve", "sre-copilot jobs serve"}


def test_parse_cli_rejects_unknown_commands_and_flags() -> None:
    with pytest.raises(AssertionError, match="No such option"):
        parse_cli(["serve", "--no-such-flag"])
    with pytest.raises(AssertionError, match="No such command"):
        parse_cli(["jobs", "nope"])


def test_web_probes_hit_healthz_and_readyz_on_the_http_port() -> None:
    web = container(find(render("default"), "Deployment", "rel-sre-copilot-web"))
    assert web["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert web["startupProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert web["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    assert [p["name"] for p in web["ports"]] == ["http"]


def test_pods_run_as_non_root_with_a_read_only_root(monkeypatch: pytest.MonkeyPatch) -> None:
    docs = render("default")
    for deployment in copilot_deployments(docs):
        pod = deployment["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["securityContext"]["runAsUser"] == 10001
        c = container(deployment)
        assert c["securityContext"]["readOnlyRootFilesystem"] is True
        assert c["resources"]["requests"] and c["resources"]["limits"]
        # the data directory the settings name is a writable volume
        settings = settings_from_env(pod_env(docs, deployment), monkeypatch)
        mounts = {m["mountPath"]: m["name"] for m in c["volumeMounts"]}
        assert mounts[str(settings.data_dir)] == "data"
        assert mounts["/tmp"] == "tmp"


# --------------------------------------------------------------------------- secrets


@pytest.mark.parametrize("value_set", VALUE_SETS)
def test_secrets_are_only_referenced_never_inlined(value_set: str) -> None:
    docs = render(value_set)
    values = chart_values(value_set)
    secret_name = values["secrets"]["existingSecret"] or "rel-sre-copilot"
    for deployment in copilot_deployments(docs):
        refs = {}
        for item in container(deployment).get("env", []):
            if "value" in item:
                assert item["name"] == "SRE_COPILOT_JOBS__ENABLED", item
                continue
            ref = item["valueFrom"]["secretKeyRef"]
            assert ref["name"] == secret_name
            refs[item["name"]] = ref["key"]
        assert refs == values["secrets"]["env"]
    for doc in docs:
        if doc["kind"] == "ConfigMap":
            leaked = [k for k in doc.get("data", {}) if any(w in k for w in SECRET_WORDS)]
            assert leaked == [], doc["metadata"]["name"]
    # no secret value reaches a manifest other than the Secret
    text = yaml.safe_dump([d for d in docs if d["kind"] != "Secret"])
    for secret in values["secrets"]["values"].values():
        if secret:
            assert secret not in text


def test_chart_created_secret_holds_exactly_the_given_values() -> None:
    docs = render("socket-mode")
    secret = find(docs, "Secret", "rel-sre-copilot")
    decoded = {k: base64.b64decode(v).decode() for k, v in secret["data"].items()}
    assert decoded == {
        "slack-bot-token": "xoxb-0000-test",
        "slack-app-token": "xapp-0000-test",
        "database-url": "postgresql+asyncpg://copilot:pw@postgres:5432/copilot",
    }
    assert find(render("default"), "Secret", "rel-sre-copilot")["data"] == {}


def test_existing_secret_is_referenced_and_not_created(monkeypatch: pytest.MonkeyPatch) -> None:
    docs = render("existing-secret")
    assert not [d for d in docs if d["kind"] == "Secret"]
    web = find(docs, "Deployment", "rel-sre-copilot-web")
    annotations = web["spec"]["template"]["metadata"]["annotations"]
    assert "checksum/secret" not in annotations  # the chart cannot see that Secret
    settings = settings_from_env(pod_env(docs, web), monkeypatch)
    assert settings.vector_store.mode == "http"
    assert settings.vector_store.host == "chroma.vector-stores.svc"


# --------------------------------------------------------------------------- config


@pytest.mark.parametrize("value_set", ["default", "full"])
def test_policy_configmap_is_mounted_where_the_setting_points(
    value_set: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    docs = render(value_set)
    configmap = find(docs, "ConfigMap", "rel-sre-copilot-remediation-policy")
    for deployment in copilot_deployments(docs):
        pod = deployment["spec"]["template"]["spec"]
        volume = next(
            v
            for v in pod["volumes"]
            if v.get("configMap", {}).get("name") == configmap["metadata"]["name"]
        )
        mount = next(
            m for m in container(deployment)["volumeMounts"] if m["name"] == volume["name"]
        )
        settings = settings_from_env(pod_env(docs, deployment), monkeypatch)
        assert settings.remediation_policy is not None
        assert settings.remediation_policy.parent == Path(mount["mountPath"])
        assert settings.remediation_policy.name in configmap["data"]
    policy_file = tmp_path / "policy.yaml"
    policy_file.write_text(configmap["data"]["policy.yaml"], encoding="utf-8")
    policy = load_policy(policy_file)
    assert policy.expiry_minutes == 30
    if value_set == "full":
        assert policy.rules[0].action == "kubernetes.*" and policy.rules[0].level == 2
        assert policy.approver_groups == {"sre-oncall": ["U012AB3CD", "U045EF6GH"]}


def test_jobs_configmap_carries_the_schedules(monkeypatch: pytest.MonkeyPatch) -> None:
    docs = render("default", {"jobs": {"digestCron": "0 8 * * fri", "timezone": "Europe/Paris"}})
    scheduler = find(docs, "Deployment", "rel-sre-copilot-scheduler")
    settings = settings_from_env(pod_env(docs, scheduler), monkeypatch)
    assert settings.jobs.digest_cron == "0 8 * * fri"
    assert settings.jobs.timezone == "Europe/Paris"
    assert settings.jobs.forecast_cron == "*/30 * * * *"


def test_checksums_roll_the_pods_when_config_changes() -> None:
    def annotations(docs: list[dict[str, Any]]) -> dict[str, str]:
        web = find(docs, "Deployment", "rel-sre-copilot-web")
        result: dict[str, str] = web["spec"]["template"]["metadata"]["annotations"]
        return result

    before = annotations(render("default"))
    after = annotations(render("default", {"config": {"logLevel": "DEBUG"}}))
    assert set(before) == {"checksum/config", "checksum/jobs", "checksum/policy", "checksum/secret"}
    assert before["checksum/config"] != after["checksum/config"]
    assert before["checksum/jobs"] == after["checksum/jobs"]
    policy = annotations(render("default", {"remediationPolicy": {"expiry_minutes": 5}}))
    assert policy["checksum/policy"] != before["checksum/policy"]


@pytest.mark.parametrize("value_set", VALUE_SETS)
def test_every_variable_the_chart_sets_is_a_real_setting(value_set: str) -> None:
    docs = render(value_set)
    names: set[str] = set()
    for deployment in copilot_deployments(docs):
        c = container(deployment)
        names |= {item["name"] for item in c.get("env", [])}
        for source in c["envFrom"]:
            names |= set(find(docs, "ConfigMap", source["configMapRef"]["name"])["data"])
    assert names
    unknown = sorted(n for n in names if setting_path(n) is None)
    assert unknown == []


def test_setting_path_maps_nested_names_and_rejects_the_rest() -> None:
    assert setting_path("SRE_COPILOT_SLACK__BOT_TOKEN") == ("slack", "bot_token")
    assert setting_path("SRE_COPILOT_REMEDIATION_POLICY") == ("remediation_policy",)
    assert setting_path("SRE_COPILOT_SLACK__BOT_TOKN") is None
    assert setting_path("SRE_COPILOT_SLACK_BOT_TOKEN") is None  # single underscore
    assert setting_path("SRE_COPILOT_LOG_LEVEL__X") is None  # not a section
    assert setting_path("SLACK__BOT_TOKEN") is None


# --------------------------------------------------------------------------- exposure


def test_pdb_keeps_web_pods_available() -> None:
    docs = render("default")
    pdb = find(docs, "PodDisruptionBudget", "rel-sre-copilot-web")
    web = find(docs, "Deployment", "rel-sre-copilot-web")
    pod_labels = web["spec"]["template"]["metadata"]["labels"]
    assert pdb["spec"]["selector"]["matchLabels"] == web["spec"]["selector"]["matchLabels"]
    assert pdb["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()
    assert pdb["spec"]["maxUnavailable"] == 1
    assert "PodDisruptionBudget" not in {d["kind"] for d in render("socket-mode")}


def test_ingress_and_service_monitor_reach_the_web_service() -> None:
    docs = render("full")
    service = find(docs, "Service", "rel-sre-copilot")
    web = find(docs, "Deployment", "rel-sre-copilot-web")
    assert service["spec"]["selector"] == web["spec"]["selector"]["matchLabels"]
    assert [p["targetPort"] for p in service["spec"]["ports"]] == ["http"]
    ingress = find(docs, "Ingress", "rel-sre-copilot")
    rule = ingress["spec"]["rules"][0]
    assert rule["host"] == "sre-copilot.example.com"
    backend = rule["http"]["paths"][0]["backend"]["service"]
    assert backend == {"name": "rel-sre-copilot", "port": {"name": "http"}}
    assert ingress["spec"]["tls"] == [
        {"hosts": ["sre-copilot.example.com"], "secretName": "sre-copilot-tls"}
    ]
    monitor = find(docs, "ServiceMonitor", "rel-sre-copilot")
    assert monitor["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    assert (
        monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    )
    assert monitor["spec"]["endpoints"][0]["port"] == "http"
    assert monitor["spec"]["endpoints"][0]["path"] == "/metrics"
    assert monitor["spec"]["namespaceSelector"] == {"matchNames": ["ops"]}
    default_kinds = {d["kind"] for d in render("default")}
    assert not default_kinds & {"Ingress", "ServiceMonitor", "PersistentVolumeClaim"}


def selects(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return selector.items() <= labels.items()


def test_service_monitor_scrapes_the_web_and_the_scheduler_pods() -> None:
    docs = render("full")
    monitor = find(docs, "ServiceMonitor", "rel-sre-copilot")
    selector = monitor["spec"]["selector"]["matchLabels"]
    endpoint_ports = {e["port"] for e in monitor["spec"]["endpoints"]}
    assert {e["path"] for e in monitor["spec"]["endpoints"]} == {"/metrics"}
    services = {d["metadata"]["name"]: d for d in docs if d["kind"] == "Service"}
    scraped = {n for n, svc in services.items() if selects(selector, svc["metadata"]["labels"])}
    # Chroma's Service also has an `http` port: it must not be selected
    assert scraped == {"rel-sre-copilot", "rel-sre-copilot-scheduler-metrics"}
    for workload, service_name in (
        ("rel-sre-copilot-web", "rel-sre-copilot"),
        ("rel-sre-copilot-scheduler", "rel-sre-copilot-scheduler-metrics"),
    ):
        service = services[service_name]
        deployment = find(docs, "Deployment", workload)
        pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
        # the Service reaches exactly this workload's pods ...
        for other in copilot_deployments(docs):
            other_labels = other["spec"]["template"]["metadata"]["labels"]
            assert selects(service["spec"]["selector"], other_labels) == (other is deployment)
        assert selects(service["spec"]["selector"], pod_labels)
        # ... and an endpoint of the monitor names one of its ports, a named container port
        named = {p["name"] for p in service["spec"]["ports"]} & endpoint_ports
        assert len(named) == 1, (service_name, named)
        port = next(p for p in service["spec"]["ports"] if p["name"] in named)
        assert port["targetPort"] in {p["name"] for p in container(deployment)["ports"]}
    scheduler_metrics = services["rel-sre-copilot-scheduler-metrics"]
    assert scheduler_metrics["spec"]["clusterIP"] == "None"  # headless: one pod, no VIP
    assert [p["name"] for p in scheduler_metrics["spec"]["ports"]] == ["metrics"]
    assert helm_validate.validate_document(monitor) is None


def test_service_monitor_without_the_scheduler_deployment_scrapes_web_only() -> None:
    docs = render("socket-mode", {"serviceMonitor": {"enabled": True}})
    assert ("Service", "rel-sre-copilot-scheduler-metrics") not in kinds(docs)
    monitor = find(docs, "ServiceMonitor", "rel-sre-copilot")
    assert [e["port"] for e in monitor["spec"]["endpoints"]] == ["http"]


def test_chroma_server_mode_points_every_pod_at_the_server(monkeypatch: pytest.MonkeyPatch) -> None:
    docs = render("full")
    chroma = find(docs, "Deployment", "rel-sre-copilot-chroma")
    service = find(docs, "Service", "rel-sre-copilot-chroma")
    pvc = find(docs, "PersistentVolumeClaim", "rel-sre-copilot-chroma")
    assert chroma["spec"]["replicas"] == 1
    assert container(chroma)["image"] == "chromadb/chroma:1.5.9"
    assert pvc["spec"]["resources"]["requests"]["storage"] == "5Gi"
    assert service["spec"]["selector"] == chroma["spec"]["selector"]["matchLabels"]
    for deployment in copilot_deployments(docs):
        settings = settings_from_env(pod_env(docs, deployment), monkeypatch)
        assert settings.vector_store.mode == "http"
        assert settings.vector_store.host == service["metadata"]["name"]
        assert settings.vector_store.port == service["spec"]["ports"][0]["port"]
    local = find(render("default"), "Deployment", "rel-sre-copilot-web")
    assert (
        settings_from_env(pod_env(render("default"), local), monkeypatch).vector_store.mode
        == "local"
    )


def test_notes_warn_when_pods_would_not_share_a_database() -> None:
    default = helm_render.render_chart(CHART, release_name="rel").notes
    assert "WARNING: no database URL" in default
    assert "Scheduler: one pod running `sre-copilot jobs serve`." in default
    shared = helm_render.render_chart(
        CHART, values_files=[CHART / "ci" / "socket-mode-values.yaml"], release_name="rel"
    ).notes
    assert "WARNING" not in shared and "serve --socket-mode" in shared


# --------------------------------------------------------------------------- values.yaml


def test_every_values_key_is_documented() -> None:
    assert undocumented_keys((CHART / "values.yaml").read_text(encoding="utf-8")) == []


def test_undocumented_keys_finds_keys_without_a_doc_comment() -> None:
    text = "# -- ok\na: 1\n# plain comment\nb:\n  # -- ok\n  c: 2\n  d: 3\n"
    assert undocumented_keys(text) == ["b", "b.d"]


def test_every_value_is_read_by_a_template() -> None:
    templates = "\n".join(p.read_text("utf-8") for p in (CHART / "templates").iterdir())
    values = yaml.safe_load((CHART / "values.yaml").read_text(encoding="utf-8"))
    unused = []
    for path in leaf_paths(values):
        prefixes = [".".join(path[:n]) for n in range(len(path), 0, -1)]
        if not any(re.search(rf"\.Values\.{re.escape(p)}(?![\w.])", templates) for p in prefixes):
            unused.append(".".join(path))
    assert unused == []


# --------------------------------------------------------------------------- make lint


def test_validation_passes_every_value_set() -> None:
    name, renderer = helm_validate.pick_renderer(path="")
    report = helm_validate.run(helm_validate.value_sets(), name, renderer)
    assert report.problems == []
    assert report.value_sets == len(VALUE_SETS)
    assert report.custom_checked == 1
    assert report.documents == sum(len(render(v)) for v in VALUE_SETS)
    assert "scripts/helm_render.py" in report.summary()


def test_validation_reports_schema_violations() -> None:
    docs = render("default")
    web = find(docs, "Deployment", "rel-sre-copilot-web")
    container(web)["livenessProbe"]["httpGet"]["paht"] = "/healthz"
    assert "paht" in helm_validate.validate_document(web)
    container(web).pop("livenessProbe")
    web["spec"]["replicas"] = "2"
    assert "spec.replicas" in helm_validate.validate_document(web)
    unknown = {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}}
    assert "Couldn't find schema" in helm_validate.validate_document(unknown)
    assert helm_validate.check_unique([web, web]) == [
        "Deployment/rel-sre-copilot-web: rendered twice"
    ]


def test_service_monitor_schema_rejects_what_the_operator_would() -> None:
    monitor = find(render("full"), "ServiceMonitor", "rel-sre-copilot")
    assert helm_validate.validate_document(monitor) is None
    monitor["spec"]["endpoints"][0]["interval"] = "30 seconds"
    assert "interval" in helm_validate.validate_document(monitor)
    monitor["spec"]["endpoints"] = []
    assert "endpoints" in helm_validate.validate_document(monitor)


def test_validation_prefers_a_real_helm_on_path(tmp_path: Path) -> None:
    # A stand-in `helm` that answers `helm template ...` through our renderer's CLI, so
    # the test checks the arguments the script passes and how it reads the output.
    fake = tmp_path / "helm"
    fake.write_text(
        f'#!/bin/sh\nexec "{sys.executable}" "{SCRIPTS / "helm_render.py"}" "$@"\n',
        encoding="utf-8",
    )
    fake.chmod(fake.stat().st_mode | stat.S_IXUSR)
    name, renderer = helm_validate.pick_renderer(path=str(tmp_path))
    assert name == f"helm ({fake})"
    value_set = helm_validate.ValueSet("full", (CHART / "ci" / "full-values.yaml",))
    via_helm = renderer(value_set)
    _, python = helm_validate.pick_renderer(path=str(tmp_path / "nowhere"))
    assert via_helm == python(value_set)
    assert {"Ingress", "ServiceMonitor", "PersistentVolumeClaim"} <= {d["kind"] for d in via_helm}


def test_validate_main_prints_one_summary_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert helm_validate.main([]) == 0
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 1
    assert re.search(r"rendered with .+; \d+ documents validated for 4 value sets", out[0])
