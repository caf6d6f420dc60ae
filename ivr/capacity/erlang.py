"""Erlang B: how many lines a trunk needs so that few callers find it full.

Pure functions, no I/O: ``bench/sizing.py`` prints the city's table with them and
``docs/capacity.md`` explains the figures.

Offered traffic in erlangs is calls per hour x mean holding time (hours): 1 erlang
keeps one line busy all hour. Erlang B gives the share of callers who find every
line busy (blocked calls are lost, callers do not wait in a queue), which is how a
SIP trunk with a channel limit behaves.
"""

from __future__ import annotations

from dataclasses import dataclass

HOUR = 3600.0


def blocking(lines: int, erlangs: float) -> float:
    """Erlang B: the probability a call finds all ``lines`` busy at ``erlangs`` offered.

    The recurrence B(0) = 1, B(n) = A·B(n-1) / (n + A·B(n-1)) is numerically stable
    for any size (no factorials)."""
    if lines < 0 or erlangs < 0:
        raise ValueError("lines and erlangs must not be negative")
    b = 1.0
    for n in range(1, lines + 1):
        b = erlangs * b / (n + erlangs * b)
    return b


def lines_for(erlangs: float, target: float) -> int:
    """The fewest lines whose blocking at ``erlangs`` is at most ``target`` (0 < target < 1)."""
    if not 0 < target < 1:
        raise ValueError("target blocking must be between 0 and 1")
    if erlangs < 0:
        raise ValueError("erlangs must not be negative")
    if erlangs == 0:
        return 0  # no calls, no lines
    b, n = 1.0, 0
    while b > target:
        n += 1
        b = erlangs * b / (n + erlangs * b)
    return n


def carried(lines: int, target: float) -> float:
    """The most erlangs ``lines`` carry at ``target`` blocking (bisection on Erlang B)."""
    lo, hi = 0.0, float(max(lines, 1)) * 2
    for _ in range(100):
        mid = (lo + hi) / 2
        if blocking(lines, mid) <= target:
            lo = mid
        else:
            hi = mid
    return lo


@dataclass(frozen=True)
class Traffic:
    """The busy hour's calls and how long each holds trunk channels.

    A call holds one trunk channel while it is in the IVR; a transferred call holds a
    second one (the leg to the city's line) from the moment it rings until the
    conversation ends: ``transfer_seconds`` (ring + talk) counts twice."""

    calls_per_hour: float
    ivr_seconds: float  # mean time a caller spends in the IVR (the menu, guidance)
    transfer_share: float = 0.0  # share of calls transferred to a city line
    transfer_seconds: float = 0.0  # ring + talk time of a transfer

    @property
    def channel_seconds(self) -> float:
        """Trunk channel-seconds one call holds, on average."""
        return self.ivr_seconds + self.transfer_share * self.transfer_seconds * 2

    @property
    def erlangs(self) -> float:
        """Offered trunk traffic in the busy hour (channel-erlangs)."""
        return self.calls_per_hour * self.channel_seconds / HOUR


@dataclass(frozen=True)
class Month:
    """A month's calls and how they bunch up into the busy hour."""

    calls: int  # calls in the month
    office_share: float = 1000 / 1100  # calls within office hours (the city's figures)
    office_days: int = 20  # working days in the month
    peak_day_factor: float = 1.0  # the busiest day against the average working day
    peak_hour_share: float = 0.2  # share of a day's office-hours calls in its busiest hour

    @property
    def busy_hour_calls(self) -> float:
        per_day = self.calls * self.office_share / self.office_days
        return per_day * self.peak_day_factor * self.peak_hour_share
