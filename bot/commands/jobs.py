"""``sre-copilot jobs``: list the scheduled jobs, run one now, or serve the scheduler.

``jobs serve`` is the dedicated scheduler process (one replica, DESIGN §4.5); the
``(job, period)`` rows make a second one harmless: it records nothing twice. Like the
scheduler inside ``serve`` it posts job output (predictive alerts, anomalies, the weekly
digest, job-made proposals) to ``slack.default_channel`` when Slack is configured, and
with ``--metrics-port`` it serves its own ``/metrics`` (job runs included).
"""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
from collections.abc import Iterator
from contextlib import AsyncExitStack, contextmanager
from typing import Annotated

import typer
from prometheus_client import start_http_server

from bot.config import Settings, load_settings
from bot.container import Container
from bot.observability import setup_logging
from jobs.digest import DigestSink, digest_job
from jobs.forecast_alerts import DEFAULT_FORECAST_SERIES
from jobs.proposals import ProposalSink, TriggeredProposer
from jobs.retention import retention_job
from jobs.scheduler import (
    CopilotScheduler,
    JobOutcome,
    JobSpec,
    RecentResults,
    anomaly_scan_job,
    default_jobs,
    default_owner,
    forecast_job,
    run_once,
)
from memory.errors import CopilotError
from memory.types import utcnow
from tools.telemetry import Telemetry, use

logger = logging.getLogger(__name__)

app = typer.Typer(help="Scheduled jobs: list them, run one now, serve the scheduler.")


def wire_jobs(
    container: Container,
    *,
    results: RecentResults | None = None,
    sink: DigestSink | None = None,
) -> list[JobSpec]:
    """The default jobs over the container's sources (forecasts skip without Prometheus).

    The ``retention`` job keeps the database from growing (``jobs.retention``).

    With ``triggers:`` in the remediation policy, the forecast and anomaly jobs also
    propose remediations (posted through ``sink`` when it can post proposals).
    """
    settings = container.settings
    results = results if results is not None else RecentResults()
    metrics = container.sources.metrics
    chart_dir = settings.data_dir / "charts"
    proposer = None
    if container.policy.triggers:
        proposer = TriggeredProposer(
            service=container.remediation,
            catalogue=container.catalogue,
            triggers=container.policy.triggers,
            repos=container.repos,
            sink=sink if isinstance(sink, ProposalSink) else None,
        )
    return default_jobs(
        config=settings.jobs,
        forecast=forecast_job(
            source=metrics,
            series_config=DEFAULT_FORECAST_SERIES,
            chart_dir=chart_dir,
            results=results,
            sink=sink,
            proposer=proposer,
        ),
        anomaly_scan=anomaly_scan_job(
            source=metrics,
            queries=[s.promql for s in DEFAULT_FORECAST_SERIES],
            results=results,
            sink=sink,
            proposer=proposer,
        ),
        digest=digest_job(chart_dir=chart_dir, results=results, sink=sink),
        retention=retention_job(
            config=settings.jobs, replay_window_s=settings.incidents.replay_window_s
        ),
    )


def _settings(ctx: typer.Context) -> Settings:
    return ctx.obj if isinstance(ctx.obj, Settings) else load_settings()


def _fail(message: str, code: int = 1) -> typer.Exit:
    print(f"error: {message}", file=sys.stderr)
    return typer.Exit(code)


def format_outcome(outcome: JobOutcome) -> str:
    """One line per outcome: job, period, status, duration and error or note."""
    text = f"{outcome.job} {outcome.period}: {outcome.status}"
    if outcome.duration_ms is not None:
        text += f" in {outcome.duration_ms:.0f} ms"
    if outcome.status == "skipped":
        text += " (period already claimed)"
    if outcome.error or outcome.note:
        text += f" ({outcome.error or outcome.note})"
    return text


@app.command("list")
def list_jobs(
    ctx: typer.Context,
    runs: Annotated[int, typer.Option(help="Last runs shown per job.", min=0)] = 3,
) -> None:
    """Each job, its cron and its last runs."""

    async def _list() -> list[str]:
        settings = _settings(ctx)
        lines: list[str] = []
        async with Container(settings) as c:
            for spec in wire_jobs(c):
                lines.append(f"{spec.name}  cron '{spec.cron}' ({settings.jobs.timezone})")
                if spec.description:
                    lines.append(f"  {spec.description}")
                rows = await c.repos.job_runs.list(
                    workspace_id=settings.workspace_id, job=spec.name, limit=runs
                )
                if runs and not rows:
                    lines.append("  no runs yet")
                for row in rows:
                    took = f" {row.duration_ms:.0f} ms" if row.duration_ms is not None else ""
                    extra = f" — {row.error}" if row.error else ""
                    lines.append(
                        f"  {row.period}  {row.status}{took}  {row.started_at:%Y-%m-%d %H:%M:%S}"
                        f" UTC  by {row.owner or '?'}{extra}"
                    )
        return lines

    try:
        lines = asyncio.run(_list())
    except CopilotError as exc:
        raise _fail(str(exc)) from None
    print("\n".join(lines))


@app.command("run")
def run_job(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Job name (see `sre-copilot jobs list`).")],
) -> None:
    """Run one job now, under a manual period key, and print its outcome."""

    async def _run() -> JobOutcome | list[str]:
        settings = _settings(ctx)
        async with Container(settings) as c:
            specs = {s.name: s for s in wire_jobs(c)}
            if name not in specs:
                return sorted(specs)
            return await run_once(
                repos=c.repos,
                workspace_id=settings.workspace_id,
                spec=specs[name],
                now=utcnow(),
                owner=default_owner(),
                manual=True,
            )

    try:
        outcome = asyncio.run(_run())
    except CopilotError as exc:
        raise _fail(str(exc)) from None
    if isinstance(outcome, list):
        raise _fail(f"no job {name!r}: choose one of {', '.join(outcome)}", 2)
    print(format_outcome(outcome))
    if outcome.result:
        print("  " + ", ".join(f"{k}={v}" for k, v in outcome.result.items()))
    if outcome.status == "failed":
        raise typer.Exit(1)


async def _slack_sink(
    stack: AsyncExitStack, settings: Settings, container: Container
) -> DigestSink | None:
    """The channel job output is posted to, as ``serve`` builds it; ``None`` without Slack."""
    slack = settings.slack
    missing = []
    if slack.bot_token is None and not slack.client_id:
        missing.append("SRE_COPILOT_SLACK__BOT_TOKEN")
    if not slack.default_channel:
        missing.append("SRE_COPILOT_SLACK__DEFAULT_CHANNEL")
    if missing or slack.default_channel is None:
        logger.warning(
            "job output (predictive alerts, anomalies, weekly digest, proposals) is stored "
            "but not posted to Slack: set %s",
            " and ".join(missing),
        )
        return None
    # Slack libraries only in the process that posts (not for `jobs list`, `--help`...)
    from bot.slack.incidents import SlackChannelSink  # noqa: PLC0415
    from bot.slack.notifier_factory import open_incident_notifier  # noqa: PLC0415

    notifier = await stack.enter_async_context(open_incident_notifier(slack, container.repos))
    return SlackChannelSink(
        notifier, workspace_id=settings.workspace_id, channel=slack.default_channel
    )


@contextmanager
def _metrics_server(telemetry: Telemetry, host: str, port: int) -> Iterator[None]:
    """Serve ``telemetry``'s registry on ``host:port`` (any path) for the block; 0: none.

    It answers from its own thread as long as the process lives, which is what the
    Helm chart's liveness probe checks.
    """
    if not port:
        yield
        return
    try:
        server, thread = start_http_server(port, addr=host, registry=telemetry.registry)
    except OSError as exc:
        raise _fail(f"could not serve metrics on {host}:{port}: {exc.strerror}") from None
    print(f"metrics on http://{host}:{port}/metrics", flush=True)
    try:
        yield
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


async def _catch_up(scheduler: CopilotScheduler, container: Container, workspace_id: str) -> None:
    """Run a missed period once, but only for jobs that ran here before (as ``serve`` does).

    A fresh install has missed nothing, and should not post a digest the moment it starts.
    """
    for name in scheduler.jobs:
        if await container.repos.job_runs.list(workspace_id=workspace_id, job=name, limit=1):
            outcome = await scheduler.run_now(name, manual=False)
            print(f"catch-up: {format_outcome(outcome)}", flush=True)


@app.command("serve")
def serve(
    ctx: typer.Context,
    metrics_port: Annotated[
        int | None,
        typer.Option(
            min=0,
            max=65535,
            help="Serve /metrics on this port; 0: no metrics server "
            "(default from SRE_COPILOT_JOBS__METRICS_PORT).",
        ),
    ] = None,
    metrics_host: Annotated[
        str | None,
        typer.Option(
            help="Address of the metrics server, 0.0.0.0 in a container "
            "(default from SRE_COPILOT_JOBS__METRICS_HOST).",
        ),
    ] = None,
) -> None:
    """Run the scheduler until SIGINT or SIGTERM, posting job output to Slack.

    At start, each job that ran before catches up a missed period once. Job output goes
    to SRE_COPILOT_SLACK__DEFAULT_CHANNEL when Slack is configured.
    """
    settings = _settings(ctx)
    setup_logging(level=settings.log_level, fmt=settings.log_format)
    port = settings.jobs.metrics_port if metrics_port is None else metrics_port
    host = metrics_host or settings.jobs.metrics_host
    # One registry for the process, current for the scheduler and every job it runs.
    telemetry = Telemetry()

    async def _serve() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        async with AsyncExitStack() as stack:
            c = await stack.enter_async_context(Container(settings))
            sink = await _slack_sink(stack, settings, c)
            scheduler = CopilotScheduler(
                repos=c.repos,
                workspace_id=settings.workspace_id,
                jobs=wire_jobs(c, sink=sink),
                timezone=settings.jobs.timezone,
            )
            print(f"scheduler {scheduler.owner}: jobs {', '.join(scheduler.jobs)}", flush=True)
            if sink is not None:
                channel = settings.slack.default_channel
                print(f"posting job output to Slack channel {channel}", flush=True)
            try:
                await scheduler.start(catch_up=False)
                await _catch_up(scheduler, c, settings.workspace_id)
                await stop.wait()
            finally:
                await scheduler.shutdown()
        print("scheduler stopped", flush=True)

    try:
        with _metrics_server(telemetry, host, port), use(telemetry):
            asyncio.run(_serve())
    except CopilotError as exc:
        raise _fail(str(exc)) from None
