"""The calendar as callers hear it: clock times, moments, office hours, next opening."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from ivr.calendar.model import DEFAULT_WINDOW, Calendar, ServicePeriod, WeeklyHours, Window
from ivr.calendar.speech import (
    NO_OPENING,
    NO_OPENING_IN_SERVICE,
    next_open_text,
    office_hours_text,
    speak_clock,
    speak_moment,
)
from ivr.log import TOKYO


def at(y: int, mo: int, d: int, h: int = 0, mi: int = 0) -> datetime:
    return datetime(y, mo, d, h, mi, tzinfo=TOKYO)


@pytest.mark.parametrize(
    ("hm", "spoken"),
    [
        ("00:00", "午前0時"),
        ("00:05", "午前0時5分"),
        ("08:45", "午前8時45分"),
        ("09:00", "午前9時"),
        ("11:55", "午前11時55分"),
        ("12:00", "正午"),
        ("12:30", "午後0時30分"),
        ("13:00", "午後1時"),
        ("17:15", "午後5時15分"),
        ("23:55", "午後11時55分"),
        ("24:00", "24時"),
    ],
)
def test_speak_clock(hm: str, spoken: str) -> None:
    """Clock times use 午前/午後, 正午 at noon, and no 「0分」."""
    assert speak_clock(Window.of(hm, "24:00").start) == spoken


@pytest.mark.parametrize(
    ("moment", "spoken"),
    [
        (at(2026, 12, 1, 8, 45), "12月1日(火)午前8時45分"),
        (at(2026, 11, 30, 9, 0), "11月30日(月)午前9時"),
        (at(2027, 1, 4, 12, 0), "1月4日(月)正午"),
        (at(2027, 1, 1, 0, 0), "1月1日(金)午前0時"),
        (datetime(2026, 11, 30, 23, 45, tzinfo=UTC), "12月1日(火)午前8時45分"),
    ],
)
def test_speak_moment(moment: datetime, spoken: str) -> None:
    """A moment is said in Tokyo time with its weekday in brackets."""
    assert speak_moment(moment) == spoken


def week(*days: tuple[Window, ...]) -> Calendar:
    return Calendar(weekly=WeeklyHours(days))


MORNING = Window.of("08:45", "12:00")
AFTERNOON = Window.of("13:00", "17:15")
SATURDAY = Window.of("09:00", "12:00")
NONE: tuple[Window, ...] = ()


@pytest.mark.parametrize(
    ("cal", "text"),
    [
        (Calendar(), "平日の午前8時45分から午後5時15分まで"),
        (
            week(*((MORNING, AFTERNOON),) * 5, NONE, NONE),
            "平日の午前8時45分から正午まで、午後1時から午後5時15分まで",
        ),
        (
            week(*((MORNING, AFTERNOON),) * 5, (SATURDAY,), NONE),
            "月曜日から金曜日の午前8時45分から正午まで、午後1時から午後5時15分まで、"
            "土曜日は午前9時から正午まで",
        ),
        (
            week(*((DEFAULT_WINDOW,),) * 4, (SATURDAY,), NONE, NONE),
            "月曜日から木曜日の午前8時45分から午後5時15分まで、金曜日は午前9時から正午まで",
        ),
        (
            week((DEFAULT_WINDOW,), NONE, (DEFAULT_WINDOW,), NONE, NONE, NONE, NONE),
            "月曜日と水曜日の午前8時45分から午後5時15分まで",
        ),
        (
            week((SATURDAY,), NONE, (SATURDAY,), NONE, (SATURDAY,), NONE, NONE),
            "月曜日、水曜日、金曜日の午前9時から正午まで",
        ),
        (week(*((Window.of("00:00", "24:00"),),) * 7), "毎日の午前0時から24時まで"),
        (week(*(NONE,) * 7), ""),
    ],
)
def test_office_hours_text(cal: Calendar, text: str) -> None:
    """Days with the same windows are said together, in weekday order."""
    assert office_hours_text(cal) == text


def test_next_open_text() -> None:
    """The next opening is spoken; when none remains, a sentence says so."""
    ending = Calendar(service=ServicePeriod(None, at(2026, 4, 1)))
    assert next_open_text(Calendar(), at(2026, 11, 27, 18, 0)) == "11月30日(月)午前8時45分"
    assert next_open_text(ending, at(2026, 3, 31, 18, 0)) == NO_OPENING_IN_SERVICE
    assert NO_OPENING_IN_SERVICE == "本サービスの受付期間内に、窓口を開く予定はございません"
    assert next_open_text(week(*(NONE,) * 7), at(2026, 11, 27, 18, 0)) == NO_OPENING
