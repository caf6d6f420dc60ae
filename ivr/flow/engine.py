"""The flow engine: (state, event) → (state, commands), with no I/O.

The session calls :meth:`Engine.start` once the call arrives and
:meth:`Engine.handle` for every event, carries out the returned commands in
order, and keeps the returned state. Events whose token is not current (a
playback already stopped, a timer already cancelled) are ignored; so is every
event once ``state.finished`` is true. Impossible situations raise
:class:`~ivr.flow.errors.EngineError`.

Barge-in: a key pressed during an interruptible prompt counts as input. The
running playback is stopped with ``StopPlayback`` placed right *after* the
next ``Play`` when one follows at once (Asterisk then switches with no gap),
else first. After input the next prompt waits ``settings.pause_after_input``
seconds (a ``StartTimer`` with a ``pause-N`` token); a key pressed during that
pause is taken as input for the node whose prompt is waiting (type-ahead).
"""

from __future__ import annotations

from collections.abc import Mapping

from .commands import Answer, Command
from .errors import InvalidContextError, InvalidEventError, InvalidStateError
from .events import ActionResult, CallerHungUp, DigitPressed, Event, PlaybackFinished, TimerFired
from .model import CALENDAR_STATES, CALLER_TYPES, Flow, TransferNode
from .state import CallContext, CallState, Phase
from .turn import SMS_OK, TRANSFER_ANSWERED, Turn

__all__ = ["SMS_OK", "TRANSFER_ANSWERED", "CallContext", "CallState", "Engine", "Phase"]


class Engine:
    """Runs one validated flow for any number of calls (it keeps no call state)."""

    def __init__(self, flow: Flow) -> None:
        self.flow = flow

    def start(self, ctx: CallContext) -> tuple[CallState, list[Command]]:
        """Answer the call and enter the flow's start node."""
        self._check(ctx)
        turn = Turn(self.flow, CallState(node=self.flow.start, context=ctx))
        turn.cmds.append(Answer())
        turn.enter(self.flow.start, after_input=False)
        return turn.state, turn.cmds

    def _check(self, ctx: CallContext) -> None:
        if ctx.calendar not in CALENDAR_STATES:
            raise InvalidContextError(
                f"calendar state {ctx.calendar!r} is not one of {CALENDAR_STATES}"
            )
        if ctx.caller_type not in CALLER_TYPES:
            raise InvalidContextError(
                f"caller type {ctx.caller_type!r} is not one of {CALLER_TYPES}"
            )

    def resume(
        self,
        ctx: CallContext,
        node: str,
        values: Mapping[str, str],
        digits: tuple[str, ...] = (),
        result: str | None = None,
    ) -> tuple[CallState, list[Command]]:
        """Continue a call taken over from another controller at ``node`` (already
        answered): its prompt plays again from the start; nothing before it repeats.

        With ``result``, the call comes back from a transfer that did not connect
        (``node`` is that transfer node): the outcome is routed as an ``ActionResult``
        would be, and nothing of the node is played again."""
        self._check(ctx)
        found = self.flow.nodes.get(node)
        if found is None:
            raise InvalidStateError(f"node {node!r} is not in flow {self.flow.name!r}")
        state = CallState(node=node, context=ctx, values=dict(values), digits=digits)
        turn = Turn(self.flow, state)
        if result is not None:
            if not isinstance(found, TransferNode):
                raise InvalidStateError(f"{found.kind} node {node!r} awaits no transfer result")
            turn.action_result(found, result)
            return turn.state, turn.cmds
        turn.record("resume")
        turn.enter(node, after_input=False, record=False)
        return turn.state, turn.cmds

    def handle(self, state: CallState, event: Event) -> tuple[CallState, list[Command]]:
        """Apply one event to a call's state."""
        if state.finished:
            return state, []
        node = self.flow.nodes.get(state.node)
        if node is None:
            raise InvalidStateError(f"node {state.node!r} is not in flow {self.flow.name!r}")
        turn = Turn(self.flow, state)
        match event:
            case DigitPressed(digit=digit):
                turn.digit(node, digit)
            case PlaybackFinished(token=token):
                if token != state.playback:
                    return state, []
                turn.playback_finished(node)
            case TimerFired(token=token):
                if token != state.timer:
                    return state, []
                turn.timer_fired(node)
            case ActionResult(token=token, outcome=outcome):
                if token != state.action:
                    return state, []
                turn.action_result(node, outcome)
            case CallerHungUp():
                turn.caller_hung_up()
            case _:
                raise InvalidEventError(f"unknown event {event!r}")
        return turn.state, turn.cmds
