"""The roll-ups follow the call records (sql/0050_stats.sql): one class per call, counters
moved by the difference between a call's old and new facts, so a replayed spool, a
repeated or an older write never counts twice; Asterisk-only calls are counted once;
the set-based rebuild agrees with the incremental counters."""

from __future__ import annotations

import asyncio
import json
import random
import uuid
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path

import asyncpg
import pytest

from ivr.flow.loader import default_flow_text
from ivr.log import TOKYO
from ivr.published.service import digest
from ivr.stats import cel
from ivr.stats.calendar_fill import fill_calendar_states
from ivr.store.calls import CallRecorder, CallRow, EventRow, to_json, write_one

DEFAULT_DIGEST = digest(default_flow_text())
MAIN_PATH = ("service_check", "welcome", "announcement_check", "main_menu")


async def record_call(
    db: asyncpg.Connection,
    *,
    started: datetime | None = None,
    seconds: float = 30.0,
    caller: str = "09012345678",
    path: Sequence[str] = (*MAIN_PATH, "guide_registration"),
    keys: Sequence[tuple[str, str]] = (("main_menu", "1"),),
    timeouts: Sequence[str] = (),
    outcome: str | None = "caller_hangup",
    calendar: str | None = "open",
    channel: str | None = None,
    flow_version: int | None = None,
    flow_digest: str = DEFAULT_DIGEST,
    sms: str | None = None,
    transfer: str | None = None,
) -> CallRow:
    """Write one call the way the controller's recorder does: the row at the start, the
    flow's events, then the final row (``outcome=None``: still in progress)."""
    rows = call_records(
        started=started,
        seconds=seconds,
        caller=caller,
        path=path,
        keys=keys,
        timeouts=timeouts,
        outcome=outcome,
        calendar=calendar,
        channel=channel,
        flow_version=flow_version,
        flow_digest=flow_digest,
        sms=sms,
        transfer=transfer,
    )
    for rec in rows:
        await write_one(db, rec)
    last = rows[-1] if isinstance(rows[-1], CallRow) else rows[0]
    assert isinstance(last, CallRow)
    return last


def call_records(
    *,
    started: datetime | None = None,
    seconds: float = 30.0,
    caller: str = "09012345678",
    path: Sequence[str] = (*MAIN_PATH, "guide_registration"),
    keys: Sequence[tuple[str, str]] = (("main_menu", "1"),),
    timeouts: Sequence[str] = (),
    outcome: str | None = "caller_hangup",
    calendar: str | None = "open",
    channel: str | None = None,
    flow_version: int | None = None,
    flow_digest: str = DEFAULT_DIGEST,
    sms: str | None = None,
    transfer: str | None = None,
) -> list[CallRow | EventRow]:
    """The records the session submits for such a call, in order."""
    started = started or datetime.now(TOKYO)
    row = CallRow(
        uuid.uuid4(),
        channel or f"test-{uuid.uuid4().hex[:12]}",
        caller,
        "0501234567",
        started,
        answered_at=started,
        flow_version=flow_version,
        flow_digest=flow_digest,
    )
    out: list[CallRow | EventRow] = [row]
    events: list[tuple[str, str, dict[str, str]]] = []
    for i, node in enumerate(path):
        detail = {"type": "menu"}
        if i == 0 and calendar is not None:
            detail["calendar"] = calendar
        events.append(("enter", node, detail))
    events += [("key", node, {"digit": digit, "next": ""}) for node, digit in keys]
    events += [("timeout", node, {}) for node in timeouts]
    if sms is not None:
        events.append(("sms", "send_registration", {"template": "t", "outcome": sms}))
    if transfer is not None:
        events.append(("transfer", "transfer_staff", {"target": "k", "outcome": transfer}))
    out += [
        EventRow(row.id, seq, started, kind, node, detail)
        for seq, (kind, node, detail) in enumerate(events, start=1)
    ]
    if outcome is not None:
        out.append(
            replace(
                row,
                ended_at=started + timedelta(seconds=seconds),
                outcome=outcome,
                path=tuple(path),
                last_node=path[-1] if path else None,
                digits="".join(d for _, d in keys),
                rev=1,
            )
        )
    return out


async def beat(db: asyncpg.Connection, age: float = 0.0, **detail: object) -> None:
    """A controller heartbeat ``age`` seconds old (Asterisk and the trunk fine)."""
    values = {"asterisk": "ok", "trunk": "online", "active_calls": 0, **detail}
    await db.execute(
        """INSERT INTO stats_heartbeat (source, at, started_at, detail)
           VALUES ('controller@test', now() - $1::interval, now() - interval '1 hour', $2::jsonb)
           ON CONFLICT (source) DO UPDATE SET at = EXCLUDED.at, detail = EXCLUDED.detail""",
        timedelta(seconds=age),
        json.dumps(values),
    )


async def clean(db: asyncpg.Connection) -> None:
    """No calls, CEL, heartbeat, SMS, transfers or saved calendar from other tests."""
    await db.execute(
        """TRUNCATE calls, call_events, cel_events, cel_calls, cel_position, stats_heartbeat,
                    sms_outbox, calendar_versions CASCADE"""
    )
    if await db.fetchval("SELECT to_regclass('transfer_attempts')") is not None:
        await db.execute("TRUNCATE transfer_attempts")


def cel_line(
    eventtype: str,
    at: datetime,
    uniqueid: str,
    linkedid: str | None = None,
    *,
    channame: str = "",
    context: str = "inbound",
    exten: str = "s",
    caller: str = "09012345678",
    appname: str = "",
    appdata: str = "",
) -> str:
    """One line as cel_custom writes it (asterisk-conf/cel_custom.conf)."""
    fields = [
        eventtype,
        f"{at.timestamp():.6f}",
        uniqueid,
        linkedid or uniqueid,
        channame or f"PJSIP/trunk-{uniqueid.replace('.', '')[-8:]}",
        context,
        exten,
        caller,
        appname,
        appdata,
    ]
    return ",".join(f'"{f}"' for f in fields) + "\n"


def inbound_cel(
    uniqueid: str,
    start: datetime,
    seconds: float,
    *,
    apology: bool = False,
    caller: str = "09012345678",
) -> list[str]:
    """The CEL lines of an inbound trunk call (held, optionally apologised to)."""
    lines = [
        cel_line("CHAN_START", start, uniqueid, context="from-trunk", exten="0501234567"),
        cel_line("ANSWER", start, uniqueid, appname="Answer", caller=caller),
        cel_line("APP_START", start, uniqueid, appname="Playback", appdata="/s/system/hold"),
    ]
    if apology:
        at = start + timedelta(seconds=20)
        lines.append(
            cel_line("APP_START", at, uniqueid, appname="Playback", appdata="/s/system/fallback")
        )
    end = start + timedelta(seconds=seconds)
    lines += [cel_line("CHAN_END", end, uniqueid), cel_line("LINKEDID_END", end, uniqueid)]
    return lines


async def load_cel(db: asyncpg.Connection, lines: list[str]) -> None:
    events = [cel.parse_line(line.rstrip("\n")) for line in lines]
    async with db.transaction():
        await cel.store(db, events)


async def counters(db: asyncpg.Connection) -> dict[str, object]:
    """Every counter table, without the rows moved back to zero."""
    out: dict[str, object] = {}
    for table in ("stats_hourly", "stats_daily", "stats_funnel"):
        rows = await db.fetch(f"SELECT * FROM {table} WHERE n <> 0")
        out[table] = sorted(tuple(r.values()) for r in rows)
    facts = await db.fetch("SELECT * FROM stats_call ORDER BY channel_id")
    out["stats_call"] = [tuple(r.values()) for r in facts]
    return out


async def classes(db: asyncpg.Connection) -> dict[str, int]:
    rows = await db.fetch(
        "SELECT class, sum(n)::int AS n FROM stats_hourly GROUP BY 1 HAVING sum(n) <> 0"
    )
    return {r["class"]: r["n"] for r in rows}


@pytest.fixture(autouse=True)
async def _clean(db: asyncpg.Connection) -> None:
    await clean(db)


CASES = [
    ("ended after choosing", {}, "ivr_only"),
    ("flow ended by itself", {"outcome": "completed"}, "ivr_only"),
    ("hung up before any choice", {"keys": ()}, "menu_hangup"),
    ("transfer answered", {"outcome": "transferred", "transfer": "answered"}, "transferred"),
    ("transfer not answered", {"transfer": "no_answer"}, "transfer_failed"),
    ("no transfer capability", {"transfer": "unavailable"}, "transfer_failed"),
    ("internal error", {"outcome": "error"}, "error"),
    ("refused, trunk full", {"outcome": "trunk_busy", "keys": ()}, "busy"),
    ("still talking", {"outcome": None}, "in_progress"),
]


@pytest.mark.parametrize(("what", "kwargs", "expected"), CASES, ids=[c[0] for c in CASES])
async def test_each_call_gets_one_class(
    db: asyncpg.Connection, what: str, kwargs: dict[str, object], expected: str
) -> None:
    """A call's class follows its outcome and events (table-driven)."""
    await record_call(db, **kwargs)  # type: ignore[arg-type]
    assert await classes(db) == {expected: 1}, what


async def test_facts_of_a_call(db: asyncpg.Connection) -> None:
    """Distinct nodes, node:key choices and time-outs; where the caller hung up; SMS."""
    await record_call(
        db,
        path=(*MAIN_PATH, "guide_lost", "main_menu", "guide_registration"),
        keys=(("main_menu", "3"), ("guide_lost", "2"), ("main_menu", "1"), ("main_menu", "1")),
        timeouts=("guide_lost", "guide_lost"),
        sms="queued",
        calendar="closed",
    )
    f = await db.fetchrow("SELECT * FROM stats_call")
    assert f["nodes"] == sorted({*MAIN_PATH, "guide_lost", "guide_registration"})
    assert f["options"] == ["guide_lost:2", "main_menu:1", "main_menu:3"]
    assert f["timeouts"] == ["guide_lost"]
    assert f["hangup_node"] == "guide_registration"
    assert f["sms"] is True and f["calendar_state"] == "closed" and f["unseen"] is False
    assert f["flow_group"] == f"d{DEFAULT_DIGEST}"
    reached = await db.fetchval(
        "SELECT n FROM stats_funnel WHERE node = 'main_menu' AND metric = 'reached'"
    )
    assert reached == 1  # one caller, though the menu was entered twice


async def test_replays_and_repeated_writes_never_count_twice(
    database_dsn: str, db: asyncpg.Connection, tmp_path: Path
) -> None:
    """The same records through the recorder, then replayed twice from a spool file (the
    way an outage replays them), then older snapshots: the counters do not move."""
    records = [
        *call_records(keys=()),
        *call_records(sms="queued"),
        *call_records(outcome=None, path=MAIN_PATH, keys=()),
    ]
    recorder = CallRecorder(database_dsn, tmp_path)
    task = asyncio.create_task(recorder.run())
    for rec in records:
        recorder.submit(rec)
    await recorder.flush()
    task.cancel()
    await recorder.close()
    before = await counters(db)
    assert await classes(db) == {"menu_hangup": 1, "ivr_only": 1, "in_progress": 1}

    for _ in range(2):
        spool = tmp_path / f"records-{uuid.uuid4().hex}.jsonl"
        spool.write_text("".join(to_json(r) + "\n" for r in records), encoding="utf-8")
        again = CallRecorder(database_dsn, tmp_path)
        task = asyncio.create_task(again.run())
        await again.flush()
        task.cancel()
        await again.close()
        assert not list(tmp_path.glob("records-*.jsonl"))
    for rec in records:
        if isinstance(rec, CallRow):
            await write_one(db, replace(rec, rev=0, ended_at=None, outcome=None))
    assert await counters(db) == before


async def test_events_that_arrive_after_the_end_are_counted(db: asyncpg.Connection) -> None:
    """A final record written before its events (a replay out of order) is counted
    again when the events come: the choice moves the call from menu_hangup to ivr_only."""
    records = call_records()
    final = records[-1]
    await write_one(db, records[0])
    await write_one(db, final)
    assert await classes(db) == {"menu_hangup": 1}
    for rec in records[1:-1]:
        await write_one(db, rec)
    assert await classes(db) == {"ivr_only": 1}


async def test_asterisk_only_calls_are_counted_once(db: asyncpg.Connection) -> None:
    """CEL alone: an apology, and a caller who left while held, counted as calls no
    controller saw; a CEL call whose record arrives later (a spool replayed after an
    outage) moves to the controller's class, the total unchanged."""
    now = datetime.now(TOKYO)
    await load_cel(db, inbound_cel("1796000000.1", now, 35, apology=True))
    await load_cel(db, inbound_cel("1796000000.2", now, 5))
    await load_cel(db, inbound_cel("1796000000.3", now, 40))
    assert await classes(db) == {"apology": 1, "held_hangup": 2}
    assert await db.fetchval("SELECT sum(n) FROM stats_hourly WHERE unseen") == 3

    await record_call(db, channel="1796000000.3", started=now + timedelta(seconds=2))
    assert await classes(db) == {"apology": 1, "held_hangup": 1, "ivr_only": 1}
    assert await db.fetchval("SELECT sum(n) FROM stats_hourly") == 3
    f = await db.fetchrow("SELECT * FROM stats_call WHERE channel_id = '1796000000.3'")
    assert f["unseen"] is False
    assert abs(f["started_at"] - now) < timedelta(milliseconds=1)  # Asterisk's time wins


async def test_rebuild_agrees_with_the_incremental_counters(db: asyncpg.Connection) -> None:
    """Two hundred varied calls (records, CEL, both, open ones, late calendar fills): the
    set-based rebuild gives exactly the counters the triggers kept."""
    rng = random.Random(50)
    base = datetime(2026, 3, 1, 8, 0, tzinfo=TOKYO)
    for i in range(200):
        started = base + timedelta(hours=rng.randrange(0, 24 * 40), seconds=rng.randrange(3600))
        channel = f"17{i:08d}.{i}"
        kind = rng.random()
        if kind < 0.15:
            await load_cel(db, inbound_cel(channel, started, 30, apology=rng.random() < 0.5))
            continue
        keys = rng.choice([(), (("main_menu", "1"),), (("main_menu", "0"), ("staff", "1"))])
        await record_call(
            db,
            started=started,
            channel=channel,
            keys=keys,
            timeouts=rng.choice([(), ("main_menu",)]),
            outcome=rng.choice(["caller_hangup", "completed", "error", "transferred", None]),
            calendar=rng.choice(["open", "closed", "holiday", None]),
            flow_version=None,
            flow_digest=rng.choice([DEFAULT_DIGEST, "0123456789abcdef"]),
            sms=rng.choice([None, "queued", "daily_limit"]),
            transfer=rng.choice([None, None, "answered", "busy"]),
        )
        if kind > 0.85:
            await load_cel(db, inbound_cel(channel, started, 30))
    await fill_calendar_states(db)
    incremental = await counters(db)
    assert await db.fetchval("SELECT stats_rebuild()") == 200
    rebuilt = await counters(db)
    for table, rows in rebuilt.items():
        assert isinstance(rows, list)
        old = incremental[table]
        assert isinstance(old, list)
        assert [r for r in rows if r not in old] == [r for r in old if r not in rows], table


async def test_a_change_notifies_and_a_repeat_does_not(db: asyncpg.Connection) -> None:
    """NOTIFY ivr_stats comes with a call whose facts changed, not with a repeated write."""
    got: list[str] = []
    await db.add_listener("ivr_stats", lambda *args: got.append(args[3]))
    final = await record_call(db)
    await asyncio.sleep(0.1)
    assert got and set(got) == {"calls"}
    got.clear()
    await write_one(db, final)
    await asyncio.sleep(0.1)
    assert got == []


async def test_sms_requests_counted_by_status(db: asyncpg.Connection) -> None:
    """Inserts, status changes, deletes and a truncate of the outbox move the daily counts."""
    call = await record_call(db, sms="queued")
    ids = [uuid.uuid4() for _ in range(3)]
    for i, sid in enumerate(ids):
        await db.execute(
            """INSERT INTO sms_outbox (id, call_id, node, template, number, body, parts,
                                       requested_at)
               VALUES ($1, $2, $3, 't', '09012345678', 'x', 1, now())""",
            sid,
            call.id,
            f"n{i}",
        )

    async def by_status() -> dict[str, int]:
        rows = await db.fetch("SELECT status, n FROM stats_sms_daily WHERE n <> 0")
        return {r["status"]: r["n"] for r in rows}

    assert await by_status() == {"queued": 3}
    await db.execute("UPDATE sms_outbox SET status = 'sent' WHERE id = $1", ids[0])
    await db.execute("UPDATE sms_outbox SET attempts = attempts + 1")  # status unchanged
    await db.execute("UPDATE sms_outbox SET status = 'failed' WHERE id = $1", ids[1])
    assert await by_status() == {"queued": 1, "sent": 1, "failed": 1}
    await db.execute("DELETE FROM sms_outbox WHERE id = $1", ids[2])
    assert await by_status() == {"sent": 1, "failed": 1}
    await db.execute("TRUNCATE sms_outbox")
    assert await by_status() == {}


async def test_calendar_state_filled_from_the_calendar_then_in_service(
    db: asyncpg.Connection,
) -> None:
    """A call whose first event carries no calendar state gets the one the calendar in
    service at its start gave: before any saved version the shipped default (weekdays
    8:45-17:15), afterwards the newest version saved before the call."""
    monday_10 = datetime(2026, 6, 1, 10, 0, tzinfo=TOKYO)
    first = await record_call(db, started=monday_10, calendar=None)
    assert await db.fetchval("SELECT calendar_state FROM stats_call") is None
    closed_all_week = {
        "version": 1,
        "weekly": {d: [] for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")},
    }
    await db.execute(
        "INSERT INTO calendar_versions (body, created_at) VALUES ($1::jsonb, $2)",
        json.dumps(closed_all_week),
        monday_10 + timedelta(days=1),
    )
    second = await record_call(db, started=monday_10 + timedelta(days=7), calendar=None)
    assert await fill_calendar_states(db) == 2
    states = {
        r["call_id"]: r["calendar_state"]
        for r in await db.fetch("SELECT call_id, calendar_state FROM stats_call")
    }
    assert states == {first.id: "open", second.id: "closed"}
    assert await db.fetchval("SELECT calendar_state FROM calls WHERE id = $1", first.id) == "open"
    assert await classes(db) == {"ivr_only": 2}
    assert await db.fetchval("SELECT sum(n) FROM stats_hourly WHERE calendar_state = ''") in (
        0,
        None,
    )


async def test_a_refresh_reads_only_its_own_calls_events(db: asyncpg.Connection) -> None:
    """Every write of a call's record refreshes its facts: that must read the call's own
    events, not aggregate every call's (which took seconds a call at 5 million events).
    Counted with PostgreSQL's per-transaction tuple counters; sequential scans are
    disabled so that the size of a test table cannot hide a whole-table read."""
    calls = [await record_call(db) for _ in range(30)]
    own = await db.fetchval("SELECT count(*) FROM call_events WHERE call_id = $1", calls[0].id)
    everyone = await db.fetchval("SELECT count(*) FROM call_events")
    assert everyone >= 30 * own > 0
    # Rows a sequential or bitmap scan read, and entries an index scan returned.
    read = """SELECT pg_stat_get_xact_tuples_returned('call_events'::regclass)
                     + pg_stat_get_xact_tuples_fetched('call_events'::regclass)
                     + pg_stat_get_xact_tuples_returned('call_events_pkey'::regclass)"""
    async with db.transaction():
        await db.execute("SET LOCAL enable_seqscan = off")
        before = await db.fetchval(read)
        fact = await db.fetchrow(
            "SELECT * FROM stats_compute(ARRAY[$1::text])", calls[0].channel_id
        )
        after = await db.fetchval(read)
    assert fact is not None and fact["options"] == ["main_menu:1"]
    # Its own rows, counted up to twice (index entry and heap row): 12 here. The
    # whole-table aggregation this replaced counted 85.
    assert after - before <= 3 * own, (after - before, own, everyone)
