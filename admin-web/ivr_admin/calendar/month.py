"""One month of the calendar at a glance: each day's state, hours and marks.

A day is 開庁 (it has office hours), 閉庁 (a weekday the weekly hours leave empty),
祝日 (a national holiday), 休業 (a city closure, or a date set closed all day) or
サービス期間外 (wholly outside the service period) — by the same precedence as
``ivr.calendar.decide.day_plan``, which decides calls.
"""

from __future__ import annotations

import calendar as stdcal
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from ivr.calendar.decide import day_plan, open_intervals
from ivr.calendar.model import Calendar, national_holiday_name
from ivr.log import TOKYO

OPEN, CLOSED, HOLIDAY, CLOSURE, OUTSIDE = "open", "closed", "holiday", "closure", "outside"
STATUS_LABELS = {
    OPEN: "開庁",
    CLOSED: "閉庁",
    HOLIDAY: "祝日",
    CLOSURE: "休業",
    OUTSIDE: "サービス期間外",
}
WEEK_HEADINGS = ("日", "月", "火", "水", "木", "金", "土")
"""Sunday first, as on Japanese wall calendars."""


@dataclass(frozen=True)
class Day:
    day: date
    in_month: bool
    status: str
    hours: tuple[str, ...]
    """Open periods, e.g. ``("8:45〜12:00", "13:00〜17:15")``."""
    holiday: str | None
    """The national holiday's name (shown even when national holidays are switched off)."""
    label: str
    """The closure's or the date setting's label."""
    special: bool
    """A date setting gives this day its own hours (or closes it)."""
    announcements: tuple[str, ...]
    """Labels of the announcements in force at some time of the day."""
    service_note: str
    """「受付開始 10:00」 / 「受付終了 17:00」 on the days the service period starts or ends."""
    today: bool

    @property
    def status_label(self) -> str:
        return STATUS_LABELS[self.status]


def _clock(moment: datetime) -> str:
    local = moment.astimezone(TOKYO)
    return f"{local.hour}:{local.minute:02d}"


def _span(start: datetime, end: datetime, day_end: datetime) -> str:
    close = "24:00" if end >= day_end else _clock(end)
    return f"{_clock(start)}〜{close}"


def describe_day(
    cal: Calendar, day: date, *, in_month: bool = True, today: date | None = None
) -> Day:
    """What ``day`` looks like under ``cal``."""
    start = datetime.combine(day, time(), TOKYO)
    end = start + timedelta(days=1)
    service = cal.service
    plan = day_plan(cal, day)
    outside = (service.start is not None and service.start >= end) or (
        service.end is not None and service.end <= start
    )
    intervals = open_intervals(cal, day)
    if outside:
        status = OUTSIDE
    elif plan.source in ("override", "closure") and not plan.windows:
        status = CLOSURE
    elif plan.source == "holiday":
        status = HOLIDAY
    else:
        status = OPEN if intervals else CLOSED
    notes = []
    if not outside and service.start is not None and start < service.start < end:
        notes.append(f"受付開始 {_clock(service.start)}")
    if not outside and service.end is not None and start < service.end < end:
        notes.append(f"受付終了 {_clock(service.end)}")
    label = plan.label if plan.source in ("override", "closure") else ""
    if plan.source == "override" and not label:
        label = "特別な受付時間" if plan.windows else "臨時休業"
    announcements = tuple(
        a.label for a in cal.announcements if a.start < end and (a.end is None or a.end > start)
    )
    return Day(
        day=day,
        in_month=in_month,
        status=status,
        hours=tuple(_span(s, e, end) for s, e in intervals) if not outside else (),
        holiday=national_holiday_name(day),
        label=label,
        special=plan.source == "override",
        announcements=announcements,
        service_note="、".join(notes),
        today=day == today,
    )


def weeks(cal: Calendar, year: int, month: int, today: date) -> list[list[Day]]:
    """The month as weeks of seven days, Sunday first, padded with the days around it."""
    grid = stdcal.Calendar(firstweekday=stdcal.SUNDAY).monthdatescalendar(year, month)
    return [
        [describe_day(cal, d, in_month=d.month == month, today=today) for d in week]
        for week in grid
    ]


def shift(year: int, month: int, by: int) -> tuple[int, int]:
    """The month ``by`` months after (or before) ``year``-``month``."""
    index = year * 12 + (month - 1) + by
    return index // 12, index % 12 + 1
