"""How the calendar editor names its fields, and how it reads what staff type.

Names are the calendar's JSON paths with the form's row numbers; ``field_id`` makes
HTML ids of them, ``field_label`` the Japanese names in the list of problems. The
readers accept what staff commonly type (full-width digits, 「12/29」, 「2026/5/1 9:00」)
and leave anything else as typed, for the calendar's own checks to name.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import date, datetime

from ivr.calendar.model import WEEKDAY_KEYS
from ivr.log import TOKYO

DAY_NAMES = dict(
    zip(
        WEEKDAY_KEYS,
        ("月曜日", "火曜日", "水曜日", "木曜日", "金曜日", "土曜日", "日曜日"),
        strict=True,
    )
)


def field_id(name: str) -> str:
    """An HTML id for a field name: ``weekly.mon[1].start`` → ``f-weekly-mon-1-start``."""
    return "f-" + re.sub(r"[^A-Za-z0-9]+", "-", name).strip("-")


def indexed_label(name: str, template: str) -> str:
    """``template`` with ``{0}``, ``{1}`` replaced by the 1-based row numbers in ``name``:
    (``overrides[2].windows[0].start``, 「設定{0}行目 時間帯{1}」) → 「設定3行目 時間帯1」."""
    numbers = [str(int(n) + 1) for n in re.findall(r"\[(\d+)\]", name)]

    def number(m: re.Match[str]) -> str:
        level = int(m[1])
        return numbers[level] if level < len(numbers) else m[0]

    return re.sub(r"\{(\d)\}", number, template)


# -- normalising what staff type ------------------------------------------------


def clock(text: str) -> str:
    """``8:45``, ``８：４５`` and ``0845`` as ``08:45``; anything else as typed."""
    text = unicodedata.normalize("NFKC", text).strip()
    if m := re.fullmatch(r"(\d{1,2}):(\d{2})", text):
        return f"{int(m[1]):02d}:{m[2]}"
    if m := re.fullmatch(r"(\d{1,2})(\d{2})", text):
        return f"{int(m[1]):02d}:{m[2]}"
    return text


def month_day(text: str) -> str:
    """``12/29``, ``12月29日`` and ``1-3`` as ``12-29`` / ``01-03``; anything else as typed."""
    text = unicodedata.normalize("NFKC", text).strip()
    if m := re.fullmatch(r"(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*日?", text):
        return f"{int(m[1]):02d}-{int(m[2]):02d}"
    return text


_DATE = r"(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*日?"


def day(text: str) -> str:
    """``2026/5/1`` and ``2026年5月1日`` as ``2026-05-01``; anything else as typed."""
    text = unicodedata.normalize("NFKC", text).strip()
    if m := re.fullmatch(_DATE, text):
        return f"{m[1]}-{int(m[2]):02d}-{int(m[3]):02d}"
    return text


def moment(text: str) -> str:
    """``2026/5/1 9:00`` as ``2026-05-01T09:00``; anything else as typed."""
    text = unicodedata.normalize("NFKC", text).strip()
    if m := re.fullmatch(_DATE + r"(?:\s+|T)(\d{1,2}):(\d{2})(?::(\d{2}))?", text):
        seconds = f":{m[6]}" if m[6] else ""
        return f"{m[1]}-{int(m[2]):02d}-{int(m[3]):02d}T{int(m[4]):02d}:{m[5]}{seconds}"
    return text


def is_day(text: str) -> bool:
    """Whether ``text`` is an ISO date as the calendar stores it (``2026-05-01``)."""
    try:
        date.fromisoformat(text)
    except ValueError:
        return False
    return len(text) == 10


def is_moment(text: str) -> bool:
    """Whether ``text`` is an ISO date-time to the minute at least (``2026-05-01T09:00``)."""
    try:
        datetime.fromisoformat(text)
    except ValueError:
        return False
    return len(text) >= 16


def moment_input(value: datetime | None) -> str:
    """A stored moment as a ``datetime-local`` value, Tokyo time (seconds only if set)."""
    if value is None:
        return ""
    local = value.astimezone(TOKYO)
    return local.strftime("%Y-%m-%dT%H:%M:%S" if local.second else "%Y-%m-%dT%H:%M")


# -- how a field is named in the list of problems --------------------------------------

_SECTIONS = {
    "recurring_closures": ("毎年の休業期間", "行目"),
    "closures": ("臨時休業", "行目"),
    "overrides": ("日付ごとの設定", "行目"),
    "announcements": ("臨時案内", "件目"),
}
_PARTS = {
    "label": "名称",
    "date": "日付",
    "text": "読み上げる文章",
    "mode": "種類",
}


def _part(section: str, part: str) -> str:
    if part in ("start", "end"):
        word = "開始" if part == "start" else "終了"
        suffix = {"closures": "日", "recurring_closures": "月日", "announcements": "日時"}
        return word + suffix.get(section, "")
    return _PARTS.get(part, part)


def field_label(name: str) -> str:
    """A field name as staff read it: ``weekly.mon[1].start`` → 「月曜日の時間帯2（開始）」."""
    if m := re.fullmatch(r"weekly\.(\w+)\[(\d+)\]\.(start|end)", name):
        which = "開始" if m[3] == "start" else "終了"
        return f"{DAY_NAMES.get(m[1], m[1])}の時間帯{int(m[2]) + 1}（{which}）"
    if m := re.fullmatch(r"overrides\[(\d+)\]\.windows\[(\d+)\]\.(start|end)", name):
        which = "開始" if m[3] == "start" else "終了"
        return f"日付ごとの設定{int(m[1]) + 1}行目の時間帯{int(m[2]) + 1}（{which}）"
    if m := re.fullmatch(r"(\w+)\[(\d+)\]\.(\w+)", name):
        section, unit = _SECTIONS.get(m[1], (m[1], "行目"))
        return f"{section}{int(m[2]) + 1}{unit}の{_part(m[1], m[3])}"
    if m := re.fullmatch(r"service\.(start|end)", name):
        return "受付期間の" + ("開始日時" if m[1] == "start" else "終了日時")
    return name
