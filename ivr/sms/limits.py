"""Abuse limits, as pure decisions: a blocklist, a number of requests per number per
day (the day in Japan time), and a number of requests per minute for everyone together.
Each refusal is its own outcome, so a flow can say why (``on: {daily_limit: …}``).

The database counts what it holds (:func:`ivr.sms.outbox.admit`); while it is away
the requester counts in memory what this controller accepted (:class:`MemoryCounts`).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

from ivr.config import SmsSettings
from ivr.log import TOKYO
from ivr.sms.numbers import mobile_national

BLOCKED = "blocked"
DAILY_LIMIT = "daily_limit"
RATE_LIMITED = "rate_limited"
MINUTE = timedelta(minutes=1)


@dataclass(frozen=True)
class Limits:
    daily: int = 3
    per_minute: int = 30
    blocklist: frozenset[str] = frozenset()  # 11-digit national numbers

    @classmethod
    def from_settings(cls, s: SmsSettings) -> Limits:
        numbers = {mobile_national(n) or n.strip() for n in s.blocklist}
        return cls(s.daily_limit, s.rate_per_minute, frozenset(numbers))


def day_start(moment: datetime) -> datetime:
    """Midnight in Tokyo of the day ``moment`` falls on."""
    return datetime.combine(moment.astimezone(TOKYO).date(), time(0), TOKYO)


def decide(limits: Limits, *, blocked: bool, today: int, last_minute: int) -> str | None:
    """The refusal for a new request, or None to accept it. ``today``: requests already
    accepted for this number today; ``last_minute``: for everyone in the last minute."""
    if blocked:
        return BLOCKED
    if today >= limits.daily:
        return DAILY_LIMIT
    if last_minute >= limits.per_minute:
        return RATE_LIMITED
    return None


@dataclass
class MemoryCounts:
    """What this process accepted: per number for the current Tokyo day, and the
    moments of the last minute's requests."""

    day: date | None = None
    per_number: dict[str, int] = field(default_factory=dict)
    recent: deque[datetime] = field(default_factory=deque)

    def _roll(self, now: datetime) -> None:
        today = now.astimezone(TOKYO).date()
        if today != self.day:
            self.day, self.per_number = today, {}
        while self.recent and now - self.recent[0] >= MINUTE:
            self.recent.popleft()

    def decide(self, limits: Limits, number: str, now: datetime) -> str | None:
        self._roll(now)
        return decide(
            limits,
            blocked=number in limits.blocklist,
            today=self.per_number.get(number, 0),
            last_minute=len(self.recent),
        )

    def accepted(self, number: str, now: datetime) -> None:
        self._roll(now)
        self.per_number[number] = self.per_number.get(number, 0) + 1
        self.recent.append(now)
