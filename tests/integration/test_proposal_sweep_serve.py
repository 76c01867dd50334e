"""Without Slack, ``serve`` still expires overdue proposals (nobody else would)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.config import Settings
from bot.web import create_app
from memory.db import Database
from memory.models import ProposalStatus, RemediationProposal
from memory.repositories import Repositories
from tests.scenario.harness import serve_asgi

pytestmark = pytest.mark.integration


async def test_serve_without_slack_expires_overdue_proposals(tmp_path: Path) -> None:
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        environment="test",
        data_dir=tmp_path / "data",
        log_level="WARNING",
        jobs={"enabled": False},
    )
    async with Database(settings.database_url) as db:
        await db.upgrade()
        repos = Repositories.build(db)
        await repos.workspaces.ensure(workspace_id=settings.workspace_id)
        overdue, fresh = [
            await repos.proposals.create(
                proposal=RemediationProposal(
                    workspace_id=settings.workspace_id,
                    action="alertmanager.silence_create",
                    params={"matchers": {"service": "checkout"}},
                    proposed_by="U0HUMAN",
                    expires_at=datetime.now(UTC) + delta,
                )
            )
            for delta in (timedelta(minutes=-1), timedelta(hours=1))
        ]

        async def status(proposal_id: str) -> ProposalStatus | None:
            p = await repos.proposals.get(
                workspace_id=settings.workspace_id, proposal_id=proposal_id
            )
            return None if p is None else ProposalStatus(p.status)

        async with serve_asgi(create_app(settings)):
            for _ in range(200):  # the first sweep runs as the app starts
                if await status(overdue.id) == ProposalStatus.EXPIRED:
                    break
                await asyncio.sleep(0.05)
        assert await status(overdue.id) == ProposalStatus.EXPIRED
        assert await status(fresh.id) == ProposalStatus.PENDING
        trail = await repos.audit.since(
            workspace_id=settings.workspace_id, since=datetime.now(UTC) - timedelta(hours=1)
        )
        assert [(e.kind, e.proposal_id) for e in trail if e.kind == "expired"] == [
            ("expired", overdue.id)
        ]
