"""Call records reach PostgreSQL off the call path, survive an outage via the spool,
and replay idempotently."""

from __future__ import annotations

import asyncio
import uuid
from datetime import datetime
from pathlib import Path

import asyncpg

from ivr.dev.postgres import free_port
from ivr.log import TOKYO
from ivr.store.calls import CallRecorder, CallRow, EventRow


def _call() -> tuple[CallRow, EventRow]:
    now = datetime.now(TOKYO)
    row = CallRow(
        uuid.uuid4(),
        "chan-1",
        "09012345678",
        "0501234567",
        now,
        now,
        now,
        "1",
        ("welcome", "main_menu"),
        "main_menu",
        "completed",
    )
    return row, EventRow(row.id, 1, now, "key", "main_menu", {"digit": "1"})


async def test_records_are_written(
    database_dsn: str, db: asyncpg.Connection, tmp_path: Path
) -> None:
    """A call row and its events arrive in the database."""
    rec = CallRecorder(database_dsn, tmp_path)
    task = asyncio.create_task(rec.run())
    row, event = _call()
    rec.submit(row)
    rec.submit(event)
    await rec.flush()
    task.cancel()
    await rec.close()
    got = await db.fetchrow("SELECT * FROM calls WHERE id = $1", row.id)
    assert got["digits"] == "1" and got["path"] == ["welcome", "main_menu"]
    assert (
        await db.fetchval("SELECT detail->>'digit' FROM call_events WHERE call_id = $1", row.id)
        == "1"
    )


async def test_outage_spools_then_replays_once(
    database_dsn: str, db: asyncpg.Connection, tmp_path: Path
) -> None:
    """With the database unreachable nothing blocks; the spool is replayed later, once."""
    dead = f"postgresql://postgres@127.0.0.1:{free_port()}/none"
    down = CallRecorder(dead, tmp_path)
    task = asyncio.create_task(down.run())
    row, event = _call()
    down.submit(row)  # returns at once although the database is away
    down.submit(event)
    await asyncio.sleep(0.5)
    await down.close(timeout=0.2)
    task.cancel()
    assert list(tmp_path.glob("records-*.jsonl"))

    for _ in range(2):  # a second replay of the same records must not duplicate anything
        for f in tmp_path.glob("records-*.jsonl"):
            f.with_name("copy-" + f.name).write_bytes(f.read_bytes())
        up = CallRecorder(database_dsn, tmp_path)
        t = asyncio.create_task(up.run())
        for _ in range(100):
            if not list(tmp_path.glob("records-*")):
                break
            await asyncio.sleep(0.05)
        t.cancel()
        await up.close()
        for f in tmp_path.glob("copy-*.jsonl"):
            f.rename(tmp_path / f.name.removeprefix("copy-"))
    assert await db.fetchval("SELECT count(*) FROM calls WHERE id = $1", row.id) == 1
    assert await db.fetchval("SELECT count(*) FROM call_events WHERE call_id = $1", row.id) == 1
