"""Toll-fraud safety, property style: whatever a caller keys in and whatever a flow
stores, the values the controller puts on the channel for ``Dial()`` are the
published target's and nothing else; stored values that are not plain digits never
reach a dial string; and every value sent passes the dialplan's ``FILTER`` unchanged.
"""

from __future__ import annotations

import asyncio
import re
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from ivr.ari.events import Channel
from ivr.config import TransferSettings
from ivr.flow.commands import Play, StartTimer, Transfer
from ivr.flow.engine import CallContext, CallState, Engine
from ivr.flow.events import DigitPressed, Event, PlaybackFinished, TimerFired
from ivr.flow.loader import load_flow
from ivr.store.calls import CallRecorder
from ivr.transfer import dialvars
from ivr.transfer.model import Target, TargetSet, check
from ivr.transfer.records import AttemptWriter
from ivr.transfer.service import Ticket, TransferService
from ivr.transfer.slots import Slots

FLOW = """\
version: 1
start: menu
settings: {pause_after_input: 0, max_retries: 2}
prompts:
  menu: {text: 番号を入力するには1を、職員とのお話は0を}
  enter: {text: 番号を押してください}
  calling: {text: おつなぎします}
  invalid: {text: 無効です}
  timeout: {text: 時間切れです}
  bye: {text: さようなら}
nodes:
  menu:
    type: menu
    prompt: menu
    choices: {"1": number, "0": staff}
    on_exhausted: staff
  number:
    type: collect
    prompt: enter
    min_digits: 1
    max_digits: 32
    store: typed
    next: staff
    on_exhausted: staff
  staff: {type: transfer, target: kokuho, prompt: calling, fallback: bye}
  bye: {type: hangup, prompt: bye}
"""

KOKUHO = Target("kokuho", "0312345678", "trunk", 2, 30)
DIAL_VARS = {
    dialvars.NUMBER_VAR,
    dialvars.ENDPOINT_VAR,
    dialvars.RING_VAR,
    dialvars.CALLER_ID_VAR,
    dialvars.LAST4_VAR,
}
KEYS = st.sampled_from(list("0123456789*#"))
RANDOM = st.lists(
    st.one_of(KEYS.map(lambda k: ("key", k)), st.just(("end", "")), st.just(("timer", ""))),
    max_size=60,
)
# A caller who chooses 1 and types a number (stored by the collect node), then anything.
TYPING = st.tuples(st.text(alphabet="0123456789", min_size=1, max_size=32), RANDOM).map(
    lambda t: [
        ("end", ""),
        ("key", "1"),
        ("end", ""),
        *(("key", d) for d in t[0]),
        ("key", "#"),
        *t[1],
    ]
)
ACTIONS = st.one_of(RANDOM, TYPING)


@dataclass
class RecordingClient:
    """What the transfer service asks of ARI, recorded (set_shared: the dial values)."""

    shared: list[tuple[str, str]] = field(default_factory=list)

    async def set_shared(self, channel: str, name: str, value: str) -> None:
        self.shared.append((name, value))

    async def subscribe(self, app: str, source: str) -> None:
        pass

    async def endpoint_channels(self, technology: str, resource: str) -> list[str]:
        return []


class FreeSlots(Slots):
    async def claim(self, *args: Any, **kw: Any) -> bool:
        return True


def _service(client: RecordingClient, tmp: Path, s: TransferSettings) -> TransferService:
    nowhere = "postgresql://ivr@127.0.0.1:1/none"
    return TransferService(
        client,  # type: ignore[arg-type]
        "myna-ivr",
        lambda: TargetSet((KOKUHO,)),
        FreeSlots(nowhere),
        AttemptWriter(nowhere, tmp),
        CallRecorder(nowhere, tmp),
        s,
    )


def _channel(caller: str) -> Channel:
    return Channel("1746061200.1", "PJSIP/trunk-00000001", "Up", caller, "0501234567", "Stasis", "")


def _walk(engine: Engine, actions: list[tuple[str, str]]) -> tuple[CallState, Transfer | None]:
    """Feed the caller's keys (and prompt ends, time-outs) in; then let the call run on
    silently until it transfers or ends."""
    ctx = CallContext("09012345678", "0501234567", "mobile", "open")
    state, cmds = engine.start(ctx)
    pending: dict[str, str | None] = {"play": None, "timer": None}

    def absorb(commands: list[Any]) -> Transfer | None:
        for c in commands:
            if isinstance(c, Play):
                pending["play"] = c.token
            elif isinstance(c, StartTimer):
                pending["timer"] = c.token
            elif isinstance(c, Transfer):
                return c
        return None

    found = absorb(cmds)
    steps: list[tuple[str, str]] = [*actions, *[("end", ""), ("timer", "")] * 40]
    for kind, key in steps:
        if found is not None or state.finished:
            break
        event: Event
        if kind == "key":
            event = DigitPressed(key)
        elif kind == "end" and pending["play"]:
            event = PlaybackFinished(pending["play"])
        elif kind == "timer" and pending["timer"]:
            event = TimerFired(pending["timer"])
        else:
            continue
        state, cmds = engine.handle(state, event)
        found = absorb(cmds)
    return state, found


async def _dial_values(
    engine: Engine, actions: list[tuple[str, str]], tmp: Path
) -> tuple[CallState, dict[str, str]]:
    state, transfer = _walk(engine, actions)
    assert transfer is not None, "a silent caller always reaches the transfer"
    client = RecordingClient()
    service = _service(client, tmp, TransferSettings())
    ticket = await service.begin(
        _channel("09012345678"), state.node, transfer.target, uuid.uuid4(), "0501234567"
    )
    assert isinstance(ticket, Ticket)
    await service.arm(ticket)
    return state, {k: v for k, v in client.shared if k in DIAL_VARS}


@pytest.fixture(scope="module")
def engine() -> Engine:
    return Engine(load_flow(FLOW))


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(actions=ACTIONS)
def test_keyed_digits_never_reach_the_dial(
    engine: Engine, tmp_path: Path, actions: list[tuple[str, str]]
) -> None:
    """For any keys a caller presses (numbers typed into a collect node and stored
    included), the dial values are exactly those of the published target and the help
    line: the same as for a caller who pressed nothing."""
    baseline = asyncio.run(_dial_values(engine, [], tmp_path))[1]
    state, values = asyncio.run(_dial_values(engine, actions, tmp_path))
    assert (
        values
        == baseline
        == {
            dialvars.NUMBER_VAR: "0312345678",
            dialvars.ENDPOINT_VAR: "trunk",
            dialvars.RING_VAR: "30",
            dialvars.CALLER_ID_VAR: "0501234567",
            dialvars.LAST4_VAR: "",
        }
    )
    typed = state.values.get("typed", "")
    event("stored a typed number" if typed else "stored nothing")
    if len(typed) >= 3 and not any(typed in v for v in baseline.values()):  # not a coincidence
        assert all(typed not in v for v in values.values())


_FILTERS = {
    dialvars.NUMBER_VAR: "0123456789",
    dialvars.ENDPOINT_VAR: "abcdefghijklmnopqrstuvwxyz0123456789_",
    dialvars.RING_VAR: "0123456789",
    dialvars.CALLER_ID_VAR: "0123456789",
    dialvars.LAST4_VAR: "0123456789",
}
_DIAL = re.compile(r"PJSIP/[0-9]{3,15}@[a-z0-9_]{1,40}\Z")
NASTY = st.text(
    alphabet=st.sampled_from([*"0123456789+-*#&,()@;|/\\ ${}^\"'abcxyzPJSIP_\n\t", "国", "０"]),
    max_size=24,
)
NUMBERS = st.one_of(
    NASTY,
    st.text(alphabet="0123456789", min_size=1, max_size=18),
    st.text(alphabet="0123456789", min_size=3, max_size=15),
)
ENDPOINTS = st.one_of(st.just("trunk"), NASTY, st.sampled_from(["trunk2", "Trunk", "trunk;x"]))
RINGS = st.one_of(st.integers(5, 120), st.integers(-10, 200))


@settings(max_examples=500, deadline=None)
@given(
    number=NUMBERS,
    endpoint=ENDPOINTS,
    ring=RINGS,
    caller=NASTY,
    last4=st.booleans(),
)
def test_stored_values_reach_the_dial_string_only_as_plain_digits(
    number: str, endpoint: str, ring: int, caller: str, last4: bool
) -> None:
    """Any stored target (say a tampered row) and any network caller ID: the set is
    refused when published unless the number is 3-15 digits and the endpoint allowed,
    and plan() refuses the same; what it does return passes the dialplan's FILTER
    unchanged and dials only PJSIP/<digits>@<allowed endpoint>."""
    target = Target("kokuho", number, endpoint, 1, ring)
    issues = check(TargetSet((target,)), ("trunk",))
    try:
        plan = dialvars.plan(
            target,
            ("trunk",),
            caller_id_mode="caller",
            help_line="0501234567",
            dialled="0501234567",
            caller=caller,
            whisper_last4=last4,
        )
    except dialvars.DialRefused:
        event("refused")
        assert issues  # refused to dial: it would never have been published either
        return
    event("dialled")
    assert not issues
    assert _DIAL.match(plan.dial_string)
    assert plan.number == number and plan.endpoint == "trunk"
    for name, value in plan.variables():
        allowed = _FILTERS.get(name)
        if allowed is not None:
            assert "".join(c for c in value if c in allowed) == value, (name, value)
    assert 3 <= len(plan.caller_id) <= 15 and len(plan.last4) in (0, 4)


@pytest.mark.parametrize(
    ("number", "ok"),
    [
        ("0312345678", True),
        ("110", True),
        ("12", False),
        ("0123456789012345", False),
        ("03-1234-5678", False),
        ("+81312345678", False),
        ("0312345678&PJSIP/09012345678@trunk", False),
        ("０３１２３４５６７８", False),  # full-width digits
        ("", False),
    ],
)
def test_target_numbers_are_digits_of_a_sane_length(number: str, ok: bool) -> None:
    """A target's number is 3-15 ASCII digits, nothing else."""
    issues = check(TargetSet((Target("kokuho", number),)), ("trunk",))
    assert (not issues) is ok
    assert all(i.field == "number" for i in issues)


def test_caller_id_shown_to_staff() -> None:
    """The help line's number by default (the number dialled unless configured); the
    caller's when configured, else the help line for a withheld caller; the last four
    digits only when asked for."""

    def plan(mode: str, caller: str, help_line: str = "", last4: bool = False) -> dialvars.DialPlan:
        return dialvars.plan(
            KOKUHO, ("trunk",), caller_id_mode=mode, help_line=help_line,
            dialled="0501234567", caller=caller, whisper_last4=last4,
        )  # fmt: skip

    assert plan("help_line", "09012345678").caller_id == "0501234567"
    assert plan("help_line", "09012345678", help_line="0120123456").caller_id == "0120123456"
    assert plan("caller", "+819012345678").caller_id == "09012345678"
    assert plan("caller", "anonymous").caller_id == "0501234567"
    assert plan("help_line", "09012345678", last4=True).last4 == "5678"
    assert plan("help_line", "anonymous", last4=True).last4 == ""
    with pytest.raises(dialvars.DialRefused):
        dialvars.plan(
            KOKUHO, ("trunk",), caller_id_mode="help_line", help_line="", dialled="s",
            caller="", whisper_last4=False,
        )  # fmt: skip
    with pytest.raises(dialvars.DialRefused):
        dialvars.plan(
            Target("kokuho", "0312345678", "other"), ("trunk",), caller_id_mode="help_line",
            help_line="", dialled="0501234567", caller="", whisper_last4=False,
        )  # fmt: skip
