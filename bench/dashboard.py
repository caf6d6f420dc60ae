"""Dashboard and reports at scale: 10 million calls, events for a million of them.

``python -m bench.dashboard [--calls N] [--with-events M] [--repeat R] [--reuse]``
(``make bench-dashboard``) seeds a database of its own (``ivr_bench_dashboard`` on the
configured, local or private PostgreSQL) with synthetic calls written by SQL
(``generate_series``: a year of calls, every hour of the day, office hours and not,
each class of outcome, SMS requests, calls only Asterisk saw), rebuilds the roll-ups
with the same SQL the triggers use (``stats_rebuild()``), then serves the admin site
on it and times what staff open: the dashboard's snapshot (what each live update
costs), the pages (dashboard, funnel, monthly report, call log with and without
filters) and the CSV export (first byte, and rows per second for a month). It prints
p50/p95/max per item and the seconds each seeding step took. Nothing is asserted; the
target is p95 under 100 ms. ``--reuse`` keeps an already seeded database (seeding 10
million calls takes minutes). Not part of ``make test``.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import re
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

import aiohttp
import asyncpg
from aiohttp import web

from ivr.config import AdminSettings, Settings
from ivr.dev import postgres
from ivr.dev.postgres import free_port
from ivr.log import TOKYO
from ivr.stats import queries
from ivr.store.migrate import migrate
from ivr_admin import create_app, passwords

DATABASE = "ivr_bench_dashboard"
PASSWORD = "bench-kumo-yama-umi-7"
TRIGGERED = ("calls", "call_events", "cel_calls", "sms_outbox")

# Seeding, one statement each, with the parameters named after it.
SEED = [
    (
        "calls",
        """
INSERT INTO calls (id, channel_id, caller, dialled, started_at, answered_at, ended_at, digits,
                   path, last_node, outcome, flow_version, rev, flow_digest, calendar_state)
SELECT gen_random_uuid(), 'b' || i,
       '090' || lpad((i % 100000000)::text, 8, '0'), '0501234567',
       t, t, t + ((20 + i % 200) || ' seconds')::interval,
       CASE WHEN i % 10 < 7 THEN ((i % 5) + 1)::text ELSE '' END,
       CASE WHEN i % 10 < 7
            THEN ARRAY['service_check', 'welcome', 'announcement_check', 'main_menu',
                       'guide_' || (i % 5 + 1)]
            ELSE ARRAY['service_check', 'welcome', 'announcement_check', 'main_menu'] END,
       CASE WHEN i % 10 < 7 THEN 'guide_' || (i % 5 + 1) ELSE 'main_menu' END,
       CASE WHEN i % 50 = 0 THEN 'transferred' WHEN i % 97 = 0 THEN 'error'
            WHEN i % 3 = 0 THEN 'completed' ELSE 'caller_hangup' END,
       NULL, 1, CASE WHEN i % 4 = 0 THEN 'bench0000000old1' ELSE 'bench0000000new1' END,
       CASE WHEN extract(isodow FROM t AT TIME ZONE 'Asia/Tokyo') < 6
                 AND extract(hour FROM t AT TIME ZONE 'Asia/Tokyo') BETWEEN 9 AND 16
            THEN 'open' ELSE 'closed' END
FROM generate_series(1, $1::bigint) AS i,
     LATERAL (SELECT $2::timestamptz - i * (interval '365 days' / $1::bigint) AS t) AS s
""",
        ("calls", "newest"),
    ),
    (
        "call_events",
        """
INSERT INTO call_events (call_id, seq, at, kind, node, detail)
SELECT c.id, e.seq, c.started_at, e.kind, e.node,
       CASE e.kind WHEN 'key' THEN jsonb_build_object('digit', substr(c.digits, 1, 1))
                   WHEN 'sms' THEN '{"outcome": "queued"}'::jsonb
                   WHEN 'transfer' THEN '{"outcome": "answered"}'::jsonb
                   ELSE '{}'::jsonb END
FROM (SELECT * FROM calls ORDER BY started_at DESC LIMIT $1::bigint) c
CROSS JOIN LATERAL (VALUES
    (1, 'enter', 'service_check'), (2, 'enter', 'welcome'), (3, 'enter', 'announcement_check'),
    (4, 'enter', 'main_menu'), (5, 'key', 'main_menu'), (6, 'enter', c.last_node),
    (7, 'timeout', c.last_node), (8, 'sms', c.last_node), (9, 'transfer', 'main_menu')
) AS e(seq, kind, node)
WHERE (e.kind <> 'key' OR c.digits <> '') AND (e.seq <> 6 OR c.digits <> '')
  AND (e.kind <> 'timeout' OR c.channel_id LIKE '%7')
  AND (e.kind <> 'sms' OR c.channel_id LIKE '%3')
  AND (e.kind <> 'transfer' OR c.outcome = 'transferred')
""",
        ("with_events",),
    ),
    (
        "cel_calls (calls only Asterisk saw)",
        """
INSERT INTO cel_calls (uniqueid, started_at, answered_at, ended_at, caller, dialled, apology,
                       calendar_state)
SELECT 'cel' || i, t, t, t + interval '35 seconds', '0312345678', '0501234567', i % 3 <> 0,
       'closed'
FROM generate_series(1, $1::bigint / 50) AS i,
     LATERAL (SELECT $2::timestamptz - i * (interval '365 days' / ($1::bigint / 50)) AS t) s
""",
        ("calls", "newest"),
    ),
    (
        "sms_outbox",
        """
INSERT INTO sms_outbox (id, call_id, node, template, number, body, parts, status,
                        requested_at)
SELECT gen_random_uuid(), gen_random_uuid(), 'send', 't', '09012345678', 'x', 1,
       (ARRAY['queued', 'sent', 'delivered', 'delivered', 'failed'])[1 + i % 5],
       $2::timestamptz - i * (interval '365 days' / ($1::bigint / 20))
FROM generate_series(1, $1::bigint / 20) AS i
""",
        ("calls", "newest"),
    ),
]


async def seed(dsn: str, calls: int, with_events: int) -> list[tuple[str, float]]:
    conn = await asyncpg.connect(dsn)
    took: list[tuple[str, float]] = []
    newest = datetime.now(TOKYO)
    try:
        await conn.execute("SET maintenance_work_mem = '512MB'; SET work_mem = '256MB'")
        for table in TRIGGERED:  # seeded in bulk, then rolled up once by stats_rebuild()
            await conn.execute(f"ALTER TABLE {table} DISABLE TRIGGER USER")
        values = {"calls": calls, "with_events": with_events, "newest": newest}
        for name, sql, params in SEED:
            started = time.monotonic()
            await conn.execute(sql, *(values[p] for p in params), timeout=None)
            took.append((name, time.monotonic() - started))
            print(f"  seeded {name}: {took[-1][1]:.0f} s", flush=True)
        for table in TRIGGERED:
            await conn.execute(f"ALTER TABLE {table} ENABLE TRIGGER USER")
        for name, sql in (
            ("stats_rebuild()", "SELECT stats_rebuild()"),
            ("stats_sms_rebuild()", "SELECT stats_sms_rebuild()"),
            ("ANALYZE", "ANALYZE"),
        ):
            started = time.monotonic()
            await conn.execute(sql, timeout=None)
            took.append((name, time.monotonic() - started))
            print(f"  {name}: {took[-1][1]:.0f} s", flush=True)
        await conn.execute(
            """INSERT INTO stats_heartbeat (source, at, started_at, detail)
               VALUES ('controller@bench', now(), now(), '{"asterisk": "ok", "trunk": "online"}')
               ON CONFLICT (source) DO UPDATE SET at = now()"""
        )
    finally:
        await conn.close()
    return took


def _ms(samples: list[float]) -> str:
    ordered = sorted(samples)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return (
        f"p50 {statistics.median(ordered) * 1000:7.1f} ms  p95 {p95 * 1000:7.1f} ms  "
        f"max {ordered[-1] * 1000:7.1f} ms"
    )


async def timed(
    repeat: int, action: Callable[[], Awaitable[object]], pause: float = 0.0
) -> list[float]:
    """``pause``: seconds left between samples, not timed."""
    await action()  # warm-up: plans and caches, as on a site that is in use
    samples = []
    for _ in range(repeat):
        await asyncio.sleep(pause)
        started = time.perf_counter()
        await action()
        samples.append(time.perf_counter() - started)
    return samples


async def _login(http: aiohttp.ClientSession, site: str) -> None:
    async with http.get(f"{site}/login") as r:
        found = re.search(r'name="csrf_token" value="([^"]+)"', await r.text())
    assert found
    form = {"csrf_token": found.group(1), "login_id": "bench", "password": PASSWORD}
    async with http.post(f"{site}/login", data=form) as r:
        if r.status != 200:
            raise RuntimeError(f"login failed: {r.status}")


async def measure(dsn: str, repeat: int) -> list[tuple[str, list[float]]]:
    conn = await asyncpg.connect(dsn)
    now = datetime.now(TOKYO)
    month = now.date().replace(day=1)
    last_month = (month - timedelta(days=1)).replace(day=1)
    results: list[tuple[str, list[float]]] = []
    try:
        await conn.execute(
            """INSERT INTO admin_accounts (login_id, role, password_hash, must_change_password)
               VALUES ('bench', 'viewer', $1, false) ON CONFLICT (login_id) DO NOTHING""",
            passwords.hash_now(PASSWORD),
        )
        results.append(
            (
                "snapshot (each live update)",
                await timed(repeat, lambda: queries.snapshot(conn, now)),
            )
        )
        # The write side: every write of a call's record (and every CEL summary)
        # recomputes that call's facts in its trigger, so this is paid per record.
        keys = [
            r["channel_id"]
            for r in await conn.fetch(
                """SELECT c.channel_id FROM calls c
                   WHERE c.id IN (SELECT call_id FROM call_events TABLESAMPLE SYSTEM (1)
                                  LIMIT $1)""",
                repeat + 1,
            )
        ]
        picks = itertools.cycle(keys)
        results.append(
            (
                "facts of one call (each record write)",
                await timed(
                    repeat,
                    lambda: conn.fetch("SELECT * FROM stats_compute(ARRAY[$1::text])", next(picks)),
                ),
            )
        )
    finally:
        await conn.close()

    settings = Settings(admin=AdminSettings(cookie_secure=False))
    runner = web.AppRunner(create_app(settings, dsn), access_log=None)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    site = f"http://127.0.0.1:{port}"
    try:
        async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
            await _login(http, site)

            def get(path: str) -> Callable[[], Awaitable[object]]:
                async def fetch() -> object:
                    async with http.get(site + path) as r:
                        if r.status != 200:
                            raise RuntimeError(f"{path}: {r.status}")
                        return await r.read()

                return fetch

            export = f"/reports/export.csv?from={last_month}&to={month - timedelta(days=1)}"

            async def first_byte() -> object:
                async with http.get(site + export) as r:
                    return await r.content.readany()

            pages = [
                ("GET / (dashboard page)", "/"),
                ("GET /api/dashboard", "/api/dashboard"),
                ("GET /funnel (version in service)", "/funnel?group=dbench0000000new1"),
                ("GET /funnel (older version)", "/funnel?group=dbench0000000old1"),
                ("GET /reports (this month)", f"/reports?month={month:%Y-%m}"),
                ("GET /reports (last month)", f"/reports?month={last_month:%Y-%m}"),
                ("GET /calls (newest 50)", "/calls"),
                ("GET /calls (a week, one outcome)", _week("outcome=menu_hangup", now)),
                ("GET /calls (a week, one option)", _week("option=main_menu:3", now)),
                ("GET /calls (a week, SMS)", _week("sms=yes", now)),
                ("GET /calls (a year, transferred)", "/calls?transfer=answered"),
            ]
            for name, path in pages:
                results.append((name, await timed(repeat, get(path))))
            # Each sample stops its download after the first bytes; the pause gives the
            # server the moment it takes to notice, so the next sample is not queued
            # behind the last one's rows (staff do not start twenty exports a second).
            results.append(
                ("CSV export, first byte (a month)", await timed(20, first_byte, pause=0.5))
            )

            async def whole_month() -> tuple[bytes, float]:
                started = time.perf_counter()
                async with http.get(site + export) as r:
                    body = await r.read()
                return body, time.perf_counter() - started

            # Staff keep working while someone downloads a month: the live figures and
            # the call log are timed while that export streams from the same process.
            download = asyncio.create_task(whole_month())
            await asyncio.sleep(1)
            for name, path in (
                ("GET /api/dashboard during an export", "/api/dashboard"),
                ("GET /calls (newest 50) during an export", "/calls"),
            ):
                results.append((name, await timed(min(repeat, 50), get(path))))
            body, seconds = await download
            rows = body.count(b"\r\n") - 1
            print(
                f"  CSV export of {last_month:%Y-%m}: {rows:,} rows in {seconds:.1f} s "
                f"({rows / seconds:,.0f} rows/s, {len(body) / 1e6:.0f} MB)",
                flush=True,
            )
    finally:
        await runner.cleanup()
    return results


def _week(query: str, now: datetime) -> str:
    end = now.date()
    return f"/calls?from={end - timedelta(days=6)}&to={end}&{query}"


async def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.dashboard", description=__doc__)
    parser.add_argument("--calls", type=int, default=10_000_000)
    parser.add_argument("--with-events", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=100)
    parser.add_argument("--reuse", action="store_true", help="keep a seeded database")
    args = parser.parse_args(argv)

    admin = await postgres.admin_dsn()
    dsn = postgres.with_database(admin, DATABASE)
    seeded = False
    if args.reuse:
        try:
            conn = await asyncpg.connect(dsn)
            seeded = bool(await conn.fetchval("SELECT count(*) FROM stats_call"))
            await conn.close()
        except (OSError, asyncpg.PostgresError):
            seeded = False
    print(f"database {DATABASE}: {'reused' if seeded else 'seeding'}", flush=True)
    took: list[tuple[str, float]] = []
    if not seeded:
        dsn = await postgres.create_database(admin, DATABASE, replace=True)
        conn = await asyncpg.connect(dsn)
        try:
            await migrate(conn)
        finally:
            await conn.close()
        took = await seed(dsn, args.calls, args.with_events)
    conn = await asyncpg.connect(dsn)
    try:
        sizes = await conn.fetch(
            """SELECT relname, n_live_tup::bigint AS rows,
                      pg_size_pretty(pg_total_relation_size(relid)) AS size
               FROM pg_stat_user_tables
               WHERE relname IN ('calls', 'call_events', 'cel_calls', 'sms_outbox',
                                 'stats_call', 'stats_hourly', 'stats_daily', 'stats_funnel')
               ORDER BY relname"""
        )
        version = await conn.fetchval("SHOW server_version")
    finally:
        await conn.close()
    results = await measure(dsn, args.repeat)

    print(f"\nPostgreSQL {version}; {args.repeat} requests each (after one warm-up)\n")
    for r in sizes:
        print(f"  {r['relname']:<13} {r['rows']:>12,} rows  {r['size']:>9}")
    if took:
        print()
        for name, seconds in took:
            print(f"  seeding {name:<36} {seconds:8.1f} s")
    print()
    for name, samples in results:
        print(f"  {name:<36} {_ms(samples)}")
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
