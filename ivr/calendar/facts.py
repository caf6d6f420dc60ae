"""What a call may branch on and say at one moment, from the calendar in service:
the calendar state, ``{office_hours}``, ``{next_open}`` and the announcements.

The session asks for these with every event (``flow/`` never reads the clock),
so a call that starts at 17:14 and asks for staff at 17:16 hears the closed
guidance; the admin preview asks for any moment it likes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from ivr.calendar.decide import active_announcements, next_open, state_at
from ivr.calendar.model import Calendar
from ivr.calendar.speech import next_open_text, office_hours_text, speak_moment
from ivr.log import TOKYO

ANNOUNCEMENTS_ACTIVE = "active"
ANNOUNCEMENTS_NONE = "none"


@dataclass(frozen=True)
class Facts:
    state: str  # open | closed | holiday | before_service | after_service
    announcements: str  # active | none
    variables: dict[str, str] = field(default_factory=dict)


def facts_at(cal: Calendar, moment: datetime) -> Facts:
    """Variables: ``office_hours`` (「平日の午前8時45分から午後5時15分まで」),
    ``next_open`` (「12月1日(火)午前8時45分」, or a sentence saying no opening is left),
    ``next_open_sentence`` (「次の受付は、…からです。」 or that sentence: a flow that
    uses it never promises a date the service will not reach) and ``announcements``."""
    announcements = active_announcements(cal, moment)
    opening = next_open(cal, moment)
    next_open_phrase = next_open_text(cal, moment)
    return Facts(
        state=state_at(cal, moment),
        announcements=ANNOUNCEMENTS_ACTIVE if announcements else ANNOUNCEMENTS_NONE,
        variables={
            "office_hours": office_hours_text(cal),
            "next_open": next_open_phrase,
            "next_open_sentence": (
                f"次の受付は、{speak_moment(opening)}からです。"
                if opening is not None
                else f"{next_open_phrase}。"
            ),
            "announcements": "。".join(a.text.rstrip("。") for a in announcements) + "。"
            if announcements
            else "",
        },
    )


class FactsOfTheMinute:
    """``facts_at`` for the calls, computed once per minute of a calendar.

    Every event of every call asks for the facts (``CallSession._context``); under load
    that was 8% of the controller's CPU (``make bench --profile``), for answers that
    change only at a calendar boundary. Weekly hours are whole minutes (HH:MM) and
    closures whole days, so when the service period and the announcements start and
    end on whole minutes too, the facts of any moment are those of its minute.
    A calendar with a boundary inside a minute is computed for each moment, exactly."""

    def __init__(self) -> None:
        self._calendar: Calendar | None = None
        self._aligned = False
        self._minute: datetime | None = None
        self._facts: Facts | None = None

    def __call__(self, cal: Calendar, moment: datetime) -> Facts:
        if cal is not self._calendar:
            self._calendar, self._aligned, self._minute = cal, _whole_minutes(cal), None
        if not self._aligned:
            return facts_at(cal, moment)
        minute = moment.astimezone(TOKYO).replace(second=0, microsecond=0)
        if minute != self._minute or self._facts is None:
            self._facts, self._minute = facts_at(cal, minute), minute
        return self._facts


def _whole_minutes(cal: Calendar) -> bool:
    moments = [cal.service.start, cal.service.end]
    for a in cal.announcements:
        moments += [a.start, a.end]
    return all(m is None or (m.second == 0 and m.microsecond == 0) for m in moments)
