"""Remediation actions against a real Alertmanager and loopback PagerDuty, Kubernetes and
webhook servers: dry-run text, precondition refusal, execute and verify for each action."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
from pydantic import BaseModel, ValidationError

from tests.servers.process import ServerProcess
from tests.stubs.kubernetes_api import KubernetesStub, serve_kubernetes_stub
from tests.stubs.pagerduty_api import PagerDutyStub, serve_pagerduty_stub
from tools.actions.alertmanager import SilenceCreateAction, SilenceExpireAction
from tools.actions.base import Action, ActionOutcome, Risk
from tools.actions.catalogue import ACTION_TYPES, build_catalogue
from tools.actions.kubernetes import (
    RESTARTED_AT,
    KubernetesDeployments,
    RolloutRestartAction,
    ScaleAction,
)
from tools.actions.pagerduty import AcknowledgeAction, AddNoteAction, ReassignAction, ResolveAction
from tools.actions.webhook import SIGNATURE_HEADER, WebhookTriggerAction
from tools.alertmanager_client import AlertmanagerClient
from tools.config import AlertmanagerConfig
from tools.pagerduty_client import PagerDutyClient

pytestmark = pytest.mark.integration

FROM = "oncall@example.com"


async def run_all(action: Action, params: BaseModel) -> tuple[ActionOutcome, ActionOutcome]:
    """Precondition (must pass), execute and verify."""
    pre = await action.precondition(params)
    assert pre.ok, pre.detail
    executed = await action.execute(params)
    assert executed.ok, executed.detail
    return executed, await action.verify(params, executed)


# --------------------------------------------------------------------------- Alertmanager


@pytest.fixture
async def am(alertmanager_server: ServerProcess) -> AsyncIterator[AlertmanagerClient]:
    client = AlertmanagerClient(AlertmanagerConfig(base_url=alertmanager_server.url))
    yield client
    await client.aclose()


async def post_alert(url: str, labels: dict[str, str]) -> None:
    now = datetime.now(UTC)
    alert = {
        "labels": labels,
        "startsAt": now.isoformat(),
        "endsAt": (now + timedelta(minutes=10)).isoformat(),
    }
    async with httpx.AsyncClient(base_url=url) as client:
        (await client.post("/api/v2/alerts", json=[alert])).raise_for_status()


def silence_params(service: str, **overrides: Any) -> BaseModel:
    values: dict[str, Any] = {
        "matchers": [f'service="{service}"'],
        "duration_minutes": 30,
        "comment": "deploy in progress",
        "created_by": "sre-copilot",
    }
    values.update(overrides)
    return SilenceCreateAction.params_model.model_validate(values)


async def test_silence_create_dry_run_counts_active_alerts(
    am: AlertmanagerClient, alertmanager_server: ServerProcess
) -> None:
    service = f"svc-{uuid.uuid4().hex[:8]}"
    await post_alert(alertmanager_server.url, {"alertname": "ActionTest", "service": service})
    action = SilenceCreateAction(client=am)
    text = await action.dry_run(silence_params(service))
    assert f'service="{service}"' in text
    assert "for 30 min" in text
    assert "it would silence 1 currently active alert(s)" in text


@pytest.mark.parametrize(
    "matchers",
    [[], ['service=~".*"'], ['service=""', 'env!="prod"']],
    ids=["none", "regex-all", "all-empty"],
)
async def test_silence_create_refuses_match_everything(
    am: AlertmanagerClient, matchers: list[str]
) -> None:
    action = SilenceCreateAction(client=am)
    outcome = await action.precondition(silence_params("x", matchers=matchers))
    assert not outcome.ok
    assert "matcher" in outcome.detail or "every alert" in outcome.detail


def test_silence_create_params_reject_bad_matcher_and_duration() -> None:
    with pytest.raises(ValidationError):
        silence_params("x", matchers=["not a matcher"])
    with pytest.raises(ValidationError):
        silence_params("x", duration_minutes=0)


async def test_silence_create_execute_and_verify(am: AlertmanagerClient) -> None:
    service = f"svc-{uuid.uuid4().hex[:8]}"
    action = SilenceCreateAction(client=am)
    params = silence_params(service, matchers=[f'service="{service}"', 'severity=~"page|crit"'])
    executed, verified = await run_all(action, params)
    silence_id = executed.data["silence_id"]
    assert verified.ok, verified.detail
    silence = await am.silence(silence_id)
    assert silence.state == "active"
    assert silence.created_by == "sre-copilot"
    assert {str(m) for m in silence.matchers} == {f'service="{service}"', 'severity=~"page|crit"'}
    await am.expire_silence(silence_id)
    stale = await action.verify(params, executed)
    assert not stale.ok and "expired" in stale.detail


async def test_silence_expire_lifecycle(am: AlertmanagerClient) -> None:
    service = f"svc-{uuid.uuid4().hex[:8]}"
    now = datetime.now(UTC)
    silence_id = await am.create_silence(
        matchers=[f'service="{service}"'],
        starts_at=now,
        ends_at=now + timedelta(hours=1),
        created_by="test",
        comment="to expire",
    )
    action = SilenceExpireAction(client=am)
    params = action.params_model.model_validate({"silence_id": silence_id})
    text = await action.dry_run(params)
    assert text.startswith(f"expire silence {silence_id}")
    assert f'service="{service}"' in text and "active" in text
    _, verified = await run_all(action, params)
    assert verified.ok, verified.detail
    refused = await action.precondition(params)
    assert not refused.ok and "expired, not active" in refused.detail


async def test_silence_expire_refuses_unknown_silence(am: AlertmanagerClient) -> None:
    action = SilenceExpireAction(client=am)
    params = action.params_model.model_validate({"silence_id": str(uuid.uuid4())})
    outcome = await action.precondition(params)
    assert not outcome.ok
    assert "does not exist" in outcome.detail


# --------------------------------------------------------------------------- PagerDuty


@pytest.fixture(scope="module")
def pd_server() -> Iterator[PagerDutyStub]:
    with serve_pagerduty_stub() as stub:
        yield stub


@pytest.fixture
async def pd(pd_server: PagerDutyStub) -> AsyncIterator[PagerDutyClient]:
    pd_server.reset()
    client = PagerDutyClient.from_config(pd_server.config(from_email=FROM))
    yield client
    await client.aclose()


def incident(incident_id: str) -> BaseModel:
    return AcknowledgeAction.params_model.model_validate({"incident_id": incident_id})


async def test_pagerduty_acknowledge(pd: PagerDutyClient, pd_server: PagerDutyStub) -> None:
    action = AcknowledgeAction(client=pd)
    text = await action.dry_run(incident("PABC123"))
    assert text == (
        "acknowledge PagerDuty incident PABC123 '[#1042] High 5xx rate on checkout-api': "
        "status triggered -> acknowledged"
    )
    _, verified = await run_all(action, incident("PABC123"))
    assert verified.ok, verified.detail
    put = pd_server.requests_to("/incidents/PABC123", "PUT")
    assert len(put) == 1
    assert put[0].body == {"incident": {"type": "incident_reference", "status": "acknowledged"}}
    assert put[0].headers["from"] == FROM
    refused = await action.precondition(incident("PABC123"))
    assert not refused.ok and "already acknowledged" in refused.detail


async def test_pagerduty_resolve(pd: PagerDutyClient, pd_server: PagerDutyStub) -> None:
    action = ResolveAction(client=pd)
    assert "status acknowledged -> resolved" in await action.dry_run(incident("PABC124"))
    _, verified = await run_all(action, incident("PABC124"))
    assert verified.ok, verified.detail
    assert pd_server.requests_to("/incidents/PABC124", "PUT")[0].body["incident"] == {
        "type": "incident_reference",
        "status": "resolved",
    }
    refused = await action.precondition(incident("PABC124"))
    assert not refused.ok
    assert refused.detail == "incident PABC124 is already resolved; cannot resolve it"


async def test_pagerduty_resolve_refuses_unknown_incident(pd: PagerDutyClient) -> None:
    action = ResolveAction(client=pd)
    outcome = await action.precondition(incident("PNOPE99"))
    assert not outcome.ok and outcome.detail == "incident PNOPE99 does not exist"
    assert "does not exist" in await action.dry_run(incident("PNOPE99"))


async def test_pagerduty_status_verify_fails_when_status_differs(pd: PagerDutyClient) -> None:
    action = AcknowledgeAction(client=pd)
    claimed = ActionOutcome(ok=True, detail="pretend")
    outcome = await action.verify(incident("PGHI301"), claimed)
    assert not outcome.ok and outcome.detail == "incident PGHI301 is triggered"


async def test_pagerduty_writes_need_from_email(pd_server: PagerDutyStub) -> None:
    pd_server.reset()
    client = PagerDutyClient.from_config(pd_server.config())
    try:
        outcome = await AcknowledgeAction(client=client).precondition(incident("PABC123"))
    finally:
        await client.aclose()
    assert not outcome.ok and "from_email" in outcome.detail


async def test_pagerduty_add_note(pd: PagerDutyClient, pd_server: PagerDutyStub) -> None:
    action = AddNoteAction(client=pd)
    params = action.params_model.model_validate(
        {"incident_id": "PABC125", "content": "Rolled back checkout-api"}
    )
    text = await action.dry_run(params)
    assert text == (
        "add a note to PagerDuty incident PABC125 ([#1041] checkout-api p99 latency above SLO): "
        "'Rolled back checkout-api'"
    )
    executed, verified = await run_all(action, params)  # resolved incidents take notes too
    assert verified.ok, verified.detail
    assert executed.data["note_id"].startswith("PNOTE")
    posted = pd_server.requests_to("/incidents/PABC125/notes", "POST")
    assert posted[0].body == {"note": {"content": "Rolled back checkout-api"}}
    missing = await action.precondition(
        action.params_model.model_validate({"incident_id": "PNOPE99", "content": "x"})
    )
    assert not missing.ok and "does not exist" in missing.detail
    bogus = await action.verify(params, ActionOutcome(ok=True, detail="", data={"note_id": "P0"}))
    assert not bogus.ok


async def test_pagerduty_reassign(pd: PagerDutyClient, pd_server: PagerDutyStub) -> None:
    action = ReassignAction(client=pd)
    params = action.params_model.model_validate(
        {"incident_id": "PGHI301", "assignee_ids": ["PUSR003"]}
    )
    text = await action.dry_run(params)
    assert text.endswith("from PUSR001 to PUSR003")
    executed, verified = await run_all(action, params)
    assert executed.data["assignee_ids"] == ["PUSR003"]
    assert verified.ok, verified.detail
    assert pd_server.requests_to("/incidents/PGHI301", "PUT")[0].body["incident"] == {
        "type": "incident_reference",
        "assignments": [{"assignee": {"id": "PUSR003", "type": "user_reference"}}],
    }
    again = await action.precondition(params)
    assert not again.ok and "already assigned" in again.detail
    resolved = await action.precondition(
        action.params_model.model_validate({"incident_id": "PDEF201", "assignee_ids": ["PUSR003"]})
    )
    assert not resolved.ok and "resolved" in resolved.detail


async def test_pagerduty_reassign_unknown_user_fails_execute(pd: PagerDutyClient) -> None:
    action = ReassignAction(client=pd)
    params = action.params_model.model_validate(
        {"incident_id": "PGHI301", "assignee_ids": ["PUSR999"]}
    )
    executed = await action.execute(params)
    assert not executed.ok and "HTTP 400" in executed.detail
    assert not (await action.verify(params, executed)).ok


# --------------------------------------------------------------------------- Kubernetes


@pytest.fixture(scope="module")
def k8s_server() -> Iterator[KubernetesStub]:
    with serve_kubernetes_stub() as stub:
        yield stub


@pytest.fixture
async def k8s(k8s_server: KubernetesStub) -> AsyncIterator[KubernetesDeployments]:
    k8s_server.reset()
    k8s_server.add_deployment("shop", "checkout", replicas=3)
    deployments = KubernetesDeployments(host=k8s_server.url, timeout_s=5.0)
    yield deployments
    await deployments.aclose()


def scale(replicas: int, name: str = "checkout") -> BaseModel:
    return ScaleAction.params_model.model_validate(
        {"namespace": "shop", "deployment": name, "replicas": replicas}
    )


async def test_kubernetes_scale(k8s: KubernetesDeployments, k8s_server: KubernetesStub) -> None:
    action = ScaleAction(deployments=k8s)
    assert await action.dry_run(scale(5)) == "scale deploy/checkout in shop from 3 to 5"
    executed, verified = await run_all(action, scale(5))
    assert executed.data == {"replicas": 5, "generation": 2}
    assert verified.ok, verified.detail
    assert k8s_server.deployment("shop", "checkout")["spec"]["replicas"] == 5
    patch = [r for r in k8s_server.requests if r.method == "PATCH"]
    assert len(patch) == 1
    assert patch[0].path == "/apis/apps/v1/namespaces/shop/deployments/checkout"
    assert patch[0].headers["content-type"] == "application/strategic-merge-patch+json"
    assert patch[0].body == {"spec": {"replicas": 5}}


@pytest.mark.parametrize(
    ("replicas", "name", "detail"),
    [
        (3, "checkout", "already has 3 replicas"),
        (51, "checkout", "replicas 51 is outside 0..50"),
        (-1, "checkout", "replicas -1 is outside 0..50"),
        (2, "ghost", "deploy/ghost in shop does not exist"),
    ],
)
async def test_kubernetes_scale_refusals(
    k8s: KubernetesDeployments, k8s_server: KubernetesStub, replicas: int, name: str, detail: str
) -> None:
    outcome = await ScaleAction(deployments=k8s).precondition(scale(replicas, name))
    assert not outcome.ok
    assert detail in outcome.detail
    assert not [r for r in k8s_server.requests if r.method == "PATCH"]


async def test_kubernetes_scale_verify_fails_when_replicas_differ(
    k8s: KubernetesDeployments,
) -> None:
    action = ScaleAction(deployments=k8s, verify_timeout_s=0.2, poll_s=0.05)
    outcome = await action.verify(scale(7), ActionOutcome(ok=True, detail=""))
    assert not outcome.ok and "has 3 replicas, not 7" in outcome.detail


async def test_kubernetes_rollout_restart(
    k8s: KubernetesDeployments, k8s_server: KubernetesStub
) -> None:
    action = RolloutRestartAction(deployments=k8s)
    params = action.params_model.model_validate({"namespace": "shop", "deployment": "checkout"})
    text = await action.dry_run(params)
    assert text.startswith("rollout restart deploy/checkout in shop: replace its 3 pod(s)")
    executed, verified = await run_all(action, params)
    assert executed.data["previous_generation"] == 1 and executed.data["generation"] == 2
    assert verified.ok, verified.detail
    assert verified.data["observed_generation"] == 2
    stored = k8s_server.deployment("shop", "checkout")
    annotations = stored["spec"]["template"]["metadata"]["annotations"]
    assert annotations[RESTARTED_AT] == executed.data["restarted_at"]
    assert stored["spec"]["template"]["metadata"]["labels"] == {"app": "checkout"}  # merged


async def test_kubernetes_rollout_restart_refuses_missing_deployment(
    k8s: KubernetesDeployments,
) -> None:
    action = RolloutRestartAction(deployments=k8s)
    params = action.params_model.model_validate({"namespace": "shop", "deployment": "ghost"})
    outcome = await action.precondition(params)
    assert not outcome.ok and outcome.detail == "deploy/ghost in shop does not exist"
    assert not (await action.execute(params)).ok


async def test_kubernetes_rollout_restart_verify_waits_for_controller(
    k8s: KubernetesDeployments, k8s_server: KubernetesStub
) -> None:
    k8s_server.controller_paused = True
    action = RolloutRestartAction(deployments=k8s, verify_timeout_s=0.3, poll_s=0.05)
    params = action.params_model.model_validate({"namespace": "shop", "deployment": "checkout"})
    executed = await action.execute(params)
    assert executed.ok
    verified = await action.verify(params, executed)
    assert not verified.ok
    assert "observedGeneration 1 has not advanced past 1" in verified.detail


# --------------------------------------------------------------------------- webhook


@dataclass
class Receiver:
    url: str
    secret: str
    status: int = 204
    received: list[tuple[dict[str, Any], bool]] = field(default_factory=list)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    state = Receiver(url="", secret="s3cret-for-tests")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            expected = "v1=" + hmac.new(state.secret.encode(), body, hashlib.sha256).hexdigest()
            valid = hmac.compare_digest(self.headers.get(SIGNATURE_HEADER, ""), expected)
            state.received.append((json.loads(body), valid))
            self.send_response(state.status if valid else 401)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}/hooks/restart"
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture
async def webhook(receiver: Receiver) -> AsyncIterator[WebhookTriggerAction]:
    action = WebhookTriggerAction(
        webhooks={
            "runner": (receiver.url, receiver.secret),
            "wrong-key": (receiver.url, "not-the-secret"),
        },
        timeout_s=5.0,
    )
    yield action
    await action.aclose()


def hook(name: str, payload: dict[str, Any]) -> BaseModel:
    return WebhookTriggerAction.params_model.model_validate({"webhook": name, "payload": payload})


async def test_webhook_trigger(webhook: WebhookTriggerAction, receiver: Receiver) -> None:
    params = hook("runner", {"job": "restart", "service": "checkout"})
    text = await webhook.dry_run(params)
    assert text == (
        f"POST to webhook 'runner' at {receiver.url} (signed): "
        '{"job":"restart","service":"checkout"}'
    )
    assert not receiver.received  # dry run sends nothing
    executed, verified = await run_all(webhook, params)
    assert executed.data == {"status_code": 204, "url": receiver.url}
    assert verified.ok, verified.detail
    assert receiver.received == [({"job": "restart", "service": "checkout"}, True)]


async def test_webhook_refuses_unlisted_webhook_and_url_params(
    webhook: WebhookTriggerAction, receiver: Receiver
) -> None:
    outcome = await webhook.precondition(hook("https://evil.example.com/x", {}))
    assert not outcome.ok
    assert "is not configured (known: runner, wrong-key)" in outcome.detail
    assert not (await webhook.execute(hook("elsewhere", {}))).ok
    with pytest.raises(ValidationError):
        WebhookTriggerAction.params_model.model_validate(
            {"webhook": "runner", "payload": {}, "url": "https://evil.example.com"}
        )
    assert not receiver.received


async def test_webhook_verify_fails_on_non_2xx(
    webhook: WebhookTriggerAction, receiver: Receiver
) -> None:
    executed = await webhook.execute(hook("wrong-key", {"a": 1}))
    assert not executed.ok and "HTTP 401" in executed.detail
    assert receiver.received == [({"a": 1}, False)]
    verified = await webhook.verify(hook("wrong-key", {"a": 1}), executed)
    assert not verified.ok and "HTTP 401" in verified.detail
    receiver.status = 500
    failed = await webhook.execute(hook("runner", {"a": 2}))
    assert not (await webhook.verify(hook("runner", {"a": 2}), failed)).ok


# --------------------------------------------------------------------------- catalogue


async def test_build_catalogue_registers_configured_actions(
    am: AlertmanagerClient, pd: PagerDutyClient, k8s_server: KubernetesStub
) -> None:
    empty = build_catalogue(alertmanager=None, pagerduty=None, kubernetes=None, webhooks={})
    assert empty.names() == []
    catalogue = build_catalogue(
        alertmanager=am,
        pagerduty=pd,
        kubernetes=KubernetesDeployments(host=k8s_server.url),
        webhooks={"runner": ("http://127.0.0.1:9/hook", "secret")},
    )
    expected = {
        "alertmanager.silence_create": (Risk.LOW, True),
        "alertmanager.silence_expire": (Risk.LOW, True),
        "pagerduty.add_note": (Risk.LOW, True),
        "pagerduty.acknowledge": (Risk.MEDIUM, False),
        "pagerduty.resolve": (Risk.MEDIUM, False),
        "pagerduty.reassign": (Risk.MEDIUM, False),
        "kubernetes.scale": (Risk.HIGH, False),
        "kubernetes.rollout_restart": (Risk.MEDIUM, False),
        "webhook.trigger": (Risk.HIGH, False),
    }
    assert catalogue.names() == sorted(expected)
    assert set(ACTION_TYPES) == set(expected)  # the static list knows every action
    for name, (risk, safe) in expected.items():
        action = catalogue.get(name)
        assert isinstance(action, Action)
        assert (action.risk, action.safe) == (risk, safe), name
    scale_action = catalogue.get("kubernetes.scale")
    assert isinstance(scale_action, ScaleAction)
    await scale_action._deployments.aclose()
    webhook_action = catalogue.get("webhook.trigger")
    assert isinstance(webhook_action, WebhookTriggerAction)
    await webhook_action.aclose()
