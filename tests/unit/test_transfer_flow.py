"""The transfer node in flows: per-outcome routes (``on:``) read and validated with
their lines, each outcome routed, a call coming back from Dial() resumed with its
outcome, and the shipped flow's routes."""

from __future__ import annotations

import pytest

from ivr.flow.commands import Hangup, Play, Record, Transfer
from ivr.flow.engine import CallContext, Engine
from ivr.flow.errors import FlowValidationError, InvalidStateError
from ivr.flow.events import ActionResult, DigitPressed, PlaybackFinished
from ivr.flow.loader import load_default_flow, load_flow
from ivr.flow.model import TRANSFER_FAILURES, TransferNode

FLOW = """\
version: 1
start: staff
prompts:
  calling: {text: おつなぎします}
  busy: {text: 話し中です}
  later: {text: 出られません}
  full: {text: 混み合っております}
  sorry: {text: おつなぎできません}
  bye: {text: さようなら}
nodes:
  staff:
    type: transfer
    target: kokuho
    prompt: calling
    fallback: sorry
    on:
      busy: busy
      no_answer: later
      capacity: full
  busy: {type: play, prompt: busy, next: bye}
  later: {type: play, prompt: later, next: bye}
  full: {type: play, prompt: full, next: bye}
  sorry: {type: play, prompt: sorry, next: bye}
  bye: {type: hangup, prompt: bye}
"""

CTX = CallContext(caller="09012345678", dialled="0501234567", caller_type="mobile", calendar="open")


def _transferred(engine: Engine) -> tuple[object, str]:
    state, cmds = engine.start(CTX)
    play = next(c for c in cmds if isinstance(c, Play))
    state, cmds = engine.handle(state, PlaybackFinished(play.token))
    (transfer,) = [c for c in cmds if isinstance(c, Transfer)]
    assert transfer.target == "kokuho"
    return state, transfer.token


@pytest.mark.parametrize(
    ("outcome", "node"),
    [
        ("busy", "busy"),
        ("no_answer", "later"),
        ("capacity", "full"),
        ("trunk_capacity", "full"),  # no route of its own: the capacity route
        ("failed", "sorry"),  # not routed: the fallback
        ("unavailable", "sorry"),
    ],
)
def test_each_outcome_takes_its_route(outcome: str, node: str) -> None:
    """An outcome listed in ``on`` goes to its node, trunk_capacity to capacity's, the
    rest to ``fallback``; the result is recorded with the target."""
    engine = Engine(load_flow(FLOW))
    state, token = _transferred(engine)
    state, cmds = engine.handle(state, ActionResult(token, outcome))
    assert state.node == node and not state.finished
    assert Record("transfer", "staff", {"target": "kokuho", "outcome": outcome}) in cmds


def test_answered_ends_the_flow_and_keys_while_ringing_do_nothing() -> None:
    """Keys while the transfer is under way are ignored; answered finishes the flow with
    no Hangup (the dialplan bridges the call)."""
    engine = Engine(load_flow(FLOW))
    state, token = _transferred(engine)
    state, cmds = engine.handle(state, DigitPressed("0"))
    assert cmds == [] and state.node == "staff"
    state, cmds = engine.handle(state, ActionResult(token, "answered"))
    assert state.finished and not any(isinstance(c, Hangup) for c in cmds)


def test_resume_with_a_result_routes_it_without_replaying() -> None:
    """A call back from Dial() resumes at the transfer node with the outcome: its route's
    prompt plays at once, the announcement is not repeated, no 'resume' is recorded."""
    engine = Engine(load_flow(FLOW))
    state, cmds = engine.resume(CTX, "staff", {}, ("0",), result="no_answer")
    assert state.node == "later" and state.digits == ("0",)
    assert [c.prompts for c in cmds if isinstance(c, Play)] == [("later",)]
    assert [r.kind for r in cmds if isinstance(r, Record)] == ["transfer", "enter"]
    with pytest.raises(InvalidStateError):
        engine.resume(CTX, "busy", {}, (), result="busy")


@pytest.mark.parametrize(
    ("routes", "code", "line"),
    [
        ("      ringing: busy\n", "bad_value", 17),
        ("      answered: busy\n", "bad_value", 17),
        ("      busy: nowhere\n", "missing_target", 17),
        ("      busy: busy\n      busy: later\n", "duplicate_key", 18),
    ],
)
def test_bad_routes_are_refused_with_the_node_and_line(routes: str, code: str, line: int) -> None:
    """An unknown outcome (or answered), a missing node, a repeated outcome: refused,
    naming the node and the line."""
    text = FLOW.replace("      busy: busy\n      no_answer: later\n      capacity: full\n", routes)
    with pytest.raises(FlowValidationError) as e:
        load_flow(text)
    found = [(i.code, i.node, i.line) for i in e.value.errors if i.node == "staff"]
    assert (code, "staff", line) in found


def test_routes_count_for_the_graph_checks() -> None:
    """A node reached only through an ``on`` route is reachable, and the route's node is
    part of the transfer's ways out."""
    flow = load_flow(FLOW)
    node = flow.nodes["staff"]
    assert isinstance(node, TransferNode)
    assert set(node.silent_edges()) == {"sorry", "busy", "later", "full"}
    assert ("on.capacity", "full") in node.edges()
    assert set(TRANSFER_FAILURES) == {"busy", "no_answer", "failed", "capacity", "trunk_capacity"}


@pytest.mark.parametrize(
    ("outcome", "prompt"),
    [
        ("busy", "transfer_busy"),
        ("no_answer", "transfer_no_answer"),
        ("capacity", "transfer_crowded"),
        ("trunk_capacity", "transfer_crowded"),
        ("failed", "transfer_failed"),
    ],
)
def test_shipped_flow_has_words_for_each_outcome(outcome: str, prompt: str) -> None:
    """The shipped flow's transfer: busy, no answer and capacity each have their own
    words; everything else the general apology; then the "anything else" menu."""
    flow = load_default_flow()
    engine = Engine(flow)
    state, cmds = engine.resume(CTX, "transfer_staff", {}, (), result=outcome)
    assert [c.prompts for c in cmds if isinstance(c, Play)] == [(prompt,)]
    assert flow.nodes[state.node].kind == "play"
    text = flow.prompts[prompt].text
    assert text.startswith("申し訳ございません。")
    if outcome == "no_answer":
        assert "{office_hours}" in text and "ショートメッセージ" in text
