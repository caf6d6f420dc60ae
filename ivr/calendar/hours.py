"""Office hours (O3: business days 8:45–17:15, Asia/Tokyo, whatever the server's zone).

A first, fixed model: weekdays inside the window are "open". The calendar issue
replaces it with staff-edited hours, national holidays, closures and the
service period; the flow engine already branches on all of those states.
"""

from __future__ import annotations

from datetime import datetime, time, timedelta

from ivr.log import TOKYO

OPEN_FROM = time(8, 45)
OPEN_UNTIL = time(17, 15)
_WEEKDAYS = "月火水木金土日"


def state_at(now: datetime) -> str:
    local = now.astimezone(TOKYO)
    if local.weekday() < 5 and OPEN_FROM <= local.time() < OPEN_UNTIL:
        return "open"
    return "closed"


def next_open(now: datetime) -> datetime:
    local = now.astimezone(TOKYO)
    day = local.date()
    for _ in range(8):
        start = datetime.combine(day, OPEN_FROM, TOKYO)
        if day.weekday() < 5 and start > local:
            return start
        day += timedelta(days=1)
    raise AssertionError("no opening within a week")  # pragma: no cover


def speak_datetime(when: datetime) -> str:
    """A time as a caller hears it: 1月5日(月)8時45分."""
    local = when.astimezone(TOKYO)
    return (
        f"{local.month}月{local.day}日({_WEEKDAYS[local.weekday()]})"
        f"{local.hour}時{local.minute:02d}分".replace("時00分", "時")
    )
