"""The live dashboard in a real browser: a call that ends moves the counters and the
chart without a reload (pushed by Server-Sent Events); transfer and SMS tiles say
「未設定」 until their tables have data; the page says 「データが古い」 while the
database is unreachable or the controller's heartbeat has stopped; the funnel shows a
call's path."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import replace
from datetime import UTC, datetime

import asyncpg
import pytest
from aiohttp import web
from playwright.async_api import Page, expect

from ivr.dev import postgres
from ivr.dev.postgres import free_port
from ivr.store.calls import write_one
from ivr_admin import create_app
from tests.e2e.tcpproxy import TcpProxy
from tests.unit.test_stats_rollup import DEFAULT_DIGEST, MAIN_PATH, beat, clean, record_call

from .conftest import admin_settings, login, make_account


@pytest.fixture(autouse=True)
async def clean_stats(db: asyncpg.Connection) -> None:
    """No calls, CEL, SMS or heartbeat left by other tests; a controller beating."""
    await clean(db)
    await beat(db)


async def _figure(page: Page, key: str) -> int:
    text = await page.locator(f'[data-k="{key}"]').first.inner_text()
    return int(text.replace(",", ""))


async def _chart_total(page: Page, canvas: str) -> int:
    value = await page.evaluate(
        """(id) => {
             const chart = window.Chart && window.Chart.getChart(document.getElementById(id));
             return chart ? chart.data.datasets[0].data.reduce((a, b) => a + b, 0) : -1;
           }""",
        canvas,
    )
    return int(value)


async def _wait_until(check: Callable[[], Awaitable[bool]], timeout: float) -> float:
    """Poll an async predicate; the seconds it took (fails after ``timeout``)."""
    started = time.monotonic()
    while True:
        if await check():
            return time.monotonic() - started
        if time.monotonic() - started > timeout:
            raise AssertionError(f"not within {timeout} s")
        await asyncio.sleep(0.05)


async def test_a_call_that_ends_moves_counters_and_chart_without_reload(
    page: Page, site: str, db: asyncpg.Connection
) -> None:
    """With the dashboard open, a call recorded by the recorder's SQL shows up in the
    tiles and in today's hourly chart within 2 s, with no reload; a repeated write of
    the same record changes nothing."""
    await make_account(db, "etsuran", "viewer")
    await login(page, site, "etsuran")
    await expect(page.get_by_role("heading", level=1)).to_have_text("ダッシュボード")
    await expect(page.locator("#tile-total")).to_have_text("0")
    await page.wait_for_function("window.Chart && Chart.getChart('chart-hourly')")
    assert await _chart_total(page, "chart-hourly") == 0
    await page.evaluate("window.__marker = 'no reload'")

    ongoing = await record_call(db, outcome=None, path=MAIN_PATH, keys=())
    await expect(page.locator("#tile-in-progress")).to_have_text("1", timeout=2000)
    sent = time.monotonic()
    final = await record_call(db, caller="09087654321")
    await expect(page.locator("#tile-total")).to_have_text("2", timeout=2000)
    await expect(page.locator("#tile-ivr-only")).to_have_text("1", timeout=2000)
    took = await _wait_until(lambda: _is(page, "chart-hourly", 2), 2.0)
    assert time.monotonic() - sent < 2.0, took
    assert await _figure(page, "inside") == 2
    assert await page.evaluate("window.__marker") == "no reload"

    await write_one(db, final)  # the spool replayed: the same snapshot again
    await write_one(db, replace(final, rev=0, ended_at=None, outcome=None))  # an older one
    await asyncio.sleep(0.5)
    assert await _figure(page, "total") == 2
    assert await _figure(page, "ivr_only") == 1
    assert await db.fetchval("SELECT sum(n) FROM stats_hourly") == 2
    await write_one(
        db, replace(ongoing, ended_at=ongoing.started_at, outcome="caller_hangup", rev=1)
    )
    await expect(page.locator("#tile-menu-hangup")).to_have_text("1", timeout=2000)
    await expect(page.locator("#tile-in-progress")).to_have_text("0")


async def _is(page: Page, canvas: str, total: int) -> bool:
    return await _chart_total(page, canvas) == total


async def test_transfer_and_sms_tiles_say_unset_until_they_have_data(
    page: Page, site: str, db: asyncpg.Connection
) -> None:
    """No transfer_attempts table and an empty SMS outbox: both tiles say 「未設定」, not
    zero; the first SMS request turns the SMS tile into counts by status, live."""
    await make_account(db, "etsuran", "viewer")
    await login(page, site, "etsuran")
    transfer, sms = page.locator("#tile-transfer"), page.locator("#tile-sms")
    await expect(transfer.locator('[data-k="transfer_unset"]')).to_have_text("未設定")
    await expect(sms.locator('[data-k="sms_unset"]')).to_have_text("未設定")
    await expect(sms.locator('[data-unset="sms"]')).to_be_hidden()

    call = await record_call(db, sms="queued")
    await db.execute(
        """INSERT INTO sms_outbox (id, call_id, node, template, number, body, parts,
                                   requested_at, status)
           VALUES ($1, $2, 'send_registration', 't', '09012345678', '本文', 1, now(), 'queued')""",
        uuid.uuid4(),
        call.id,
    )
    await expect(sms.locator('[data-k="sms_unset"]')).to_be_hidden(timeout=2000)
    await expect(sms.locator('[data-k="sms_queued"]')).to_have_text("1")
    await db.execute("UPDATE sms_outbox SET status = 'delivered'")
    await expect(sms.locator('[data-k="sms_delivered"]')).to_have_text("1", timeout=2000)
    await expect(sms.locator('[data-k="sms_queued"]')).to_have_text("0")
    await expect(transfer.locator('[data-k="transfer_unset"]')).to_have_text("未設定")


@pytest.fixture
async def db_proxy() -> AsyncIterator[TcpProxy]:
    """A cuttable proxy in front of PostgreSQL, for an admin site that loses its database."""
    admin = await postgres.admin_dsn()
    port = int(admin.rsplit("@", 1)[1].split("/", 1)[0].rsplit(":", 1)[1])
    proxy = TcpProxy(port)
    await proxy.start()
    yield proxy
    await proxy.close()


@pytest.fixture
async def proxied_site(database_dsn: str, db_proxy: TcpProxy) -> AsyncIterator[str]:
    """An admin site whose every database connection goes through ``db_proxy``."""
    host, rest = database_dsn.rsplit("@", 1)
    proxied = f"{host}@127.0.0.1:{db_proxy.port}/{rest.split('/', 1)[1]}"
    runner = web.AppRunner(create_app(admin_settings(), proxied), access_log=None)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    yield f"http://127.0.0.1:{port}"
    await runner.cleanup()


async def test_page_says_figures_are_stale_while_the_database_is_away(
    page: Page, proxied_site: str, db: asyncpg.Connection, db_proxy: TcpProxy
) -> None:
    """The site reaches PostgreSQL through a proxy; with the proxy refusing, the open
    dashboard keeps its last figures, dimmed, and says 「データが古い」 and since when;
    when the database is back the warning goes and new calls show up again."""
    site = proxied_site
    await make_account(db, "etsuran", "viewer")
    await login(page, site, "etsuran")
    await record_call(db)
    await beat(db)  # a controller beating now: only the database can make figures stale
    await expect(page.locator("#tile-total")).to_have_text("1", timeout=2000)
    stale = page.locator("#stale")
    await expect(stale).to_be_hidden()

    db_proxy.block(12)
    await expect(stale).to_be_visible(timeout=15000)  # waits, generous on a loaded machine
    await expect(stale).to_contain_text("データが古い")
    await expect(stale).to_contain_text("時点の数値です（データベースに接続できません）")
    await expect(page.locator("#figures")).to_have_class("figures is-stale")
    assert await _figure(page, "total") == 1  # the last figures, not zeros

    await record_call(db)  # recorded meanwhile (written directly, not through the proxy)
    # The controller beat on meanwhile (its heartbeat is over 15 s old by now, which the
    # page would rightly report as a controller away).
    await beat(db)
    await expect(stale).to_be_hidden(timeout=30000)  # 12 s blocked, then the pool's retry
    await expect(page.locator("#tile-total")).to_have_text("2", timeout=5000)


async def test_page_says_figures_are_stale_when_the_controller_is_away(
    page: Page, site: str, db: asyncpg.Connection
) -> None:
    """A heartbeat older than 15 s: the controller is shown as not answering, Asterisk
    and the trunk as unknown, and the figures as stale since the last heartbeat."""
    await beat(db, age=60)
    await make_account(db, "etsuran", "viewer")
    await login(page, site, "etsuran")
    await expect(page.locator("#stale")).to_contain_text("データが古い")
    await expect(page.locator("#stale")).to_contain_text("制御装置（IVR）からの応答がありません")
    await expect(page.locator('[data-k="controller"]')).to_have_text("応答なし")
    await expect(page.locator('[data-k="trunk"]')).to_have_text("不明")
    await beat(db)
    await expect(page.locator("#stale")).to_be_hidden(timeout=7000)
    await expect(page.locator('[data-k="controller"]')).to_have_text("正常")
    await expect(page.locator('[data-k="trunk"]')).to_have_text("接続中")


async def test_funnel_shows_each_nodes_callers_choices_timeouts_and_hangups(
    page: Page, site: str, db: asyncpg.Connection
) -> None:
    """Three calls of the shipped flow: the funnel counts callers per node (a node
    reached twice by one call counts once), each option with its label from the menu's
    prompt, time-outs and hang-ups, and the share completed without staff beside
    Kyoto's 33%."""
    await record_call(db, keys=(("main_menu", "1"),), path=(*MAIN_PATH, "guide_registration"))
    await record_call(
        db,
        keys=(("main_menu", "2"), ("guide_certificate", "2"), ("main_menu", "1")),
        path=(*MAIN_PATH, "guide_certificate", "main_menu", "guide_registration"),
        outcome="completed",
    )
    await record_call(db, keys=(), timeouts=("main_menu",), path=MAIN_PATH)
    await make_account(db, "etsuran", "viewer")
    await login(page, site, "etsuran")
    await page.goto(f"{site}/funnel?group=d{DEFAULT_DIGEST}")
    main = page.locator("#node-main_menu")
    await expect(main.locator('[data-metric="reached"]')).to_have_text("3")
    one = main.locator('li[data-key="1"]')
    await expect(one).to_contain_text("マイナ保険証の登録や使い方")
    await expect(one.locator('[data-metric="key"]')).to_have_text("2")
    await expect(main.locator('li[data-key="2"] [data-metric="key"]')).to_have_text("1")
    await expect(main.locator('[data-metric="timeout"]')).to_contain_text("1")
    await expect(main.locator('[data-metric="hangup"]')).to_contain_text("1")
    await expect(page.locator('#node-guide_registration [data-metric="reached"]')).to_have_text("2")
    # Rows follow the caller's way through the flow.
    ids = await page.locator("#funnel tbody tr").evaluate_all(
        "rows => rows.map(r => r.dataset.node)"
    )
    assert ids[:4] == list(MAIN_PATH)
    # 2 of 3 ended calls were completed by the IVR alone (one hung up before choosing).
    await expect(page.locator("#funnel-without-staff")).to_have_text("66.7%")
    await expect(page.locator(".compare")).to_contain_text(
        "京都市が公表している自動音声応答の値は 33.0%"
    )


async def test_events_reach_the_browser_within_a_second(
    page: Page, site: str, db: asyncpg.Connection
) -> None:
    """The time from the recorder's commit to the figure on screen, over ten calls:
    every one under a second (pushed, not polled)."""
    await make_account(db, "etsuran", "viewer")
    await login(page, site, "etsuran")
    await expect(page.locator("#tile-total")).to_have_text("0")
    delays = []
    for n in range(1, 11):
        started = time.monotonic()
        await record_call(db)
        await expect(page.locator("#tile-total")).to_have_text(str(n), timeout=2000)
        delays.append(time.monotonic() - started)
    assert max(delays) < 1.0, delays


async def test_dashboard_data_as_json_and_stream_headers(
    site: str, db: asyncpg.Connection, page: Page
) -> None:
    """The stream is text/event-stream and starts with the current snapshot."""
    await make_account(db, "etsuran", "viewer")
    await login(page, site, "etsuran")
    await record_call(db)
    await expect(page.locator("#tile-total")).to_have_text("1", timeout=2000)
    data = await page.evaluate("fetch('/api/dashboard').then(r => r.json())")
    assert data["view"]["total"] == "1" and data["stale"] is None
    first = await page.evaluate(
        """() => new Promise((resolve) => {
             const s = new EventSource('/api/dashboard/stream');
             s.addEventListener('snapshot', (e) => { s.close(); resolve(JSON.parse(e.data)); });
           })"""
    )
    assert first["view"]["total"] == "1"
    assert datetime.fromisoformat(first["at"]) <= datetime.now(UTC)
