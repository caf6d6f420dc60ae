"""The application factory: one function wires the whole site together."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import structlog
from aiohttp import web

from ivr.config import Settings

from . import audit, render, security, sessions, throttle
from .db import pool_context
from .keys import POOL, SETTINGS
from .middlewares import access_middleware, error_middleware, security_headers
from .routes import setup_routes

log = structlog.get_logger("ivr_admin")

HOUSEKEEPING_SECONDS = 3600.0


def create_app(settings: Settings, dsn: str) -> web.Application:
    """Build the admin site for ``settings`` on the database at ``dsn``."""
    # Parse the allowlist and proxy list now, so a typo stops start-up naming the key.
    security.config_networks(settings.admin)
    security.trusted_proxies(settings.admin)
    app = web.Application(
        middlewares=[error_middleware, access_middleware], client_max_size=256 * 1024
    )
    app[SETTINGS] = settings
    app.cleanup_ctx.append(pool_context(dsn))
    app.cleanup_ctx.append(_housekeeping)
    app.on_response_prepare.append(security_headers)
    render.setup(app)
    setup_routes(app)
    return app


async def _purge(app: web.Application) -> None:
    settings = app[SETTINGS].admin
    async with app[POOL].acquire() as conn:
        removed = await audit.purge(conn, settings.audit_retention_days)
        await sessions.purge(conn, settings)
        await throttle.purge(conn, settings)
    if removed:
        log.info("audit entries past retention removed", count=removed)


async def _housekeeping(app: web.Application) -> AsyncIterator[None]:
    """Hourly: drop audit entries past retention, dead sessions, old login failures."""

    async def loop() -> None:
        while True:
            try:
                await _purge(app)
            except Exception:  # the next round retries; the site keeps serving meanwhile
                log.exception("housekeeping failed")
            await asyncio.sleep(HOUSEKEEPING_SECONDS)

    task = asyncio.create_task(loop(), name="admin-housekeeping")
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
