"""The controller's flow in service: the file flow when the database has no versions."""

from __future__ import annotations

import uuid
from pathlib import Path

import asyncpg

from ivr.call.inservice import FlowInService
from ivr.dev import postgres
from ivr.flow.loader import default_flow_text, load_default_flow
from ivr.prompts.library import PromptLibrary
from ivr.store import flows


async def test_unmigrated_database_keeps_the_file_flow(pg_admin_dsn: str, tmp_path: Path) -> None:
    """A database without the schema yet does not stop the controller from serving."""
    name = f"ivr_empty_{uuid.uuid4().hex[:8]}"
    dsn = await postgres.create_database(pg_admin_dsn, name)
    try:
        service = FlowInService(PromptLibrary(tmp_path, "/x"), load_default_flow(), dsn)
        await service.load_published(timeout=3)
        assert service.current.version is None
        assert service.current.flow.start == "service_check"
    finally:
        await postgres.drop_database(pg_admin_dsn, name)


async def test_published_flow_is_served_from_cache_while_db_is_away(
    db: asyncpg.Connection, database_dsn: str, tmp_path: Path
) -> None:
    """The version in service is kept on disk and used when the database is unreachable."""
    changed = default_flow_text().replace("○○市", "キャッシュ市")
    version = await flows.save_draft(db, changed, "tester")
    await flows.publish(db, version, "tester")
    cache = tmp_path / "flow-in-service.json"
    lib = PromptLibrary(tmp_path / "sounds", "/x")
    up = FlowInService(lib, load_default_flow(), database_dsn, cache)
    await up.load_published(timeout=3)
    assert up.current.version == version and cache.exists()

    dead = f"postgresql://postgres@127.0.0.1:{postgres.free_port()}/none"
    down = FlowInService(lib, load_default_flow(), dead, cache)
    await down.load_published(timeout=1)
    assert down.current.version == version
    assert "キャッシュ市" in down.current.flow.prompts["welcome"].text
