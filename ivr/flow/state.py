"""What the engine knows about one call between two events.

A :class:`CallState` is immutable; the engine returns a new one for every
event. The session keeps it, reads ``node``, ``finished`` and ``digits``, and
hands it back with the next event. Tokens (``play-3``, ``timer-4``, ``sms-5``)
are unique within a call, so events for a playback or timer that is no longer
current are recognised and ignored.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum

ENTERED = "N"
"""Stands in ``CallState.digits`` (and so in ``calls.digits``) for one digit keyed into
a collect node's entry: the record shows that a number was entered, never which."""


@dataclass(frozen=True)
class CallContext:
    """Facts about the call that the flow may branch on. Who calls is fixed for the
    call; the calendar facts are refreshed by the session with every event."""

    caller: str
    """Caller number digits, ``""`` when withheld."""
    dialled: str
    caller_type: str
    """``mobile`` | ``landline`` | ``withheld``."""
    calendar: str
    """``open`` | ``closed`` | ``holiday`` | ``before_service`` | ``after_service``."""
    variables: Mapping[str, str] = field(default_factory=dict)
    """Values for prompt placeholders, e.g. ``next_open: "1月5日(月)午前8時45分"``."""
    announcements: str = "none"
    """``active`` while staff have a temporary announcement in force, else ``none``."""


class Phase(StrEnum):
    """Where the current node is in its life."""

    PAUSE = "pause"
    """Input was just taken; a short timer runs before ``pending`` plays."""
    PROMPT = "prompt"
    """The node's prompt (or its re-prompt) is playing."""
    WAIT = "wait"
    """The prompt ended; waiting for a key until the timer fires."""
    ENTRY = "entry"
    """A collect node has some digits; the inter-digit timer runs."""
    CONFIRM = "confirm"
    """A collect node reads the digits back."""
    CONFIRM_WAIT = "confirm_wait"
    """Waiting for the yes/no key after the read-back."""
    ACTION = "action"
    """Waiting for the ``ActionResult`` of an SMS or a transfer."""
    DONE = "done"
    """The flow is over for this call."""


@dataclass(frozen=True, slots=True)
class Pending:
    """A playback held back by the pause after input."""

    prompts: tuple[str, ...]
    phase: Phase
    variables: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class CallState:
    """One call's position in the flow."""

    node: str
    """Id of the current node."""
    context: CallContext
    phase: Phase = Phase.PROMPT
    finished: bool = False
    """True once the flow is over (hung up, transferred, or the caller left)."""
    digits: tuple[str, ...] = ()
    """Every key the caller pressed, in order (also the ignored ones), except that a
    digit keyed into a collect node's entry is kept as :data:`ENTERED` — the entry may
    be a phone number, which the call record must not hold (docs/personal-data.md);
    the value itself is only in ``values`` for as long as the call needs it."""
    values: Mapping[str, str] = field(default_factory=dict)
    """Values stored by collect nodes (``store:``), e.g. ``{"mobile": "09012345678"}``."""
    seq: int = 0
    playback: str | None = None
    """Token of the playback running now."""
    timer: str | None = None
    """Token of the timer running now."""
    action: str | None = None
    """Token of the SMS or transfer awaited."""
    pending: Pending | None = None
    failures: int = 0
    """Invalid inputs and timeouts at the current node so far."""
    entry: str = ""
    """Digits keyed in so far at the current collect node."""
    swallow: str | None = None
    """A terminator to ignore if it comes next: an entry that reached max_digits
    ends at once, and the '#' that many callers still press must not count as
    input for what follows (cleared by the next key or the next prompt's end)."""
