"""The first office-hours model: weekdays 8:45–17:15 in Asia/Tokyo, whatever the server zone."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from ivr.calendar import hours
from ivr.call.context import caller_type
from ivr.log import TOKYO


@pytest.mark.parametrize(
    ("when", "state"),
    [
        (datetime(2026, 11, 27, 8, 44, tzinfo=TOKYO), "closed"),
        (datetime(2026, 11, 27, 8, 45, tzinfo=TOKYO), "open"),
        (datetime(2026, 11, 27, 17, 14, tzinfo=TOKYO), "open"),
        (datetime(2026, 11, 27, 17, 15, tzinfo=TOKYO), "closed"),
        (datetime(2026, 11, 28, 10, 0, tzinfo=TOKYO), "closed"),  # Saturday
        (datetime(2026, 11, 27, 0, 0, tzinfo=UTC), "open"),  # 09:00 in Tokyo
    ],
)
def test_state_at(when: datetime, state: str) -> None:
    """Open exactly inside the weekday window, in Tokyo time."""
    assert hours.state_at(when) == state


def test_next_open_is_spoken_naturally() -> None:
    """Friday evening's next opening is Monday 8:45, said as callers expect."""
    nxt = hours.next_open(datetime(2026, 11, 27, 18, 0, tzinfo=TOKYO))
    assert nxt == datetime(2026, 11, 30, 8, 45, tzinfo=TOKYO)
    assert hours.speak_datetime(nxt) == "11月30日(月)8時45分"
    assert hours.speak_datetime(datetime(2026, 12, 1, 9, 0, tzinfo=TOKYO)) == "12月1日(火)9時"


@pytest.mark.parametrize(
    ("number", "kind"),
    [
        ("09012345678", "mobile"),
        ("+818012345678", "mobile"),
        ("07012345678", "mobile"),
        ("0312345678", "landline"),
        ("0501234567", "landline"),
        ("", "withheld"),
        ("anonymous", "withheld"),
    ],
)
def test_caller_type(number: str, kind: str) -> None:
    """Japanese 070/080/090 numbers are mobiles; no number means withheld."""
    assert caller_type(number) == kind
