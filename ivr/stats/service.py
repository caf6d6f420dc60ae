"""What the controller runs for the figures: one start-up step and one long-lived task.

``startup()`` — before taking calls: load what Asterisk logged while no controller ran
(CEL), then close the records of calls that ended meanwhile. ``run()`` — supervised
for the controller's life: every second the new CEL lines; every few seconds the
heartbeat; every ten seconds the calls that ended unseen (a minute's grace: a running
controller closes its own) and the calendar states still missing. It never ends by
itself: a database or a file that is away is logged and tried again.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import structlog

from ivr.stats import heartbeat
from ivr.stats.calendar_fill import fill_calendar_states
from ivr.stats.cel import CelLoader
from ivr.stats.closer import close_ended_calls

log = structlog.get_logger("ivr.stats")

_TRANSIENT = (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError)


class StatsService:
    def __init__(
        self,
        dsn: str,
        cel_file: Path | None,
        *,
        probe: heartbeat.Probe | None = None,
        status: heartbeat.Status | None = None,
        source: str | None = None,
        cel_interval: float = 1.0,
        heartbeat_interval: float = heartbeat.INTERVAL,
        housekeeping_interval: float = 10.0,
        close_grace: timedelta = timedelta(seconds=60),
    ) -> None:
        self.dsn = dsn
        self.loader = CelLoader(cel_file) if cel_file is not None else None
        self.probe = probe
        self.status = status
        self.source = source or heartbeat.default_source()
        self.cel_interval = cel_interval
        self.heartbeat_interval = heartbeat_interval
        self.housekeeping_interval = housekeeping_interval
        self.close_grace = close_grace
        self.started_at = datetime.now(UTC)
        self._conn: asyncpg.Connection | None = None

    async def _connection(self) -> asyncpg.Connection:
        if self._conn is None or self._conn.is_closed():
            self._conn = await asyncpg.connect(self.dsn, timeout=5, command_timeout=30)
        return self._conn

    async def _drop(self) -> None:
        if self._conn is not None:
            conn, self._conn = self._conn, None
            with contextlib.suppress(Exception):
                await asyncio.wait_for(conn.close(), 1)

    async def startup(self, timeout: float = 30.0) -> None:
        """Catch up with CEL and close the calls that ended while no controller ran.
        Never raises: with the database away, ``run()`` does the same later."""
        try:
            async with asyncio.timeout(timeout):
                conn = await self._connection()
                if self.loader is not None:
                    loaded = await self.loader.load(conn)
                    log.info("cel_caught_up", events=loaded, file=str(self.loader.path))
                closed = await close_ended_calls(conn)
                if closed:
                    log.info("calls_closed_at_startup", count=len(closed))
        except (*_TRANSIENT, TimeoutError) as e:
            log.warning("stats_startup_incomplete", error=repr(e))
            await self._drop()

    async def close(self) -> None:
        """Release the connection and the CEL file (``run()`` does this when cancelled)."""
        await self._drop()
        if self.loader is not None:
            self.loader.close()

    async def run(self) -> None:
        next_beat = next_housekeeping = 0.0
        delay = 1.0
        while True:
            try:
                conn = await self._connection()
                if self.loader is not None:
                    await self.loader.load(conn)
                now = time.monotonic()
                if now >= next_beat:
                    next_beat = now + self.heartbeat_interval
                    await heartbeat.beat(conn, self.source, self.started_at, await self._detail())
                if now >= next_housekeeping:
                    next_housekeeping = now + self.housekeeping_interval
                    await close_ended_calls(conn, self.close_grace)
                    await fill_calendar_states(conn)
                delay = 1.0
                await asyncio.sleep(self.cel_interval)
            except asyncio.CancelledError:
                await self.close()
                raise
            except Exception as e:  # the figures wait; the calls never do
                log.warning("stats_task_failed", error=repr(e))
                await self._drop()
                await asyncio.sleep(delay)
                delay = min(delay * 2, 30.0)

    async def _detail(self) -> dict[str, Any]:
        detail: dict[str, Any] = {}
        if self.probe is not None:
            try:
                detail.update(await self.probe())
            except Exception as e:  # a probe is advice, never a reason to stop beating
                detail["probe_error"] = repr(e)[:200]
        if self.status is not None:
            try:
                detail.update(self.status())
            except Exception as e:
                detail["status_error"] = repr(e)[:200]
        if self.loader is not None:
            detail["cel_file"] = str(self.loader.path)
            detail["cel_loaded_at"] = self.loader.loaded_at
            detail["cel_bad_lines"] = self.loader.bad_lines
        return detail
