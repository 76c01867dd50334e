"""A scheduler process for the exactly-once test: ``python -m tests.integration.scheduler_worker``.

Arguments: database URL, workspace id, gate file, side-effect file, "now" (ISO time).
Waits for the gate file (so both workers start together), starts a
:class:`CopilotScheduler` (catch-up of every job), fires the ``forecast`` trigger through
APScheduler for the same slot, and prints every outcome as JSON on stdout. Each real
execution appends one line ``job period pid`` to the side-effect file.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

from jobs.scheduler import CopilotScheduler, JobContext, JobSpec, cron_slot_period, iso_week_period
from memory.db import Database
from memory.repositories import Repositories

DIGEST_CRON = "0 9 * * mon"
FORECAST_CRON = "*/30 * * * *"


def _append(path: Path, line: str) -> None:
    with path.open("a", encoding="utf-8") as fh:
        fh.write(line)


async def main(url: str, workspace: str, gate: Path, effects: Path, now: datetime) -> None:
    async def job(ctx: JobContext) -> dict[str, Any]:
        await asyncio.to_thread(_append, effects, f"{ctx.job} {ctx.period} {os.getpid()}\n")
        await asyncio.sleep(0.3)  # widen the window in which the other process could race
        return {"pid": os.getpid()}

    specs = [
        JobSpec("weekly_digest", DIGEST_CRON, job, iso_week_period(DIGEST_CRON)),
        JobSpec("forecast", FORECAST_CRON, job, cron_slot_period(FORECAST_CRON)),
    ]
    async with Database(url) as db:
        scheduler = CopilotScheduler(
            repos=Repositories.build(db),
            workspace_id=workspace,
            jobs=specs,
            owner=f"worker-{os.getpid()}",
            clock=lambda: now,
        )
        for _ in range(3000):
            if await asyncio.to_thread(gate.exists):
                break
            await asyncio.sleep(0.01)
        try:
            await scheduler.start()
            scheduler.trigger_now("forecast")
            for _ in range(3000):
                if len(scheduler.outcomes) > len(specs):
                    break
                await asyncio.sleep(0.01)
        finally:
            await scheduler.shutdown()
    print(json.dumps([o.model_dump(mode="json") for o in scheduler.outcomes]))


if __name__ == "__main__":
    asyncio.run(
        main(
            sys.argv[1],
            sys.argv[2],
            Path(sys.argv[3]),
            Path(sys.argv[4]),
            datetime.fromisoformat(sys.argv[5]),
        )
    )
