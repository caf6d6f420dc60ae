"""The real ARI shell wired to a FakeAri: AriClient, AriConnection, Dispatcher and
CallSession, as ``ivr/app.py`` wires them, with short timeouts.

The flow is served the real way (``FlowInService`` with no database: the file's
flow, "offline") and its prompts come from the real ``PromptResolver`` without
speech synthesis: every prompt of a test flow names a ``file:`` whose recording is
present (an empty file), so it plays as ``sound:/snd/uploads/<name>``
(``prompt_of()`` turns that back into the name), and the system prompts' cache
files are present too. Call records go to a real ``CallRecorder`` whose writer
never runs (no database): the session only ever calls ``submit()``, which queues
(``Shell.recorder.kept`` keeps a copy of each, in order).

With ``transfer=TransferSettings(...)`` and ``targets=``, transfers are wired as in
the controller (``ivr.transfer.service``): capacity slots in PostgreSQL at ``dsn`` (with
no database they are counted locally, as during an outage), attempt rows kept in
``Shell.attempts.kept``, and a fake whose channels carry every variable ari.conf lists.

``make`` below mirrors ``Controller._make_session``; when ``CallSession``'s or
``CallServices``' constructor changes, this is the one place to follow it.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

import aiohttp

from ivr.ari.client import AriClient
from ivr.ari.connection import AriConnection
from ivr.ari.events import Channel
from ivr.calendar.facts import Facts, facts_at
from ivr.calendar.model import Calendar
from ivr.call import resume
from ivr.call.context import caller_type
from ivr.call.dispatcher import Dispatcher
from ivr.call.inservice import FlowInService, ServiceFlow
from ivr.call.prompts import PromptResolver
from ivr.call.session import CallServices, CallSession
from ivr.config import TransferSettings
from ivr.flow.engine import CallContext
from ivr.flow.loader import load_flow
from ivr.flow.model import Flow
from ivr.log import TOKYO
from ivr.prompts.library import SYSTEM_PROMPTS, PromptLibrary
from ivr.store.calls import CallRecorder, CallRow, EventRow, Record
from ivr.transfer.model import TargetSet
from ivr.transfer.records import AttemptRow, AttemptWriter
from ivr.transfer.service import TransferService
from ivr.transfer.slots import Slots
from ivr.transfer.watch import dialled_of
from tests.fakeari import model
from tests.fakeari.server import FakeAri, Request

ASTERISK_SOUNDS = "/snd"  # the sounds folder as the (fake) Asterisk sees it
NO_DATABASE = "postgresql://ivr@127.0.0.1:1/none"
NO_TARGETS = TargetSet()

ResolverFactory = Callable[[PromptLibrary, Flow], PromptResolver]
CalendarAt = Callable[[datetime], Facts]


def usual_calendar(moment: datetime) -> Facts:
    """The city's usual calendar (``Calendar()``'s defaults), as the controller serves
    it when nothing is published."""
    return facts_at(Calendar(), moment)


def prompt_of(media_uri: str) -> str:
    """``sound:/snd/uploads/menu`` -> ``menu``; ``sound:/snd/system/error`` -> ``system/error``."""
    path = media_uri.removeprefix(f"sound:{ASTERISK_SOUNDS}/")
    return path.removeprefix("uploads/")


def played(req: Request) -> tuple[str, ...]:
    """The prompts one ``POST /channels/{id}/play/{playbackId}`` asked for."""
    return tuple(prompt_of(m) for m in (req.param("media") or "").split(",") if m)


LogLine = TypeVar("LogLine", bound=Mapping[str, Any])


def events(logs: Sequence[LogLine], name: str) -> list[LogLine]:
    """The lines of ``capture_logs()`` that log ``name``, in order."""
    return [e for e in logs if e["event"] == name]


class KeptRecorder(CallRecorder):
    """A CallRecorder that also keeps what the calls submitted, for the test to read."""

    def __init__(self, dsn: str, spool_dir: Path) -> None:
        super().__init__(dsn, spool_dir)
        self.kept: list[Record] = []

    def submit(self, rec: Record) -> None:
        self.kept.append(rec)
        super().submit(rec)


class KeptAttempts(AttemptWriter):
    """An AttemptWriter that also keeps the rows submitted, for the test to read."""

    def __init__(self, dsn: str, spool_dir: Path) -> None:
        super().__init__(dsn, spool_dir)
        self.kept: list[AttemptRow] = []

    def submit(self, row: AttemptRow) -> None:
        self.kept.append(row)
        super().submit(row)

    def final(self) -> list[AttemptRow]:
        """The last row of each attempt, in the order attempts started."""
        last: dict[object, AttemptRow] = {}
        for row in self.kept:
            last[row.id] = row
        return list(last.values())


@dataclass
class Shell:
    fake: FakeAri
    client: AriClient
    dispatcher: Dispatcher
    connection: AriConnection
    recorder: KeptRecorder
    http: aiohttp.ClientSession
    service: ServiceFlow  # the flow in service (what a new call starts on)
    transfers: TransferService | None = None
    attempts: KeptAttempts | None = None

    def rows(self, channel_id: str) -> list[CallRow]:
        """Every snapshot of the call's record submitted, in order."""
        call_id = resume.call_id(channel_id)
        return [r for r in self.recorder.kept if isinstance(r, CallRow) and r.id == call_id]

    def call_events(self, channel_id: str) -> list[EventRow]:
        """The call's flow events submitted (enter, key, resume, ...), in order."""
        call_id = resume.call_id(channel_id)
        return [r for r in self.recorder.kept if isinstance(r, EventRow) and r.call_id == call_id]

    def saved_state(self, node: str, **kw: Any) -> str:
        """``SHARED(IVR_STATE)`` as a previous controller would have left it, at ``node``
        of the flow in service (``kw``: the other ``resume.Saved`` fields)."""
        now = datetime.now(TOKYO)
        fields: dict[str, Any] = {
            "epoch": 0,
            "flow_version": self.service.version,
            "flow_digest": self.service.digest,
            "started_at": now,
            "answered_at": now,
        }
        return resume.Saved(node=node, **{**fields, **kw}).encode()

    def ops(self, channel_id: str, with_state: bool = False, since: float = 0.0) -> list[str]:
        """The channel's requests as ``"POST /channels/C/answer 204"`` (its id shown as C).
        Variables set on the channel (``POST /asterisk/variable`` with ``SHARED(...)``:
        the call's place, the hold markers) are left out unless ``with_state``; then
        they read ``"POST SHARED(IVR_HOLD) 204"``. ``since``: requests from then on."""
        out = []
        for r in self.fake.requests_for(channel_id):
            if r.at < since:
                continue
            if r.route.endswith("/variable"):
                if not with_state:
                    continue
                name = (r.param("variable") or "").split(",", 1)[0]
                out.append(f"{r.method} {name}{')' if '(' in name else ''} {r.status}")
            else:
                out.append(f"{r.method} {r.route.replace(channel_id, 'C')} {r.status}")
        return out

    def saved(self, channel_id: str) -> str:
        """What the channel carries as ``SHARED(IVR_STATE)`` ("" while unset)."""
        return self.fake.channels[channel_id].variables.get("SHARED(IVR_STATE)", "")

    def plays(self, channel_id: str, ok_only: bool = True) -> list[tuple[str, ...]]:
        """Prompts of each play request for the channel, in order (answered 201 only)."""
        return [
            played(r)
            for r in self.fake.find("POST", "/channels/*/play*", channel=channel_id)
            if r.status == 201 or not ok_only
        ]

    async def wait_play(
        self, channel_id: str, prompt: str, since: float = 0.0, timeout: float = 3.0
    ) -> Request:
        """The first answered play request of ``prompt`` on the channel after ``since``."""

        def found() -> Request | None:
            reqs = self.fake.find("POST", "/channels/*/play*", channel=channel_id, since=since)
            return next((r for r in reqs if r.status and prompt in played(r)), None)

        req: Request = await self.fake.wait_for(found, timeout)
        return req

    async def wait_reconciled(self, since: float = 0.0, timeout: float = 3.0) -> None:
        """Until the (re)connection's reconcile got its channel list: from then on a
        new call arrives as a StasisStart, not as a channel to adopt."""
        await self.fake.wait_request("GET", "/channels", since=since, timeout=timeout)
        await self.fake.wait_for(lambda: self.connection.ready.is_set(), timeout)

    async def quiet(self, period: float = 0.1, timeout: float = 3.0) -> None:
        """Until every request was answered and none came for ``period`` seconds."""
        fake = self.fake
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            seen = len(fake.requests)
            await asyncio.sleep(period)
            if len(fake.requests) == seen and all(r.status for r in fake.requests):
                return
            if asyncio.get_running_loop().time() > deadline:
                raise TimeoutError("fake ARI: requests did not settle")

    async def wait_ended(self, channel_id: str, timeout: float = 3.0) -> None:
        """Until the dispatcher no longer has a call on the channel."""
        await self.fake.wait_for(lambda: channel_id not in self.dispatcher.sessions, timeout)


def _prepare_sounds(flow: Flow, library: PromptLibrary) -> None:
    """Every recording the flow names, and the system prompts, as if already built."""
    for spec in flow.prompts.values():
        if spec.file:
            target = library.sounds_dir / "uploads" / f"{spec.file.rsplit('.', 1)[0]}.wav"
            target.parent.mkdir(parents=True, exist_ok=True)
            target.touch()
    for name, text in SYSTEM_PROMPTS.items():
        target = library.sounds_dir / "system" / f"{name}{library.ext}"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.touch()
        target.with_suffix(".key").write_text(library.key(text))


@contextlib.asynccontextmanager
async def running_shell(
    flow_yaml: str,
    tmp_path: Path,
    *,
    fake: FakeAri | None = None,
    resolver: ResolverFactory = PromptResolver,
    calendar: CalendarAt = usual_calendar,
    password: str = "secret",
    request_timeout: float = 1.0,
    backoff: tuple[float, float] = (0.05, 0.4),
    stable_after: float = 5.0,
    wait_connected: bool = True,
    watchdog_seconds: float = 60.0,
    transfer: TransferSettings | None = None,
    targets: TargetSet | Callable[[], TargetSet] = NO_TARGETS,
    dsn: str = NO_DATABASE,
) -> AsyncIterator[Shell]:
    """Start the shell against ``fake`` (a fresh FakeAri if None) and stop it after.

    ``watchdog_seconds`` (the session's own re-check of its playbacks) is long by
    default, so that what a test sees comes from the row it covers."""
    flow_file = tmp_path / "flow.yaml"
    flow_file.write_text(flow_yaml, encoding="utf-8")
    library = PromptLibrary(tmp_path / "sounds", ASTERISK_SOUNDS)
    _prepare_sounds(load_flow(flow_yaml), library)  # before building: nothing to synthesise
    flows = FlowInService(library, flow_file, NO_DATABASE)
    await flows.load_offline()  # no database: the file's flow, as at a start without one
    service = flows.current
    if resolver is not PromptResolver:
        service = replace(service, prompts=resolver(library, service.flow))
    recorder = KeptRecorder(NO_DATABASE, tmp_path / "spool")
    own_fake = fake is None
    channelvars = model.ari_conf_channelvars() if transfer is not None else None
    fake = fake or await (FakeAri(channelvars=channelvars) if channelvars else FakeAri()).start()
    http = aiohttp.ClientSession()
    client = AriClient(http, fake.url, "ivr", password, request_timeout)
    transfers: TransferService | None = None
    attempts: KeptAttempts | None = None
    slots: Slots | None = None
    if transfer is not None:
        slots = Slots(dsn, transfer.slot_seconds, transfer.db_timeout)
        attempts = KeptAttempts(dsn, tmp_path / "spool")
        current = targets if callable(targets) else (lambda: targets)
        transfers = TransferService(client, fake.app, current, slots, attempts, recorder, transfer)
    services = CallServices(client, recorder, flows, calendar, watchdog_seconds, transfers)

    def make(channel: Channel, args: tuple[str, ...], adopted: bool) -> CallSession:
        dialled = dialled_of(channel, args)
        ctx = CallContext(
            caller=channel.caller_number,
            dialled=dialled,
            caller_type=caller_type(channel.caller_number),
            calendar="closed",  # replaced with the calendar's state at every step
        )
        return CallSession(channel, dialled, service, ctx, services, adopted)

    dispatcher = Dispatcher(client, fake.app, make, transfers)
    connection = AriConnection(client, http, fake.app, dispatcher, *backoff, stable_after)
    began = time.monotonic()
    task = asyncio.create_task(connection.run(), name="test-ari")
    shell = Shell(
        fake, client, dispatcher, connection, recorder, http, service, transfers, attempts
    )
    try:
        if wait_connected:
            await shell.wait_reconciled(since=began)
        yield shell
    finally:
        await _stop(shell, task)
        if transfers is not None:
            await transfers.close()
        if slots is not None:
            await slots.close()
        await http.close()
        if own_fake:
            await fake.close()


async def _stop(shell: Shell, task: asyncio.Task[None]) -> None:
    """Let every call end the way calls end (the caller hangs up), then stop the rest."""
    fake = shell.fake
    fake.restore()
    fake.rules.clear()
    if shell.dispatcher.sessions and fake.connected:
        for channel_id in list(fake.channels):
            if fake.channels[channel_id].in_app(fake.app):
                fake.caller_hangup(channel_id)
        with contextlib.suppress(TimeoutError):
            await fake.wait_for(lambda: not shell.dispatcher.sessions, 2.0)
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    calls = [t for t in asyncio.all_tasks() if t.get_name().startswith("call-")]
    for t in calls:
        t.cancel()
    if calls:
        await asyncio.wait(calls, timeout=2)
