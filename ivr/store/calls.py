"""Call records, written off the call path.

The call session only ever calls ``submit()``, which never blocks on the network
and never raises. A single writer task drains the queue into PostgreSQL in
order, retrying with backoff while the database is away. Every write is
idempotent (upsert of the call row by id guarded by its ``rev``, events keyed by
(call, seq)), so a retried or replayed batch never duplicates or regresses
anything.

Order is kept end to end: when the queue overflows, its content and every later
record go to the local spool instead ("overflowing"); the writer then writes its
pending batch, replays the spool files oldest first until none are left, and only
then goes back to the queue. Spool files left by a previous run are replayed at
start, before anything newer. Records PostgreSQL refuses for good (constraint or
data errors) are set aside one by one in ``deadletter-*.jsonl`` instead of
blocking everything behind them; unreadable spool lines go to ``bad-*.jsonl``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import time
from dataclasses import replace
from pathlib import Path

import asyncpg
import structlog

from ivr.store import spool

# The row types and their serialisation live in ivr.store.rows; these names stay
# importable from here.
from ivr.store.rows import CallRow, EventRow, Record, execute_all, from_json, to_json
from ivr.store.rows import execute as _execute

__all__ = [
    "CallRecorder",
    "CallRow",
    "EventRow",
    "Record",
    "from_json",
    "read_spool_file",
    "refused",
    "to_json",
    "write_one",
]

log = structlog.get_logger("ivr.store")

_BATCH = 500


# Connection trouble, an unmigrated schema, a busy or restarting server: retry later.
_TRANSIENT: tuple[type[BaseException], ...] = (
    OSError,
    TimeoutError,
    asyncpg.InterfaceError,
    asyncpg.PostgresConnectionError,
    asyncpg.CannotConnectNowError,
    asyncpg.OperatorInterventionError,
    asyncpg.InsufficientResourcesError,
    asyncpg.TransactionRollbackError,
    asyncpg.UndefinedTableError,
    asyncpg.UndefinedColumnError,
)


def refused(e: BaseException) -> bool:
    """The database (or asyncpg, for a value it cannot encode) refuses this data for good."""
    client_side = isinstance(e, asyncpg.InterfaceError) and isinstance(e, ValueError)
    return client_side or (isinstance(e, asyncpg.PostgresError) and not isinstance(e, _TRANSIENT))


def read_spool_file(path: Path) -> tuple[list[list[Record]], list[str]]:
    """A spool file's records in batches, and its lines that do not parse."""
    bad: list[str] = []
    return list(spool.read_batches(path, from_json, bad, _BATCH)), bad


_FLOW_FK = "calls_flow_version_fk"


def _without_missing_reference(rec: Record, e: BaseException) -> Record | None:
    """The record stored with the reference the database lacks cleared (and why), so a
    call is never missing from the figures for an unknown flow version; None when the
    refusal is about something else."""
    if (
        isinstance(rec, CallRow)
        and rec.flow_version is not None
        and isinstance(e, asyncpg.ForeignKeyViolationError)
        and getattr(e, "constraint_name", None) == _FLOW_FK
    ):
        note = f"flow version {rec.flow_version} is not in this database"
        return replace(rec, flow_version=None, note=note)
    return None


async def write_one(conn: asyncpg.Connection, rec: Record) -> Record:
    """Write one record in its own transaction, clearing a missing flow version;
    returns what was stored. Raises what the database refused otherwise."""
    try:
        async with conn.transaction():
            await _execute(conn, rec)
        return rec
    except Exception as e:
        cleared = _without_missing_reference(rec, e)
        if cleared is None:
            raise
    async with conn.transaction():
        await _execute(conn, cleared)
    return cleared


class CallRecorder:
    def __init__(self, dsn: str, spool_dir: Path, max_queue: int = 10000) -> None:
        self._dsn = dsn
        self._spool_dir = spool_dir
        # None only wakes the writer when the queue's content has moved to the spool.
        self._queue: asyncio.Queue[Record | None] = asyncio.Queue(max_queue)
        self._pending: list[Record] = []  # taken from the queue, not yet committed
        self._appender = spool.Appender(spool_dir)
        self._overflowing = False  # new records go to the spool until it is replayed
        self._overflow: list[Record] = []  # bound for the spool, written by the flusher
        self._spooled = 0  # records this run put in the spool, not yet replayed
        self._replayed = False  # the spool left by earlier runs is done
        self._closed = False
        self._conn: asyncpg.Connection | None = None
        self._disk = asyncio.Lock()  # the spool's appender is used by one thread at a time
        self.written = 0
        self.dead_letters = 0  # records in deadletter-*.jsonl files, waiting for a replay
        self.lag_seconds = 0.0  # age of the oldest unwritten record, for monitoring
        self._oldest: float | None = None

    def submit(self, rec: Record) -> None:
        """Hand a record to the writer; never blocks (no network, no disk), never raises."""
        try:
            if self._oldest is None:
                self._oldest = time.monotonic()
            if not self._overflowing:
                try:
                    self._queue.put_nowait(rec)
                    return
                except asyncio.QueueFull:
                    moved = [self._queue.get_nowait() for _ in range(self._queue.qsize())]
                    self._overflowing = True
                    log.warning("recorder_overflowing", moved_to_spool=len(moved) + 1)
                    for old in moved:
                        if old is not None:
                            self._overflow.append(old)
                            self._spooled += 1
                    self._queue.put_nowait(None)  # the writer may be waiting on the queue
            self._overflow.append(rec)
            self._spooled += 1
        except Exception as e:  # never let recording break a call
            log.error("record_lost", error=repr(e), exc_info=True)

    @property
    def backlog(self) -> int:
        return self._queue.qsize() + len(self._pending) + self._spooled

    @property
    def spool_depth(self) -> int:
        """Records waiting in (or on their way to) the local spool."""
        return self._spooled

    async def run(self) -> None:
        """The writer task: replay the spool, then drain the queue, until closed.
        A flusher beside it moves overflowing records to disk off the event loop."""
        self.dead_letters = await asyncio.to_thread(
            spool.count_lines, self._spool_dir, "deadletter"
        )
        if self.dead_letters:
            log.error(
                "dead_letters_waiting",
                count=self.dead_letters,
                spool_dir=str(self._spool_dir),
                hint="fix the cause, then run: ivr records replay",
            )
        flusher = asyncio.create_task(self._flush_loop(), name="recorder-flush")
        try:
            await self._write_loop()
        finally:
            flusher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await flusher

    async def _write_loop(self) -> None:
        delay = 0.2
        while not self._closed:
            try:
                await self._step()
                delay = 0.2
            except Exception as e:  # whatever happens, the writer keeps going
                await self._drop_conn()
                if self._oldest is not None:
                    self.lag_seconds = time.monotonic() - self._oldest
                if isinstance(e, _TRANSIENT):
                    log.warning("db_write_failed", error=str(e), backlog=self.backlog)
                else:
                    log.error("recorder_failed", error=repr(e), backlog=self.backlog, exc_info=True)
                await asyncio.sleep(delay * (0.5 + random.random()))
                delay = min(delay * 2, 10.0)

    async def _flush_loop(self) -> None:
        ticks = 0
        while True:
            await asyncio.sleep(0.2)
            try:
                await self._flush_overflow()
            except Exception as e:
                log.error("spool_flush_failed", error=repr(e))
            ticks += 1
            if ticks % 300 == 0 and (self.dead_letters or self.backlog):
                # Once a minute while anything waits: nobody should have to find it.
                log.warning(
                    "recorder_status",
                    dead_letters=self.dead_letters,
                    spool_depth=self.spool_depth,
                    backlog=self.backlog,
                    lag_seconds=round(self.lag_seconds, 1),
                )

    async def _flush_overflow(self) -> None:
        """Move overflowing records to the spool file, in order, in a thread."""
        async with self._disk:
            while self._overflow:
                batch, self._overflow = self._overflow, []
                await asyncio.to_thread(self._append_all, batch)

    def _append_all(self, batch: list[Record]) -> None:
        for rec in batch:
            try:
                self._appender.append(to_json(rec))
            except OSError as e:  # the last resort failed too: say so loudly
                self._spooled = max(0, self._spooled - 1)
                log.error("records_lost", count=1, error=str(e))

    async def flush(self, timeout: float = 5.0) -> None:
        """Wait until everything submitted so far is written (or time runs out)."""
        deadline = time.monotonic() + timeout
        while (
            self.backlog or self._overflowing or not self._replayed
        ) and time.monotonic() < deadline:
            await asyncio.sleep(0.02)

    async def close(self, timeout: float = 5.0) -> None:
        """Flush what can be written; spool the rest for the next start."""
        await self.flush(timeout)
        rest = self._pending + [self._queue.get_nowait() for _ in range(self._queue.qsize())]
        self._pending = []
        self._closed = True
        was_overflowing, self._overflowing = self._overflowing, True  # later records: spool
        records = [r for r in rest if r is not None]
        async with self._disk:
            # While overflowing, the spool holds only records newer than the pending batch.
            before = (
                await asyncio.to_thread(spool.oldest_ns, self._spool_dir)
                if was_overflowing
                else None
            )
            if records:
                path = spool.unique_path(
                    self._spool_dir, "records", None if before is None else before - 1
                )
                await self._save(path, [to_json(r) for r in records], "records_spooled")
        await self._flush_overflow()
        await asyncio.to_thread(self._appender.seal)
        await self._drop_conn()

    async def _step(self) -> None:
        if not self._pending:
            if self._overflowing or not self._replayed:
                await self._replay_spool()
                return
            item = await self._queue.get()
            self._pending = [] if item is None else [item]
            while not self._queue.empty() and len(self._pending) < _BATCH:
                if (item := self._queue.get_nowait()) is not None:
                    self._pending.append(item)
            if not self._pending:
                return
        await self._write(self._pending)
        self._pending = []
        self._oldest = time.monotonic() if self.backlog else None

    async def _replay_spool(self) -> None:
        """Replay spool files oldest first, until none are left; then leave overflow mode."""
        while True:
            await self._flush_overflow()
            async with self._disk:
                # Later records go to a new file, replayed after this pass.
                await asyncio.to_thread(self._appender.seal)
                files = await asyncio.to_thread(spool.pending_files, self._spool_dir)
            if not files and not self._overflow:
                # No await from the check to here: submit() sees the switch atomically.
                self._overflowing, self._spooled, self._replayed = False, 0, True
                return
            for path in files:
                batches, bad = await asyncio.to_thread(read_spool_file, path)
                count = 0
                for batch in batches:
                    await self._write(batch)
                    count += len(batch)
                    self._spooled = max(0, self._spooled - len(batch))
                if bad:
                    await self._save(
                        spool.unique_path(self._spool_dir, "bad"), bad, "spool_lines_unreadable"
                    )
                await asyncio.to_thread(path.unlink)
                log.info("spool_replayed", count=count, file=str(path))

    async def _write(self, records: list[Record]) -> None:
        """Write a batch in one transaction; if the database refuses it, write record by
        record, so only the records refused themselves are set aside (with their reason)
        and no call's records are refused for another's. Transient errors propagate."""
        if self._conn is None or self._conn.is_closed():
            self._conn = await asyncpg.connect(self._dsn, timeout=5)
        conn = self._conn
        dead: list[str] = []
        try:
            async with conn.transaction():
                await execute_all(conn, records)
        except Exception as e:
            if not refused(e):
                raise
            log.warning("db_batch_refused", error=str(e), count=len(records))
            for rec in records:
                try:
                    stored = await write_one(conn, rec)
                except Exception as e1:
                    if not refused(e1):
                        raise
                    dead.append(to_json(rec, error=f"{type(e1).__name__}: {e1}"))
                else:
                    if stored is not rec:
                        log.warning("record_reference_cleared", note=getattr(stored, "note", ""))
        if dead:
            await self._save(
                spool.unique_path(self._spool_dir, "deadletter"), dead, "records_dead_lettered"
            )
        self.written += len(records) - len(dead)
        self.lag_seconds = 0.0

    async def _save(self, path: Path, lines: list[str], event: str) -> None:
        try:
            await asyncio.to_thread(spool.write_lines, path, lines)
        except OSError as e:
            log.error("records_lost", count=len(lines), reason=event, error=str(e))
            return
        if event == "records_spooled":
            log.warning(event, count=len(lines), file=str(path))
        elif event == "records_dead_lettered":
            self.dead_letters += len(lines)
            log.error(
                event,
                count=len(lines),
                dead_letters=self.dead_letters,
                file=str(path),
                reason=json.loads(lines[0]).get("error", "")[:300],
                hint="fix the cause, then run: ivr records replay",
            )
        else:
            log.error(event, count=len(lines), file=str(path))

    async def _drop_conn(self) -> None:
        if self._conn is not None:
            conn, self._conn = self._conn, None
            try:
                await asyncio.wait_for(conn.close(), 1)
            except Exception:
                conn.terminate()
