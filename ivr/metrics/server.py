"""The controller's monitoring endpoint: a small aiohttp server on loopback.

``/metrics`` (Prometheus text), ``/healthz`` (JSON; 200 when ready, 503 when not) and
``/livez`` (200 while the event loop answers). Wiring in ``ivr/app.py``'s ``run()``,
beside the other supervised tasks (and ``metrics`` added to the tasks stopped)::

    metrics = self._supervised(
        MetricsServer(
            self.settings,
            lambda: snapshot(self.dispatcher, self.connection, self.recorder, self.speech),
        ).run(),
        "metrics",
    )

and ``TimedHandler(self.dispatcher)`` as the AriConnection's handler, which times the
routing of each event (``ivr_ari_event_handling_seconds``).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import structlog
from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from ivr.config import Settings
from ivr.metrics import clock as clock_mod
from ivr.metrics.db import probe
from ivr.metrics.health import controller_health
from ivr.metrics.registry import ControllerCollector, controller_registry
from ivr.metrics.state import ControllerState

log = structlog.get_logger("ivr.metrics")

CLOCK_EVERY = 60.0  # seconds between clock checks (a subprocess at worst)
RETRY_SECONDS = 30.0  # between attempts to listen when the port is taken


class ClockCache:
    def __init__(self) -> None:
        self._status = clock_mod.ClockStatus("unknown", "", "not checked yet")
        self._at: float | None = None

    async def get(self) -> clock_mod.ClockStatus:
        now = time.monotonic()
        if self._at is None or now - self._at >= CLOCK_EVERY:
            self._status = await asyncio.to_thread(clock_mod.clock_status)
            self._at = now
        return self._status


class MetricsServer:
    def __init__(self, settings: Settings, state: Callable[[], ControllerState]) -> None:
        self._settings = settings
        self._state = state
        self._collector = ControllerCollector()
        self._registry = controller_registry(self._collector)
        self._clock = ClockCache()
        self._lock = asyncio.Lock()
        self._runner: web.AppRunner | None = None
        self.port = 0

    async def refresh(self) -> tuple[dict[str, object], bool]:
        """Read state, database and clock into the collector; the health verdict."""
        async with self._lock:
            m = self._settings.metrics
            state = self._state()
            db = await probe(
                self._settings.database.dsn, m.db_timeout, ("calls", "transfers", "sms")
            )
            clock = await self._clock.get()
            body, ready = controller_health(state, db, clock)
            c = self._collector
            c.state, c.db, c.clock, c.ready = state, db, clock, ready
            return body, ready

    async def _metrics(self, _request: web.Request) -> web.Response:
        await self.refresh()
        body = generate_latest(self._registry)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def _healthz(self, _request: web.Request) -> web.Response:
        body, ready = await self.refresh()
        return web.json_response(body, status=200 if ready else 503)

    async def _livez(self, _request: web.Request) -> web.Response:
        return web.json_response({"status": "ok", "live": True})

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/metrics", self._metrics)
        app.router.add_get("/healthz", self._healthz)
        app.router.add_get("/livez", self._livez)
        return app

    async def start(self) -> int:
        """Listen on metrics.host:metrics.port; returns the port (for port 0: the one chosen)."""
        m = self._settings.metrics
        runner = web.AppRunner(self.app(), access_log=None)
        await runner.setup()
        await web.TCPSite(runner, m.host, m.port).start()
        self._runner = runner
        address = runner.addresses[0]
        self.port = int(address[1])
        log.info("metrics_listening", host=m.host, port=self.port)
        return self.port

    async def close(self) -> None:
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()

    async def run(self) -> None:
        """Serve until cancelled (a supervised task); with metrics.enabled false, just wait.

        Monitoring never takes calls down: if the port is taken, this says so and tries
        again every RETRY_SECONDS instead of ending (which would stop the controller)."""
        if not self._settings.metrics.enabled:
            await asyncio.Event().wait()
        while True:
            try:
                await self.start()
                break
            except OSError as e:
                m = self._settings.metrics
                log.error("metrics_listen_failed", host=m.host, port=m.port, error=str(e))
                await asyncio.sleep(RETRY_SECONDS)
        try:
            await asyncio.Event().wait()
        finally:
            await self.close()
