"""PagerDuty v3 webhook signature check (``X-PagerDuty-Signature: v1=<hex HMAC-SHA256>``)."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from tools.pagerduty import verify_webhook_signature

SECRET = "whsec-test-0123456789"
BODY = (
    b'{"event":{"id":"01DEN4HPBQAAAG05V5QQYBRZMF","event_type":"incident.triggered",'
    b'"resource_type":"incident","occurred_at":"2026-03-02T09:14:07.000Z",'
    b'"data":{"id":"PABC123","type":"incident","status":"triggered"}}}'
)


def sign(body: bytes, secret: str = SECRET) -> str:
    return "v1=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def test_verify_webhook_signature_accepts_valid_signature() -> None:
    assert verify_webhook_signature(secret=SECRET, body=BODY, header=sign(BODY))


@pytest.mark.parametrize(
    "header",
    [
        sign(BODY, secret="another-secret"),
        sign(BODY + b" "),
        sign(BODY).replace("v1=", "v0="),
        sign(BODY)[:-2],
        "v1=",
        "garbage",
        "v1=é" + sign(BODY)[4:],
        "",
        None,
    ],
    ids=[
        "wrong-secret",
        "tampered-body",
        "unknown-scheme",
        "truncated",
        "empty-v1",
        "garbage",
        "non-ascii",
        "empty",
        "missing",
    ],
)
def test_verify_webhook_signature_rejects(header: str | None) -> None:
    assert not verify_webhook_signature(secret=SECRET, body=BODY, header=header)


def test_verify_webhook_signature_rejects_empty_secret() -> None:
    assert not verify_webhook_signature(secret="", body=BODY, header=sign(BODY, secret=""))


@pytest.mark.parametrize(
    "header",
    [
        f"v1=deadbeef,{sign(BODY)}",
        f"{sign(BODY)},v1=deadbeef",
        f"v1=deadbeef, {sign(BODY)}",
        f"{sign(BODY, secret='old-secret')},{sign(BODY)}",
    ],
    ids=["second", "first", "space-after-comma", "rotated-secret"],
)
def test_verify_webhook_signature_accepts_any_of_several(header: str) -> None:
    assert verify_webhook_signature(secret=SECRET, body=BODY, header=header)


def test_verify_webhook_signature_rejects_when_none_of_several_match() -> None:
    header = f"{sign(BODY, secret='old-secret')},v1=deadbeef"

    assert not verify_webhook_signature(secret=SECRET, body=BODY, header=header)
