"""Routes ARI events to the call they belong to; starts and reconciles calls."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING

import structlog

from ivr.ari import events as ari
from ivr.ari.client import AriClient, AriError, Gone
from ivr.call import resume
from ivr.call.session import CallSession, Resync
from ivr.log import TOKYO
from ivr.store.calls import CallRecorder, CallRow
from ivr.transfer import outcomes

if TYPE_CHECKING:
    from ivr.transfer.service import TransferService

log = structlog.get_logger("ivr.dispatch")

# (channel, Stasis arguments, adopted after a reconnect/restart) -> session
SessionFactory = Callable[[ari.Channel, tuple[str, ...], bool], CallSession]

BUSY = "busy"  # the outcome of a call refused over controller.max_calls


class Dispatcher:
    def __init__(
        self,
        client: AriClient,
        app: str,
        make_session: SessionFactory,
        transfers: TransferService | None = None,
        *,
        max_calls: int = 0,
        recorder: CallRecorder | None = None,
    ) -> None:
        self._client = client
        self._app = app
        self._make = make_session
        self._transfers = transfers  # follows callers transferred to city lines
        self.sessions: dict[str, CallSession] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self.calls_started = 0
        self.accepting = True
        # controller.max_calls: calls served at once (0 = no cap); a new caller over it
        # hears the dialplan's short busy message at once, recorded with ``recorder``.
        self.max_calls = max_calls
        self.recorder = recorder
        self.calls_refused = 0
        self._refusing: set[str] = set()  # channels being passed to the busy message

    @property
    def active(self) -> int:
        return len(self.sessions)

    @property
    def serving(self) -> int:
        """Calls this controller serves in the menu now (what ``max_calls`` caps): not
        those on their way to a city line, whose conversation the dialplan carries."""
        return sum(1 for s in self.sessions.values() if s.left is None and not s.departing)

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
        if channel.id in self._refusing:
            return  # being passed to the busy message
        if not self.accepting:
            task = asyncio.create_task(self._refuse(channel))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
            return
        if self._over_cap(channel, adopted):
            self._refusing.add(channel.id)
            task = asyncio.create_task(self._refuse_busy(channel, args))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
            return
        self._serve(channel, args, adopted)

    def _over_cap(self, channel: ari.Channel, adopted: bool) -> bool:
        """A new call that would pass ``max_calls``. A call taken over from another
        controller, back from a transfer, or one whose place is saved on its channel is
        a call in progress: never refused."""
        if self.max_calls <= 0 or adopted:
            return False
        if resume.saved_on(channel.variables) is not None:
            return False
        return self.serving >= self.max_calls

    def _serve(self, channel: ari.Channel, args: tuple[str, ...], adopted: bool) -> None:
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

    async def _refuse_busy(self, channel: ari.Channel, args: tuple[str, ...]) -> None:
        """Over ``max_calls``: the dialplan's short busy message (``SHARED(IVR_BUSY)``,
        extensions.conf) at once, unanswered by us, then the call ends; recorded as
        ``busy``. Slower service for everyone is worse than a clear "call again"."""
        started = datetime.now(TOKYO)
        log.warning(
            "call_refused_busy",
            channel_id=channel.id,
            serving=self.serving,
            max_calls=self.max_calls,
        )
        try:
            await self._client.set_shared(channel.name, outcomes.BUSY_VAR, "1")
            await self._client.continue_in_dialplan(channel.id)
        except Gone:
            pass  # the caller hung up first: recorded as refused all the same
        except AriError as e:
            # Cannot pass it on: serve it after all rather than leave it in silence.
            log.warning("busy_refusal_failed", channel_id=channel.id, error=str(e))
            self._refusing.discard(channel.id)
            self._serve(channel, args, adopted=False)
            return
        self._refusing.discard(channel.id)
        self.calls_refused += 1
        if self.recorder is not None:
            # The call's facts as a session would record them (the caller's number
            # unless withheld, the flow in service), from a session that never runs.
            unserved = self._make(channel, args, False)
            self.recorder.submit(
                CallRow(
                    id=resume.call_id(channel.id),
                    channel_id=channel.id,
                    caller=unserved.ctx.caller,
                    dialled=unserved.ctx.dialled,
                    started_at=started,
                    ended_at=datetime.now(TOKYO),
                    outcome=BUSY,
                    flow_version=unserved.service.version,
                    flow_digest=unserved.service.digest,
                    rev=1,
                )
            )

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
