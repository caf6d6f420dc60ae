"""Property tests: no text crashes the loader, no caller behaviour crashes the engine."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ivr.flow.commands import Command, Play, StopPlayback
from ivr.flow.engine import Engine
from ivr.flow.errors import FlowError
from ivr.flow.events import (
    ActionResult,
    CallerHungUp,
    DigitPressed,
    Event,
    PlaybackFinished,
    TimerFired,
)
from ivr.flow.loader import default_flow_text, load_default_flow, load_flow
from ivr.flow.model import CALENDAR_STATES, CALLER_TYPES
from ivr.flow.state import CallState

from .test_flow_kit import ctx

DEFAULT_TEXT = default_flow_text()
DEFAULT_LINES = DEFAULT_TEXT.splitlines(keepends=True)
YAML_BITS = [
    ":",
    " ",
    "  ",
    "\n",
    "- ",
    "{",
    "}",
    "[",
    "]",
    "&a ",
    "*a",
    "!!",
    "<<: ",
    "'",
    '"',
    "#",
    "|",
    ">-",
    "? ",
    "---",
    "~",
    "null",
    "1",
    "0x1F",
    ".inf",
    "2025-06-23",
    "type: menu",
    "next: ",
    "choices:",
    "\t",
    "\x00",
    "\ufeff",
    "全角",
]


def load_or_flow_error(text: str) -> None:
    """Load ``text``; only FlowError may come out of it."""
    try:
        load_flow(text, "fuzz.yaml")
    except FlowError as exc:
        assert exc.errors
        for issue in exc.errors:
            assert issue.line is None or issue.line >= 1
            assert issue.message


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=400))
def test_random_text_only_raises_flow_error(text: str) -> None:
    """Random text either loads or raises FlowError, never another exception."""
    load_or_flow_error(text)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(YAML_BITS), max_size=60).map("".join))
def test_random_yaml_fragments_only_raise_flow_error(text: str) -> None:
    """Text built from YAML syntax fragments either loads or raises FlowError."""
    load_or_flow_error(text)


mutation = st.one_of(
    st.tuples(st.just("delete"), st.integers(0, len(DEFAULT_LINES) - 1), st.just("")),
    st.tuples(st.just("duplicate"), st.integers(0, len(DEFAULT_LINES) - 1), st.just("")),
    st.tuples(st.just("insert"), st.integers(0, len(DEFAULT_TEXT)), st.sampled_from(YAML_BITS)),
    st.tuples(st.just("replace"), st.integers(0, len(DEFAULT_TEXT) - 1), st.text(max_size=3)),
    st.tuples(st.just("truncate"), st.integers(0, len(DEFAULT_TEXT)), st.just("")),
    st.tuples(st.just("swap"), st.integers(0, len(DEFAULT_LINES) - 2), st.just("")),
)


def mutate(text: str, change: tuple[str, int, str]) -> str:
    """Apply one mutation to a flow text."""
    kind, at, bit = change
    lines = text.splitlines(keepends=True)
    at_line = min(at, max(len(lines) - 1, 0))
    if kind == "delete" and lines:
        del lines[at_line]
    elif kind == "duplicate" and lines:
        lines.insert(at_line, lines[at_line])
    elif kind == "swap" and len(lines) > at_line + 1:
        lines[at_line], lines[at_line + 1] = lines[at_line + 1], lines[at_line]
    elif kind == "insert":
        return text[:at] + bit + text[at:]
    elif kind == "replace":
        return text[:at] + bit + text[at + 1 :]
    elif kind == "truncate":
        return text[:at]
    return "".join(lines)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(mutation, min_size=1, max_size=4))
def test_mutated_default_flow_only_raises_flow_error(changes: list[tuple[str, int, str]]) -> None:
    """Random edits of the shipped flow either load or raise FlowError."""
    text = DEFAULT_TEXT
    for change in changes:
        text = mutate(text, change)
    load_or_flow_error(text)


# -- the engine under random caller behaviour -----------------------------------------

ENGINE = Engine(load_default_flow())

action = st.one_of(
    st.sampled_from("0123456789*#").map(lambda d: ("press", d)),
    st.just(("end", "")),
    st.just(("fire", "")),
    st.sampled_from(["queued", "failed", "answered", "busy"]).map(lambda o: ("result", o)),
    st.just(("stale", "")),
)


def event_for(state: CallState, kind: str, arg: str) -> Event | None:
    """The event an action stands for in ``state`` (None when it cannot happen now)."""
    if kind == "press":
        return DigitPressed(arg)
    if kind == "end":
        return PlaybackFinished(state.playback) if state.playback else None
    if kind == "fire":
        return TimerFired(state.timer) if state.timer else None
    if kind == "result":
        return ActionResult(state.action, arg) if state.action else None
    return PlaybackFinished("play-0")


def check_commands(cmds: list[Command]) -> None:
    """A StopPlayback never precedes a Play of the same step."""
    kinds = [type(c) for c in cmds]
    if Play in kinds and StopPlayback in kinds:
        assert kinds.index(StopPlayback) == kinds.index(Play) + 1


@settings(max_examples=300, deadline=None)
@given(
    st.sampled_from(CALENDAR_STATES),
    st.sampled_from(CALLER_TYPES),
    st.lists(action, max_size=80),
    st.booleans(),
)
def test_random_callers_never_crash_the_engine(
    calendar: str, caller_type: str, actions: list[tuple[str, str]], hang_up: bool
) -> None:
    """Any sequence of keys, playback ends, timers and results keeps the engine consistent."""
    state, cmds = ENGINE.start(ctx(caller_type=caller_type, calendar=calendar))
    check_commands(cmds)
    pressed = 0
    for kind, arg in actions:
        event = event_for(state, kind, arg)
        if event is None:
            continue
        was_finished = state.finished
        state, cmds = ENGINE.handle(state, event)
        check_commands(cmds)
        if was_finished:
            assert cmds == []
        if kind == "press" and not was_finished:
            pressed += 1
            # the shipped flow pauses after input: a key never starts a prompt at once
            assert not any(isinstance(c, Play) for c in cmds)
        assert state.node in ENGINE.flow.nodes
        assert len(state.digits) == pressed
    if hang_up:
        state, _ = ENGINE.handle(state, CallerHungUp())
        assert state.finished


@settings(max_examples=100, deadline=None)
@given(
    st.sampled_from(CALENDAR_STATES),
    st.sampled_from(CALLER_TYPES),
    st.lists(st.sampled_from("0123456789*#"), max_size=20),
)
def test_caller_who_stops_pressing_always_reaches_an_end(
    calendar: str, caller_type: str, keys: list[str]
) -> None:
    """After any keys, a silent caller reaches a hangup or a transfer: menus end gracefully."""
    state, _ = ENGINE.start(ctx(caller_type=caller_type, calendar=calendar))
    for key in keys:
        state, _ = ENGINE.handle(state, DigitPressed(key))
    for _ in range(200):
        if state.finished:
            return
        if state.action is not None:
            state, _ = ENGINE.handle(state, ActionResult(state.action, "busy"))
        elif state.playback is not None:
            state, _ = ENGINE.handle(state, PlaybackFinished(state.playback))
        else:
            assert state.timer is not None, state
            state, _ = ENGINE.handle(state, TimerFired(state.timer))
    raise AssertionError(f"silent caller still in {state.node} after 200 steps")
