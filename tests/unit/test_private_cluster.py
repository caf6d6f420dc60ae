"""Where no PostgreSQL server runs, the project starts a private cluster from Debian's binaries."""

from __future__ import annotations

import shutil
import uuid

import asyncpg

from ivr.dev import postgres
from ivr.store.migrate import migrate


async def test_private_cluster_starts_migrates_and_stops() -> None:
    """initdb + pg_ctl give a working server on a free port; migrations apply to it."""
    data = postgres.PROJECT / ".local" / f"pg-test-{uuid.uuid4().hex[:8]}"
    try:
        admin = postgres.start_private_cluster(data)
        assert admin != "postgresql://postgres@127.0.0.1:5432/postgres"
        dsn = await postgres.create_database(admin, "ivr_private")
        conn = await asyncpg.connect(dsn)
        try:
            assert await migrate(conn)
            assert await conn.fetchval("SELECT count(*) FROM calls") == 0
        finally:
            await conn.close()
        # Starting again is idempotent: the running cluster is reused.
        assert postgres.start_private_cluster(data) == admin
    finally:
        postgres.stop_private_cluster(data)
        shutil.rmtree(data, ignore_errors=True)
    assert not await postgres.reachable(admin)
