"""One call: a task that owns the call's state, feeds events to the engine and
carries out the engine's commands through ARI, in order.

The session is the shell: prompts and timers it runs itself (its playbacks are
:mod:`ivr.call.playback`'s bookkeeping); a capability's command it hands to that
capability's step (:mod:`ivr.transfer.executor`, :mod:`ivr.sms.executor`) and feeds
the result back to the engine.

All ARI outcomes that mean "the caller is gone" (404, StasisEnd, hang-up
events) become one engine event, ``CallerHungUp``, handled in ``_execute``.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import TYPE_CHECKING, Any

import structlog

from ivr.ari import events as ari
from ivr.ari.client import AriClient, AriError, Gone
from ivr.calendar.facts import Facts
from ivr.call import resume
from ivr.call.inservice import FlowInService, ServiceFlow
from ivr.call.playback import Playbacks
from ivr.flow import commands as cmd
from ivr.flow import events as fe
from ivr.flow.engine import CallContext, CallState
from ivr.log import TOKYO
from ivr.sms.executor import SmsStep
from ivr.sms.service import SmsRequester
from ivr.store.calls import CallRecorder
from ivr.store.rows import CallRow, EventRow
from ivr.transfer import outcomes
from ivr.transfer.executor import TransferStep, result_on_return
from ivr.transfer.watch import CallHandle

if TYPE_CHECKING:
    from ivr.transfer.service import TransferService

log = structlog.get_logger("ivr.call")


@dataclass(frozen=True)
class Resync:
    """Sent by the dispatcher to every call after the ARI connection is re-established,
    and by the call's own watchdog when no event came for a while."""


SessionEvent = ari.AriEvent | fe.TimerFired | fe.ActionResult | fe.PlaybackFinished | Resync


@dataclass
class CallServices:
    """What every call uses; built once by the application."""

    client: AriClient
    recorder: CallRecorder
    flows: FlowInService
    calendar: Callable[[datetime], Facts]  # the calendar in service, at a moment
    watchdog_seconds: float = 15.0
    transfers: TransferService | None = None  # None: every transfer fails (its route)
    sms: SmsRequester | None = None  # None: every SMS request is "unavailable" (its route)


@dataclass
class _Live:
    """Mutable bookkeeping of one call's ARI side (the engine's state is separate)."""

    timers: dict[str, asyncio.TimerHandle] = field(default_factory=dict)
    hung_up: bool = False
    hangup_tried: bool = False  # the flow's hang-up was sent (and failed: hung_up is False)


def _now() -> datetime:
    return datetime.now(TOKYO)


class CallSession:
    def __init__(
        self,
        channel: ari.Channel,
        dialled: str,
        service: ServiceFlow,
        ctx: CallContext,
        services: CallServices,
        adopted: bool = False,
    ) -> None:
        self.id = resume.call_id(channel.id)  # any controller finds the same record
        self.channel = channel
        self.service = service
        self.ctx = ctx
        self.services = services
        self.queue: asyncio.Queue[SessionEvent] = asyncio.Queue()
        self._live = _Live()
        self._media = Playbacks(services.client, channel.id)
        self.saved = resume.saved_on(channel.variables)
        # One more epoch per takeover: revisions and event numbers keep rising.
        self.epoch = self.saved.epoch + 1 if self.saved else int(adopted)
        base = self.epoch * resume.EPOCH_SPAN
        self._seq = base
        self._row = CallRow(
            id=self.id,
            channel_id=channel.id,
            caller=ctx.caller,
            dialled=dialled,
            started_at=self.saved.started_at if self.saved else _now(),
            answered_at=self.saved.answered_at if self.saved else None,
            digits=self.saved.digits if self.saved else "",
            path=self.saved.path if self.saved else (),
            flow_version=service.version,
            flow_digest=service.digest,
            rev=base,
        )
        self._log = log
        self.adopted = adopted
        self.handed_over = False  # set when a stopping controller passes the call on
        # The call left Stasis for good: "transfer" (the dialplan dials a city line; the
        # transfer's watch has the record now) or "busy" (the trunk is full).
        self.left: str | None = None
        self.departing = False  # the continue to [ivr-transfer] is on its way
        self._state: CallState | None = None  # the engine's state for this step
        self._saved_key: tuple[str, tuple[tuple[str, str], ...], str] | None = None
        self._watchdog: asyncio.TimerHandle | None = None
        self._variables: Mapping[str, str] = ctx.variables  # for prompts of this step
        # The capabilities' steps: the session asks them to act and delivers their results.
        self._transfer = TransferStep(services.transfers, services.client)
        self._sms = SmsStep(services.sms)

    @property
    def dialled(self) -> str:
        return self._row.dialled

    def playing(self) -> tuple[str, ...]:
        """ARI ids of this call's playbacks that may still run."""
        return tuple(self._media.running)

    def deliver(self, event: SessionEvent) -> None:
        self.queue.put_nowait(event)

    async def run(self) -> None:
        # Bound in this call's own task: every module logging on its behalf (prompts,
        # ARI client, recorder hand-off) carries the call's ids, and no other call's.
        with structlog.contextvars.bound_contextvars(
            call_id=str(self.id), channel_id=self.channel.id
        ):
            await self._run()

    async def _run(self) -> None:
        started = time.monotonic()
        outcome = "error"
        state: CallState | None = None
        saved = self.saved
        self._log.info(
            "call_started",
            adopted=self.adopted,
            resumed_at=saved.node if saved else None,
            epoch=self.epoch,
            caller=self.ctx.caller,
            dialled=self._row.dialled,
            caller_type=self.ctx.caller_type,
        )
        try:
            if self.adopted:
                await self._media.stop_orphans()
            if resume.listed(resume.HOLD_VAR) in self.channel.variables:
                # The dialplan held this caller: the next wait gets its own 20 s.
                with contextlib.suppress(AriError):
                    await self.services.client.set_shared(self.channel.name, resume.HOLD_VAR, "")
            if saved is None and not self.adopted and not await self._admitted():
                await self._refuse_busy()
                outcome = "trunk_busy"
                return
            state, commands = await self._begin(saved)
            self._variables = state.context.variables
            self.services.recorder.submit(self._row)
            self._arm_watchdog()
            outcome = await self._execute_all(state, commands) or outcome
            while not state.finished and self.left is None:
                raw = await self.queue.get()
                self._arm_watchdog()
                if self.handed_over:
                    continue  # the channel is the next controller's: we only wait to be stopped
                if isinstance(raw, Resync):
                    await self._resync()
                    continue
                event = self._translate(raw)
                if event is None:
                    continue
                state = replace(state, context=self._context())
                self._variables = state.context.variables
                state, commands = self.service.engine.handle(state, event)
                outcome = await self._execute_all(state, commands) or outcome
                if self.left is not None:
                    break
                if isinstance(event, fe.CallerHungUp):
                    outcome = "caller_hangup" if outcome == "error" else outcome
                    break
            if outcome == "error":  # the flow ended by itself with no hang-up outcome
                outcome = "completed"
        except asyncio.CancelledError:
            outcome = "controller_stopped"
            raise
        except Exception:
            self._log.exception("call_failed")
            await self._apologise()
        finally:
            await self._finish(state, outcome, started)

    async def _begin(self, saved: resume.Saved | None) -> tuple[CallState, list[cmd.Command]]:
        """Start the flow, or resume a taken-over call at its node on the flow it
        started with (the one in service if that version cannot be had)."""
        if saved is not None:
            found = await self.services.flows.for_call(saved.flow_version, saved.flow_digest)
            service = found or self.service
            if saved.node in service.flow.nodes:
                if found is None:
                    self._log.warning("resume_on_current_flow", version=service.version)
                self.service = service
                self._row = replace(
                    self._row, flow_version=service.version, flow_digest=service.digest
                )
                digits = tuple(saved.digits)
                kind = service.flow.nodes[saved.node].kind
                result = result_on_return(saved, self.channel, kind)
                return service.engine.resume(
                    self._context(), saved.node, saved.values, digits, result=result
                )
            self._log.warning("resume_node_missing", node=saved.node)
        return self.service.engine.start(self._context())

    async def _admitted(self) -> bool:
        """A new call is served unless the trunk's channel limit is reached."""
        transfers = self.services.transfers
        return transfers is None or await transfers.admit()

    async def _refuse_busy(self) -> None:
        """The trunk is full: the dialplan tells the caller briefly and ends the call
        (``SHARED(IVR_BUSY)``, extensions.conf), rather than serve it badly."""
        self._log.warning("trunk_full_caller_refused")
        client = self.services.client
        try:
            await client.set_shared(self.channel.name, outcomes.BUSY_VAR, "1")
            await client.continue_in_dialplan(self.channel.id)
            self.left = "busy"
        except Gone:
            self._live.hung_up = True
        except AriError as e:  # cannot pass it on: serve it after all
            self._log.warning("busy_refusal_failed", error=str(e))
            self.left = None

    def _context(self) -> CallContext:
        """The call's facts with the calendar as it is now: the flow never reads the
        clock, and a call that outlasts a boundary (17:15) branches on the new state."""
        facts = self.services.calendar(_now())
        return replace(
            self.ctx,
            calendar=facts.state,
            announcements=facts.announcements,
            variables={**self.ctx.variables, **facts.variables},
        )

    def _arm_watchdog(self) -> None:
        """Every wait has a deadline: with no event for a while, re-check the playbacks
        (a lost PlaybackFinished must never leave the caller in silence)."""
        if self._watchdog is not None:
            self._watchdog.cancel()
        loop = asyncio.get_running_loop()
        self._watchdog = loop.call_later(self.services.watchdog_seconds, self.deliver, Resync())

    async def _resync(self) -> None:
        """After the ARI connection came back: a playback that ended unseen would
        otherwise leave the caller waiting in silence."""
        for playback_id in await self._media.ended_unseen():
            self.deliver(ari.PlaybackFinished(ari.Playback(playback_id, "", "", "done")))

    def _translate(self, event: SessionEvent) -> fe.Event | None:
        live = self._live
        match event:
            case ari.ChannelDtmfReceived(digit=digit):
                self._media.key_pressed()
                return fe.DigitPressed(digit)
            case ari.PlaybackStarted(playback=pb):
                self._media.started(pb)
                return None
            case ari.PlaybackFinished(playback=pb):
                token = self._media.finished(pb)
                return None if token is None else fe.PlaybackFinished(token)
            case ari.StasisEnd() | ari.ChannelHangupRequest() | ari.ChannelDestroyed():
                live.hung_up = True
                return fe.CallerHungUp()
            case fe.TimerFired(token=token):
                live.timers.pop(token, None)
                return event
            case fe.ActionResult() | fe.PlaybackFinished():
                return event
        return None

    async def _execute_all(self, state: CallState, commands: list[cmd.Command]) -> str | None:
        outcome: str | None = None
        self._state = state
        for command in commands:
            if self.handed_over or self.left is not None:
                break  # passed to the dialplan meanwhile: nothing more for this channel
            try:
                outcome = await self._execute(command) or outcome
            except Gone:
                # The caller has left: the rest of the batch (a play after a refused
                # answer, ...) would only ask ARI about a channel that is not there.
                if not self._live.hung_up:
                    self._live.hung_up = True
                    self.deliver(ari.StasisEnd(self.channel))
                break
        # A resumed call's engine state starts with the keys pressed before the takeover.
        if self.left is None:
            self._row = replace(self._row, digits="".join(state.digits), last_node=state.node)
        if not state.finished:
            await self.save_place(state)
        return outcome

    async def save_place(self, state: CallState, leg: str = resume.LEG_MENU) -> bool:
        """Keep the call's place on the channel whenever its node or values change,
        after the step's prompt is already playing (no delay for the caller).
        False when it could not be saved."""
        key = (state.node, tuple(sorted(state.values.items())), leg)
        if key == self._saved_key:
            return True
        if self._live.hung_up or self.handed_over or self.left is not None:
            return False
        saved = resume.Saved(
            node=state.node,
            epoch=self.epoch,
            flow_version=self.service.version,
            flow_digest=self.service.digest,
            started_at=self._row.started_at,
            answered_at=self._row.answered_at,
            values=dict(state.values),
            digits=self._row.digits,
            path=self._row.path,
            leg=leg,
        )
        try:
            await self.services.client.set_shared(self.channel.name, resume.VAR, saved.encode())
            self._saved_key = key
            return True
        except Gone:
            pass  # the caller left; the hang-up event follows
        except AriError as e:
            self._log.warning("state_save_failed", error=str(e))
        return False

    async def _execute(self, command: cmd.Command) -> str | None:
        client, live = self.services.client, self._live
        match command:
            case cmd.Answer():
                await client.answer(self.channel.id)
                if self._row.answered_at is None:
                    self._row = replace(self._row, answered_at=_now(), rev=self._row.rev + 1)
                    self.services.recorder.submit(self._row)
            case cmd.Play(token=token, prompts=prompts, variables=variables):
                media = await self.service.prompts.media(prompts, {**self._variables, **variables})
                playback_id = await self._media.play(token, media, prompts)
                if playback_id is None:  # could not play: carry on as if it ended
                    self.deliver(fe.PlaybackFinished(token))
                elif self.handed_over:
                    # Handed over while this request was on its way: the dispatcher's
                    # stop may have come first, and the continue waits for it to end.
                    with contextlib.suppress(AriError):
                        await client.stop_playback(playback_id)
            case cmd.StopPlayback(token=token):
                await self._media.stop(token)
            case cmd.StartTimer(token=token, seconds=seconds):
                old = live.timers.pop(token, None)
                if old is not None:
                    old.cancel()
                loop = asyncio.get_running_loop()
                live.timers[token] = loop.call_later(seconds, self.deliver, fe.TimerFired(token))
            case cmd.CancelTimer(token=token):
                handle = live.timers.pop(token, None)
                if handle is not None:
                    handle.cancel()
            case cmd.SendSms(token=token, template=template, to=number):
                node = self._state.node if self._state is not None else ""
                self.deliver(
                    await self._sms.run(self.id, node, token, template, number, self._variables)
                )
            case cmd.Transfer(token=token, target=target):
                result = await self._transfer.run(self, self._state, token, target)
                if result is None:
                    self.left = "transfer"
                else:
                    self.deliver(result)
            case cmd.Hangup(outcome=outcome):
                if not live.hung_up:
                    live.hangup_tried = True
                    await self._hang_up(attempts=2)
                return outcome
            case cmd.Record(kind=kind, node=node, detail=detail):
                self._record(kind, node, detail)
        return None

    # -- the call's side of a transfer (ivr.transfer.executor.Departing) --------

    def depart(self, state: CallState) -> CallHandle:
        self._row = replace(
            self._row,
            digits="".join(state.digits),
            last_node=state.node,
            rev=self._row.rev + 1,
        )
        self.services.recorder.submit(self._row)
        self.departing = True  # a stopping controller leaves this call alone now
        return CallHandle(self._row, self._seq)

    def stay(self) -> None:
        self.departing = False
        self._saved_key = None  # the next step saves the place as a menu call again

    def _record(self, kind: str, node: str, detail: dict[str, Any]) -> None:
        self._seq += 1
        if kind == "enter" and not self._row.path:  # the state the call began in, for the figures
            detail = {**detail, "calendar": self.services.calendar(self._row.started_at).state}
        if kind == "enter":
            self._row = replace(self._row, path=(*self._row.path, node))
        self.services.recorder.submit(
            EventRow(self.id, self._seq, _now(), kind, node, {k: str(v) for k, v in detail.items()})
        )
        # One line per step at debug; the call's summary line (info) says where it went.
        self._log.debug("flow_step", kind=kind, node=node, **{k: str(v) for k, v in detail.items()})

    async def _hang_up(self, attempts: int) -> bool:
        """Hang the channel up; True once it is gone. A refusal or no answer is tried
        again: a caller left in Stasis would hear silence until the dialplan's backstop."""
        for attempt in range(1, attempts + 1):
            try:
                await self.services.client.hangup(self.channel.id)
            except Gone:
                pass  # the caller hung up at the same moment
            except AriError as e:
                self._log.warning("hangup_failed", attempt=attempt, error=str(e))
                continue
            self._live.hung_up = True
            return True
        return False

    async def _apologise(self) -> None:
        """After an internal error: say sorry and hang up rather than leave silence.
        What is playing (or queued) is stopped first, so the apology starts at once."""
        if self._live.hung_up or self.handed_over:  # gone, or the next controller's
            return
        client = self.services.client
        await self._media.stop_all()
        playback_id = self._media.next_id()
        try:
            await client.play(self.channel.id, playback_id, [self.service.prompts.system("error")])
            async with asyncio.timeout(30):
                while True:
                    event = await self.queue.get()
                    if isinstance(event, ari.PlaybackFinished) and event.playback.id == playback_id:
                        return
                    if isinstance(event, ari.StasisEnd | ari.ChannelHangupRequest):
                        self._live.hung_up = True
                        return
        except (AriError, TimeoutError):
            pass

    async def _finish(self, state: CallState | None, outcome: str, started: float) -> None:
        for handle in self._live.timers.values():
            handle.cancel()
        if self._watchdog is not None:
            self._watchdog.cancel()
        if self.left == "transfer":
            # Not the end of the call: the dialplan dials; the transfer's watch follows
            # the channel and closes the record (or a new session resumes the flow).
            self._log.info("call_left_for_transfer", node=state.node if state else None)
            return
        if self.handed_over or outcome == "controller_stopped":
            # Not the end of the call: the next controller continues it and its record.
            self.services.recorder.submit(self._row)
            self._log.info("call_handed_over", node=state.node if state else None)
            return
        if not self._live.hung_up and self.left is None:
            # Never leave the caller in Stasis: the flow's own hang-up may have failed.
            await self._hang_up(attempts=1 if self._live.hangup_tried else 2)
        self._row = replace(
            self._row,
            ended_at=_now(),
            outcome=outcome,
            last_node=state.node if state else None,
            digits="".join(state.digits) if state else self._row.digits,
            rev=self._row.rev + 1,
        )
        self.services.recorder.submit(self._row)
        self._log.info(
            "call_summary",
            outcome=outcome,
            caller=self._row.caller,
            digits=self._row.digits,
            path=list(self._row.path),
            seconds=round(time.monotonic() - started, 2),
        )
