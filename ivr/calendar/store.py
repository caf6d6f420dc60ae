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
from ivr.published import store as published

CHANNEL = "calendar_published"
VERSIONS = published.Versions("calendar_versions", CHANNEL, 0xCA1E_4DA2, "calendar")


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
    body: dict[str, Any] = cal.to_dict()
    return await published.publish(
        conn,
        VERSIONS,
        actor,
        base_version,
        current=lambda: current(conn),
        stale=StaleCalendar,
        validate=lambda before: check(cal, now=now, previous=before),
        body=json.dumps(body, ensure_ascii=False),
        audit_values=lambda before: (before.to_dict(), body),
        comment=comment,
        ip=ip,
    )


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
