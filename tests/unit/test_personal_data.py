"""docs/personal-data.md is the inventory of every place a phone number is kept: a
landline caller's call that keys in a mobile number, written by the real engine,
recorder, spool and outbox code into a fresh database and spool, leaves each number
only where the inventory lists it (the keyed one in the outbox, never in ``calls``).

The scanning helpers here are shared with tests/e2e/test_personal_data.py.
"""

from __future__ import annotations

import fnmatch
import re
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import asyncpg

from ivr.flow.commands import Command, Record, SendSms
from ivr.flow.engine import Engine
from ivr.flow.events import ActionResult, DigitPressed, Event, PlaybackFinished, TimerFired
from ivr.flow.loader import load_flow_file
from ivr.flow.state import CallContext, CallState, Phase
from ivr.log import TOKYO
from ivr.sms.outbox import SmsRequest, insert, outbox_id
from ivr.sms.spool import RequestSpool
from ivr.store import spool
from ivr.store.calls import CallRow, EventRow, to_json, write_one
from ivr.store.calls import Record as StoredRecord

DOC = Path(__file__).resolve().parents[2] / "docs" / "personal-data.md"
DEFAULT_FLOW = Path(__file__).resolve().parents[2] / "ivr" / "flows" / "default.yaml"
_ROW = re.compile(r"^\|\s*`([a-z]+:[^`]+)`\s*\|\s*([^|]+?)\s*\|")

LANDLINE, TYPED = "0311117777", "09087651234"


# -- the inventory and the scans (shared with the e2e test) ---------------------------------


def inventory() -> dict[str, frozenset[str]]:
    """Place id (``db:calls.caller``, ``spool:records-*.jsonl``, ...) → what it may hold
    (``caller``, ``keyed``; empty for the places made to hold none)."""
    places: dict[str, frozenset[str]] = {}
    for line in DOC.read_text(encoding="utf-8").splitlines():
        found = _ROW.match(line)
        if found:
            holds = {h.strip() for h in found.group(2).split(",")} - {"none"}
            places[found.group(1)] = frozenset(holds)
    return places


@dataclass(frozen=True)
class Found:
    place: str  # a place id as the inventory names it, or the file / column as found
    number: str
    kind: str  # caller | keyed


async def in_database(conn: asyncpg.Connection, numbers: Mapping[str, str]) -> list[Found]:
    """Every table column of text, JSON or array type holding one of ``numbers``
    (number → kind), in every table of the database."""
    columns = await conn.fetch(
        """SELECT c.table_name, c.column_name FROM information_schema.columns c
           JOIN information_schema.tables t
             ON t.table_schema = c.table_schema AND t.table_name = c.table_name
           WHERE c.table_schema = current_schema() AND t.table_type = 'BASE TABLE'
             AND (c.data_type IN ('text', 'character varying', 'character', 'json', 'jsonb',
                                  'ARRAY', 'USER-DEFINED'))
           ORDER BY 1, 2"""
    )
    found = []
    for col in columns:
        table, column = col["table_name"], col["column_name"]
        for number, kind in numbers.items():
            hit = await conn.fetchval(
                f'SELECT EXISTS (SELECT 1 FROM "{table}" WHERE strpos("{column}"::text, $1) > 0)',
                number,
            )
            if hit:
                found.append(Found(f"db:{table}.{column}", number, kind))
    return found


def in_files(root: Path, prefix: str, numbers: Mapping[str, str]) -> list[Found]:
    """Every file under ``root`` holding one of ``numbers``, as ``<prefix>:<relative path>``."""
    found = []
    for path in sorted(p for p in root.rglob("*") if p.is_file()) if root.is_dir() else []:
        data = path.read_bytes()
        for number, kind in numbers.items():
            if number.encode() in data:
                found.append(Found(f"{prefix}:{path.relative_to(root)}", number, kind))
    return found


def listed_as(place: str, places: Mapping[str, frozenset[str]]) -> str | None:
    """The inventory id a found place falls under (a file matched by its pattern)."""
    if place in places:
        return place
    prefix, _, rel = place.partition(":")
    for pid in places:
        kind, _, pattern = pid.partition(":")
        if kind == prefix and fnmatch.fnmatchcase(rel, pattern):
            return pid
    return None


def not_in_inventory(found: Iterable[Found]) -> list[str]:
    """Places holding a number the inventory does not list there (for that kind)."""
    places = inventory()
    wrong = []
    for f in found:
        pid = listed_as(f.place, places)
        if pid is None:
            wrong.append(f"{f.place} holds the {f.kind} number and is not in {DOC.name}")
        elif f.kind not in places[pid]:
            wrong.append(f"{f.place} holds the {f.kind} number; {DOC.name} says {pid} does not")
    return wrong


# -- a call driven through the real engine ----------------------------------------------------


def _next(state: CallState, keys: list[str]) -> Event:
    if state.phase is Phase.ACTION and state.action is not None:
        return ActionResult(state.action, "queued")
    if state.phase in (Phase.PROMPT, Phase.CONFIRM) and state.playback is not None:
        return PlaybackFinished(state.playback)
    if state.phase in (Phase.WAIT, Phase.ENTRY, Phase.CONFIRM_WAIT) and keys:
        return DigitPressed(keys.pop(0))
    assert state.timer is not None, f"stuck at {state.node} ({state.phase})"
    return TimerFired(state.timer)


def keyed_call() -> tuple[CallState, list[Command]]:
    """A landline caller at the default flow: 1 (registration), 1 (SMS), the mobile
    number and #, 1 (confirm) — the steps of tests/e2e/test_sms.py."""
    engine = Engine(load_flow_file(DEFAULT_FLOW))
    ctx = CallContext(LANDLINE, "0501234567", "landline", "open")
    state, cmds = engine.start(ctx)
    log = list(cmds)
    keys = ["1", "1", *TYPED, "#", "1"]
    for _ in range(500):
        if state.finished:
            break
        state, cmds = engine.handle(state, _next(state, keys))
        log += cmds
    assert state.finished and not keys
    return state, log


async def test_a_keyed_number_is_kept_only_where_the_inventory_says(
    fresh_dsn: str, tmp_path: Path
) -> None:
    """The records, spool files and outbox row of a keyed-number call hold the landline
    and the keyed number only in places the inventory lists for them; the keyed number
    is in the outbox and the SMS spool, and nowhere in the call's record; spool files are
    readable by their owner only."""
    state, log = keyed_call()
    sends = [c for c in log if isinstance(c, SendSms)]
    assert [s.to for s in sends] == [TYPED]
    started = datetime.now(TOKYO)
    row = CallRow(uuid.uuid4(), "1700000000.1", LANDLINE, "0501234567", started)
    final = CallRow(
        row.id,
        row.channel_id,
        LANDLINE,
        "0501234567",
        started,
        answered_at=started,
        ended_at=datetime.now(TOKYO),
        digits="".join(state.digits),
        path=tuple(c.node for c in log if isinstance(c, Record) and c.kind == "enter"),
        last_node=state.node,
        outcome="completed",
        rev=1,
    )
    events = [
        EventRow(row.id, seq, started, c.kind, c.node, {k: str(v) for k, v in c.detail.items()})
        for seq, c in enumerate((c for c in log if isinstance(c, Record)), start=1)
    ]
    records: list[StoredRecord] = [row, *events, final]
    req = SmsRequest(
        outbox_id(row.id, sends[0].template),
        row.id,
        "send",
        sends[0].template,
        TYPED,
        "本文",
        1,
        started,
    )
    spool_dir = tmp_path / "spool"
    spool.write_lines(spool.unique_path(spool_dir, "records"), [to_json(r) for r in records])
    spool.write_lines(spool.unique_path(spool_dir, "deadletter"), [to_json(final, error="refused")])
    RequestSpool(spool_dir / "sms").write(req)
    db = await asyncpg.connect(fresh_dsn)
    try:
        for rec in records:
            await write_one(db, rec)
        await insert(db, req)
        numbers = {LANDLINE: "caller", TYPED: "keyed"}
        found = await in_database(db, numbers) + in_files(spool_dir, "spool", numbers)
    finally:
        await db.close()

    assert not_in_inventory(found) == []
    modes = {p.name: p.stat().st_mode & 0o777 for p in spool_dir.rglob("*") if p.is_file()}
    assert set(modes.values()) == {0o600}, modes  # files with numbers: the controller's only
    where_keyed = {f.place for f in found if f.number == TYPED}
    assert "db:sms_outbox.number" in where_keyed
    assert not any(p.startswith("db:calls") or p.startswith("db:call_events") for p in where_keyed)
    assert "N" * len(TYPED) in final.digits and TYPED not in final.digits
    assert {f.place for f in found if f.number == LANDLINE} >= {"db:calls.caller"}


async def test_every_database_place_in_the_inventory_exists(database_dsn: str) -> None:
    """Each ``db:`` place of the inventory names a column of the migrated schema (the
    document does not list places that are gone or misspelt)."""
    conn = await asyncpg.connect(database_dsn)
    try:
        rows = await conn.fetch(
            """SELECT table_name || '.' || column_name AS name FROM information_schema.columns
               WHERE table_schema = current_schema()"""
        )
    finally:
        await conn.close()
    columns = {r["name"] for r in rows}
    places = [p.removeprefix("db:") for p in inventory() if p.startswith("db:")]
    assert len(places) >= 8
    assert [p for p in places if p not in columns] == []


def test_an_unlisted_place_is_reported() -> None:
    """A number found in a column or file the inventory does not list, or listed for the
    other kind of number, is reported by name."""
    found = [
        Found("db:calls.callback", TYPED, "keyed"),
        Found("db:calls.caller", TYPED, "keyed"),
        Found("spool:records-1-a.jsonl", LANDLINE, "caller"),
        Found("spool:notes.txt", LANDLINE, "caller"),
    ]
    assert not_in_inventory(found) == [
        "db:calls.callback holds the keyed number and is not in personal-data.md",
        "db:calls.caller holds the keyed number; personal-data.md says db:calls.caller does not",
        "spool:notes.txt holds the caller number and is not in personal-data.md",
    ]
