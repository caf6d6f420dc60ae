"""What the retention job decides, with no I/O: how a period reads, when a kept thing
is due, and the keyed hash that stands in for a number once its period is over.

The hash is an HMAC-SHA256 of the number's national digits (``+8190…`` and ``090…``
are one caller) under a secret key from the environment (``IVR_RETENTION_KEY``):
the same caller always gets the same hash, so repeat callers can still be counted,
but nobody without the key can tell which number it was by hashing all numbers.
"""

from __future__ import annotations

import calendar
import hashlib
import hmac
import re
from dataclasses import dataclass
from datetime import datetime, time, timedelta

HASH_PREFIX = "h:"
"""Hashed numbers read ``h:`` + 24 hex digits; nothing else in a number column does."""
KEY_MIN = 16
"""Characters a hash key needs at least."""

_PERIOD = re.compile(r"^\s*(\d{1,4})\s*(second|minute|hour|day|week|month|year)s?\s*$")
_TIME = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)$")


@dataclass(frozen=True)
class Period:
    """A length of time as staff write it: ``24 months``, ``30 days``."""

    count: int
    unit: str

    def before(self, now: datetime) -> datetime:
        """The moment this period before ``now``: what started earlier is due.
        Months and years are calendar months (31 March − 1 month = 28/29 February)."""
        if self.unit in ("month", "year"):
            months = self.count * (12 if self.unit == "year" else 1)
            index = now.year * 12 + now.month - 1 - months
            year, month = divmod(index, 12)
            day = min(now.day, calendar.monthrange(year, month + 1)[1])
            return now.replace(year=year, month=month + 1, day=day)
        seconds = {"second": 1, "minute": 60, "hour": 3600, "day": 86400, "week": 604800}
        return now - timedelta(seconds=self.count * seconds[self.unit])

    def __str__(self) -> str:
        return f"{self.count} {self.unit}{'s' if self.count != 1 else ''}"


def parse_period(text: str) -> Period | None:
    """``"24 months"`` → Period(24, "month"); None for anything else (or zero)."""
    found = _PERIOD.match(text.lower())
    if found is None or int(found.group(1)) < 1:
        return None
    return Period(int(found.group(1)), found.group(2))


def parse_time_of_day(text: str) -> time | None:
    found = _TIME.match(text.strip())
    return None if found is None else time(int(found.group(1)), int(found.group(2)))


def next_run(now: datetime, at: time) -> datetime:
    """The next moment at ``at`` (in ``now``'s time zone) strictly after ``now``."""
    run = now.replace(hour=at.hour, minute=at.minute, second=0, microsecond=0)
    return run if run > now else run + timedelta(days=1)


def national(number: str) -> str:
    """A number's national digits: ``+81 90-1234-5678`` → ``09012345678``; text with no
    digit (``anonymous``) → ``""``."""
    raw = number.strip()
    if raw.startswith("+81"):
        raw = "0" + raw[3:]
    elif raw.startswith("81") and len(raw) in (11, 12) and not raw.startswith("810"):
        raw = "0" + raw[2:]  # Asterisk may pass 8190... without the plus
    return "".join(c for c in raw if c.isascii() and c.isdigit())


def hashed(value: str) -> bool:
    return value.startswith(HASH_PREFIX)


def pseudonym(key: bytes, number: str) -> str | None:
    """The keyed hash that replaces ``number``; None when there is nothing to hash
    (empty, withheld, already a hash, or no digit in it)."""
    if not number or hashed(number):
        return None
    digits = national(number)
    if not digits:
        return None
    mac = hmac.new(key, digits.encode("ascii"), hashlib.sha256).hexdigest()
    return HASH_PREFIX + mac[:24]


def due(modified: datetime, now: datetime, period: Period) -> bool:
    """A file last written at ``modified`` is past its period at ``now``."""
    return modified < period.before(now)
