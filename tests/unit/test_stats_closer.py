"""Calls that ended while no controller ran are closed from CEL, at start-up and later
with a grace period; the controller's own final record still has the last word. The
controller's stats task loads CEL, beats, and survives a database that is away."""

from __future__ import annotations

import asyncio
import json
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from ivr.dev.postgres import free_port
from ivr.log import TOKYO
from ivr.stats.closer import NOTE, close_ended_calls
from ivr.stats.service import StatsService
from ivr.store.calls import write_one
from tests.unit.test_stats_rollup import (
    MAIN_PATH,
    classes,
    clean,
    inbound_cel,
    load_cel,
    record_call,
)


@pytest.fixture(autouse=True)
async def _clean(db: asyncpg.Connection) -> None:
    await clean(db)


async def test_an_open_record_whose_channel_ended_is_closed(db: asyncpg.Connection) -> None:
    """The controller died mid-call; CEL shows the caller hung up (after the apology):
    the record gets CEL's end time, the outcome, a note and one more rev."""
    start = datetime.now(TOKYO) - timedelta(minutes=5)
    open_row = await record_call(
        db, channel="1796200000.1", started=start, outcome=None, path=MAIN_PATH, keys=()
    )
    await load_cel(db, inbound_cel("1796200000.1", start, 40, apology=True))
    await load_cel(db, inbound_cel("1796200000.2", start, 40))  # no record: nothing to close
    closed = await close_ended_calls(db)
    assert [(c.id, c.outcome) for c in closed] == [(open_row.id, "apology")]
    row = await db.fetchrow("SELECT * FROM calls WHERE id = $1", open_row.id)
    assert row["ended_at"] == (start + timedelta(seconds=40)).replace(
        microsecond=row["ended_at"].microsecond
    )
    assert row["rev"] == open_row.rev + 1 and NOTE in row["record_note"]
    assert await close_ended_calls(db) == []  # once
    assert await classes(db) == {"apology": 1, "held_hangup": 1}

    # A late replay of the old open snapshot cannot reopen it ...
    await write_one(db, open_row)
    assert (await db.fetchrow("SELECT ended_at FROM calls WHERE id = $1", open_row.id))[0]
    # ... but a controller's own final record (its rev is as high) has the last word.
    final = replace(open_row, ended_at=row["ended_at"], outcome="completed", rev=row["rev"])
    await write_one(db, final)
    assert await db.fetchval("SELECT outcome FROM calls WHERE id = $1", open_row.id) == "completed"


async def test_a_running_controllers_calls_get_a_grace_period(db: asyncpg.Connection) -> None:
    """A channel that ended seconds ago is left to the controller that runs it."""
    start = datetime.now(TOKYO) - timedelta(seconds=20)
    await record_call(db, channel="1796200000.3", started=start, outcome=None, keys=())
    await load_cel(db, inbound_cel("1796200000.3", start, 15))
    assert await close_ended_calls(db, timedelta(seconds=60)) == []
    closed = await close_ended_calls(db)
    assert [c.outcome for c in closed] == ["caller_hangup"]


async def test_startup_loads_cel_then_closes(database_dsn: str, tmp_path: Path) -> None:
    """Start-up reads what Asterisk logged while no controller ran, then closes."""
    db = await asyncpg.connect(database_dsn)
    try:
        start = datetime.now(TOKYO) - timedelta(minutes=2)
        row = await record_call(db, channel="1796200000.4", started=start, outcome=None)
        path = tmp_path / "cel-ivr.csv"
        path.write_text("".join(inbound_cel("1796200000.4", start, 30)))
        service = StatsService(database_dsn, path)
        await service.startup()
        assert await db.fetchval("SELECT outcome FROM calls WHERE id = $1", row.id) == (
            "caller_hangup"
        )
        await service.close()
    finally:
        await db.close()


async def test_run_beats_loads_and_keeps_going(
    database_dsn: str, db: asyncpg.Connection, tmp_path: Path
) -> None:
    """The long-lived task writes the heartbeat with what the probe and the controller
    say, loads new CEL lines within a second, and a database that is away only delays
    it (it never ends by itself)."""
    path = tmp_path / "cel-ivr.csv"
    path.write_text("")

    async def probe() -> dict[str, Any]:
        return {"asterisk": "ok", "trunk": "online"}

    service = StatsService(
        database_dsn,
        path,
        probe=probe,
        status=lambda: {"active_calls": 3},
        source="controller@unit",
        cel_interval=0.1,
        heartbeat_interval=0.2,
    )
    task = asyncio.create_task(service.run())
    try:
        await asyncio.sleep(0.5)
        beat = await db.fetchrow("SELECT * FROM stats_heartbeat WHERE source = 'controller@unit'")
        detail = json.loads(beat["detail"])
        assert detail["active_calls"] == 3 and detail["trunk"] == "online"
        with path.open("a") as f:
            f.write("".join(inbound_cel("1796200000.9", datetime.now(TOKYO), 3)))
        await asyncio.sleep(0.5)
        assert await db.fetchval("SELECT count(*) FROM cel_calls") == 1
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    away = StatsService(f"postgresql://postgres@127.0.0.1:{free_port()}/none", None)
    task = asyncio.create_task(away.run())
    await asyncio.sleep(0.3)
    assert not task.done()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await away.startup(timeout=2)  # logs, never raises
    await away.close()
