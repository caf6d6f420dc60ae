"""One row per transfer attempt (``transfer_attempts``), written off the call path.

``submit()`` never blocks and never raises: a writer task upserts rows in batches,
idempotently (by attempt id, guarded by ``rev``, so a late or repeated write never
regresses a row), retrying with backoff while the database is away. Rows wait in
memory meanwhile (the oldest are dropped past ``max_queue``, loudly; the call's own
record keeps the outcome and times in its ``transfer`` event either way); those still
waiting at shutdown go to ``transfers-*.jsonl`` in the spool folder and are written
at the next start.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import uuid
from collections import OrderedDict
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import asyncpg
import structlog

from ivr.store import spool

log = structlog.get_logger("ivr.transfer")


@dataclass(frozen=True)
class AttemptRow:
    id: uuid.UUID
    call_id: uuid.UUID
    channel_id: str
    node: str
    target: str
    started_at: datetime
    number: str = ""
    endpoint: str = ""
    answered_at: datetime | None = None
    ended_at: datetime | None = None
    outcome: str | None = None
    ring_seconds: float | None = None
    talk_seconds: float | None = None
    rev: int = 0

    def to_json(self) -> str:
        return json.dumps(asdict(self), default=str, ensure_ascii=False)

    @classmethod
    def from_json(cls, line: str) -> AttemptRow:
        d: dict[str, Any] = json.loads(line)
        d["id"], d["call_id"] = uuid.UUID(d["id"]), uuid.UUID(d["call_id"])
        for key in ("started_at", "answered_at", "ended_at"):
            if d.get(key):
                d[key] = datetime.fromisoformat(d[key])
        return cls(**d)


_UPSERT = """
INSERT INTO transfer_attempts (id, call_id, channel_id, node, target, number, endpoint,
    started_at, answered_at, ended_at, outcome, ring_seconds, talk_seconds, rev)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)
ON CONFLICT (id) DO UPDATE SET
    number = EXCLUDED.number, endpoint = EXCLUDED.endpoint,
    answered_at = EXCLUDED.answered_at, ended_at = EXCLUDED.ended_at,
    outcome = EXCLUDED.outcome, ring_seconds = EXCLUDED.ring_seconds,
    talk_seconds = EXCLUDED.talk_seconds, rev = EXCLUDED.rev, updated_at = now()
WHERE transfer_attempts.rev <= EXCLUDED.rev
"""


def _args(r: AttemptRow) -> tuple[Any, ...]:
    return (
        *(r.id, r.call_id, r.channel_id, r.node, r.target, r.number, r.endpoint),
        *(r.started_at, r.answered_at, r.ended_at, r.outcome, r.ring_seconds, r.talk_seconds),
        r.rev,
    )


class AttemptWriter:
    def __init__(self, dsn: str, spool_dir: Path, max_queue: int = 5000) -> None:
        self._dsn = dsn
        self._spool_dir = spool_dir
        self._max = max_queue
        # Pending rows by attempt id: a newer revision replaces the one waiting.
        self._pending: OrderedDict[uuid.UUID, AttemptRow] = OrderedDict()
        self._wake = asyncio.Event()
        self._conn: asyncpg.Connection | None = None
        self.written = 0

    def submit(self, row: AttemptRow) -> None:
        """Queue a row; never blocks, never raises."""
        try:
            waiting = self._pending.get(row.id)
            if waiting is not None and waiting.rev > row.rev:
                return
            self._pending[row.id] = row
            self._pending.move_to_end(row.id)
            while len(self._pending) > self._max:
                _, lost = self._pending.popitem(last=False)
                log.error("transfer_attempt_dropped", attempt_id=str(lost.id), target=lost.target)
            self._wake.set()
        except Exception as e:  # never let recording break a call
            log.error("transfer_attempt_lost", error=repr(e))

    @property
    def backlog(self) -> int:
        return len(self._pending)

    async def run(self) -> None:
        """The writer task: rows spooled by an earlier run first, then the queue."""
        for path in await asyncio.to_thread(self._spooled):
            rows, bad = await asyncio.to_thread(_read, path)
            for row in rows:
                if row.id not in self._pending:
                    self._pending[row.id] = row
            if bad:
                log.error("transfer_spool_lines_unreadable", count=bad, file=str(path))
            await asyncio.to_thread(path.unlink)
        delay = 0.2
        while True:
            if not self._pending:
                self._wake.clear()
                await self._wake.wait()
            try:
                await self._write_some()
                delay = 0.2
            except Exception as e:  # whatever happens, the writer keeps going
                await self._drop_conn()
                log.warning("transfer_attempts_write_failed", error=str(e), backlog=self.backlog)
                await asyncio.sleep(delay * (0.5 + random.random()))
                delay = min(delay * 2, 10.0)

    async def _write_some(self) -> None:
        batch = list(self._pending.values())[:200]
        if self._conn is None or self._conn.is_closed():
            self._conn = await asyncpg.connect(self._dsn, timeout=5)
        async with self._conn.transaction():
            await self._conn.executemany(_UPSERT, [_args(r) for r in batch])
        for row in batch:
            if self._pending.get(row.id) is row:  # not replaced by a newer one meanwhile
                del self._pending[row.id]
        self.written += len(batch)

    async def flush(self, timeout: float = 5.0) -> None:
        """Wait until every row submitted so far is written (or time runs out)."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                while self._pending:
                    await asyncio.sleep(0.02)

    async def close(self, timeout: float = 3.0) -> None:
        """Write what can be written; spool the rest for the next start."""
        await self.flush(timeout)
        rows, self._pending = list(self._pending.values()), OrderedDict()
        if rows:
            path = spool.unique_path(self._spool_dir, "transfers")
            try:
                await asyncio.to_thread(spool.write_lines, path, [r.to_json() for r in rows])
                log.warning("transfer_attempts_spooled", count=len(rows), file=str(path))
            except OSError as e:
                log.error("transfer_attempts_lost", count=len(rows), error=str(e))
        await self._drop_conn()

    def _spooled(self) -> list[Path]:
        return sorted(self._spool_dir.glob("transfers-*.jsonl"))

    async def _drop_conn(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                await asyncio.wait_for(conn.close(), 1)
            except Exception:
                conn.terminate()


def _read(path: Path) -> tuple[list[AttemptRow], int]:
    bad: list[str] = []
    rows = [r for batch in spool.read_batches(path, AttemptRow.from_json, bad, 500) for r in batch]
    return rows, len(bad)
