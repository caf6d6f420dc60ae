"""Capacity slots in PostgreSQL: concurrent claims from several controllers never
over-book a target, lapsed slots free themselves, reconciliation frees a crashed
controller's slots, and while the database is away each controller counts its own and
writes them once it is back. Also the attempts' writer: idempotent, never blocking,
spooled at shutdown while the database is away."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path

import asyncpg
import pytest

from ivr.log import TOKYO
from ivr.transfer.records import AttemptRow, AttemptWriter
from ivr.transfer.slots import Slots
from tests.e2e.tcpproxy import TcpProxy

NODE = "52:54:00:12:34:56"


@pytest.fixture
async def conn(db: asyncpg.Connection) -> AsyncIterator[asyncpg.Connection]:
    """The shared database, with no slots or attempts before and after (the dashboard's
    tests read an empty transfer_attempts as "not set up")."""
    await db.execute("DELETE FROM transfer_slots; DELETE FROM transfer_attempts")
    yield db
    await db.execute("DELETE FROM transfer_slots; DELETE FROM transfer_attempts")


def _slots(dsn: str, **kw: float) -> Slots:
    s = Slots(dsn, **kw)
    s.node = NODE
    return s


async def test_concurrent_claims_never_over_book(
    conn: asyncpg.Connection, database_dsn: str
) -> None:
    """Five controllers claim 30 slots of one target at once (limit 4): exactly four
    succeed, and the table holds exactly four."""
    controllers = [_slots(database_dsn) for _ in range(5)]
    try:
        claims = [
            controllers[i % 5].claim(f"chan-{i}", "kokuho", 4, uuid.uuid4(), uuid.uuid4())
            for i in range(30)
        ]
        results = await asyncio.gather(*claims)
        assert sum(results) == 4
        assert (
            await conn.fetchval("SELECT count(*) FROM transfer_slots WHERE target = 'kokuho'") == 4
        )
        # Another target is counted on its own; a released slot is free again.
        assert await controllers[0].claim("chan-x", "nenkin", 1, uuid.uuid4(), uuid.uuid4())
        holder = next(c for c in controllers for ch in c.held if c.held[ch].target == "kokuho")
        channel = next(ch for ch in holder.held if holder.held[ch].target == "kokuho")
        await holder.release(channel)
        assert await controllers[4].claim("chan-late", "kokuho", 4, uuid.uuid4(), uuid.uuid4())
        assert not await controllers[3].claim("chan-later", "kokuho", 4, uuid.uuid4(), uuid.uuid4())
    finally:
        for c in controllers:
            await c.close()


async def test_lapsed_slots_free_themselves(conn: asyncpg.Connection, database_dsn: str) -> None:
    """A slot nobody renews (its controller died) stops counting when it lapses."""
    dead, alive = _slots(database_dsn, ttl=1.0), _slots(database_dsn)
    try:
        assert await dead.claim("chan-dead", "kokuho", 1, uuid.uuid4(), uuid.uuid4())
        assert not await alive.claim("chan-new", "kokuho", 1, uuid.uuid4(), uuid.uuid4())
        await asyncio.sleep(1.2)
        assert await alive.claim("chan-new", "kokuho", 1, uuid.uuid4(), uuid.uuid4())
        assert await conn.fetchval("SELECT count(*) FROM transfer_slots") == 1  # lapsed one gone
    finally:
        await dead.close()
        await alive.close()


async def test_reconcile_keeps_live_channels_and_frees_the_rest(
    conn: asyncpg.Connection, database_dsn: str
) -> None:
    """After a restart, this Asterisk's slots whose channels are gone are freed (their
    open attempts marked ended_unseen); live ones are kept and renewed; another
    Asterisk's slots are left to their own controller."""
    attempt = uuid.uuid4()
    await conn.execute(
        "INSERT INTO transfer_attempts (id, call_id, channel_id, target, started_at)"
        " VALUES ($1, $2, 'gone', 'kokuho', now())",
        attempt,
        uuid.uuid4(),
    )
    for channel, node, attempt_id in (
        ("gone", NODE, attempt),
        ("talking", NODE, uuid.uuid4()),
        ("elsewhere", "other-node", uuid.uuid4()),
    ):
        await conn.execute(
            "INSERT INTO transfer_slots (channel_id, node, target, attempt_id, call_id, expires_at)"
            " VALUES ($1, $2, 'kokuho', $3, $4, now() + interval '1 min')",
            channel,
            node,
            attempt_id,
            uuid.uuid4(),
        )
    s = _slots(database_dsn)
    try:
        freed = await s.reconcile({"talking"})
        assert [f.channel_id for f in freed] == ["gone"]
        rows = await conn.fetch("SELECT channel_id FROM transfer_slots ORDER BY 1")
        assert [r["channel_id"] for r in rows] == ["elsewhere", "talking"]
        outcome = await conn.fetchval(
            "SELECT outcome FROM transfer_attempts WHERE id = $1", attempt
        )
        assert outcome == "ended_unseen"
    finally:
        await s.close()


async def test_database_away_counts_locally_then_writes_back(
    conn: asyncpg.Connection, database_dsn: str
) -> None:
    """With PostgreSQL unreachable a claim is decided on this controller's own count
    (within db_timeout); once it is back, renewal writes the slot and forgets released
    ones."""
    host, rest = database_dsn.rsplit("@", 1)
    port = int(rest.split("/", 1)[0].rsplit(":", 1)[1])
    proxy = TcpProxy(port)
    await proxy.start()
    dsn = f"{host}@127.0.0.1:{proxy.port}/{rest.split('/', 1)[1]}"
    s = _slots(dsn, db_timeout=0.3, ttl=30)
    try:
        loop = asyncio.get_running_loop()
        proxy.block(2.0)
        started = loop.time()
        assert await s.claim("chan-1", "kokuho", 2, uuid.uuid4(), uuid.uuid4())
        assert await s.claim("chan-2", "kokuho", 2, uuid.uuid4(), uuid.uuid4())
        assert not await s.claim("chan-3", "kokuho", 2, uuid.uuid4(), uuid.uuid4())
        assert loop.time() - started < 1.5
        await s.release("chan-2")
        assert await conn.fetchval("SELECT count(*) FROM transfer_slots") == 0
        await asyncio.sleep(max(0.0, started + 2.1 - loop.time()))  # the network is back
        await s._sync()  # what the renewal task does every third of the slot time
        rows = await conn.fetch("SELECT channel_id FROM transfer_slots ORDER BY 1")
        assert [r["channel_id"] for r in rows] == ["chan-1"]
    finally:
        await s.close()
        await proxy.close()


def _row(rev: int, outcome: str | None = None, attempt: uuid.UUID | None = None) -> AttemptRow:
    return AttemptRow(
        id=attempt or uuid.UUID(int=1),
        call_id=uuid.UUID(int=2),
        channel_id="chan-1",
        node="staff",
        target="kokuho",
        started_at=datetime(2026, 6, 1, 10, 0, tzinfo=TOKYO),
        number="0312345678",
        endpoint="trunk",
        outcome=outcome,
        rev=rev,
    )


async def test_attempt_writer_is_idempotent_and_spools_at_shutdown(
    conn: asyncpg.Connection, database_dsn: str, tmp_path: Path
) -> None:
    """Rows are upserted by id and never regress (an older revision after a newer one
    changes nothing); rows still waiting when the controller stops (database away) go to
    the spool folder and are written at the next start."""
    attempt = uuid.uuid4()
    writer = AttemptWriter(database_dsn, tmp_path)
    task = asyncio.create_task(writer.run())
    try:
        writer.submit(_row(1, attempt=attempt))
        writer.submit(_row(3, "busy", attempt))
        await writer.flush()
        writer.submit(_row(2, attempt=attempt))  # late: must not undo the outcome
        await writer.flush()
        row = await conn.fetchrow(
            "SELECT outcome, rev FROM transfer_attempts WHERE id = $1", attempt
        )
        assert (row["outcome"], row["rev"]) == ("busy", 3)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await writer.close()

    later = uuid.uuid4()
    away = AttemptWriter("postgresql://ivr@127.0.0.1:1/none", tmp_path)
    away.submit(_row(3, "answered", later))
    await away.close(timeout=0.2)
    assert len(list(tmp_path.glob("transfers-*.jsonl"))) == 1
    back = AttemptWriter(database_dsn, tmp_path)
    task = asyncio.create_task(back.run())
    try:
        for _ in range(100):
            if await conn.fetchval("SELECT outcome FROM transfer_attempts WHERE id = $1", later):
                break
            await asyncio.sleep(0.05)
        assert await conn.fetchval(
            "SELECT outcome FROM transfer_attempts WHERE id = $1", later
        ) == ("answered")
        assert list(tmp_path.glob("transfers-*.jsonl")) == []
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await back.close()
