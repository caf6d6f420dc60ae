"""Call records, written off the call path.

The call session only ever calls ``submit()``, which never blocks and never
raises. A single writer task drains the queue into PostgreSQL in order, retrying
with backoff while the database is away. Every write is idempotent (upsert of the
call row by id, events keyed by (call, seq)), so a retried or replayed batch
never duplicates anything. Records that cannot wait in memory (queue full, or the
process stopping while the database is down) go to a local spool file and are
replayed on the next start.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import time
import uuid
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import asyncpg
import structlog

log = structlog.get_logger("ivr.store")


@dataclass(frozen=True)
class CallRow:
    """A snapshot of a call; later snapshots of the same id replace earlier ones."""

    id: uuid.UUID
    channel_id: str
    caller: str
    dialled: str
    started_at: datetime
    answered_at: datetime | None = None
    ended_at: datetime | None = None
    digits: str = ""
    path: tuple[str, ...] = ()
    last_node: str | None = None
    outcome: str | None = None
    flow_version: int | None = None


@dataclass(frozen=True)
class EventRow:
    call_id: uuid.UUID
    seq: int
    at: datetime
    kind: str
    node: str
    detail: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Superseded:
    """A call adopted after a controller restart closes the record its lost task left open."""

    channel_id: str
    by_id: uuid.UUID
    at: datetime


Record = CallRow | EventRow | Superseded

_UPSERT_CALL = """
INSERT INTO calls (id, channel_id, caller, dialled, started_at, answered_at, ended_at,
                   digits, path, last_node, outcome, flow_version)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
ON CONFLICT (id) DO UPDATE SET
    answered_at = EXCLUDED.answered_at, ended_at = EXCLUDED.ended_at, digits = EXCLUDED.digits,
    path = EXCLUDED.path, last_node = EXCLUDED.last_node, outcome = EXCLUDED.outcome,
    flow_version = EXCLUDED.flow_version
"""
_INSERT_EVENT = """
INSERT INTO call_events (call_id, seq, at, kind, node, detail)
VALUES ($1, $2, $3, $4, $5, $6::jsonb) ON CONFLICT DO NOTHING
"""


_CLOSE_SUPERSEDED = """
UPDATE calls SET ended_at = $3, outcome = 'controller_restart'
WHERE channel_id = $1 AND id <> $2 AND ended_at IS NULL
"""
_TYPES: dict[type, str] = {CallRow: "call", EventRow: "event", Superseded: "superseded"}


def _to_json(rec: Record) -> str:
    d = asdict(rec)
    d["type"] = _TYPES[type(rec)]
    return json.dumps(d, default=str, ensure_ascii=False)


def _from_json(line: str) -> Record:
    d: dict[str, Any] = json.loads(line)
    kind = d.pop("type")
    for key in ("started_at", "answered_at", "ended_at", "at"):
        if d.get(key):
            d[key] = datetime.fromisoformat(d[key])
    if kind == "call":
        d["id"] = uuid.UUID(d["id"])
        d["path"] = tuple(d["path"])
        return CallRow(**d)
    if kind == "superseded":
        d["by_id"] = uuid.UUID(d["by_id"])
        return Superseded(**d)
    d["call_id"] = uuid.UUID(d["call_id"])
    return EventRow(**d)


class CallRecorder:
    def __init__(self, dsn: str, spool_dir: Path, max_queue: int = 10000) -> None:
        self._dsn = dsn
        self._spool_dir = spool_dir
        self._queue: asyncio.Queue[Record] = asyncio.Queue(max_queue)
        self._pending: list[Record] = []  # taken from the queue, not yet committed
        self._conn: asyncpg.Connection | None = None
        self.written = 0
        self.lag_seconds = 0.0  # age of the oldest unwritten record, for monitoring
        self._oldest: float | None = None

    def submit(self, rec: Record) -> None:
        """Hand a record to the writer; never blocks, never raises."""
        if self._oldest is None:
            self._oldest = time.monotonic()
        try:
            self._queue.put_nowait(rec)
        except asyncio.QueueFull:
            self._spool([rec])

    @property
    def backlog(self) -> int:
        return self._queue.qsize() + len(self._pending)

    async def run(self) -> None:
        """The writer task: replay the spool, then drain the queue forever."""
        delay = 0.2
        replayed = False
        while True:
            try:
                if not replayed:
                    await self._replay_spool()
                    replayed = True
                if not self._pending:
                    self._pending.append(await self._queue.get())
                while not self._queue.empty() and len(self._pending) < 500:
                    self._pending.append(self._queue.get_nowait())
                await self._write(self._pending)
                self.written += len(self._pending)
                self._pending = []
                self._oldest = None if self._queue.empty() else time.monotonic()
                delay = 0.2
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError) as e:
                await self._drop_conn()
                if self._oldest is not None:
                    self.lag_seconds = time.monotonic() - self._oldest
                log.warning("db_write_failed", error=str(e), backlog=self.backlog, retry_in=delay)
                await asyncio.sleep(delay * (0.5 + random.random()))
                delay = min(delay * 2, 10.0)

    async def flush(self, timeout: float = 5.0) -> None:
        """Wait until everything submitted so far is written (or time runs out)."""
        deadline = time.monotonic() + timeout
        while self.backlog and time.monotonic() < deadline:
            await asyncio.sleep(0.02)

    async def close(self, timeout: float = 5.0) -> None:
        """Flush what can be written; spool the rest for the next start."""
        await self.flush(timeout)
        rest = self._pending + [self._queue.get_nowait() for _ in range(self._queue.qsize())]
        self._pending = []
        if rest:
            self._spool(rest)
        await self._drop_conn()

    async def _write(self, records: list[Record]) -> None:
        if self._conn is None or self._conn.is_closed():
            self._conn = await asyncpg.connect(self._dsn, timeout=5)
        async with self._conn.transaction():
            for rec in records:
                if isinstance(rec, CallRow):
                    await self._conn.execute(
                        _UPSERT_CALL,
                        rec.id,
                        rec.channel_id,
                        rec.caller,
                        rec.dialled,
                        rec.started_at,
                        rec.answered_at,
                        rec.ended_at,
                        rec.digits,
                        list(rec.path),
                        rec.last_node,
                        rec.outcome,
                        rec.flow_version,
                    )
                elif isinstance(rec, Superseded):
                    await self._conn.execute(_CLOSE_SUPERSEDED, rec.channel_id, rec.by_id, rec.at)
                else:
                    await self._conn.execute(
                        _INSERT_EVENT,
                        rec.call_id,
                        rec.seq,
                        rec.at,
                        rec.kind,
                        rec.node,
                        json.dumps(rec.detail, ensure_ascii=False),
                    )
        self.lag_seconds = 0.0

    async def _drop_conn(self) -> None:
        if self._conn is not None:
            conn, self._conn = self._conn, None
            try:
                await asyncio.wait_for(conn.close(), 1)
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError):
                conn.terminate()

    def _spool(self, records: list[Record]) -> None:
        try:
            self._spool_dir.mkdir(parents=True, exist_ok=True)
            path = self._spool_dir / f"records-{os.getpid()}.jsonl"
            with path.open("a", encoding="utf-8") as f:
                for rec in records:
                    f.write(_to_json(rec) + "\n")
                f.flush()
                os.fsync(f.fileno())
            log.warning("records_spooled", count=len(records), file=str(path))
        except OSError as e:  # the last resort failed too: say so loudly
            log.error("records_lost", count=len(records), error=str(e))

    async def _replay_spool(self) -> None:
        for path in sorted(self._spool_dir.glob("records-*.jsonl")):
            taken = path.with_suffix(".replaying")
            path.rename(taken)
            records = [
                _from_json(line)
                for line in taken.read_text(encoding="utf-8").splitlines()
                if line.strip()
            ]
            try:
                await self._write(records)
            except BaseException:
                taken.rename(path)  # keep it for the next attempt
                raise
            taken.unlink()
            log.info("spool_replayed", count=len(records), file=str(path))
