"""Reading the figures: the dashboard's snapshot (tiles, charts, health, staleness), the
funnel, the monthly report, the call log's filters and pages; the flow as staff read
it (option labels from the prompt, the caller's order); the ARI probe."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import date, datetime, timedelta

import aiohttp
import asyncpg
import pytest
from aiohttp import web

from ivr.ari.client import AriClient
from ivr.dev.postgres import free_port
from ivr.flow.loader import load_default_flow
from ivr.log import TOKYO
from ivr.stats import calllog, flowinfo, queries
from ivr.stats.calllog import CallFilter
from ivr.stats.heartbeat import ari_probe
from tests.unit.test_stats_rollup import (
    DEFAULT_DIGEST,
    MAIN_PATH,
    beat,
    clean,
    inbound_cel,
    load_cel,
    record_call,
)

NOON = datetime(2026, 6, 10, 12, 0, tzinfo=TOKYO)  # a Wednesday


@pytest.fixture(autouse=True)
async def _clean(db: asyncpg.Connection) -> None:
    await clean(db)


async def test_snapshot_tiles_charts_and_health(db: asyncpg.Connection) -> None:
    """Today's calls by class and office hours, in progress, per hour, this month by day,
    this year by month, the first menu's options with their labels; fresh health."""
    await beat(db)
    await record_call(db, started=NOON, keys=(("main_menu", "1"),))
    await record_call(db, started=NOON + timedelta(hours=7), calendar="closed", keys=())
    await record_call(db, started=NOON, outcome=None, keys=(), path=MAIN_PATH)
    await record_call(db, started=NOON - timedelta(days=2))
    await record_call(db, started=NOON - timedelta(days=40))
    await load_cel(db, inbound_cel("1796300000.1", NOON, 30, apology=True))
    flow = load_default_flow()
    menu = flow.nodes["main_menu"]
    assert isinstance(menu, flowinfo.MenuNode)
    s = await queries.snapshot(
        db,
        NOON + timedelta(hours=8),
        menu_node="main_menu",
        option_labels=flowinfo.option_labels(flow, menu),
    )
    c = s.today_counts
    assert c.total == 4 and s.in_progress == 1
    assert c.classes["ivr_only"] == 1 and c.classes["menu_hangup"] == 1
    assert c.classes["apology"] == 1 and c.unseen == 1 and c.classes["in_progress"] == 1
    assert c.calendar == {"inside": 2, "outside": 1, "": 1}
    assert c.without_staff_pct == pytest.approx(33.3)
    assert s.hourly.values[12] == 3 and s.hourly.values[19] == 1 and sum(s.hourly.values) == 4
    assert s.daily.values[9] == 4 and s.daily.values[7] == 1 and len(s.daily.values) == 30
    assert s.monthly.values[5] == 5 and s.monthly.values[4] == 1
    assert s.options.labels == ["1: マイナ保険証の登録や使い方"] and s.options.values == [1]
    assert s.transfer is None and s.sms is None  # no tables with data: 未設定
    assert s.health.controller == "ok" and s.stale_since is None


async def test_stale_when_the_heartbeat_is_old(db: asyncpg.Connection) -> None:
    """A heartbeat older than 15 s: stale since it, the controller's view unknown."""
    await beat(db, age=30)
    s = await queries.snapshot(db, datetime.now(TOKYO))
    assert s.health.controller == "stale" and s.health.trunk == "unknown"
    assert s.stale_reason == "controller" and s.stale_since == s.health.controller_at
    await db.execute("TRUNCATE stats_heartbeat")
    s = await queries.snapshot(db, datetime.now(TOKYO))
    assert s.health.controller == "unknown" and s.stale_since is None


async def test_call_log_filters_and_pages(db: asyncpg.Connection) -> None:
    """Filters by day range, class, option, transfer and SMS; newest first, paged by
    keyset without repeats or gaps."""
    for i in range(7):
        await record_call(db, started=NOON + timedelta(minutes=i), keys=(("main_menu", "1"),))
    await record_call(db, started=NOON, keys=(("main_menu", "2"),), sms="queued")
    await record_call(db, started=NOON, transfer="answered", outcome="transferred")
    await record_call(db, started=NOON - timedelta(days=1), keys=())
    day = NOON.date()

    async def log(**kw: object) -> list[calllog.LogRow]:
        return await calllog.call_log(db, CallFilter(**kw), limit=100)  # type: ignore[arg-type]

    assert len(await log()) == 10
    assert len(await log(start=day, end=day)) == 9
    assert len(await log(end=day - timedelta(days=1))) == 1
    assert len(await log(option="main_menu:1")) == 8
    assert len(await log(sms="yes")) == 1 and len(await log(sms="no")) == 9
    assert [r.klass for r in await log(transfer="answered")] == ["transferred"]
    assert len(await log(transfer="none")) == 9
    assert [r.klass for r in await log(klass="menu_hangup")] == ["menu_hangup"]

    seen: list[str] = []
    before = None
    while True:
        page = await calllog.call_log(db, CallFilter(), before=before, limit=3)
        if not page:
            break
        seen += [r.channel_id for r in page]
        before = (page[-1].started_at, page[-1].channel_id)
    assert len(seen) == len(set(seen)) == 10
    starts = [r.started_at for r in await log()]
    assert starts == sorted(starts, reverse=True)


async def test_monthly_report_and_funnel(db: asyncpg.Connection) -> None:
    """The month's days (every day listed), totals, SMS by status; the funnel per node."""
    june = date(2026, 6, 1)
    await record_call(db, started=NOON, keys=(("main_menu", "3"),), timeouts=("main_menu",))
    await record_call(db, started=NOON + timedelta(days=1), keys=(), calendar="closed")
    await record_call(db, started=NOON + timedelta(days=30))  # July
    report = await queries.monthly(db, june)
    assert len(report.days) == 30 and report.total.total == 2
    assert dict(report.days)[date(2026, 6, 10)].total == 1
    assert report.total.calendar["outside"] == 1 and report.sms is None
    counts = await queries.funnel(db, f"d{DEFAULT_DIGEST}", june, date(2026, 7, 1))
    assert counts["main_menu"].reached == 2 and counts["main_menu"].keys == {"3": 1}
    assert counts["main_menu"].timeouts == 1 and counts["guide_registration"].hangups == 2
    groups = await queries.flow_groups(db)
    assert [(g.key, g.calls) for g in groups] == [(f"d{DEFAULT_DIGEST}", 3)]


def test_flow_as_staff_read_it() -> None:
    """The shipped flow: the greeting's nodes first, then the menu's; option labels
    taken from the menu prompt; the first menu found without pressing a key."""
    flow = load_default_flow()
    info = flowinfo.describe(flow)
    ids = [n.id for n in info.nodes]
    assert ids[:4] == list(MAIN_PATH) and set(ids) == set(flow.nodes)
    assert info.main_menu == "main_menu"
    menu = next(n for n in info.nodes if n.id == "main_menu")
    assert [(o.key, o.label) for o in menu.options][:2] == [
        ("1", "マイナ保険証の登録や使い方"),
        ("2", "資格確認書や、資格情報のお知らせ"),
    ]
    assert menu.options[-1].key == "0" and menu.options[-1].label == "職員とのお話"


async def test_flow_found_by_version_or_digest(db: asyncpg.Connection) -> None:
    """A group's flow: by version number, or by the digest of the shipped flow."""
    found = await flowinfo.flow_of_group(db, f"d{DEFAULT_DIGEST}")
    assert found is not None and found.start == "service_check"
    assert await flowinfo.flow_of_group(db, "d0000000000000000") is None
    assert await flowinfo.flow_of_group(db, "v999999") is None


@pytest.fixture
async def fake_ari() -> AsyncIterator[str]:
    """ARI's /asterisk/info and /endpoints/PJSIP/trunk, trunk reachable."""

    async def info(_: web.Request) -> web.Response:
        return web.json_response({"system": {"version": "22.10.1"}})

    async def trunk(_: web.Request) -> web.Response:
        return web.json_response({"resource": "trunk", "state": "online", "channel_ids": ["1"]})

    app = web.Application()
    app.router.add_get("/ari/asterisk/info", info)
    app.router.add_get("/ari/endpoints/PJSIP/trunk", trunk)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    yield f"http://127.0.0.1:{port}"
    await runner.cleanup()


async def test_ari_probe(fake_ari: str) -> None:
    """Asterisk answering and the trunk online; with Asterisk away, both unknown/down."""
    async with aiohttp.ClientSession() as http:
        client = AriClient(http, fake_ari, "u", "p")
        assert await ari_probe(client, http) == {
            "asterisk": "ok",
            "asterisk_version": "22.10.1",
            "trunk": "online",
            "trunk_channels": 1,
        }
        gone = AriClient(http, f"http://127.0.0.1:{free_port()}", "u", "p", timeout=1)
        down = await ari_probe(gone, http)
        assert down["asterisk"] == "down" and down["trunk"] == "unknown"
