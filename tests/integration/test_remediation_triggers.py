"""Policy triggers: forecasts and anomalies become proposals (both databases).

The Deployment actions run against the Kubernetes API stub; the webhook action's
receiver is a loopback server; the silence action uses the real Alertmanager.
"""

from __future__ import annotations

import textwrap
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from jobs.anomaly import AnomalyExplanation
from jobs.forecast_alerts import PredictiveAlert
from jobs.policy import Policy, load_policy
from jobs.proposals import MessageRef, TriggeredProposer, expire_and_update
from jobs.remediation import RemediationService
from jobs.scheduler import ANOMALY_JOB, JobSpec, anomaly_scan_job, cron_slot_period, run_once
from memory.errors import ConfigError
from memory.models import ProposalStatus, RemediationProposal
from memory.repositories import Repositories
from tests.integration.test_remediation_wiring import Receiver
from tests.servers.process import ServerProcess
from tests.stubs.kubernetes_api import KubernetesStub, serve_kubernetes_stub
from tools.actions.alertmanager import SilenceCreateAction
from tools.actions.base import ActionCatalogue
from tools.actions.kubernetes import KubernetesDeployments, ScaleAction
from tools.actions.webhook import WebhookTriggerAction
from tools.alertmanager_client import AlertmanagerClient
from tools.config import AlertmanagerConfig
from tools.promql_file import FilePrometheusClient
from tools.scenario import Series

SCALE_TRIGGER: dict[str, Any] = {
    "name": "checkout-cpu",
    "source": "forecast",
    "metric": "container_cpu_limit_ratio",
    "labels": {"namespace": "shop", "deployment": "*"},
    "action": "kubernetes.scale",
    "params": {
        "namespace": "{namespace}",
        "deployment": "{deployment}",
        "replicas": "{replicas+1}",
    },
}


class Clock:
    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now


class RecordingSink:
    """A ProposalSink that keeps what it was asked to post and update."""

    def __init__(self) -> None:
        self.posted: list[RemediationProposal] = []
        self.updated: list[tuple[str, str, str]] = []

    async def post_proposal(self, proposal: RemediationProposal) -> MessageRef | None:
        self.posted.append(proposal)
        return MessageRef(channel="C0OPS", ts=f"1700000000.{len(self.posted):06d}")

    async def update_proposal(self, proposal: RemediationProposal, *, note: str = "") -> None:
        self.updated.append((proposal.id, str(proposal.status), note))


def cpu_alert(deployment: str = "checkout", namespace: str = "shop") -> PredictiveAlert:
    now = datetime.now(UTC)
    return PredictiveAlert(
        name="container_cpu_limit_ratio", resource="cpu", promql="sum(rate(...))",
        labels={"namespace": namespace, "deployment": deployment, "container": deployment},
        unit="ratio", direction="above", threshold=0.9, eta=now + timedelta(hours=5),
        lead_hours=5.0, likely_eta=None, current=0.71, band_at_eta=(0.8, 0.95), interval=0.8,
        method="linear", summary=f"CPU of {deployment} reaches 90% of its limit in 5 h",
    )  # fmt: skip


def disk_anomaly(instance: str = "db-1:9100") -> AnomalyExplanation:
    now = datetime.now(UTC)
    return AnomalyExplanation(
        metric="node_filesystem_avail_bytes", labels={"instance": instance, "mountpoint": "/"},
        at=now, since=now - timedelta(minutes=20), observed=1.0e9, expected=4.0e10,
        expected_low=3.5e10, expected_high=4.5e10, deviation_sigmas=-9.0, deviation_pct=-97.5,
        signal="value", score=0.99,
    )  # fmt: skip


@pytest.fixture(scope="module")
def cluster() -> Iterator[KubernetesStub]:
    with serve_kubernetes_stub() as stub:
        yield stub


@pytest.fixture
async def deployments(cluster: KubernetesStub) -> AsyncIterator[KubernetesDeployments]:
    cluster.reset()
    cluster.add_deployment("shop", "checkout", replicas=3)
    d = KubernetesDeployments(host=cluster.url, timeout_s=5.0)
    yield d
    await d.aclose()


def policy(*triggers: dict[str, Any], rules: list[dict[str, Any]] | None = None) -> Policy:
    return Policy.model_validate(
        {"rules": rules or [], "triggers": list(triggers), "expiry_minutes": 30}
    )


# --------------------------------------------------------------------- validation


@pytest.mark.parametrize(
    ("trigger", "message"),
    [
        (
            {"action": "kubernetes.scael"},
            "line 3 field triggers[0]: unknown action 'kubernetes.scael' (known: ",
        ),
        (
            {"params": {**SCALE_TRIGGER["params"], "replica": 2}},
            "field triggers[0]: kubernetes.scale takes no parameter 'replica'",
        ),
        (
            {"params": {"namespace": "shop", "deployment": "x"}},
            "field triggers[0]: kubernetes.scale needs parameter 'replicas'",
        ),
        (
            {"labels": {"namespace": "shop"}},
            "field triggers[0]: template refers to {deployment}, which is neither a label "
            "listed under labels (namespace)",
        ),
        ({"source": "digest"}, "field triggers[0].source: Input should be 'forecast' or"),
    ],
)
def test_policy_refuses_bad_triggers(
    tmp_path: Path, trigger: dict[str, object], message: str
) -> None:
    import yaml

    path = tmp_path / "policy.yaml"
    path.write_text(
        "expiry_minutes: 30\ntriggers:\n"
        + textwrap.indent(yaml.safe_dump([{**SCALE_TRIGGER, **trigger}], sort_keys=False), "  ")
    )
    with pytest.raises(ConfigError) as err:
        load_policy(path)
    assert f"policy file {path} " in str(err.value)
    assert message in str(err.value)


def test_policy_refuses_duplicate_trigger_names() -> None:
    with pytest.raises(ValueError, match="trigger name 'checkout-cpu' is used twice"):
        policy(SCALE_TRIGGER, SCALE_TRIGGER)


# ----------------------------------------------------------------------- proposals


async def test_forecast_proposes_scale_to_replicas_plus_one_once(
    repos: Repositories, workspace: str, deployments: KubernetesDeployments,
    cluster: KubernetesStub,
) -> None:  # fmt: skip
    clock = Clock()
    pol = policy(SCALE_TRIGGER)
    catalogue = ActionCatalogue([ScaleAction(deployments=deployments)])
    svc = RemediationService(repos, catalogue, pol, clock=clock)
    sink = RecordingSink()
    proposer = TriggeredProposer(
        service=svc, catalogue=catalogue, triggers=pol.triggers, repos=repos, sink=sink,
        clock=clock,
    )  # fmt: skip

    [p] = await proposer.from_forecast(workspace_id=workspace, alert=cpu_alert())
    assert p.params == {"namespace": "shop", "deployment": "checkout", "replicas": 4}
    assert p.proposed_by == "job:forecast"
    assert p.status == ProposalStatus.PENDING and p.required_approvals == 1
    assert p.dry_run == "scale deploy/checkout in shop from 3 to 4"
    assert p.reason.startswith("trigger checkout-cpu: CPU of checkout reaches 90%")
    stored = await repos.proposals.get(workspace_id=workspace, proposal_id=p.id)
    assert stored is not None and (stored.channel_id, stored.message_ts) == (
        "C0OPS", "1700000000.000001",
    )  # fmt: skip
    assert not [r for r in cluster.requests if r.method == "PATCH"]  # nothing ran

    # the next run, the same target: still pending, so no second proposal
    assert await proposer.from_forecast(workspace_id=workspace, alert=cpu_alert()) == []
    # a series that does not match the trigger's labels: nothing
    assert (
        await proposer.from_forecast(workspace_id=workspace, alert=cpu_alert(namespace="web")) == []
    )
    # a missing deployment: the fact cannot be read, no proposal, no error
    assert await proposer.from_forecast(workspace_id=workspace, alert=cpu_alert("cart")) == []
    assert len(sink.posted) == 1

    # once decided (or expired), the trigger may propose again
    rejected = await svc.decide(
        workspace_id=workspace, proposal_id=p.id, actor="UBOB", approve=False, reason="no"
    )
    assert rejected.proposal is not None and rejected.proposal.rejected_by == "UBOB"
    stored = await repos.proposals.get(workspace_id=workspace, proposal_id=p.id)
    assert stored is not None and stored.rejected_by == "UBOB"
    [again] = await proposer.from_forecast(workspace_id=workspace, alert=cpu_alert())
    clock.now += timedelta(minutes=31)
    expired = await expire_and_update(service=svc, sink=sink)
    # the pass covers every workspace: other tests' overdue proposals share the database
    assert [e.id for e in expired if e.workspace_id == workspace] == [again.id]
    assert [u for u in sink.updated if u[0] == again.id] == [
        (again.id, "expired", f"Expired: no decision before {again.expires_at:%Y-%m-%d %H:%M} UTC.")
    ]
    [third] = await proposer.from_forecast(workspace_id=workspace, alert=cpu_alert())
    assert third.id not in (p.id, again.id)


async def test_anomaly_proposes_webhook_and_level_3_needs_a_safe_action(
    repos: Repositories, workspace: str, receiver: Receiver
) -> None:
    trigger = {
        "name": "disk-cleanup", "source": "anomaly", "metric": "node_filesystem_avail_bytes",
        "labels": {"instance": "*"}, "action": "webhook.trigger", "environment": "staging",
        "params": {"webhook": "cleanup", "payload": {"host": "{instance}", "free": "{observed}"}},
        "reason": "free bytes {observed} on {instance}",
    }  # fmt: skip
    # a level-3 rule on an unsafe action (validate() would refuse it at start): still asks
    pol = policy(trigger, rules=[{"action": "webhook.*", "level": 3}])
    catalogue = ActionCatalogue([WebhookTriggerAction(webhooks={"cleanup": (receiver.url, "k")})])
    svc = RemediationService(repos, catalogue, pol)
    proposer = TriggeredProposer(
        service=svc, catalogue=catalogue, triggers=pol.triggers, repos=repos
    )
    [p] = await proposer.from_anomaly(workspace_id=workspace, anomaly=disk_anomaly())
    assert p.params == {"webhook": "cleanup", "payload": {"host": "db-1:9100", "free": 1.0e9}}
    assert (p.environment, p.proposed_by, p.reason) == (
        "staging", "job:anomaly", "free bytes 1000000000.0 on db-1:9100",
    )  # fmt: skip
    assert p.status == ProposalStatus.PENDING and p.required_approvals == 1
    assert receiver.received == []


async def test_level_3_safe_silence_from_a_job_executes(
    repos: Repositories, workspace: str, alertmanager_server: ServerProcess
) -> None:
    trigger = {
        "name": "quiet-disk", "source": "anomaly", "metric": "node_filesystem_avail_bytes",
        "labels": {"instance": "db-*"}, "action": "alertmanager.silence_create",
        "params": {"matchers": ["instance=\"{instance}\""], "duration_minutes": 30,
                   "comment": "disk anomaly on {instance}", "created_by": "sre-copilot"},
    }  # fmt: skip
    pol = policy(trigger, rules=[{"action": "alertmanager.silence_create", "level": 3}])
    client = AlertmanagerClient(AlertmanagerConfig(base_url=alertmanager_server.url))
    try:
        catalogue = ActionCatalogue([SilenceCreateAction(client=client)])
        svc = RemediationService(repos, catalogue, pol)
        proposer = TriggeredProposer(
            service=svc, catalogue=catalogue, triggers=pol.triggers, repos=repos
        )
        instance = f"db-{workspace.lower()}:9100"
        [p] = await proposer.from_anomaly(workspace_id=workspace, anomaly=disk_anomaly(instance))
        assert p.status == ProposalStatus.VERIFIED and p.approvals == []
        [silence] = [s for s in await client.silences() if s.comment.endswith(instance)]
        assert [(m.name, m.value) for m in silence.matchers] == [("instance", instance)]
        assert silence.created_by == "sre-copilot" and silence.state == "active"
    finally:
        await client.aclose()


async def test_trigger_for_an_unconfigured_action_is_skipped(
    repos: Repositories, workspace: str
) -> None:
    pol = policy(SCALE_TRIGGER)
    catalogue = ActionCatalogue([])
    svc = RemediationService(repos, catalogue, pol)
    proposer = TriggeredProposer(
        service=svc, catalogue=catalogue, triggers=pol.triggers, repos=repos
    )
    assert await proposer.from_forecast(workspace_id=workspace, alert=cpu_alert()) == []
    assert await repos.proposals.list(workspace_id=workspace) == []


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    r.thread.start()
    try:
        yield r
    finally:
        r.server.shutdown()
        r.server.server_close()


async def test_anomaly_scan_job_makes_the_proposal(
    repos: Repositories, workspace: str, receiver: Receiver
) -> None:
    now = datetime(2026, 11, 25, 14, 0, tzinfo=UTC)
    start = now - timedelta(days=3)
    n = 3 * 288  # three days every 5 min, the last two samples fall off a cliff
    samples = [
        (start.timestamp() + i * 300, 4.0e10 + (i % 7) * 1.0e8 if i < n - 1 else 1.0e9)
        for i in range(n + 1)
    ]
    source = FilePrometheusClient(
        [Series(name="node_filesystem_avail_bytes", labels={"instance": "db-1:9100"},
                samples=samples)],
        source="test",
    )  # fmt: skip
    trigger = {
        "name": "disk-cleanup", "source": "anomaly", "metric": "node_filesystem_avail_bytes",
        "labels": {"instance": "db-*"}, "action": "webhook.trigger",
        "params": {"webhook": "cleanup", "payload": {"host": "{instance}"}},
    }  # fmt: skip
    pol = policy(trigger)
    catalogue = ActionCatalogue([WebhookTriggerAction(webhooks={"cleanup": (receiver.url, "k")})])
    svc = RemediationService(repos, catalogue, pol)
    proposer = TriggeredProposer(
        service=svc, catalogue=catalogue, triggers=pol.triggers, repos=repos
    )
    job = anomaly_scan_job(
        source=source, queries=["node_filesystem_avail_bytes"], proposer=proposer
    )
    spec = JobSpec(ANOMALY_JOB, "*/5 * * * *", job, cron_slot_period("*/5 * * * *"))
    outcome = await run_once(repos=repos, workspace_id=workspace, spec=spec, now=now, owner="t")
    assert outcome.status == "succeeded", outcome.error
    assert outcome.result == {"anomalies": 1, "failed_queries": 0, "proposals": 1}
    [p] = await repos.proposals.list(workspace_id=workspace)
    assert p.params == {"webhook": "cleanup", "payload": {"host": "db-1:9100"}}
    assert p.proposed_by == "job:anomaly" and p.status == ProposalStatus.PENDING
