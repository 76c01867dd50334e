"""A real PostgreSQL for the tests.

Order of preference:
1. ``SRE_COPILOT_TEST_POSTGRES_URL`` (an admin DSN, e.g. ``postgresql://postgres@127.0.0.1:5432/postgres``);
2. the machine's server on 127.0.0.1:5432 (trust auth, as on our dev and CI machines);
3. a throwaway cluster made with ``initdb`` in a temp dir on a free port (run as the
   ``postgres`` user when we are root, since PostgreSQL refuses to run as root).

Each test session gets its own fresh database, dropped at the end.
"""

from __future__ import annotations

import asyncio
import contextlib
import glob
import os
import shutil
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import asyncpg

from tests.servers.process import free_port


@dataclass
class PostgresServer:
    admin_dsn: str  # libpq-style DSN with a database that exists (to CREATE DATABASE from)
    host: str
    port: int
    user: str
    started_here: bool = False

    def dsn(self, database: str) -> str:
        return f"postgresql://{self.user}@{self.host}:{self.port}/{database}"

    def sqlalchemy_url(self, database: str) -> str:
        return f"postgresql+asyncpg://{self.user}@{self.host}:{self.port}/{database}"


async def _can_connect(dsn: str, connect_timeout: float = 2.0) -> bool:
    try:
        conn = await asyncpg.connect(dsn, timeout=connect_timeout)
    except (TimeoutError, OSError, asyncpg.PostgresError):
        return False
    await conn.close()
    return True


def _find_bin(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return candidates[-1] if candidates else None


@contextlib.contextmanager
def _throwaway_cluster() -> Iterator[PostgresServer]:
    initdb, postgres = _find_bin("initdb"), _find_bin("postgres")
    if not initdb or not postgres:
        raise RuntimeError("no initdb/postgres binaries (apt-get install postgresql)")
    base = Path(tempfile.mkdtemp(prefix="sre-copilot-pg-"))
    data, sock = base / "data", base / "sock"
    sock.mkdir()
    prefix: list[str] = []
    if os.geteuid() == 0:
        shutil.chown(base, "postgres")
        shutil.chown(sock, "postgres")
        prefix = ["runuser", "-u", "postgres", "--"]
    port = free_port()
    subprocess.run(
        [*prefix, initdb, "-D", str(data), "-U", "postgres", "-A", "trust", "--no-sync"],
        check=True,
        capture_output=True,
    )
    log = base / "postgres.log"
    proc = subprocess.Popen(
        [
            *prefix,
            postgres,
            "-D",
            str(data),
            "-p",
            str(port),
            "-k",
            str(sock),
            "-c",
            "listen_addresses=127.0.0.1",
            "-c",
            "fsync=off",
        ],
        stdout=subprocess.DEVNULL,
        stderr=log.open("wb"),
    )
    server = PostgresServer(
        admin_dsn=f"postgresql://postgres@127.0.0.1:{port}/postgres",
        host="127.0.0.1",
        port=port,
        user="postgres",
        started_here=True,
    )
    try:
        deadline = time.monotonic() + 30
        while not asyncio.run(_can_connect(server.admin_dsn, 1.0)):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"throwaway PostgreSQL did not start: {log.read_text()[-2000:]}")
            time.sleep(0.2)
        yield server
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
        shutil.rmtree(base, ignore_errors=True)


@contextlib.contextmanager
def postgres_server() -> Iterator[PostgresServer]:
    """Yield a reachable PostgreSQL server (see module docstring for the order)."""
    env_dsn = os.environ.get("SRE_COPILOT_TEST_POSTGRES_URL")
    if env_dsn:
        dsn = env_dsn.replace("postgresql+asyncpg://", "postgresql://")
        if not asyncio.run(_can_connect(dsn)):
            raise RuntimeError(f"SRE_COPILOT_TEST_POSTGRES_URL={dsn} is not reachable")
        from urllib.parse import urlparse

        u = urlparse(dsn)
        yield PostgresServer(
            admin_dsn=dsn,
            host=u.hostname or "127.0.0.1",
            port=u.port or 5432,
            user=u.username or "postgres",
        )
        return
    local = PostgresServer(
        admin_dsn="postgresql://postgres@127.0.0.1:5432/postgres",
        host="127.0.0.1",
        port=5432,
        user="postgres",
    )
    if asyncio.run(_can_connect(local.admin_dsn)):
        yield local
        return
    with _throwaway_cluster() as server:
        yield server


async def create_database(server: PostgresServer) -> str:
    name = f"sre_copilot_test_{uuid.uuid4().hex[:10]}"
    conn = await asyncpg.connect(server.admin_dsn)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return name


async def drop_database(server: PostgresServer, name: str) -> None:
    conn = await asyncpg.connect(server.admin_dsn)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()
