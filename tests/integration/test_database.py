"""Opening, migrating and failing databases: each failure is one clear line."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlmodel import SQLModel

from memory.db import Database, head_revision
from memory.errors import DatabaseUnavailable, SchemaMismatch
from memory.repositories import Repositories
from tests.servers.postgres import PostgresServer, create_database, drop_database


async def test_sqlite_upgrade_from_empty_to_head_then_noop(tmp_path: Path):
    async with Database(f"sqlite+aiosqlite:///{tmp_path}/sub/dir/x.db") as db:
        assert await db.current_revision() is None
        before, after = await db.upgrade()
        assert (before, after) == (None, head_revision())
        assert await db.upgrade() == (head_revision(), head_revision())
        assert await db.check_schema() == head_revision()


async def test_database_newer_than_code_is_refused(tmp_path: Path):
    async with Database(f"sqlite+aiosqlite:///{tmp_path}/x.db") as db:
        await db.upgrade()
        async with db.engine.begin() as conn:
            await conn.execute(text("UPDATE alembic_version SET version_num = 'f00dfeed'"))
        with pytest.raises(SchemaMismatch) as info:
            await db.check_schema()
        assert "at migration f00dfeed, newer than this release" in str(info.value)
        with pytest.raises(SchemaMismatch):
            await db.upgrade()


async def test_unwritable_data_dir(tmp_path: Path):
    if os.geteuid() == 0:
        target = Path("/proc/sre-copilot-cannot-exist/x.db")  # not creatable even for root
        expected = "cannot create data directory"
    else:  # pragma: no cover - non-root developers
        ro = tmp_path / "ro"
        ro.mkdir()
        ro.chmod(0o500)
        target = ro / "x.db"
        expected = "is not writable"
    async with Database(f"sqlite+aiosqlite:///{target}") as db:
        with pytest.raises(DatabaseUnavailable, match=expected):
            await db.ping()


async def test_locked_sqlite_file_names_the_cause(tmp_path: Path):
    path = tmp_path / "locked.db"
    async with Database(f"sqlite+aiosqlite:///{path}", connect_timeout_s=0.2) as db:
        await db.upgrade()
        holder = sqlite3.connect(path)
        holder.execute("BEGIN EXCLUSIVE")
        try:
            with pytest.raises(DatabaseUnavailable) as info:
                await Repositories.build(db).workspaces.ensure(workspace_id="W1")
            assert "is locked by another process" in str(info.value)
        finally:
            holder.rollback()
            holder.close()
        repos = Repositories.build(db)
        assert await repos.workspaces.get(workspace_id="W1") is None  # nothing half-written
        await repos.workspaces.ensure(workspace_id="W1")  # and it works once the lock is gone


async def test_sqlite_connection_returned_mid_transaction_is_rolled_back(tmp_path: Path):
    # The pool resets SQLite connections only when a transaction is open (memory.db):
    # a connection handed back with an uncommitted write must come back clean.
    async with Database(f"sqlite+aiosqlite:///{tmp_path}/x.db") as db:
        async with db.engine.begin() as conn:
            await conn.execute(text("CREATE TABLE t (x INTEGER)"))

        def write_and_abandon(sync_conn: Connection) -> None:
            raw = sync_conn.engine.raw_connection()
            raw.cursor().execute("INSERT INTO t VALUES (1)")
            assert raw.driver_connection is not None
            assert raw.driver_connection.in_transaction
            raw.close()  # back to the pool, transaction still open

        async with db.engine.connect() as conn:
            await conn.run_sync(write_and_abandon)
        async with db.engine.begin() as conn:  # the same pooled connection, clean
            assert (await conn.execute(text("SELECT count(*) FROM t"))).scalar_one() == 0
            await conn.execute(text("INSERT INTO t VALUES (2)"))
        async with db.engine.connect() as conn:
            assert (await conn.execute(text("SELECT x FROM t"))).scalars().all() == [2]


async def test_unreachable_postgres_names_the_url():
    async with Database("postgresql+asyncpg://nobody:pw@127.0.0.1:1/x", connect_timeout_s=1) as db:
        with pytest.raises(DatabaseUnavailable) as info:
            await db.ping()
    message = str(info.value)
    assert "cannot reach database postgresql+asyncpg://nobody:***@127.0.0.1:1/x" in message
    assert "pw" not in message


@pytest.mark.integration
async def test_postgres_migrates_from_empty(pg_server: PostgresServer | None):
    from tests.conftest import require

    require(pg_server is not None, "no PostgreSQL available")
    assert pg_server is not None
    name = await create_database(pg_server)
    try:
        async with Database(pg_server.sqlalchemy_url(name)) as db:
            assert await db.check_schema() is None
            assert await db.upgrade() == (None, head_revision())
            async with db.engine.connect() as conn:
                tables = (
                    await conn.execute(
                        text(
                            "SELECT count(*) FROM information_schema.tables"
                            " WHERE table_schema='public'"
                        )
                    )
                ).scalar_one()
            assert tables == len(SQLModel.metadata.tables) + 1  # + alembic_version
    finally:
        await drop_database(pg_server, name)


@pytest.mark.integration
async def test_replicas_migrating_at_once_do_not_race(pg_server: PostgresServer | None):
    """Web replicas and the scheduler start together and each migrates: one wins the
    advisory lock and applies the DDL, the others wait and then find the schema at head
    (without the lock, concurrent CREATE TABLEs fail on PostgreSQL's catalog)."""
    import asyncio

    from tests.conftest import require

    require(pg_server is not None, "no PostgreSQL available")
    assert pg_server is not None
    name = await create_database(pg_server)
    try:
        url = pg_server.sqlalchemy_url(name)
        dbs = [Database(url) for _ in range(4)]
        try:
            results = await asyncio.gather(*(db.upgrade() for db in dbs))
        finally:
            for db in dbs:
                await db.dispose()
        assert {after for _before, after in results} == {head_revision()}
        async with Database(url) as db:
            assert await db.check_schema() == head_revision()
    finally:
        await drop_database(pg_server, name)


async def test_migrations_match_the_models(database: Database):
    """Alembic's head schema is exactly what memory/models.py declares (both backends)."""
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    async with database.engine.connect() as conn:
        diff = await conn.run_sync(
            lambda c: compare_metadata(MigrationContext.configure(c), SQLModel.metadata)
        )
    assert diff == []
