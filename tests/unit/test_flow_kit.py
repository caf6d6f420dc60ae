"""Helpers shared by the flow tests (no tests here): a flow using every node kind, a call driver."""

from __future__ import annotations

from dataclasses import dataclass, field

from ivr.flow.commands import (
    Answer,
    CancelTimer,
    Command,
    Hangup,
    Play,
    Record,
    SendSms,
    StartTimer,
    StopPlayback,
    Transfer,
)
from ivr.flow.engine import CallContext, CallState, Engine
from ivr.flow.events import (
    ActionResult,
    CallerHungUp,
    DigitPressed,
    Event,
    PlaybackFinished,
    TimerFired,
)
from ivr.flow.loader import load_flow
from ivr.flow.model import Flow

TEST_FLOW = """\
version: 1
name: engine test
start: gate
settings:
  pause_after_input: 0
  max_retries: 2
prompts:
  hello: {text: ようこそ}
  menu: {text: メニュー}
  again: {text: 選んでください}
  invalid: {text: 無効です}
  timeout: {text: 時間切れです}
  info: {text: 案内}
  enter: {text: 番号を}
  confirm: {text: "{digits_kana}でよろしいですか"}
  sent: {text: 送信しました}
  failed: {text: 送信できません}
  calling: {text: おつなぎします}
  busy: {text: 混雑しています}
  closed: {text: "時間外です。次は{next_open}です"}
  bye: {text: さようなら}
  early: {text: 開始前です}
nodes:
  gate:
    type: branch
    by: calendar
    cases: {before_service: early, after_service: early}
    default: hello
  early: {type: hangup, prompt: early, outcome: out_of_service}
  hello: {type: play, prompt: hello, next: menu, interruptible: false}
  menu:
    type: menu
    prompt: menu
    reprompt: again
    choices: {"1": info, "2": route, "3": staff, "9": bye, "#": jump}
    on_exhausted: bye
  jump: {type: goto, next: bye}
  info: {type: play, prompt: [info, info], next: menu}
  route:
    type: branch
    by: caller_type
    cases: {mobile: sms}
    default: number
  number:
    type: collect
    prompt: enter
    min_digits: 11
    max_digits: 11
    prefixes: ["070", "080", "090"]
    store: mobile
    confirm: {prompt: confirm}
    next: sms
    on_exhausted: bye
  sms: {type: sms, template: sms_info, to: [mobile, caller], next: sent, on_failure: failed}
  sent: {type: play, prompt: sent, next: menu}
  failed: {type: play, prompt: failed, next: bye}
  staff:
    type: branch
    by: calendar
    cases: {open: transfer}
    default: closed
  transfer: {type: transfer, target: kokuho, prompt: calling, fallback: busy}
  busy: {type: play, prompt: busy, next: bye}
  closed: {type: play, prompt: closed, next: bye}
  bye: {type: hangup, prompt: bye}
"""

CODE_FLOW = """\
version: 1
start: code
settings: {pause_after_input: 0, max_retries: 1}
prompts:
  ask: {text: 番号を押してください}
  invalid: {text: 無効です}
  timeout: {text: 時間切れです}
  bye: {text: さようなら}
nodes:
  code:
    type: collect
    prompt: ask
    min_digits: 3
    max_digits: 5
    inter_digit_timeout: 2
    timeout: 7
    store: code
    next: done
    on_exhausted: done
  done: {type: hangup, prompt: bye}
"""


def flow(text: str = TEST_FLOW, /, **settings: object) -> Flow:
    """Load ``text`` with some settings replaced (``pause_after_input=0.5``)."""
    for key, value in settings.items():
        marker = f"  {key}: "
        lines = [ln for ln in text.splitlines() if not ln.startswith(marker)]
        index = lines.index("settings:") if "settings:" in lines else None
        if index is None:
            raise ValueError("flow text has no block settings section")
        lines.insert(index + 1, f"{marker}{value}")
        text = "\n".join(lines) + "\n"
    return load_flow(text)


def ctx(
    caller_type: str = "mobile", calendar: str = "open", caller: str | None = None
) -> CallContext:
    """A call context; the caller number follows the caller type by default."""
    if caller is None:
        caller = {"mobile": "09011112222", "landline": "0312345678", "withheld": ""}[caller_type]
    return CallContext(
        caller=caller,
        dialled="0120000000",
        caller_type=caller_type,
        calendar=calendar,
        variables={"next_open": "1月5日(月)8時45分"},
    )


@dataclass
class Call:
    """Drives one call through an engine, keeping the latest state and commands."""

    engine: Engine
    state: CallState
    cmds: list[Command]
    log: list[Command] = field(default_factory=list)

    @classmethod
    def start(cls, the_flow: Flow | None = None, context: CallContext | None = None) -> Call:
        """Start a call on ``the_flow`` (default: the test flow) with ``context``."""
        engine = Engine(the_flow if the_flow is not None else flow())
        state, cmds = engine.start(context if context is not None else ctx())
        return cls(engine, state, cmds, list(cmds))

    def send(self, event: Event) -> list[Command]:
        """Feed one event; return its commands."""
        self.state, self.cmds = self.engine.handle(self.state, event)
        self.log.extend(self.cmds)
        return self.cmds

    def press(self, keys: str) -> list[Command]:
        """Press each key in turn; return the commands of all of them."""
        out: list[Command] = []
        for key in keys:
            out += self.send(DigitPressed(key))
        return out

    def end_playback(self) -> list[Command]:
        """The current playback finishes."""
        assert self.state.playback is not None, "no playback running"
        return self.send(PlaybackFinished(self.state.playback))

    def fire(self) -> list[Command]:
        """The current timer fires."""
        assert self.state.timer is not None, "no timer running"
        return self.send(TimerFired(self.state.timer))

    def result(self, outcome: str) -> list[Command]:
        """The pending SMS or transfer ends with ``outcome``."""
        assert self.state.action is not None, "no action pending"
        return self.send(ActionResult(self.state.action, outcome))

    def hang_up(self) -> list[Command]:
        """The caller hangs up."""
        return self.send(CallerHungUp())


def show(cmds: list[Command]) -> list[str]:
    """Commands other than records, as short strings."""
    out: list[str] = []
    for cmd in cmds:
        match cmd:
            case Answer():
                out.append("answer")
            case Play(prompts=prompts, variables=variables):
                extra = f" {sorted(variables.items())}" if variables else ""
                out.append(f"play {','.join(prompts)}{extra}")
            case StopPlayback():
                out.append("stop")
            case StartTimer(token=token, seconds=seconds):
                out.append(f"timer {token.split('-')[0]} {seconds:g}")
            case CancelTimer():
                out.append("cancel")
            case SendSms(template=template, to=to):
                out.append(f"sms {template} {to}")
            case Transfer(target=target):
                out.append(f"transfer {target}")
            case Hangup(outcome=outcome):
                out.append(f"hangup {outcome}")
            case Record():
                pass
    return out


def records(cmds: list[Command]) -> list[str]:
    """Records as ``kind node`` strings (details left out)."""
    return [f"{c.kind} {c.node}" for c in cmds if isinstance(c, Record)]


def plays(cmds: list[Command]) -> list[tuple[str, ...]]:
    """The prompt tuples of every Play."""
    return [c.prompts for c in cmds if isinstance(c, Play)]
