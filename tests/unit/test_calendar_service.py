"""The calendar reaches calls: facts at a moment, the shipped flow's announcement and
office-hours guidance, audio built ahead, and the calendar in service (the database
wins; the cache serves while it is away)."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import date, datetime
from pathlib import Path

import asyncpg
import pytest

from ivr.calendar import store
from ivr.calendar.ahead import texts_ahead
from ivr.calendar.errors import CalendarError
from ivr.calendar.facts import facts_at
from ivr.calendar.inservice import CalendarKind
from ivr.calendar.model import Announcement, Calendar, DateOverride, ServicePeriod
from ivr.call.prompts import PromptResolver
from ivr.dev import postgres
from ivr.flow.loader import load_default_flow
from ivr.log import TOKYO
from ivr.prompts.library import PromptLibrary
from ivr.published.service import InService

from .test_flow_kit import Call, ctx, plays


def _at(*args: int) -> datetime:
    return datetime(*args, tzinfo=TOKYO)  # type: ignore[misc]


def test_facts_follow_the_clock_within_one_call() -> None:
    """17:14 is open and 17:16 closed on a weekday; the spoken values go with them."""
    cal = Calendar()
    before, after = facts_at(cal, _at(2026, 12, 1, 17, 14)), facts_at(cal, _at(2026, 12, 1, 17, 16))
    assert (before.state, after.state) == ("open", "closed")
    assert after.variables["office_hours"] == "平日の午前8時45分から午後5時15分まで"
    assert after.variables["next_open_sentence"] == "次の受付は、12月2日(水)午前8時45分からです。"


def test_no_opening_left_before_the_service_ends_is_said_plainly() -> None:
    """With the service ending before the next opening, no date is promised."""
    cal = Calendar(service=ServicePeriod(end=_at(2026, 12, 26, 0, 0)))
    facts = facts_at(cal, _at(2026, 12, 25, 18, 0))
    assert "次の受付は" not in facts.variables["next_open_sentence"]
    assert "ございません" in facts.variables["next_open_sentence"]


def test_shipped_flow_plays_an_announcement_in_force_before_the_menu() -> None:
    """With an announcement in force the shipped flow plays it after the welcome."""
    flow = load_default_flow()
    cal = Calendar(
        announcements=(
            Announcement(
                "a1", "システム停止", "12月5日は窓口を臨時休業します。", _at(2026, 12, 1, 12, 0)
            ),
        )
    )
    facts = facts_at(cal, _at(2026, 12, 1, 12, 30))
    assert facts.announcements == "active"
    context = replace(
        ctx(calendar=facts.state), announcements=facts.announcements, variables=facts.variables
    )
    call = Call.start(flow, context)
    assert plays(call.cmds) == [("welcome",)]
    call.end_playback()
    assert plays(call.cmds) == [("announcement",)]
    assert flow.prompts["announcement"].render(facts.variables) == "12月5日は窓口を臨時休業します。"
    call.end_playback()
    assert call.state.node == "main_menu"
    morning = facts_at(cal, _at(2026, 12, 1, 11, 59))  # before it starts: straight to the menu
    call = Call.start(flow, replace(ctx(), announcements=morning.announcements))
    call.end_playback()
    assert call.state.node == "main_menu"


def test_texts_ahead_cover_every_boundary(tmp_path: Path) -> None:
    """Every rendering of the calendar-dependent prompts in the next 48 hours is known
    ahead, including the one after the office closes and after it opens again."""
    flow = load_default_flow()
    resolver = PromptResolver(PromptLibrary(tmp_path, "/x"), flow)
    texts = texts_ahead(resolver, Calendar(), _at(2026, 12, 1, 9, 0))
    closed = [t for t in texts if t.startswith("ただいまの時間は")]
    assert any("12月2日(水)午前8時45分" in t for t in closed)  # said after 17:15 on the 1st
    assert any("12月3日(木)午前8時45分" in t for t in closed)  # said after 17:15 on the 2nd
    assert all("{" not in t for t in texts)


async def test_publish_refuses_a_stale_edit_and_bad_input(fresh_dsn: str) -> None:
    """A save based on an older version is refused with the current one; an invalid
    calendar is refused whole; each accepted save is audit-logged with before/after."""
    conn = await asyncpg.connect(fresh_dsn)
    try:
        now = _at(2026, 12, 1, 10, 0)
        closed_today = Calendar(overrides=(DateOverride(date(2026, 12, 1), (), "臨時休業"),))
        first = await store.publish(conn, closed_today, "tanaka", None, now)
        with pytest.raises(store.StaleCalendar) as stale:
            await store.publish(conn, Calendar(), "suzuki", None, now)
        assert stale.value.version == first and stale.value.current == closed_today
        bad = Calendar(service=ServicePeriod(_at(2027, 1, 1, 0, 0), _at(2026, 1, 1, 0, 0)))
        with pytest.raises(CalendarError):
            await store.publish(conn, bad, "tanaka", first, now)
        assert await conn.fetchval("SELECT count(*) FROM calendar_versions") == 1
        audit = await conn.fetchrow(
            "SELECT before, after FROM admin_audit WHERE action = 'calendar.publish'"
        )
        assert json.loads(audit["after"])["version"] == first
        assert json.loads(audit["before"])["version"] is None
    finally:
        await conn.close()


async def test_calls_branch_on_the_cached_calendar_while_the_database_is_away(
    fresh_dsn: str, tmp_path: Path
) -> None:
    """The calendar in service is cached on disk: with the database away a restarted
    controller still knows today is closed; once the database answers, it wins."""
    now = _at(2026, 12, 1, 10, 0)
    closed_today = Calendar(overrides=(DateOverride(date(2026, 12, 1), (), "臨時休業"),))
    conn = await asyncpg.connect(fresh_dsn)
    try:
        await store.publish(conn, closed_today, "tanaka", None, now)
    finally:
        await conn.close()
    cache = tmp_path / "calendar-in-service.json"
    up = InService(CalendarKind(), cache)
    await up.start(fresh_dsn, timeout=3)
    assert facts_at(up.current, now).state == "holiday" and cache.exists()

    dead = f"postgresql://postgres@127.0.0.1:{postgres.free_port()}/none"
    down = InService(CalendarKind(), cache)
    await down.start(dead, timeout=1)
    assert down.served.origin == "cache"
    assert facts_at(down.current, now).state == "holiday"
