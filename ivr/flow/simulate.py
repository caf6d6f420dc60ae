"""A call without a telephone: the flow engine driven by a scripted caller.

The admin site's preview 「この日時に電話すると」 runs the very engine a real call
runs, so what it shows is what a caller would get. The scripted caller:

- listens to every prompt to its end (no barge-in);
- presses the next of its keys when a menu or collect node waits for input: after
  the node's prompt has ended, between the digits of an entry, or after a read-back;
- stays silent once its keys run out, so the node's timeout fires;
- has every SMS accepted (``queued``) and every transfer answered (``answered``):
  both are shown as outcomes, never carried out.

The context is the one given: the clock does not move while the simulated call runs
(a real session refreshes the calendar facts with every event; a preview looks at one
moment). The run ends when the flow hangs up or finishes (a transfer answered), or after
``max_events`` events: validation guarantees that a silent caller reaches an end, but
keys such as ``* * * *`` can keep a menu repeating.
"""

from __future__ import annotations

import unicodedata
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from .commands import Command, Hangup, Play, Record, SendSms, Transfer
from .engine import TRANSFER_ANSWERED, Engine
from .errors import InvalidStateError
from .events import ActionResult, DigitPressed, Event, PlaybackFinished, TimerFired
from .model import DTMF_KEYS, Flow
from .state import CallContext, CallState, Phase

DEFAULT_MAX_EVENTS = 500
SMS_OUTCOME = "queued"
TRANSFER_OUTCOME = TRANSFER_ANSWERED

# Ends of a simulated call (``Simulation.end``).
END_HANGUP = "hangup"
END_TRANSFERRED = "transferred"
END_LIMIT = "limit"

_KEY_ALIASES = {"※": "*"}
"""Keys as Japanese staff may write them: 「※」 (and 「米印」) for the star key."""
_SEPARATORS = frozenset(" ,、・→>-ー")
"""Dropped between keys: spaces, commas, arrows, the hyphens of ``090-1234-5678``."""


def parse_keys(text: str) -> tuple[str, ...]:
    """The keys in ``text``, one per character: ``"1 2"``, ``"12"``, ``"0"``, ``"０９０…＃"``.

    Full-width characters are read as their ASCII forms, 「※」 as ``*``; spaces, commas,
    arrows and hyphens separate keys and are dropped. Raises ``ValueError`` naming the first
    character that is not a phone key.
    """
    keys: list[str] = []
    normal = unicodedata.normalize("NFKC", text).replace("米印", "*")
    for char in normal:
        key = _KEY_ALIASES.get(char, char)
        if key in _SEPARATORS or key.isspace():
            continue
        if key not in DTMF_KEYS:
            raise ValueError(f"{char!r} is not a phone key")
        keys.append(key)
    return tuple(keys)


@dataclass(frozen=True)
class Spoken:
    """One prompt as the caller hears it."""

    prompt: str
    """The prompt id."""
    text: str
    """The text with its variables filled in; a variable without a value stays ``{name}``."""
    file: str | None = None
    """An uploaded recording played instead of the text."""
    missing: tuple[str, ...] = ()
    """Variables the text uses that had no value."""


@dataclass(frozen=True)
class Note:
    """Something that happened at a node: an engine record (``branch``, ``key``,
    ``invalid``, ``timeout``, ``repeat``, ``exhausted``, ``input``, ``confirm``,
    ``sms``, ``transfer``), a request the simulation answered (``sms_request``,
    ``transfer_request``), the flow's ``hangup``, or ``limit`` when the run stopped."""

    kind: str
    detail: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Step:
    """One visit to a node: what was played there, which keys were pressed, what happened."""

    node: str
    kind: str
    """The node's type: ``menu``, ``play``, ``collect``, ``branch``, ``sms``, …"""
    prompts: tuple[Spoken, ...] = ()
    keys: tuple[str, ...] = ()
    """Keys pressed while at this node, counted or not."""
    notes: tuple[Note, ...] = ()
    timeline: tuple[Spoken | Note, ...] = ()
    """The prompts and notes together, in the order they happened."""


@dataclass(frozen=True)
class Simulation:
    steps: tuple[Step, ...]
    end: str
    """``hangup``, ``transferred``, or ``limit`` (stopped after ``max_events``)."""
    outcome: str = ""
    """The hangup's outcome (``completed``, ``service_ended``, …); "" otherwise."""
    unused_keys: tuple[str, ...] = ()
    """Keys left over when the call ended."""

    @property
    def path(self) -> tuple[str, ...]:
        return tuple(step.node for step in self.steps)


class _Missing(dict[str, str]):
    """Values for ``str.format_map`` that leave an unknown ``{name}`` as it is."""

    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


@dataclass
class _Visit:
    node: str
    kind: str
    keys: list[str] = field(default_factory=list)
    timeline: list[Spoken | Note] = field(default_factory=list)

    def note(self, kind: str, detail: Mapping[str, str]) -> None:
        self.timeline.append(Note(kind, MappingProxyType(dict(detail))))

    def play(self, spoken: Spoken) -> None:
        self.timeline.append(spoken)

    def freeze(self) -> Step:
        return Step(
            self.node,
            self.kind,
            prompts=tuple(x for x in self.timeline if isinstance(x, Spoken)),
            keys=tuple(self.keys),
            notes=tuple(x for x in self.timeline if isinstance(x, Note)),
            timeline=tuple(self.timeline),
        )


class _Transcript:
    """Turns the engine's commands into steps."""

    def __init__(self, flow: Flow, ctx: CallContext) -> None:
        self.flow = flow
        self.variables = dict(ctx.variables)
        self.visits: list[_Visit] = []
        self.outcome = ""
        self.awaiting = ""
        """``sms`` or ``transfer``: the request whose result the engine waits for."""

    def absorb(self, cmds: list[Command]) -> None:
        for cmd in cmds:
            match cmd:
                case Record(kind="enter", node=node, detail=detail):
                    self.visits.append(_Visit(node, detail.get("type", "")))
                case Record(kind=kind, detail=detail):
                    self.visits[-1].note(kind, detail)
                case Play(prompts=prompts, variables=variables):
                    values = {**self.variables, **variables}
                    for prompt in prompts:
                        self.visits[-1].play(self.spoken(prompt, values))
                case SendSms(template=template, to=to):
                    self.awaiting = "sms"
                    self.visits[-1].note("sms_request", {"template": template, "to": to})
                case Transfer(target=target):
                    self.awaiting = "transfer"
                    self.visits[-1].note("transfer_request", {"target": target})
                case Hangup(outcome=outcome):
                    self.outcome = outcome
                    self.visits[-1].note("hangup", {"outcome": outcome})
                case _:
                    pass  # Answer, StopPlayback, timers: nothing a person needs to see

    def spoken(self, prompt_id: str, values: Mapping[str, str]) -> Spoken:
        spec = self.flow.prompts.get(prompt_id)
        if spec is None:
            return Spoken(prompt_id, "", None, ())
        missing = tuple(name for name in spec.variables if name not in values)
        return Spoken(prompt_id, spec.render(_Missing(values)), spec.file, missing)


def _next_event(state: CallState, keys: deque[str], awaiting: str) -> Event:
    """What the scripted caller (or the world) does next."""
    phase = state.phase
    if phase is Phase.ACTION and state.action is not None:
        outcome = SMS_OUTCOME if awaiting == "sms" else TRANSFER_OUTCOME
        return ActionResult(state.action, outcome)
    if phase in (Phase.PROMPT, Phase.CONFIRM) and state.playback is not None:
        return PlaybackFinished(state.playback)
    if phase in (Phase.WAIT, Phase.ENTRY, Phase.CONFIRM_WAIT) and keys:
        return DigitPressed(keys.popleft())
    if state.timer is not None:  # the pause after input, or a silent caller's timeout
        return TimerFired(state.timer)
    raise InvalidStateError(f"simulation stuck in phase {phase} at node {state.node!r}")


def simulate(
    engine: Engine,
    ctx: CallContext,
    keys: Iterable[str] = (),
    *,
    max_events: int = DEFAULT_MAX_EVENTS,
) -> Simulation:
    """Run ``engine`` from its start for a caller in ``ctx`` who presses ``keys``."""
    transcript = _Transcript(engine.flow, ctx)
    pending = deque(keys)
    state, cmds = engine.start(ctx)
    transcript.absorb(cmds)
    events = 0
    while not state.finished and events < max_events:
        event = _next_event(state, pending, transcript.awaiting)
        if isinstance(event, DigitPressed):
            transcript.visits[-1].keys.append(event.digit)
        state, cmds = engine.handle(state, event)
        transcript.absorb(cmds)
        events += 1
    if state.finished:
        end = END_HANGUP if transcript.outcome else END_TRANSFERRED
    else:
        end = END_LIMIT
        transcript.visits[-1].note("limit", {"events": str(max_events)})
    return Simulation(
        steps=tuple(v.freeze() for v in transcript.visits),
        end=end,
        outcome=transcript.outcome,
        unused_keys=tuple(pending),
    )
