"""Whether calendar settings make sense, with Japanese messages tied to field paths.

``validate(cal)`` lists every problem; ``check(cal)`` raises ``CalendarError`` with
them. Field paths follow the JSON form (``weekly.mon[1].start``, ``overrides[0].date``).

With ``now`` given, entries that are *new* and already over are refused (a closure
whose last day has passed, an override for a past date, an announcement whose end has
passed): staff mistyped a year. An entry is new unless an equal one is in
``previous`` (the calendar in service), so saving a calendar that still holds last
month's closure keeps working. ``Calendar.from_dict`` checks without ``now``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import datetime

from ivr.calendar.errors import CalendarError, CalendarIssue
from ivr.calendar.model import MINUTES_PER_DAY, STEP_MINUTES, WEEKDAY_KEYS, Calendar, Window
from ivr.log import TOKYO

__all__ = ["CalendarError", "CalendarIssue", "check", "raise_for_issues", "validate"]

_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")

MSG_STEP = "時刻は5分単位で設定してください"
MSG_PAST_MIDNIGHT = "時間帯は0:00から24:00までの間で設定してください（日をまたぐことはできません）"
MSG_END_BEFORE_START = "終了時刻は開始時刻より後にしてください"
MSG_OVERLAP = "{other}の時間帯と重なっています"
MSG_LABEL = "名称を入力してください"
MSG_DAYS_ORDER = "終了日は開始日と同じ日か、それより後にしてください"
MSG_RANGE_ENDED = "この期間はすでに終了しています"
MSG_DATE_PASSED = "この日付はすでに過ぎています"
MSG_DUPLICATE_DATE = "{day}の設定がすでにあります（同じ日付は1件にまとめてください）"
MSG_SERVICE_ORDER = "受付期間の終了日時は開始日時より後にしてください"
MSG_ANNOUNCEMENT_TEXT = "案内の文章を入力してください"
MSG_ANNOUNCEMENT_ORDER = "案内の終了日時は開始日時より後にしてください"
MSG_ANNOUNCEMENT_ENDED = "この案内の期間はすでに終了しています"
MSG_ID = "IDは半角英数字と「_」「-」の64文字以内で入力してください"
MSG_DUPLICATE_ID = "同じIDの案内がすでにあります"


def _hm(minutes: int) -> str:
    return f"{minutes // 60}:{minutes % 60:02d}"


def _windows(windows: Iterable[Window], path: str) -> list[CalendarIssue]:
    """Each window alone (steps, within the day, order), then overlaps between them."""
    issues: list[CalendarIssue] = []
    sound: list[tuple[Window, str]] = []
    for i, window in enumerate(windows):
        at = f"{path}[{i}]"
        found = len(issues)
        for name, value in (("start", window.start), ("end", window.end)):
            if value % STEP_MINUTES:
                issues.append(CalendarIssue(f"{at}.{name}", MSG_STEP))
        if window.start < 0 or window.start >= MINUTES_PER_DAY:
            issues.append(CalendarIssue(f"{at}.start", MSG_PAST_MIDNIGHT))
        elif window.end > MINUTES_PER_DAY:
            issues.append(CalendarIssue(f"{at}.end", MSG_PAST_MIDNIGHT))
        elif window.end <= window.start:
            issues.append(CalendarIssue(f"{at}.end", MSG_END_BEFORE_START))
        if len(issues) == found:
            sound.append((window, at))
    sound.sort()
    reach: Window | None = None  # the window seen so far that ends latest
    for window, at in sound:
        if reach is not None and window.start < reach.end:
            other = f"{_hm(reach.start)}〜{_hm(reach.end)}"
            issues.append(CalendarIssue(f"{at}.start", MSG_OVERLAP.format(other=other)))
        if reach is None or window.end > reach.end:
            reach = window
    return issues


def validate(
    cal: Calendar, *, now: datetime | None = None, previous: Calendar | None = None
) -> list[CalendarIssue]:
    """Every problem in ``cal``; with ``now``, new entries already over are problems too."""
    issues: list[CalendarIssue] = []
    today = now.astimezone(TOKYO).date() if now is not None else None

    for key, windows in zip(WEEKDAY_KEYS, cal.weekly.days, strict=True):
        issues += _windows(windows, f"weekly.{key}")

    for i, recurring in enumerate(cal.recurring_closures):
        if not recurring.label.strip():
            issues.append(CalendarIssue(f"recurring_closures[{i}].label", MSG_LABEL))

    old_closures = previous.closures if previous is not None else ()
    for i, closure in enumerate(cal.closures):
        at = f"closures[{i}]"
        if not closure.label.strip():
            issues.append(CalendarIssue(f"{at}.label", MSG_LABEL))
        if closure.end < closure.start:
            issues.append(CalendarIssue(f"{at}.end", MSG_DAYS_ORDER))
        elif today is not None and closure.end < today and closure not in old_closures:
            issues.append(CalendarIssue(f"{at}.end", MSG_RANGE_ENDED))

    old_overrides = previous.overrides if previous is not None else ()
    seen_days = set()
    for i, override in enumerate(cal.overrides):
        at = f"overrides[{i}]"
        issues += _windows(override.windows, f"{at}.windows")
        if override.day in seen_days:
            day = f"{override.day.year}年{override.day.month}月{override.day.day}日"
            issues.append(CalendarIssue(f"{at}.date", MSG_DUPLICATE_DATE.format(day=day)))
        seen_days.add(override.day)
        if today is not None and override.day < today and override not in old_overrides:
            issues.append(CalendarIssue(f"{at}.date", MSG_DATE_PASSED))

    service = cal.service
    if service.start is not None and service.end is not None and service.end <= service.start:
        issues.append(CalendarIssue("service.end", MSG_SERVICE_ORDER))

    old_announcements = previous.announcements if previous is not None else ()
    seen_ids = set()
    for i, item in enumerate(cal.announcements):
        at = f"announcements[{i}]"
        if not _ID.fullmatch(item.id):
            issues.append(CalendarIssue(f"{at}.id", MSG_ID))
        elif item.id in seen_ids:
            issues.append(CalendarIssue(f"{at}.id", MSG_DUPLICATE_ID))
        seen_ids.add(item.id)
        if not item.label.strip():
            issues.append(CalendarIssue(f"{at}.label", MSG_LABEL))
        if not item.text.strip():
            issues.append(CalendarIssue(f"{at}.text", MSG_ANNOUNCEMENT_TEXT))
        if item.end is not None and item.end <= item.start:
            issues.append(CalendarIssue(f"{at}.end", MSG_ANNOUNCEMENT_ORDER))
        elif (
            now is not None
            and item.end is not None
            and item.end <= now
            and item not in old_announcements
        ):
            issues.append(CalendarIssue(f"{at}.end", MSG_ANNOUNCEMENT_ENDED))
    return issues


def raise_for_issues(issues: Iterable[CalendarIssue]) -> None:
    """Raise ``CalendarError`` when there is any issue."""
    found = list(issues)
    if found:
        raise CalendarError(found)


def check(cal: Calendar, *, now: datetime | None = None, previous: Calendar | None = None) -> None:
    """Raise ``CalendarError`` listing every problem ``validate`` finds."""
    raise_for_issues(validate(cal, now=now, previous=previous))
