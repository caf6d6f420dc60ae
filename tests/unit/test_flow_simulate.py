"""The scripted caller of the admin preview: paths, prompts, keys and ends, by table."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

import pytest

from ivr.calendar.facts import facts_at
from ivr.calendar.model import Announcement, Calendar
from ivr.flow.engine import CallContext, Engine
from ivr.flow.loader import load_default_flow, load_flow
from ivr.flow.simulate import (
    END_HANGUP,
    END_LIMIT,
    END_TRANSFERRED,
    Simulation,
    Spoken,
    parse_keys,
    simulate,
)
from ivr.log import TOKYO

from .test_flow_kit import ctx, flow

WEDNESDAY = (2026, 6, 10)  # an ordinary weekday, no national holiday

NOTICE_FLOW = """\
version: 1
start: check
settings: {pause_after_input: 0.5, max_retries: 1}
prompts:
  notice: {text: "お知らせです。{announcements}"}
  menu: {text: 1を押してください}
  invalid: {text: 無効です}
  timeout: {text: 時間切れです}
  done: {text: "受付時間は{office_hours}です"}
nodes:
  check:
    type: branch
    by: announcements
    cases: {active: notice}
    default: menu
  notice: {type: play, prompt: notice, next: menu}
  menu:
    type: menu
    prompt: menu
    choices: {"1": done}
    on_exhausted: done
  done: {type: hangup, prompt: done, outcome: heard}
"""


def run(
    keys: str = "", context: CallContext | None = None, text: str | None = None, **kw: int
) -> Simulation:
    the_flow = flow() if text is None else load_flow(text)
    return simulate(Engine(the_flow), context or ctx(), parse_keys(keys), **kw)


def steps(sim: Simulation) -> list[str]:
    """Each step as ``node`` with its pressed keys (``menu[3]``)."""
    return [s.node + (f"[{''.join(s.keys)}]" if s.keys else "") for s in sim.steps]


def notes(sim: Simulation, node: str) -> list[tuple[str, dict[str, str]]]:
    (step,) = [s for s in sim.steps if s.node == node]
    return [(n.kind, dict(n.detail)) for n in step.notes]


def calendar_context(
    hour: int, minute: int, caller_type: str = "mobile", cal: Calendar | None = None
) -> CallContext:
    """The context a real call gets from the calendar facts at that moment."""
    facts = facts_at(cal or Calendar(), datetime(*WEDNESDAY, hour, minute, tzinfo=TOKYO))
    return replace(
        ctx(caller_type),
        calendar=facts.state,
        announcements=facts.announcements,
        variables=facts.variables,
    )


@pytest.mark.parametrize(
    ("keys", "context", "path", "end", "outcome"),
    [
        pytest.param(
            "3",
            ctx(calendar="open"),
            ["gate", "hello", "menu[3]", "staff", "transfer"],
            END_TRANSFERRED,
            "",
            id="staff-open-transfer-answered",
        ),
        pytest.param(
            "3",
            ctx(calendar="closed"),
            ["gate", "hello", "menu[3]", "staff", "closed", "bye"],
            END_HANGUP,
            "completed",
            id="staff-closed-guidance",
        ),
        pytest.param(
            "",
            ctx(calendar="after_service"),
            ["gate", "early"],
            END_HANGUP,
            "out_of_service",
            id="after-service",
        ),
        pytest.param(
            "2",
            ctx(caller_type="mobile"),
            ["gate", "hello", "menu[2]", "route", "sms", "sent", "menu", "bye"],
            END_HANGUP,
            "completed",
            id="mobile-sms-queued-then-silent",
        ),
        pytest.param(
            "2 09012345678 1 9",
            ctx(caller_type="landline"),
            [
                "gate",
                "hello",
                "menu[2]",
                "route",
                "number[090123456781]",
                "sms",
                "sent",
                "menu[9]",
                "bye",
            ],
            END_HANGUP,
            "completed",
            id="landline-keys-number-confirms",
        ),
        pytest.param(
            "7 7 7",
            ctx(),
            ["gate", "hello", "menu[777]", "bye"],
            END_HANGUP,
            "completed",
            id="invalid-keys-exhaust",
        ),
        pytest.param(
            "",
            ctx(),
            ["gate", "hello", "menu", "bye"],
            END_HANGUP,
            "completed",
            id="silent-caller-times-out",
        ),
        pytest.param(
            "# 1 2",
            ctx(),
            ["gate", "hello", "menu[#]", "jump", "bye"],
            END_HANGUP,
            "completed",
            id="keys-left-over",
        ),
    ],
)
def test_paths(keys: str, context: CallContext, path: list[str], end: str, outcome: str) -> None:
    """Each script takes the engine's path to the expected end and outcome."""
    sim = run(keys, context)
    assert steps(sim) == path
    assert (sim.end, sim.outcome) == (end, outcome)


def test_keys_left_over_are_reported() -> None:
    """Keys the call never asked for are returned as unused."""
    assert run("# 1 2").unused_keys == ("1", "2")


def test_prompts_are_rendered_with_the_moments_variables() -> None:
    """A prompt's {placeholders} are filled from the context; unknown ones stay and are named."""
    context = replace(ctx(calendar="closed"), variables={"next_open": "6月11日(木)午前8時45分"})
    sim = run("3", context)
    (closed,) = [s for s in sim.steps if s.node == "closed"]
    assert [(p.prompt, p.text, p.missing) for p in closed.prompts] == [
        ("closed", "時間外です。次は6月11日(木)午前8時45分です", ())
    ]
    bare = run("3", replace(context, variables={}))
    (closed,) = [s for s in bare.steps if s.node == "closed"]
    assert (closed.prompts[0].text, closed.prompts[0].missing) == (
        "時間外です。次は{next_open}です",
        ("next_open",),
    )


def test_read_back_uses_the_engines_digit_variables() -> None:
    """The read-back of a keyed number is rendered with the engine's {digits_kana}."""
    sim = run("2 09012345678 1", ctx(caller_type="landline"))
    (number,) = [s for s in sim.steps if s.node == "number"]
    assert [p.prompt for p in number.prompts] == ["enter", "confirm"]
    assert number.prompts[1].text.startswith("ゼロキューゼロの")
    assert ("confirm", {"answer": "yes"}) in [(n.kind, dict(n.detail)) for n in number.notes]


def test_sms_and_transfer_are_answered_not_performed() -> None:
    """An SMS is answered "queued" and a transfer "answered"; both requests are noted."""
    sms = run("2", ctx(caller_type="mobile"))
    assert notes(sms, "sms") == [
        ("sms_request", {"template": "sms_info", "to": "09011112222"}),
        ("sms", {"template": "sms_info", "outcome": "queued"}),
    ]
    transfer = run("3", ctx(calendar="open"))
    assert notes(transfer, "transfer") == [
        ("transfer_request", {"target": "kokuho"}),
        ("transfer", {"target": "kokuho", "outcome": "answered"}),
    ]


def test_the_run_is_bounded() -> None:
    """A caller who keeps pressing the repeat key is stopped after max_events, with a note."""
    sim = run("*" * 50, ctx(), max_events=12)
    assert sim.end == END_LIMIT
    assert sim.steps[-1].notes[-1].kind == "limit"
    assert sim.unused_keys


@pytest.mark.parametrize(
    ("cal", "path", "texts"),
    [
        pytest.param(
            Calendar(
                announcements=(
                    Announcement(
                        "a1",
                        "システム停止",
                        "6月10日は窓口を休みます。",
                        datetime(2026, 6, 1, tzinfo=TOKYO),
                    ),
                )
            ),
            ["check", "notice", "menu[1]", "done"],
            ["お知らせです。6月10日は窓口を休みます。", "1を押してください"],
            id="active",
        ),
        pytest.param(
            Calendar(),
            ["check", "menu[1]", "done"],
            ["1を押してください"],
            id="none",
        ),
    ],
)
def test_announcement_branch(cal: Calendar, path: list[str], texts: list[str]) -> None:
    """With an announcement in force the notice plays, with its text, before the menu."""
    sim = run("1", calendar_context(10, 0, cal=cal), NOTICE_FLOW)
    assert steps(sim) == path
    spoken = [p.text for s in sim.steps for p in s.prompts]
    assert spoken[:-1] == texts
    assert spoken[-1] == "受付時間は平日の午前8時45分から午後5時15分までです"
    assert sim.outcome == "heard"


@pytest.mark.parametrize(
    ("hour", "minute", "state", "after_staff"),
    [(17, 14, "open", "transfer_staff"), (17, 16, "closed", "office_closed")],
)
def test_default_flow_staff_key_at_closing_time(
    hour: int, minute: int, state: str, after_staff: str
) -> None:
    """On the shipped flow, 0 at 17:14 on a weekday transfers; at 17:16 it gives the hours."""
    sim = simulate(Engine(load_default_flow()), calendar_context(hour, minute), ["0"])
    path = list(sim.path)
    assert path[path.index("staff") + 1] == after_staff
    assert notes(sim, "staff")[0] == (
        "branch",
        {"by": "calendar", "value": state, "next": after_staff},
    )
    (menu,) = [s for s in sim.steps if s.node == "main_menu"]
    assert menu.keys == ("0",)
    if state == "open":
        assert sim.end == END_TRANSFERRED
    else:
        assert sim.end == END_HANGUP
        (closed,) = [s for s in sim.steps if s.node == "office_closed"]
        text = closed.prompts[0].text
        assert "平日の午前8時45分から午後5時15分まで" in text
        assert "{" not in text and not closed.prompts[0].missing


@pytest.mark.parametrize(
    ("text", "keys"),
    [
        ("0", ("0",)),
        ("1 2", ("1", "2")),
        ("12", ("1", "2")),
        ("1、2, 3→#", ("1", "2", "3", "#")),
        ("090-12ー3", ("0", "9", "0", "1", "2", "3")),
        ("０９０ １２３４", ("0", "9", "0", "1", "2", "3", "4")),
        ("※ ＊ 米印 ＃", ("*", "*", "*", "#")),
        ("", ()),
    ],
)
def test_parse_keys(text: str, keys: tuple[str, ...]) -> None:
    """Keys as staff type them, full-width and 「※」 included, become phone keys."""
    assert parse_keys(text) == keys


@pytest.mark.parametrize("text", ["a", "1.2", "10時"])
def test_parse_keys_refuses_other_characters(text: str) -> None:
    """A character that is not a phone key is refused."""
    with pytest.raises(ValueError, match="not a phone key"):
        parse_keys(text)


def test_timeline_keeps_prompts_and_notes_in_order() -> None:
    """A silent caller at a menu hears the prompt, times out, hears the timeout prompt and
    the re-prompt, and so on: the step's timeline keeps that order."""
    sim = run("", ctx())
    (menu,) = [s for s in sim.steps if s.node == "menu"]
    order = [f"play {x.prompt}" if isinstance(x, Spoken) else x.kind for x in menu.timeline]
    assert order == [
        "play menu",
        "timeout",
        "play timeout",
        "play again",
        "timeout",
        "play timeout",
        "play again",
        "timeout",
        "exhausted",
    ]
