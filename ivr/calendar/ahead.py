"""Audio for the calendar's spoken values, built before any caller needs it.

Prompts such as 「次の受付は{next_open}からです」 change with the calendar. Their
text is known ahead: it can only change at the calendar's boundaries (an
opening, a closing, an announcement starting or ending). For the hours ahead,
every distinct rendering of every calendar-dependent prompt of the flow is
synthesised now, so no call waits on the speech engine. It runs when the
calendar or the flow changes (before the switch) and every hour after.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from ivr.calendar.decide import boundaries
from ivr.calendar.facts import facts_at
from ivr.calendar.model import Calendar
from ivr.call.prompts import PromptResolver

CALENDAR_VARIABLES = frozenset({"office_hours", "next_open", "next_open_sentence", "announcements"})
AHEAD = timedelta(hours=48)


def texts_ahead(resolver: PromptResolver, cal: Calendar, start: datetime) -> set[str]:
    """Every text the flow's calendar-dependent prompts can take from ``start`` on."""
    specs = [
        resolver.flow.prompts[pid]
        for pid in sorted(resolver.flow.prompt_ids_used())
        if resolver.upload(pid) is None
    ]
    dependent = [s for s in specs if s.variables and set(s.variables) <= CALENDAR_VARIABLES]
    texts: set[str] = set()
    if not dependent:
        return texts
    for moment in (start, *boundaries(cal, start, start + AHEAD)):
        variables = facts_at(cal, moment).variables
        for spec in dependent:
            text = spec.render(variables)
            if text.strip():
                texts.add(text)
    return texts


async def build_ahead(resolver: PromptResolver, cal: Calendar, start: datetime) -> int:
    """Synthesise (or find cached) every such text; returns how many there are."""
    texts = texts_ahead(resolver, cal, start)
    for text in sorted(texts):
        await resolver.library.ensure_text(text)
    return len(texts)
