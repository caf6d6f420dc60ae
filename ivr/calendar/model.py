"""The city's calendar as plain, frozen data: office hours, closures, service period.

Everything is in Asia/Tokyo (``ivr.log.TOKYO``), whatever the server's zone: dates are
Tokyo dates, window times are minutes after Tokyo midnight, and date-times are stored
converted to Tokyo. Nothing here reads the clock; ``ivr.calendar.decide`` takes the
moment as an argument.

National holidays come from the ``holidays`` package (its ``Japan`` class), never from
a hand-typed list. Both candidates are typed (``py.typed``) and work offline; we chose
``holidays`` over ``jpholiday`` because:

- it is actively maintained: a release every few weeks by a team (0.109 in November
  2026), where jpholiday's latest release dates from December 2025;
- it follows the law's rules for every year 1949–2099: 振替休日 (moved past
  consecutive holidays, so Sunday 2026-05-03 gives Wednesday 5/6), 国民の休日
  (2026-09-22), the 2019–2021 one-off changes, and the equinox days by the standard
  table; jpholiday computes equinoxes astronomically with a documented ±1 day accuracy;
- it keeps no process-wide state: jpholiday's functions share one module-level object
  with a register/unregister hook and a cache that grows with every date asked.

It brings python-dateutil (and six) along. Outside 1949–2099 it knows no
holidays. The Cabinet fixes the equinox days each February for the next year only; if
an announcement ever differs from the table, a new ``holidays`` release follows.

The JSON form (``Calendar.to_dict`` / ``Calendar.from_dict``) uses plain JSON types:
times ``"08:45"`` (``"24:00"`` allowed as an end), dates ``"2026-05-01"``, month-days
``"12-29"``, date-times ISO 8601 (a date-time without an offset is Tokyo time).
``from_dict`` raises ``CalendarError`` listing every problem, each with its field.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from types import MappingProxyType
from typing import Any

from holidays.countries.japan import Japan

from ivr.log import TOKYO

WEEKDAY_KEYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
"""JSON keys of ``WeeklyHours``, in ``date.weekday()`` order (Monday is 0)."""
MINUTES_PER_DAY = 24 * 60
STEP_MINUTES = 5
"""Window times are in steps of this many minutes."""
FORMAT_VERSION = 1


def _tokyo(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"naive datetime {value!r}: give a timezone, e.g. ivr.log.TOKYO")
    return value.astimezone(TOKYO)


def hm(minutes: int) -> str:
    """Minutes after midnight as ``"HH:MM"`` (1440 is ``"24:00"``)."""
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


@dataclass(frozen=True, order=True)
class Window:
    """Open from ``start`` (inclusive) to ``end`` (exclusive), minutes after midnight."""

    start: int
    end: int

    @classmethod
    def of(cls, start: str, end: str) -> Window:
        """A window from ``"HH:MM"`` texts, e.g. ``Window.of("08:45", "17:15")``."""
        return cls(parse_hm(start), parse_hm(end))

    def to_dict(self) -> dict[str, str]:
        return {"start": hm(self.start), "end": hm(self.end)}


def parse_hm(text: str) -> int:
    """``"HH:MM"`` as minutes after midnight; any hour up to 99 (``validate`` checks the range)."""
    hours, _, minutes = text.partition(":")
    if not (hours.isdecimal() and minutes.isdecimal() and len(minutes) == 2):
        raise ValueError(f"not a time HH:MM: {text!r}")
    if int(minutes) >= 60 or len(hours) > 2:
        raise ValueError(f"not a time HH:MM: {text!r}")
    return int(hours) * 60 + int(minutes)


DEFAULT_WINDOW = Window.of("08:45", "17:15")
"""O3: the city's office hours on business days."""


@dataclass(frozen=True)
class WeeklyHours:
    """Office windows for each weekday, Monday first; a day without windows is closed."""

    days: tuple[tuple[Window, ...], ...] = ((DEFAULT_WINDOW,),) * 5 + ((), ())

    def __post_init__(self) -> None:
        if len(self.days) != 7:
            raise ValueError(f"WeeklyHours needs 7 days, got {len(self.days)}")

    def on(self, day: date) -> tuple[Window, ...]:
        return self.days[day.weekday()]

    def to_dict(self) -> dict[str, Any]:
        return {
            key: [w.to_dict() for w in windows]
            for key, windows in zip(WEEKDAY_KEYS, self.days, strict=True)
        }


@dataclass(frozen=True, order=True)
class MonthDay:
    """A day of the year without the year, e.g. 12-29."""

    month: int
    day: int

    def __str__(self) -> str:
        return f"{self.month:02d}-{self.day:02d}"


@dataclass(frozen=True)
class RecurringClosure:
    """Closed every year from ``start`` to ``end`` inclusive; 12-29..01-03 crosses the year."""

    label: str
    start: MonthDay
    end: MonthDay

    def contains(self, day: date) -> bool:
        key = MonthDay(day.month, day.day)
        if self.start <= self.end:
            return self.start <= key <= self.end
        return key >= self.start or key <= self.end

    def to_dict(self) -> dict[str, Any]:
        return {"label": self.label, "start": str(self.start), "end": str(self.end)}


DEFAULT_RECURRING = (RecurringClosure("年末年始", MonthDay(12, 29), MonthDay(1, 3)),)


@dataclass(frozen=True)
class DateClosure:
    """A one-off closure from ``start`` to ``end``, both dates inclusive."""

    label: str
    start: date
    end: date

    def contains(self, day: date) -> bool:
        return self.start <= day <= self.end

    def to_dict(self) -> dict[str, Any]:
        return {"label": self.label, "start": self.start.isoformat(), "end": self.end.isoformat()}


@dataclass(frozen=True)
class DateOverride:
    """One date's own hours: ``windows`` replace the usual ones; none means closed all day."""

    day: date
    windows: tuple[Window, ...] = ()
    label: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "date": self.day.isoformat(),
            "windows": [w.to_dict() for w in self.windows],
            "label": self.label,
        }


@dataclass(frozen=True)
class ServicePeriod:
    """The service runs from ``start`` (inclusive) to ``end`` (exclusive); None is open-ended."""

    start: datetime | None = None
    end: datetime | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "start", _tokyo(self.start))
        object.__setattr__(self, "end", _tokyo(self.end))

    def to_dict(self) -> dict[str, Any]:
        return {"start": _iso(self.start), "end": _iso(self.end)}


@dataclass(frozen=True)
class Announcement:
    """Text played before the menu from ``start`` (inclusive) to ``end`` (exclusive)."""

    id: str
    label: str
    text: str
    start: datetime
    end: datetime | None = None
    """None: until staff remove it."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "start", _tokyo(self.start))
        object.__setattr__(self, "end", _tokyo(self.end))

    def active_at(self, moment: datetime) -> bool:
        return self.start <= moment and (self.end is None or moment < self.end)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "label": self.label,
            "text": self.text,
            "start": _iso(self.start),
            "end": _iso(self.end),
        }


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.astimezone(TOKYO).isoformat()


@dataclass(frozen=True)
class Calendar:
    """Everything that decides the calendar state; the defaults are the city's usual ones."""

    weekly: WeeklyHours = field(default_factory=WeeklyHours)
    national_holidays: bool = True
    """False for a line that keeps its weekly hours on national holidays."""
    recurring_closures: tuple[RecurringClosure, ...] = DEFAULT_RECURRING
    closures: tuple[DateClosure, ...] = ()
    overrides: tuple[DateOverride, ...] = ()
    service: ServicePeriod = field(default_factory=ServicePeriod)
    announcements: tuple[Announcement, ...] = ()

    def override_on(self, day: date) -> DateOverride | None:
        return next((o for o in self.overrides if o.day == day), None)

    def closure_on(self, day: date) -> str | None:
        """The label of a city closure (one-off or recurring) covering ``day``, if any."""
        closures: tuple[DateClosure | RecurringClosure, ...] = (
            *self.closures,
            *self.recurring_closures,
        )
        for closure in closures:
            if closure.contains(day):
                return closure.label
        return None

    def holiday_on(self, day: date) -> str | None:
        """The national holiday's name on ``day``, unless national holidays are off."""
        return national_holiday_name(day) if self.national_holidays else None

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON types, for storage; ``from_dict`` reads it back."""
        return {
            "version": FORMAT_VERSION,
            "weekly": self.weekly.to_dict(),
            "national_holidays": self.national_holidays,
            "recurring_closures": [c.to_dict() for c in self.recurring_closures],
            "closures": [c.to_dict() for c in self.closures],
            "overrides": [o.to_dict() for o in self.overrides],
            "service": self.service.to_dict(),
            "announcements": [a.to_dict() for a in self.announcements],
        }

    @classmethod
    def from_dict(cls, data: object) -> Calendar:
        """Read the JSON form; raise ``CalendarError`` with every problem found.

        The settings are checked as ``validate.validate`` does without ``now``: a stored
        calendar may hold entries that have since ended.
        """
        # Imported here: validate and codec read this module's classes.
        from ivr.calendar.codec import read_calendar
        from ivr.calendar.validate import raise_for_issues, validate

        calendar, issues = read_calendar(data)
        raise_for_issues(issues)
        assert calendar is not None
        raise_for_issues(validate(calendar))
        return calendar


@functools.lru_cache(maxsize=256)
def _year_holidays(year: int) -> Mapping[date, str]:
    # The class itself, not holidays.country_holidays("JP"): the registry lookup costs
    # 0.4 s on first use, which would fall on the first caller instead of start-up.
    return MappingProxyType(dict(Japan(years=year, language="ja")))


def national_holiday_name(day: date) -> str | None:
    """The name of Japan's national holiday on ``day`` (振替休日 and 国民の休日 included)."""
    return _year_holidays(day.year).get(day)
