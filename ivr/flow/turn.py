"""One event's worth of work: the call state being rewritten, commands appended.

:class:`Turn` holds the mechanics shared by every node kind — tokens, timers,
the pause after input, barge-in, entering nodes, and the reaction to each event.
Keys that count as input are handled in :mod:`ivr.flow.inputs`.
"""

from __future__ import annotations

from dataclasses import replace

from . import inputs
from .commands import (
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
from .errors import EngineError, InvalidEventError, InvalidStateError
from .model import (
    CALLER_NUMBER,
    BranchNode,
    CollectNode,
    Flow,
    GotoNode,
    HangupNode,
    MenuNode,
    Node,
    PlayNode,
    SmsNode,
    TransferNode,
)
from .state import CallState, Pending, Phase

SMS_OK = frozenset({"queued", "sent", "delivered"})
"""``ActionResult`` outcomes of an SMS that count as success; others → the node's ``on``
route for that outcome, else ``on_failure``."""
TRANSFER_ANSWERED = "answered"
EVENT_KEYS = frozenset("0123456789*#ABCD")
"""Keys a ``DigitPressed`` may carry (DTMF has A-D; no flow uses them)."""


class Turn:
    """The work for one event: a state being rewritten and commands appended."""

    def __init__(self, flow: Flow, state: CallState) -> None:
        self.flow = flow
        self.state = state
        self.cmds: list[Command] = []

    # -- small steps -----------------------------------------------------

    def record(self, kind: str, **detail: str) -> None:
        self.cmds.append(Record(kind, self.state.node, dict(detail)))

    def token(self, kind: str) -> str:
        seq = self.state.seq + 1
        self.state = replace(self.state, seq=seq)
        return f"{kind}-{seq}"

    def cancel_timer(self) -> None:
        if self.state.timer is not None:
            self.cmds.append(CancelTimer(self.state.timer))
            self.state = replace(self.state, timer=None)

    def start_timer(self, seconds: float, kind: str) -> None:
        self.cancel_timer()
        token = self.token(kind)
        self.cmds.append(StartTimer(token, seconds))
        self.state = replace(self.state, timer=token)

    def play(
        self,
        prompts: tuple[str, ...],
        phase: Phase,
        *,
        after_input: bool,
        variables: dict[str, str] | None = None,
    ) -> None:
        """Play now, or after the pause when this follows the caller's input."""
        values = dict(variables or {})
        pause = self.flow.settings.pause_after_input
        if after_input and pause > 0:
            self.start_timer(pause, "pause")
            self.state = replace(
                self.state, phase=Phase.PAUSE, pending=Pending(prompts, phase, values)
            )
            return
        token = self.token("play")
        self.cmds.append(Play(token, prompts, values))
        self.state = replace(self.state, phase=phase, playback=token, pending=None)

    def finish(self) -> None:
        self.cancel_timer()
        self.state = replace(
            self.state, finished=True, phase=Phase.DONE, playback=None, pending=None, action=None
        )

    # -- entering nodes --------------------------------------------------

    def enter(
        self,
        node_id: str,
        *,
        after_input: bool,
        typeahead: str | None = None,
        record: bool = True,
    ) -> None:
        """Enter ``node_id`` and follow goto/branch nodes until something waits
        (``record=False``: the first node is re-entered, not a new step of the path)."""
        for _ in range(len(self.flow.nodes) + 1):
            node = self.flow.nodes.get(node_id)
            if node is None:
                raise InvalidStateError(f"node {node_id!r} is not in the flow")
            self.state = replace(
                self.state, node=node_id, phase=Phase.PROMPT, failures=0, entry="", pending=None
            )
            if record:
                self.record("enter", type=node.kind)
            record = True
            match node:
                case GotoNode():
                    node_id = node.next
                    continue
                case BranchNode():
                    value = getattr(self.state.context, node.by)
                    try:
                        node_id = node.target(value)
                    except KeyError:
                        raise InvalidStateError(
                            f"branch {node.id!r} has no case for {value!r}"
                        ) from None
                    self.record("branch", by=node.by, value=value, next=node_id)
                    continue
                case MenuNode() | CollectNode() if typeahead is not None:
                    self.input(node, typeahead)
                case MenuNode() | CollectNode() | PlayNode():
                    self.play(node.prompts, Phase.PROMPT, after_input=after_input)
                case HangupNode() | TransferNode() if node.prompts:
                    self.play(node.prompts, Phase.PROMPT, after_input=after_input)
                case HangupNode():
                    self.hang_up(node)
                case TransferNode():
                    self.start_transfer(node)
                case SmsNode():
                    self.send_sms(node, after_input=after_input)
            return
        raise EngineError(f"goto/branch nodes loop without end at {node_id!r}")

    def hang_up(self, node: HangupNode) -> None:
        self.cmds.append(Hangup(node.outcome))
        self.finish()

    def start_transfer(self, node: TransferNode) -> None:
        token = self.token("transfer")
        self.cmds.append(Transfer(token, node.target))
        self.state = replace(self.state, phase=Phase.ACTION, action=token)

    def send_sms(self, node: SmsNode, *, after_input: bool) -> None:
        number = None
        for source in node.to:
            if source == CALLER_NUMBER:
                number = self.state.context.caller or None
            else:
                number = self.state.values.get(source) or None
            if number is not None:
                break
        if number is None:
            self.record("sms", template=node.template, outcome="no_number")
            self.enter(node.failure_target("no_number"), after_input=after_input)
            return
        token = self.token("sms")
        self.cmds.append(SendSms(token, node.template, number))
        self.state = replace(self.state, phase=Phase.ACTION, action=token)

    # -- events ----------------------------------------------------------

    def digit(self, node: Node, digit: str) -> None:
        if len(digit) != 1 or digit not in EVENT_KEYS:
            raise InvalidEventError(f"{digit!r} is not a DTMF key")
        swallow = self.state.swallow
        self.state = replace(self.state, digits=(*self.state.digits, digit), swallow=None)
        if digit == swallow:
            return
        phase = self.state.phase
        if phase is Phase.PAUSE:
            pending = self.state.pending
            if pending is None:
                raise InvalidStateError("pause without a pending prompt")
            if not _interruptible(node):
                return
            self.cancel_timer()
            self.state = replace(self.state, phase=pending.phase, pending=None)
            self.input(node, digit)
        elif phase in (Phase.PROMPT, Phase.CONFIRM):
            if not _interruptible(node):
                return
            running = self.state.playback
            self.state = replace(self.state, playback=None)
            self.input(node, digit)
            if running is not None:
                _stop_after_next_play(self.cmds, running)
        elif phase in (Phase.WAIT, Phase.ENTRY, Phase.CONFIRM_WAIT):
            self.cancel_timer()
            self.input(node, digit)
        # ACTION: the caller waits for an SMS or a transfer; keys do nothing.

    def input(self, node: Node, digit: str) -> None:
        """A key that counts: a menu choice, a digit of an entry, a skip."""
        match node:
            case MenuNode():
                inputs.menu_key(self, node, digit)
            case CollectNode() if self.state.phase in (Phase.CONFIRM, Phase.CONFIRM_WAIT):
                inputs.confirm_key(self, node, digit)
            case CollectNode():
                inputs.collect_key(self, node, digit)
            case PlayNode():
                self.record("skip", digit=digit)
                self.enter(node.next, after_input=True, typeahead=digit)
            case _:
                raise InvalidStateError(f"{node.kind} node {node.id!r} takes no input")

    def playback_finished(self, node: Node) -> None:
        phase = self.state.phase
        self.state = replace(self.state, playback=None, swallow=None)
        match node:
            case MenuNode() | CollectNode() if phase is Phase.PROMPT:
                self.state = replace(self.state, phase=Phase.WAIT)
                self.start_timer(node.timeout, "timeout")
            case CollectNode() if phase is Phase.CONFIRM:
                self.state = replace(self.state, phase=Phase.CONFIRM_WAIT)
                self.start_timer(node.timeout, "timeout")
            case PlayNode() if phase is Phase.PROMPT:
                self.enter(node.next, after_input=False)
            case HangupNode() if phase is Phase.PROMPT:
                self.hang_up(node)
            case TransferNode() if phase is Phase.PROMPT:
                self.start_transfer(node)
            case _:
                raise InvalidStateError(
                    f"playback ended in phase {phase} of {node.kind} node {node.id!r}"
                )

    def timer_fired(self, node: Node) -> None:
        phase = self.state.phase
        self.state = replace(self.state, timer=None)
        pending = self.state.pending
        match node:
            case _ if phase is Phase.PAUSE and pending is not None:
                self.play(
                    pending.prompts,
                    pending.phase,
                    after_input=False,
                    variables=dict(pending.variables),
                )
            case MenuNode() | CollectNode() if phase is Phase.WAIT:
                self.record("timeout")
                inputs.fail(self, node, "timeout", after_input=False)
            case CollectNode() if phase is Phase.ENTRY:
                inputs.finish_entry(self, node, after_input=False)
            case CollectNode() if phase is Phase.CONFIRM_WAIT:
                self.record("timeout")
                inputs.fail(self, node, "timeout", after_input=False)
            case _:
                raise InvalidStateError(
                    f"timer fired in phase {phase} of {node.kind} node {node.id!r}"
                )

    def action_result(self, node: Node, outcome: str) -> None:
        self.state = replace(self.state, action=None)
        match node:
            case SmsNode():
                self.record("sms", template=node.template, outcome=outcome)
                target = node.next if outcome in SMS_OK else node.failure_target(outcome)
                self.enter(target, after_input=False)
            case TransferNode():
                self.record("transfer", target=node.target, outcome=outcome)
                if outcome == TRANSFER_ANSWERED:
                    self.finish()
                else:
                    self.enter(node.failure_target(outcome), after_input=False)
            case _:
                raise InvalidStateError(f"{node.kind} node {node.id!r} awaits no action")

    def caller_hung_up(self) -> None:
        self.record("hangup", phase=str(self.state.phase))
        self.finish()


def _interruptible(node: Node) -> bool:
    if isinstance(node, MenuNode | CollectNode):
        return True
    return isinstance(node, PlayNode) and node.interruptible


def _stop_after_next_play(cmds: list[Command], token: str) -> None:
    """Insert ``StopPlayback(token)`` right after the first ``Play``, else first."""
    for index, cmd in enumerate(cmds):
        if isinstance(cmd, Play):
            cmds.insert(index + 1, StopPlayback(token))
            return
    cmds.insert(0, StopPlayback(token))
