"""Migrations apply once, are recorded, and a second run applies nothing."""

from __future__ import annotations

from pathlib import Path

import asyncpg
import pytest

from ivr.store.migrate import MigrationError, discover, migrate


async def test_second_run_applies_nothing(db: asyncpg.Connection) -> None:
    """Running migrate on an up-to-date database applies no migration."""
    assert await migrate(db) == []
    versions = [r["version"] for r in await db.fetch("SELECT version FROM schema_migrations")]
    assert versions == [m.version for m in discover()]


async def test_calls_table_exists(db: asyncpg.Connection) -> None:
    """The calls table has the columns the call recorder writes."""
    cols = {
        r["column_name"]
        for r in await db.fetch(
            "SELECT column_name FROM information_schema.columns WHERE table_name = 'calls'"
        )
    }
    assert {"caller", "dialled", "answered_at", "ended_at", "digits", "path", "outcome"} <= cols


def test_misnamed_migration_is_rejected(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """A file not named NNNN_name.sql stops the migration with a clear error."""
    (tmp_path / "1_bad.sql").write_text("SELECT 1")
    with pytest.raises(MigrationError, match=r"NNNN_name\.sql"):
        discover(tmp_path)


def test_missing_sql_folder_is_an_error(tmp_path: Path) -> None:
    """A wrong or empty migrations folder is reported, never taken as 'up to date'."""
    with pytest.raises(MigrationError, match="no migrations found"):
        discover(tmp_path / "nowhere")
