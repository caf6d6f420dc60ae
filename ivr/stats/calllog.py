"""The call log and its CSV export: one page of ``stats_call`` at a time through an
index, or every row of a range through a server-side cursor, so neither the page nor
the export grows with the number of calls (``bench/dashboard.py``)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

import asyncpg

from ivr.stats.db import Conn
from ivr.stats.queries import day_start


@dataclass(frozen=True)
class CallFilter:
    start: date | None = None  # first day (Japan), inclusive
    end: date | None = None  # last day, inclusive
    klass: str = ""  # a class (model.CLASS_LABELS) or ""
    option: str = ""  # node:key or ""
    transfer: str = ""  # answered | failed | none | ""
    sms: str = ""  # yes | no | ""

    def where(self) -> tuple[str, list[Any]]:
        parts: list[str] = []
        args: list[Any] = []

        def arg(value: Any) -> str:
            args.append(value)
            return f"${len(args)}"

        if self.start is not None:
            parts.append(f"s.started_at >= {arg(day_start(self.start))}")
        if self.end is not None:
            parts.append(f"s.started_at < {arg(day_start(self.end + timedelta(days=1)))}")
        if self.klass:
            parts.append(f"s.class = {arg(self.klass)}")
        if self.option:
            # Not an indexable form on purpose: the newest calls are read in time order
            # and filtered, which finds a page of a common choice at once (an index of
            # choices would collect every match of the range first, then sort).
            parts.append(f"{arg(self.option)}::text = ANY (s.options)")
        if self.transfer in ("answered", "failed"):
            parts.append(f"s.transfer = {arg(self.transfer)}")
        elif self.transfer == "none":
            parts.append("s.transfer IS NULL")
        if self.sms == "yes":
            parts.append("s.sms")
        elif self.sms == "no":
            parts.append("NOT s.sms")
        return (" AND ".join(parts) or "TRUE"), args


@dataclass(frozen=True)
class LogRow:
    channel_id: str
    call_id: uuid.UUID | None
    started_at: datetime
    ended_at: datetime | None
    caller: str
    dialled: str
    calendar_state: str
    klass: str
    outcome: str
    transfer: str
    sms: bool
    unseen: bool
    options: list[str]
    path: list[str]

    @property
    def seconds(self) -> int | None:
        if self.ended_at is None:
            return None
        return max(0, round((self.ended_at - self.started_at).total_seconds()))


LOG_TIMEOUT_MS = 5000
LOG_COLUMNS = """s.channel_id, s.call_id, s.started_at, s.ended_at, s.caller, s.dialled,
    coalesce(s.calendar_state, '') AS calendar_state, s.class, coalesce(s.outcome, '') AS outcome,
    coalesce(s.transfer, '') AS transfer, s.sms, s.unseen, s.options,
    coalesce(c.path, '{}') AS path"""


def log_row(r: asyncpg.Record) -> LogRow:
    return LogRow(
        r["channel_id"],
        r["call_id"],
        r["started_at"],
        r["ended_at"],
        r["caller"],
        r["dialled"],
        r["calendar_state"],
        r["class"],
        r["outcome"],
        r["transfer"],
        r["sms"],
        r["unseen"],
        list(r["options"]),
        list(r["path"]),
    )


def log_query(
    f: CallFilter, *, before: tuple[datetime, str] | None = None
) -> tuple[str, list[Any]]:
    """Newest first; ``before`` = (started_at, channel_id) of the last row already shown."""
    where, args = f.where()
    if before is not None:
        args += [before[0], before[1]]
        where += f" AND (s.started_at, s.channel_id) < (${len(args) - 1}, ${len(args)})"
    sql = f"""SELECT {LOG_COLUMNS} FROM stats_call s LEFT JOIN calls c ON c.id = s.call_id
              WHERE {where} ORDER BY s.started_at DESC, s.channel_id DESC"""
    return sql, args


async def call_log(
    conn: Conn,
    f: CallFilter,
    *,
    before: tuple[datetime, str] | None = None,
    limit: int = 50,
) -> list[LogRow]:
    sql, args = log_query(f, before=before)
    async with conn.transaction(readonly=True):
        # A filter that matches almost nothing over a long period reads the whole period;
        # give up (and say so) rather than keep a connection busy.
        await conn.execute(f"SET LOCAL statement_timeout = {int(LOG_TIMEOUT_MS)}")
        rows = await conn.fetch(f"{sql} LIMIT {int(limit)}", *args)
    return [log_row(r) for r in rows]


def export_query(f: CallFilter) -> tuple[str, list[Any]]:
    """Oldest first, for the CSV export (read through a server-side cursor)."""
    where, args = f.where()
    sql = f"""SELECT {LOG_COLUMNS} FROM stats_call s LEFT JOIN calls c ON c.id = s.call_id
              WHERE {where} ORDER BY s.started_at, s.channel_id"""
    return sql, args


async def export_rows(conn: Conn, f: CallFilter, batch: int = 2000) -> AsyncIterator[LogRow]:
    """Every call the filter selects, oldest first, ``batch`` rows per round trip through
    a cursor declared as one. Call inside a transaction. ``DECLARE`` matters: planned
    as a cursor, the query streams from the time index (first rows at once); planned for
    its whole result, a month of calls would be joined and sorted before the first row."""
    sql, args = export_query(f)
    await conn.execute("SET LOCAL jit = off")  # compiling would only delay the first rows
    await conn.execute(f"DECLARE calls_export NO SCROLL CURSOR FOR {sql}", *args)
    while rows := await conn.fetch(f"FETCH FORWARD {int(batch)} FROM calls_export"):
        for r in rows:
            yield log_row(r)
    await conn.execute("CLOSE calls_export")


async def known_options(conn: Conn, since: date) -> list[str]:
    """node:key choices made since ``since``, for the call log's filter."""
    rows = await conn.fetch(
        """SELECT DISTINCT node || ':' || detail AS o FROM stats_funnel
           WHERE metric = 'key' AND day >= $1 ORDER BY 1""",
        since,
    )
    return [r["o"] for r in rows]
