"""The call log, the monthly report and the CSV export in a real browser: numbers masked
below administrator, an administrator's whole-number view and export audit-logged;
filters; the report's totals for seeded data and its A4 print; a CSV that Excel reads
(UTF-8 with BOM, Japanese headers, CRLF), streamed, with clear Japanese refusals of a
malformed or reversed range."""

from __future__ import annotations

import csv
import io
import re
from datetime import datetime, timedelta

import aiohttp
import asyncpg
import pytest
from playwright.async_api import Page, expect

from ivr.log import TOKYO
from ivr.stats.calendar_fill import fill_calendar_states
from tests.unit.test_stats_rollup import (
    MAIN_PATH,
    beat,
    clean,
    inbound_cel,
    load_cel,
    record_call,
)

from .conftest import PASSWORD, login, make_account

JUNE_3 = datetime(2025, 6, 3, 10, 0, tzinfo=TOKYO)  # a Tuesday


@pytest.fixture(autouse=True)
async def clean_stats(db: asyncpg.Connection) -> None:
    """No calls, CEL, SMS or heartbeat left by other tests."""
    await clean(db)
    await beat(db)


async def _session(http: aiohttp.ClientSession, site: str, login_id: str) -> None:
    """Log in with a plain HTTP client."""
    async with http.get(f"{site}/login") as r:
        found = re.search(r'name="csrf_token" value="([^"]+)"', await r.text())
    assert found
    form = {"csrf_token": found.group(1), "login_id": login_id, "password": PASSWORD}
    async with http.post(f"{site}/login", data=form) as r:
        assert r.status == 200, await r.text()


async def test_viewer_sees_last_four_digits_and_cannot_see_whole_numbers(
    page: Page, site: str, db: asyncpg.Connection
) -> None:
    """A viewer's call log shows *******5678; the whole-number view is refused."""
    await record_call(db, caller="09012345678")
    await make_account(db, "etsuran", "viewer")
    await login(page, site, "etsuran")
    await page.goto(f"{site}/calls")
    rows = page.locator("#calls tbody tr")
    await expect(rows).to_have_count(1)
    await expect(rows.first.locator(".number")).to_have_text("*******5678")
    assert "09012345678" not in await page.content()
    await expect(
        page.get_by_role("link", name="電話番号をすべて表示（記録されます）")
    ).to_have_count(0)
    response = await page.goto(f"{site}/calls/numbers")
    assert response is not None and response.status == 403


async def test_administrators_whole_number_view_is_audit_logged(
    page: Page, site: str, db: asyncpg.Connection
) -> None:
    """An administrator sees masked numbers too, until asking for whole numbers; that
    view is written to the audit log with the filter and the rows shown."""
    await record_call(db, caller="09012345678", started=JUNE_3)
    await make_account(db, "kanri")
    await login(page, site, "kanri")
    await page.goto(f"{site}/calls?from=2025-06-01&to=2025-06-30")
    await expect(page.locator("#calls .number")).to_have_text("*******5678")
    await page.get_by_role("link", name="電話番号をすべて表示（記録されます）").click()
    await expect(page.locator("#calls .number")).to_have_text("09012345678")
    await expect(page.get_by_text("この表示は監査ログに記録されました")).to_be_visible()
    entry = await db.fetchrow("SELECT * FROM admin_audit WHERE action = 'calls.view_numbers'")
    assert entry["actor"] == "kanri"
    assert '"from": "2025-06-01"' in entry["after"] and '"rows": 1' in entry["after"]
    await page.goto(f"{site}/audit")
    await expect(page.locator("table").get_by_text("通話履歴の電話番号の表示")).to_be_visible()


async def test_call_log_filters(page: Page, site: str, db: asyncpg.Connection) -> None:
    """Date range, outcome, option, transfer and SMS narrow the list; the Asterisk-only
    apology is listed too, marked as such."""
    await record_call(db, started=JUNE_3, keys=(("main_menu", "1"),))
    await record_call(db, started=JUNE_3, keys=(("main_menu", "2"),), sms="queued")
    await record_call(db, started=JUNE_3, keys=(), path=MAIN_PATH)
    await record_call(db, started=JUNE_3, outcome="transferred", transfer="answered")
    await record_call(db, started=JUNE_3 + timedelta(days=40))
    await load_cel(db, inbound_cel("1749000000.1", JUNE_3, 35, apology=True))
    await make_account(db, "etsuran", "viewer")
    await login(page, site, "etsuran")
    rows = page.locator("#calls tbody tr")

    await page.goto(f"{site}/calls")
    await expect(rows).to_have_count(6)
    await page.get_by_label("開始日").fill("2025-06-01")
    await page.get_by_label("終了日").fill("2025-06-30")
    await page.get_by_role("button", name="絞り込む").click()
    await expect(rows).to_have_count(5)
    await page.get_by_label("結果").select_option(label="おわびの案内で終了")
    await page.get_by_role("button", name="絞り込む").click()
    await expect(rows).to_have_count(1)
    await expect(rows.first).to_contain_text("IVRの記録なし（Asteriskの記録）")
    await page.goto(f"{site}/calls?option=main_menu:2")
    await expect(rows).to_have_count(1)
    await page.goto(f"{site}/calls?sms=yes")
    await expect(rows).to_have_count(1)
    await page.goto(f"{site}/calls?transfer=answered")
    await expect(rows).to_have_count(1)
    await expect(rows.first).to_contain_text("職員に転送（応答あり）")
    await page.goto(f"{site}/calls?outcome=menu_hangup")
    await expect(rows).to_have_count(1)


async def test_call_log_pages_by_keyset(page: Page, site: str, db: asyncpg.Connection) -> None:
    """Sixty calls: fifty on the first page, ten on the next, none twice."""
    for i in range(60):
        await record_call(db, started=JUNE_3 + timedelta(minutes=i), caller=f"0901234{i:04d}")
    await make_account(db, "etsuran", "viewer")
    await login(page, site, "etsuran")
    await page.goto(f"{site}/calls")
    rows = page.locator("#calls tbody tr")
    await expect(rows).to_have_count(50)
    first = set(await rows.evaluate_all("rs => rs.map(r => r.dataset.channel)"))
    await page.get_by_role("link", name="次の50件").click()
    await expect(rows).to_have_count(10)
    second = set(await rows.evaluate_all("rs => rs.map(r => r.dataset.channel)"))
    assert not first & second and len(first | second) == 60


async def test_monthly_report_totals_for_seeded_data(
    page: Page, site: str, db: asyncpg.Connection
) -> None:
    """Seeded June 2025: the report's totals, a day's row, outcomes and the share
    completed without staff; printed on A4 without the menus, in two pages at most."""
    for day, n in ((3, 4), (4, 2), (30, 1)):
        for i in range(n):
            await record_call(
                db,
                started=JUNE_3.replace(day=day) + timedelta(minutes=i),
                calendar="open" if i % 2 == 0 else "closed",
                keys=(("main_menu", "1"),) if i != 1 else (),
            )
    await load_cel(db, inbound_cel("1749000000.2", JUNE_3, 35, apology=True))
    await fill_calendar_states(db)  # the apology's state, from the shipped calendar: open
    await record_call(db, started=JUNE_3.replace(month=7, day=1))  # not June
    await make_account(db, "etsuran", "viewer")
    await login(page, site, "etsuran")
    await page.goto(f"{site}/reports?month=2025-06")
    await expect(page.get_by_role("heading", level=1)).to_have_text("月次レポート 2025年6月")
    summary = page.locator("#summary")
    await expect(summary.locator('[data-k="total"]')).to_have_text("8")
    await expect(summary.locator('[data-k="inside"]')).to_have_text("5")
    await expect(summary.locator('[data-k="outside"]')).to_have_text("3")
    await expect(summary.locator('[data-k="ivr_only"]')).to_have_text("5")
    await expect(summary.locator('[data-k="apology"]')).to_have_text("1")
    await expect(summary.locator('[data-k="transferred"]')).to_have_text("未設定")
    await expect(summary.locator('[data-k="without_staff"]')).to_have_text("62.5%")
    june3 = page.locator('#days tr[data-day="2025-06-03"] td')
    await expect(june3).to_have_text(["5", "3", "2", "3", "0", "0", "1", "1"])
    await expect(page.locator("#days tbody tr")).to_have_count(31)  # 30 days and the total
    await expect(page.locator("#sms-unset")).to_have_text("未設定")

    await page.emulate_media(media="print")
    await expect(page.get_by_role("navigation", name="メインメニュー")).to_be_hidden()
    await expect(page.locator(".tabs")).to_be_hidden()
    pdf = await page.pdf(format="A4", print_background=True)
    pages = pdf.count(b"/Type /Page") - pdf.count(b"/Type /Pages")
    assert 1 <= pages <= 2, pages


async def test_csv_opens_in_excel_and_masks_below_administrator(
    site: str, http: aiohttp.ClientSession, db: asyncpg.Connection
) -> None:
    """BOM, Japanese headers, CRLF line ends, one line per call of the range, oldest
    first; a viewer's numbers masked, nothing audit-logged for it."""
    await record_call(db, started=JUNE_3, caller="09012345678", keys=(("main_menu", "3"),))
    await record_call(db, started=JUNE_3 + timedelta(hours=1), caller="0312345678")
    await record_call(db, started=JUNE_3 + timedelta(days=31))  # outside the range
    await make_account(db, "etsuran", "viewer")
    await _session(http, site, "etsuran")
    async with http.get(f"{site}/reports/export.csv?from=2025-06-01&to=2025-06-30") as r:
        assert r.status == 200
        assert r.headers["Content-Type"] == "text/csv; charset=utf-8"
        assert 'filename="calls_20250601-20250630.csv"' in r.headers["Content-Disposition"]
        body = await r.read()
    assert body.startswith(b"\xef\xbb\xbf")
    text = body[3:].decode("utf-8")
    assert text.count("\r\n") == 3 and "\n" not in text.replace("\r\n", "")
    rows = list(csv.reader(io.StringIO(text, newline="")))
    assert rows[0][:4] == ["開始日時", "終了日時", "通話秒数", "発信者番号"]
    assert [r[3] for r in rows[1:]] == ["*******5678", "******5678"]
    assert rows[1][0] == "2025/06/03 10:00:00" and rows[1][2] == "30"
    assert rows[1][6] == "自動応答で完了" and rows[1][10] == "main_menu:3"
    assert await db.fetchval("SELECT count(*) FROM admin_audit WHERE action = 'calls.export'") == 0


async def test_administrators_csv_has_whole_numbers_and_is_audit_logged(
    site: str, http: aiohttp.ClientSession, db: asyncpg.Connection
) -> None:
    """An administrator's export carries whole numbers and leaves an audit entry; a
    few thousand rows stream through the cursor intact."""
    await db.execute(
        """INSERT INTO calls (id, channel_id, caller, started_at, ended_at, outcome, path)
           SELECT gen_random_uuid(), 'bulk-' || i, '090' || lpad(i::text, 8, '0'),
                  $1::timestamptz + i * interval '1 second',
                  $1::timestamptz + i * interval '1 second' + interval '20 s',
                  'completed', ARRAY['main_menu']
           FROM generate_series(1, 3000) i""",
        JUNE_3,
    )
    await make_account(db, "kanri")
    await _session(http, site, "kanri")
    async with http.get(f"{site}/reports/export.csv?from=2025-06-03&to=2025-06-03") as r:
        assert r.status == 200
        body = await r.read()
    rows = list(csv.reader(io.StringIO(body[3:].decode("utf-8"), newline="")))
    assert len(rows) == 3001
    assert rows[1][3] == "09000000001" and rows[-1][3] == "09000003000"
    entry = await db.fetchrow("SELECT * FROM admin_audit WHERE action = 'calls.export'")
    assert entry["actor"] == "kanri" and '"to": "2025-06-03"' in entry["after"]


@pytest.mark.parametrize(
    ("query", "message"),
    [
        (
            "from=2025-06-30&to=2025-06-01",
            "期間が逆になっています: 開始日 2025-06-30 が終了日 2025-06-01 より後です。",
        ),
        ("from=2025-13-01&to=2025-12-31", "開始日「2025-13-01」を日付として読み取れません。"),
        ("from=yesterday&to=2025-06-01", "開始日「yesterday」を日付として読み取れません。"),
        ("from=2025-06-01", "期間の開始日と終了日の両方を指定してください。"),
    ],
)
async def test_malformed_or_reversed_range_gets_a_japanese_message(
    site: str, http: aiohttp.ClientSession, db: asyncpg.Connection, query: str, message: str
) -> None:
    """The export refuses with 400 and says what is wrong, in Japanese."""
    await make_account(db, "etsuran", "viewer")
    await _session(http, site, "etsuran")
    async with http.get(f"{site}/reports/export.csv?{query}") as r:
        assert r.status == 400
        assert message in await r.text()
