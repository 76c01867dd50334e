"""Webhook action: POST a signed JSON payload to a configured (allow-listed) URL.

The URL never comes from the parameters: the action is built with a table of named
webhooks (name → URL and secret) and the parameters only pick one by name. The body is
signed with HMAC-SHA256 over the exact bytes sent, in ``X-Copilot-Signature: v1=<hex>``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from typing import Any

import httpx
from pydantic import BaseModel, ConfigDict, Field

from tools.actions.base import ActionOutcome, Risk

logger = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Copilot-Signature"


class WebhookParams(BaseModel):
    """Parameters of ``webhook.trigger``."""

    model_config = ConfigDict(extra="forbid")

    webhook: str = Field(min_length=1, description="Name of a configured webhook.")
    payload: dict[str, Any] = Field(default_factory=dict)


def encode_body(payload: dict[str, Any]) -> bytes:
    """The exact bytes sent (compact JSON, sorted keys)."""
    return json.dumps(payload, sort_keys=True, separators=(",", ":")).encode()


def sign(body: bytes, secret: str) -> str:
    """The signature header value: ``v1=`` + hex HMAC-SHA256 of ``body``."""
    return "v1=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


class WebhookTriggerAction:
    """``webhook.trigger``: POST a payload to one allow-listed webhook.

    Args:
        webhooks: Name → (URL, secret); the only URLs this action ever calls.
        timeout_s: Per-request timeout.
        transport: Optional httpx transport (tests).

    Raises:
        ValueError: A webhook has an empty URL or secret, or a non-http(s) URL.
    """

    name = "webhook.trigger"
    description = "POST a signed JSON payload to a configured webhook."
    risk = Risk.HIGH
    safe = False
    params_model: type[BaseModel] = WebhookParams

    def __init__(
        self,
        *,
        webhooks: dict[str, tuple[str, str]],
        timeout_s: float = 10.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        for hook, (url, secret) in webhooks.items():
            if not url.startswith(("https://", "http://")) or not secret:
                raise ValueError(f"webhook {hook!r} needs an http(s) URL and a secret")
        self._webhooks = dict(webhooks)
        self._http = httpx.AsyncClient(
            timeout=timeout_s, follow_redirects=False, transport=transport
        )

    @property
    def webhook_names(self) -> list[str]:
        """The configured webhook names, sorted."""
        return sorted(self._webhooks)

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._http.aclose()

    async def dry_run(self, params: BaseModel) -> str:
        """The URL and the payload that would be posted."""
        p = WebhookParams.model_validate(params, from_attributes=True)
        target = self._webhooks.get(p.webhook)
        body = encode_body(p.payload).decode()
        if target is None:
            return f"POST to webhook {p.webhook!r} (not configured): {body}"
        return f"POST to webhook {p.webhook!r} at {target[0]} (signed): {body}"

    async def precondition(self, params: BaseModel) -> ActionOutcome:
        """The webhook name is on the allow-list."""
        p = WebhookParams.model_validate(params, from_attributes=True)
        if p.webhook not in self._webhooks:
            known = ", ".join(self.webhook_names) or "none"
            return ActionOutcome(
                ok=False, detail=f"webhook {p.webhook!r} is not configured (known: {known})"
            )
        return ActionOutcome(ok=True, detail=f"webhook {p.webhook!r} is configured")

    async def execute(self, params: BaseModel) -> ActionOutcome:
        """POST the signed payload."""
        p = WebhookParams.model_validate(params, from_attributes=True)
        target = self._webhooks.get(p.webhook)
        if target is None:
            return ActionOutcome(ok=False, detail=f"webhook {p.webhook!r} is not configured")
        url, secret = target
        body = encode_body(p.payload)
        headers = {"Content-Type": "application/json", SIGNATURE_HEADER: sign(body, secret)}
        try:
            response = await self._http.post(url, content=body, headers=headers)
        except httpx.HTTPError as exc:
            logger.warning("webhook %s failed: %s", p.webhook, type(exc).__name__)
            return ActionOutcome(
                ok=False, detail=f"webhook {p.webhook!r} unreachable: {type(exc).__name__}"
            )
        ok = response.is_success
        return ActionOutcome(
            ok=ok,
            detail=f"webhook {p.webhook!r} answered HTTP {response.status_code}",
            data={"status_code": response.status_code, "url": url},
        )

    async def verify(self, params: BaseModel, executed: ActionOutcome) -> ActionOutcome:
        """The webhook answered 2xx."""
        p = WebhookParams.model_validate(params, from_attributes=True)
        status = executed.data.get("status_code")
        if isinstance(status, int) and 200 <= status < 300:
            return ActionOutcome(ok=True, detail=f"webhook {p.webhook!r} accepted (HTTP {status})")
        return ActionOutcome(
            ok=False, detail=f"webhook {p.webhook!r} did not accept it (HTTP {status})"
        )
