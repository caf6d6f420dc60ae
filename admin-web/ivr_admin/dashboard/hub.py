"""From the database's NOTIFY to every open dashboard, within a second.

One ``Hub`` per admin process. It holds one connection that ``LISTEN``s on
``ivr_stats`` (the statistics triggers notify it when a call's facts or the SMS counts
change; notifications are delivered at commit), and on each notification — a few
coalesced into one — reads one snapshot of the figures and publishes it to every
Server-Sent Events stream at once. Every ``REFRESH_SECONDS`` it refreshes anyway (the
controller's heartbeat and the calendar state change without a notification).

When the database cannot be read, the last snapshot is published again marked stale,
with the time it was taken: the page says 「データが古い」 instead of showing figures
that may be wrong. After a reconnection it refreshes at once (notifications sent
meanwhile are lost).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator, Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any

import asyncpg
import structlog
from aiohttp import web

from ivr.flow.model import MenuNode
from ivr.log import TOKYO
from ivr.stats import flowinfo, queries
from ivr.stats.calendar_fill import fill_calendar_states

from ..keys import POOL, SETTINGS
from . import present

if TYPE_CHECKING:
    from asyncpg.pool import PoolConnectionProxy

log = structlog.get_logger("ivr_admin.dashboard")

CHANNEL = "ivr_stats"
DEBOUNCE_SECONDS = 0.05  # a burst of commits becomes one refresh
REFRESH_SECONDS = 5.0
QUERY_TIMEOUT = 3.0


class Hub:
    def __init__(self, pool: asyncpg.Pool, flow_file: str = "") -> None:
        self._pool = pool
        self._flow_file = flow_file
        self._dirty = asyncio.Event()
        self._published = asyncio.Event()
        self.closing = asyncio.Event()
        self.message: str | None = None  # the last published JSON
        self.data: dict[str, Any] | None = None  # the last good snapshot, presented
        self.ok_at: datetime | None = None  # when it was taken
        self.error: str = ""
        self.refreshes = 0
        self._menu: tuple[str, str | None, dict[str, str]] | None = None  # group, node, labels
        self._last_fill = 0.0

    # -- subscribers ----------------------------------------------------------------

    async def next_message(self, seen: str | None, timeout: float) -> str | None:
        """The next published message after ``seen`` (None on time-out or closing)."""
        if self.message is not None and self.message is not seen:
            return self.message
        waiter = self._published
        closing = asyncio.ensure_future(self.closing.wait())
        published = asyncio.ensure_future(waiter.wait())
        try:
            await asyncio.wait({closing, published}, timeout=timeout, return_when="FIRST_COMPLETED")
        finally:
            closing.cancel()
            published.cancel()
        if self.closing.is_set() or not waiter.is_set():
            return None
        return self.message

    def _publish(self, message: str) -> None:
        self.message = message
        waiter, self._published = self._published, asyncio.Event()
        waiter.set()

    # -- the loop ---------------------------------------------------------------------

    def poke(self, *_: object) -> None:
        self._dirty.set()

    async def run(self) -> None:
        listener = asyncio.create_task(self._listen(), name="dashboard-listen")
        try:
            while not self.closing.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._dirty.wait(), REFRESH_SECONDS)
                await asyncio.sleep(DEBOUNCE_SECONDS)
                self._dirty.clear()
                await self.refresh()
        finally:
            listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await listener

    async def refresh(self) -> None:
        now = datetime.now(TOKYO)
        try:
            async with self._pool.acquire(timeout=QUERY_TIMEOUT) as conn:
                async with asyncio.timeout(QUERY_TIMEOUT):
                    data = await self._snapshot(conn, now)
                await self._fill(conn)
        except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as e:
            if not self.error:
                log.warning("dashboard_refresh_failed", error=repr(e))
            self.error = "database"
            self._publish(json.dumps(present.stale(self.data, self.ok_at, "database", now)))
            return
        if self.error:
            log.info("dashboard_refresh_recovered")
        self.error = ""
        self.data, self.ok_at = data, now
        self.refreshes += 1
        self._publish(json.dumps(data))

    async def _snapshot(
        self, conn: PoolConnectionProxy[asyncpg.Record], now: datetime
    ) -> dict[str, Any]:
        group = await flowinfo.published_group(conn, self._flow_file)
        if self._menu is None or self._menu[0] != group:
            flow = await flowinfo.flow_of_group(conn, group, self._flow_file)
            node = flowinfo.main_menu(flow) if flow else None
            labels = {}
            if flow is not None and node is not None:
                menu = flow.nodes[node]
                assert isinstance(menu, MenuNode)
                labels = flowinfo.option_labels(flow, menu)
            self._menu = (group, node, labels)
        snap = await queries.snapshot(
            conn,
            now,
            menu_node=self._menu[1],
            option_labels=self._menu[2],
        )
        return present.snapshot(snap)

    async def _fill(self, conn: PoolConnectionProxy[asyncpg.Record]) -> None:
        """Calendar states the records lack (the controller does this too)."""
        if time.monotonic() - self._last_fill < REFRESH_SECONDS:
            return
        self._last_fill = time.monotonic()
        try:
            await fill_calendar_states(conn)
        except asyncpg.PostgresError as e:
            log.warning("calendar_fill_failed", error=str(e))

    async def _listen(self) -> None:
        """Hold one connection that LISTENs; on loss, reconnect and refresh at once."""
        delay = 0.5
        while not self.closing.is_set():
            conn: PoolConnectionProxy[asyncpg.Record] | None = None
            lost = asyncio.Event()
            try:
                conn = await self._pool.acquire(timeout=QUERY_TIMEOUT)
                conn.add_termination_listener(_setter(lost))
                await conn.add_listener(CHANNEL, self.poke)
                self.poke()  # anything committed while we were not listening
                delay = 0.5
                while not lost.is_set() and not self.closing.is_set():
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(lost.wait(), REFRESH_SECONDS)
                    if not lost.is_set():
                        await conn.fetchval("SELECT 1", timeout=QUERY_TIMEOUT)
            except asyncio.CancelledError:
                raise
            except Exception as e:  # the database is away: the refresher marks figures stale
                log.warning("dashboard_listen_failed", error=repr(e))
                self.poke()
            finally:
                if conn is not None:
                    with contextlib.suppress(Exception):
                        await conn.remove_listener(CHANNEL, self.poke)
                    with contextlib.suppress(Exception):
                        await self._pool.release(conn, timeout=1)
            if not self.closing.is_set():
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)


HUB = web.AppKey("dashboard_hub", Hub)


def _setter(event: asyncio.Event) -> Callable[..., None]:
    def set_(*_: object) -> None:
        event.set()

    return set_


async def hub_context(app: web.Application) -> AsyncIterator[None]:
    """Start the hub with the site, after the pool (cleanup_ctx order)."""
    hub = Hub(app[POOL], app[SETTINGS].flow.file)
    app[HUB] = hub
    task = asyncio.create_task(hub.run(), name="dashboard-hub")
    yield
    hub.closing.set()
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


async def close_streams(app: web.Application) -> None:
    """On shutdown, end every open stream so the server need not wait for them."""
    if HUB in app:
        app[HUB].closing.set()
