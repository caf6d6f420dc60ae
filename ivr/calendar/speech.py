"""The calendar as callers hear it: office hours and moments in natural spoken Japanese.

Clock times use 午前/午後 with 正午 for 12:00 and 午前0時 for midnight, and leave out
「0分」 (「午前9時」); 12:30 is 「午後0時30分」 as broadcasters say it. A window that runs
to the end of the day ends at 「24時」, which nobody can mistake for the morning.
Dates keep the weekday in brackets, 「12月1日(火)」, as printed on the city's notices.
"""

from __future__ import annotations

from datetime import datetime

from ivr.calendar.decide import DEFAULT_HORIZON_DAYS, next_open
from ivr.calendar.model import MINUTES_PER_DAY, Calendar, Window
from ivr.log import TOKYO

WEEKDAY_NAMES = ("月", "火", "水", "木", "金", "土", "日")
NO_OPENING_IN_SERVICE = "本サービスの受付期間内に、窓口を開く予定はございません"
NO_OPENING = "現在、窓口を開く予定はございません"


def speak_clock(minutes: int) -> str:
    """Minutes after midnight as spoken: 「午前8時45分」, 「正午」, 「午後1時」, 「午前0時」."""
    if minutes == MINUTES_PER_DAY:
        return "24時"
    if minutes == 12 * 60:
        return "正午"
    hour, minute = divmod(minutes, 60)
    half = "午前" if hour < 12 else "午後"
    spoken = f"{half}{hour % 12}時"
    return f"{spoken}{minute}分" if minute else spoken


def speak_moment(when: datetime) -> str:
    """A moment as spoken, in Tokyo time: 「12月1日(火)午前8時45分」 (seconds are dropped)."""
    local = when.astimezone(TOKYO)
    weekday = WEEKDAY_NAMES[local.weekday()]
    clock = speak_clock(local.hour * 60 + local.minute)
    return f"{local.month}月{local.day}日({weekday}){clock}"


def _windows_text(windows: tuple[Window, ...]) -> str:
    return "、".join(f"{speak_clock(w.start)}から{speak_clock(w.end)}まで" for w in windows)


def _days_text(days: list[int], *, alone: bool) -> str:
    """Weekday numbers (Monday 0) as spoken: 平日, 毎日, 月曜日から木曜日, 火曜日と木曜日.

    Monday to Friday is 「平日」 only when no other day has hours: beside 「土曜日は」 the
    parallel 「月曜日から金曜日」 is clearer.
    """
    if days == [0, 1, 2, 3, 4] and alone:
        return "平日"
    if days == list(range(7)):
        return "毎日"
    names = [f"{WEEKDAY_NAMES[d]}曜日" for d in days]
    if len(days) >= 3 and days == list(range(days[0], days[-1] + 1)):
        return f"{names[0]}から{names[-1]}"
    if len(names) == 2:
        return f"{names[0]}と{names[1]}"
    return "、".join(names)


def office_hours_text(cal: Calendar) -> str:
    """The weekly office hours as a phrase to put in a sentence.

    Days with the same windows are said together, in weekday order:
    「平日の午前8時45分から午後5時15分まで」, or with several groups
    「月曜日から金曜日の午前8時45分から正午まで、午後1時から午後5時15分まで、
    土曜日は午前9時から正午まで」. Empty when no weekday has office hours.
    """
    groups: dict[tuple[Window, ...], list[int]] = {}
    for weekday, windows in enumerate(cal.weekly.days):
        if windows:
            groups.setdefault(tuple(sorted(windows)), []).append(weekday)
    parts = []
    for i, (windows, days) in enumerate(groups.items()):  # dicts keep first-seen order
        particle = "の" if i == 0 else "は"
        days_text = _days_text(days, alone=len(groups) == 1)
        parts.append(f"{days_text}{particle}{_windows_text(windows)}")
    return "、".join(parts)


def next_open_text(
    cal: Calendar, moment: datetime, *, horizon_days: int = DEFAULT_HORIZON_DAYS
) -> str:
    """The next opening after ``moment`` as spoken, or a sentence saying there is none.

    With a service end set, 「本サービスの受付期間内に、窓口を開く予定はございません」;
    without one (nothing opens within the horizon), 「現在、窓口を開く予定はございません」.
    """
    opening = next_open(cal, moment, horizon_days=horizon_days)
    if opening is not None:
        return speak_moment(opening)
    return NO_OPENING_IN_SERVICE if cal.service.end is not None else NO_OPENING
