"""``sre-copilot jobs``: list the scheduled jobs, run one now, or serve the scheduler.

``jobs serve`` is the dedicated scheduler process (one replica, DESIGN §4.5); the
``(job, period)`` rows make a second one harmless: it records nothing twice.
"""

from __future__ import annotations

import asyncio
import signal
import sys
from typing import Annotated

import typer

from bot.config import Settings, load_settings
from bot.container import Container
from jobs.digest import DigestSink, digest_job
from jobs.forecast_alerts import DEFAULT_FORECAST_SERIES
from jobs.proposals import ProposalSink, TriggeredProposer
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

app = typer.Typer(help="Scheduled jobs: list them, run one now, serve the scheduler.")


def wire_jobs(
    container: Container,
    *,
    results: RecentResults | None = None,
    sink: DigestSink | None = None,
) -> list[JobSpec]:
    """The default jobs over the container's sources (forecasts skip without Prometheus).

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


@app.command("serve")
def serve(ctx: typer.Context) -> None:
    """Run the scheduler until SIGINT or SIGTERM (catches up missed periods at start)."""

    async def _serve() -> None:
        settings = _settings(ctx)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        async with Container(settings) as c:
            scheduler = CopilotScheduler(
                repos=c.repos,
                workspace_id=settings.workspace_id,
                jobs=wire_jobs(c),
                timezone=settings.jobs.timezone,
            )
            print(f"scheduler {scheduler.owner}: jobs {', '.join(scheduler.jobs)}", flush=True)
            try:
                for outcome in await scheduler.start():
                    print(f"catch-up: {format_outcome(outcome)}", flush=True)
                await stop.wait()
            finally:
                await scheduler.shutdown()
        print("scheduler stopped", flush=True)

    try:
        asyncio.run(_serve())
    except CopilotError as exc:
        raise _fail(str(exc)) from None
