"""The analyst's ranking on synthetic evidence (each case built from first principles)."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from agents.analyst import Inputs, ProbeData, analyse, pick_service, why_first
from agents.entities import EntityMap
from agents.signals import MetricNames, features, probes
from agents.sources import AlertFact, ChangeFact

T0 = datetime(2026, 6, 1, 6, 0, tzinfo=UTC)
N = 300  # minutes
ONSET = 240


def curve(
    base: float, after: float, *, at: int = ONSET, noise: float = 0.0, seed: int = 1, ramp: int = 0
):
    rng = random.Random(seed)
    out = []
    for i in range(N):
        if i < at:
            v = base
        elif ramp and i < at + ramp:
            v = base + (after - base) * (i - at) / ramp
        else:
            v = after
        out.append((T0.timestamp() + i * 60, v + rng.uniform(-noise, noise)))
    return out


def make_inputs(
    series: dict[str, list[tuple[dict[str, str], list[tuple[float, float]]]]],
    *,
    alerts=(),
    changes=(),
):
    catalogue = {p.key: p for p in probes(MetricNames())}
    data = {}
    for key, probe in catalogue.items():
        pd = ProbeData(key=key, title=probe.title, promql=probe.promql, unit=probe.unit)
        for labels, samples in series.get(key, []):
            f = features(labels, samples)
            assert f is not None
            pd.series.append(f)
        data[key] = pd
    entities = EntityMap(["checkout", "cart"])
    for labels, _ in series.get("pod_node", []):
        entities.add_placement(pod=labels["pod"], node=labels["node"])
    return Inputs(
        service=None,
        start=T0,
        end=T0 + timedelta(minutes=N),
        probes=data,
        alerts=list(alerts),
        changes=list(changes),
        source="prometheus http://test",
        entities=entities,
    )


def healthy_services():
    return {
        "error_ratio": [({"service": "cart"}, curve(0.002, 0.002, noise=0.0005, seed=2))],
        "latency_p99": [({"service": "cart"}, curve(0.2, 0.2, noise=0.01, seed=3))],
        "request_rate": [({"service": "cart"}, curve(30, 30, noise=1, seed=4))],
    }


def with_checkout_symptoms(errors: bool = True):
    s = healthy_services()
    s["error_ratio"].append(
        ({"service": "checkout"}, curve(0.002, 0.15 if errors else 0.002, noise=0.0005, seed=5))
    )
    s["latency_p99"].append(({"service": "checkout"}, curve(0.25, 1.5, noise=0.01, seed=6)))
    s["request_rate"].append(({"service": "checkout"}, curve(40, 40, noise=1, seed=7)))
    return s


def deploy(minutes_before: int = 10, service: str = "checkout"):
    at = T0 + timedelta(minutes=ONSET - minutes_before)
    return ChangeFact(
        id="c1", summary=f"Deploy {service} v2", services=[service], at=at, kind="deploy"
    )


def test_saturation_outranks_the_deploy_that_caused_it():
    s = with_checkout_symptoms()
    s["db_connections"] = [
        (
            {"instance": "pg-0", "datname": "checkout"},
            curve(0.3, 1.0, at=ONSET - 20, ramp=15, seed=8),
        )
    ]
    inputs = make_inputs(s, changes=[deploy(25)])
    cands, sym = analyse(inputs, "checkout")
    assert sym.errors > 0.9
    assert [c.fault for c in cands[:2]] == ["db_connections", "deploy"]
    assert cands[0].confidence > cands[1].confidence
    assert any("database connections" in e.summary for e in cands[0].evidence)
    assert "more specific cause" in why_first(cands[0], cands[1])


def test_deploy_alone_outranks_the_bare_symptom():
    inputs = make_inputs(with_checkout_symptoms(), changes=[deploy(5), deploy(5, service="cart")])
    cands, _ = analyse(inputs, "checkout")
    assert cands[0].fault == "deploy"
    assert "Deploy checkout v2" in cands[0].evidence[0].summary
    assert {c.fault for c in cands[1:3]} >= {"errors"}


def test_other_services_deploy_does_not_count():
    inputs = make_inputs(with_checkout_symptoms(), changes=[deploy(5, service="cart")])
    cands, _ = analyse(inputs, "checkout")
    assert cands[0].fault == "errors"
    assert all(c.fault != "deploy" for c in cands)


def test_traffic_surge_explains_cpu_saturation():
    s = with_checkout_symptoms(errors=False)
    s["request_rate"][-1] = ({"service": "checkout"}, curve(40, 160, noise=2, seed=9))
    s["pod_cpu"] = [
        (
            {"namespace": "shop", "pod": "checkout-7d9f8b6c5d-x2k4q"},
            curve(0.4, 0.98, noise=0.01, seed=10),
        )
    ]
    s["pod_cpu_usage"] = [
        (
            {"namespace": "shop", "pod": "checkout-7d9f8b6c5d-x2k4q"},
            curve(0.4, 0.98, noise=0.01, seed=11),
        )
    ]
    cands, _ = analyse(make_inputs(s), "checkout")
    assert [c.fault for c in cands[:2]] == ["traffic_surge", "cpu"]


def test_cpu_saturation_without_surge():
    s = with_checkout_symptoms(errors=False)
    s["pod_cpu"] = [
        (
            {"namespace": "shop", "pod": "checkout-7d9f8b6c5d-x2k4q"},
            curve(0.4, 0.98, noise=0.01, seed=10),
        )
    ]
    s["pod_cpu_usage"] = [
        (
            {"namespace": "shop", "pod": "checkout-7d9f8b6c5d-x2k4q"},
            curve(0.4, 0.98, noise=0.01, seed=11),
        )
    ]
    cands, _ = analyse(make_inputs(s), "checkout")
    assert cands[0].fault == "cpu"


def test_noisy_neighbour_when_own_usage_is_flat():
    s = with_checkout_symptoms(errors=False)
    s["pod_node"] = [
        ({"pod": "checkout-7d9f8b6c5d-x2k4q", "node": "node-1"}, curve(1, 1)),
        ({"pod": "batch-5c6d7e8f9b-abcde", "node": "node-1"}, curve(1, 1)),
    ]
    s["node_cpu"] = [({"instance": "node-1:9100"}, curve(0.45, 0.99, noise=0.01, seed=12))]
    s["pod_cpu_usage"] = [
        (
            {"namespace": "shop", "pod": "checkout-7d9f8b6c5d-x2k4q"},
            curve(0.5, 0.5, noise=0.02, seed=13),
        ),
        (
            {"namespace": "batch", "pod": "batch-5c6d7e8f9b-abcde"},
            curve(0.2, 3.5, noise=0.05, seed=14),
        ),
    ]
    cands, _ = analyse(make_inputs(s), "checkout")
    assert cands[0].fault == "noisy_neighbor"
    assert any("batch-5c6d7e8f9b-abcde" in e.summary for e in cands[0].evidence)


def test_a_cause_that_starts_after_the_symptom_is_discounted():
    s = with_checkout_symptoms()
    s["disk_used"] = [
        (
            {"instance": "checkout-db:9100", "mountpoint": "/"},
            curve(0.5, 0.99, at=ONSET + 40, seed=15),
        )
    ]
    cands, _ = analyse(make_inputs(s, changes=[deploy(5)]), "checkout")
    disk = next(c for c in cands if c.fault == "disk")
    assert disk.align < 1.0
    assert cands[0].fault == "deploy"


def test_alerts_corroborate_only_their_own_service():
    s = with_checkout_symptoms()
    s["pod_memory"] = [
        (
            {"namespace": "shop", "pod": "checkout-7d9f8b6c5d-x2k4q"},
            curve(0.5, 0.97, at=ONSET - 30, ramp=25, seed=16),
        )
    ]
    mine = AlertFact(
        name="KubePodOOMKilled", severity="critical", labels={"service": "checkout"}, summary="OOM"
    )
    other = AlertFact(
        name="KubeMemoryHigh", severity="critical", labels={"service": "cart"}, summary="memory"
    )
    cands, _ = analyse(make_inputs(s, alerts=[mine, other]), "checkout")
    mem = cands[0]
    assert mem.fault == "memory"
    assert [ev.summary.split()[1] for _, ev in mem.support] == ["KubePodOOMKilled"]


def test_pick_service_prefers_the_question_then_symptoms():
    inputs = make_inputs(with_checkout_symptoms())
    assert pick_service(inputs, "is cart ok?") == ("cart", "named in the question")
    assert pick_service(inputs, "what's broken?")[0] == "checkout"
    quiet = make_inputs(healthy_services())
    assert pick_service(quiet, "what's broken?") == (None, "no service has symptoms")
