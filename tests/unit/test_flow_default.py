"""The flow shipped with the project: it loads, and every top-menu option can be walked."""

from __future__ import annotations

import pytest

from ivr.flow.commands import Play, SendSms, Transfer
from ivr.flow.loader import load_default_flow
from ivr.flow.model import Flow, SmsNode, TransferNode, used_prompt_ids
from ivr.flow.state import Phase

from .test_flow_kit import Call, ctx, plays, show

GUIDES = {
    "1": ("guide_registration", "sms_registration"),
    "2": ("guide_certificate", "sms_certificate"),
    "3": ("guide_lost", "sms_lost"),
    "4": ("guide_expiry", "sms_expiry"),
    "5": ("guide_changes", "sms_changes"),
}


@pytest.fixture(scope="module")
def default() -> Flow:
    """The shipped flow, loaded once."""
    return load_default_flow()


def at_main_menu(the_flow: Flow, caller_type: str = "mobile", calendar: str = "open") -> Call:
    """A call whose main menu prompt is playing."""
    call = Call.start(the_flow, ctx(caller_type=caller_type, calendar=calendar))
    assert plays(call.cmds) == [("welcome",)]
    call.end_playback()
    assert call.state.node == "main_menu"
    assert plays(call.cmds) == [("main_menu",)]
    return call


def after_pause(call: Call) -> None:
    """Let the pause after input run out, if one is running."""
    if call.state.phase is Phase.PAUSE:
        call.fire()


def test_default_flow_loads_and_uses_every_prompt(default: Flow) -> None:
    """The shipped flow loads, and every prompt it defines is used by some node."""
    assert default.start == "service_check"
    assert used_prompt_ids(default) == set(default.prompts)
    assert default.settings.pause_after_input == pytest.approx(0.5)


def test_default_flow_ids_other_code_relies_on(default: Flow) -> None:
    """The ids that end-to-end tests and the session rely on exist."""
    assert {"welcome", "main_menu", "guide_registration", "invalid", "timeout"} <= set(
        default.prompts
    )
    assert {"main_menu", "guide_registration"} <= set(default.nodes)


def test_default_flow_names_only_known_targets_and_templates(default: Flow) -> None:
    """Transfers go to 'kokuho' only and SMS templates are the five guidance texts."""
    targets = {n.target for n in default.nodes.values() if isinstance(n, TransferNode)}
    templates = {n.template for n in default.nodes.values() if isinstance(n, SmsNode)}
    assert targets == {"kokuho"}
    assert templates == {t for _, t in GUIDES.values()}


def test_default_prompts_are_short_and_have_text(default: Flow) -> None:
    """Every prompt has text of a natural length (under about 30 seconds of speech)."""
    for pid, prompt in default.prompts.items():
        assert prompt.text.strip(), pid
        assert len(prompt.text) <= 190, pid


def test_welcome_carries_the_fraud_warning(default: Flow) -> None:
    """The greeting says the city never asks for a PIN or a bank account."""
    text = default.prompts["welcome"].text
    assert "暗証番号" in text
    assert "口座番号" in text


@pytest.mark.parametrize(("key", "names"), GUIDES.items(), ids=GUIDES.keys())
def test_option_guidance_then_sms_for_mobile(
    default: Flow, key: str, names: tuple[str, str]
) -> None:
    """Each option plays its guidance; '1' then sends its SMS to a mobile caller."""
    guide, template = names
    call = at_main_menu(default)
    call.press(key)
    after_pause(call)
    assert plays(call.cmds) == [(guide, "option_menu")]
    assert call.state.node == guide
    cmds = call.press("1")
    assert [c for c in cmds if isinstance(c, SendSms)] == [
        SendSms(str(call.state.action), template, "09011112222")
    ]
    assert plays(call.result("queued")) == [("sms_sent",)]


@pytest.mark.parametrize("caller_type", ["landline", "withheld"])
def test_sms_for_landline_and_withheld_asks_for_a_mobile(default: Flow, caller_type: str) -> None:
    """Other callers key in a mobile number, hear it read back and confirm with 1."""
    call = at_main_menu(default, caller_type=caller_type)
    call.press("3")
    after_pause(call)
    call.press("1")
    after_pause(call)
    assert plays(call.cmds) == [("sms_enter_mobile",)]
    call.press("09087654321#")
    after_pause(call)
    play = next(c for c in call.cmds if isinstance(c, Play))
    assert play.prompts == ("sms_confirm_mobile",)
    assert play.variables["digits"] == "09087654321"
    cmds = call.press("1")
    assert [(c.template, c.to) for c in cmds if isinstance(c, SendSms)] == [
        ("sms_lost", "09087654321")
    ]


def test_staff_transfer_while_open(default: Flow) -> None:
    """'0' while the office is open announces the transfer, then transfers to kokuho."""
    call = at_main_menu(default)
    call.press("0")
    after_pause(call)
    assert plays(call.cmds) == [("transferring",)]
    cmds = call.end_playback()
    assert [c.target for c in cmds if isinstance(c, Transfer)] == ["kokuho"]
    assert plays(call.result("busy")) == [("transfer_busy",)]  # its own words (on: busy)


@pytest.mark.parametrize("calendar", ["closed", "holiday"])
def test_staff_while_closed_gives_office_hours(default: Flow, calendar: str) -> None:
    """'0' while closed plays the office hours instead of transferring."""
    call = at_main_menu(default, calendar=calendar)
    call.press("0")
    after_pause(call)
    assert plays(call.cmds) == [("office_closed",)]
    text = default.prompts["office_closed"].text
    assert "{office_hours}" in text and "{next_open_sentence}" in text  # no typed hours


def test_invalid_key_then_menu_again(default: Flow) -> None:
    """An invalid key plays 'invalid' and the main menu again."""
    call = at_main_menu(default)
    call.press("7")
    after_pause(call)
    assert plays(call.cmds) == [("invalid", "main_menu")]


def test_timeout_then_menu_again(default: Flow) -> None:
    """Silence after the menu plays 'timeout' and the main menu again."""
    call = at_main_menu(default)
    call.end_playback()
    assert plays(call.fire()) == [("timeout", "main_menu")]


def test_star_repeats_main_menu(default: Flow) -> None:
    """'*' replays the main menu."""
    call = at_main_menu(default)
    call.press("*")
    after_pause(call)
    assert plays(call.cmds) == [("main_menu",)]


def test_back_to_main_menu_from_guidance(default: Flow) -> None:
    """'2' in a guidance menu returns to the main menu."""
    call = at_main_menu(default)
    call.press("4")
    after_pause(call)
    call.press("2")
    after_pause(call)
    assert call.state.node == "main_menu"
    assert plays(call.cmds) == [("main_menu",)]


@pytest.mark.parametrize(
    ("calendar", "outcome", "prompt"),
    [
        ("before_service", "before_service", "before_service"),
        ("after_service", "service_ended", "service_ended"),
    ],
)
def test_outside_service_period(default: Flow, calendar: str, outcome: str, prompt: str) -> None:
    """Outside the service period the caller hears the notice and the call ends."""
    call = Call.start(default, ctx(calendar=calendar))
    assert plays(call.cmds) == [(prompt,)]
    assert show(call.end_playback()) == [f"hangup {outcome}"]


@pytest.mark.parametrize("calendar", ["open", "closed"])
def test_silent_caller_is_ended_gracefully(default: Flow, calendar: str) -> None:
    """A caller who never presses a key reaches a transfer (open) or a goodbye (closed)."""
    call = Call.start(default, ctx(calendar=calendar))
    for _ in range(50):
        if call.state.finished or call.state.action is not None:
            break
        if call.state.playback is not None:
            call.end_playback()
        else:
            call.fire()
    if calendar == "open":
        assert [c.target for c in call.log if isinstance(c, Transfer)] == ["kokuho"]
    else:
        assert call.state.finished
        assert show(call.log)[-1] == "hangup completed"
