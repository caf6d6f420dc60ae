"""A calendar saved in the database is heard on the next real call, with no restart:
the same key (0, to talk to staff) is transferred while the day is open and gets the
office-hours guidance once staff close the day."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import datetime

import asyncpg

from ivr.calendar import store
from ivr.calendar.model import DateOverride, Window
from ivr.dev.call import prompt_ms
from ivr.dev.sipp import Step, place_call
from ivr.dev.stack import Stack
from ivr.flow.model import Flow
from ivr.log import TOKYO
from ivr.prompts.library import PromptLibrary
from tests.e2e.helpers import CALLER, DIALLED, wait_call


async def _publish_today(stack: Stack, db: asyncpg.Connection, windows: tuple[Window, ...]) -> int:
    now = datetime.now(TOKYO)
    version, cal = await store.current(db)
    today = DateOverride(now.date(), windows, "e2e")
    others = tuple(o for o in cal.overrides if o.day != today.day)
    switches = sum(1 for e in stack.log_entries() if e.get("event") == "calendar_switched")
    new = await store.publish(db, replace(cal, overrides=(*others, today)), "e2e", version, now)
    for _ in range(300):
        done = [e for e in stack.log_entries() if e.get("event") == "calendar_switched"]
        if len(done) > switches and done[-1]["version"] == new:
            return new
        await asyncio.sleep(0.1)
    raise AssertionError(f"controller did not switch to calendar {new}: {stack.log_tail()}")


async def _press_zero(
    stack: Stack, library: PromptLibrary, flow: Flow, db: asyncpg.Connection
) -> asyncpg.Record:
    since = datetime.now(TOKYO)
    press_at = prompt_ms(library, flow, "welcome") + 1500  # inside the main menu prompt
    result = await place_call(
        stack.asterisk.sip_port, DIALLED, CALLER, [Step(press_at, "0")], tail_ms=2500
    )
    assert result.ok, result.output
    return await wait_call(db, since)


async def test_calendar_change_reaches_the_next_call(
    stack: Stack, library: PromptLibrary, flow: Flow, db: asyncpg.Connection
) -> None:
    """Open all day → 0 goes to the transfer; closed by staff → the next call's 0
    hears office_closed; both without restarting anything."""
    await _publish_today(stack, db, (Window(0, 24 * 60),))
    row = await _press_zero(stack, library, flow, db)
    assert "transfer_staff" in row["path"] and "office_closed" not in row["path"]

    await _publish_today(stack, db, ())  # closed all day
    row = await _press_zero(stack, library, flow, db)
    assert "office_closed" in row["path"] and "transfer_staff" not in row["path"]
