"""The outbox as staff see it (the admin site masks the numbers below administrator)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, TypeAlias

import asyncpg

from ivr.sms.outbox import STATUSES

if TYPE_CHECKING:
    from asyncpg.pool import PoolConnectionProxy

    Conn: TypeAlias = asyncpg.Connection[asyncpg.Record] | PoolConnectionProxy[asyncpg.Record]


@dataclass(frozen=True)
class OutboxRow:
    """A row as staff see it (the number is masked by the admin site)."""

    id: uuid.UUID
    call_id: uuid.UUID
    node: str
    template: str
    number: str
    parts: int  # as we counted them (70 UCS-2 characters for one part, 67 each once split)
    provider_parts: int | None  # as the provider counted them, when it says
    status: str
    reason: str
    attempts: int
    provider_status: str
    carrier: str
    requested_at: datetime
    sent_at: datetime | None
    final_at: datetime | None


async def recent(
    conn: Conn, status: str = "", limit: int = 100, offset: int = 0
) -> list[OutboxRow]:
    """The newest requests first; ``status`` filters (one of ``STATUSES``)."""
    rows = await conn.fetch(
        """SELECT id, call_id, node, template, number, parts, provider_parts, status,
                  reason, attempts,
                  provider_status, carrier, requested_at, sent_at, final_at
             FROM sms_outbox WHERE ($1 = '' OR status = $1)
            ORDER BY requested_at DESC, id LIMIT $2 OFFSET $3""",
        status,
        limit,
        offset,
    )
    return [OutboxRow(**dict(r)) for r in rows]


async def counts(conn: Conn) -> dict[str, int]:
    """How many rows are in each status."""
    rows = await conn.fetch("SELECT status, count(*) AS n FROM sms_outbox GROUP BY status")
    found = {r["status"]: int(r["n"]) for r in rows}
    return {s: found.get(s, 0) for s in STATUSES}


@dataclass(frozen=True)
class PartCount:
    """One sent message of a template: our count of its parts and the provider's."""

    sent_at: datetime
    parts: int
    provider_parts: int


async def provider_counts(conn: Conn, template: str, limit: int = 5) -> list[PartCount]:
    """The newest messages of ``template`` whose provider said how many parts it counted."""
    rows = await conn.fetch(
        """SELECT sent_at, parts, provider_parts FROM sms_outbox
            WHERE template = $1 AND provider_parts IS NOT NULL AND sent_at IS NOT NULL
            ORDER BY sent_at DESC LIMIT $2""",
        template,
        limit,
    )
    return [PartCount(**dict(r)) for r in rows]
