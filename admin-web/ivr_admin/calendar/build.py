"""From the editor's fields to the calendar: each row read into the calendar's JSON
form (``ivr.calendar.codec``), with the problems that keep it from being read, and
where each row of the calendar came from on the form (``Built.place``).
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ivr.calendar.codec import read_calendar
from ivr.calendar.errors import CalendarIssue
from ivr.calendar.model import FORMAT_VERSION, Calendar

from . import fields
from .rows import MODE_HOURS, AnnouncementRow, OverrideRow, RangeRow, WindowRow

if TYPE_CHECKING:
    from .forms import CalendarForm

MSG_START_MISSING = "開始時刻を入力してください"
MSG_END_MISSING = "終了時刻を入力してください"
MSG_DATE = "日付を「2026-05-01」の形で入力してください"
MSG_DATE_MISSING = "日付を入力してください"
MSG_MOMENT = "日時を「2026-05-01 09:00」の形で入力してください"
MSG_ANNOUNCEMENT_START = "案内を始める日時を入力してください"
MSG_HOURS_MISSING = "受付時間を入力してください（終日休業にする場合は「終日休業」を選んでください）"


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


def build(form: CalendarForm) -> Built:
    """The calendar ``form`` describes, or the fields that cannot be read.

    Whether the values make sense together (overlaps, order, dates already past)
    is for ``ivr.calendar.validate``: pass it to ``Built.check``.
    """
    first = _Builder(form)
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
    second = _Builder(form, skip={_row_of(name) for name, _ in problems})
    # (Its own problems repeat the first pass's: a special-hours date without hours,
    # its empty time slot skipped, reads as closed; the date is still checked.)
    partial, more = read_calendar(second.data)
    return Built(None, problems, None if more else partial, second.paths)


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
