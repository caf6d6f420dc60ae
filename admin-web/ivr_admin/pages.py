"""The dashboard, the pages later steps fill in, the health check and the metrics."""

from __future__ import annotations

from collections.abc import Iterator

import structlog
from aiohttp import web
from aiohttp.typedefs import Handler
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    ProcessCollector,
    generate_latest,
)
from prometheus_client.core import Metric
from prometheus_client.registry import Collector

from ivr.metrics import db as metrics_db
from ivr.metrics import health, registry
from ivr.metrics.clock import ClockStatus
from ivr.metrics.db import DbFacts
from ivr.metrics.server import ClockCache

from . import access, allowlist, render
from .errors import Forbidden
from .keys import POOL, SETTINGS, VISITOR

log = structlog.get_logger("ivr_admin.pages")
CLOCK = ClockCache()


async def dashboard(request: web.Request) -> web.Response:
    session = request[VISITOR].session
    assert session is not None
    return render.page(request, "dashboard.html", {"me": session.account})


def placeholder(prefix: str) -> Handler:
    """A "準備中" page holding a navigation slot until its feature lands."""
    (area,) = [a for a in access.AREAS if a.prefix == prefix]

    async def view(request: web.Request) -> web.Response:
        return render.page(request, "placeholder.html", {"title": area.label})

    return view


async def _facts(request: web.Request, queries: tuple[str, ...] = ()) -> DbFacts:
    timeout = request.app[SETTINGS].metrics.db_timeout
    try:
        async with request.app[POOL].acquire(timeout=timeout) as conn:
            facts = await metrics_db.read(conn, timeout, queries)
    except Exception as e:  # whatever the driver raises, the answer is "down", never a 500
        facts = DbFacts(error=f"{type(e).__name__}: {e}"[:300])
    if not facts.up:
        log.warning("health check: database unreachable", error=facts.error)
    return facts


async def healthz(request: web.Request) -> web.Response:
    """Liveness and readiness: 200 while the database answers (503 when not); an
    unsynchronised or unknown clock is a warning (two-step login codes depend on it)."""
    facts = await _facts(request)
    clock = await CLOCK.get()
    warnings = [] if clock.state == "ok" else [f"clock {clock.state}"]
    return web.json_response(
        {
            "status": health.overall(facts.up, warnings),
            "live": True,
            "ready": facts.up,
            "database": facts.up,  # kept for earlier probes
            "warnings": warnings,
            "checks": {
                "database": health.database_check(facts),
                "clock": health.clock_check(clock),
            },
        },
        status=200 if facts.up else 503,
    )


def _metrics_networks(request: web.Request) -> list[allowlist.Network]:
    cidrs = request.app[SETTINGS].metrics.admin_allowlist
    return [allowlist.parse_network(c) for c in cidrs]


class _AdminCollector(Collector):
    def __init__(self, facts: DbFacts, clock: ClockStatus) -> None:
        self._facts, self._clock = facts, clock

    def collect(self) -> Iterator[Metric]:
        yield registry.gauge(
            "ivr_admin_database_up", "The admin site's database answered", self._facts.up
        )
        yield from registry.login_families(self._facts.counts.get("logins", {}))
        yield registry.clock_family("ivr_clock_sync", self._clock)


async def metrics(request: web.Request) -> web.Response:
    """Prometheus text, for metrics.admin_allowlist only (loopback by default): the
    address is the one the access middleware decided (a declared proxy's X-Forwarded-For
    counts), so a request through the public proxy is refused."""
    ip = request[VISITOR].ip
    if not allowlist.allows(_metrics_networks(request), ip):
        log.warning("metrics refused", ip=str(ip))
        raise Forbidden()
    facts = await _facts(request, ("logins",))
    reg = CollectorRegistry(auto_describe=False)
    reg.register(_AdminCollector(facts, await CLOCK.get()))
    ProcessCollector(registry=reg)
    return web.Response(body=generate_latest(reg), headers={"Content-Type": CONTENT_TYPE_LATEST})
