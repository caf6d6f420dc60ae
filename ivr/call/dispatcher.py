"""Routes ARI events to the call they belong to; starts and reconciles calls."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import TYPE_CHECKING

import structlog

from ivr.ari import events as ari
from ivr.ari.client import AriClient, AriError
from ivr.call import resume
from ivr.call.session import CallSession, Resync

if TYPE_CHECKING:
    from ivr.transfer.service import TransferService

log = structlog.get_logger("ivr.dispatch")

# (channel, Stasis arguments, adopted after a reconnect/restart) -> session
SessionFactory = Callable[[ari.Channel, tuple[str, ...], bool], CallSession]


class Dispatcher:
    def __init__(
        self,
        client: AriClient,
        app: str,
        make_session: SessionFactory,
        transfers: TransferService | None = None,
    ) -> None:
        self._client = client
        self._app = app
        self._make = make_session
        self._transfers = transfers  # follows callers transferred to city lines
        self.sessions: dict[str, CallSession] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self.calls_started = 0
        self.accepting = True

    @property
    def active(self) -> int:
        return len(self.sessions)

    def on_event(self, event: ari.AriEvent) -> None:
        transfers = self._transfers
        if isinstance(event, ari.StasisStart):
            if transfers is not None:
                transfers.on_event(event)  # a transfer that did not connect comes back
            self._start(event.channel, event.args, adopted=False)
            return
        channel_id = ari.channel_of(event)
        session = self.sessions.get(channel_id) if channel_id else None
        if session is not None and session.left is None:
            session.deliver(event)
        if transfers is not None and transfers.owns(channel_id):
            transfers.on_event(event)

    async def on_connected(self) -> None:
        """Adopt calls that entered the app while we were away; end those that left."""
        try:
            channels = await self._client.channels()
        except AriError as e:
            # Without knowing which calls are still there, calls that ended meanwhile
            # would be kept for ever: drop this connection and try again.
            log.error("reconcile_failed", error=str(e))
            raise ConnectionError(f"reconcile failed: {e}") from e
        # A channel in our Stasis app is a call in the menu (one back from a transfer
        # included); a caller ringing or talking to a city phone is in Dial(), never in
        # Stasis: that conversation is the transfers' to follow, never taken over.
        present = {c.id: c for c in channels if c.in_app(self._app)}
        if self._transfers is not None:
            try:
                await self._transfers.reconcile(channels)
            except Exception:  # the calls in the menu must be reconciled all the same
                log.exception("transfer_reconcile_failed")
        before = set(self.sessions)
        for channel in present.values():
            if channel.id not in self.sessions:
                args = tuple(channel.app_data.split(",")[1:])
                if _had_a_controller(channel):
                    log.info("reconcile_adopt", channel_id=channel.id)
                    self._start(channel, args, adopted=True)
                else:
                    # Entered Stasis just now (between the socket opening and this list):
                    # its StasisStart is on its way; it is a new call, nothing to take over.
                    log.info("reconcile_new", channel_id=channel.id)
                    self._start(channel, args, adopted=False)
        for channel_id, session in list(self.sessions.items()):
            if channel_id not in present:
                log.info("reconcile_gone", channel_id=channel_id)
                session.deliver(ari.StasisEnd(session.channel))
            elif channel_id in before:
                session.deliver(Resync())  # events may have been dropped while we were away

    def on_disconnected(self) -> None:
        log.warning("ari_lost", active_calls=self.active)

    def _start(self, channel: ari.Channel, args: tuple[str, ...], adopted: bool) -> None:
        running = self.sessions.get(channel.id)
        if running is not None and running.left is None and not running.departing:
            return
        if not self.accepting:
            task = asyncio.create_task(self._refuse(channel))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
            return
        session = self._make(channel, args, adopted)
        self.sessions[channel.id] = session
        self.calls_started += 1
        task = asyncio.create_task(session.run(), name=f"call-{channel.id}")
        self._tasks.add(task)

        def done(t: asyncio.Task[None]) -> None:
            self._tasks.discard(t)
            if self.sessions.get(channel.id) is session:  # not a later session of the call
                del self.sessions[channel.id]

        task.add_done_callback(done)

    async def _refuse(self, channel: ari.Channel, playbacks: tuple[str, ...] = ()) -> None:
        """Shutting down: pass the call to the dialplan, which holds the caller for the
        next controller (and apologises only if none comes). The prompt playing is
        stopped first: the channel runs the ``continue`` only once it has ended."""
        try:
            await self._client.set_shared(channel.name, resume.HAND_OVER_VAR, "1")
            for playback_id in playbacks:
                with contextlib.suppress(AriError):
                    await self._client.stop_playback(playback_id)
            await self._client.continue_in_dialplan(channel.id)
        except AriError as e:
            log.warning("hand_over_failed", channel_id=channel.id, error=str(e))

    async def hand_over(self) -> None:
        """A planned stop: every call in progress goes to the dialplan's holding loop,
        which brings it to the next controller; none is ended or apologised to. Each
        call's place is already on its channel, so the next controller resumes it."""
        self.accepting = False
        if not self.sessions:
            return
        log.info("handing_over_calls", active=len(self.sessions))
        tasks = []
        for session in list(self.sessions.values()):
            if session.departing or session.left is not None:
                continue  # on its way to a city line or out: the dialplan has it
            session.handed_over = True
            tasks.append(asyncio.create_task(self._refuse(session.channel, session.playing())))
        await asyncio.gather(*tasks)
        pending = [t for t in self._tasks if not t.done()]
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.wait(pending, timeout=5)


def _had_a_controller(channel: ari.Channel) -> bool:
    """Whether a controller may have served the call before: it saved the call's place,
    or answered it (every flow answers before it plays). A channel still ringing with
    nothing saved has had no prompt of ours that could still be playing."""
    return resume.saved_on(channel.variables) is not None or channel.state == "Up"
