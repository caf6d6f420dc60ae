"""Numbers on the admin site (docs/personal-data.md): every role below administrator
sees the last four digits in the call log and in its CSV, in a real browser; a number
past its retention period reads 保存期間経過 for everyone; an administrator's
whole-number views (call log, SMS outbox) are written to the audit log."""

from __future__ import annotations

import csv
import io
import uuid
from datetime import datetime

import asyncpg
import pytest
from playwright.async_api import Page, expect

from ivr.log import TOKYO
from ivr.retention.model import pseudonym
from tests.unit.test_stats_rollup import beat, clean, record_call

from .conftest import login, make_account

JUNE_3 = datetime(2025, 6, 3, 10, 0, tzinfo=TOKYO)
NUMBER = "09012345678"
RANGE = "from=2025-06-01&to=2025-06-30"
EXPIRED = pseudonym(b"a-test-key-of-enough-length", "0311112222")


@pytest.fixture(autouse=True)
async def calls_of_june(db: asyncpg.Connection) -> None:
    """Two calls on 3 June 2025: one with its number, one already past its period."""
    await clean(db)
    await beat(db)
    assert EXPIRED is not None
    await record_call(db, caller=NUMBER, started=JUNE_3)
    await record_call(db, caller=EXPIRED, started=JUNE_3.replace(hour=9))


@pytest.mark.parametrize("role", ["viewer", "operator"])
async def test_below_administrator_the_log_and_its_csv_show_last_four_digits(
    page: Page, site: str, db: asyncpg.Connection, role: str
) -> None:
    """A viewer's or operator's call log and the CSV it downloads carry *******5678 and
    保存期間経過, never the whole number or the hash; nothing is audit-logged."""
    await make_account(db, "shokuin", role)
    await login(page, site, "shokuin")
    await page.goto(f"{site}/calls?{RANGE}")
    await expect(page.locator("#calls .number")).to_have_text(["*******5678", "保存期間経過"])
    content = await page.content()
    assert NUMBER not in content and str(EXPIRED) not in content
    async with page.expect_download() as info:
        await page.locator("#export-link").click()
    download = await info.value
    path = await download.path()
    text = path.read_bytes().decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(text, newline="")))
    assert [r[3] for r in rows[1:]] == ["保存期間経過", "*******5678"]  # oldest first
    assert NUMBER not in text and str(EXPIRED) not in text
    assert await db.fetchval("SELECT count(*) FROM admin_audit WHERE action LIKE 'calls.%'") == 0


async def test_administrators_whole_numbers_are_audit_logged(
    page: Page, site: str, db: asyncpg.Connection
) -> None:
    """An administrator's whole-number call log and SMS outbox views each leave an audit
    entry (shown in Japanese on the audit page); a hash still reads 保存期間経過."""
    await db.execute(
        """INSERT INTO sms_outbox (id, call_id, node, template, number, body, parts, status,
                                   requested_at)
           VALUES ($1, $2, 'send_registration', 'sms_registration', $3, '本文', 1,
                   'delivered', now())""",
        uuid.uuid4(),
        uuid.uuid4(),
        NUMBER,
    )
    await make_account(db, "kanri")
    await login(page, site, "kanri")
    await page.goto(f"{site}/calls/numbers?{RANGE}")
    await expect(page.locator("#calls .number")).to_have_text([NUMBER, "保存期間経過"])
    entry = await db.fetchrow("SELECT * FROM admin_audit WHERE action = 'calls.view_numbers'")
    assert entry is not None and entry["actor"] == "kanri" and '"rows": 2' in entry["after"]
    assert NUMBER not in entry["after"]  # the audit log holds which view, not the numbers
    await page.goto(f"{site}/sms-templates/outbox")
    await expect(page.locator("#outbox .number")).to_have_text(NUMBER)
    entry = await db.fetchrow("SELECT * FROM admin_audit WHERE action = 'sms_outbox.view_numbers'")
    assert entry is not None and entry["actor"] == "kanri" and NUMBER not in entry["after"]
    await page.goto(f"{site}/audit")
    table = page.locator("table")
    await expect(table.get_by_text("SMS送信状況の電話番号の表示")).to_be_visible()
    await expect(table.get_by_text("通話履歴の電話番号の表示")).to_be_visible()
