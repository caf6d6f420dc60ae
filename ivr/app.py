"""The controller's wiring: one explicit function builds and runs everything."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Coroutine
from datetime import datetime
from pathlib import Path
from typing import Any

import aiohttp
import structlog

from ivr.ari.client import AriClient
from ivr.ari.connection import AriConnection
from ivr.ari.events import Channel
from ivr.calendar.ahead import build_ahead
from ivr.calendar.facts import FactsOfTheMinute, facts_at
from ivr.calendar.inservice import CalendarKind
from ivr.calendar.model import Calendar
from ivr.call.context import caller_of
from ivr.call.dispatcher import Dispatcher, SessionFactory
from ivr.call.inservice import FlowInService
from ivr.call.prompts import PromptResolver
from ivr.call.session import CallServices, CallSession
from ivr.config import Settings
from ivr.flow.engine import CallContext
from ivr.flow.loader import load_flow_file
from ivr.flow.model import Flow
from ivr.log import TOKYO
from ivr.metrics import MetricsServer, TimedHandler, snapshot
from ivr.prompts.library import PromptLibrary
from ivr.prompts.worker import SpeechWorker
from ivr.published.service import InService, Watcher
from ivr.retention.job import run_daily
from ivr.sms.plugin import SmsCapability
from ivr.stats.heartbeat import ari_probe
from ivr.stats.service import StatsService
from ivr.store.calls import CallRecorder
from ivr.transfer.plugin import TransferCapability
from ivr.transfer.service import TransferService
from ivr.transfer.watch import dialled_of

log = structlog.get_logger("ivr")

DEFAULT_FLOW = Path(__file__).parent / "flows" / "default.yaml"


def prompt_library(settings: Settings, worker: SpeechWorker | None = None) -> PromptLibrary:
    p = settings.prompts
    return PromptLibrary(
        Path(p.sounds_dir).resolve(),
        p.asterisk_dir or str(Path(p.sounds_dir).resolve()),
        p.speed,
        p.sample_rate,
        worker,
    )


def service_flow_file(settings: Settings) -> Path:
    """The flow served while the database has no published version."""
    return Path(settings.flow.file) if settings.flow.file else DEFAULT_FLOW


def load_service_flow(settings: Settings) -> Flow:
    return load_flow_file(service_flow_file(settings))


class Controller:
    """Holds the long-lived parts; ``run()`` supervises them until stopped."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.speech = SpeechWorker(settings.prompts.worker_idle_seconds)
        self.library = prompt_library(settings, self.speech)
        load_service_flow(settings)  # a broken flow file stops start-up here, naming the problem
        self.flows = FlowInService(
            self.library,
            service_flow_file(settings),
            settings.database.dsn,
            Path(settings.database.spool_dir) / "flow-in-service.json",
        )
        self.calendar_kind = CalendarKind()
        self.calendar = InService(
            self.calendar_kind, Path(settings.database.spool_dir) / "calendar-in-service.json"
        )
        self.recorder = CallRecorder(
            settings.database.dsn, Path(settings.database.spool_dir), settings.database.write_queue
        )
        self.transfers = TransferCapability(settings, self.recorder)
        self.sms = SmsCapability(
            settings, lambda: facts_at(self.calendar.current, datetime.now(TOKYO)).variables
        )
        cel = settings.stats.cel_file
        self.stats = StatsService(
            settings.database.dsn,
            Path(cel) if cel else None,
            heartbeat_interval=settings.stats.heartbeat_seconds,
        )
        self.dispatcher: Dispatcher | None = None
        self.connection: AriConnection | None = None
        self.stopping = asyncio.Event()
        self.failed = False
        self.started = False  # connected and serving (a stop before that just exits)

    def _make_session(self, client: AriClient, transfers: TransferService) -> SessionFactory:
        facts = FactsOfTheMinute()
        services = CallServices(
            client,
            self.recorder,
            self.flows,
            lambda moment: facts(self.calendar.current, moment),
            self.settings.controller.watchdog_seconds,
            transfers,
            self.sms.requester,
        )

        def make(channel: Channel, args: tuple[str, ...], adopted: bool) -> CallSession:
            service = self.flows.current  # the call keeps this version to its end
            dialled = dialled_of(channel, args)
            caller, kind = caller_of(channel.caller_number, channel.variables)
            ctx = CallContext(
                caller=caller,
                dialled=dialled,
                caller_type=kind,
                calendar="closed",  # replaced with the calendar's state at every step
            )
            return CallSession(channel, dialled, service, ctx, services, adopted)

        return make

    async def _ahead(self, resolver: PromptResolver, cal: Calendar) -> int:
        return await build_ahead(resolver, cal, datetime.now(TOKYO))

    async def _ahead_loop(self) -> None:
        """Keep the calendar's spoken values built for the hours ahead."""
        while True:
            await asyncio.sleep(3600)
            try:
                built = await self._ahead(self.flows.current.prompts, self.calendar.current)
                log.debug("calendar_prompts_built", texts=built)
            except Exception:  # e.g. the speech worker failing twice: try again later
                log.exception("calendar_prompts_failed")

    async def run(self) -> None:
        a = self.settings.ari
        dsn = self.settings.database.dsn
        await self.calendar.start(dsn)
        await self.transfers.start()
        await self.sms.start()
        # Each kind builds the audio the other's values need before it takes calls.
        self.flows.flow_kind.prepare = lambda r: self._ahead(r, self.calendar.current)
        await self.flows.load_published()
        self.calendar_kind.prepare = lambda c: self._ahead(self.flows.current.prompts, c)
        built = await self._ahead(self.flows.current.prompts, self.calendar.current)
        log.info("prompts_ready", calendar_texts=built, sounds_dir=str(self.library.sounds_dir))
        await self.stats.startup()  # calls that ended while no controller ran are closed first
        self.started = True
        # http.conf's sessionlimit is 200: room left for the event socket, probes and a
        # second controller taking over.
        connector = aiohttp.TCPConnector(limit=150)
        async with aiohttp.ClientSession(connector=connector) as http:
            client = AriClient(http, a.url, a.username, a.password, a.request_timeout)
            transfers = self.transfers.bind(client, a.app)
            self.dispatcher = Dispatcher(
                client,
                a.app,
                self._make_session(client, transfers),
                transfers,
                max_calls=self.settings.controller.max_calls,
                recorder=self.recorder,
            )
            self.connection = AriConnection(
                client, http, a.app, TimedHandler(self.dispatcher), a.reconnect_min, a.reconnect_max
            )
            self.stats.probe = lambda: ari_probe(client, http)
            self.stats.status = self._stats_status
            writer = self._supervised(self.recorder.run(), "recorder")
            watcher = self._supervised(
                Watcher(
                    dsn, [self.flows, self.calendar, self.transfers.targets, self.sms.templates]
                ).run(),
                "published-watch",
            )
            transfer_tasks = [self._supervised(c, n) for c, n in self.transfers.tasks()]
            sms_tasks = [self._supervised(c, n) for c, n in self.sms.tasks()]
            ahead = self._supervised(self._ahead_loop(), "prompts-ahead")
            stats = self._supervised(self.stats.run(), "stats")
            retention = self._supervised(run_daily(self.settings), "retention")
            ari_task = self._supervised(self.connection.run(), "ari")
            metrics = self._supervised(
                MetricsServer(
                    self.settings,
                    lambda: snapshot(self.dispatcher, self.connection, self.recorder, self.speech),
                ).run(),
                "metrics",
            )
            log.info("controller_started", app=a.app, ari=a.url, flow=self.flows.current.flow.name)
            try:
                await self.stopping.wait()
            finally:
                # A planned stop ends no call: each goes to the dialplan's holding loop
                # and on to the next controller, which resumes it where it was. Then the
                # socket closes, and new calls are held by the dialplan too.
                await self.dispatcher.hand_over()
                for task in (
                    ari_task,
                    metrics,
                    watcher,
                    ahead,
                    stats,
                    retention,
                    *transfer_tasks,
                    *sms_tasks,
                ):
                    await _stop(task)
                await self.transfers.close()  # conversations in progress are never touched
                await self.sms.close()
                await self.recorder.close()
                await _stop(writer)
                self.speech.close()
                log.info("controller_stopped", calls=self.dispatcher.calls_started)

    def _stats_status(self) -> dict[str, Any]:
        """The controller's own state for the dashboard's heartbeat."""
        return {
            "active_calls": self.dispatcher.active if self.dispatcher else 0,
            "calls_refused": self.dispatcher.calls_refused if self.dispatcher else 0,
            "ari_ready": bool(self.connection and self.connection.ready.is_set()),
            "record_backlog": self.recorder.backlog,
            "dead_letters": self.recorder.dead_letters,
        }

    def _supervised(self, coro: Coroutine[Any, Any, None], name: str) -> asyncio.Task[None]:
        """A long-lived task; if it ever ends by itself the controller stops (non-zero),
        so that its supervisor restarts it whole rather than run half-working."""

        def ended(task: asyncio.Task[None]) -> None:
            if task.cancelled() or self.stopping.is_set():
                return
            log.error("task_died", task=name, error=repr(task.exception()))
            self.failed = True
            self.stopping.set()

        task = asyncio.create_task(coro, name=name)
        task.add_done_callback(ended)
        return task


async def _stop(task: asyncio.Task[None]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError, Exception):  # already logged if it died
        await task


async def serve(settings: Settings) -> None:
    controller = Controller(settings)
    loop = asyncio.get_running_loop()
    task = asyncio.current_task()

    def stop() -> None:
        controller.stopping.set()
        if not controller.started and task is not None:
            task.cancel()  # still starting (e.g. building prompts): nothing to hand over

    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop)
    try:
        await controller.run()
    except asyncio.CancelledError:
        controller.speech.close()
        log.info("controller_stopped_while_starting")
        return
    if controller.failed:
        raise SystemExit(1)
