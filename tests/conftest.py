"""Shared fixtures: the database backends every repository test runs on.

``backend`` is parametrized over SQLite and a real PostgreSQL, so each repository
test appears twice in the output (``[sqlite]`` and ``[postgres]``). Tests are
isolated by workspace id (every query filters by it), which is also what the
product relies on.

Under ``CI=true`` a missing server fails the test; locally it skips with a reason.
"""

from __future__ import annotations

import os
import subprocess
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import pytest_asyncio

from memory.db import Database
from memory.repositories import Repositories
from tests.servers.postgres import PostgresServer, create_database, drop_database, postgres_server

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def require(condition: bool, reason: str) -> None:
    """Skip locally, fail under CI, when a real server is missing."""
    if condition:
        return
    if IN_CI:
        pytest.fail(f"CI=true and {reason}", pytrace=False)
    pytest.skip(reason)


_PG_ERROR: dict[str, str] = {}


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PostgresServer | None]:
    try:
        with postgres_server() as server:
            yield server
    except (RuntimeError, OSError, subprocess.CalledProcessError) as exc:
        # reported per test through require(): fails under CI, skips locally
        _PG_ERROR["error"] = str(exc)
        yield None


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def pg_database_url(pg_server: PostgresServer | None) -> AsyncIterator[str | None]:
    if pg_server is None:
        yield None
        return
    name = await create_database(pg_server)
    try:
        url = pg_server.sqlalchemy_url(name)
        async with Database(url) as db:
            await db.upgrade()
        yield url
    finally:
        await drop_database(pg_server, name)


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def sqlite_database_url(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[str]:
    path: Path = tmp_path_factory.mktemp("sqlite") / "test.db"
    url = f"sqlite+aiosqlite:///{path}"
    async with Database(url) as db:
        await db.upgrade()
    yield url


@pytest_asyncio.fixture(
    scope="session",
    loop_scope="session",
    params=[
        pytest.param("sqlite", id="sqlite"),
        pytest.param("postgres", id="postgres", marks=pytest.mark.integration),
    ],
)
async def database(
    request: pytest.FixtureRequest,
    sqlite_database_url: str,
    pg_database_url: str | None,
) -> AsyncIterator[Database]:
    if request.param == "sqlite":
        url = sqlite_database_url
    else:
        require(
            pg_database_url is not None,
            f"no PostgreSQL available: {_PG_ERROR.get('error', 'unknown error')}",
        )
        assert pg_database_url is not None
        url = pg_database_url
    db = Database(url)
    try:
        yield db
    finally:
        await db.dispose()


@pytest.fixture
def repos(database: Database) -> Repositories:
    return Repositories.build(database)


@pytest_asyncio.fixture(loop_scope="session")
async def workspace(repos: Repositories) -> str:
    """A fresh workspace per test: the isolation boundary."""
    ws = f"T{uuid.uuid4().hex[:10]}"
    await repos.workspaces.ensure(workspace_id=ws, name="test")
    return ws
