"""Calendar validation: every problem found, each with its field and a Japanese message."""

from __future__ import annotations

from datetime import date, datetime

import pytest

from ivr.calendar import validate as v
from ivr.calendar.model import (
    Announcement,
    Calendar,
    DateClosure,
    DateOverride,
    MonthDay,
    RecurringClosure,
    ServicePeriod,
    WeeklyHours,
    Window,
)
from ivr.calendar.validate import CalendarError, check, validate
from ivr.log import TOKYO


def at(y: int, mo: int, d: int, h: int = 0, mi: int = 0) -> datetime:
    return datetime(y, mo, d, h, mi, tzinfo=TOKYO)


NOW = at(2026, 11, 30, 10, 0)


def monday(*windows: Window) -> Calendar:
    return Calendar(weekly=WeeklyHours((windows, (), (), (), (), (), ())))


def note(
    text: str = "お知らせです。", *, ident: str = "a1", label: str = "お知らせ"
) -> Announcement:
    return Announcement(ident, label, text, at(2026, 12, 1), at(2026, 12, 2))


@pytest.mark.parametrize(
    ("cal", "field", "message"),
    [
        (
            monday(Window.of("08:45", "12:00"), Window.of("11:00", "13:00")),
            "weekly.mon[1].start",
            v.MSG_OVERLAP.format(other="8:45〜12:00"),
        ),
        (monday(Window.of("17:15", "08:45")), "weekly.mon[0].end", v.MSG_END_BEFORE_START),
        (monday(Window.of("09:00", "09:00")), "weekly.mon[0].end", v.MSG_END_BEFORE_START),
        (monday(Window.of("22:00", "25:00")), "weekly.mon[0].end", v.MSG_PAST_MIDNIGHT),
        (monday(Window.of("24:00", "24:30")), "weekly.mon[0].start", v.MSG_PAST_MIDNIGHT),
        (monday(Window.of("08:47", "17:15")), "weekly.mon[0].start", v.MSG_STEP),
        (monday(Window.of("08:45", "17:13")), "weekly.mon[0].end", v.MSG_STEP),
        (
            Calendar(overrides=(DateOverride(date(2026, 12, 5), (Window.of("13:00", "09:00"),)),)),
            "overrides[0].windows[0].end",
            v.MSG_END_BEFORE_START,
        ),
        (
            Calendar(
                overrides=(
                    DateOverride(date(2026, 12, 5)),
                    DateOverride(date(2026, 12, 5), (Window.of("09:00", "12:00"),)),
                )
            ),
            "overrides[1].date",
            v.MSG_DUPLICATE_DATE.format(day="2026年12月5日"),
        ),
        (
            Calendar(closures=(DateClosure("点検", date(2026, 12, 5), date(2026, 12, 4)),)),
            "closures[0].end",
            v.MSG_DAYS_ORDER,
        ),
        (
            Calendar(closures=(DateClosure(" ", date(2026, 12, 5), date(2026, 12, 5)),)),
            "closures[0].label",
            v.MSG_LABEL,
        ),
        (
            Calendar(recurring_closures=(RecurringClosure("", MonthDay(8, 13), MonthDay(8, 15)),)),
            "recurring_closures[0].label",
            v.MSG_LABEL,
        ),
        (
            Calendar(service=ServicePeriod(at(2026, 4, 1), at(2025, 6, 23))),
            "service.end",
            v.MSG_SERVICE_ORDER,
        ),
        (Calendar(announcements=(note(""),)), "announcements[0].text", v.MSG_ANNOUNCEMENT_TEXT),
        (Calendar(announcements=(note("　 "),)), "announcements[0].text", v.MSG_ANNOUNCEMENT_TEXT),
        (Calendar(announcements=(note(label=""),)), "announcements[0].label", v.MSG_LABEL),
        (Calendar(announcements=(note(ident="お知らせ"),)), "announcements[0].id", v.MSG_ID),
        (
            Calendar(announcements=(note(), note(ident="a1"))),
            "announcements[1].id",
            v.MSG_DUPLICATE_ID,
        ),
        (
            Calendar(
                announcements=(Announcement("a", "x", "本文", at(2026, 12, 2), at(2026, 12, 1)),)
            ),
            "announcements[0].end",
            v.MSG_ANNOUNCEMENT_ORDER,
        ),
    ],
)
def test_each_problem_is_reported(cal: Calendar, field: str, message: str) -> None:
    """Each kind of mistake gives one issue at its field, with its Japanese message."""
    assert [(i.field, i.message) for i in validate(cal)] == [(field, message)]


def test_overlap_with_an_earlier_long_window() -> None:
    """A window inside an earlier, longer one overlaps even when its neighbour does not."""
    cal = monday(
        Window.of("08:00", "17:00"), Window.of("09:00", "10:00"), Window.of("11:00", "12:00")
    )
    assert [i.field for i in validate(cal)] == ["weekly.mon[1].start", "weekly.mon[2].start"]


def test_touching_windows_are_allowed() -> None:
    """A window may start when the previous one ends, and end at 24:00."""
    assert validate(monday(Window.of("08:45", "12:00"), Window.of("12:00", "24:00"))) == []


def test_the_default_calendar_is_valid() -> None:
    """The shipped defaults pass validation, with or without now."""
    assert validate(Calendar()) == []
    assert validate(Calendar(), now=NOW) == []


PAST = Calendar(
    closures=(DateClosure("点検", date(2026, 11, 1), date(2026, 11, 29)),),
    overrides=(DateOverride(date(2026, 11, 29)),),
    announcements=(Announcement("old", "旧", "本文", at(2026, 11, 1), at(2026, 11, 30, 10, 0)),),
)


def test_new_entries_already_over_are_refused() -> None:
    """A new closure, override or announcement that has already ended is a mistake."""
    assert v.validate(PAST) == []
    assert [(i.field, i.message) for i in validate(PAST, now=NOW)] == [
        ("closures[0].end", v.MSG_RANGE_ENDED),
        ("overrides[0].date", v.MSG_DATE_PASSED),
        ("announcements[0].end", v.MSG_ANNOUNCEMENT_ENDED),
    ]


def test_entries_kept_from_the_calendar_in_service_are_accepted() -> None:
    """Entries that were already saved may have ended since: they are not new."""
    assert validate(PAST, now=NOW, previous=PAST) == []


def test_entries_ending_today_are_still_current() -> None:
    """A closure whose last day is today, and today's override, are not over."""
    cal = Calendar(
        closures=(DateClosure("点検", date(2026, 11, 30), date(2026, 11, 30)),),
        overrides=(DateOverride(date(2026, 11, 30)),),
    )
    assert validate(cal, now=NOW) == []


def test_check_raises_with_every_issue() -> None:
    """check raises CalendarError carrying all (field, message) pairs."""
    cal = Calendar(
        weekly=WeeklyHours(((Window.of("08:47", "08:40"),),) + ((),) * 6),
        service=ServicePeriod(at(2026, 4, 1), at(2026, 4, 1)),
    )
    with pytest.raises(CalendarError) as caught:
        check(cal)
    assert caught.value.pairs == [
        ("weekly.mon[0].start", v.MSG_STEP),
        ("weekly.mon[0].end", v.MSG_END_BEFORE_START),
        ("service.end", v.MSG_SERVICE_ORDER),
    ]
    assert caught.value.id == "calendar_invalid"
    assert "service.end" in str(caught.value)
