"""Call records are never lost to a reference the database lacks or to a neighbour's
bad data, and dead letters come back with one command."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import uuid
from dataclasses import replace
from datetime import datetime
from pathlib import Path

import asyncpg
import yaml

from ivr.log import TOKYO
from ivr.store.calls import CallRecorder, CallRow, EventRow
from ivr.store.replay import replay_dead_letters


def _row(**kw: object) -> CallRow:
    now = datetime.now(TOKYO)
    base = CallRow(uuid.uuid4(), f"chan-{uuid.uuid4().hex[:8]}", "09012345678", "0501234567", now)
    return replace(base, **kw)  # type: ignore[arg-type]


async def _drain(rec: CallRecorder) -> None:
    task = asyncio.create_task(rec.run())
    await rec.flush(10)
    await rec.close()
    task.cancel()


async def test_one_poisoned_record_in_a_batch_of_500(
    database_dsn: str, db: asyncpg.Connection, tmp_path: Path
) -> None:
    """A batch of 500 with one record PostgreSQL refuses: 499 written, one set aside
    with its reason, and no other call's records go with it."""
    rec = CallRecorder(database_dsn, tmp_path)
    row = _row()
    records: list[CallRow | EventRow] = [row]
    for seq in range(1, 500):
        detail = {"digit": "1"} if seq != 250 else {"digit": "\u0000"}  # jsonb refuses NUL
        records.append(EventRow(row.id, seq, row.started_at, "key", "menu", detail))
    for r in records:
        rec.submit(r)  # all queued before the writer starts: one batch of 500
    await _drain(rec)
    assert rec.written == 499 and rec.dead_letters == 1
    assert await db.fetchval("SELECT count(*) FROM call_events WHERE call_id = $1", row.id) == 498
    [dead] = tmp_path.glob("deadletter-*.jsonl")
    [line] = [json.loads(x) for x in dead.read_text().splitlines()]
    assert line["seq"] == 250
    assert line["error"].startswith("UntranslatableCharacterError")


async def test_unknown_flow_version_is_cleared_not_dead_lettered(
    database_dsn: str, db: asyncpg.Connection, tmp_path: Path
) -> None:
    """A call naming a flow version this database lacks is stored with the version
    cleared, the reason noted and the flow digest kept; its events are stored too."""
    rec = CallRecorder(database_dsn, tmp_path)
    row = _row(flow_version=987654, flow_digest="0123456789abcdef", outcome="completed")
    good = _row(outcome="completed")
    events = [EventRow(row.id, 1, row.started_at, "enter", "welcome")]
    for r in (row, *events, good):
        rec.submit(r)
    await _drain(rec)
    got = await db.fetchrow("SELECT * FROM calls WHERE id = $1", row.id)
    assert got["flow_version"] is None and got["flow_digest"] == "0123456789abcdef"
    assert "987654" in got["record_note"]
    assert await db.fetchval("SELECT count(*) FROM call_events WHERE call_id = $1", row.id) == 1
    assert await db.fetchval("SELECT count(*) FROM calls WHERE id = $1", good.id) == 1
    assert not list(tmp_path.glob("deadletter-*")) and rec.dead_letters == 0


async def test_replay_loads_dead_letters_once_their_cause_is_fixed(
    database_dsn: str, db: asyncpg.Connection, tmp_path: Path
) -> None:
    """Events dead-lettered while their call row was missing load after it appears;
    replaying twice adds nothing; the files are gone afterwards."""
    row = _row(outcome="completed")
    rec = CallRecorder(database_dsn, tmp_path)
    for seq in (1, 2, 3):
        rec.submit(EventRow(row.id, seq, row.started_at, "enter", f"n{seq}"))
    await _drain(rec)
    assert rec.dead_letters == 3 and list(tmp_path.glob("deadletter-*.jsonl"))

    again = CallRecorder(database_dsn, tmp_path)
    task = asyncio.create_task(again.run())
    await asyncio.sleep(0.2)
    assert again.dead_letters == 3  # counted at start from the files left behind
    again.submit(row)  # the cause is fixed: the call row arrives
    await again.flush()
    await again.close()
    task.cancel()

    report = await replay_dead_letters(database_dsn, tmp_path)
    assert report.loaded == 3 and report.still_refused == 0
    assert not list(tmp_path.glob("deadletter-*"))
    second = await replay_dead_letters(database_dsn, tmp_path)
    assert second.files == 0 and second.loaded == 0
    assert await db.fetchval("SELECT count(*) FROM call_events WHERE call_id = $1", row.id) == 3


async def test_replay_command_reports_what_it_still_refuses(
    database_dsn: str, db: asyncpg.Connection, tmp_path: Path
) -> None:
    """`ivr records replay` loads what it can, keeps the rest with the reason, and
    says how many of each."""
    spool = tmp_path / "spool"
    ok = _row(outcome="completed")
    rec = CallRecorder(database_dsn, spool)
    orphan = EventRow(uuid.uuid4(), 1, ok.started_at, "enter", "x")  # its call never comes
    late = EventRow(ok.id, 1, ok.started_at, "enter", "welcome")
    rec.submit(orphan)
    rec.submit(late)
    await _drain(rec)
    await db.execute(
        "INSERT INTO calls (id, channel_id, started_at) VALUES ($1, $2, $3)",
        ok.id,
        ok.channel_id,
        ok.started_at,
    )
    config = tmp_path / "ivr.yaml"
    config.write_text(yaml.safe_dump({"database": {"spool_dir": str(spool)}}))
    env = {**os.environ, "IVR_DATABASE_URL": database_dsn}
    cmd = [sys.executable, "-m", "ivr", "--config", str(config), "records", "replay"]
    out = await asyncio.to_thread(
        subprocess.run, cmd, env=env, capture_output=True, text=True, check=False
    )
    assert out.returncode == 1, out.stderr
    assert "loaded 1 records" in out.stdout and "still refused: 1 records" in out.stdout
    assert "ForeignKeyViolation" in out.stdout
    assert len(list(spool.glob("deadletter-*.jsonl"))) == 1  # only the refused one, kept
    assert await db.fetchval("SELECT count(*) FROM call_events WHERE call_id = $1", ok.id) == 1
