"""The SMS pages in a real browser: an operator edits a template with a live counter of
characters and parts, a template that breaks the citizens' rules is refused next to the
field, a good one is published and audit-logged; the outbox masks numbers below
administrator."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime

import asyncpg
import pytest
from playwright.async_api import Page, expect

from ivr.config import SmsSettings
from ivr.sms import outbox

from .conftest import login, make_account

WARNING = SmsSettings().fraud_warning


@pytest.fixture(autouse=True)
async def clean_sms_tables(db: asyncpg.Connection) -> None:
    """Every test starts from the shipped templates and an empty outbox."""
    await db.execute("TRUNCATE sms_outbox, sms_template_versions RESTART IDENTITY")


async def test_operator_edits_a_template_with_counter_rules_and_audit(
    page: Page, site: str, db: asyncpg.Connection
) -> None:
    """The counter follows typing (70 → 1 part, 71 → 2); a bad text is refused beside the
    field and nothing is saved; a good one is published, shown and audit-logged."""
    await make_account(db, "unyo", "operator")
    await login(page, site, "unyo")
    await page.goto(f"{site}/sms-templates")
    await expect(page.get_by_role("heading", name="SMSテンプレート")).to_be_visible()
    await page.get_by_role("link", name="sms_lost").click()
    await expect(page.get_by_role("heading", name="sms_lost")).to_be_visible()

    body = page.get_by_label("本文")
    counter = page.locator("#body-counter")
    assert "0120-95-0178" in await body.input_value()
    await body.fill("あ" * 70)
    await expect(counter).to_have_text("70文字・1通")
    await body.press("End")
    await body.type("い")
    await expect(counter).to_have_text("71文字・2通")
    await body.fill("あ" * 134 + "{next_open}")
    await expect(counter).to_contain_text("145文字・3通（差し込み項目が最も長い場合 161文字・3通）")

    await body.fill("【○○市】ご案内です。詳しくは https://example.com/ をご覧ください。")
    await page.get_by_role("button", name="保存して公開").click()
    errors = page.locator(".field #body-errors")
    await expect(errors).to_contain_text(f"注意書き「{WARNING}」が入っていません")
    await expect(errors).to_contain_text("リンク先「example.com」は許可されていないドメインです")
    await expect(body).to_have_attribute("aria-invalid", "true")
    assert "body-errors" in (await body.get_attribute("aria-describedby") or "")
    await expect(body).to_have_value(
        "【○○市】ご案内です。詳しくは https://example.com/ をご覧ください。"
    )
    assert await db.fetchval("SELECT count(*) FROM sms_template_versions") == 0

    good = f"【○○市】カードをなくしたら0120-95-0178へ。受付は{{office_hours}}。\n{WARNING}"
    await body.fill(good)
    await page.get_by_role("button", name="保存して公開").click()
    await expect(page.get_by_role("status")).to_have_text("保存しました。")
    await expect(body).to_have_value(good)
    await expect(page.locator("#body-errors")).to_have_count(0)
    stored = json.loads(await db.fetchval("SELECT body::text FROM sms_template_versions"))
    assert stored["templates"]["sms_lost"] == good
    assert "sms_registration" in stored["templates"]  # the rest of the set is kept
    entry = await db.fetchrow("SELECT * FROM admin_audit WHERE action = 'sms_templates.publish'")
    assert entry is not None and entry["actor"] == "unyo" and entry["target"] == "sms_templates:1"
    assert json.loads(entry["after"])["templates"] == {"sms_lost": good}


async def test_stale_edit_is_refused_and_shows_the_current_text(
    page: Page, site: str, db: asyncpg.Connection
) -> None:
    """Two operators: the second save based on an old version is refused with the newer text."""
    await make_account(db, "unyo", "operator")
    await login(page, site, "unyo")
    await page.goto(f"{site}/sms-templates/edit/sms_expiry")
    from ivr.sms import store
    from ivr.sms.templates import Rules

    rules = Rules.from_settings(SmsSettings())
    _, current = await store.current(db, rules)
    other = f"別の職員の文面。{WARNING}"
    await store.publish(db, current.with_template("sms_expiry", other), "suzuki", None, rules)
    await page.get_by_label("本文").fill(f"私の文面。{WARNING}")
    await page.get_by_role("button", name="保存して公開").click()
    await expect(page.locator("#body-errors")).to_contain_text(
        "ほかの職員が先に保存しました（第1版）"
    )
    await expect(page.locator("details pre")).to_have_text(other)
    await page.get_by_role("button", name="保存して公開").click()  # a deliberate overwrite
    await expect(page.get_by_role("status")).to_have_text("保存しました。")
    assert await db.fetchval("SELECT count(*) FROM sms_template_versions") == 2


async def test_new_template_starts_with_the_warning(
    page: Page, site: str, db: asyncpg.Connection
) -> None:
    """A new name opens an editor holding the warning line; a bad name is explained."""
    await make_account(db, "unyo", "operator")
    await login(page, site, "unyo")
    await page.goto(f"{site}/sms-templates")
    await page.get_by_label("新しいテンプレートの名前").fill("1bad name")
    await page.get_by_role("button", name="作成する").click()
    await expect(page.locator("#new-name-error")).to_contain_text("半角英数字")
    await page.get_by_label("新しいテンプレートの名前").fill("sms_extra")
    await page.get_by_role("button", name="作成する").click()
    await expect(page.get_by_role("heading", name="sms_extra 新規")).to_be_visible()
    await expect(page.get_by_label("本文")).to_have_value(WARNING)


async def _queue_one(db: asyncpg.Connection, status: str = "failed") -> None:
    call = uuid.uuid4()
    req = outbox.SmsRequest(
        outbox.outbox_id(call, "send"),
        call,
        "send",
        "sms_lost",
        "09012345678",
        "本文",
        1,
        datetime.now(UTC),
    )
    await outbox.insert(db, req)
    await db.execute(
        "UPDATE sms_outbox SET status = $2, reason = $3 WHERE id = $1",
        req.id,
        status,
        "送信を拒否されました（HTTP 422）",
    )


async def test_outbox_masks_numbers_below_administrator(
    page: Page, site: str, db: asyncpg.Connection
) -> None:
    """Operators see ****5678 and the reason; administrators see the whole number; viewers
    cannot open the page."""
    await _queue_one(db)
    await make_account(db, "unyo", "operator")
    await login(page, site, "unyo")
    await page.goto(f"{site}/sms-templates/outbox")
    table = page.locator("#outbox")
    await expect(table).to_contain_text("*******5678")
    await expect(table).to_contain_text("送信を拒否されました（HTTP 422）")
    await expect(table).to_contain_text("失敗")
    assert "09012345678" not in await page.content()
    await page.get_by_label("状態").select_option("delivered")
    await page.get_by_role("button", name="絞り込む").click()
    await expect(table).to_contain_text("該当する送信依頼はありません。")

    await page.context.clear_cookies()
    await make_account(db, "kanri", "administrator")
    await login(page, site, "kanri")
    await page.goto(f"{site}/sms-templates/outbox")
    await expect(page.locator("#outbox")).to_contain_text("09012345678")

    await page.context.clear_cookies()
    await make_account(db, "etsuran", "viewer")
    await login(page, site, "etsuran")
    response = await page.goto(f"{site}/sms-templates/outbox")
    assert response is not None and response.status == 403
