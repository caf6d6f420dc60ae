"""Following transfers in flight: the caller's channel outside Stasis, over an
application subscription (:mod:`ivr.transfer.service` starts them).

The dispatcher passes the channel's events here:

- ``Dial`` events: the outbound leg rings, is answered (ring time), ...;
- the channel back in Stasis (``Stasis(<app>,transfer,<DIALSTATUS>)``): the transfer
  did not connect; the attempt is recorded and the slot freed, and the dispatcher
  starts a session that resumes the flow at the transfer node with the outcome;
- ``ChannelDestroyed``: the call is over; an answered transfer closes the record as
  ``transferred`` with its talk time, an unanswered one as ``caller_hangup``.

A controller never touches a conversation: after a restart :meth:`Follower.reconcile`
finds the channels with ``leg: transfer`` outside Stasis (ringing or talking),
watches them again from what they carry, and reconciles the slots.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Coroutine
from typing import Any

import structlog

from ivr.ari import events as ari
from ivr.ari.client import AriClient, AriError, Gone
from ivr.call import resume
from ivr.store.calls import CallRecorder
from ivr.transfer import outcomes
from ivr.transfer.records import AttemptWriter
from ivr.transfer.slots import Slot, Slots
from ivr.transfer.watch import REV_ANSWERED, REV_ENDED, Watch, now, rebuilt

log = structlog.get_logger("ivr.transfer")


class Follower:
    """The transfers in flight, by the caller's channel id; their records and slots."""

    def __init__(
        self,
        client: AriClient,
        app: str,
        slots: Slots,
        attempts: AttemptWriter,
        recorder: CallRecorder,
    ) -> None:
        self._client = client
        self._app = app
        self.slots = slots
        self._attempts = attempts
        self._recorder = recorder
        self.watches: dict[str, Watch] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    def owns(self, channel_id: str | None) -> bool:
        return channel_id is not None and channel_id in self.watches

    def on_event(self, event: ari.AriEvent) -> None:
        """An event of a watched channel; must not block."""
        match event:
            case ari.Dial(caller=caller, dialstatus=status) if caller is not None:
                w = self.watches.get(caller.id)
                if w is not None:
                    self._dial(w, caller, status)
            case ari.StasisStart(channel=channel):
                w = self.watches.get(channel.id)
                if w is not None:
                    self._returned(w, channel)
            case ari.ChannelDestroyed(channel=channel):
                w = self.watches.get(channel.id)
                if w is not None:
                    self._gone(w, channel)

    def _dial(self, w: Watch, caller: ari.Channel, status: str) -> None:
        w.ringing = True
        if status:
            w.status = status
        if status == "ANSWER" and w.answered_at is None:
            w.answered(caller.variables.get(f"SHARED({outcomes.ANSWERED_VAR})", ""))
            self._attempts.submit(
                w.attempt.row(
                    w.channel_id,
                    answered_at=w.answered_at,
                    ring_seconds=w.ring_seconds,
                    rev=REV_ANSWERED,
                )
            )
            log.info(
                "transfer_answered",
                channel_id=w.channel_id,
                target=w.attempt.target,
                ring_seconds=w.ring_seconds,
            )

    def _returned(self, w: Watch, channel: ari.Channel) -> None:
        """Back in Stasis: the Dial did not connect; the flow goes on (a new session)."""
        outcome = outcomes.returned_with(channel.variables) or w.unanswered_outcome()
        ended = now()
        self._finish(w)
        self._attempts.submit(
            w.attempt.row(
                w.channel_id,
                ended_at=ended,
                outcome=outcome,
                ring_seconds=w.ring_seconds,
                rev=REV_ENDED,
            )
        )
        self._spawn(self._unsubscribe(w.channel_id))
        log.info(
            "transfer_not_connected",
            channel_id=w.channel_id,
            target=w.attempt.target,
            outcome=outcome,
            ring_seconds=w.ring_seconds,
        )

    def _gone(self, w: Watch, channel: ari.Channel | None, unseen: bool = False) -> None:
        """The caller's channel is gone: both legs have ended (Dial ends them together)."""
        ended = now()
        self._finish(w)
        if w.answered_at is not None:
            outcome, call_outcome = outcomes.ANSWERED, "transferred"
        else:
            outcome, call_outcome = w.unanswered_outcome(), "caller_hangup"
        talk = w.talk_seconds(ended)
        detail = {
            "target": w.attempt.target,
            "outcome": outcome,
            "ring_seconds": str(w.ring_seconds),
        }
        if talk is not None:
            detail["talk_seconds"] = str(talk)
        if unseen:
            detail["note"] = "ended while no controller followed it"
        h = w.handle
        self._recorder.submit(h.event("transfer", w.attempt.node, detail))
        if w.answered_at is None:
            self._recorder.submit(h.event("hangup", w.attempt.node, {"phase": "transfer"}))
        self._recorder.submit(h.closed(call_outcome))
        self._attempts.submit(
            w.attempt.row(
                w.channel_id,
                answered_at=w.answered_at,
                ended_at=ended,
                outcome=outcome,
                ring_seconds=w.ring_seconds,
                talk_seconds=talk,
                rev=REV_ENDED,
            )
        )
        log.info(
            "transfer_ended",
            channel_id=w.channel_id,
            target=w.attempt.target,
            outcome=outcome,
            call_outcome=call_outcome,
            ring_seconds=w.ring_seconds,
            talk_seconds=talk,
            unseen=unseen,
        )

    def _finish(self, w: Watch) -> None:
        w.done = True
        self.watches.pop(w.channel_id, None)
        self._spawn(self.slots.release(w.channel_id))

    async def _unsubscribe(self, channel_id: str) -> None:
        with contextlib.suppress(AriError):
            await self._client.unsubscribe(self._app, f"channel:{channel_id}")

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # -- after a (re)connection ----------------------------------------------

    async def reconcile(self, channels: list[ari.Channel]) -> None:
        """Find the transfers in progress (channels with ``leg: transfer`` outside
        Stasis: ringing or talking), follow them again, end the watches whose channels
        went away meanwhile, and reconcile the capacity slots with what is there."""
        try:
            info = await self._client.asterisk_info()
            self.slots.node = (
                str((info.get("system") or {}).get("entity_id", "")) or self.slots.node
            )
        except AriError as e:
            log.warning("transfer_node_unknown", error=str(e))
        present = {c.id: c for c in channels}
        live: set[str] = set()
        for channel in channels:
            saved = resume.saved_on(channel.variables)
            if saved is None or saved.leg != resume.LEG_TRANSFER:
                continue
            w = self.watches.get(channel.id)
            if channel.in_app(self._app):
                # Back from Dial while we were away: a call again (the dispatcher's).
                if w is not None:
                    self._returned(w, channel)
                continue
            if w is None:
                w = rebuilt(channel, saved)
                if w is None:
                    log.error("transfer_unreadable", channel_id=channel.id)
                    continue
                self.watches[channel.id] = w
                w.ringing = True  # Asterisk has it: the outbound leg is there or done
                self.slots.adopt(
                    Slot(channel.id, w.attempt.target, w.attempt.id, w.attempt.call_id)
                )
                log.info(
                    "transfer_followed_again",
                    channel_id=channel.id,
                    target=w.attempt.target,
                    answered=w.answered_at is not None,
                )
            else:
                mark = channel.variables.get(f"SHARED({outcomes.ANSWERED_VAR})", "")
                if mark:
                    w.answered(mark)
            try:
                await self._client.subscribe(self._app, f"channel:{channel.id}")
            except Gone:  # it ended just now: its ChannelDestroyed will not come
                self._gone(w, channel, unseen=True)
                continue
            except AriError as e:  # it is there: renew its slot, subscribe next time
                log.warning("transfer_subscribe_failed", channel_id=channel.id, error=str(e))
            live.add(channel.id)
        for channel_id, w in list(self.watches.items()):
            if channel_id not in present:
                self._gone(w, None, unseen=True)
        # A session of ours between its claim and its continue keeps its slot too.
        live |= {c for c in self.slots.held if c in present and c not in self.watches}
        await self.slots.reconcile(live)

    async def close(self) -> None:
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=2)
