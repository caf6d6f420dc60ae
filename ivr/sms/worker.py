"""The outbox worker: sends due messages, retries with backoff, looks up before any
resend whose first try had an unknown result, and polls delivery results.

Several workers (in one controller or several) may run against one outbox: rows
are claimed with ``FOR UPDATE SKIP LOCKED`` and a per-claim token (see
:mod:`ivr.sms.outbox`), so no two take the same message. A gateway outage only
delays messages: each stays queued with a growing delay until it goes out or its
attempts are used up (then it is ``failed`` with the last reason, for staff to see).
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable, Coroutine, Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import structlog

from ivr.config import SmsSettings
from ivr.log import mask_number
from ivr.published.service import DB_ERRORS
from ivr.sms import outbox
from ivr.sms.gateway import (
    Gateway,
    GatewayError,
    Outgoing,
    PermanentError,
    ProviderMessage,
    UnknownResult,
)
from ivr.sms.limits import Limits

log = structlog.get_logger("ivr.sms.worker")

LOOKUP_GRACE = 3
"""Lookups allowed after the last send attempt before an unknown result is given up."""
BLOCKED_REASON = "送信拒否リストに登録された番号のため送信しませんでした"


def backoff(settings: SmsSettings, attempts: int, jitter: Callable[[], float]) -> float:
    """Seconds before the next try after ``attempts`` tries: base × 2^(n-1), capped,
    less up to 20 % at random so that retries after an outage do not all come at once."""
    delay = min(settings.retry_max, settings.retry_base * 2.0 ** max(attempts - 1, 0))
    return delay * (1 - 0.2 * jitter())


class OutboxWorker:
    def __init__(
        self,
        dsn: str,
        gateway: Gateway,
        settings: SmsSettings,
        *,
        batch: int = 10,
        idle: float = 1.0,
        name: str = "sms-worker",
        jitter: Callable[[], float] = random.random,
    ) -> None:
        self._dsn = dsn
        self.gateway = gateway
        self.settings = settings
        self.batch = batch
        self.idle = idle
        self.name = name
        self._jitter = jitter
        # A claimed row is another worker's after this: longer than a send and a lookup.
        self.lease = settings.request_timeout * 2 + 30
        self._blocklist = Limits.from_settings(settings).blocklist

    async def run(self) -> None:
        """Supervised task: its own small pool; reconnects with backoff."""
        delay = 0.5
        while True:
            pool: asyncpg.Pool | None = None
            try:
                pool = await asyncpg.create_pool(self._dsn, min_size=1, max_size=2, timeout=5)
                delay = 0.5
                while True:
                    busy = await self.run_once(pool)
                    if not busy:
                        await asyncio.sleep(self.idle)
            except DB_ERRORS as e:
                log.warning("sms_worker_db_unavailable", worker=self.name, error=str(e))
            except Exception:  # a bug must not stop every later message: log, back off
                log.exception("sms_worker_error", worker=self.name)
            finally:
                if pool is not None:
                    pool.terminate()
            await asyncio.sleep(random.uniform(delay / 2, delay))
            delay = min(delay * 2, 10.0)

    async def run_once(self, pool: asyncpg.Pool) -> int:
        """One round: send what is due, then ask about what was sent; returns rows handled."""
        async with pool.acquire() as conn:
            claimed = await outbox.claim_due(conn, self.batch, self.lease)
        if claimed:
            await self._each(self._deliver(pool, row) for row in claimed)
        async with pool.acquire() as conn:
            polled = await outbox.claim_polls(conn, self.batch, self.lease)
        if polled:
            await self._each(self._poll(pool, row) for row in polled)
        return len(claimed) + len(polled)

    async def _each(self, jobs: Iterable[Coroutine[Any, Any, None]]) -> None:
        """Run side by side; one message's failure never stops the others. A database
        error is raised after all have ended (the rows it left wait for their lease)."""
        results = await asyncio.gather(*jobs, return_exceptions=True)
        for result in results:
            if isinstance(result, DB_ERRORS):
                raise result
            if isinstance(result, BaseException):
                log.error("sms_worker_job_failed", worker=self.name, error=repr(result))

    async def _deliver(self, pool: asyncpg.Pool, row: outbox.Claimed) -> None:
        s = self.settings
        bound = log.bind(sms_id=str(row.id), attempt=row.attempts, to=mask_number(row.number))
        if row.check_first:
            try:
                found = await self.gateway.lookup(str(row.id))
            except GatewayError as e:
                await self._after_lookup_failed(pool, row, e, bound)
                return
            if found is not None:
                bound.info("sms_found_at_provider", provider_id=found.provider_id)
                await self._sent(pool, row, found)
                return
            if row.attempts > s.max_attempts:
                await self._finish(pool, row, f"{row.attempts - 1}回送信できませんでした", bound)
                return
            bound.info("sms_not_at_provider")  # the unknown send never arrived: send again
        if row.blocked or row.number in self._blocklist:
            # Blocked after it was accepted (or accepted into the spool while the database,
            # and so the blocklist table, was away): never sent.
            await self._finish(pool, row, BLOCKED_REASON, bound)
            return
        try:
            msg = await self.gateway.send(Outgoing(str(row.id), row.number, row.body))
        except PermanentError as e:
            await self._finish(pool, row, f"送信を拒否されました（{e.reason}）", bound)
        except UnknownResult as e:
            bound.warning("sms_send_unknown", error=e.reason)
            delay = backoff(s, row.attempts, self._jitter)
            async with pool.acquire() as conn:
                await outbox.retry(conn, row, f"結果不明: {e.reason}", delay, check_first=True)
        except GatewayError as e:
            if row.attempts >= s.max_attempts:
                reason = f"{row.attempts}回送信できませんでした（{e.reason}）"
                await self._finish(pool, row, reason, bound)
                return
            if e.reason.startswith(("HTTP 401", "HTTP 403")):
                bound.error("sms_gateway_auth_failed", error=e.reason)  # check sms.token
            else:
                bound.warning("sms_send_failed", error=e.reason)
            delay = backoff(s, row.attempts, self._jitter)
            async with pool.acquire() as conn:
                await outbox.retry(conn, row, e.reason, delay, check_first=False)
        else:
            await self._sent(pool, row, msg)

    async def _after_lookup_failed(
        self, pool: asyncpg.Pool, row: outbox.Claimed, e: GatewayError, bound: structlog.BoundLogger
    ) -> None:
        """Nothing is resent while the provider cannot say whether it has the message."""
        if row.attempts > self.settings.max_attempts + LOOKUP_GRACE:
            reason = f"送信されたか確認できませんでした（{e.reason}）"
            await self._finish(pool, row, reason, bound)
            return
        bound.warning("sms_lookup_failed", error=e.reason)
        delay = backoff(self.settings, row.attempts, self._jitter)
        async with pool.acquire() as conn:
            await outbox.retry(conn, row, f"確認待ち: {e.reason}", delay, check_first=True)

    async def _sent(self, pool: asyncpg.Pool, row: outbox.Claimed, msg: ProviderMessage) -> None:
        async with pool.acquire() as conn:
            kept = await outbox.mark_sent(
                conn, row, msg, self.gateway.name, self.settings.poll_interval
            )
        log.info(
            "sms_sent" if kept else "sms_sent_claim_lost",
            sms_id=str(row.id),
            provider_id=msg.provider_id,
            state=msg.state,
        )

    async def _finish(
        self, pool: asyncpg.Pool, row: outbox.Claimed, reason: str, bound: structlog.BoundLogger
    ) -> None:
        async with pool.acquire() as conn:
            await outbox.fail(conn, row, reason)
        bound.error("sms_failed", reason=reason)

    async def _poll(self, pool: asyncpg.Pool, row: outbox.Polled) -> None:
        try:
            msg = await self.gateway.status(row.provider_id)
        except GatewayError as e:
            log.info("sms_poll_failed", sms_id=str(row.id), error=e.reason)
            if datetime.now(UTC) - row.sent_at > timedelta(hours=self.settings.poll_hours):
                async with pool.acquire() as conn:  # stop asking about it
                    await outbox.poll_result(conn, row, None, 0, 0)
            return  # else asked again when the lease set by the claim runs out
        async with pool.acquire() as conn:
            await outbox.poll_result(
                conn, row, msg, self.settings.poll_interval, self.settings.poll_hours * 3600
            )
        if msg is not None and msg.state != "accepted":
            log.info("sms_delivery", sms_id=str(row.id), state=msg.state, detail=msg.detail)
