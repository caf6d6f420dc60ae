"""The dashboard, the pages later steps fill in, and the health check."""

from __future__ import annotations

import asyncpg
import structlog
from aiohttp import web
from aiohttp.typedefs import Handler

from . import access, render
from .db import connection
from .keys import VISITOR

log = structlog.get_logger("ivr_admin.pages")


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


async def healthz(request: web.Request) -> web.Response:
    try:
        async with connection(request) as conn:
            ok = await conn.fetchval("SELECT true", timeout=2) is True
    except (OSError, asyncpg.PostgresError, TimeoutError) as e:
        log.warning("health check: database unreachable", error=str(e))
        ok = False
    return web.json_response(
        {"status": "ok" if ok else "degraded", "database": ok}, status=200 if ok else 503
    )
