"""Events the call session feeds into the flow engine.

The session translates Asterisk events (and its own timers) into these; the
engine never sees ARI objects.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class DigitPressed:
    """The caller pressed a DTMF key: one of 0-9, '*', '#'."""

    digit: str


@dataclass(frozen=True, slots=True)
class PlaybackFinished:
    """The playback started by ``Play(token=...)`` ended (completed or stopped)."""

    token: str


@dataclass(frozen=True, slots=True)
class TimerFired:
    """The timer started by ``StartTimer(token=...)`` elapsed."""

    token: str


@dataclass(frozen=True, slots=True)
class CallerHungUp:
    """The caller's channel went away."""


@dataclass(frozen=True, slots=True)
class ActionResult:
    """Outcome of a side action the engine asked for (SMS queued, transfer ended, ...).

    ``outcome`` is a short stable id such as ``queued``, ``answered``, ``busy``.
    """

    token: str
    outcome: str


Event = DigitPressed | PlaybackFinished | TimerFired | CallerHungUp | ActionResult
