"""The outbox in PostgreSQL: one row per request, unique by (call, node), so a
request made again (a resumed call, a spool replayed twice) is the same message.

Life of a row: ``queued`` → (a worker claims it) ``sending`` → ``sent`` (the provider
has it) → ``delivered`` or ``failed``; or ``sending`` → ``queued`` again with a later
``next_attempt_at`` (exponential backoff), or → ``failed`` (a permanent refusal, or
attempts used up). Workers claim due rows with ``FOR UPDATE SKIP LOCKED``, so
several never take the same message; each claim has a token and a lease, and every
update after the send names the token, so a worker that was too slow (its lease ran
out and another took the row) changes nothing. A row taken over from an expired
lease, or whose send had an unknown result, is marked ``check_first``: the worker
looks it up at the provider by its tag before sending again.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeAlias

import asyncpg

from ivr.sms import limits
from ivr.sms.gateway import DELIVERED, UNDELIVERED, UNKNOWN_FINAL, ProviderMessage

if TYPE_CHECKING:
    from asyncpg.pool import PoolConnectionProxy

    Conn: TypeAlias = asyncpg.Connection[asyncpg.Record] | PoolConnectionProxy[asyncpg.Record]

STATUSES = ("queued", "sending", "sent", "delivered", "failed")
QUEUED = "queued"
NAMESPACE = uuid.UUID("1f0c8c52-5d3e-4b8e-9a55-6d2c0e7f5a31")
_ADMIT_LOCK = 0x5E5_0B0C  # serialises admissions, so two calls cannot both pass a limit


def outbox_id(call_id: uuid.UUID, node: str) -> uuid.UUID:
    """The row's id, also the tag the gateway gets: the same for the same request."""
    return uuid.uuid5(NAMESPACE, f"{call_id}/{node}")


@dataclass(frozen=True)
class SmsRequest:
    """One accepted request, as stored in the outbox (or spooled while it is away)."""

    id: uuid.UUID
    call_id: uuid.UUID
    node: str
    template: str
    number: str
    body: str
    parts: int
    requested_at: datetime

    def to_json(self) -> str:
        data: dict[str, Any] = asdict(self)
        data["id"], data["call_id"] = str(self.id), str(self.call_id)
        data["requested_at"] = self.requested_at.isoformat()
        return json.dumps(data, ensure_ascii=False)

    @classmethod
    def from_json(cls, text: str) -> SmsRequest:
        d = json.loads(text)
        when = datetime.fromisoformat(d["requested_at"])
        if when.tzinfo is None:
            raise ValueError("requested_at without a time zone")
        return cls(
            uuid.UUID(d["id"]),
            uuid.UUID(d["call_id"]),
            str(d["node"]),
            str(d["template"]),
            str(d["number"]),
            str(d["body"]),
            int(d["parts"]),
            when,
        )


@dataclass(frozen=True)
class Claimed:
    id: uuid.UUID
    claim: uuid.UUID
    number: str
    body: str
    attempts: int
    check_first: bool
    blocked: bool = False  # the number is on the blocklist table now (added after admission)


@dataclass(frozen=True)
class Polled:
    id: uuid.UUID
    provider_id: str
    sent_at: datetime


_INSERT = """INSERT INTO sms_outbox
    (id, call_id, node, template, number, body, parts, requested_at)
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
    ON CONFLICT DO NOTHING"""


async def insert(conn: Conn, req: SmsRequest) -> bool:
    """Store ``req`` unless its (call, node) is there already; True when it was new."""
    status: str = await conn.execute(
        _INSERT,
        req.id,
        req.call_id,
        req.node,
        req.template,
        req.number,
        req.body,
        req.parts,
        req.requested_at,
    )
    return status.endswith(" 1")


async def admit(conn: Conn, req: SmsRequest, lim: limits.Limits) -> str:
    """Check the limits and store ``req`` in one transaction: ``queued``, or the refusal.
    A request already stored (same call and node) is ``queued`` again, counted once."""
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1)", _ADMIT_LOCK)
        if await conn.fetchval(
            "SELECT 1 FROM sms_outbox WHERE call_id = $1 AND node = $2", req.call_id, req.node
        ):
            return QUEUED
        row = await conn.fetchrow(
            """SELECT
                 EXISTS (SELECT 1 FROM sms_blocklist WHERE number = $1) AS blocked,
                 (SELECT count(*) FROM sms_outbox
                   WHERE number = $1 AND requested_at >= $2) AS today,
                 (SELECT count(*) FROM sms_outbox
                   WHERE requested_at > $3::timestamptz - interval '1 minute'
                     AND requested_at <= $3)
                   AS last_minute""",
            req.number,
            limits.day_start(req.requested_at),
            req.requested_at,
        )
        assert row is not None
        refusal = limits.decide(
            lim,
            blocked=row["blocked"] or req.number in lim.blocklist,
            today=row["today"],
            last_minute=row["last_minute"],
        )
        if refusal is not None:
            return refusal
        await insert(conn, req)
    return QUEUED


async def claim_due(conn: Conn, limit: int, lease: float) -> list[Claimed]:
    """Take up to ``limit`` rows due for sending (and rows whose worker's lease ran out:
    those are looked up before any resend)."""
    rows = await conn.fetch(
        """WITH due AS (
               SELECT id FROM sms_outbox
                WHERE (status = 'queued' AND next_attempt_at <= now())
                   OR (status = 'sending' AND claimed_until < now())
                ORDER BY next_attempt_at
                LIMIT $1
                FOR UPDATE SKIP LOCKED)
           UPDATE sms_outbox o
              SET status = 'sending', attempts = o.attempts + 1, claim = $2,
                  claimed_until = now() + make_interval(secs => $3),
                  check_first = o.check_first OR o.status = 'sending', updated_at = now()
             FROM due WHERE o.id = due.id
           RETURNING o.id, o.number, o.body, o.attempts, o.check_first,
                     EXISTS (SELECT 1 FROM sms_blocklist b WHERE b.number = o.number)
                       AS blocked""",
        limit,
        claim := uuid.uuid4(),
        lease,
    )
    return [
        Claimed(
            r["id"], claim, r["number"], r["body"], r["attempts"], r["check_first"], r["blocked"]
        )
        for r in rows
    ]


def _status_for(state: str) -> tuple[str, bool]:
    """(outbox status, final) for what the provider says."""
    if state == DELIVERED:
        return "delivered", True
    if state == UNDELIVERED:
        return "failed", True
    return "sent", state == UNKNOWN_FINAL


def _reason_for(msg: ProviderMessage) -> str:
    if msg.state == UNDELIVERED:
        return f"届きませんでした（{msg.detail}）"
    if msg.state == UNKNOWN_FINAL:
        return f"送達結果不明（{msg.detail}）"
    return ""


async def mark_sent(
    conn: Conn, row: Claimed, msg: ProviderMessage, gateway: str, poll_in: float
) -> bool:
    """The provider has the message. False when the claim was lost meanwhile."""
    status, final = _status_for(msg.state)
    done: str = await conn.execute(
        """UPDATE sms_outbox
              SET status = $3, provider_id = $4, provider_status = $5, carrier = $6,
                  gateway = $7, reason = $8, sent_at = coalesce(sent_at, now()),
                  final_at = CASE WHEN $9 THEN now() END,
                  next_poll_at = CASE WHEN $9 THEN NULL
                                      ELSE now() + make_interval(secs => $10) END,
                  provider_parts = coalesce($11, provider_parts),
                  claim = NULL, claimed_until = NULL, check_first = false, updated_at = now()
            WHERE id = $1 AND claim = $2 AND status = 'sending'""",
        row.id,
        row.claim,
        status,
        msg.provider_id,
        msg.detail,
        msg.carrier,
        gateway,
        _reason_for(msg),
        final,
        poll_in,
        msg.parts,
    )
    return done.endswith(" 1")


async def retry(conn: Conn, row: Claimed, reason: str, delay: float, check_first: bool) -> bool:
    """Back to the queue, due after ``delay`` seconds."""
    done: str = await conn.execute(
        """UPDATE sms_outbox
              SET status = 'queued', reason = $3, check_first = $4,
                  next_attempt_at = now() + make_interval(secs => $5),
                  claim = NULL, claimed_until = NULL, updated_at = now()
            WHERE id = $1 AND claim = $2 AND status = 'sending'""",
        row.id,
        row.claim,
        reason[:500],
        check_first,
        delay,
    )
    return done.endswith(" 1")


async def fail(conn: Conn, row: Claimed, reason: str) -> bool:
    """Never to be sent: a permanent refusal, or attempts used up."""
    done: str = await conn.execute(
        """UPDATE sms_outbox
              SET status = 'failed', reason = $3, final_at = now(),
                  claim = NULL, claimed_until = NULL, check_first = false, updated_at = now()
            WHERE id = $1 AND claim = $2 AND status = 'sending'""",
        row.id,
        row.claim,
        reason[:500],
    )
    return done.endswith(" 1")


async def claim_polls(conn: Conn, limit: int, lease: float) -> list[Polled]:
    """Sent messages due for a delivery check (their next check is pushed back by
    ``lease``, so another worker does not ask at the same time)."""
    rows = await conn.fetch(
        """WITH due AS (
               SELECT id FROM sms_outbox
                WHERE status = 'sent' AND next_poll_at <= now()
                ORDER BY next_poll_at
                LIMIT $1
                FOR UPDATE SKIP LOCKED)
           UPDATE sms_outbox o SET next_poll_at = now() + make_interval(secs => $2)
             FROM due WHERE o.id = due.id
           RETURNING o.id, o.provider_id, o.sent_at""",
        limit,
        lease,
    )
    return [Polled(r["id"], r["provider_id"] or "", r["sent_at"]) for r in rows]


async def poll_result(
    conn: Conn, row: Polled, msg: ProviderMessage | None, poll_in: float, give_up: float
) -> None:
    """Record a delivery check: a final state, or the next check (none after
    ``give_up`` seconds since sending, or when the gateway cannot be asked)."""
    if msg is None:
        await conn.execute(
            "UPDATE sms_outbox SET next_poll_at = NULL, updated_at = now() "
            "WHERE id = $1 AND status = 'sent'",
            row.id,
        )
        return
    status, final = _status_for(msg.state)
    await conn.execute(
        """UPDATE sms_outbox
              SET status = $2, provider_status = $3,
                  carrier = CASE WHEN $4 = '' THEN carrier ELSE $4 END,
                  reason = CASE WHEN $5 THEN $6
                                WHEN sent_at < now() - make_interval(secs => $8)
                                THEN '送達結果を確認できませんでした'
                                ELSE reason END,
                  final_at = CASE WHEN $5 THEN now() END,
                  next_poll_at = CASE
                      WHEN $5 OR sent_at < now() - make_interval(secs => $8) THEN NULL
                      ELSE now() + make_interval(secs => $7) END,
                  provider_parts = coalesce($9, provider_parts),
                  updated_at = now()
            WHERE id = $1 AND status = 'sent'""",
        row.id,
        status,
        msg.detail,
        msg.carrier,
        final,
        _reason_for(msg),
        poll_in,
        give_up,
        msg.parts,
    )


async def apply_report(conn: Conn, msg: ProviderMessage, tag: str) -> bool:
    """A delivery report from the provider (webhook): idempotent, by the provider's id or
    our tag; only ever moves a message forward (a final state is never changed)."""
    try:
        tag_id: uuid.UUID | None = uuid.UUID(tag) if tag else None
    except ValueError:
        tag_id = None
    status, final = _status_for(msg.state)
    done: str = await conn.execute(
        """UPDATE sms_outbox
              SET status = $3, provider_id = coalesce(provider_id, $1),
                  provider_status = $4,
                  carrier = CASE WHEN $5 = '' THEN carrier ELSE $5 END,
                  reason = $6, sent_at = coalesce(sent_at, now()),
                  final_at = CASE WHEN $7 THEN now() END,
                  next_poll_at = CASE WHEN $7 THEN NULL ELSE coalesce(next_poll_at, now()) END,
                  provider_parts = coalesce($8, provider_parts),
                  claim = NULL, claimed_until = NULL, check_first = false, updated_at = now()
            WHERE (provider_id = $1 OR id = $2)
              AND status IN ('queued', 'sending', 'sent')""",
        msg.provider_id,
        tag_id,
        status,
        msg.detail,
        msg.carrier,
        _reason_for(msg),
        final,
        msg.parts,
    )
    return not done.endswith(" 0")
