"""Asterisk's own log of calls: CEL lines that ``cel_custom`` appends to a local file
(``asterisk-conf/cel_custom.conf``), loaded into ``cel_events`` and summarised into
``cel_calls`` (one row per inbound call).

A file, not ``cel_pgsql``: Asterisk keeps counting while PostgreSQL is away, and the
loader catches up when it is back. Loading is idempotent — every event is keyed by
(linkedid, event type, time, uniqueid) and inserted with ``ON CONFLICT DO NOTHING``; the
position reached is stored in the same transaction (``cel_position``) only to avoid
reading a long file again. A rotated file (new inode) is read to its end through the
handle already open, then the new file from its start; a truncated one from its start.
"""

from __future__ import annotations

import asyncio
import csv
import os
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO

import structlog

from ivr.log import TOKYO
from ivr.stats.db import Conn

log = structlog.get_logger("ivr.stats.cel")

# The mapping's field order in asterisk-conf/cel_custom.conf: change both together.
FIELDS = (
    "eventtype",
    "eventtime",
    "uniqueid",
    "linkedid",
    "channame",
    "context",
    "exten",
    "cid_num",
    "appname",
    "appdata",
)
# The inbound trunk (asterisk-conf/pjsip.conf [trunk], context from-trunk).
TRUNK_PREFIX = "PJSIP/trunk-"
INBOUND_CONTEXT = "from-trunk"
CHUNK_BYTES = 1 << 20


@dataclass(frozen=True)
class CelEvent:
    eventtype: str
    eventtime: datetime
    uniqueid: str
    linkedid: str
    channame: str = ""
    context: str = ""
    exten: str = ""
    cid_num: str = ""
    appname: str = ""
    appdata: str = ""


def parse_time(text: str) -> datetime:
    """CEL's default ``<seconds>.<microseconds>`` since the epoch; a ``dateformat`` of
    ``%F %T`` (Asterisk's local time, Japan) is read too."""
    text = text.strip()
    if text.replace(".", "", 1).isdigit():
        seconds, _, micros = text.partition(".")
        base = datetime.fromtimestamp(int(seconds), UTC)
        return base + timedelta(microseconds=int((micros or "0")[:6].ljust(6, "0")))
    return datetime.strptime(text[:19], "%Y-%m-%d %H:%M:%S").replace(tzinfo=TOKYO)


def parse_line(line: str) -> CelEvent:
    """One line of the CEL file; ``ValueError`` when it is not one."""
    rows = list(csv.reader([line]))
    if len(rows) != 1 or len(rows[0]) != len(FIELDS):
        raise ValueError(f"expected {len(FIELDS)} fields")
    values = dict(zip(FIELDS, rows[0], strict=True))
    if not values["eventtype"] or not values["uniqueid"] or not values["linkedid"]:
        raise ValueError("event type, uniqueid and linkedid are required")
    return CelEvent(
        values["eventtype"],
        parse_time(values["eventtime"]),
        values["uniqueid"],
        values["linkedid"],
        values["channame"],
        values["context"],
        values["exten"],
        values["cid_num"],
        values["appname"],
        values["appdata"],
    )


_INSERT = """
INSERT INTO cel_events (linkedid, eventtype, eventtime, uniqueid, channame, context, exten,
                        cid_num, appname, appdata)
SELECT * FROM unnest($1::text[], $2::text[], $3::timestamptz[], $4::text[], $5::text[],
                     $6::text[], $7::text[], $8::text[], $9::text[], $10::text[])
ON CONFLICT DO NOTHING
RETURNING linkedid
"""
_POSITION = """
INSERT INTO cel_position (path, inode, "offset", updated_at) VALUES ($1, $2, $3, now())
ON CONFLICT (path) DO UPDATE SET inode = EXCLUDED.inode, "offset" = EXCLUDED."offset",
    updated_at = now()
"""


async def store(
    conn: Conn,
    events: list[CelEvent],
    *,
    trunk_prefix: str = TRUNK_PREFIX,
    inbound_context: str = INBOUND_CONTEXT,
) -> tuple[int, int]:
    """Insert ``events`` (known ones are skipped) and summarise the calls they belong to;
    returns (events new to the database, calls whose summary changed). Call inside a
    transaction to store the file position with them."""
    if not events:
        return 0, 0
    columns = [
        [e.linkedid for e in events],
        [e.eventtype for e in events],
        [e.eventtime for e in events],
        [e.uniqueid for e in events],
        [e.channame for e in events],
        [e.context for e in events],
        [e.exten for e in events],
        [e.cid_num for e in events],
        [e.appname for e in events],
        [e.appdata for e in events],
    ]
    inserted = await conn.fetch(_INSERT, *columns)
    linked = sorted({r["linkedid"] for r in inserted})
    changed = 0
    if linked:
        changed = await conn.fetchval(
            "SELECT cel_summarise($1::text[], $2, $3)", linked, trunk_prefix, inbound_context
        )
    return len(inserted), int(changed or 0)


@dataclass
class _Reader:
    """The CEL file as far as it was read: an open handle survives a rotation."""

    path: Path
    handle: IO[bytes] | None = None
    inode: int = 0
    offset: int = 0  # bytes of complete lines consumed

    def open_at(self, inode: int | None, offset: int) -> bool:
        """Open the file, at ``offset`` if it is still the file with ``inode``."""
        try:
            handle = self.path.open("rb")
        except FileNotFoundError:
            return False
        st = os.fstat(handle.fileno())
        self.handle, self.inode = handle, st.st_ino
        self.offset = offset if inode == st.st_ino and st.st_size >= offset else 0
        handle.seek(self.offset)
        return True

    def read_lines(self, limit: int) -> tuple[list[str], int]:
        """Complete lines from the current position (at most about ``limit`` bytes);
        returns them and the offset after them. Follows a rotation or truncation."""
        if self.handle is None and not self.open_at(None, 0):
            return [], self.offset
        assert self.handle is not None
        self.handle.seek(self.offset)
        data = self.handle.read(limit)
        end = data.rfind(b"\n")
        if end < 0 and len(data) >= limit:  # one line longer than a chunk: take it whole
            data += self.handle.readline()
            end = data.rfind(b"\n")
        if end >= 0:
            consumed = data[: end + 1]
            lines = consumed.decode("utf-8", errors="replace").splitlines()
            return lines, self.offset + len(consumed)
        if self._follow():
            return self.read_lines(limit)
        return [], self.offset

    def _follow(self) -> bool:
        """At the end of what was written: has the file been rotated or truncated?
        True when reading starts again (a new file, or this one from its start)."""
        try:
            st = self.path.stat()
        except FileNotFoundError:
            return False  # rotated away and not yet recreated: the open handle is done
        if st.st_ino != self.inode:
            self.close()
            return self.open_at(None, 0)
        if st.st_size < self.offset:
            self.offset = 0
            return True
        return False

    def close(self) -> None:
        if self.handle is not None:
            self.handle.close()
            self.handle = None


class CelLoader:
    """Loads the CEL file into the database, from where it was left."""

    def __init__(
        self,
        path: Path,
        *,
        trunk_prefix: str = TRUNK_PREFIX,
        inbound_context: str = INBOUND_CONTEXT,
        chunk_bytes: int = CHUNK_BYTES,
    ) -> None:
        self.path = path
        self._reader = _Reader(path)
        self._positioned = False
        self._trunk_prefix = trunk_prefix
        self._context = inbound_context
        self._chunk = chunk_bytes
        self._missing_logged = False
        self.events_loaded = 0
        self.bad_lines = 0
        self.loaded_at: datetime | None = None  # last pass that reached the end of the file

    async def load(self, conn: Conn) -> int:
        """Load every complete line written so far; returns the events new to the
        database. Each chunk commits with its file position."""
        if not self._positioned:
            row = await conn.fetchrow(
                'SELECT inode, "offset" FROM cel_position WHERE path = $1', str(self.path)
            )
            inode, offset = (row["inode"], row["offset"]) if row else (None, 0)
            opened = await asyncio.to_thread(self._reader.open_at, inode, offset)
            if not opened:
                if not self._missing_logged:
                    log.info("cel_file_missing", path=str(self.path))
                    self._missing_logged = True
                return 0
            self._positioned = True
            self._missing_logged = False
        new = 0
        while True:
            lines, offset = await asyncio.to_thread(self._reader.read_lines, self._chunk)
            if not lines:
                break
            events = []
            for line in lines:
                if not line.strip():
                    continue
                try:
                    events.append(parse_line(line))
                except ValueError as e:
                    self.bad_lines += 1
                    log.warning("cel_line_unreadable", error=str(e), line=line[:200])
            async with conn.transaction():
                added, _ = await store(
                    conn,
                    events,
                    trunk_prefix=self._trunk_prefix,
                    inbound_context=self._context,
                )
                await conn.execute(_POSITION, str(self.path), self._reader.inode, offset)
            self._reader.offset = offset
            new += added
        self.events_loaded += new
        self.loaded_at = datetime.now(UTC)
        return new

    def close(self) -> None:
        self._reader.close()
        self._positioned = False
