"""An sms node's optional per-outcome routes: read and checked like other keys (node and
line in every problem), and followed by the engine; unlisted outcomes go to on_failure."""

from __future__ import annotations

import pytest

from ivr.flow.errors import FlowError
from ivr.flow.events import ActionResult
from ivr.flow.loader import load_flow
from ivr.flow.model import SmsNode

from .test_flow_kit import Call, ctx

FLOW = """\
version: 1
start: send
settings: {pause_after_input: 0}
prompts:
  sent: {text: 送りました。}
  failed: {text: 送れませんでした。}
  limit: {text: 本日の送信回数の上限に達しました。}
nodes:
  send:
    type: sms
    template: sms_lost
    next: sent
    on_failure: failed
    on:
      daily_limit: limit
      no_number: failed
  sent: {type: hangup, prompt: sent}
  failed: {type: hangup, prompt: failed}
  limit: {type: hangup, prompt: limit}
"""


def _last_record(call: Call) -> tuple[str, dict[str, str]]:
    from ivr.flow.commands import Record

    records = [c for c in call.cmds if isinstance(c, Record) and c.kind == "sms"]
    return records[-1].kind, records[-1].detail


@pytest.mark.parametrize(
    ("outcome", "node"),
    [
        ("queued", "sent"),
        ("daily_limit", "limit"),
        ("rate_limited", "failed"),
        ("blocked", "failed"),
        ("unavailable", "failed"),
    ],
)
def test_outcomes_follow_their_routes(outcome: str, node: str) -> None:
    """A listed refusal goes to its node; other refusals to on_failure; success to next."""
    flow = load_flow(FLOW)
    sms = flow.nodes["send"]
    assert isinstance(sms, SmsNode)
    assert dict(sms.on) == {"daily_limit": "limit", "no_number": "failed"}
    call = Call.start(flow, ctx(caller="09012345678", caller_type="mobile"))
    token = call.state.action
    assert token is not None
    call.send(ActionResult(token, outcome))
    assert call.state.node == node
    assert _last_record(call)[1] == {"template": "sms_lost", "outcome": outcome}


def test_no_number_uses_its_route() -> None:
    """With no number to send to, the engine itself takes the no_number route."""
    flow = load_flow(FLOW.replace("no_number: failed", "no_number: limit"))
    call = Call.start(flow, ctx(caller="", caller_type="withheld"))
    assert call.state.node == "limit"


@pytest.mark.parametrize(
    ("change", "code", "words"),
    [
        ("daily_limit: nowhere", "missing_target", "'on.daily_limit' refers to node 'nowhere'"),
        ("queued: limit", "bad_value", "not an SMS refusal outcome"),
        ("daily_limit: [x]", "wrong_type", "a name"),
    ],
)
def test_bad_routes_are_reported_with_node_and_line(change: str, code: str, words: str) -> None:
    """Unknown targets, success outcomes and wrong types are refused where they are written."""
    with pytest.raises(FlowError) as raised:
        load_flow(FLOW.replace("daily_limit: limit", change))
    issue = next(i for i in raised.value.errors if i.code == code)
    assert (issue.node, issue.line) == ("send", 15) and words in issue.message


def test_duplicate_outcome_is_reported() -> None:
    """The same outcome twice is an error, not a silent override."""
    text = FLOW.replace("      no_number: failed\n", "      daily_limit: failed\n")
    with pytest.raises(FlowError) as raised:
        load_flow(text)
    assert any(i.code == "duplicate_key" and i.line == 16 for i in raised.value.errors)


def test_routes_count_for_the_graph_checks() -> None:
    """A node reached only through an on: route is reachable."""
    flow = load_flow(FLOW)
    assert ("on.daily_limit", "limit") in flow.nodes["send"].edges()
