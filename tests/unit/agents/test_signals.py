from __future__ import annotations

import random

from agents.entities import EntityMap, host_of, pod_base
from agents.signals import SHIFT_MIN, change_point, features


def series(values):
    return [(1_700_000_000 + i * 60.0, v) for i, v in enumerate(values)]


def test_step_change_is_found_with_its_onset():
    rng = random.Random(3)
    values = [0.01 + rng.uniform(0, 0.002) for _ in range(200)] + [
        0.2 + rng.uniform(0, 0.002) for _ in range(60)
    ]
    f = features({}, series(values))
    assert f is not None
    assert f.shift_score >= SHIFT_MIN
    assert f.onset == 1_700_000_000 + 200 * 60
    assert abs(f.baseline - 0.011) < 0.002 and abs(f.recent - 0.201) < 0.002


def test_flat_noise_has_no_shift():
    rng = random.Random(4)
    f = features({}, series([5 + rng.uniform(-1, 1) for _ in range(300)]))
    assert f is not None
    assert f.shift_score < SHIFT_MIN
    assert f.onset is None and f.start is None


def test_ramp_start_precedes_onset():
    rng = random.Random(5)
    values = (
        [30 + rng.uniform(-2, 2) for _ in range(200)] + [30 + 2 * i for i in range(40)] + [110] * 60
    )
    f = features({}, series(values))
    assert f is not None and f.start is not None and f.onset is not None
    assert f.start < f.onset
    assert f.start >= 1_700_000_000 + 200 * 60


def test_nan_and_short_series():
    assert features({}, series([float("nan"), 1.0])) is None
    assert change_point([1, 2, 3]) == (None, 0.0)


def test_pod_and_host_names():
    assert pod_base("checkout-7d9f8b6c5d-x2k4q") == "checkout"
    assert pod_base("postgres-0") == "postgres"
    assert pod_base("api-gateway-5f6d7c8b9-abcde") == "api-gateway"
    assert host_of("node-3:9100") == "node-3"


def test_entity_relations():
    e = EntityMap(["checkout", "cart", "api-gateway"])
    e.add_placement(pod="checkout-7d9f8b6c5d-x2k4q", node="node-1")
    e.add_placement(pod="batch-5c6d7e8f9-abcde", node="node-1")
    assert e.relation("checkout", {"service": "checkout"}) == 1.0
    assert e.relation("checkout", {"pod": "checkout-7d9f8b6c5d-x2k4q"}) == 1.0
    assert e.relation("checkout", {"datname": "checkout", "instance": "pg-0"}) == 1.0
    assert e.relation("checkout", {"instance": "node-1:9100"}) == 0.8
    assert e.relation("checkout", {"instance": "node-2:9100"}) == 0.0
    assert e.relation("cart", {"service": "checkout"}) == 0.0
    assert e.mentioned_in("why is the API-gateway slow and checkout?")[0] == "api-gateway"
    assert e.owner({"pod": "cart-6b7c9d8e7f-zzzzz"}) == "cart"
