"""The calendar pages in Chromium: save and see, refuse bad input, refuse a stale save,
keep viewers out, and preview what a caller gets at a moment."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import date, datetime

import aiohttp
import asyncpg
import pytest
from playwright.async_api import BrowserContext, Page, expect

from ivr.calendar import store
from ivr.calendar.model import Calendar, DateOverride
from ivr.log import TOKYO
from ivr.store import flows

from .conftest import PASSWORD, login, make_account

NewContext = Callable[[], Awaitable[BrowserContext]]
TINY_FLOW = """\
version: 1
name: 小さなフロー
start: gate
prompts:
  open: {text: 受付中です}
  holiday: {text: 休業日です}
nodes:
  gate: {type: branch, by: calendar, cases: {holiday: bye}, default: hello}
  hello: {type: hangup, prompt: open}
  bye: {type: hangup, prompt: holiday}
"""
OPEN_WEDNESDAY = "2027-06-09"  # an ordinary weekday, no national holiday
CLOSED_THURSDAY = "2027-06-10"


@pytest.fixture(autouse=True)
async def clean_calendar(db: asyncpg.Connection) -> AsyncIterator[None]:
    """Every test starts from the shipped calendar and leaves the calendar so."""
    await db.execute("TRUNCATE calendar_versions RESTART IDENTITY")
    yield
    await db.execute("TRUNCATE calendar_versions RESTART IDENTITY")


def today() -> date:
    return datetime.now(TOKYO).date()


async def versions(db: asyncpg.Connection) -> list[asyncpg.Record]:
    return await db.fetch("SELECT id, body::text AS body, created_by FROM calendar_versions")


async def test_operator_closes_today_and_the_month_view_marks_it(
    site: str, page: Page, db: asyncpg.Connection, new_context: NewContext
) -> None:
    """An operator sets today closed; the month view marks it, a version and an audit entry
    with before/after exist, and the audit page names the action in Japanese."""
    await make_account(db, "tanaka", "operator")
    await make_account(db, "admin")
    await login(page, site, "tanaka")
    await (
        page.get_by_role("navigation", name="メインメニュー")
        .get_by_role("link", name="カレンダー")
        .click()
    )
    await page.get_by_role("link", name="受付時間・休業日を変更").click()
    await page.get_by_label("日付ごとの設定1行目 日付", exact=True).fill(today().isoformat())
    await expect(page.get_by_label("日付ごとの設定1行目 終日休業")).to_be_checked()
    await page.get_by_label("日付ごとの設定1行目 名称").fill("システム点検")
    await page.get_by_label("変更内容のメモ").fill("今日を臨時休業に")
    await page.get_by_role("button", name="保存する").click()

    await expect(page).to_have_url(re.compile(r"/calendar\?done=saved$"))
    await expect(page.get_by_role("status")).to_have_text("保存しました。")
    cell = page.locator(f'td[data-date="{today().isoformat()}"]')
    await expect(cell).to_have_attribute("data-status", "closure")
    await expect(cell).to_contain_text("休業")
    await expect(cell).to_contain_text("システム点検")
    await expect(page.locator("#calendar-version")).to_have_text("第1版")

    (row,) = await versions(db)
    saved = Calendar.from_dict(json.loads(row["body"]))
    assert row["created_by"] == "tanaka"
    assert saved.overrides == (DateOverride(today(), (), "システム点検"),)
    assert saved.weekly == Calendar().weekly  # the untouched settings are saved as they were
    entry = await db.fetchrow(
        "SELECT actor, target, before, after, host(ip) AS ip FROM admin_audit"
        " WHERE action = 'calendar.publish'"
    )
    before, after = json.loads(entry["before"]), json.loads(entry["after"])
    assert (entry["actor"], entry["target"], entry["ip"]) == ("tanaka", "calendar:1", "127.0.0.1")
    assert (before["version"], before["overrides"]) == (None, [])
    assert after["version"] == 1
    assert after["overrides"] == [
        {"date": today().isoformat(), "windows": [], "label": "システム点検"}
    ]

    admin = await _page(new_context)
    await login(admin, site, "admin")
    await admin.goto(f"{site}/audit")
    audit_row = admin.get_by_role("row", name=re.compile("カレンダーの変更"))
    await expect(audit_row).to_contain_text("tanaka")
    await expect(audit_row).to_contain_text("calendar:1")


async def _page(new_context: NewContext) -> Page:
    ctx = await new_context()
    return await ctx.new_page()


async def test_bad_input_is_explained_beside_each_field_and_nothing_is_saved(
    site: str, page: Page, db: asyncpg.Connection
) -> None:
    """Overlapping windows, an end before its start, a window past midnight, a time that is
    not one, a range already over, an announcement without text and a service end before
    its start are each explained next to the field, all at once; the values typed stay;
    nothing is saved or audited."""
    await make_account(db, "tanaka", "operator")
    await login(page, site, "tanaka")
    await page.goto(f"{site}/calendar/edit")
    await page.get_by_role("button", name="時間帯を追加").first.click()  # Monday, by script
    await expect(page.get_by_label("月曜日 時間帯3 開始", exact=True)).to_be_visible()
    await page.get_by_label("月曜日 時間帯2 開始", exact=True).fill("12:00")
    await page.get_by_label("月曜日 時間帯2 終了", exact=True).fill("13:00")
    await page.get_by_label("火曜日 時間帯1 終了", exact=True).fill("08:00")
    await page.get_by_label("水曜日 時間帯1 終了", exact=True).fill("24:30")
    await page.get_by_label("木曜日 時間帯1 開始", exact=True).fill("8時")
    await page.get_by_label("臨時休業1行目 名称").fill("旧庁舎の閉鎖")
    await page.get_by_label("臨時休業1行目 開始日").fill("2020-01-06")
    await page.get_by_label("臨時休業1行目 終了日").fill("2020-01-07")
    await page.get_by_label("臨時案内1件目 名称").fill("システム停止のお知らせ")
    await page.get_by_label("臨時案内1件目 開始日時").fill("2030-01-01T09:00")
    await page.get_by_label("開始日時", exact=True).first.fill("2030-04-01T00:00")
    await page.get_by_label("終了日時", exact=True).first.fill("2030-03-01T00:00")
    await page.get_by_role("button", name="保存する").click()

    await expect(page.locator("#problems")).to_contain_text("保存されていません")
    expected = {
        "f-weekly-mon-1-start": "8:45〜17:15の時間帯と重なっています",
        "f-weekly-tue-0-end": "終了時刻は開始時刻より後にしてください",
        "f-weekly-wed-0-end": "日をまたぐことはできません",
        "f-weekly-thu-0-start": "時刻は「08:45」の形で入力してください",
        "f-closures-0-end": "この期間はすでに終了しています",
        "f-announcements-0-text": "案内の文章を入力してください",
        "f-service-end": "受付期間の終了日時は開始日時より後にしてください",
    }
    for field, message in expected.items():
        await expect(page.locator(f"#{field}-error")).to_contain_text(message)
        await expect(page.locator(f"#{field}")).to_have_attribute("aria-invalid", "true")
    await expect(page.locator("#problems li")).to_have_count(len(expected))
    await expect(page.locator("#problems")).to_contain_text("月曜日の時間帯2（開始）")
    await expect(page.get_by_label("月曜日 時間帯2 開始", exact=True)).to_have_value("12:00")
    await expect(page.get_by_label("臨時案内1件目 名称")).to_have_value("システム停止のお知らせ")
    assert await versions(db) == []
    assert await db.fetchval("SELECT count(*) FROM admin_audit WHERE action LIKE 'calendar.%'") == 0


async def test_a_save_from_an_older_version_is_refused_with_the_current_values(
    site: str, db: asyncpg.Connection, new_context: NewContext
) -> None:
    """Two staff load the editor; the first save wins, the second is refused with
    「他の職員が先に変更しました」 and the values now in service, and saving again then works."""
    await make_account(db, "sato", "operator")
    await make_account(db, "suzuki", "operator")
    first, second = await _page(new_context), await _page(new_context)
    await login(first, site, "sato")
    await login(second, site, "suzuki")
    await first.goto(f"{site}/calendar/edit")
    await second.goto(f"{site}/calendar/edit")

    await first.get_by_label("日付ごとの設定1行目 日付", exact=True).fill(CLOSED_THURSDAY)
    await first.get_by_role("button", name="保存する").click()
    await expect(first.get_by_role("status")).to_have_text("保存しました。")

    await second.get_by_label("土曜日 時間帯1 開始", exact=True).fill("09:00")
    await second.get_by_label("土曜日 時間帯1 終了", exact=True).fill("12:00")
    await second.get_by_role("button", name="保存する").click()
    await expect(second.locator("#conflict")).to_contain_text("他の職員が先に変更しました")
    await expect(second.locator("#conflict")).to_contain_text("sato")
    await expect(second.get_by_label("日付ごとの設定1行目 日付", exact=True)).to_have_value(
        CLOSED_THURSDAY
    )
    await expect(second.get_by_label("土曜日 時間帯1 開始", exact=True)).to_have_value("")
    assert [r["created_by"] for r in await versions(db)] == ["sato"]

    await second.get_by_label("土曜日 時間帯1 開始", exact=True).fill("09:00")
    await second.get_by_label("土曜日 時間帯1 終了", exact=True).fill("12:00")
    await second.get_by_role("button", name="保存する").click()
    await expect(second.get_by_role("status")).to_have_text("保存しました。")
    rows = await versions(db)
    assert [r["created_by"] for r in rows] == ["sato", "suzuki"]
    latest = Calendar.from_dict(json.loads(rows[-1]["body"]))
    assert [o.day.isoformat() for o in latest.overrides] == [CLOSED_THURSDAY]  # both changes
    assert [w.to_dict() for w in latest.weekly.days[5]] == [{"start": "09:00", "end": "12:00"}]


async def test_viewer_can_neither_open_nor_save_the_calendar(
    site: str, http: aiohttp.ClientSession, db: asyncpg.Connection
) -> None:
    """A viewer gets 403 on every calendar page and on a well-formed save; nothing is saved."""
    await make_account(db, "viewer1", "viewer")
    async with http.get(f"{site}/login") as r:
        token = re.search(r'name="csrf_token" value="([^"]+)"', await r.text())
    assert token is not None
    form = {"csrf_token": token[1], "login_id": "viewer1", "password": PASSWORD}
    async with http.post(f"{site}/login", data=form) as r:
        csrf = re.search(r'name="csrf-token" content="([^"]+)"', await r.text())
    assert csrf is not None
    for path in ("/calendar", "/calendar/edit", f"/calendar/preview?date={OPEN_WEDNESDAY}"):
        async with http.get(site + path, allow_redirects=False) as r:
            assert r.status == 403, path
    save = {
        "csrf_token": csrf[1],
        "version": "",
        "weekly.mon[0].start": "08:45",
        "weekly.mon[0].end": "17:15",
        "overrides[0].date": today().isoformat(),
        "overrides[0].mode": "closed",
    }
    async with http.post(f"{site}/calendar/edit", data=save, allow_redirects=False) as r:
        assert r.status == 403
    assert await versions(db) == []


async def test_preview_follows_the_published_flow_for_a_moment_and_keys(
    site: str, page: Page, db: asyncpg.Connection
) -> None:
    """「この日時に電話すると」: 0 at 10:00 on a weekday is transferred; on a day set closed
    the caller hears the closed guidance with the hours of that moment; a published flow
    replaces the shipped one."""
    await db.execute("UPDATE flow_versions SET status = 'retired' WHERE status = 'published'")
    now = datetime.now(TOKYO)
    closed = Calendar(overrides=(DateOverride(date.fromisoformat(CLOSED_THURSDAY)),))
    await store.publish(db, closed, "setup", None, now)
    await make_account(db, "tanaka", "operator")
    await login(page, site, "tanaka")
    await page.goto(f"{site}/calendar")
    await page.get_by_role("link", name="この日時に電話すると").click()

    await page.get_by_label("日付").fill(OPEN_WEDNESDAY)
    await page.get_by_label("時刻").fill("10:00")
    await page.get_by_label("携帯電話").check()
    await page.get_by_label("押すボタン（任意）").fill("0")
    await page.get_by_role("button", name="この日時で確認する").click()
    await expect(page.locator("#preview-state")).to_have_attribute("data-state", "open")
    menu = page.locator('#preview-path > li[data-node="main_menu"]')
    await expect(menu).to_contain_text("押したボタン: 0")
    transfer = page.locator('#preview-path > li[data-node="transfer_staff"]')
    await expect(transfer).to_contain_text("担当の職員におつなぎします")
    await expect(transfer).to_contain_text("プレビューのため転送しません")
    await expect(page.locator("#preview-ending")).to_have_attribute("data-end", "transferred")

    await page.get_by_label("日付").fill(CLOSED_THURSDAY)
    await page.get_by_role("button", name="この日時で確認する").click()
    await expect(page.locator("#preview-state")).to_have_attribute("data-state", "holiday")
    await expect(page.locator('#preview-path > li[data-node="transfer_staff"]')).to_have_count(0)
    guidance = page.locator('#preview-path > li[data-node="office_closed"]')
    await expect(guidance).to_contain_text("平日の午前8時45分から午後5時15分まで")
    await expect(guidance.locator(".field-error")).to_have_count(0)  # every variable had a value
    await expect(page.locator("#preview-ending")).to_have_attribute("data-end", "hangup")
    await expect(page).to_have_url(re.compile(rf"date={CLOSED_THURSDAY}.*keys=0"))

    version = await flows.save_draft(db, TINY_FLOW, "setup")
    await flows.publish(db, version, "setup")
    try:
        await page.reload()
        await expect(
            page.get_by_text(f"公開中のフロー（版{version}「小さなフロー」）")
        ).to_be_visible()
        await expect(page.locator("#preview-path > li")).to_have_count(2)
        await expect(page.locator('#preview-path > li[data-node="bye"]')).to_contain_text(
            "休業日です"
        )
    finally:
        await db.execute("UPDATE flow_versions SET status = 'retired' WHERE id = $1", version)


async def test_month_view_names_holidays_and_closures_and_moves_between_months(
    site: str, page: Page, db: asyncpg.Connection
) -> None:
    """January shows 年末年始 over 元日, 成人の日 as a holiday and weekends closed; the
    arrows move a month and the day links open the preview for that day."""
    await make_account(db, "tanaka", "operator")
    await login(page, site, "tanaka")
    await page.goto(f"{site}/calendar?month=2026-12")
    await page.get_by_role("link", name="次の月").click()
    await expect(page.get_by_role("heading", name="2027年1月")).to_be_visible()
    new_year = page.locator('td[data-date="2027-01-01"]')
    await expect(new_year).to_have_attribute("data-status", "closure")
    await expect(new_year).to_contain_text("元日")
    await expect(new_year).to_contain_text("年末年始")
    coming_of_age = page.locator('td[data-date="2027-01-11"]')
    await expect(coming_of_age).to_have_attribute("data-status", "holiday")
    await expect(coming_of_age).to_contain_text("成人の日")
    await expect(page.locator('td[data-date="2027-01-09"]')).to_contain_text("閉庁")
    weekday = page.locator('td[data-date="2027-01-12"]')
    await expect(weekday).to_contain_text("開庁")
    await expect(weekday).to_contain_text("8:45〜17:15")
    await weekday.get_by_role("link").click()
    await expect(page.locator("#preview-state")).to_have_attribute("data-state", "open")
