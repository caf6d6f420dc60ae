"""Calendar decisions: the state at a moment, announcements, next opening and boundaries."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from ivr.calendar import decide
from ivr.calendar.decide import active_announcements, boundaries, day_plan, next_open, state_at
from ivr.calendar.model import (
    Announcement,
    Calendar,
    DateClosure,
    DateOverride,
    ServicePeriod,
    WeeklyHours,
    Window,
)
from ivr.flow.model import CALENDAR_STATES
from ivr.log import TOKYO


def at(y: int, mo: int, d: int, h: int = 0, mi: int = 0, s: int = 0) -> datetime:
    return datetime(y, mo, d, h, mi, s, tzinfo=TOKYO)


DEFAULT = Calendar()
LUNCH = Calendar(
    weekly=WeeklyHours(((Window.of("08:45", "12:00"), Window.of("13:00", "17:15")),) * 5 + ((), ()))
)
SUNDAY_OPEN = Calendar(
    overrides=(DateOverride(date(2026, 3, 29), (Window.of("09:00", "12:00"),), "休日開庁"),)
)
SERVICE = Calendar(service=ServicePeriod(at(2025, 6, 23, 9, 0), at(2026, 4, 1)))


def test_state_names_are_the_flow_engines() -> None:
    """Every state the calendar gives is one a flow can branch on."""
    names = {decide.OPEN, decide.CLOSED, decide.HOLIDAY}
    names |= {decide.BEFORE_SERVICE, decide.AFTER_SERVICE}
    assert names == set(CALENDAR_STATES)


@pytest.mark.parametrize(
    ("cal", "moment", "state"),
    [
        # The edges of the default window, on Friday 2026-11-27.
        (DEFAULT, at(2026, 11, 27, 8, 44, 59), "closed"),
        (DEFAULT, at(2026, 11, 27, 8, 45, 0), "open"),
        (DEFAULT, at(2026, 11, 27, 17, 14, 59), "open"),
        (DEFAULT, at(2026, 11, 27, 17, 15, 0), "closed"),
        (DEFAULT, at(2026, 11, 27, 8, 44, 59) + timedelta(microseconds=999_999), "closed"),
        (DEFAULT, at(2026, 11, 28, 10, 0), "closed"),  # Saturday
        (DEFAULT, at(2026, 11, 29, 10, 0), "closed"),  # Sunday
        # The lunch break is closed, not a holiday.
        (LUNCH, at(2026, 11, 27, 11, 59, 59), "open"),
        (LUNCH, at(2026, 11, 27, 12, 0), "closed"),
        (LUNCH, at(2026, 11, 27, 13, 0), "open"),
        # A holiday on Sunday, and its substitute Monday.
        (DEFAULT, at(2025, 2, 23, 10, 0), "holiday"),
        (DEFAULT, at(2025, 2, 24, 10, 0), "holiday"),
        (DEFAULT, at(2025, 2, 25, 10, 0), "open"),
        (DEFAULT, at(2026, 5, 6, 10, 0), "holiday"),  # substitute for Sunday 5/3
        (DEFAULT, at(2026, 5, 7, 10, 0), "open"),
        # The citizens' holiday, and the same day with national holidays off.
        (DEFAULT, at(2026, 9, 22, 10, 0), "holiday"),
        (Calendar(national_holidays=False), at(2026, 9, 22, 10, 0), "open"),
        # The year-end closure across 12/31 → 1/1.
        (DEFAULT, at(2026, 12, 28, 17, 14), "open"),
        (DEFAULT, at(2026, 12, 29, 10, 0), "holiday"),
        (DEFAULT, at(2026, 12, 31, 23, 59, 59), "holiday"),
        (DEFAULT, at(2027, 1, 1, 0, 0), "holiday"),
        (DEFAULT, at(2027, 1, 3, 10, 0), "holiday"),
        (DEFAULT, at(2027, 1, 4, 8, 45), "open"),
        # An override opening a Sunday.
        (SUNDAY_OPEN, at(2026, 3, 29, 8, 59), "closed"),
        (SUNDAY_OPEN, at(2026, 3, 29, 9, 0), "open"),
        (SUNDAY_OPEN, at(2026, 3, 29, 12, 0), "closed"),
        (DEFAULT, at(2026, 3, 29, 10, 0), "closed"),
        # The service period: start inclusive, end at midnight exclusive.
        (SERVICE, at(2025, 6, 23, 8, 59, 59), "before_service"),
        (SERVICE, at(2025, 6, 23, 9, 0), "open"),
        (SERVICE, at(2026, 3, 31, 23, 59, 59), "closed"),
        (SERVICE, at(2026, 4, 1, 0, 0), "after_service"),
        (SERVICE, at(2026, 4, 1, 10, 0), "after_service"),
    ],
)
def test_state_at(cal: Calendar, moment: datetime, state: str) -> None:
    """The state at a moment in Tokyo time, edges included."""
    assert state_at(cal, moment) == state


MARCH_END = date(2026, 3, 31)  # a Tuesday: a working day by default
LAYERED = Calendar(
    closures=(
        DateClosure("臨時休業", MARCH_END, MARCH_END),
        DateClosure("臨時休業", date(2026, 9, 22), date(2026, 9, 22)),
    ),
    overrides=(
        DateOverride(MARCH_END, (Window.of("10:00", "12:00"),), "特別開庁"),
        DateOverride(date(2026, 11, 27)),  # closed all day on a Friday
    ),
    service=ServicePeriod(None, at(2027, 1, 1)),
)


@pytest.mark.parametrize(
    ("cal", "moment", "source", "state"),
    [
        # override > closure: the closure and the override fall on the same day.
        (LAYERED, at(2026, 3, 31, 11, 0), "override", "open"),
        (LAYERED, at(2026, 3, 31, 9, 0), "override", "closed"),
        # closure > national holiday.
        (LAYERED, at(2026, 9, 22, 10, 0), "closure", "holiday"),
        # national holiday > weekly hours.
        (LAYERED, at(2026, 9, 21, 10, 0), "holiday", "holiday"),
        # weekly hours when nothing else applies.
        (LAYERED, at(2026, 9, 24, 10, 0), "weekly", "open"),
        # an override without windows closes a working day: it reads as a holiday.
        (LAYERED, at(2026, 11, 27, 10, 0), "override", "holiday"),
        # the service period beats everything: the year-end closure is after it.
        (LAYERED, at(2027, 1, 4, 10, 0), "weekly", "after_service"),
    ],
)
def test_precedence(cal: Calendar, moment: datetime, source: str, state: str) -> None:
    """Service period, then override > city closure > national holiday > weekly hours."""
    assert day_plan(cal, moment.date()).source == source
    assert state_at(cal, moment) == state


@pytest.fixture(params=["UTC", "America/New_York"])
def server_zone(request: pytest.FixtureRequest) -> Iterator[str]:
    """Run the test with the process's local zone set elsewhere than Tokyo."""
    saved = os.environ.get("TZ")
    os.environ["TZ"] = request.param
    time.tzset()
    try:
        yield request.param
    finally:
        if saved is None:
            del os.environ["TZ"]
        else:
            os.environ["TZ"] = saved
        time.tzset()


@pytest.mark.parametrize(
    "moment",
    [
        at(2026, 11, 27, 8, 45),
        at(2026, 11, 27, 17, 15),
        at(2026, 11, 28, 0, 30),  # Saturday in Tokyo, still Friday in UTC
        at(2026, 12, 29, 8, 0),  # a closure in Tokyo, 12/28 in UTC
        at(2026, 4, 1, 0, 0),  # the service has ended in Tokyo; 3/31 in UTC
    ],
)
def test_moment_in_utc_gives_the_same_answer(server_zone: str, moment: datetime) -> None:
    """A moment given in UTC or another zone, on a server in UTC, decides as in Tokyo."""
    for cal in (DEFAULT, SERVICE):
        expected = state_at(cal, moment)
        assert state_at(cal, moment.astimezone(UTC)) == expected
        assert state_at(cal, moment.astimezone(ZoneInfo(server_zone))) == expected
        assert next_open(cal, moment.astimezone(UTC)) == next_open(cal, moment)


def test_naive_moments_are_refused() -> None:
    """A moment without a zone cannot be placed in Tokyo time, so it is an error."""
    with pytest.raises(ValueError, match="naive"):
        state_at(DEFAULT, datetime(2026, 11, 27, 10, 0))


ANNOUNCED = Calendar(
    announcements=(
        Announcement(
            "outage", "停止", "システムを停止しています。", at(2026, 12, 1, 13, 30), at(2026, 12, 2)
        ),
        Announcement("busy", "混雑", "混み合っております。", at(2026, 11, 1)),
    )
)


@pytest.mark.parametrize(
    ("moment", "ids"),
    [
        (at(2026, 10, 31, 23, 59, 59), ()),
        (at(2026, 12, 1, 13, 29, 59), ("busy",)),
        (at(2026, 12, 1, 13, 30), ("outage", "busy")),
        (at(2026, 12, 1, 23, 59, 59), ("outage", "busy")),
        (at(2026, 12, 2, 0, 0), ("busy",)),
    ],
)
def test_announcement_starting_mid_day(moment: datetime, ids: tuple[str, ...]) -> None:
    """Announcements apply from their start (inclusive) to their end (exclusive), in order."""
    assert tuple(a.id for a in active_announcements(ANNOUNCED, moment)) == ids


ENDS_AT_MIDNIGHT = Calendar(service=ServicePeriod(None, at(2026, 4, 1)))
ENDS_AT_OPENING = Calendar(service=ServicePeriod(None, at(2026, 3, 31, 8, 45)))
ENDS_MID_WINDOW = Calendar(service=ServicePeriod(None, at(2026, 3, 31, 12, 0)))
SPECIAL_CLOSURE = Calendar(closures=(DateClosure("庁舎点検", date(2026, 5, 1), date(2026, 5, 2)),))
NIGHT = Calendar(
    weekly=WeeklyHours(
        ((Window.of("00:00", "02:00"),), (), (), (), (), (), (Window.of("22:00", "24:00"),))
    )
)


@pytest.mark.parametrize(
    ("cal", "moment", "expected"),
    [
        # Friday evening → Monday morning.
        (DEFAULT, at(2026, 11, 27, 18, 0), at(2026, 11, 30, 8, 45)),
        # A three-day weekend (Coming of Age Day) and the five days of 2026-09-19..23.
        (DEFAULT, at(2026, 1, 9, 17, 15), at(2026, 1, 13, 8, 45)),
        (DEFAULT, at(2026, 9, 18, 18, 0), at(2026, 9, 24, 8, 45)),
        # The year-end closure.
        (DEFAULT, at(2026, 12, 28, 17, 15), at(2027, 1, 4, 8, 45)),
        (DEFAULT, at(2026, 12, 31, 12, 0), at(2027, 1, 4, 8, 45)),
        # A one-off closure running into Golden Week.
        (SPECIAL_CLOSURE, at(2026, 4, 30, 18, 0), at(2026, 5, 7, 8, 45)),
        # Early in the morning: today's opening.
        (DEFAULT, at(2026, 11, 27, 8, 44, 59), at(2026, 11, 27, 8, 45)),
        # Open now: the next window, not the current one.
        (DEFAULT, at(2026, 11, 27, 8, 45), at(2026, 11, 30, 8, 45)),
        (LUNCH, at(2026, 11, 27, 10, 0), at(2026, 11, 27, 13, 0)),
        (LUNCH, at(2026, 11, 27, 12, 30), at(2026, 11, 27, 13, 0)),
        # An override opening a Sunday.
        (SUNDAY_OPEN, at(2026, 3, 28, 18, 0), at(2026, 3, 29, 9, 0)),
        # Before the service: its first moment, here inside Monday's window.
        (SERVICE, at(2025, 6, 1), at(2025, 6, 23, 9, 0)),
        # The end of the service.
        (ENDS_AT_MIDNIGHT, at(2026, 3, 31, 8, 0), at(2026, 3, 31, 8, 45)),
        (ENDS_AT_MIDNIGHT, at(2026, 3, 31, 18, 0), None),
        (ENDS_AT_MIDNIGHT, at(2026, 4, 2, 10, 0), None),
        (ENDS_MID_WINDOW, at(2026, 3, 30, 18, 0), at(2026, 3, 31, 8, 45)),
        (ENDS_AT_OPENING, at(2026, 3, 30, 18, 0), None),
        # A window to 24:00 and one from 0:00 the next day are one opening.
        (NIGHT, at(2026, 11, 29, 23, 0), at(2026, 12, 6, 22, 0)),
        (NIGHT, at(2026, 11, 29, 21, 0), at(2026, 11, 29, 22, 0)),
        # No hours at all: nothing within the horizon.
        (Calendar(weekly=WeeklyHours(((),) * 7)), at(2026, 11, 27, 10, 0), None),
    ],
)
def test_next_open(cal: Calendar, moment: datetime, expected: datetime | None) -> None:
    """The next opening strictly after the moment, or None when none remains."""
    assert next_open(cal, moment) == expected


def test_next_open_is_bounded() -> None:
    """The search stops after horizon_days, even when an opening lies beyond."""
    far = Calendar(
        weekly=WeeklyHours(((),) * 7),
        overrides=(DateOverride(date(2028, 1, 11), (Window.of("09:00", "10:00"),)),),
    )
    assert next_open(far, at(2026, 11, 27)) is None  # 410 days ahead
    assert next_open(far, at(2026, 11, 27), horizon_days=410) == at(2028, 1, 11, 9, 0)
    assert next_open(far, at(2026, 11, 27), horizon_days=409) is None


def test_boundaries_over_a_weekend() -> None:
    """Boundaries are the openings and closings, in (start, end]."""
    got = boundaries(DEFAULT, at(2026, 11, 27, 8, 45), at(2026, 11, 30, 8, 45))
    assert got == [at(2026, 11, 27, 17, 15), at(2026, 11, 30, 8, 45)]


def test_boundaries_include_midnights_and_announcements() -> None:
    """Midnight into a closure, a mid-day announcement and the service end are boundaries."""
    cal = Calendar(
        service=ServicePeriod(None, at(2027, 1, 5)),
        announcements=(
            Announcement(
                "n", "年末", "年末年始のお知らせです。", at(2026, 12, 28, 13, 30), at(2026, 12, 30)
            ),
        ),
    )
    got = boundaries(cal, at(2026, 12, 28), at(2027, 1, 10))
    assert got == [
        at(2026, 12, 28, 8, 45),
        at(2026, 12, 28, 13, 30),  # announcement starts
        at(2026, 12, 28, 17, 15),
        at(2026, 12, 29, 0, 0),  # closed → holiday
        at(2026, 12, 30, 0, 0),  # announcement ends
        at(2027, 1, 4, 0, 0),  # holiday → closed
        at(2027, 1, 4, 8, 45),
        at(2027, 1, 4, 17, 15),
        at(2027, 1, 5, 0, 0),  # service ends
    ]
    assert all(t.tzinfo is TOKYO for t in got)


@pytest.mark.parametrize("cal", [DEFAULT, LUNCH, SUNDAY_OPEN, LAYERED, ANNOUNCED, SERVICE])
def test_boundaries_match_a_scan(cal: Calendar) -> None:
    """Scanning every 5 minutes finds a change exactly where boundaries says."""
    start, end = at(2026, 3, 25), at(2026, 4, 3)
    found = set(boundaries(cal, start, end))
    step = timedelta(minutes=5)
    t = start
    while t < end:
        changed = (state_at(cal, t), active_announcements(cal, t)) != (
            state_at(cal, t + step),
            active_announcements(cal, t + step),
        )
        assert changed == (t + step in found), t + step
        t += step
    assert all(start < b <= end for b in found)
