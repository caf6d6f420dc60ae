"""The calendar editor's fields: filled from a calendar, read from a POST, checked.

Field names are the calendar's JSON paths with the form's own row numbers
(``weekly.mon[1].start``, ``overrides[0].windows[1].end``, ``announcements[2].text``).
The validator names problems by the same paths (``CalendarIssue.field``), so each
message is shown beside its field. Blank and deleted rows are left out of the
calendar, so its row numbers can differ from the form's: ``Built.place`` maps them back.

The whole calendar is one form with one version number: it is saved whole or not at
all, and a save based on an older version is refused (``ivr.calendar.store``).
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from typing import Any, Protocol, TypeVar

from ivr.calendar.codec import read_calendar
from ivr.calendar.errors import CalendarIssue
from ivr.calendar.model import FORMAT_VERSION, WEEKDAY_KEYS, Calendar, Window, hm

from .. import forms
from ..errors import BadRequest
from . import fields

MAX_ROWS = 100
"""Rows per list a form may send; more is not a person typing."""

MODE_CLOSED = "closed"
MODE_HOURS = "hours"

MSG_START_MISSING = "開始時刻を入力してください"
MSG_END_MISSING = "終了時刻を入力してください"
MSG_DATE = "日付を「2026-05-01」の形で入力してください"
MSG_DATE_MISSING = "日付を入力してください"
MSG_MOMENT = "日時を「2026-05-01 09:00」の形で入力してください"
MSG_ANNOUNCEMENT_START = "案内を始める日時を入力してください"
MSG_HOURS_MISSING = "受付時間を入力してください（終日休業にする場合は「終日休業」を選んでください）"

# -- rows ---------------------------------------------------------------------------


@dataclass
class WindowRow:
    start: str = ""
    end: str = ""

    def blank(self) -> bool:
        return not (self.start or self.end)

    @classmethod
    def of(cls, window: Window) -> WindowRow:
        return cls(hm(window.start), hm(window.end))


@dataclass
class RangeRow:
    """A recurring closure (month-days) or a one-off closure (dates)."""

    label: str = ""
    start: str = ""
    end: str = ""
    delete: bool = False

    def blank(self) -> bool:
        return not (self.label or self.start or self.end)


@dataclass
class OverrideRow:
    date: str = ""
    mode: str = MODE_CLOSED
    label: str = ""
    windows: list[WindowRow] = field(default_factory=list)
    delete: bool = False

    def blank(self) -> bool:
        return not (self.date or self.label) and all(w.blank() for w in self.windows)


@dataclass
class AnnouncementRow:
    id: str = ""
    label: str = ""
    text: str = ""
    start: str = ""
    end: str = ""
    delete: bool = False

    def blank(self) -> bool:
        return not (self.label or self.text or self.start or self.end)


class _Row(Protocol):
    def blank(self) -> bool: ...


R = TypeVar("R", bound=_Row)


def _spare(rows: list[R], make: Callable[[], R]) -> list[R]:
    """``rows`` ending with one blank row, for adding an entry without JavaScript."""
    return rows if rows and rows[-1].blank() else [*rows, make()]


def _form_path(paths: dict[str, str], path: str) -> str:
    """A calendar path on the form: its row numbers mapped through ``paths``."""
    best = ""
    for prefix in paths:
        if len(prefix) > len(best) and (
            path == prefix or path.startswith((prefix + ".", prefix + "["))
        ):
            best = prefix
    if best:
        path = paths[best] + path[len(best) :]
    # An announcement's id is made by the site; its problems belong to the name.
    return re.sub(r"^(announcements\[\d+\])\.id$", r"\1.label", path)


def _row_of(name: str) -> str:
    """The row a field belongs to: ``overrides[0].date`` → ``overrides[0]``."""
    m = re.fullmatch(r"(.*\])\.\w+", name)
    return m[1] if m else name


@dataclass
class Built:
    """What a form describes: the calendar, or the problems that keep it from being one."""

    calendar: Calendar | None
    """The calendar, when every field could be read."""
    problems: list[tuple[str, str]]
    """Fields that could not be read: (field name, message) pairs, in form order."""
    checkable: Calendar | None
    """The calendar, or the rows of it that could be read, for ``ivr.calendar.validate``."""
    paths: dict[str, str]
    """Calendar path prefix → form field prefix, for each row in ``checkable``."""

    def place(self, issues: Iterable[CalendarIssue]) -> list[tuple[str, str]]:
        """The validator's issues on ``checkable`` as (field name, message) pairs."""
        return [(_form_path(self.paths, issue.field), issue.message) for issue in issues]

    def check(self, issues: Callable[[Calendar], Iterable[CalendarIssue]]) -> list[tuple[str, str]]:
        """Every problem at once: the unreadable fields, then what ``issues`` finds in the
        rows that could be read (so staff need not fix one kind before seeing the other)."""
        found = list(self.problems)
        if self.checkable is not None:
            flagged = {name for name, _ in found}
            found += [p for p in self.place(issues(self.checkable)) if p[0] not in flagged]
        return found


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
            weekly={key: _spare(rows, WindowRow) for key, rows in self.weekly.items()},
            recurring=_spare(self.recurring, RangeRow),
            closures=_spare(self.closures, RangeRow),
            overrides=[
                replace(o, windows=_spare(o.windows, WindowRow))
                for o in _spare(self.overrides, OverrideRow)
            ],
            announcements=_spare(self.announcements, AnnouncementRow),
        )

    def build(self) -> Built:
        """The calendar these fields describe, or the fields that cannot be read.

        Whether the values make sense together (overlaps, order, dates already past)
        is for ``ivr.calendar.validate``: pass it to ``Built.check``.
        """
        first = _Builder(self)
        calendar, issues = read_calendar(first.data)
        flagged = {name for name, _ in first.problems}
        problems = first.problems + [
            p
            for p in ((_form_path(first.paths, i.field), i.message) for i in issues)
            if p[0] not in flagged
        ]
        if not problems:
            return Built(calendar, [], calendar, first.paths)
        # The rows that can be read still get checked, without the unreadable ones.
        second = _Builder(self, skip={_row_of(name) for name, _ in problems})
        # (Its own problems repeat the first pass's: a special-hours date without hours,
        # its empty time slot skipped, reads as closed; the date is still checked.)
        partial, more = read_calendar(second.data)
        return Built(None, problems, None if more else partial, second.paths)


def _indices(data: forms.Form, prefix: str) -> range:
    """Row numbers 0..n-1 where n-1 is the highest ``prefix[n]`` among the field names."""
    pattern = re.compile(re.escape(prefix) + r"\[(\d{1,4})\]")
    found = [int(m[1]) for key in data if (m := pattern.match(key))]
    if not found:
        return range(0)
    if max(found) >= MAX_ROWS:
        raise BadRequest()
    return range(max(found) + 1)


class _Builder:
    """Builds the JSON form row by row, noting problems and where each row came from;
    rows (and service fields) named in ``skip`` are left out."""

    def __init__(self, form: CalendarForm, skip: frozenset[str] | set[str] = frozenset()) -> None:
        self.problems: list[tuple[str, str]] = []
        self.paths: dict[str, str] = {}
        self.skip = skip
        self.data: dict[str, Any] = {
            "version": FORMAT_VERSION,
            "weekly": {
                key: self.windows(rows, f"weekly.{key}", f"weekly.{key}")
                for key, rows in form.weekly.items()
            },
            "national_holidays": form.national_holidays,
            "recurring_closures": self.ranges(form.recurring, "recurring_closures", days=False),
            "closures": self.ranges(form.closures, "closures", days=True),
            "overrides": self.overrides(form.overrides),
            "service": {
                "start": self.moment(form.service_start, "service.start"),
                "end": self.moment(form.service_end, "service.end"),
            },
            "announcements": self.announcements(form.announcements),
        }

    def fail(self, name: str, message: str) -> None:
        self.problems.append((name, message))

    def windows(self, rows: list[WindowRow], model: str, form: str) -> list[dict[str, str]]:
        out: list[dict[str, str]] = []
        for i, row in enumerate(rows):
            at = f"{form}[{i}]"
            if row.blank() or at in self.skip:
                continue
            self.paths[f"{model}[{len(out)}]"] = at
            if not row.start:
                self.fail(f"{at}.start", MSG_START_MISSING)
            if not row.end:
                self.fail(f"{at}.end", MSG_END_MISSING)
            out.append({"start": row.start, "end": row.end})
        return out

    def day(self, text: str, name: str) -> str:
        if not text:
            self.fail(name, MSG_DATE_MISSING)
        elif not fields.is_day(text):
            self.fail(name, MSG_DATE)
        return text

    def moment(self, text: str, name: str) -> str | None:
        if name in self.skip:
            return None
        if text and not fields.is_moment(text):
            self.fail(name, MSG_MOMENT)
        return text or None

    def ranges(self, rows: list[RangeRow], model: str, *, days: bool) -> list[dict[str, str]]:
        out: list[dict[str, str]] = []
        for i, row in enumerate(rows):
            at = f"{model}[{i}]"
            if row.delete or row.blank() or at in self.skip:
                continue
            self.paths[f"{model}[{len(out)}]"] = at
            start, end = row.start, row.end
            if days:
                start, end = self.day(start, f"{at}.start"), self.day(end, f"{at}.end")
            out.append({"label": row.label, "start": start, "end": end})
        return out

    def overrides(self, rows: list[OverrideRow]) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for i, row in enumerate(rows):
            at, model = f"overrides[{i}]", f"overrides[{len(out)}]"
            if row.delete or row.blank() or at in self.skip:
                continue
            self.paths[model] = at
            windows: list[dict[str, str]] = []
            if row.mode == MODE_HOURS:
                windows = self.windows(row.windows, f"{model}.windows", f"{at}.windows")
                if not windows:
                    self.fail(f"{at}.windows[0].start", MSG_HOURS_MISSING)
            out.append(
                {"date": self.day(row.date, f"{at}.date"), "windows": windows, "label": row.label}
            )
        return out

    def announcements(self, rows: list[AnnouncementRow]) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for i, row in enumerate(rows):
            at = f"announcements[{i}]"
            if row.delete or row.blank() or at in self.skip:
                continue
            self.paths[f"announcements[{len(out)}]"] = at
            if not row.id:
                row.id = "a" + secrets.token_hex(4)  # kept in the form, so a retry keeps it
            if not row.start:
                self.fail(f"{at}.start", MSG_ANNOUNCEMENT_START)
            out.append(
                {
                    "id": row.id,
                    "label": row.label,
                    "text": row.text,
                    "start": self.moment(row.start, f"{at}.start"),
                    "end": self.moment(row.end, f"{at}.end"),
                }
            )
        return out
