"""The SMS blocklist page in a real browser: an operator adds a number (checked like a
caller's, with clear Japanese errors), the very next SMS request for it is refused,
the list masks numbers below administrator, removing it lets requests through again,
and each change is in the audit log under its Japanese label."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest
from playwright.async_api import Dialog, Page, expect

from ivr.config import SmsSettings
from ivr.sms.defaults import default_templates
from ivr.sms.service import SmsRequester
from ivr.sms.templates import Rules

from .conftest import login, make_account

NUMBER = "08055556789"


@pytest.fixture(autouse=True)
async def clean_sms_tables(db: asyncpg.Connection) -> None:
    """Every test starts with an empty blocklist and outbox."""
    await db.execute("TRUNCATE sms_outbox, sms_blocklist RESTART IDENTITY")


@pytest.fixture
async def requester(database_dsn: str, tmp_path: Path) -> AsyncIterator[SmsRequester]:
    """The controller's SMS requester on the same database (the path a call takes)."""
    settings = SmsSettings(gateway="karaden", karaden_tenant_id="t", karaden_service_id=1)
    templates = default_templates(Rules.from_settings(settings))
    r = SmsRequester(settings, database_dsn, tmp_path / "sms", lambda: templates)
    await r.start()
    yield r
    await r.close()


async def _ask(requester: SmsRequester, number: str = NUMBER) -> str:
    return await requester.request(uuid.uuid4(), "send", "sms_lost", number)


async def test_operator_blocks_and_unblocks_a_number(
    page: Page, site: str, db: asyncpg.Connection, requester: SmsRequester
) -> None:
    """Bad numbers are explained beside the field; a blocked number is refused at once
    and shown masked; removing it lets the next request through; both changes are
    audit-logged with Japanese labels."""
    await make_account(db, "unyo", "operator")
    await login(page, site, "unyo")
    await page.goto(f"{site}/sms-templates")
    await page.get_by_role("link", name="送信拒否リスト").click()
    await expect(page.get_by_role("heading", name="SMS送信拒否リスト")).to_be_visible()

    number = page.get_by_label("電話番号")
    error = page.locator("#number-error")
    await number.fill("090-1234")
    await page.get_by_role("button", name="登録する").click()
    await expect(error).to_contain_text("電話番号として正しくありません")
    await expect(number).to_have_attribute("aria-invalid", "true")
    await expect(number).to_have_value("090-1234")
    await number.fill("03-1234-5678")
    await page.get_by_role("button", name="登録する").click()
    await expect(error).to_contain_text("携帯電話の番号（070・080・090で始まる番号）ではありません")
    assert await db.fetchval("SELECT count(*) FROM sms_blocklist") == 0

    assert await _ask(requester) == "queued"  # before: accepted
    await number.fill("+81 80-5555-6789")
    await page.get_by_label("理由（任意）").fill("本人から停止の申し出")
    await page.get_by_role("button", name="登録する").click()
    await expect(page.get_by_role("status")).to_contain_text("送信拒否リストに登録しました")
    table = page.locator("#blocklist")
    await expect(table).to_contain_text("*******6789")
    await expect(table).to_contain_text("本人から停止の申し出")
    await expect(table).to_contain_text("unyo")
    assert NUMBER not in await page.content()
    assert await db.fetchval("SELECT number FROM sms_blocklist") == NUMBER
    assert await _ask(requester) == "blocked"
    assert await _ask(requester, "+818055556789") == "blocked"
    assert await db.fetchval("SELECT count(*) FROM sms_outbox") == 1  # only the first

    await page.get_by_label("電話番号").fill("080-5555-6789")
    await page.get_by_role("button", name="登録する").click()
    await expect(page.locator("#number-error")).to_contain_text("すでに登録されています")

    asked: list[str] = []

    async def confirm(dialog: Dialog) -> None:
        asked.append(dialog.message)
        await dialog.accept()

    page.on("dialog", confirm)
    await page.get_by_role("button", name="*******6789 を削除").click()
    await expect(page.get_by_role("status")).to_contain_text("送信拒否リストから削除しました")
    await expect(page.locator("#blocklist")).to_contain_text("登録されている番号はありません")
    assert asked == ["*******6789 を送信拒否リストから削除します。よろしいですか？"]
    assert await _ask(requester) == "queued"

    entries = await db.fetch(
        "SELECT actor, action, target, before::text, after::text FROM admin_audit "
        "WHERE action LIKE 'sms_blocklist.%' ORDER BY id"
    )
    assert [(e["actor"], e["action"], e["target"]) for e in entries] == [
        ("unyo", "sms_blocklist.add", "sms_blocklist:*******6789"),
        ("unyo", "sms_blocklist.remove", "sms_blocklist:*******6789"),
    ]
    assert json.loads(entries[0]["after"]) == {
        "number": "*******6789",
        "reason": "本人から停止の申し出",
    }
    assert json.loads(entries[1]["before"])["number"] == "*******6789"
    assert NUMBER not in "".join(str(dict(e)) for e in entries)  # the audit log keeps none

    await page.context.clear_cookies()
    await make_account(db, "kanri", "administrator")
    await login(page, site, "kanri")
    await page.goto(f"{site}/audit")
    await expect(page.locator("main")).to_contain_text("SMS送信拒否リストへの登録")
    await expect(page.locator("main")).to_contain_text("SMS送信拒否リストからの削除")


async def test_administrators_see_whole_numbers_viewers_nothing(
    page: Page, site: str, db: asyncpg.Connection
) -> None:
    """Administrators see the whole number, and that view is audit-logged (without the
    number); viewers cannot open the page."""
    await db.execute(
        "INSERT INTO sms_blocklist (number, reason, created_by) VALUES ($1, '苦情', 'suzuki')",
        NUMBER,
    )
    await make_account(db, "kanri", "administrator")
    await login(page, site, "kanri")
    await page.goto(f"{site}/sms-templates/blocklist")
    await expect(page.locator("#blocklist")).to_contain_text(NUMBER)
    await expect(page.locator("#blocklist")).to_contain_text("苦情")
    viewed = await db.fetchrow(
        "SELECT actor, after::text FROM admin_audit WHERE action = 'sms_blocklist.view_numbers'"
    )
    assert viewed is not None and viewed["actor"] == "kanri"
    assert json.loads(viewed["after"]) == {"rows": 1}

    await page.context.clear_cookies()
    await make_account(db, "etsuran", "viewer")
    await login(page, site, "etsuran")
    response = await page.goto(f"{site}/sms-templates/blocklist")
    assert response is not None and response.status == 403
    assert NUMBER not in await page.content()
