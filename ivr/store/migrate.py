"""Numbered SQL migrations in ``sql/``, applied once each and recorded.

Safe to run twice and from several processes at once: an advisory lock
serialises runners and ``schema_migrations`` records what was applied.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

import asyncpg

SQL_DIR = Path(os.environ.get("IVR_SQL_DIR", Path(__file__).resolve().parents[2] / "sql"))
_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")
_LOCK_KEY = 0x1D0_CA11  # arbitrary, constant advisory-lock id for migrations


class MigrationError(Exception):
    """A migration file is misnamed, duplicated or failed to apply."""


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    path: Path


def discover(sql_dir: Path = SQL_DIR) -> list[Migration]:
    if not sql_dir.is_dir() or not any(sql_dir.glob("*.sql")):
        # Never report "up to date" from a wrong path (e.g. an install without sql/).
        raise MigrationError(f"no migrations found in {sql_dir} (set IVR_SQL_DIR)")
    found: dict[int, Migration] = {}
    for path in sorted(sql_dir.glob("*.sql")):
        m = _NAME.match(path.name)
        if not m:
            raise MigrationError(f"migration file name must be NNNN_name.sql: {path.name}")
        version = int(m.group(1))
        if version in found:
            raise MigrationError(f"two migrations numbered {version:04d}: {path.name}")
        found[version] = Migration(version, m.group(2), path)
    return [found[v] for v in sorted(found)]


async def migrate(conn: asyncpg.Connection, sql_dir: Path = SQL_DIR) -> list[Migration]:
    """Apply every migration not yet recorded; return those applied now."""
    applied_now: list[Migration] = []
    await conn.execute("SELECT pg_advisory_lock($1)", _LOCK_KEY)
    try:
        await conn.execute(
            """CREATE TABLE IF NOT EXISTS schema_migrations (
                   version integer PRIMARY KEY,
                   name text NOT NULL,
                   applied_at timestamptz NOT NULL DEFAULT now())"""
        )
        done = {r["version"] for r in await conn.fetch("SELECT version FROM schema_migrations")}
        for mig in discover(sql_dir):
            if mig.version in done:
                continue
            try:
                async with conn.transaction():
                    await conn.execute(mig.path.read_text(encoding="utf-8"))
                    await conn.execute(
                        "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)",
                        mig.version,
                        mig.name,
                    )
            except asyncpg.PostgresError as e:
                raise MigrationError(f"{mig.path.name}: {e}") from e
            applied_now.append(mig)
    finally:
        await conn.execute("SELECT pg_advisory_unlock($1)", _LOCK_KEY)
    return applied_now
