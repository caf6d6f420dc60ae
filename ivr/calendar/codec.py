"""The calendar's JSON form read back into the model, every format problem collected.

``Calendar.from_dict`` is the public way in; this module only checks shapes and
formats (types, known keys, ``"HH:MM"``, ISO dates). Whether the values make sense
together (overlaps, order, 5-minute steps) is ``validate``'s job.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import date, datetime
from typing import Any

from ivr.calendar.errors import CalendarIssue
from ivr.calendar.model import (
    FORMAT_VERSION,
    WEEKDAY_KEYS,
    Announcement,
    Calendar,
    DateClosure,
    DateOverride,
    MonthDay,
    RecurringClosure,
    ServicePeriod,
    WeeklyHours,
    Window,
    parse_hm,
)
from ivr.log import TOKYO

_TOP_KEYS = (
    "version",
    "weekly",
    "national_holidays",
    "recurring_closures",
    "closures",
    "overrides",
    "service",
    "announcements",
)


class _Reader:
    """Reads values and notes a problem (returning None) instead of stopping at the first."""

    def __init__(self) -> None:
        self.issues: list[CalendarIssue] = []

    def fail(self, path: str, message: str) -> None:
        self.issues.append(CalendarIssue(path, message))

    def mapping(
        self, value: object, path: str, keys: Collection[str], required: Collection[str] = ()
    ) -> dict[str, Any] | None:
        if not isinstance(value, dict):
            self.fail(path, "項目の組（オブジェクト）である必要があります")
            return None
        for key in value:
            if key not in keys:  # noted; reading goes on to find the other problems
                self.fail(_join(path, str(key)), "不明な項目です")
        missing = [key for key in required if key not in value]
        for key in missing:
            self.fail(_join(path, key), "この項目は必須です")
        return None if missing else value

    def items(self, value: object, path: str) -> list[tuple[str, object]]:
        if not isinstance(value, list):
            self.fail(path, "一覧（配列）である必要があります")
            return []
        return [(f"{path}[{i}]", item) for i, item in enumerate(value)]

    def text(self, value: object, path: str) -> str | None:
        if not isinstance(value, str):
            self.fail(path, "文字列である必要があります")
            return None
        return value

    def minutes(self, value: object, path: str) -> int | None:
        if isinstance(value, str):
            try:
                return parse_hm(value)
            except ValueError:
                pass
        self.fail(path, "時刻は「08:45」の形で入力してください")
        return None

    def day(self, value: object, path: str) -> date | None:
        try:
            if isinstance(value, str) and len(value) == 10:
                return date.fromisoformat(value)
        except ValueError:
            pass
        self.fail(path, "日付は「2026-05-01」の形で入力してください")
        return None

    def month_day(self, value: object, path: str) -> MonthDay | None:
        if isinstance(value, str) and len(value) == 5 and value[2] == "-":
            month, day = value[:2], value[3:]
            if month.isdecimal() and day.isdecimal():
                try:
                    date(2000, int(month), int(day))  # a leap year: 02-29 is allowed
                    return MonthDay(int(month), int(day))
                except ValueError:
                    pass
        self.fail(path, "月日は「12-29」の形で、実在する日付を入力してください")
        return None

    def moment(self, value: object, path: str) -> datetime | None:
        try:
            if isinstance(value, str) and len(value) >= 16:
                parsed = datetime.fromisoformat(value)
                if parsed.tzinfo is None:
                    return parsed.replace(tzinfo=TOKYO)
                return parsed.astimezone(TOKYO)
        except ValueError:
            pass
        self.fail(path, "日時は「2026-04-01T00:00:00+09:00」の形で入力してください")
        return None

    def optional_moment(self, value: object, path: str) -> tuple[bool, datetime | None]:
        if value is None:
            return True, None
        parsed = self.moment(value, path)
        return parsed is not None, parsed

    def windows(self, value: object, path: str) -> tuple[Window, ...] | None:
        out: list[Window] = []
        ok = True
        for item_path, item in self.items(value, path):
            raw = self.mapping(item, item_path, ("start", "end"), ("start", "end"))
            if raw is None:
                ok = False
                continue
            start = self.minutes(raw["start"], f"{item_path}.start")
            end = self.minutes(raw["end"], f"{item_path}.end")
            if start is None or end is None:
                ok = False
                continue
            out.append(Window(start, end))
        if not isinstance(value, list):
            return None
        return tuple(out) if ok else None


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def read_calendar(data: object) -> tuple[Calendar | None, list[CalendarIssue]]:
    """The calendar in ``data`` and the format problems found (a calendar only if none)."""
    r = _Reader()
    raw = r.mapping(data, "", _TOP_KEYS)
    if raw is None:
        return None, r.issues
    parts: dict[str, Any] = {}
    version = raw.get("version", FORMAT_VERSION)
    if isinstance(version, bool) or version != FORMAT_VERSION:
        r.fail("version", f"対応していない形式の版です（{FORMAT_VERSION}のみ）")
    if "weekly" in raw:
        parts["weekly"] = _weekly(r, raw["weekly"])
    if "national_holidays" in raw:
        if isinstance(raw["national_holidays"], bool):
            parts["national_holidays"] = raw["national_holidays"]
        else:
            r.fail("national_holidays", "true か false で指定してください")
    if "recurring_closures" in raw:
        parts["recurring_closures"] = tuple(
            _recurring(r, item, path)
            for path, item in r.items(raw["recurring_closures"], "recurring_closures")
        )
    if "closures" in raw:
        parts["closures"] = tuple(
            _closure(r, item, path) for path, item in r.items(raw["closures"], "closures")
        )
    if "overrides" in raw:
        parts["overrides"] = tuple(
            _override(r, item, path) for path, item in r.items(raw["overrides"], "overrides")
        )
    if "service" in raw:
        parts["service"] = _service(r, raw["service"])
    if "announcements" in raw:
        parts["announcements"] = tuple(
            _announcement(r, item, path)
            for path, item in r.items(raw["announcements"], "announcements")
        )
    if r.issues:
        return None, r.issues
    return Calendar(**parts), r.issues


def _weekly(r: _Reader, value: object) -> WeeklyHours | None:
    raw = r.mapping(value, "weekly", WEEKDAY_KEYS)
    if raw is None:
        return None
    days = [r.windows(raw.get(key, []), f"weekly.{key}") for key in WEEKDAY_KEYS]
    return WeeklyHours(tuple(day or () for day in days))


def _recurring(r: _Reader, value: object, path: str) -> RecurringClosure | None:
    keys = ("label", "start", "end")
    raw = r.mapping(value, path, keys, keys)
    if raw is None:
        return None
    label = r.text(raw["label"], f"{path}.label")
    start = r.month_day(raw["start"], f"{path}.start")
    end = r.month_day(raw["end"], f"{path}.end")
    if label is None or start is None or end is None:
        return None
    return RecurringClosure(label, start, end)


def _closure(r: _Reader, value: object, path: str) -> DateClosure | None:
    keys = ("label", "start", "end")
    raw = r.mapping(value, path, keys, keys)
    if raw is None:
        return None
    label = r.text(raw["label"], f"{path}.label")
    start = r.day(raw["start"], f"{path}.start")
    end = r.day(raw["end"], f"{path}.end")
    if label is None or start is None or end is None:
        return None
    return DateClosure(label, start, end)


def _override(r: _Reader, value: object, path: str) -> DateOverride | None:
    raw = r.mapping(value, path, ("date", "windows", "label"), ("date",))
    if raw is None:
        return None
    day = r.day(raw["date"], f"{path}.date")
    windows = r.windows(raw.get("windows", []), f"{path}.windows")
    label = r.text(raw.get("label", ""), f"{path}.label")
    if day is None or windows is None or label is None:
        return None
    return DateOverride(day, windows, label)


def _service(r: _Reader, value: object) -> ServicePeriod | None:
    raw = r.mapping(value, "service", ("start", "end"))
    if raw is None:
        return None
    ok_start, start = r.optional_moment(raw.get("start"), "service.start")
    ok_end, end = r.optional_moment(raw.get("end"), "service.end")
    return ServicePeriod(start, end) if ok_start and ok_end else None


def _announcement(r: _Reader, value: object, path: str) -> Announcement | None:
    keys = ("id", "label", "text", "start", "end")
    raw = r.mapping(value, path, keys, keys[:4])
    if raw is None:
        return None
    ident = r.text(raw["id"], f"{path}.id")
    label = r.text(raw["label"], f"{path}.label")
    text = r.text(raw["text"], f"{path}.text")
    start = r.moment(raw["start"], f"{path}.start")
    ok_end, end = r.optional_moment(raw.get("end"), f"{path}.end")
    if ident is None or label is None or text is None or start is None or not ok_end:
        return None
    return Announcement(ident, label, text, start, end)
