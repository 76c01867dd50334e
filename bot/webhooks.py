"""Inbound webhooks: Alertmanager (bearer token or basic auth) and PagerDuty v3 (HMAC).

Bad input gets a 4xx with a one-line reason and writes nothing: wrong method or
content type, a body over the limit, malformed JSON, an unknown payload version, a
bad token or signature, or a replayed delivery. Accepted deliveries are stored raw
and processed in one transaction (``jobs.ingest``).
"""

from __future__ import annotations

import base64
import hmac
import logging
from collections.abc import Callable

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from bot.config import Settings, WebhookConfig
from jobs.ingest import AlertIngestor, WebhookRejected, parse_alertmanager
from jobs.pagerduty_ingest import PagerDutyIngestor
from memory.errors import DatabaseUnavailable
from tools.pagerduty import verify_webhook_signature

logger = logging.getLogger(__name__)


class Ingestors:
    """What the webhook routes need from the container."""

    def __init__(self, alerts: AlertIngestor, pagerduty: PagerDutyIngestor) -> None:
        self.alerts = alerts
        self.pagerduty = pagerduty


def _reject(status: int, reason: str) -> JSONResponse:
    return JSONResponse({"ok": False, "error": reason}, status_code=status)


async def _read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise WebhookRejected(
            f"body of {declared} bytes is over the {limit}-byte limit", status=413
        )
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype != "application/json":
        raise WebhookRejected(
            f"content type must be application/json, got {ctype or 'none'}", status=415
        )
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise WebhookRejected(f"body is over the {limit}-byte limit", status=413)
        chunks.append(chunk)
    return b"".join(chunks)


def check_alertmanager_auth(request: Request, config: WebhookConfig) -> None:
    """Bearer token or basic auth, as configured in Alertmanager's ``http_config``."""
    header = request.headers.get("authorization", "")
    token = config.alertmanager_token
    user, password = config.alertmanager_basic_user, config.alertmanager_basic_password
    if token is None and (user is None or password is None):
        if config.allow_unauthenticated:
            return
        raise WebhookRejected(
            "webhook authentication is not configured: "
            "set SRE_COPILOT_WEBHOOKS__ALERTMANAGER_TOKEN",
            status=503,
        )
    if token is not None and header.startswith("Bearer "):
        if hmac.compare_digest(header[7:].encode(), token.get_secret_value().encode()):
            return
    if user is not None and password is not None and header.startswith("Basic "):
        try:
            got = base64.b64decode(header[6:], validate=True)
        except ValueError:
            got = b""
        want = f"{user}:{password.get_secret_value()}".encode()
        if hmac.compare_digest(got, want):
            return
    raise WebhookRejected("missing or wrong credentials", status=401)


def webhook_routes(settings: Settings, ingestors: Callable[[], Ingestors | None]) -> list[Route]:
    """The webhook routes; ``ingestors()`` is ``None`` until the app has started."""
    config = settings.webhooks

    def workspace(request: Request) -> str:
        return request.query_params.get("workspace") or settings.workspace_id

    async def alertmanager(request: Request) -> Response:
        ing = ingestors()
        if ing is None:
            return _reject(503, "starting up")
        try:
            check_alertmanager_auth(request, config)
            body = await _read_body(request, settings.incidents.max_body_bytes)
            payload = parse_alertmanager(body)
            delivery_id = await ing.alerts.accept(
                workspace_id=workspace(request), body=body, source="alertmanager"
            )
        except WebhookRejected as exc:
            logger.info("alertmanager webhook refused (%s): %s", exc.status, exc)
            return _reject(exc.status, str(exc))
        except DatabaseUnavailable as exc:
            logger.error("alertmanager webhook: %s", exc)
            return _reject(503, str(exc))  # Alertmanager retries 5xx: nothing is lost
        # stored durably; deduplication and correlation follow within milliseconds
        return JSONResponse(
            {"ok": True, "delivery_id": delivery_id, "alerts": len(payload.alerts), "queued": True}
        )

    async def pagerduty(request: Request) -> Response:
        ing = ingestors()
        if ing is None:
            return _reject(503, "starting up")
        secret = settings.pagerduty.webhook_secret
        try:
            body = await _read_body(request, settings.incidents.max_body_bytes)
            if secret is None:
                if not config.allow_unauthenticated:
                    raise WebhookRejected(
                        "PagerDuty webhook secret is not configured: "
                        "set SRE_COPILOT_PAGERDUTY__WEBHOOK_SECRET",
                        status=503,
                    )
            elif not verify_webhook_signature(
                secret=secret.get_secret_value(),
                body=body,
                header=request.headers.get("x-pagerduty-signature"),
            ):
                raise WebhookRejected("bad or missing X-PagerDuty-Signature", status=401)
            result = await ing.pagerduty.ingest(workspace_id=workspace(request), body=body)
        except WebhookRejected as exc:
            logger.info("pagerduty webhook refused (%s): %s", exc.status, exc)
            return _reject(exc.status, str(exc))
        except DatabaseUnavailable as exc:
            logger.error("pagerduty webhook: %s", exc)
            return _reject(503, str(exc))
        return JSONResponse({"ok": True, **result.model_dump()})

    return [
        Route("/webhooks/alertmanager", alertmanager, methods=["POST"]),
        Route("/webhooks/pagerduty", pagerduty, methods=["POST"]),
    ]
