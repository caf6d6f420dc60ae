"""The one small interface the call session uses: :class:`SmsRequester`.

``request`` decides at once what can be decided without I/O (the number, the
template, the text), then makes the request durable: committed in the outbox
(limits checked in the same transaction), or — when the database does not answer
within ``sms.db_timeout`` — fsynced to a local spool file, replayed into the
outbox when the database returns. Only then does it answer ``queued``. Sending
is the outbox worker's business (:mod:`ivr.sms.worker`): a gateway outage delays
messages and never holds a caller.

The requester has its own small connection pool, opened lazily: no database round
trip happens on the path of a prompt, only on an SMS request.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import structlog

from ivr.config import SmsSettings
from ivr.log import mask_number
from ivr.published.service import DB_ERRORS
from ivr.sms import outbox
from ivr.sms.limits import Limits, MemoryCounts
from ivr.sms.numbers import classify
from ivr.sms.spool import RequestSpool
from ivr.sms.templates import TemplateSet, render
from ivr.sms.text import MAX_CHARS, parts, units

log = structlog.get_logger("ivr.sms")

QUEUED = "queued"
INVALID_NUMBER = "invalid_number"  # withheld, empty or unreadable
NOT_MOBILE = "not_mobile"  # a valid number that cannot take an SMS (landline, free dial…)
UNKNOWN_TEMPLATE = "unknown_template"
UNAVAILABLE = "unavailable"  # SMS is off, or neither the database nor the spool took it
OUTCOMES = (
    QUEUED,
    INVALID_NUMBER,
    NOT_MOBILE,
    "daily_limit",
    "rate_limited",
    "blocked",
    UNKNOWN_TEMPLATE,
    UNAVAILABLE,
)

Clock = Callable[[], datetime]


def _utcnow() -> datetime:
    return datetime.now(UTC)


class SmsRequester:
    """Accept or refuse SMS requests from calls; every accepted one is durable.

    ``templates`` returns the template set in service (e.g. ``InService.current``);
    ``variables`` the calendar's values now (``{office_hours}``, ``{next_open}``, …).
    Call :meth:`start` before the first request, run :meth:`run_replay` as a
    supervised task, and :meth:`close` at the end.
    """

    def __init__(
        self,
        settings: SmsSettings,
        dsn: str,
        spool_dir: Path,
        templates: Callable[[], TemplateSet],
        variables: Callable[[], Mapping[str, str]] = dict,
        *,
        clock: Clock = _utcnow,
    ) -> None:
        self.settings = settings
        self.enabled = bool(settings.gateway)
        self._dsn = dsn
        self._templates = templates
        self._variables = variables
        self._clock = clock
        self.limits = Limits.from_settings(settings)
        self.spool = RequestSpool(spool_dir)
        self._memory = MemoryCounts()
        self._pool: asyncpg.Pool | None = None
        self._replay_lock = asyncio.Lock()
        self.spooled = asyncio.Event()  # set when a request went to the spool (tests, metrics)

    async def start(self) -> None:
        """Open the pool (connections are made on first use, so a database that is away
        at start-up delays nothing)."""
        if self._pool is None:
            self._pool = await asyncpg.create_pool(
                self._dsn,
                min_size=0,
                max_size=2,
                timeout=self.settings.db_timeout,
                command_timeout=self.settings.db_timeout * 2,
            )

    async def close(self) -> None:
        if self._pool is not None:
            pool, self._pool = self._pool, None
            pool.terminate()

    async def request(
        self,
        call_id: uuid.UUID,
        node: str,
        template: str,
        number: str,
        *,
        variables: Mapping[str, str] | None = None,
    ) -> str:
        """Durable before returning "queued" (committed in PostgreSQL, or fsynced to a
        local spool while the database is away — replayed into the outbox later,
        idempotently by (call_id, node)); or a refusal outcome: "invalid_number",
        "not_mobile", "daily_limit", "rate_limited", "blocked", "unknown_template",
        "unavailable". ``variables`` (optional) override the calendar's values."""
        bound = log.bind(call_id=str(call_id), node=node, template=template)
        if not self.enabled:
            bound.info("sms_refused", outcome=UNAVAILABLE, why="sms is off (sms.gateway)")
            return UNAVAILABLE
        check = classify(number)
        if check.kind != "mobile":
            outcome = NOT_MOBILE if check.kind == "landline" else INVALID_NUMBER
            bound.info("sms_refused", outcome=outcome, to=mask_number(number))
            return outcome
        to = check.national
        bound = bound.bind(to=mask_number(to))
        try:
            text = self._templates().templates.get(template)
        except RuntimeError:  # nothing loaded yet
            text = None
        if text is None:
            bound.warning("sms_refused", outcome=UNKNOWN_TEMPLATE)
            return UNKNOWN_TEMPLATE
        try:
            body = render(text, {**self._variables(), **(variables or {})})
        except (KeyError, ValueError, IndexError) as e:
            bound.error("sms_refused", outcome=UNAVAILABLE, why=f"cannot fill in: {e!r}")
            return UNAVAILABLE
        if units(body) > MAX_CHARS:  # the rules make this impossible with plausible values
            bound.error("sms_refused", outcome=UNAVAILABLE, why="too long", length=units(body))
            return UNAVAILABLE
        now = self._clock()
        req = outbox.SmsRequest(
            outbox.outbox_id(call_id, node), call_id, node, template, to, body, parts(body), now
        )
        outcome = await self._store(req, bound)
        if outcome == QUEUED:
            self._memory.accepted(to, now)
        return outcome

    async def _store(self, req: outbox.SmsRequest, bound: structlog.BoundLogger) -> str:
        try:
            async with asyncio.timeout(self.settings.db_timeout):
                if self._pool is None:
                    raise OSError("the requester was not started")
                async with self._pool.acquire() as conn:
                    outcome = await outbox.admit(conn, req, self.limits)
        except DB_ERRORS as e:  # TimeoutError included
            bound.warning("sms_db_unavailable", error=str(e) or type(e).__name__)
            return await self._spool(req, bound)
        if outcome == QUEUED:
            bound.info("sms_queued", sms_id=str(req.id), parts=req.parts)
        else:
            bound.info("sms_refused", outcome=outcome)
        return outcome

    async def _spool(self, req: outbox.SmsRequest, bound: structlog.BoundLogger) -> str:
        """The database is away: this controller's own counts decide the limits."""
        if await asyncio.to_thread(self.spool.holds, req.id):
            return QUEUED  # asked again for the same (call, node)
        refusal = self._memory.decide(self.limits, req.number, req.requested_at)
        if refusal is not None:
            bound.info("sms_refused", outcome=refusal, offline=True)
            return refusal
        try:
            await asyncio.to_thread(self.spool.write, req)
        except OSError as e:
            bound.error("sms_spool_failed", error=str(e))
            return UNAVAILABLE
        bound.info("sms_spooled", sms_id=str(req.id), parts=req.parts)
        self.spooled.set()
        return QUEUED

    async def replay_spool(self) -> int:
        """Move spooled requests into the outbox (idempotent); returns how many were
        new there. Raises a database error when it is still away."""
        async with self._replay_lock:
            files = await asyncio.to_thread(self.spool.pending)
            if not files:
                return 0
            conn = await asyncpg.connect(self._dsn, timeout=self.settings.db_timeout)
            added = 0
            try:
                for path in files:
                    try:
                        req = await asyncio.to_thread(self.spool.read, path)
                    except FileNotFoundError:
                        continue
                    except (ValueError, KeyError, TypeError, OSError) as e:
                        bad = await asyncio.to_thread(self.spool.set_aside, path)
                        log.error("sms_spool_unreadable", file=str(bad), error=str(e))
                        continue
                    if await outbox.insert(conn, req):
                        added += 1
                    await asyncio.to_thread(self.spool.remove, path)
            finally:
                await conn.close()
            log.info("sms_spool_replayed", files=len(files), added=added)
            return added

    async def run_replay(self, interval: float = 5.0) -> None:
        """Supervised task: replay the spool whenever there is something in it."""
        while True:
            try:
                await self.replay_spool()
            except DB_ERRORS as e:
                log.debug("sms_spool_waiting", error=str(e))
            except Exception:  # keep the files; try again next round
                log.exception("sms_spool_replay_error")
            await asyncio.sleep(interval)
