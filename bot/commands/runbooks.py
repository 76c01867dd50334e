"""``sre-copilot runbooks``: ingest Markdown runbooks and search them."""

from __future__ import annotations

import asyncio
import json
import sys
import time
from pathlib import Path
from typing import Annotated

import typer

from bot.config import Settings, load_settings
from bot.container import open_runbook_store
from memory.config import VectorStoreConfig
from memory.errors import CopilotError
from tools.runbook_ingest import DEFAULT_MAX_BYTES
from tools.runbooks import IngestEvent, IngestReport, RunbookHit

app = typer.Typer(
    help="Runbooks: ingest Markdown runbooks into the store and search them.",
    no_args_is_help=True,
)


def _store_from_context(ctx: typer.Context) -> tuple[Path, VectorStoreConfig]:
    """The data directory and vector-store settings of this invocation.

    Uses the :class:`~bot.config.Settings` the root command put in ``ctx.obj``, or
    loads them when there is none.
    """
    settings = ctx.obj if isinstance(ctx.obj, Settings) else load_settings()
    return settings.data_dir, settings.vector_store


def _fail(message: str) -> typer.Exit:
    print(f"error: {message}", file=sys.stderr)
    return typer.Exit(1)


def _print_event(event: IngestEvent) -> None:
    if event.action == "skipped":
        print(f"  skipped    {event.path}: {event.detail}", file=sys.stderr)
    elif event.action != "unchanged":
        print(f"  {event.action:<10} {event.path}")


def _summary(report: IngestReport, seconds: float) -> str:
    total = report.added + report.updated + report.unchanged
    return (
        f"{total} runbooks in {report.root}: {report.added} added, {report.updated} updated, "
        f"{report.unchanged} unchanged, {report.removed} removed, {report.skipped} skipped "
        f"({report.sections} sections embedded, {seconds:.1f} s)"
    )


@app.command("ingest")
def ingest(
    ctx: typer.Context,
    path: Annotated[Path, typer.Argument(help="A directory of Markdown runbooks, or one file.")],
    max_bytes: Annotated[
        int, typer.Option("--max-bytes", min=1, help="Skip files larger than this.")
    ] = DEFAULT_MAX_BYTES,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Ingest runbooks: new and changed files are embedded, removed ones dropped."""
    data_dir, config = _store_from_context(ctx)

    async def _run() -> IngestReport:
        store = await open_runbook_store(data_dir=data_dir, config=config)
        try:
            progress = None if as_json else _print_event
            return await store.ingest(path, max_bytes=max_bytes, on_progress=progress)
        finally:
            await store.vector_store.close()

    started = time.perf_counter()
    try:
        report = asyncio.run(_run())
    except CopilotError as exc:
        raise _fail(str(exc)) from None
    if as_json:
        print(report.model_dump_json())
    else:
        print(_summary(report, time.perf_counter() - started))


def _print_hits(query: str, hits: list[RunbookHit]) -> None:
    if not hits:
        print(f"no runbook matches {query!r}")
        return
    for rank, hit in enumerate(hits, start=1):
        section = f"  § {hit.section}" if hit.section else ""
        print(f"{rank}. {hit.title}  [{hit.path}]  score {hit.score:.2f}{section}")
        print(f"   {hit.snippet}")


@app.command("search")
def search(
    ctx: typer.Context,
    query: Annotated[str, typer.Argument(help="Alert text or symptom to look for.")],
    k: Annotated[int, typer.Option("--k", "-k", min=1, max=20, help="Results to show.")] = 5,
    as_json: Annotated[bool, typer.Option("--json", help="Print results as JSON.")] = False,
) -> None:
    """Search the ingested runbooks (keywords and meaning, fused)."""
    data_dir, config = _store_from_context(ctx)

    async def _run() -> list[RunbookHit]:
        store = await open_runbook_store(data_dir=data_dir, config=config)
        try:
            return await store.search(query, k=k)
        finally:
            await store.vector_store.close()

    try:
        hits = asyncio.run(_run())
    except CopilotError as exc:
        raise _fail(str(exc)) from None
    if as_json:
        print(json.dumps([hit.model_dump() for hit in hits]))
    else:
        _print_hits(query, hits)
