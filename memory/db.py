"""The database: engine, sessions, schema checks and migrations.

SQLite (``sqlite+aiosqlite``) is the embedded default; PostgreSQL
(``postgresql+asyncpg``) is for production and several replicas. Failures to
open, write or migrate are turned into :class:`memory.errors.StorageError`
subclasses whose message names the cause and what to do.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import os
import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import event
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlmodel.ext.asyncio.session import AsyncSession

from memory.errors import DatabaseUnavailable, SchemaMismatch

logger = logging.getLogger(__name__)

_HOLDS_SQLITE_LOCK: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "sre_copilot_holds_sqlite_lock", default=False
)

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


MIGRATION_LOCK_ID = 0x5E_C0_01_07
"""PostgreSQL advisory lock key held while migrations run (one migrator at a time)."""


def alembic_config() -> Config:
    """Alembic configuration pointing at the packaged migrations."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    return cfg


def head_revision() -> str:
    """The newest migration this code knows."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    if head is None:  # pragma: no cover - packaging error
        raise SchemaMismatch("no migrations are packaged with this release")
    return head


def _sqlite_pragmas(busy_timeout_ms: int) -> Any:
    def _set(dbapi_conn: Any, _record: Any) -> None:
        cursor = dbapi_conn.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        # WAL: readers don't block the writer (web + scheduler in one process)
        cursor.execute("PRAGMA journal_mode=WAL")
        # WAL + NORMAL: no corruption on power loss, and no fsync per commit (SQLite docs)
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute(f"PRAGMA busy_timeout={busy_timeout_ms}")
        cursor.close()

    return _set


def _sqlite_reset(dbapi_conn: Any, record: Any, state: Any) -> None:
    """Roll back a connection returned to the pool only if a transaction is still open.

    SQLAlchemy's default reset rolls back on every check-in, even right after the
    session has ended its transaction; with aiosqlite each rollback is a round trip
    through the connection's thread while the in-process lock is held. SQLite says
    whether a transaction is open (``in_transaction``), so the rollback runs exactly
    when there is something to undo.
    """
    if state.terminate_only or not state.asyncio_safe:
        return  # being discarded, or outside the event loop: SQLAlchemy closes it instead
    if record.driver_connection.in_transaction:
        dbapi_conn.rollback()


class Database:
    """An async engine and session factory for one database URL.

    Use as an async context manager, or call :meth:`dispose` when done.
    """

    def __init__(
        self,
        url: str,
        *,
        echo: bool = False,
        pool_size: int = 5,
        connect_timeout_s: float = 5.0,
    ) -> None:
        self.url = url
        parsed = make_url(url)
        self.backend = parsed.get_backend_name()
        self._sqlite_path: Path | None = None
        kwargs: dict[str, Any] = {"echo": echo}
        if self.backend == "sqlite":
            # No pre-ping: a SQLite connection is a local file handle that cannot go stale
            # the way a server connection does, and each ping costs a round trip through
            # aiosqlite's thread while the in-process lock below is held.
            if parsed.database and parsed.database != ":memory:":
                self._sqlite_path = Path(parsed.database)
            kwargs["connect_args"] = {"timeout": connect_timeout_s}
            kwargs["pool_reset_on_return"] = None  # _sqlite_reset does it when needed
        else:
            kwargs["pool_pre_ping"] = True  # a server may have closed an idle connection
            kwargs["pool_size"] = pool_size
            kwargs["connect_args"] = {"timeout": connect_timeout_s}
        self.engine: AsyncEngine = create_async_engine(url, **kwargs)
        if self.backend == "sqlite":
            event.listen(
                self.engine.sync_engine, "connect", _sqlite_pragmas(int(connect_timeout_s * 1000))
            )
            event.listen(self.engine.sync_engine, "reset", _sqlite_reset)
        self.sessions = async_sessionmaker(self.engine, class_=AsyncSession, expire_on_commit=False)
        self._sqlite_lock = asyncio.Lock()

    @property
    def display_url(self) -> str:
        """The URL with any password hidden."""
        return make_url(self.url).render_as_string(hide_password=True)

    async def __aenter__(self) -> Database:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.dispose()

    async def dispose(self) -> None:
        """Close every pooled connection."""
        await self.engine.dispose()

    @asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        """A session; commits are explicit, errors roll back.

        Connection-level failures (server gone, SQLite file locked) surface as
        :class:`DatabaseUnavailable` with a one-line cause; constraint violations
        stay ``IntegrityError`` for the repositories to handle.
        """
        if self.backend == "sqlite" and not _HOLDS_SQLITE_LOCK.get():
            # SQLite has one writer; letting its busy handler arbitrate between our own
            # connections costs back-off sleeps of up to 100 ms. Queue in-process instead.
            async with self._sqlite_lock:
                token = _HOLDS_SQLITE_LOCK.set(True)
                try:
                    async with self._session() as session:
                        yield session
                finally:
                    _HOLDS_SQLITE_LOCK.reset(token)
            return
        async with self._session() as session:
            yield session

    @asynccontextmanager
    async def _session(self) -> AsyncIterator[AsyncSession]:
        async with self.sessions() as session:
            try:
                yield session
            except (OperationalError, InterfaceError, OSError) as exc:
                await session.rollback()
                raise DatabaseUnavailable(self.describe_error(exc)) from exc
            except Exception:
                await session.rollback()
                raise

    def _prepare_sqlite_dir(self) -> None:
        if self._sqlite_path is None:
            return
        directory = self._sqlite_path.parent
        try:
            directory.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise DatabaseUnavailable(
                f"cannot create data directory {directory}: {exc.strerror}; "
                "set SRE_COPILOT_DATA_DIR to a writable directory"
            ) from exc
        if not os.access(directory, os.W_OK):
            raise DatabaseUnavailable(
                f"data directory {directory} is not writable; "
                "fix its permissions or set SRE_COPILOT_DATA_DIR to a writable directory"
            )

    def describe_error(self, exc: BaseException) -> str:
        """One line naming what failed and what to do."""
        text = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
        if self.backend == "sqlite":
            if "locked" in text:
                return (
                    f"SQLite file {self._sqlite_path} is locked by another process; "
                    "stop the other sre-copilot process or use PostgreSQL for several processes"
                )
            if "readonly" in text or "read-only" in text:
                return f"SQLite file {self._sqlite_path} is read-only; fix its permissions"
            return f"cannot open SQLite database {self._sqlite_path}: {text}"
        return (
            f"cannot reach database {self.display_url}: {text}; "
            "check SRE_COPILOT_DATABASE__URL and that the server is running"
        )

    async def ping(self) -> None:
        """Open a connection and run ``SELECT 1``.

        Raises:
            DatabaseUnavailable: the database cannot be reached or opened.
        """
        self._prepare_sqlite_dir()
        try:
            async with self.engine.connect() as conn:
                await conn.exec_driver_sql("SELECT 1")
        except (TimeoutError, SQLAlchemyError, OSError, sqlite3.Error) as exc:
            raise DatabaseUnavailable(self.describe_error(exc)) from exc

    async def current_revision(self) -> str | None:
        """The migration revision the database is at (``None`` if never migrated)."""
        self._prepare_sqlite_dir()

        def _rev(conn: Connection) -> str | None:
            return MigrationContext.configure(conn).get_current_revision()

        try:
            async with self.engine.connect() as conn:
                return await conn.run_sync(_rev)
        except (TimeoutError, SQLAlchemyError, OSError, sqlite3.Error) as exc:
            raise DatabaseUnavailable(self.describe_error(exc)) from exc

    async def check_schema(self) -> str | None:
        """Compare the database revision with this code's head.

        Returns:
            The database revision when it equals head, ``None`` when it is behind
            (or empty) and needs :meth:`upgrade`.

        Raises:
            SchemaMismatch: the database is at a revision this code does not know.
        """
        current = await self.current_revision()
        head = head_revision()
        if current == head:
            return current
        script = ScriptDirectory.from_config(alembic_config())
        known = {rev.revision for rev in script.walk_revisions()}
        if current is not None and current not in known:
            raise SchemaMismatch(
                f"database {self.display_url} is at migration {current}, newer than this "
                f"release knows (head {head}); upgrade sre-copilot, or point "
                "SRE_COPILOT_DATABASE__URL at another database"
            )
        return None

    async def upgrade(self, revision: str = "head") -> tuple[str | None, str]:
        """Apply migrations up to ``revision`` in one transaction.

        Returns:
            (revision before, revision after).
        """
        before = await self.current_revision()
        await self.check_schema()
        cfg = alembic_config()

        def _upgrade(conn: Connection) -> None:
            if conn.dialect.name == "postgresql":
                # Replicas start together and each runs the migrations: serialise them
                # with a transaction-scoped advisory lock, so the second finds the
                # schema at head and applies nothing (instead of racing on DDL).
                conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({MIGRATION_LOCK_ID})")
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, revision)

        try:
            async with self.engine.begin() as conn:
                await conn.run_sync(_upgrade)
        except (OperationalError, DBAPIError, OSError, sqlite3.Error) as exc:
            raise DatabaseUnavailable(self.describe_error(exc)) from exc
        after = await self.current_revision()
        if before != after:
            logger.info("database migrated from %s to %s", before or "empty", after)
        return before, after or ""
