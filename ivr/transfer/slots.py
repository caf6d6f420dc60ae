"""Capacity slots: how many callers are being transferred to each target, counted in
PostgreSQL across every controller sharing the database, so a target is never
over-booked.

A claim runs in one transaction holding an advisory lock for its target: lapsed slots
of that target are removed, the live ones counted, and the new one inserted only
below the target's limit (two controllers claiming the last slot at once: one gets
it, the other the capacity route). A slot carries the caller's channel id, the
Asterisk that holds it (its entity id) and an expiry; the controller that follows
the channel renews it every third of ``ttl``, so the slots of a controller that
crashed lapse by themselves, and the next controller to connect to that Asterisk
removes those whose channels are gone at once (:meth:`Slots.reconcile`). A target
never stays "full" for good.

While the database is away (or slower than ``db_timeout``), transfers go on: this
controller counts its own slots against the limit, and writes them when the
database is back.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from dataclasses import dataclass

import asyncpg
import structlog

from ivr.published.service import DB_ERRORS

log = structlog.get_logger("ivr.transfer")


@dataclass
class Slot:
    channel_id: str
    target: str
    attempt_id: uuid.UUID
    call_id: uuid.UUID
    synced: bool = False  # written to the database (else only counted here)


@dataclass(frozen=True)
class Freed:
    """A slot removed by reconciliation: its channel was gone."""

    channel_id: str
    target: str
    attempt_id: uuid.UUID
    call_id: uuid.UUID


_CLAIM_LOCK = "SELECT pg_advisory_xact_lock(hashtext('ivr.transfer_slot'), hashtext($1))"
_CLAIM_COUNT = """
SELECT count(*) FROM transfer_slots
WHERE target = $1 AND channel_id <> $2 AND expires_at > now()
"""
_UPSERT = """
INSERT INTO transfer_slots (channel_id, node, target, attempt_id, call_id, expires_at)
VALUES ($1, $2, $3, $4, $5, now() + make_interval(secs => $6))
ON CONFLICT (channel_id) DO UPDATE SET node = EXCLUDED.node, target = EXCLUDED.target,
    attempt_id = EXCLUDED.attempt_id, call_id = EXCLUDED.call_id,
    expires_at = EXCLUDED.expires_at
"""


class Slots:
    def __init__(self, dsn: str, ttl: float = 300.0, db_timeout: float = 1.0) -> None:
        self._dsn = dsn
        self.ttl = ttl
        self._timeout = db_timeout
        self.node = ""  # the Asterisk's entity id, set when the controller connects
        self.held: dict[str, Slot] = {}  # channel id -> the slots this controller holds
        self._released: set[str] = set()  # released while the database was away
        self._pool: asyncpg.Pool | None = None
        self._pool_lock = asyncio.Lock()

    async def _acquire_pool(self) -> asyncpg.Pool:
        async with self._pool_lock:
            if self._pool is None:
                self._pool = await asyncpg.create_pool(
                    self._dsn, min_size=0, max_size=3, timeout=self._timeout
                )
            return self._pool

    async def claim(
        self, channel_id: str, target: str, limit: int, attempt_id: uuid.UUID, call_id: uuid.UUID
    ) -> bool:
        """Take a slot of ``target`` for the channel; False when ``limit`` are taken."""
        slot = Slot(channel_id, target, attempt_id, call_id)
        try:
            async with asyncio.timeout(self._timeout):
                pool = await self._acquire_pool()
                async with pool.acquire() as conn, conn.transaction():
                    await conn.execute(_CLAIM_LOCK, target)
                    await conn.execute(
                        "DELETE FROM transfer_slots WHERE target = $1 AND expires_at <= now()",
                        target,
                    )
                    taken: int = await conn.fetchval(_CLAIM_COUNT, target, channel_id)
                    if taken >= limit:
                        return False
                    await conn.execute(
                        _UPSERT, channel_id, self.node, target, attempt_id, call_id, self.ttl
                    )
            slot.synced = True
        except DB_ERRORS as e:
            # The database is away: count this controller's own slots instead.
            taken = sum(1 for s in self.held.values() if s.target == target)
            log.warning(
                "transfer_slots_local", target=target, held=taken, limit=limit, error=str(e)
            )
            if taken >= limit:
                return False
        self.held[channel_id] = slot
        self._released.discard(channel_id)
        return True

    async def release(self, channel_id: str) -> None:
        """Give the channel's slot back (at once; later if the database is away)."""
        slot = self.held.pop(channel_id, None)
        try:
            async with asyncio.timeout(self._timeout):
                pool = await self._acquire_pool()
                await pool.execute("DELETE FROM transfer_slots WHERE channel_id = $1", channel_id)
        except DB_ERRORS as e:
            if slot is not None and slot.synced:
                self._released.add(channel_id)
            log.warning("transfer_slot_release_later", channel_id=channel_id, error=str(e))

    def adopt(self, slot: Slot) -> None:
        """A slot found on a channel at reconcile (a predecessor claimed it): renewed from
        now on by this controller."""
        self.held[slot.channel_id] = slot

    async def reconcile(self, live: set[str]) -> list[Freed]:
        """After (re)connecting: this Asterisk's slots whose channels are not ``live``
        (gone, or no longer transferring) are removed and returned; those of live channels
        this controller holds are written or renewed."""
        for channel_id in [c for c in self.held if c not in live]:
            self.held.pop(channel_id)
            self._released.add(channel_id)
        try:
            await self._sync()
            async with asyncio.timeout(self._timeout * 5):
                pool = await self._acquire_pool()
                async with pool.acquire() as conn, conn.transaction():
                    rows = await conn.fetch(
                        "DELETE FROM transfer_slots WHERE node = $1 AND NOT (channel_id = ANY($2))"
                        " RETURNING channel_id, target, attempt_id, call_id",
                        self.node,
                        list(live),
                    )
                    # Their calls ended while no controller followed them: say so.
                    await conn.execute(
                        "UPDATE transfer_attempts SET outcome = 'ended_unseen', ended_at = now(),"
                        " updated_at = now() WHERE id = ANY($1) AND ended_at IS NULL",
                        [r["attempt_id"] for r in rows],
                    )
        except DB_ERRORS as e:
            log.warning("transfer_slots_reconcile_failed", error=str(e))
            return []
        freed = [Freed(r["channel_id"], r["target"], r["attempt_id"], r["call_id"]) for r in rows]
        if freed:
            log.info(
                "transfer_slots_freed", count=len(freed), channels=[f.channel_id for f in freed]
            )
        return freed

    async def _sync(self) -> None:
        """Write what the database missed: slots claimed locally, renewals, releases."""
        async with asyncio.timeout(self._timeout * 5):
            pool = await self._acquire_pool()
            async with pool.acquire() as conn, conn.transaction():
                if self._released:
                    await conn.execute(
                        "DELETE FROM transfer_slots WHERE channel_id = ANY($1)",
                        list(self._released),
                    )
                for s in list(self.held.values()):
                    await conn.execute(
                        _UPSERT,
                        s.channel_id,
                        self.node,
                        s.target,
                        s.attempt_id,
                        s.call_id,
                        self.ttl,
                    )
                    s.synced = True
        self._released.clear()

    async def run(self) -> None:
        """Renew the slots this controller holds (and write what waited), every third of
        the time-to-live, until cancelled."""
        period = self.ttl / 3
        while True:
            started = time.monotonic()
            if self.held or self._released:
                try:
                    await self._sync()
                except DB_ERRORS as e:
                    log.warning("transfer_slots_renew_failed", error=str(e), held=len(self.held))
            await asyncio.sleep(max(1.0, period - (time.monotonic() - started)))

    async def count(self, target: str) -> int:
        """Live slots of ``target`` in the database (for the admin site and tests)."""
        pool = await self._acquire_pool()
        found: int = await pool.fetchval(
            "SELECT count(*) FROM transfer_slots WHERE target = $1 AND expires_at > now()", target
        )
        return found

    async def close(self) -> None:
        if self._pool is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._pool.close(), 2)
            self._pool = None
