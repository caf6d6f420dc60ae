"""The database part of the retention job: raw numbers past their period replaced by
their keyed hash, batch by batch, each batch in its own transaction.

Every place is listed in :data:`PLACES` (and in docs/personal-data.md, which a test
holds to it). Updating a number moves no figure: the statistics' triggers recompute a
call's facts, and the caller is no dimension of any counter (sql/0050_stats.sql); SMS
counters move only with a status or a day. Already hashed values, empty (withheld)
ones and text with no digit are left alone, so a run repeated changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import asyncpg

from .model import HASH_PREFIX, pseudonym

BATCH = 1000


@dataclass(frozen=True)
class Place:
    """A column holding phone numbers, and the rows of it that are past their period."""

    table: str
    column: str
    when: str  # the row's time column, compared with the period's start
    kind: str  # "callers" or "sms_recipients": whose period applies
    only: str = "true"  # a further condition on the rows

    @property
    def name(self) -> str:
        return f"{self.table}.{self.column}"


PLACES = (
    Place("calls", "caller", "started_at", "callers"),
    Place("cel_calls", "caller", "started_at", "callers"),
    Place("cel_events", "cid_num", "eventtime", "callers"),
    # A message still waiting to be sent keeps its number until it is sent or fails.
    Place("sms_outbox", "number", "requested_at", "sms_recipients", "status <> ALL($4)"),
)
WAITING = ["queued", "sending"]


async def hash_place(
    conn: asyncpg.Connection, place: Place, key: bytes, cutoff: datetime, batch: int = BATCH
) -> int:
    """Replace the raw numbers of ``place`` in rows older than ``cutoff``; returns the
    rows changed. Distinct numbers are hashed in Python (the key never reaches the
    database) and written back by value."""
    select = f"""
        SELECT DISTINCT {place.column} AS v FROM {place.table}
        WHERE {place.when} < $1 AND {place.column} <> '' AND NOT starts_with({place.column}, $2)
          AND {place.column} <> ALL($3::text[]) AND {place.only}
        LIMIT {int(batch)}"""
    update = f"""
        UPDATE {place.table} AS t SET {place.column} = m.h
        FROM unnest($1::text[], $2::text[]) AS m(raw, h)
        WHERE t.{place.column} = m.raw AND t.{place.when} < $3 AND {place.only}"""
    skip: list[str] = []  # values with nothing to hash ("anonymous")
    changed = 0
    while True:
        args: list[object] = [cutoff, HASH_PREFIX, skip]
        if "$4" in place.only:
            args.append(WAITING)
        values = [r["v"] for r in await conn.fetch(select, *args)]
        if not values:
            return changed
        pairs = [(v, pseudonym(key, v)) for v in values]
        skip.extend(v for v, h in pairs if h is None)
        raw = [v for v, h in pairs if h is not None]
        hashes = [h for _, h in pairs if h is not None]
        if not raw:
            continue
        update_args: list[object] = [raw, hashes, cutoff]
        if "$4" in place.only:
            update_args.append(WAITING)
        async with conn.transaction():
            status = await conn.execute(update, *update_args)
        changed += int(status.split()[-1])


async def present(conn: asyncpg.Connection) -> set[str]:
    """The tables of :data:`PLACES` this database has (a fresh one may lack some)."""
    rows = await conn.fetch(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()"
    )
    return {r["table_name"] for r in rows}


SWEEP_DAYS = 3


async def sweep_withheld(conn: asyncpg.Connection, now: datetime) -> None:
    """Blank the CEL numbers of recent withheld calls that two concurrent commits could
    have missed (sql/0060_withheld_callers.sql keeps them blank otherwise)."""
    await conn.execute(
        """SELECT withheld_cel_blank(channel_id) FROM calls
           WHERE caller = '' AND started_at >= $1::timestamptz - make_interval(days => $2)""",
        now,
        SWEEP_DAYS,
    )
