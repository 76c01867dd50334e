"""The ASGI app of ``sre-copilot serve``: Slack, health, readiness and metrics.

``/slack/events`` (events, slash commands, interactivity) is mounted when Slack is
configured for HTTP mode; with OAuth also ``/slack/install`` and
``/slack/oauth_redirect``. In Socket Mode the bot connects to Slack from the lifespan
instead. ``/webhooks/alertmanager`` and ``/webhooks/pagerduty`` take alert and incident events;
the incident feed (Slack threads per incident) runs in the lifespan.

``/healthz`` answers as long as the process runs; ``/readyz`` checks the database
and reports each integration; ``/metrics`` exposes the bot's own Prometheus metrics.
"""

from __future__ import annotations

import asyncio
import gc
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from agents.reply import Reply
from bot.config import Settings
from bot.container import Container
from bot.observability import ObservabilityMiddleware, refresh_proposals
from bot.slack.mode import SlackMode, missing_hint, resolve
from bot.webhooks import Ingestors, webhook_routes
from jobs.ingest import AlertIngestor
from jobs.notify import IncidentFeed, Investigate
from jobs.pagerduty_ingest import PagerDutyIngestor
from jobs.proposals import run_expiry
from jobs.scheduler import CopilotScheduler
from memory.models import Incident
from tools.base import HealthState
from tools.telemetry import Telemetry

logger = logging.getLogger(__name__)

METRICS_DB_TIMEOUT_S = 2.0
"""How long ``/metrics`` waits for the proposal counts before answering without them."""


def _investigator(container: Container) -> Investigate:
    """Start an incident's investigation through the same ChatService as Slack."""

    async def investigate(workspace_id: str, incident: Incident, key: str) -> Reply:
        subject = incident.service or incident.title
        return await container.chat.handle(
            workspace_id=workspace_id,
            conversation_key=key,
            text=f"what's wrong with {subject}? (incident #{incident.id}: {incident.title})",
            user_id="sre-copilot",
        )

    return investigate


async def _start_scheduler(
    container: Container, settings: Settings, runtime: Any
) -> CopilotScheduler:
    """Scheduled jobs in this process; each run is claimed per period in the database."""
    from bot.commands.jobs import wire_jobs  # noqa: PLC0415  (jobs wiring lives with its CLI)

    sink = None
    if runtime is not None and settings.slack.default_channel:
        from bot.slack.incidents import SlackChannelSink  # noqa: PLC0415  (Slack only when used)

        sink = SlackChannelSink(
            runtime.incident_notifier(),
            workspace_id=settings.workspace_id,
            channel=settings.slack.default_channel,
        )
    scheduler = CopilotScheduler(
        repos=container.repos,
        workspace_id=settings.workspace_id,
        jobs=wire_jobs(container, sink=sink),
        timezone=settings.jobs.timezone,
    )
    await scheduler.start(catch_up=False)
    # Catch up a missed period once, but only for jobs that ran here before: a fresh
    # install has missed nothing, and should not post a digest the moment it starts.
    for name in scheduler.jobs:
        if await container.repos.job_runs.list(
            workspace_id=settings.workspace_id, job=name, limit=1
        ):
            outcome = await scheduler.run_now(name, manual=False)
            logger.info("caught up %s %s: %s", outcome.job, outcome.period, outcome.status)
    return scheduler


def create_app(
    settings: Settings,
    *,
    socket_mode: bool = False,
    run_scheduler: bool = True,
    container_factory: Callable[[Settings], Container] = Container,
) -> Starlette:
    """Build the ASGI app; the container (and Slack) open in the lifespan.

    Args:
        settings: The settings.
        socket_mode: Connect to Slack over Socket Mode instead of serving ``/slack/events``.
        container_factory: Builds the container (tests and the demo swap the sources).
        run_scheduler: Run the scheduled jobs in this process (``sre-copilot jobs serve``
            runs them in a dedicated one instead).

    Raises:
        ConfigError: Slack settings are inconsistent, or Socket Mode lacks a token.
    """
    slack_setup = resolve(settings.slack, socket_mode=socket_mode)
    # One registry per app (see tools.telemetry): the middleware makes it current for
    # requests and for the lifespan, whose tasks (scheduler, feed, Socket Mode) inherit it.
    telemetry = Telemetry()
    state: dict[str, Any] = {}

    @asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        async with AsyncExitStack() as stack:
            container = await stack.enter_async_context(container_factory(settings))
            state["container"] = container
            for health in container.static_health():
                if health.state is HealthState.NOT_CONFIGURED:
                    logger.warning("%s not configured: %s", health.integration, health.reason)
            for info in container.registry.list():
                if not info.enabled:
                    logger.info("tool %s disabled: %s", info.name, info.reason)
            if slack_setup is None:
                logger.warning("Slack events not served: %s", missing_hint(settings.slack))
            else:
                from bot.slack.runtime import SlackRuntime  # noqa: PLC0415  (Slack libs only when used)

                state["slack"] = await stack.enter_async_context(
                    SlackRuntime(
                        config=settings.slack,
                        setup=slack_setup,
                        chat=container.chat,
                        repos=container.repos,
                        digest_cron=settings.jobs.digest_cron,
                        postmortem_on_resolve=settings.incidents.postmortem_on_resolve,
                        remediation=container.remediation,
                    )
                )
            state["ingestors"] = Ingestors(
                alerts=AlertIngestor(container.db, settings.incidents),
                pagerduty=PagerDutyIngestor(container.db),
            )
            feed_task = None
            stop_feed = asyncio.Event()
            ingest_task = asyncio.create_task(state["ingestors"].alerts.run(stop_feed))
            runtime = state.get("slack")
            notifier_factory = getattr(runtime, "incident_notifier", None)
            if notifier_factory is not None:
                feed = IncidentFeed(
                    db=container.db,
                    notifier=notifier_factory(),
                    config=settings.incidents,
                    default_channel=settings.slack.default_channel,
                    investigate=_investigator(container),
                )
                state["feed"] = feed
                feed_task = asyncio.create_task(
                    feed.run(stop_feed, interval_s=settings.incidents.feed_interval_s)
                )
            else:
                logger.warning("incident threads are off: Slack is not configured")
            sweep_task = None
            if runtime is None:
                # With Slack, its runtime sweeps proposals and updates their messages;
                # without it, overdue proposals must still expire and crashed
                # executions still be marked for a human check.
                sweep_task = asyncio.create_task(
                    run_expiry(service=container.remediation, sink=None, stop=stop_feed),
                    name="proposal-sweep",
                )
            scheduler = None
            if settings.jobs.enabled and run_scheduler:
                scheduler = await _start_scheduler(container, settings, runtime)
            # Everything built so far lives as long as the process: keep it out of the
            # garbage collector's full scans, whose pauses (~150 ms with the imported
            # libraries) otherwise stall request handling, e.g. Slack's acks.
            gc.freeze()
            try:
                yield
            finally:
                stop_feed.set()
                if scheduler is not None:
                    await scheduler.shutdown()
                await ingest_task
                if feed_task is not None:
                    await feed_task
                if sweep_task is not None:
                    await sweep_task
                gc.unfreeze()
                state.clear()

    async def healthz(_request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def slack(request: Request) -> Response:
        runtime = state.get("slack")
        if runtime is None:
            return JSONResponse({"status": "starting"}, status_code=503)
        response: Response = await runtime.handle(request)
        return response

    async def readyz(_request: Request) -> Response:
        container: Container | None = state.get("container")
        if container is None:
            return JSONResponse({"status": "starting"}, status_code=503)
        checks = await container.probe()
        db = next(h for h in checks if h.integration == "database")
        ready = db.state is HealthState.HEALTHY
        status = 200 if ready else 503
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
        container: Container | None = state.get("container")
        if container is not None:
            await refresh_proposals(container.repos, telemetry, timeout_s=METRICS_DB_TIMEOUT_S)
        return Response(generate_latest(telemetry.registry), media_type=CONTENT_TYPE_LATEST)

    routes: list[BaseRoute] = [
        Route("/healthz", healthz),
        Route("/readyz", readyz),
        Route("/metrics", metrics),
        *webhook_routes(settings, lambda: state.get("ingestors")),
    ]
    if slack_setup is not None and slack_setup.serves_http_events:
        routes.append(Route("/slack/events", slack, methods=["POST"]))
    if slack_setup is not None and slack_setup.mode is SlackMode.OAUTH:
        routes.append(Route("/slack/install", slack, methods=["GET"]))
        routes.append(Route("/slack/oauth_redirect", slack, methods=["GET"]))
    return Starlette(
        routes=routes,
        lifespan=lifespan,
        middleware=[Middleware(ObservabilityMiddleware, telemetry=telemetry, routes=routes)],
    )
