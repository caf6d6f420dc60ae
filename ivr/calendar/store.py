"""Calendar versions in PostgreSQL: the newest is in service.

``publish`` validates, refuses a save based on a version that is no longer the
newest (two staff members editing at once: the second save never overwrites the
first silently), writes the audit log with before/after values, and sends
``NOTIFY calendar_published`` in one transaction, so every controller picks it
up for its next step (:mod:`ivr.published`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from ivr.calendar.model import Calendar
from ivr.calendar.validate import check
from ivr.store import audit

CHANNEL = "calendar_published"
_LOCK = 0xCA1E_4DA2  # serialises publishes (there may be no row to lock yet)


class StaleCalendar(Exception):
    """Another save landed after the version this edit started from."""

    def __init__(self, version: int | None, current: Calendar) -> None:
        super().__init__(f"the calendar in service is now version {version}")
        self.version = version
        self.current = current


@dataclass(frozen=True)
class CalendarVersion:
    id: int
    calendar: Calendar
    created_at: datetime
    created_by: str
    comment: str


async def in_service(conn: asyncpg.Connection) -> tuple[int, str] | None:
    """The newest version's number and JSON text, or None when staff never saved one."""
    row = await conn.fetchrow(
        "SELECT id, body::text AS body FROM calendar_versions ORDER BY id DESC LIMIT 1"
    )
    return None if row is None else (int(row["id"]), str(row["body"]))


async def current(conn: asyncpg.Connection) -> tuple[int | None, Calendar]:
    """The calendar in service and its version (None: the shipped default)."""
    found = await in_service(conn)
    if found is None:
        return None, Calendar()
    return found[0], Calendar.from_dict(json.loads(found[1]))


async def publish(
    conn: asyncpg.Connection,
    cal: Calendar,
    actor: str,
    base_version: int | None,
    now: datetime,
    *,
    comment: str = "",
    ip: object | None = None,
) -> int:
    """Save ``cal`` as the calendar in service; returns its version.

    Raises ``CalendarError`` (nothing saved) when it does not validate, and
    ``StaleCalendar`` when ``base_version`` is no longer the newest.
    """
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1)", _LOCK)
        version, before = await current(conn)
        if version != base_version:
            raise StaleCalendar(version, before)
        check(cal, now=now, previous=before)
        body: dict[str, Any] = cal.to_dict()
        new: int = await conn.fetchval(
            "INSERT INTO calendar_versions (body, created_by, comment) "
            "VALUES ($1::jsonb, $2, $3) RETURNING id",
            json.dumps(body, ensure_ascii=False),
            actor,
            comment,
        )
        await audit.record(
            conn,
            actor,
            "calendar.publish",
            f"calendar:{new}",
            before.to_dict() | {"version": version},
            body | {"version": new},
            ip=ip,
        )
        await conn.execute("SELECT pg_notify($1, $2)", CHANNEL, str(new))
    return new


async def history(conn: asyncpg.Connection, limit: int = 50) -> list[CalendarVersion]:
    rows = await conn.fetch(
        "SELECT id, body::text AS body, created_at, created_by, comment "
        "FROM calendar_versions ORDER BY id DESC LIMIT $1",
        limit,
    )
    return [
        CalendarVersion(
            r["id"],
            Calendar.from_dict(json.loads(r["body"])),
            r["created_at"],
            r["created_by"],
            r["comment"],
        )
        for r in rows
    ]
