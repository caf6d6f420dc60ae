"""The calendar state a call began in, for calls whose record does not say it: worked
out from the calendar version that was in service when the call started (the newest
saved before it; the shipped default before any was saved)."""

from __future__ import annotations

import json
from bisect import bisect_right
from datetime import datetime, timedelta

import structlog

from ivr.calendar.decide import state_at
from ivr.calendar.model import Calendar
from ivr.stats.db import Conn

log = structlog.get_logger("ivr.stats.calendar")

SETTLE = timedelta(seconds=3)  # the session's first event (which carries the state) comes first


class CalendarHistory:
    """Every saved calendar version, to answer "which state was it at that moment"."""

    def __init__(self, versions: list[tuple[datetime, Calendar]]) -> None:
        self._versions = sorted(versions, key=lambda v: v[0])
        self._starts = [v[0] for v in self._versions]

    @classmethod
    async def load(cls, conn: Conn) -> CalendarHistory:
        versions = []
        for r in await conn.fetch(
            "SELECT id, body::text AS body, created_at FROM calendar_versions ORDER BY id"
        ):
            try:
                versions.append((r["created_at"], Calendar.from_dict(json.loads(r["body"]))))
            except (ValueError, TypeError, KeyError) as e:  # a body this code cannot read
                log.warning("calendar_version_unreadable", version=r["id"], error=str(e))
        return cls(versions)

    def calendar_at(self, moment: datetime) -> Calendar:
        i = bisect_right(self._starts, moment)
        return self._versions[i - 1][1] if i else Calendar()

    def state_at(self, moment: datetime) -> str:
        return state_at(self.calendar_at(moment), moment)


async def fill_calendar_states(conn: Conn, *, settle: timedelta = SETTLE, limit: int = 1000) -> int:
    """Give the calls that lack one their calendar state (on ``calls``, or on
    ``cel_calls`` for calls no controller saw); the triggers then re-count them.
    Returns how many were filled."""
    rows = await conn.fetch(
        """SELECT channel_id, call_id, started_at FROM stats_call
           WHERE calendar_state IS NULL AND started_at < now() - $1::interval
           ORDER BY started_at LIMIT $2""",
        settle,
        limit,
    )
    if not rows:
        return 0
    history = await CalendarHistory.load(conn)
    seen = [(r["call_id"], history.state_at(r["started_at"])) for r in rows if r["call_id"]]
    unseen = [
        (r["channel_id"], history.state_at(r["started_at"])) for r in rows if not r["call_id"]
    ]
    async with conn.transaction():
        if seen:
            await conn.execute(
                """UPDATE calls c SET calendar_state = u.state
                   FROM unnest($1::uuid[], $2::text[]) AS u(id, state)
                   WHERE c.id = u.id AND c.calendar_state IS NULL""",
                [s[0] for s in seen],
                [s[1] for s in seen],
            )
        if unseen:
            await conn.execute(
                """UPDATE cel_calls c SET calendar_state = u.state
                   FROM unnest($1::text[], $2::text[]) AS u(id, state)
                   WHERE c.uniqueid = u.id AND c.calendar_state IS NULL""",
                [s[0] for s in unseen],
                [s[1] for s in unseen],
            )
    return len(rows)
