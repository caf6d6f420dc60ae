"""The admin site's health check and Prometheus metrics, through the real site."""

from __future__ import annotations

import re

import aiohttp
import asyncpg
from aiohttp import web
from prometheus_client.parser import text_string_to_metric_families

from ivr.dev.postgres import free_port
from ivr.metrics.clock import clock_status
from ivr_admin import create_app

from .conftest import admin_settings, make_account


def _samples(text: str) -> dict[str, float]:
    return {
        s.name + "".join(f"/{v}" for v in s.labels.values()): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


async def _failed_login(http: aiohttp.ClientSession, site: str, login_id: str) -> int:
    async with http.get(f"{site}/login") as r:
        found = re.search(r'name="csrf_token" value="([^"]+)"', await r.text())
    assert found
    form = {"csrf_token": found.group(1), "login_id": login_id, "password": "wrong-password-1"}
    async with http.post(f"{site}/login", data=form, allow_redirects=False) as r:
        return r.status


async def test_healthz_reports_database_and_clock(site: str, http: aiohttp.ClientSession) -> None:
    """/healthz answers ready with the database and names the clock's real state."""
    async with http.get(f"{site}/healthz") as r:
        body = await r.json()
        assert r.status == 200
    assert body["ready"] is True and body["checks"]["database"]["status"] == "ok"
    assert body["checks"]["clock"]["status"] == clock_status().state
    assert body["status"] == ("ok" if clock_status().state == "ok" else "degraded")


async def test_healthz_flips_to_unready_when_the_database_goes(
    fresh_dsn: str, pg_admin_dsn: str, http: aiohttp.ClientSession
) -> None:
    """A running site answers 200, then 503 naming the database once its database refuses
    connections, then 200 again when it is back."""
    name = fresh_dsn.rsplit("/", 1)[1]
    runner = web.AppRunner(create_app(admin_settings(), fresh_dsn), access_log=None)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    admin = await asyncpg.connect(pg_admin_dsn)
    statuses = []
    try:
        for allow in (True, False, True):
            await admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS {allow}')
            if not allow:
                await admin.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1",
                    name,
                )
            async with http.get(f"http://127.0.0.1:{port}/healthz") as r:
                body = await r.json()
                statuses.append((r.status, body["checks"]["database"]["status"]))
    finally:
        await admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
        await admin.close()
        await runner.cleanup()
    assert statuses == [(200, "ok"), (503, "down"), (200, "ok")]


async def test_metrics_count_login_failures_for_loopback_only(
    site: str, http: aiohttp.ClientSession, db: asyncpg.Connection
) -> None:
    """A failed login shows in /metrics; the same page through the proxy is refused."""
    await make_account(db, "tanaka")
    assert await _failed_login(http, site, "tanaka") == 401
    async with http.get(f"{site}/metrics") as r:
        assert r.status == 200
        got = _samples(await r.text())
    assert got["ivr_admin_login_failures_last_hour"] >= 1.0
    assert got["ivr_admin_lockouts_last_hour"] == 0.0
    assert got["ivr_admin_database_up"] == 1.0
    assert got[f"ivr_clock_sync/{clock_status().state}"] == 1.0
    # 127.0.0.1 is the declared proxy: the visitor is the forwarded address, not loopback.
    async with http.get(f"{site}/metrics", headers={"X-Forwarded-For": "10.1.2.3"}) as r:
        assert r.status == 403
        assert "ivr_admin" not in await r.text()
