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
