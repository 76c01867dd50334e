"""The ASGI app of ``sre-copilot serve``: health, readiness and metrics.

Slack events and webhooks are mounted here by later features.

``/healthz`` answers as long as the process runs; ``/readyz`` checks the database
and reports each integration; ``/metrics`` exposes the bot's own Prometheus metrics.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, generate_latest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from bot.config import Settings
from bot.container import Container
from tools.base import HealthState

logger = logging.getLogger(__name__)


def create_app(settings: Settings) -> Starlette:
    """Build the ASGI app; the container opens in the lifespan."""
    registry = CollectorRegistry()
    requests_total = Counter(
        "sre_copilot_http_requests",
        "HTTP requests served, by route and status.",
        ["route", "status"],
        registry=registry,
    )
    state: dict[str, Container] = {}

    @asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        async with Container(settings) as container:
            state["container"] = container
            for health in container.static_health():
                if health.state is HealthState.NOT_CONFIGURED:
                    logger.warning("%s not configured: %s", health.integration, health.reason)
            for info in container.registry.list():
                if not info.enabled:
                    logger.info("tool %s disabled: %s", info.name, info.reason)
            yield
            state.clear()

    async def healthz(_request: Request) -> Response:
        requests_total.labels(route="/healthz", status="200").inc()
        return JSONResponse({"status": "ok"})

    async def readyz(_request: Request) -> Response:
        container = state.get("container")
        if container is None:
            requests_total.labels(route="/readyz", status="503").inc()
            return JSONResponse({"status": "starting"}, status_code=503)
        checks = await container.probe()
        db = next(h for h in checks if h.integration == "database")
        ready = db.state is HealthState.HEALTHY
        status = 200 if ready else 503
        requests_total.labels(route="/readyz", status=str(status)).inc()
        return JSONResponse(
            {
                "status": "ready" if ready else "not ready",
                "checks": {
                    h.integration: {"state": h.state.value, "reason": h.reason} for h in checks
                },
            },
            status_code=status,
        )

    async def metrics(_request: Request) -> Response:
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    return Starlette(
        routes=[
            Route("/healthz", healthz),
            Route("/readyz", readyz),
            Route("/metrics", metrics),
        ],
        lifespan=lifespan,
    )
