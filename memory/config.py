"""Configuration models owned by the memory layer.

These are plain pydantic models: ``bot.config.Settings`` composes them and is the
only place that reads the environment.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, field_validator


class DatabaseConfig(BaseModel):
    """Where incidents, conversations, proposals and audit rows live."""

    url: str | None = Field(
        default=None,
        description=(
            "SQLAlchemy async URL, e.g. postgresql+asyncpg://user@host/db. "
            "Empty means a SQLite file in the data directory."
        ),
    )
    auto_migrate: bool = Field(
        default=True,
        description="Apply pending migrations at start; off means `sre-copilot db upgrade` first.",
    )
    echo: bool = Field(default=False, description="Log every SQL statement (debugging only).")
    pool_size: int = Field(
        default=5, ge=1, le=100, description="Connection pool size (PostgreSQL)."
    )
    connect_timeout_s: float = Field(
        default=5.0, gt=0, description="Seconds to wait for a database connection."
    )

    @field_validator("url")
    @classmethod
    def _check_url(cls, value: str | None) -> str | None:
        if value and not value.startswith(("sqlite+aiosqlite://", "postgresql+asyncpg://")):
            raise ValueError(
                "expected sqlite+aiosqlite:///path/file.db or postgresql+asyncpg://user@host/db"
            )
        return value or None

    def resolved_url(self, data_dir: Path) -> str:
        """Return the configured URL, or the SQLite file in ``data_dir``."""
        if self.url:
            return self.url
        return f"sqlite+aiosqlite:///{data_dir / 'sre-copilot.db'}"


class VectorStoreConfig(BaseModel):
    """The runbook store (Chroma)."""

    mode: Literal["local", "http"] = Field(
        default="local",
        description="local: a Chroma directory in the data directory; http: a Chroma server.",
    )
    host: str = Field(default="127.0.0.1", description="Chroma server host (mode=http).")
    port: int = Field(default=8000, ge=1, le=65535, description="Chroma server port (mode=http).")
    collection: str = Field(default="runbooks", description="Chroma collection name.")
    path: Path | None = Field(
        default=None, description="Chroma directory (mode=local); default <data_dir>/chroma."
    )
