"""``sre-copilot audit``: the remediation audit trail of the configured workspace."""

from __future__ import annotations

import asyncio
import json
import sys
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

import typer

from bot.commands.digest import parse_span
from bot.config import Settings, load_settings
from bot.container import Container
from memory.errors import CopilotError
from memory.models import AuditEvent

app = typer.Typer(
    help="Audit trail: every proposal, click (accepted or refused), execution and verification.",
    invoke_without_command=True,
)


async def _rows(settings: Settings, span: timedelta) -> list[AuditEvent]:
    async with Container(settings) as c:
        return await c.repos.audit.since(
            workspace_id=settings.workspace_id, since=datetime.now(UTC) - span
        )


def _as_dict(row: AuditEvent) -> dict[str, Any]:
    return {
        "at": row.at.isoformat(),
        "actor": row.actor,
        "kind": row.kind,
        "accepted": row.accepted,
        "proposal_id": row.proposal_id,
        "reason": row.reason,
        "data": row.data,
    }


def format_table(rows: list[AuditEvent]) -> str:
    """Audit rows as aligned text lines (time, actor, kind, accepted, proposal, reason)."""
    if not rows:
        return "no audit rows in this period"
    lines = [f"{'time (UTC)':<20} {'actor':<14} {'kind':<13} {'ok':<3} {'proposal':<12} reason"]
    for r in rows:
        lines.append(
            f"{r.at.astimezone(UTC):%Y-%m-%d %H:%M:%S} {r.actor[:14]:<14} {r.kind[:13]:<13} "
            f"{'yes' if r.accepted else 'no':<3} {(r.proposal_id or '-')[:12]:<12} {r.reason}"
        )
    return "\n".join(lines)


@app.callback()
def audit(
    ctx: typer.Context,
    since: Annotated[
        str, typer.Option("--since", help="Length of the period, e.g. 24h, 7d, 30m.")
    ] = "24h",
    as_json: Annotated[bool, typer.Option("--json", help="One JSON array of rows.")] = False,
) -> None:
    """List the audit rows of the last period for this workspace, oldest first."""
    try:
        span = parse_span(since)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise typer.Exit(2) from None
    try:
        settings = ctx.obj if isinstance(ctx.obj, Settings) else load_settings()
        rows = asyncio.run(_rows(settings, span))
    except CopilotError as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise typer.Exit(1) from None
    if as_json:
        print(json.dumps([_as_dict(r) for r in rows], indent=2))
    else:
        print(format_table(rows))
