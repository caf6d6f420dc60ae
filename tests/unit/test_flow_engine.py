"""Engine behaviour, events in and commands out, on a small flow using every node kind."""

from __future__ import annotations

from dataclasses import replace

import pytest

from ivr.flow.commands import Play, Record, StartTimer, StopPlayback
from ivr.flow.engine import CallContext, Engine, Phase
from ivr.flow.errors import (
    EngineError,
    InvalidContextError,
    InvalidEventError,
    InvalidStateError,
)
from ivr.flow.events import ActionResult, DigitPressed, PlaybackFinished, TimerFired
from ivr.flow.readback import digits_kana

from .test_flow_kit import CODE_FLOW, Call, ctx, flow, plays, records, show


def at_menu(context: CallContext | None = None, /, **settings: object) -> Call:
    """A call whose menu prompt is playing."""
    call = Call.start(flow(**settings) if settings else None, context)
    call.end_playback()
    assert call.state.node == "menu"
    return call


def waiting_at_menu(**settings: object) -> Call:
    """A call whose menu prompt has finished (the timeout timer runs)."""
    call = at_menu(**settings)
    call.end_playback()
    assert call.state.phase is Phase.WAIT
    return call


# -- start and branches ------------------------------------------------------


def test_start_answers_records_and_plays() -> None:
    """Starting a call answers, records the path and plays the first prompt."""
    call = Call.start()
    assert show(call.cmds) == ["answer", "play hello"]
    assert records(call.cmds) == ["enter gate", "branch gate", "enter hello"]
    assert call.state.node == "hello"
    assert not call.state.finished
    assert call.state.digits == ()


@pytest.mark.parametrize("calendar", ["before_service", "after_service"])
def test_outside_service_period_plays_notice_and_hangs_up(calendar: str) -> None:
    """Before or after the service period the caller hears the notice, then the call ends."""
    call = Call.start(context=ctx(calendar=calendar))
    assert show(call.cmds) == ["answer", "play early"]
    assert show(call.end_playback()) == ["hangup out_of_service"]
    assert call.state.finished


@pytest.mark.parametrize(
    ("calendar", "expected"),
    [
        ("open", ["play calling", "stop"]),
        ("closed", ["play closed", "stop"]),
        ("holiday", ["play closed", "stop"]),
    ],
)
def test_branch_on_calendar(calendar: str, expected: list[str]) -> None:
    """The staff branch transfers while open and plays office hours otherwise."""
    call = at_menu(ctx(calendar=calendar))
    assert show(call.press("3")) == expected


@pytest.mark.parametrize(
    ("caller_type", "expected"),
    [
        ("mobile", ["stop", "sms sms_info 09011112222"]),
        ("landline", ["play enter", "stop"]),
        ("withheld", ["play enter", "stop"]),
    ],
)
def test_branch_on_caller_type(caller_type: str, expected: list[str]) -> None:
    """A mobile caller gets the SMS at once; others are asked for a mobile number."""
    call = at_menu(ctx(caller_type=caller_type))
    assert show(call.press("2")) == expected


@pytest.mark.parametrize(
    "context",
    [
        CallContext("1", "2", "mobile", "sunny"),
        CallContext("1", "2", "satellite", "open"),
    ],
)
def test_bad_context_is_refused(context: CallContext) -> None:
    """A calendar state or caller type the flow cannot branch on raises InvalidContextError."""
    with pytest.raises(InvalidContextError):
        Engine(flow()).start(context)


# -- play nodes and barge-in --------------------------------------------------


def test_non_interruptible_play_ignores_keys_but_remembers_them() -> None:
    """Keys during a non-interruptible prompt change nothing but are kept in digits."""
    call = Call.start()
    assert call.press("12") == []
    assert call.state.node == "hello"
    assert call.state.digits == ("1", "2")


def test_play_node_goes_on_when_finished() -> None:
    """A play node plays all its prompts as one playback, then enters next."""
    call = at_menu()
    assert show(call.press("1")) == ["play info,info", "stop"]
    assert show(call.end_playback()) == ["play menu"]
    assert call.state.node == "menu"


def test_interrupted_play_node_passes_key_to_next_menu() -> None:
    """A key during an interruptible play node skips it and counts at the next menu."""
    call = at_menu()
    call.press("1")
    cmds = call.press("9")
    assert show(cmds) == ["play bye", "stop"]
    assert records(cmds) == ["skip info", "enter menu", "key menu", "enter bye"]


def test_barge_in_plays_next_prompt_before_stopping() -> None:
    """A key during a menu prompt starts the next Play first, then stops the old one."""
    call = at_menu()
    old = call.state.playback
    cmds = call.press("1")
    play_index = next(i for i, c in enumerate(cmds) if isinstance(c, Play))
    stop_index = next(i for i, c in enumerate(cmds) if isinstance(c, StopPlayback))
    assert stop_index == play_index + 1
    assert cmds[stop_index] == StopPlayback(str(old))
    assert records(cmds) == ["key menu", "enter info"]


def test_barge_in_with_pause_stops_then_waits() -> None:
    """With a pause, barge-in stops the prompt at once and plays the next after the pause."""
    call = at_menu(pause_after_input=0.5)
    assert show(call.press("1")) == ["stop", "timer pause 0.5"]
    assert call.state.phase is Phase.PAUSE
    assert show(call.fire()) == ["play info,info"]


def test_key_after_prompt_cancels_timeout() -> None:
    """A key after the menu prompt ended cancels the timeout timer."""
    call = waiting_at_menu()
    assert show(call.press("1")) == ["cancel", "play info,info"]


def test_key_during_pause_is_type_ahead() -> None:
    """A key pressed during the pause counts as input for the node about to prompt."""
    call = at_menu(pause_after_input=0.5)
    call.press("1")  # info (interruptible play) waits for the pause
    cmds = call.press("9")
    assert show(cmds) == ["cancel", "timer pause 0.5"]
    assert records(cmds) == ["skip info", "enter menu", "key menu", "enter bye"]
    assert show(call.fire()) == ["play bye"]


def test_key_during_pause_before_goodbye_is_ignored() -> None:
    """A key during the pause before a goodbye changes nothing."""
    call = at_menu(pause_after_input=0.5)
    call.press("9")
    assert call.press("1") == []
    assert show(call.fire()) == ["play bye"]


def test_no_pause_after_timeout() -> None:
    """After a timeout the re-prompt plays at once, even with a pause configured."""
    call = waiting_at_menu(pause_after_input=0.5)
    assert show(call.fire()) == ["play timeout,again"]


# -- menus ---------------------------------------------------------------------


def test_menu_waits_with_timeout_after_prompt() -> None:
    """When the menu prompt ends, the menu timeout starts."""
    call = at_menu()
    assert show(call.end_playback()) == ["timer timeout 5"]


@pytest.mark.parametrize(
    ("keys", "kind", "expected"),
    [
        ("5", "invalid", "play invalid,again"),
        ("0", "invalid", "play invalid,again"),
        ("*", "repeat", "play menu"),
    ],
)
def test_menu_invalid_and_repeat(keys: str, kind: str, expected: str) -> None:
    """An unknown key plays the invalid prompt and the re-prompt; '*' replays the menu."""
    call = at_menu()
    cmds = call.press(keys)
    assert show(cmds) == [expected, "stop"]
    assert records(cmds) == [f"{kind} menu"]


def test_menu_timeout_replays_with_timeout_prompt() -> None:
    """A timeout plays the timeout prompt and the re-prompt, and is recorded."""
    call = waiting_at_menu()
    cmds = call.fire()
    assert show(cmds) == ["play timeout,again"]
    assert records(cmds) == ["timeout menu"]
    assert call.state.failures == 1


def test_menu_retries_then_exhausted() -> None:
    """After max_retries failures the next failure leaves by on_exhausted."""
    call = waiting_at_menu()
    call.fire()  # failure 1
    call.press("5")  # failure 2
    call.end_playback()
    cmds = call.fire()  # failure 3 > max_retries 2
    assert show(cmds) == ["play bye"]
    assert records(cmds) == ["timeout menu", "exhausted menu", "enter bye"]
    assert show(call.end_playback()) == ["hangup completed"]
    assert call.state.finished


def test_repeat_does_not_count_as_failure() -> None:
    """Repeating the menu any number of times never exhausts it."""
    call = at_menu()
    for _ in range(10):
        call.press("*")
    assert call.state.failures == 0
    call.press("5")
    call.press("5")
    assert show(call.cmds) == ["play invalid,again", "stop"]


def test_failures_reset_on_entering_a_node() -> None:
    """Coming back to a menu starts its retry count afresh."""
    call = waiting_at_menu()
    call.fire()
    call.press("1")
    call.end_playback()
    assert call.state.node == "menu"
    assert call.state.failures == 0


def test_goto_follows_at_once() -> None:
    """A goto node is entered and left in the same step."""
    call = at_menu()
    cmds = call.press("#")
    assert records(cmds) == ["key menu", "enter jump", "enter bye"]
    assert show(cmds) == ["play bye", "stop"]


def test_record_details() -> None:
    """Records carry the key pressed and where it led."""
    call = at_menu()
    record = next(c for c in call.press("1") if isinstance(c, Record))
    assert record == Record("key", "menu", {"digit": "1", "next": "info"})


# -- stale events and hangup -------------------------------------------------


def test_stale_playback_and_timer_tokens_are_ignored() -> None:
    """Events for a playback or timer that is no longer current change nothing."""
    call = at_menu()
    old_playback = call.state.playback
    call.press("*")  # replays: the old playback is stopped
    before = call.state
    assert call.send(PlaybackFinished(str(old_playback))) == []
    assert call.send(TimerFired("timer-999")) == []
    assert call.send(ActionResult("sms-999", "queued")) == []
    assert call.state == before


def test_cancelled_timeout_firing_late_is_ignored() -> None:
    """A timeout that fires after a key was taken is ignored."""
    call = waiting_at_menu()
    timer = call.state.timer
    call.press("1")
    assert call.send(TimerFired(str(timer))) == []
    assert call.state.node == "info"


def hangup_points() -> list[tuple[str, list[str]]]:
    """Ways to reach each phase: a name and the actions that get there."""
    return [
        ("welcome prompt", []),
        ("menu prompt", ["end"]),
        ("menu wait", ["end", "end"]),
        ("pause", ["end", "press 1"]),
        ("collect entry", ["end", "press 2", "press 090"]),
        ("confirm", ["end", "press 2", "press 09011112222#"]),
        ("sms pending", ["end", "press 2", "press 09011112222#", "press 1"]),
        ("transfer prompt", ["end", "press 3"]),
        ("transfer ringing", ["end", "press 3", "end"]),
        ("goodbye", ["end", "press 9"]),
    ]


def drive(call: Call, actions: list[str]) -> None:
    """Apply short action strings: 'end', 'fire', 'press <keys>', 'result <outcome>'."""
    for action in actions:
        verb, _, arg = action.partition(" ")
        if verb == "end":
            call.end_playback()
        elif verb == "fire":
            call.fire()
        elif verb == "press":
            call.press(arg)
        elif verb == "result":
            call.result(arg)


@pytest.mark.parametrize(("name", "actions"), hangup_points(), ids=[n for n, _ in hangup_points()])
def test_hangup_anywhere_records_where_and_finishes(name: str, actions: list[str]) -> None:
    """Hanging up at any point records the node left, ends the flow and cancels timers."""
    settings = {"pause_after_input": 0.5} if name == "pause" else {}
    call = Call.start(flow(**settings), ctx(caller_type="landline"))
    drive(call, actions)
    node, timer = call.state.node, call.state.timer
    cmds = call.hang_up()
    assert records(cmds) == [f"hangup {node}"]
    assert show(cmds) == (["cancel"] if timer else [])
    assert call.state.finished
    assert call.hang_up() == []
    assert call.press("1") == []


def test_events_after_the_end_are_ignored() -> None:
    """Once the flow has ended, late events produce nothing."""
    call = at_menu()
    call.press("9")
    token = call.state.playback
    call.end_playback()
    assert call.state.finished
    assert call.send(PlaybackFinished(str(token))) == []
    assert call.send(TimerFired("timer-1")) == []


# -- sms -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("outcome", "expected"),
    [
        ("queued", "play sent"),
        ("sent", "play sent"),
        ("delivered", "play sent"),
        ("failed", "play failed"),
        ("rejected", "play failed"),
        ("limit", "play failed"),
    ],
)
def test_sms_outcomes(outcome: str, expected: str) -> None:
    """A queued or sent SMS goes to next; any other outcome goes to on_failure."""
    call = at_menu()
    call.press("2")
    assert call.state.phase is Phase.ACTION
    cmds = call.result(outcome)
    assert show(cmds) == [expected]
    sms = next(c for c in cmds if isinstance(c, Record) and c.kind == "sms")
    assert sms.detail == {"template": "sms_info", "outcome": outcome}


def test_keys_while_sms_pending_are_ignored() -> None:
    """Keys while waiting for the SMS result do nothing."""
    call = at_menu()
    call.press("2")
    assert call.press("5") == []
    assert call.state.phase is Phase.ACTION


def test_sms_to_number_entered_by_landline_caller() -> None:
    """A landline caller's confirmed mobile number is where the SMS goes."""
    call = at_menu(ctx(caller_type="landline"))
    call.press("2")
    call.end_playback()
    call.press("08033334444#")
    assert show(call.press("1")) == ["stop", "sms sms_info 08033334444"]
    assert call.state.values == {"mobile": "08033334444"}


def test_sms_with_no_number_goes_to_failure() -> None:
    """With no number available the SMS is not sent and on_failure follows."""
    text = """\
version: 1
start: sms
settings: {pause_after_input: 0}
prompts:
  sorry: {text: 送れません}
nodes:
  sms: {type: sms, template: t, next: bye, on_failure: sorry}
  sorry: {type: play, prompt: sorry, next: bye}
  bye: {type: hangup}
"""
    call = Call.start(flow(text), ctx(caller_type="withheld"))
    assert show(call.cmds) == ["answer", "play sorry"]
    sms = next(c for c in call.cmds if isinstance(c, Record) and c.kind == "sms")
    assert sms.detail["outcome"] == "no_number"
    assert show(call.end_playback()) == ["hangup completed"]


# -- transfer ----------------------------------------------------------------------


def test_transfer_answered_ends_the_flow() -> None:
    """An answered transfer finishes the flow without a Hangup command."""
    call = at_menu()
    call.press("3")
    assert show(call.end_playback()) == ["transfer kokuho"]
    cmds = call.result("answered")
    assert show(cmds) == []
    assert records(cmds) == ["transfer transfer"]
    assert call.state.finished


@pytest.mark.parametrize("outcome", ["busy", "no_answer", "failed", "capacity"])
def test_transfer_not_answered_goes_to_fallback(outcome: str) -> None:
    """Any transfer outcome but 'answered' continues at the fallback node."""
    call = at_menu()
    call.press("3")
    call.end_playback()
    assert show(call.result(outcome)) == ["play busy"]
    assert call.state.node == "busy"


def test_transfer_prompt_is_not_interruptible() -> None:
    """Keys during the transfer announcement are ignored."""
    call = at_menu()
    call.press("3")
    assert call.press("9") == []
    assert call.state.node == "transfer"


# -- collect -------------------------------------------------------------------------


def at_code(**settings: object) -> Call:
    """A call at the code collect node (3-5 digits), prompt playing."""
    return Call.start(flow(CODE_FLOW, **settings), ctx())


@pytest.mark.parametrize(
    ("keys", "expected_last"),
    [
        ("123#", "play bye"),
        ("12345", "play bye"),
        ("12#", "play invalid,ask"),
        ("#", "play invalid,ask"),
    ],
)
def test_collect_terminator_and_max_digits(keys: str, expected_last: str) -> None:
    """'#' ends the entry, max_digits ends it by itself, too few digits are invalid."""
    call = at_code()
    call.end_playback()
    cmds = call.press(keys)
    assert show(cmds)[-1] == expected_last


def test_collect_stores_value() -> None:
    """A complete entry is stored under the node's store name."""
    call = at_code()
    call.press("4321#")
    assert call.state.values == {"code": "4321"}
    assert call.state.digits == ("N", "N", "N", "N", "#")  # the record keeps no entry


def test_collect_first_digit_barges_in() -> None:
    """The first digit stops the prompt and starts the inter-digit timer."""
    call = at_code()
    assert show(call.press("1")) == ["stop", "timer digit 2"]
    assert call.state.phase is Phase.ENTRY


def test_collect_each_digit_restarts_inter_digit_timer() -> None:
    """Every further digit cancels and restarts the inter-digit timer."""
    call = at_code()
    call.press("1")
    assert show(call.press("2")) == ["cancel", "timer digit 2"]


@pytest.mark.parametrize(
    ("keys", "expected", "record"),
    [
        ("123", ["play bye"], "input code"),
        ("12", ["play invalid,ask"], "invalid code"),
    ],
)
def test_collect_inter_digit_timeout(keys: str, expected: list[str], record: str) -> None:
    """The inter-digit timeout ends the entry: enough digits count, too few are invalid."""
    call = at_code()
    call.press(keys)
    cmds = call.fire()
    assert show(cmds) == expected
    assert records(cmds)[0] == record


def test_collect_first_digit_timeout() -> None:
    """No digit at all after the prompt is a timeout, then on_exhausted after the retries."""
    call = at_code()
    assert show(call.end_playback()) == ["timer timeout 7"]
    assert show(call.fire()) == ["play timeout,ask"]
    call.end_playback()
    cmds = call.fire()
    assert records(cmds) == ["timeout code", "exhausted code", "enter done"]


def test_collect_repeat_key_starts_over() -> None:
    """'*' during an entry clears it and replays the prompt."""
    call = at_code()
    call.press("12")
    assert show(call.press("*")) == ["cancel", "play ask"]
    assert call.state.entry == ""
    call.press("999#")
    assert call.state.values == {"code": "999"}


def test_collect_record_hides_digits() -> None:
    """The input record gives the length, not the digits (they may be a phone number)."""
    call = at_code()
    record = next(c for c in call.press("123#") if isinstance(c, Record) and c.kind == "input")
    assert record.detail == {"length": "3"}


# -- read-back and confirm ---------------------------------------------------------------


def at_number(**settings: object) -> Call:
    """A landline call at the mobile-number collect node, prompt finished."""
    call = at_menu(ctx(caller_type="landline"), **settings)
    call.press("2")
    if call.state.phase is Phase.PAUSE:
        call.fire()
    call.end_playback()
    return call


def test_read_back_passes_digits_to_the_prompt() -> None:
    """After '#', the confirm prompt plays with the digits as variables."""
    call = at_number()
    cmds = call.press("09012345678#")
    play = next(c for c in cmds if isinstance(c, Play))
    assert play.prompts == ("confirm",)
    assert play.variables == {
        "digits": "09012345678",
        "digits_kana": "ゼロキューゼロの、イチニーサンヨンの、ゴーロクナナハチ",
    }


def test_eleven_digits_complete_without_terminator() -> None:
    """Reaching max_digits reads back without waiting for '#'."""
    call = at_number()
    assert plays(call.press("09012345678")) == [("confirm",)]


def test_confirm_no_re_enters() -> None:
    """'2' after the read-back asks for the number again."""
    call = at_number()
    call.press("09012345678#")
    call.end_playback()
    assert show(call.press("2")) == ["cancel", "play enter"]
    call.press("07011112222#")
    call.press("1")
    assert call.state.values == {"mobile": "07011112222"}


@pytest.mark.parametrize(
    ("action", "expected"),
    [
        ("press 5", "play invalid,confirm"),
        ("fire", "play timeout,confirm"),
        ("press *", "play confirm"),
    ],
)
def test_confirm_invalid_timeout_repeat(action: str, expected: str) -> None:
    """Other keys, silence and '*' at the read-back replay it (with the digits)."""
    call = at_number()
    call.press("09012345678#")
    call.end_playback()
    drive(call, [action])
    play = next(c for c in call.cmds if isinstance(c, Play))
    assert show([play])[0].startswith(expected)
    assert play.variables["digits"] == "09012345678"


@pytest.mark.parametrize("number", ["0312345678#", "05012345678", "0901234567#"])
def test_wrong_mobile_number_is_invalid(number: str) -> None:
    """A number with the wrong prefix or length is refused with the invalid prompt."""
    call = at_number()
    cmds = call.press(number)
    assert plays(cmds) == [("invalid", "enter")]
    assert call.state.failures == 1


def test_confirm_with_pause() -> None:
    """With a pause, the read-back plays when the pause ends, with its variables."""
    call = at_number(pause_after_input=0.5)
    assert show(call.press("09012345678#"))[-1] == "timer pause 0.5"
    play = call.fire()[0]
    assert isinstance(play, Play)
    assert play.variables["digits"] == "09012345678"


def test_type_ahead_during_read_back_pause() -> None:
    """A '1' pressed during the pause before the read-back confirms at once."""
    call = at_number(pause_after_input=0.5)
    call.press("09012345678#")
    assert show(call.press("1")) == ["cancel", "sms sms_info 09012345678"]


# -- errors -------------------------------------------------------------------------------


def test_state_from_another_flow_is_refused() -> None:
    """A state whose node is not in the flow raises InvalidStateError."""
    call = at_menu()
    with pytest.raises(InvalidStateError):
        call.engine.handle(replace(call.state, node="elsewhere"), DigitPressed("1"))


@pytest.mark.parametrize("digit", ["x", "12", "", "٣"])
def test_impossible_digit_is_refused(digit: str) -> None:
    """A DigitPressed that is not one DTMF key raises InvalidEventError."""
    call = at_menu()
    with pytest.raises(InvalidEventError):
        call.send(DigitPressed(digit))


def test_unknown_event_is_refused() -> None:
    """An object that is no engine event raises InvalidEventError."""
    call = at_menu()
    with pytest.raises(InvalidEventError):
        call.engine.handle(call.state, object())  # type: ignore[arg-type]


def test_inconsistent_state_is_refused() -> None:
    """A playback ending in a phase where none can run raises InvalidStateError."""
    call = waiting_at_menu()
    broken = replace(call.state, playback="play-77")
    with pytest.raises(InvalidStateError):
        call.engine.handle(broken, PlaybackFinished("play-77"))


def test_engine_errors_have_stable_ids() -> None:
    """Every engine error has a stable id and derives from EngineError."""
    ids = {cls.id for cls in (InvalidContextError, InvalidStateError, InvalidEventError)}
    assert ids == {"invalid_context", "invalid_state", "invalid_event"}
    assert all(issubclass(c, EngineError) for c in (InvalidContextError, InvalidStateError))


def test_tokens_are_unique_within_a_call() -> None:
    """Every playback and timer token of a call is new."""
    call = at_menu()
    for keys in ["*", "5", "1"]:
        call.press(keys)
        call.end_playback()
    tokens = [c.token for c in call.log if isinstance(c, Play | StartTimer)]
    assert len(tokens) == len(set(tokens))


# -- read-back wording --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("digits", "kana"),
    [
        ("09012345678", "ゼロキューゼロの、イチニーサンヨンの、ゴーロクナナハチ"),
        ("0312345678", "ゼロサンの、イチニーサンヨンの、ゴーロクナナハチ"),
        ("123", "イチニーサン"),
        ("", ""),
    ],
)
def test_digits_kana(digits: str, kana: str) -> None:
    """Digits are read one by one, grouped by four from the right."""
    assert digits_kana(digits) == kana


def test_terminator_after_max_digits_is_ignored() -> None:
    """A '#' pressed right after an entry completed at max_digits is not taken as input."""
    call = at_number()
    call.press("09012345678")
    assert call.press("#") == []
    assert call.state.phase is Phase.CONFIRM
    assert call.state.digits[-1] == "#"


def test_terminator_is_only_swallowed_once() -> None:
    """Once the read-back has finished, '#' counts as input again."""
    call = at_number()
    call.press("09012345678")
    call.end_playback()
    assert records(call.press("#")) == ["invalid number"]
