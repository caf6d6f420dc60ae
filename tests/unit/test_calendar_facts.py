"""The calls' facts are computed once a minute (ivr.calendar.facts.FactsOfTheMinute) and
are always those facts_at gives for the same moment, boundaries included."""

from __future__ import annotations

from datetime import datetime, timedelta

from ivr.calendar.facts import FactsOfTheMinute, facts_at
from ivr.calendar.model import Announcement, Calendar
from ivr.log import TOKYO

# A Tuesday: open 08:45-17:15 with the default weekly hours.
DAY = datetime(2026, 12, 1, tzinfo=TOKYO)


def _moments(start: datetime, end: datetime, step: timedelta) -> list[datetime]:
    out = []
    while start < end:
        out.append(start)
        start += step
    return out


def test_every_second_around_the_boundaries_matches_facts_at() -> None:
    cal = Calendar(
        announcements=(
            Announcement("a", "臨時", "本日は混み合っています。", DAY.replace(hour=9), None),
        )
    )
    memo = FactsOfTheMinute()
    for start in (DAY.replace(hour=8, minute=44), DAY.replace(hour=17, minute=14)):
        for moment in _moments(start, start + timedelta(minutes=2), timedelta(seconds=7)):
            assert memo(cal, moment) == facts_at(cal, moment), moment
    states = {
        memo(cal, m).state
        for m in _moments(
            DAY.replace(hour=17, minute=14), DAY.replace(hour=17, minute=16), timedelta(seconds=30)
        )
    }
    assert states == {"open", "closed"}


def test_a_boundary_inside_a_minute_is_computed_for_each_moment() -> None:
    at = DAY.replace(hour=10, second=30)
    cal = Calendar(announcements=(Announcement("a", "臨時", "お知らせです。", at, None),))
    memo = FactsOfTheMinute()
    assert memo(cal, at - timedelta(seconds=20)).announcements == "none"
    assert memo(cal, at + timedelta(seconds=5)).announcements == "active"


def test_a_newly_published_calendar_is_used_at_once() -> None:
    memo = FactsOfTheMinute()
    moment = DAY.replace(hour=10)
    assert memo(Calendar(), moment).announcements == "none"
    published = Calendar(
        announcements=(Announcement("a", "臨時", "お知らせです。", moment - timedelta(hours=1)),)
    )
    assert memo(published, moment + timedelta(seconds=1)).announcements == "active"
