"""The flow in service: the database wins whenever it answers; the disk cache serves
only while it cannot be reached; the default when it has no published version."""

from __future__ import annotations

import asyncio
import json
import subprocess
import uuid
from pathlib import Path

import asyncpg

from ivr.call.inservice import FlowInService
from ivr.dev import postgres
from ivr.prompts.library import PromptLibrary
from ivr.published.service import Watcher
from ivr.store import flows
from tests.conftest import fresh_database

TINY = """\
version: 1
name: tiny
start: welcome
prompts:
  welcome: {text: ○○市です}
nodes:
  welcome:
    type: hangup
    prompt: welcome
"""


async def _publish(dsn: str, text: str) -> int:
    conn = await asyncpg.connect(dsn)
    try:
        version = await flows.save_draft(conn, text, "tester")
        await flows.publish(conn, version, "tester")
        return version
    finally:
        await conn.close()


def _tiny(tmp_path: Path) -> tuple[PromptLibrary, Path]:
    default = tmp_path / "tiny.yaml"
    default.write_text(TINY, encoding="utf-8")
    return PromptLibrary(tmp_path / "sounds", "/x"), default


async def test_the_database_wins_over_a_stale_cache(
    pg_admin_dsn: str, fresh_dsn: str, tmp_path: Path
) -> None:
    """A cache from one database never outlives a switch to another: an empty database
    serves the shipped default, and the stale cache is removed."""
    lib, default = _tiny(tmp_path)
    version = await _publish(fresh_dsn, TINY.replace("○○市", "別データベース市"))
    cache = tmp_path / "flow-in-service.json"
    first = FlowInService(lib, default, fresh_dsn, cache)
    await first.load_published(timeout=3)
    assert first.current.version == version and cache.exists()

    async with fresh_database(pg_admin_dsn, "ivr_other") as other:
        moved = FlowInService(lib, default, other, cache)
        await moved.load_published(timeout=3)
        assert moved.current.version is None  # the default, not version 1 of elsewhere
        assert moved.current.flow.prompts["welcome"].text == "○○市です"
        assert not cache.exists()


async def test_restored_dump_serves_its_own_published_flow(
    fresh_dsn: str, pg_admin_dsn: str, tmp_path: Path
) -> None:
    """A dump restored into a fresh database whose published flow differs from the
    cache (same version number, other content) is served, not the cache."""
    lib, default = _tiny(tmp_path)
    await _publish(fresh_dsn, TINY.replace("○○市", "復元市"))
    target = f"ivr_dst_{uuid.uuid4().hex[:8]}"
    dst = await postgres.create_database(pg_admin_dsn, target)
    try:
        dump = tmp_path / "backup.dump"
        await asyncio.to_thread(
            subprocess.run, ["pg_dump", "-Fc", "-f", str(dump), fresh_dsn], check=True
        )
        await asyncio.to_thread(
            subprocess.run, ["pg_restore", "--no-owner", "-d", dst, str(dump)], check=True
        )
        # The cache holds "version 1" of some other database, with other content.
        cache = tmp_path / "flow-in-service.json"
        stale = TINY.replace("○○市", "古いキャッシュ市")
        cache.write_text(json.dumps({"version": 1, "source": stale}, ensure_ascii=False))
        service = FlowInService(lib, default, dst, cache)
        await service.load_published(timeout=3)
        assert service.served.origin == "database" and service.current.version == 1
        assert service.current.flow.prompts["welcome"].text == "復元市です"
    finally:
        await postgres.drop_database(pg_admin_dsn, target)


async def test_watcher_follows_publish_and_return_to_default(
    fresh_dsn: str, tmp_path: Path
) -> None:
    """A publish reaches the watcher by NOTIFY; a database with no published version
    (all retired) puts the default back."""
    lib, default = _tiny(tmp_path)
    service = FlowInService(lib, default, fresh_dsn)
    watcher = Watcher(fresh_dsn, [service])
    task = asyncio.create_task(watcher.run())
    conn = await asyncpg.connect(fresh_dsn)
    try:
        await asyncio.wait_for(watcher.connected.wait(), 30)
        assert service.current.version is None
        service.switched.clear()
        version = await _publish(fresh_dsn, TINY.replace("○○市", "通知市"))
        await asyncio.wait_for(service.switched.wait(), 30)
        assert service.current.version == version
        assert service.current.flow.prompts["welcome"].text == "通知市です"
        service.switched.clear()
        await conn.execute("UPDATE flow_versions SET status = 'retired'")
        await conn.execute("SELECT pg_notify($1, '')", flows.CHANNEL)
        await asyncio.wait_for(service.switched.wait(), 30)
        assert service.current.version is None
    finally:
        await conn.close()
        task.cancel()


async def test_unmigrated_database_keeps_the_file_flow(pg_admin_dsn: str, tmp_path: Path) -> None:
    """A database without the schema yet does not stop the controller from serving."""
    lib, default = _tiny(tmp_path)
    name = f"ivr_empty_{uuid.uuid4().hex[:8]}"
    dsn = await postgres.create_database(pg_admin_dsn, name)
    try:
        service = FlowInService(lib, default, dsn)
        await service.load_published(timeout=3)
        assert service.current.version is None
        assert service.current.flow.name == "tiny"
    finally:
        await postgres.drop_database(pg_admin_dsn, name)


async def test_published_flow_is_served_from_cache_while_db_is_away(
    fresh_dsn: str, tmp_path: Path
) -> None:
    """The version in service is kept on disk and used when the database is unreachable."""
    lib, default = _tiny(tmp_path)
    version = await _publish(fresh_dsn, TINY.replace("○○市", "キャッシュ市"))
    cache = tmp_path / "flow-in-service.json"
    up = FlowInService(lib, default, fresh_dsn, cache)
    await up.load_published(timeout=3)
    assert up.current.version == version and cache.exists()

    dead = f"postgresql://postgres@127.0.0.1:{postgres.free_port()}/none"
    down = FlowInService(lib, default, dead, cache)
    await down.load_published(timeout=1)
    assert down.current.version == version and down.served.origin == "cache"
    assert down.current.flow.prompts["welcome"].text == "キャッシュ市です"
