"""Kubernetes and webhook settings, wired by the container into the action catalogue.

The cluster is the Kubernetes API stub (real ``kubernetes`` client over loopback HTTP);
webhooks go to a loopback receiver that checks the signature. The container opens a
SQLite database in ``tmp_path``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from bot.config import Settings, load_settings
from bot.container import Container
from memory.errors import ConfigError
from memory.models import ProposalStatus
from tests.stubs.kubernetes_api import KubernetesStub, serve_kubernetes_stub
from tools.base import HealthState

TOKEN = "k8s-test-token"
HOOK_SECRET = "hook-test-secret"


@pytest.fixture(scope="module")
def cluster() -> Iterator[KubernetesStub]:
    with serve_kubernetes_stub() as stub:
        yield stub


@pytest.fixture
def k8s(cluster: KubernetesStub) -> KubernetesStub:
    cluster.reset()
    cluster.required_token = TOKEN
    cluster.add_deployment("shop", "checkout", replicas=3)
    cluster.add_deployment("kube-system", "coredns", replicas=2)
    return cluster


class Receiver:
    """A loopback webhook receiver that records (signature valid?, JSON body)."""

    def __init__(self) -> None:
        self.received: list[tuple[bool, Any]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                want = "v1=" + hmac.new(HOOK_SECRET.encode(), raw, hashlib.sha256).hexdigest()
                receiver.received.append(
                    (self.headers.get("X-Copilot-Signature") == want, json.loads(raw))
                )
                self.send_response(202)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    r.thread.start()
    try:
        yield r
    finally:
        r.server.shutdown()
        r.server.server_close()


def settings(tmp_path: Path, **overrides: Any) -> Settings:
    return Settings(
        _env_file=None,
        environment="test",
        data_dir=tmp_path / "data",
        **overrides,
    )


# ----------------------------------------------------------------------- settings


def test_bad_kubernetes_and_webhook_settings_name_the_variable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SRE_COPILOT_KUBERNETES__HOST", "10.0.0.1:6443")
    monkeypatch.setenv("SRE_COPILOT_KUBERNETES__NAMESPACES", "[shop")
    monkeypatch.setenv("SRE_COPILOT_REMEDIATION_WEBHOOKS__CLEANUP__URL", "ftp://runner/x")
    with pytest.raises(ConfigError) as err:
        load_settings(_env_file=None)
    message = str(err.value)
    assert "\n" not in message
    assert "SRE_COPILOT_KUBERNETES__HOST: must be an http(s) URL" in message
    assert "SRE_COPILOT_KUBERNETES__NAMESPACES: must be a JSON list" in message
    assert "SRE_COPILOT_REMEDIATION_WEBHOOKS__CLEANUP__URL: must be an http(s) URL" in message
    assert "SRE_COPILOT_REMEDIATION_WEBHOOKS__CLEANUP__SECRET: Field required" in message


def test_env_builds_kubernetes_and_webhooks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SRE_COPILOT_KUBERNETES__HOST", "https://10.0.0.1:6443/")
    monkeypatch.setenv("SRE_COPILOT_KUBERNETES__NAMESPACES", "shop, web")
    monkeypatch.setenv("SRE_COPILOT_REMEDIATION_WEBHOOKS__DISK_CLEANUP__URL", "https://r/x")
    monkeypatch.setenv("SRE_COPILOT_REMEDIATION_WEBHOOKS__DISK_CLEANUP__SECRET", "s3cret")
    loaded = load_settings(_env_file=None)
    assert loaded.kubernetes.host == "https://10.0.0.1:6443"
    assert loaded.kubernetes.namespaces == ["shop", "web"]
    assert loaded.remediation_webhooks["disk_cleanup"].secret.get_secret_value() == "s3cret"


@pytest.mark.parametrize(
    ("variable", "expected"),
    [
        ("SRE_COPILOT_KUBERNETES__BEARER_TOKEN", "SRE_COPILOT_KUBERNETES__BEARER_TOKEN"),
        (
            "SRE_COPILOT_REMEDIATION_WEBHOOKS__RUNNER__SECRET",
            "SRE_COPILOT_REMEDIATION_WEBHOOKS__RUNNER__SECRET",
        ),
    ],
)
def test_production_refuses_placeholder_secrets(
    monkeypatch: pytest.MonkeyPatch, variable: str, expected: str
) -> None:
    monkeypatch.setenv("SRE_COPILOT_ENVIRONMENT", "production")
    monkeypatch.setenv("SRE_COPILOT_REMEDIATION_WEBHOOKS__RUNNER__URL", "https://r/x")
    monkeypatch.setenv("SRE_COPILOT_REMEDIATION_WEBHOOKS__RUNNER__SECRET", "a-real-one")
    monkeypatch.setenv(variable, "changeme")
    with pytest.raises(ConfigError) as err:
        load_settings(_env_file=None)
    assert str(err.value) == f"{expected}: a placeholder secret is not allowed here"


# ---------------------------------------------------------------------- container


async def test_container_wires_kubernetes_and_webhook_actions(
    tmp_path: Path, k8s: KubernetesStub, receiver: Receiver
) -> None:
    s = settings(
        tmp_path,
        kubernetes={"host": k8s.url, "bearer_token": TOKEN, "namespaces": ["shop"]},
        remediation_webhooks={"cleanup": {"url": receiver.url, "secret": HOOK_SECRET}},
    )
    async with Container(s) as c:
        assert {"kubernetes.scale", "kubernetes.rollout_restart", "webhook.trigger"} <= set(
            c.catalogue.names()
        )
        health = {h.integration: h for h in await c.probe()}
        assert health["kubernetes"].state is HealthState.HEALTHY
        assert "(shop)" in health["kubernetes"].reason

        scale = await c.remediation.propose(
            workspace_id=s.workspace_id, action="kubernetes.scale",
            params={"namespace": "shop", "deployment": "checkout", "replicas": 4},
            environment="production", proposed_by="UALICE", reason="cpu",
        )  # fmt: skip
        assert scale.dry_run == "scale deploy/checkout in shop from 3 to 4"
        decision = await c.remediation.decide(
            workspace_id=s.workspace_id, proposal_id=scale.id, actor="UBOB", approve=True
        )
        assert decision.executed and decision.proposal is not None
        assert decision.proposal.status == ProposalStatus.VERIFIED
        assert k8s.deployment("shop", "checkout")["spec"]["replicas"] == 4
        assert all(r.headers.get("authorization") == f"Bearer {TOKEN}" for r in k8s.requests)

        # outside the namespace allow-list: shown in the dry run, refused at execution
        other = await c.remediation.propose(
            workspace_id=s.workspace_id, action="kubernetes.rollout_restart",
            params={"namespace": "kube-system", "deployment": "coredns"},
            environment="production", proposed_by="UALICE", reason="dns",
        )  # fmt: skip
        assert "not in the Kubernetes allow-list (shop)" in other.dry_run
        refused = await c.remediation.decide(
            workspace_id=s.workspace_id, proposal_id=other.id, actor="UBOB", approve=True
        )
        assert refused.proposal is not None and refused.proposal.status == ProposalStatus.FAILED
        assert not [r for r in k8s.requests if "kube-system" in r.path]

        hook = await c.remediation.propose(
            workspace_id=s.workspace_id, action="webhook.trigger",
            params={"webhook": "cleanup", "payload": {"host": "db-1"}},
            environment="production", proposed_by="UALICE", reason="disk",
        )  # fmt: skip
        await c.remediation.decide(
            workspace_id=s.workspace_id, proposal_id=hook.id, actor="UBOB", approve=True
        )
        assert receiver.received == [(True, {"host": "db-1"})]


async def test_wrong_token_disables_kubernetes_actions_at_start(
    tmp_path: Path, k8s: KubernetesStub, caplog: pytest.LogCaptureFixture
) -> None:
    s = settings(tmp_path, kubernetes={"host": k8s.url, "bearer_token": "stale-token"})
    with caplog.at_level(logging.WARNING, logger="bot.container"):
        async with Container(s) as c:
            assert not [n for n in c.catalogue.names() if n.startswith("kubernetes.")]
            health = {h.integration: h for h in await c.probe()}
    assert health["kubernetes"].state is HealthState.UNHEALTHY
    assert "HTTP 401" in health["kubernetes"].reason
    assert any(
        "Kubernetes actions disabled (kubernetes.rollout_restart, kubernetes.scale)" in m
        for m in caplog.messages
    )


async def test_unreachable_cluster_and_bad_ca_do_not_stop_the_start(
    tmp_path: Path, dead_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    unreachable = settings(tmp_path / "a", kubernetes={"host": dead_url, "timeout_s": 2})
    with caplog.at_level(logging.WARNING, logger="bot.container"):
        async with Container(unreachable) as c:
            assert "kubernetes.scale" not in c.catalogue.names()
    assert any("cannot reach the Kubernetes API" in m for m in caplog.messages)

    caplog.clear()
    missing = tmp_path / "nope" / "ca.pem"
    bad_ca = settings(
        tmp_path / "b", kubernetes={"host": "https://10.0.0.1:6443", "ca_bundle": str(missing)}
    )
    with caplog.at_level(logging.WARNING, logger="bot.container"):
        async with Container(bad_ca) as c:
            assert "kubernetes.scale" not in c.catalogue.names()
            [health] = [h for h in await c.probe() if h.integration == "kubernetes"]
    assert health.state is HealthState.UNHEALTHY
    assert f"SRE_COPILOT_KUBERNETES__CA_BUNDLE: cannot read {missing}" in health.reason
    assert any("Kubernetes actions disabled: SRE_COPILOT_KUBERNETES__CA_BUNDLE" in m
               for m in caplog.messages)  # fmt: skip
