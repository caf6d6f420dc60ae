"""The calendar editor's fields: filled from a calendar, read from a POST, checked.

Field names are the calendar's JSON paths with the form's own row numbers
(``weekly.mon[1].start``, ``overrides[0].windows[1].end``, ``announcements[2].text``).
The validator names problems by the same paths (``CalendarIssue.field``), so each
message is shown beside its field. Blank and deleted rows are left out of the
calendar, so its row numbers can differ from the form's: ``Built.place`` maps them back.

The rows are in :mod:`.rows`; reading the fields into the calendar is :mod:`.build`.

The whole calendar is one form with one version number: it is saved whole or not at
all, and a save based on an older version is refused (``ivr.calendar.store``).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, replace

from ivr.calendar.model import WEEKDAY_KEYS, Calendar

from .. import forms
from ..errors import BadRequest
from . import fields
from .build import Built, build
from .rows import (
    MODE_CLOSED,
    MODE_HOURS,
    AnnouncementRow,
    OverrideRow,
    RangeRow,
    WindowRow,
    spare,
)

MAX_ROWS = 100
"""Rows per list a form may send; more is not a person typing."""


@dataclass
class CalendarForm:
    """Every field of the editor as typed (text), plus the version it was loaded from."""

    version: int | None
    weekly: dict[str, list[WindowRow]]
    national_holidays: bool
    recurring: list[RangeRow]
    closures: list[RangeRow]
    overrides: list[OverrideRow]
    service_start: str
    service_end: str
    announcements: list[AnnouncementRow]
    comment: str = ""

    @classmethod
    def of(cls, cal: Calendar, version: int | None) -> CalendarForm:
        """The fields showing ``cal`` (version ``version``)."""
        return cls(
            version=version,
            weekly={
                key: [WindowRow.of(w) for w in windows]
                for key, windows in zip(WEEKDAY_KEYS, cal.weekly.days, strict=True)
            },
            national_holidays=cal.national_holidays,
            recurring=[RangeRow(c.label, str(c.start), str(c.end)) for c in cal.recurring_closures],
            closures=[
                RangeRow(c.label, c.start.isoformat(), c.end.isoformat()) for c in cal.closures
            ],
            overrides=[
                OverrideRow(
                    o.day.isoformat(),
                    MODE_HOURS if o.windows else MODE_CLOSED,
                    o.label,
                    [WindowRow.of(w) for w in o.windows],
                )
                for o in cal.overrides
            ],
            service_start=fields.moment_input(cal.service.start),
            service_end=fields.moment_input(cal.service.end),
            announcements=[
                AnnouncementRow(
                    a.id, a.label, a.text, fields.moment_input(a.start), fields.moment_input(a.end)
                )
                for a in cal.announcements
            ],
        )

    @classmethod
    def read(cls, data: forms.Form) -> CalendarForm:
        """The fields as posted; ``BadRequest`` for what no browser form would send."""
        raw_version = forms.text(data, "version", 20)
        if raw_version and not raw_version.isdecimal():
            raise BadRequest()

        def text(name: str, limit: int = 100) -> str:
            return forms.text(data, name, limit)

        def windows(prefix: str) -> list[WindowRow]:
            return [
                WindowRow(
                    fields.clock(text(f"{prefix}[{i}].start")),
                    fields.clock(text(f"{prefix}[{i}].end")),
                )
                for i in _indices(data, prefix)
            ]

        def ranges(prefix: str, normal: Callable[[str], str]) -> list[RangeRow]:
            return [
                RangeRow(
                    text(f"{prefix}[{i}].label"),
                    normal(text(f"{prefix}[{i}].start")),
                    normal(text(f"{prefix}[{i}].end")),
                    bool(text(f"{prefix}[{i}].delete")),
                )
                for i in _indices(data, prefix)
            ]

        overrides = []
        for i in _indices(data, "overrides"):
            at = f"overrides[{i}]"
            mode = text(f"{at}.mode")
            overrides.append(
                OverrideRow(
                    fields.day(text(f"{at}.date")),
                    mode if mode in (MODE_CLOSED, MODE_HOURS) else MODE_CLOSED,
                    text(f"{at}.label"),
                    windows(f"{at}.windows"),
                    bool(text(f"{at}.delete")),
                )
            )
        announcements = []
        for i in _indices(data, "announcements"):
            at = f"announcements[{i}]"
            announcements.append(
                AnnouncementRow(
                    text(f"{at}.id", 64),
                    text(f"{at}.label"),
                    text(f"{at}.text", 1000),
                    fields.moment(text(f"{at}.start")),
                    fields.moment(text(f"{at}.end")),
                    bool(text(f"{at}.delete")),
                )
            )
        return cls(
            version=int(raw_version) if raw_version else None,
            weekly={key: windows(f"weekly.{key}") for key in WEEKDAY_KEYS},
            national_holidays=bool(text("national_holidays")),
            recurring=ranges("recurring_closures", fields.month_day),
            closures=ranges("closures", fields.day),
            overrides=overrides,
            service_start=fields.moment(text("service.start")),
            service_end=fields.moment(text("service.end")),
            announcements=announcements,
            comment=text("comment", 200),
        )

    def with_spares(self) -> CalendarForm:
        """The same fields with a blank row at the end of every list, to add entries."""
        return replace(
            self,
            weekly={key: spare(rows, WindowRow) for key, rows in self.weekly.items()},
            recurring=spare(self.recurring, RangeRow),
            closures=spare(self.closures, RangeRow),
            overrides=[
                replace(o, windows=spare(o.windows, WindowRow))
                for o in spare(self.overrides, OverrideRow)
            ],
            announcements=spare(self.announcements, AnnouncementRow),
        )

    def build(self) -> Built:
        """The calendar these fields describe, or the fields that cannot be read
        (:func:`ivr_admin.calendar.build.build`)."""
        return build(self)


def _indices(data: forms.Form, prefix: str) -> range:
    """Row numbers 0..n-1 where n-1 is the highest ``prefix[n]`` among the field names."""
    pattern = re.compile(re.escape(prefix) + r"\[(\d{1,4})\]")
    found = [int(m[1]) for key in data if (m := pattern.match(key))]
    if not found:
        return range(0)
    if max(found) >= MAX_ROWS:
        raise BadRequest()
    return range(max(found) + 1)
