"""Calls that ended while no controller ran: their record has no end, but Asterisk's
own log says the channel is gone. Closed from CEL, at start-up and periodically after.

The record keeps everything the controller wrote; it gets the end time from CEL, an
outcome from what the dialplan did (the apology, the busy message, an answered
transfer, else the caller hung up while held), a note, and one more ``rev`` — so a
late replay of an older snapshot cannot reopen it, while a controller that still
writes its own final snapshot (its ``rev`` is at least as high) has the last word.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import timedelta

import structlog

from ivr.stats.db import Conn

log = structlog.get_logger("ivr.stats.closer")

NOTE = "closed from Asterisk's CEL: the call ended while no controller was running"

_CLOSE = """
UPDATE calls c SET
    ended_at = cel.ended_at,
    outcome = CASE WHEN cel.apology THEN 'apology'
                   WHEN cel.busy THEN 'busy'
                   WHEN cel.transferred THEN 'transferred'
                   ELSE 'caller_hangup' END,
    rev = c.rev + 1,
    record_note = concat_ws('; ', nullif(c.record_note, ''), $2::text)
FROM cel_calls cel
WHERE c.ended_at IS NULL AND cel.uniqueid = c.channel_id AND cel.ended_at IS NOT NULL
  AND cel.ended_at <= now() - $1::interval
RETURNING c.id, c.channel_id, c.outcome, c.last_node
"""


@dataclass(frozen=True)
class Closed:
    id: uuid.UUID
    channel_id: str
    outcome: str
    last_node: str | None


async def close_ended_calls(conn: Conn, grace: timedelta = timedelta(0)) -> list[Closed]:
    """Close every open record whose channel CEL shows ended at least ``grace`` ago.
    At start-up (no controller has the call) ``grace`` is 0; while a controller runs,
    a minute leaves it the time to close its own calls."""
    rows = await conn.fetch(_CLOSE, grace, NOTE)
    closed = [Closed(r["id"], r["channel_id"], r["outcome"], r["last_node"]) for r in rows]
    for c in closed:
        log.info(
            "call_closed_from_cel",
            call_id=str(c.id),
            channel_id=c.channel_id,
            outcome=c.outcome,
            node=c.last_node,
        )
    return closed
