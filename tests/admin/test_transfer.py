"""The transfer-target pages in a real browser: an operator adds and edits a city
number (published and audit-logged), a wrong value is refused beside its field with
nothing saved, an edit based on an old version is refused showing what is in service,
and a target the flow in service uses cannot be deleted."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import asyncpg
import pytest
from playwright.async_api import Page, expect

from ivr.config import TransferSettings
from ivr.transfer import store
from ivr.transfer.model import Target, TargetSet

from .conftest import login, make_account


@pytest.fixture(autouse=True)
async def clean_transfer_tables(db: asyncpg.Connection) -> AsyncIterator[None]:
    """Every test starts (and leaves the shared database) with no published set: the
    shipped flow's target must stay publishable for the other tests."""
    await db.execute(
        "TRUNCATE transfer_target_versions, transfer_attempts, transfer_slots RESTART IDENTITY"
    )
    yield
    await db.execute(
        "TRUNCATE transfer_target_versions, transfer_attempts, transfer_slots RESTART IDENTITY"
    )


async def test_operator_adds_and_edits_a_target_with_audit(
    page: Page, site: str, db: asyncpg.Connection
) -> None:
    """An operator adds 国保課 (hyphens in the number are dropped), sees it listed and
    published as version 1 in the audit log; a number with letters and a ring time out
    of range are refused beside their fields and nothing more is saved; a good edit is
    version 2."""
    await make_account(db, "unyo", "operator")
    await login(page, site, "unyo")
    await page.goto(f"{site}/transfer-targets")
    await expect(page.get_by_role("heading", name="転送先", exact=True)).to_be_visible()
    await expect(page.locator("#targets")).to_contain_text("転送先はありません")
    await page.get_by_role("link", name="転送先を追加").click()
    await page.get_by_label("名前（フローで使う名前）").fill("kokuho")
    await page.get_by_label("表示名").fill("国保課")
    await page.get_by_label("電話番号").fill("03-1234-5678")
    await page.get_by_label("同時転送数の上限").fill("2")
    await page.get_by_label("呼び出し時間（秒）").fill("25")
    await page.get_by_role("button", name="保存して公開").click()
    await expect(page.get_by_role("status")).to_have_text("保存しました。")
    row = page.locator('#targets tr[data-target="kokuho"]')
    await expect(row).to_contain_text("国保課")
    await expect(row).to_contain_text("0312345678")
    await expect(row).to_contain_text("25秒")
    version, current = await store.current(db, TargetSet())
    assert version == 1 and current == TargetSet(
        (Target("kokuho", "0312345678", "trunk", 2, 25, "国保課"),)
    )
    entry = await db.fetchrow("SELECT * FROM admin_audit WHERE action = 'transfer_targets.publish'")
    assert entry["actor"] == "unyo" and entry["target"] == "transfer_targets:1"
    assert json.loads(entry["after"])["targets"]["kokuho"]["number"] == "0312345678"

    await row.get_by_role("link", name="kokuho").click()
    number, ring = page.get_by_label("電話番号"), page.get_by_label("呼び出し時間（秒）")
    await number.fill("03-ABCD-5678")
    await ring.fill("200")
    await page.get_by_role("button", name="保存して公開").click()
    await expect(page.locator("#number-error")).to_contain_text("半角数字だけ")
    await expect(page.locator("#ring_seconds-error")).to_contain_text("5秒から120秒")
    await expect(number).to_have_attribute("aria-invalid", "true")
    assert "number-error" in (await number.get_attribute("aria-describedby") or "")
    assert await db.fetchval("SELECT count(*) FROM transfer_target_versions") == 1

    await number.fill("0312349999")
    await ring.fill("40")
    await page.get_by_role("button", name="保存して公開").click()
    await expect(page.get_by_role("status")).to_have_text("保存しました。")
    version, current = await store.current(db, TargetSet())
    assert version == 2 and current.get("kokuho") == Target(
        "kokuho", "0312349999", "trunk", 2, 40, "国保課"
    )


async def test_stale_edit_is_refused_showing_what_is_in_service(
    page: Page, site: str, db: asyncpg.Connection
) -> None:
    """Two operators edit at once: the save based on the older version is refused (409)
    with the values the other one saved; saving again then goes through."""
    kokuho = Target("kokuho", "0312345678", label="国保課")
    await store.publish(db, TargetSet((kokuho,)), "tanaka", None, TransferSettings())
    await make_account(db, "unyo", "operator")
    await login(page, site, "unyo")
    await page.goto(f"{site}/transfer-targets/edit/kokuho")
    await store.publish(
        db,
        TargetSet((Target("kokuho", "0312340000", label="国保課"),)),
        "suzuki",
        1,
        TransferSettings(),
    )
    await page.get_by_label("同時転送数の上限").fill("3")
    await page.get_by_role("button", name="保存して公開").click()
    await expect(page.locator("#problems")).to_contain_text("ほかの職員が先に保存しました（第2版）")
    await expect(page.locator("details.warning")).to_contain_text("0312340000")
    assert await db.fetchval("SELECT count(*) FROM transfer_target_versions") == 2
    await page.get_by_role("button", name="保存して公開").click()
    await expect(page.get_by_role("status")).to_have_text("保存しました。")
    _, current = await store.current(db, TargetSet())
    assert current.get("kokuho") == Target("kokuho", "0312345678", "trunk", 3, 30, "国保課")


async def test_a_target_the_flow_uses_cannot_be_deleted(
    page: Page, site: str, db: asyncpg.Connection
) -> None:
    """kokuho (which the shipped flow transfers to) offers no delete button and a forced
    delete is refused; an unused target is deleted and the set published without it."""
    both = TargetSet((Target("kokuho", "0312345678"), Target("nenkin", "0312340000")))
    await store.publish(db, both, "tanaka", None, TransferSettings())
    await make_account(db, "unyo", "operator")
    await login(page, site, "unyo")
    await page.goto(f"{site}/transfer-targets/edit/kokuho")
    await expect(
        page.get_by_text("運用中の通話フローで使われています（transfer_staff）")
    ).to_be_visible()
    await expect(page.get_by_role("button", name="この転送先を削除")).to_have_count(0)
    token = await page.locator('input[name="csrf_token"]').first.input_value()
    forced = await page.request.post(
        f"{site}/transfer-targets/edit/kokuho/delete",
        form={"csrf_token": token, "base_version": "1"},
    )
    assert forced.status == 409 and "削除できません" in await forced.text()

    await page.goto(f"{site}/transfer-targets/edit/nenkin")
    await page.get_by_role("button", name="この転送先を削除").click()
    await expect(page.get_by_role("status")).to_have_text("保存しました。")
    await expect(page.locator('#targets tr[data-target="nenkin"]')).to_have_count(0)
    _, current = await store.current(db, TargetSet())
    assert current.names == {"kokuho"}
