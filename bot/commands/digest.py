"""``sre-copilot digest``: the weekly insight digest, rendered in the terminal."""

from __future__ import annotations

import asyncio
import re
import sys
from datetime import UTC, datetime, timedelta
from typing import Annotated

import typer

from bot.config import Settings, load_settings
from bot.console import render
from bot.container import Container
from jobs.digest import build_digest, digest_reply
from memory.errors import CopilotError

app = typer.Typer(
    help="Insight digest: incidents, MTTA/MTTR, alert noise, accuracy, approvals.",
    invoke_without_command=True,
)

_SPAN = re.compile(r"^\s*(\d+)\s*([mhdw])\s*$")
_UNIT_S = {"m": 60, "h": 3600, "d": 86_400, "w": 604_800}


def parse_span(text: str) -> timedelta:
    """``30m`` / ``12h`` / ``7d`` / ``2w`` → a positive timedelta.

    Raises:
        ValueError: Anything else, with a message saying what is accepted.
    """
    found = _SPAN.match(text)
    if found is None or int(found.group(1)) == 0:
        raise ValueError(
            f"--since {text!r} is not a period: use a positive number and m, h, d or w (e.g. 7d)"
        )
    return timedelta(seconds=int(found.group(1)) * _UNIT_S[found.group(2)])


async def _digest(settings: Settings, span: timedelta) -> str:
    now = datetime.now(UTC)
    async with Container(settings) as c:
        digest = await build_digest(
            repos=c.repos,
            workspace_id=settings.workspace_id,
            since=now - span,
            now=now,
            chart_dir=settings.data_dir / "charts",
        )
    return render(digest_reply(digest))


@app.callback()
def digest(
    ctx: typer.Context,
    since: Annotated[
        str, typer.Option("--since", help="Length of the period, e.g. 7d, 24h, 2w.")
    ] = "7d",
) -> None:
    """Show the digest of the last period (compared with the one before) for this workspace."""
    try:
        span = parse_span(since)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise typer.Exit(2) from None
    try:
        settings = ctx.obj if isinstance(ctx.obj, Settings) else load_settings()
        text = asyncio.run(_digest(settings, span))
    except CopilotError as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise typer.Exit(1) from None
    print(text)
