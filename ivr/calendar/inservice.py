"""The calendar in service: the published-settings mechanism (:mod:`ivr.published`)
applied to the calendar. Before a new calendar takes calls, the audio of its
spoken values is built (:mod:`ivr.calendar.ahead`)."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable

import asyncpg
import structlog

from ivr.calendar import store
from ivr.calendar.errors import CalendarError
from ivr.calendar.model import Calendar
from ivr.published.service import InvalidSetting, Source

log = structlog.get_logger("ivr.calendar")

DEFAULT_SOURCE = json.dumps(Calendar().to_dict(), ensure_ascii=False, sort_keys=True)


class CalendarKind:
    name = "calendar"
    channel = store.CHANNEL

    def __init__(self, prepare: Callable[[Calendar], Awaitable[int]] | None = None) -> None:
        self.prepare = prepare  # builds the audio this calendar will need

    def default(self) -> Source:
        return Source(None, DEFAULT_SOURCE)

    async def fetch(self, conn: asyncpg.Connection) -> Source | None:
        found = await store.in_service(conn)
        return None if found is None else Source(*found)

    async def build(self, source: Source) -> Calendar:
        try:
            cal = Calendar.from_dict(json.loads(source.text))
        except (ValueError, CalendarError) as e:
            raise InvalidSetting(f"calendar version {source.version}: {e}") from e
        if self.prepare is not None:
            built = await self.prepare(cal)
            log.info("calendar_prompts_built", version=source.version, texts=built)
        return cal
