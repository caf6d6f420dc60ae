"""The calendar model: defaults, national holidays from the library, and the JSON form."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from typing import Any

import pytest

from ivr.calendar.errors import CalendarError
from ivr.calendar.model import (
    DEFAULT_WINDOW,
    Announcement,
    Calendar,
    DateClosure,
    DateOverride,
    MonthDay,
    RecurringClosure,
    ServicePeriod,
    WeeklyHours,
    Window,
    national_holiday_name,
)
from ivr.log import TOKYO


def at(y: int, mo: int, d: int, h: int = 0, mi: int = 0, s: int = 0) -> datetime:
    return datetime(y, mo, d, h, mi, s, tzinfo=TOKYO)


def full_calendar() -> Calendar:
    """A calendar that uses every kind of setting once."""
    return Calendar(
        weekly=WeeklyHours(
            (
                (Window.of("08:45", "12:00"), Window.of("13:00", "17:15")),
                (DEFAULT_WINDOW,),
                (DEFAULT_WINDOW,),
                (DEFAULT_WINDOW,),
                (DEFAULT_WINDOW,),
                (Window.of("09:00", "12:00"),),
                (),
            )
        ),
        national_holidays=False,
        recurring_closures=(
            RecurringClosure("年末年始", MonthDay(12, 29), MonthDay(1, 3)),
            RecurringClosure("夏季休業", MonthDay(8, 13), MonthDay(8, 15)),
        ),
        closures=(DateClosure("庁舎点検", date(2026, 5, 1), date(2026, 5, 2)),),
        overrides=(
            DateOverride(date(2026, 3, 29), (Window.of("09:00", "12:00"),), "休日開庁"),
            DateOverride(date(2026, 6, 1)),
        ),
        service=ServicePeriod(at(2025, 6, 23), at(2026, 4, 1)),
        announcements=(
            Announcement(
                "a1", "システム停止", "ただいまシステムを停止しています。", at(2026, 1, 5, 13, 30)
            ),
            Announcement("a2", "混雑", "大変混み合っております。", at(2026, 1, 5), at(2026, 1, 9)),
        ),
    )


def test_defaults_are_the_citys_usual_calendar() -> None:
    """Mon–Fri 8:45–17:15, national holidays on, 12/29–1/3 closed, no service limits."""
    cal = Calendar()
    assert cal.weekly.days[:5] == ((Window(8 * 60 + 45, 17 * 60 + 15),),) * 5
    assert cal.weekly.days[5:] == ((), ())
    assert cal.national_holidays
    assert cal.service == ServicePeriod(None, None)
    assert cal.announcements == ()


@pytest.mark.parametrize(
    ("day", "label"),
    [
        (date(2026, 12, 28), None),
        (date(2026, 12, 29), "年末年始"),
        (date(2026, 12, 31), "年末年始"),
        (date(2027, 1, 1), "年末年始"),
        (date(2027, 1, 3), "年末年始"),
        (date(2027, 1, 4), None),
    ],
)
def test_year_end_closure_crosses_the_year(day: date, label: str | None) -> None:
    """The default 12-29..01-03 closure covers both sides of New Year and nothing else."""
    assert Calendar().closure_on(day) == label


def test_recurring_closure_within_a_year() -> None:
    """A closure whose start comes before its end covers only the days between."""
    summer = RecurringClosure("夏季休業", MonthDay(8, 13), MonthDay(8, 15))
    assert [summer.contains(date(2026, 8, d)) for d in (12, 13, 15, 16)] == [
        False,
        True,
        True,
        False,
    ]


@pytest.mark.parametrize(
    ("day", "name"),
    [
        (date(2025, 2, 23), "天皇誕生日"),  # a Sunday
        (date(2025, 2, 24), "振替休日"),  # its substitute Monday
        (date(2025, 2, 25), None),
        (date(2026, 5, 3), "憲法記念日"),  # a Sunday: the substitute skips 5/4 and 5/5
        (date(2026, 5, 6), "振替休日"),
        (date(2026, 9, 21), "敬老の日"),
        (date(2026, 9, 22), "国民の休日"),  # between two holidays
        (date(2026, 9, 23), "秋分の日"),
        (date(2026, 11, 24), None),
    ],
)
def test_national_holidays_from_the_library(day: date, name: str | None) -> None:
    """Substitute and citizens' holidays come from the library, named in Japanese."""
    assert national_holiday_name(day) == name


def test_2026_holidays_match_the_cabinet_office_list() -> None:
    """Every national holiday of 2026 as published by the Cabinet Office, and no other."""
    published = {
        (1, 1), (1, 12), (2, 11), (2, 23), (3, 20), (4, 29), (5, 3), (5, 4), (5, 5),
        (5, 6), (7, 20), (8, 11), (9, 21), (9, 22), (9, 23), (10, 12), (11, 3), (11, 23),
    }  # fmt: skip
    found = set()
    day = date(2026, 1, 1)
    while day.year == 2026:
        if national_holiday_name(day) is not None:
            found.add((day.month, day.day))
        day = date.fromordinal(day.toordinal() + 1)
    assert found == published


def test_holidays_can_be_turned_off() -> None:
    """A line open on national holidays sees no holiday at all."""
    assert Calendar().holiday_on(date(2026, 9, 22)) == "国民の休日"
    assert Calendar(national_holidays=False).holiday_on(date(2026, 9, 22)) is None


def test_json_round_trip() -> None:
    """to_dict gives plain JSON types that from_dict reads back to an equal calendar."""
    cal = full_calendar()
    data = json.loads(json.dumps(cal.to_dict(), ensure_ascii=False))
    assert data == cal.to_dict()
    assert Calendar.from_dict(data) == cal
    assert data["service"] == {
        "start": "2025-06-23T00:00:00+09:00",
        "end": "2026-04-01T00:00:00+09:00",
    }
    assert data["recurring_closures"][0] == {"label": "年末年始", "start": "12-29", "end": "01-03"}
    assert data["weekly"]["mon"][1] == {"start": "13:00", "end": "17:15"}


def test_default_round_trip_and_empty_dict() -> None:
    """The default calendar survives a round trip, and {} means the defaults."""
    assert Calendar.from_dict(Calendar().to_dict()) == Calendar()
    assert Calendar.from_dict({}) == Calendar()


def test_moments_are_kept_in_tokyo_time() -> None:
    """A UTC date-time is stored as Tokyo time; one without an offset is read as Tokyo time."""
    utc = ServicePeriod(datetime(2026, 3, 31, 15, 0, tzinfo=UTC), None)
    assert utc.to_dict()["start"] == "2026-04-01T00:00:00+09:00"
    cal = Calendar.from_dict({"service": {"start": "2026-04-01T00:00:00", "end": None}})
    assert cal.service.start == at(2026, 4, 1)


def test_naive_datetimes_are_refused() -> None:
    """A date-time without a zone is a programming error, caught at construction."""
    with pytest.raises(ValueError, match="naive"):
        ServicePeriod(datetime(2026, 4, 1), None)


def _with(**part: Any) -> dict[str, Any]:
    data = Calendar().to_dict()
    data.update(part)
    return data


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ([], ""),
        ({"colour": "blue"}, "colour"),
        (_with(version=2), "version"),
        (_with(weekly={"mon": [{"start": "8:45am", "end": "17:15"}]}), "weekly.mon[0].start"),
        (_with(weekly={"mon": [{"start": "08:45"}]}), "weekly.mon[0].end"),
        (_with(weekly={"mon": "08:45-17:15"}), "weekly.mon"),
        (_with(weekly={"monday": []}), "weekly.monday"),
        (_with(national_holidays="yes"), "national_holidays"),
        (
            _with(recurring_closures=[{"label": "x", "start": "02-30", "end": "03-01"}]),
            "recurring_closures[0].start",
        ),
        (
            _with(closures=[{"label": "x", "start": "2026/05/01", "end": "2026-05-02"}]),
            "closures[0].start",
        ),
        (_with(closures={"label": "x"}), "closures"),
        (_with(overrides=[{"windows": []}]), "overrides[0].date"),
        (_with(service={"start": "tomorrow"}), "service.start"),
        (_with(service={"end": "2026-04-01"}), "service.end"),
        (
            _with(announcements=[{"id": "a", "label": "x", "start": "2026-01-05T09:00:00"}]),
            "announcements[0].text",
        ),
        (
            _with(
                announcements=[{"id": 7, "label": "x", "text": "t", "start": "2026-01-05T09:00:00"}]
            ),
            "announcements[0].id",
        ),
        # Well-formed but not valid: from_dict runs the validation too.
        (
            _with(
                weekly={
                    "tue": [{"start": "09:00", "end": "12:00"}, {"start": "11:00", "end": "13:00"}]
                }
            ),
            "weekly.tue[1].start",
        ),
    ],
)
def test_from_dict_refuses_bad_data(data: object, field: str) -> None:
    """Bad stored data raises CalendarError naming the field at fault."""
    with pytest.raises(CalendarError) as caught:
        Calendar.from_dict(data)
    assert field in [issue.field for issue in caught.value.issues]
    assert all(message for _, message in caught.value.pairs)


def test_from_dict_reports_every_problem() -> None:
    """Several mistakes are reported together, not one at a time."""
    data = _with(
        national_holidays=1,
        service={"start": "x", "end": "y"},
        colour="blue",
    )
    with pytest.raises(CalendarError) as caught:
        Calendar.from_dict(data)
    assert {i.field for i in caught.value.issues} == {
        "colour",
        "national_holidays",
        "service.start",
        "service.end",
    }
