"""The dashboard with real calls through real Asterisk: a SIPp call moves the counters
and the chart of an open dashboard without a reload, the funnel shows its path, the day's
CSV holds it; a call placed while the controller is stopped is counted as an apology from
CEL; a call that ended while no controller ran is closed after start-up; and for the day
the dashboard's total is the number of inbound calls in Asterisk's own log.

The controller process does not run the statistics task yet (``ivr/app.py`` wires it);
this module runs it in the test process, stopped and started with the controller as if
it were part of it: CEL loading, the closer at start-up and the heartbeat.
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import signal
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import pytest
from aiohttp import web
from playwright.async_api import Browser, Page, async_playwright, expect

from ivr.ari.client import AriClient
from ivr.dev.call import prompt_ms
from ivr.dev.postgres import free_port
from ivr.dev.sipp import CallResult, Step, place_call
from ivr.dev.stack import Stack
from ivr.flow.model import Flow
from ivr.log import TOKYO
from ivr.prompts.library import PromptLibrary
from ivr.stats.cel import INBOUND_CONTEXT, TRUNK_PREFIX
from ivr.stats.heartbeat import ari_probe
from ivr.stats.service import StatsService
from ivr_admin import create_app
from tests.admin.conftest import CHROMIUM_ARGS, admin_settings, make_account
from tests.admin.conftest import PASSWORD as ADMIN_PASSWORD
from tests.e2e.helpers import DIALLED, wait_call

pytestmark = pytest.mark.e2e

CALLER = "09023456789"


@dataclass
class World:
    stack: Stack
    site: str
    cel_file: Path
    service: StatsService | None = None
    task: asyncio.Task[None] | None = None
    http: aiohttp.ClientSession | None = None

    async def start_stats(self) -> None:
        """What the controller does at start-up, then its long-lived stats task."""
        a = self.stack.asterisk
        http = self.http
        assert http is not None
        client = AriClient(http, a.ari_url, a.ari_user, a.ari_password)

        async def probe() -> dict[str, Any]:
            return await ari_probe(client, http)

        self.service = StatsService(
            self.stack.dsn,
            self.cel_file,
            probe=probe,
            source="controller@e2e",
            cel_interval=0.2,
            heartbeat_interval=1.0,
            housekeeping_interval=2.0,
        )
        await self.service.startup()
        self.task = asyncio.create_task(self.service.run())

    async def stop_stats(self) -> None:
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.task
        self.task = self.service = None


def inbound_in_cel(path: Path, day: str) -> set[str]:
    """Inbound trunk calls of ``day`` (Japan) in Asterisk's own log, read independently."""
    found = set()
    with path.open(newline="") as f:
        for row in csv.reader(f):
            if len(row) < 10 or row[0] != "CHAN_START" or row[2] != row[3]:
                continue
            at = datetime.fromtimestamp(float(row[1]), TOKYO)
            inbound = row[4].startswith(TRUNK_PREFIX) and row[5] == INBOUND_CONTEXT
            if inbound and at.date().isoformat() == day:
                found.add(row[2])
    return found


@pytest.fixture(scope="module")
async def world(stack: Stack, database_dsn: str) -> AsyncIterator[World]:
    """The stats task beside the controller, and the admin site on the same database.
    Records no Asterisk call produced (other tiers write calls by SQL) are removed, so
    that the day's figures are this Asterisk's calls only."""
    db = await asyncpg.connect(database_dsn)
    await db.execute("TRUNCATE cel_events, cel_calls, cel_position, stats_heartbeat")
    w = World(stack, "", stack.asterisk.host_dir / "log" / "cel-ivr.csv")
    w.http = aiohttp.ClientSession()
    await w.start_stats()
    await db.execute("DELETE FROM calls WHERE channel_id NOT IN (SELECT uniqueid FROM cel_calls)")
    await db.close()
    runner = web.AppRunner(create_app(admin_settings(), database_dsn), access_log=None)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    w.site = f"http://127.0.0.1:{port}"
    try:
        yield w
    finally:
        await runner.cleanup()
        await w.stop_stats()
        await w.http.close()


@pytest.fixture(scope="module")
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as p:
        b = await p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        yield b
        await b.close()


@pytest.fixture
async def page(browser: Browser, world: World, db: asyncpg.Connection) -> AsyncIterator[Page]:
    """A viewer's dashboard, open."""
    await db.execute("DELETE FROM admin_accounts WHERE login_id = 'e2eviewer'")
    await make_account(db, "e2eviewer", "viewer")
    ctx = await browser.new_context(locale="ja-JP", timezone_id="Asia/Tokyo")
    ctx.set_default_timeout(10_000)
    p = await ctx.new_page()
    await p.goto(f"{world.site}/login")
    await p.get_by_label("ログインID").fill("e2eviewer")
    await p.get_by_label("パスワード").fill(ADMIN_PASSWORD)
    await p.get_by_role("button", name="ログイン").click()
    await expect(p.get_by_role("heading", level=1)).to_have_text("ダッシュボード")
    yield p
    await ctx.close()


async def figure(page: Page, key: str) -> int:
    return int((await page.locator(f'[data-k="{key}"]').first.inner_text()).replace(",", ""))


async def chart_total(page: Page, canvas: str = "chart-hourly") -> int:
    return int(
        await page.evaluate(
            "(id) => Chart.getChart(document.getElementById(id)).data.datasets[0].data"
            ".reduce((a, b) => a + b, 0)",
            canvas,
        )
    )


async def totals_match_cel(page: Page, world: World, db: asyncpg.Connection) -> None:
    """Today's total on the dashboard is the number of inbound calls in the CEL file."""
    today = datetime.now(TOKYO).date()
    day = today.isoformat()
    expected = len(inbound_in_cel(world.cel_file, day))
    await expect(page.locator('[data-k="total"]').first).to_have_text(f"{expected:,}", timeout=5000)
    unseen = await db.fetchval(
        "SELECT count(*) FROM stats_call WHERE unseen AND hour::date = $1", today
    )
    seen = await db.fetchval(
        "SELECT count(*) FROM stats_call WHERE NOT unseen AND hour::date = $1", today
    )
    assert seen + unseen == expected


async def test_a_real_call_moves_the_open_dashboard_funnel_and_csv(
    world: World, page: Page, db: asyncpg.Connection, library: PromptLibrary, flow: Flow
) -> None:
    """A SIPp call that presses 1: the in-progress tile rises while it lasts; within 2 s
    of its end the completed count and today's chart move (no reload), the funnel shows
    its path, the day's CSV holds it, and the total matches Asterisk's own log."""
    await page.wait_for_function("window.Chart && Chart.getChart('chart-hourly')")
    await page.evaluate("window.__marker = 'no reload'")
    before_total, before_chart = await figure(page, "total"), await chart_total(page)
    before_ivr = await figure(page, "ivr_only")
    since = datetime.now(TOKYO)
    press_at = prompt_ms(library, flow, "welcome") + 2000
    call = asyncio.create_task(
        place_call(
            world.stack.asterisk.sip_port, DIALLED, CALLER, [Step(press_at, "1")], tail_ms=3000
        )
    )
    await expect(page.locator("#tile-in-progress")).to_have_text("1", timeout=10_000)
    result = await call
    assert result.ok, result.output
    ended = time.monotonic()
    await expect(page.locator("#tile-ivr-only")).to_have_text(str(before_ivr + 1), timeout=2000)
    await expect(page.locator("#tile-in-progress")).to_have_text("0", timeout=2000)
    while await chart_total(page) != before_chart + 1:
        assert time.monotonic() - ended < 2.0, "the chart did not move within 2 s"
        await asyncio.sleep(0.05)
    assert time.monotonic() - ended < 2.0
    assert await figure(page, "total") == before_total + 1
    assert await page.evaluate("window.__marker") == "no reload"

    row = await wait_call(db, since, caller=CALLER)
    group = f"v{row['flow_version']}" if row["flow_version"] else f"d{row['flow_digest']}"
    await page.goto(f"{world.site}/funnel?group={group}")
    main = page.locator("#node-main_menu")
    assert int(await main.locator('[data-metric="reached"]').inner_text()) >= 1
    assert int(await main.locator('li[data-key="1"] [data-metric="key"]').inner_text()) >= 1
    target = next(n for n in row["path"] if n.startswith("guide_"))
    assert int(await page.locator(f'#node-{target} [data-metric="reached"]').inner_text()) >= 1

    day = since.date().isoformat()
    csv_text = await page.evaluate(
        "(q) => fetch('/reports/export.csv?' + q).then(r => r.text())", f"from={day}&to={day}"
    )
    line = next(x for x in csv_text.split("\r\n") if str(row["id"]) in x)
    assert "*******6789" in line and CALLER not in csv_text
    assert "main_menu:1" in line

    await page.goto(world.site + "/")
    await totals_match_cel(page, world, db)


async def test_a_call_while_the_controller_is_stopped_counts_as_an_apology(
    world: World, page: Page, db: asyncpg.Connection
) -> None:
    """Controller (and its stats task) stopped: the dashboard says its figures are stale
    since the last heartbeat; a caller is held 20 s and apologised to; once the
    controller is back, the call is counted from CEL as an apology no controller saw."""
    before = await figure(page, "apology")
    unseen = await figure(page, "unseen")
    await world.stop_stats()
    await asyncio.to_thread(world.stack.stop_controller)
    call = asyncio.create_task(
        place_call(
            world.stack.asterisk.sip_port, DIALLED, "0312345678", [], end="await_bye", timeout=90
        )
    )
    stale = page.locator("#stale")
    await expect(stale).to_contain_text("データが古い", timeout=25_000)
    await expect(stale).to_contain_text("制御装置（IVR）からの応答がありません")
    result: CallResult = await call
    assert result.ok, result.output
    world.stack.start_controller()
    await world.stack.wait_log("ari_connected", timeout=60)
    await world.start_stats()
    await expect(stale).to_be_hidden(timeout=10_000)
    await expect(page.locator("#tile-apology")).to_have_text(str(before + 1), timeout=5000)
    await expect(page.locator('[data-k="unseen"]')).to_have_text(str(unseen + 1))
    await totals_match_cel(page, world, db)


async def test_a_call_that_ended_while_no_controller_ran_is_closed_after_startup(
    world: World, page: Page, db: asyncpg.Connection
) -> None:
    """The controller is killed mid-call and the caller hangs up meanwhile: the record
    stays open (in progress) until the next start-up closes it from CEL."""
    since = datetime.now(TOKYO)
    caller = "09034567890"
    call = asyncio.create_task(
        place_call(world.stack.asterisk.sip_port, DIALLED, caller, [Step(9000)], tail_ms=500)
    )
    await wait_call(db, since, ended=False, caller=caller)
    await expect(page.locator("#tile-in-progress")).to_have_text("1", timeout=5000)
    await world.stop_stats()
    await asyncio.to_thread(world.stack.stop_controller, signal.SIGKILL)
    result = await call
    assert result.ok, result.output
    row = await wait_call(db, since, ended=False, caller=caller)
    assert row["ended_at"] is None  # nobody was there to close it

    world.stack.start_controller()
    await world.stack.wait_log("ari_connected", timeout=60)
    await world.start_stats()
    closed = await wait_call(db, since, caller=caller, timeout=10)
    assert closed["outcome"] == "caller_hangup"
    assert "closed from Asterisk's CEL" in closed["record_note"]
    await expect(page.locator("#tile-in-progress")).to_have_text("0", timeout=5000)
    cel_end = await db.fetchval(
        "SELECT ended_at FROM cel_calls WHERE uniqueid = $1", closed["channel_id"]
    )
    assert closed["ended_at"] == cel_end
    await totals_match_cel(page, world, db)
