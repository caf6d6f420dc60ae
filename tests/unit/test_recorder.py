"""Call records reach PostgreSQL off the call path, survive an outage via the spool,
and replay idempotently."""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from dataclasses import replace
from datetime import datetime
from pathlib import Path

import asyncpg
import pytest

from ivr.dev import postgres
from ivr.dev.postgres import free_port
from ivr.log import TOKYO
from ivr.store import calls
from ivr.store.calls import CallRecorder, CallRow, EventRow, to_json
from ivr.store.migrate import migrate


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


def _events(row: CallRow, n: int) -> list[EventRow]:
    return [EventRow(row.id, i, row.started_at, "enter", f"n{i}") for i in range(1, n + 1)]


async def _run_until_idle(rec: CallRecorder, timeout: float = 5.0) -> asyncio.Task[None]:
    task = asyncio.create_task(rec.run())
    await rec.flush(timeout)
    return task


async def _stop(rec: CallRecorder, task: asyncio.Task[None]) -> None:
    await rec.close()
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


async def test_overflow_keeps_order(
    database_dsn: str, db: asyncpg.Connection, tmp_path: Path
) -> None:
    """A full queue spools in submission order, so events never precede their call row."""
    rec = CallRecorder(database_dsn, tmp_path, max_queue=3)
    task = asyncio.create_task(rec.run())
    await asyncio.sleep(0.1)  # the writer now waits on the empty queue
    calls = []
    for _ in range(5):  # submitted in one go: the queue overflows into the spool
        row, _event = _call()
        start = replace(row, ended_at=None, outcome=None)
        for r in (start, *_events(row, 4), replace(row, rev=1)):
            rec.submit(r)
        calls.append(row)
    assert rec.spool_depth > 0  # written to disk by the flusher thread, not by submit()
    await rec.flush()
    assert rec.backlog == 0 and rec.written == 30
    await _stop(rec, task)
    assert not list(tmp_path.iterdir())  # spool replayed; nothing dead-lettered
    ids = [c.id for c in calls]
    got = await db.fetch("SELECT outcome FROM calls WHERE id = ANY($1)", ids)
    assert [g["outcome"] for g in got] == ["completed"] * 5
    assert await db.fetchval("SELECT count(*) FROM call_events WHERE call_id = ANY($1)", ids) == 20


async def test_overflow_before_start_replays_in_order(
    database_dsn: str, db: asyncpg.Connection, tmp_path: Path
) -> None:
    """Records queued before an overflow reach the database before those spooled after it."""
    rec = CallRecorder(database_dsn, tmp_path, max_queue=2)
    row, _event = _call()
    for r in (replace(row, ended_at=None, outcome=None), *_events(row, 3), replace(row, rev=1)):
        rec.submit(r)  # the writer is not running yet: the call row is queued, then spooled
    task = await _run_until_idle(rec)
    await _stop(rec, task)
    assert not list(tmp_path.iterdir())
    assert await db.fetchval("SELECT outcome FROM calls WHERE id = $1", row.id) == "completed"
    assert await db.fetchval("SELECT count(*) FROM call_events WHERE call_id = $1", row.id) == 3


async def test_close_while_overflowing_spools_pending_batch_first(
    database_dsn: str, db: asyncpg.Connection, tmp_path: Path
) -> None:
    """At close, the batch the writer could not write is spooled ahead of the newer spool."""
    dead = f"postgresql://postgres@127.0.0.1:{free_port()}/none"
    down = CallRecorder(dead, tmp_path, max_queue=2)
    task = asyncio.create_task(down.run())
    row, _event = _call()
    down.submit(row)
    await asyncio.sleep(0.3)  # the writer holds the call row as its pending batch
    for e in _events(row, 4):
        down.submit(e)  # the queue overflows: these go to the spool
    await _stop(down, task)
    assert len(list(tmp_path.glob("records-*.jsonl"))) == 2

    up = CallRecorder(database_dsn, tmp_path)
    t = await _run_until_idle(up)
    await _stop(up, t)
    assert not list(tmp_path.iterdir())
    assert await db.fetchval("SELECT count(*) FROM call_events WHERE call_id = $1", row.id) == 4


async def test_refused_records_are_dead_lettered(
    database_dsn: str, db: asyncpg.Connection, tmp_path: Path
) -> None:
    """Records the database refuses for good go to a dead-letter file and block nothing."""
    rec = CallRecorder(database_dsn, tmp_path)
    row, event = _call()
    orphan = EventRow(uuid.uuid4(), 1, row.started_at, "key", "x")  # no such call: FK error
    too_big = EventRow(row.id, 2**40, row.started_at, "key", "x")  # not an integer column value
    for r in (row, orphan, event, too_big):
        rec.submit(r)
    task = await _run_until_idle(rec)
    later, later_event = _call()
    rec.submit(later)
    rec.submit(later_event)
    await rec.flush()
    await _stop(rec, task)
    assert rec.written == 4
    [dead] = tmp_path.glob("deadletter-*.jsonl")
    lines = [json.loads(x) for x in dead.read_text().splitlines()]
    assert [d["seq"] for d in lines] == [1, 2**40]
    assert "ForeignKeyViolation" in lines[0]["error"]
    assert await db.fetchval("SELECT count(*) FROM calls WHERE id = ANY($1)", [row.id, later.id])
    assert await db.fetchval("SELECT count(*) FROM call_events WHERE call_id = $1", later.id) == 1


async def test_unmigrated_schema_is_retried_not_dead_lettered(
    pg_admin_dsn: str, tmp_path: Path
) -> None:
    """Before the schema exists records wait (transient error), then are written."""
    name = f"ivr_test_{uuid.uuid4().hex[:10]}"
    dsn = await postgres.create_database(pg_admin_dsn, name)
    try:
        rec = CallRecorder(dsn, tmp_path)
        task = asyncio.create_task(rec.run())
        row, event = _call()
        rec.submit(row)
        rec.submit(event)
        await asyncio.sleep(0.5)
        assert rec.backlog == 2 and not list(tmp_path.iterdir())
        conn = await asyncpg.connect(dsn)
        try:
            await migrate(conn)
            await rec.flush(timeout=15)
            assert await conn.fetchval("SELECT count(*) FROM call_events") == 1
        finally:
            await conn.close()
        await _stop(rec, task)
        assert not list(tmp_path.iterdir())
    finally:
        await postgres.drop_database(pg_admin_dsn, name)


async def test_stale_snapshot_does_not_overwrite(
    database_dsn: str, db: asyncpg.Connection, tmp_path: Path
) -> None:
    """A late older snapshot (lower rev) leaves the newer stored one as it is."""
    rec = CallRecorder(database_dsn, tmp_path)
    task = asyncio.create_task(rec.run())
    row, _event = _call()
    rec.submit(replace(row, rev=2))
    rec.submit(replace(row, ended_at=None, outcome=None, rev=1))
    await rec.flush()
    await _stop(rec, task)
    got = await db.fetchrow("SELECT outcome, ended_at, rev FROM calls WHERE id = $1", row.id)
    assert got["outcome"] == "completed" and got["ended_at"] is not None and got["rev"] == 2


async def test_spool_names_unique_and_crash_leftovers_replayed(
    database_dsn: str, db: asyncpg.Connection, tmp_path: Path
) -> None:
    """Spool files never share a name, and a ``.replaying`` file left by a crash is replayed."""
    dead = f"postgresql://postgres@127.0.0.1:{free_port()}/none"
    row, event = _call()
    for r in (row, event):  # two runs with the same PID (as in Docker) while the DB is down
        down = CallRecorder(dead, tmp_path)
        down.submit(r)
        await down.close(timeout=0)
    assert len(list(tmp_path.glob("records-*.jsonl"))) == 2
    older, older_event = _call()
    (tmp_path / "records-1.replaying").write_text(
        "\n".join(to_json(r) for r in (older, older_event)) + "\n"
    )
    up = CallRecorder(database_dsn, tmp_path)
    task = await _run_until_idle(up)
    await _stop(up, task)
    assert not list(tmp_path.iterdir())
    ids = [row.id, older.id]
    assert await db.fetchval("SELECT count(*) FROM call_events WHERE call_id = ANY($1)", ids) == 2


async def test_torn_lines_are_set_aside(
    database_dsn: str, db: asyncpg.Connection, tmp_path: Path
) -> None:
    """Unparseable spool lines go to a bad-lines file; the rest is replayed and writing goes on."""
    row, event = _call()
    good = "\n".join(to_json(r) for r in (row, event)).encode()
    (tmp_path / "records-7.jsonl").write_bytes(good + b'\n\xff\xfe\n{"type": "event", "call_')
    rec = CallRecorder(database_dsn, tmp_path)
    task = await _run_until_idle(rec)
    later, _e = _call()
    rec.submit(later)
    await rec.flush()
    await _stop(rec, task)
    [bad] = tmp_path.glob("bad-*.jsonl")
    assert len(bad.read_text().splitlines()) == 2
    assert not list(tmp_path.glob("records-*"))
    assert await db.fetchval("SELECT count(*) FROM call_events WHERE call_id = $1", row.id) == 1
    assert await db.fetchval("SELECT count(*) FROM calls WHERE id = $1", later.id) == 1


async def test_writer_survives_unexpected_errors(
    database_dsn: str, db: asyncpg.Connection, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An unexpected exception in the writer is logged and retried; the task never dies."""
    real = calls.execute_all
    failures = [RuntimeError("boom"), KeyError("x")]

    async def flaky(conn: asyncpg.Connection, records: list[calls.Record]) -> None:
        if failures:
            raise failures.pop(0)
        await real(conn, records)

    monkeypatch.setattr(calls, "execute_all", flaky)
    rec = CallRecorder(database_dsn, tmp_path)
    task = asyncio.create_task(rec.run())
    row, _event = _call()
    rec.submit(row)
    await rec.flush()
    assert not task.done() and not failures
    await _stop(rec, task)
    assert await db.fetchval("SELECT count(*) FROM calls WHERE id = $1", row.id) == 1
