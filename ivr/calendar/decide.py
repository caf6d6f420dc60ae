"""What the calendar says at a given moment: the state, the announcements, the next opening.

Pure functions of a ``Calendar`` and a timezone-aware moment (any zone: it is turned
into Asia/Tokyo first, so a server running in UTC gets the same answers). Nothing here
reads the clock.

States (the values a flow's ``branch by: calendar`` sees, ``CALENDAR_STATES``):

- ``before_service`` / ``after_service``: the moment is before the service period's
  start, or at or after its end (start inclusive, end exclusive). This comes first:
  no other setting matters outside the service period.
- Otherwise the day's plan is chosen by precedence, the first that applies:

  1. a **date override** for that day: its windows replace everything else; an
     override without windows closes the whole day;
  2. a **city closure** (a one-off date range, or a recurring one such as 12/29–1/3):
     no office hours;
  3. a **national holiday** (振替休日 and 国民の休日 included), unless the calendar
     turns national holidays off: no office hours;
  4. the **weekly hours** of that weekday.

- ``holiday``: a day without office hours because of a city closure, a national
  holiday or an override that closes the day. City closures say ``holiday`` rather
  than ``closed`` on purpose: the caller is told it is a day off (「本日は休業日です」),
  not "come back later today".
- ``open``: inside one of the day's windows (start inclusive, end exclusive).
- ``closed``: outside the windows of a day that has some, or on a day the weekly hours
  leave empty (weekends by default).

``next_open`` gives the next moment the state *becomes* ``open`` strictly after the
given moment. When the office is open at that moment, that is the start of the next
window, not the current one (touching windows, such as 8:45–12:00 and 12:00–17:15 or
a window to 24:00 followed by one from 0:00, count as one opening). It looks at most
``horizon_days`` ahead and never past the end of the service.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Literal

from ivr.calendar.model import Announcement, Calendar, Window
from ivr.log import TOKYO

OPEN = "open"
CLOSED = "closed"
HOLIDAY = "holiday"
BEFORE_SERVICE = "before_service"
AFTER_SERVICE = "after_service"

DEFAULT_HORIZON_DAYS = 400
_TICK = timedelta(microseconds=1)
"""The smallest step: the state "just before" a moment is the state at moment - _TICK."""


@dataclass(frozen=True)
class DayPlan:
    """Which rule decides a day (by precedence), its office windows and the rule's label."""

    source: Literal["override", "closure", "holiday", "weekly"]
    windows: tuple[Window, ...]
    label: str = ""


def _local(moment: datetime) -> datetime:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"naive moment {moment!r}: the calendar needs a timezone-aware time")
    return moment.astimezone(TOKYO)


def day_plan(cal: Calendar, day: date) -> DayPlan:
    """The rule that decides ``day``: override, then city closure, national holiday, weekly."""
    override = cal.override_on(day)
    if override is not None:
        return DayPlan("override", tuple(sorted(override.windows)), override.label)
    closure = cal.closure_on(day)
    if closure is not None:
        return DayPlan("closure", (), closure)
    holiday = cal.holiday_on(day)
    if holiday is not None:
        return DayPlan("holiday", (), holiday)
    return DayPlan("weekly", tuple(sorted(cal.weekly.on(day))))


def state_at(cal: Calendar, moment: datetime) -> str:
    """``open``, ``closed``, ``holiday``, ``before_service`` or ``after_service`` at ``moment``."""
    local = _local(moment)
    service = cal.service
    if service.start is not None and local < service.start:
        return BEFORE_SERVICE
    if service.end is not None and local >= service.end:
        return AFTER_SERVICE
    plan = day_plan(cal, local.date())
    if not plan.windows:
        return CLOSED if plan.source == "weekly" else HOLIDAY
    # Windows are whole minutes: comparing whole seconds is exact (8:44:59.9 is closed).
    seconds = local.hour * 3600 + local.minute * 60 + local.second
    if any(w.start * 60 <= seconds < w.end * 60 for w in plan.windows):
        return OPEN
    return CLOSED


def active_announcements(cal: Calendar, moment: datetime) -> tuple[Announcement, ...]:
    """The announcements in force at ``moment`` (start inclusive, end exclusive), in order."""
    local = _local(moment)
    return tuple(a for a in cal.announcements if a.active_at(local))


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time(), TOKYO)


def open_intervals(cal: Calendar, day: date) -> list[tuple[datetime, datetime]]:
    """The day's open periods as ``[start, end)`` moments, cut to the service period."""
    service = cal.service
    out: list[tuple[datetime, datetime]] = []
    for window in day_plan(cal, day).windows:
        start = _midnight(day) + timedelta(minutes=window.start)
        end = _midnight(day) + timedelta(minutes=window.end)
        if service.start is not None:
            start = max(start, service.start)
        if service.end is not None:
            end = min(end, service.end)
        if start < end:
            out.append((start, end))
    return out


def next_open(
    cal: Calendar, moment: datetime, *, horizon_days: int = DEFAULT_HORIZON_DAYS
) -> datetime | None:
    """The next opening strictly after ``moment`` (in Tokyo time), or None if none remains.

    None when no opening comes before the service ends or within ``horizon_days``.
    """
    local = _local(moment)
    service = cal.service
    begin = local if service.start is None else max(local, service.start)
    first_day = begin.date()
    # Start a day early: a window running up to midnight makes a 0:00 window no opening.
    reach: datetime | None = None
    for offset in range(-1, horizon_days + 1):
        day = first_day + timedelta(days=offset)
        for start, end in open_intervals(cal, day):
            continues = reach is not None and start <= reach
            reach = end if reach is None else max(reach, end)
            if not continues and start > local:
                return start
        if service.end is not None and _midnight(day + timedelta(days=1)) >= service.end:
            return None
    return None


def _situation(cal: Calendar, moment: datetime) -> tuple[str, tuple[str, ...]]:
    return state_at(cal, moment), tuple(a.id for a in active_announcements(cal, moment))


def boundaries(cal: Calendar, start: datetime, end: datetime) -> list[datetime]:
    """The moments ``t`` with ``start < t <= end`` where the state or announcements change.

    At each returned moment ``state_at`` or ``active_announcements`` differs from just
    before it; the controller rebuilds what callers hear before each one passes.
    The moments are in Tokyo time, sorted.
    """
    lo, hi = _local(start), _local(end)
    candidates: set[datetime] = set()
    day = lo.date()
    while day <= hi.date():
        candidates.add(_midnight(day))
        for window in day_plan(cal, day).windows:
            candidates.add(_midnight(day) + timedelta(minutes=window.start))
            candidates.add(_midnight(day) + timedelta(minutes=window.end))
        day += timedelta(days=1)
    candidates.add(_midnight(day))
    for point in (cal.service.start, cal.service.end):
        if point is not None:
            candidates.add(point)
    for item in cal.announcements:
        candidates.add(item.start)
        if item.end is not None:
            candidates.add(item.end)
    return [
        t
        for t in sorted(c.astimezone(TOKYO) for c in candidates if lo < c <= hi)
        if _situation(cal, t) != _situation(cal, t - _TICK)
    ]
