"""Account administration in the browser: issue, suspend while in use, resume, reissue."""

from __future__ import annotations

import re

import asyncpg
from playwright.async_api import BrowserContext, Page, expect

from .conftest import PASSWORD, login, make_account

NEW_PASSWORD = "shiroi-kumo-aoi-umi-9"


async def _issue(page: Page, site: str, login_id: str, role_label: str) -> str:
    """Issue an account in the UI; return the initial password shown once."""
    await page.goto(f"{site}/accounts/new")
    await page.get_by_label("ログインID").fill(login_id)
    await page.get_by_label("氏名・所属（任意）").fill("国保課 " + login_id)
    await page.get_by_role("radio", name=re.compile("^" + role_label)).check()
    await page.get_by_role("button", name="発行する").click()
    await expect(page.locator("#issued-login")).to_have_text(login_id)
    return await page.locator("#initial-password").inner_text()


async def test_admin_issues_an_account_whose_password_is_shown_once(
    site: str, page: Page, db: asyncpg.Connection, new_context: object
) -> None:
    """A new login ID gets a one-time password that works once, forces a change, and is audited."""
    await make_account(db, "admin")
    await login(page, site, "admin")
    initial = await _issue(page, site, "kokuho.tanaka", "運用担当者")
    assert re.fullmatch(r"[A-Za-z2-9]{4}(-[A-Za-z2-9]{4}){3}", initial)

    await page.goto(f"{site}/accounts")
    row = page.get_by_role("row", name=re.compile("kokuho.tanaka"))
    await expect(row).to_contain_text("運用担当者")
    await expect(row).to_contain_text("有効")
    assert initial not in await page.content()  # never shown again

    audit = await db.fetchrow(
        "SELECT actor, after FROM admin_audit WHERE action = 'account.create'"
    )
    assert audit["actor"] == "admin" and "kokuho.tanaka" in audit["after"]
    assert initial not in audit["after"]

    await page.get_by_role("button", name="ログアウト").click()
    await login(page, site, "kokuho.tanaka", initial)
    await expect(page).to_have_url(f"{site}/password")


async def test_duplicate_and_malformed_login_ids_are_refused(
    site: str, page: Page, db: asyncpg.Connection
) -> None:
    """A taken or malformed login ID is explained next to the form, and nothing is created."""
    await make_account(db, "admin")
    await login(page, site, "admin")
    await page.goto(f"{site}/accounts/new")
    await page.get_by_label("ログインID").fill("admin")
    await page.get_by_role("radio", name=re.compile("^閲覧者")).check()
    await page.get_by_role("button", name="発行する").click()
    await expect(page.get_by_role("alert")).to_contain_text("すでに使われています")
    await page.get_by_label("ログインID").fill("田中")
    await page.get_by_role("button", name="発行する").click()
    await expect(page.get_by_role("alert")).to_contain_text("半角の英小文字")
    assert await db.fetchval("SELECT count(*) FROM admin_accounts") == 1


async def test_suspension_ends_the_users_live_session(
    site: str, db: asyncpg.Connection, new_context: object
) -> None:
    """An administrator suspends an account while its user is logged in: the user's next click
    lands on the login page, and logging in again is refused until resumed."""
    make = new_context  # type: ignore[assignment]
    admin_ctx: BrowserContext = await make()  # type: ignore[operator]
    user_ctx: BrowserContext = await make()  # type: ignore[operator]
    await make_account(db, "admin")
    user_id = await make_account(db, "hayashi", "operator")
    admin, user = await admin_ctx.new_page(), await user_ctx.new_page()
    admin.on("dialog", lambda d: d.accept())
    await login(user, site, "hayashi")
    await expect(user.get_by_role("link", name="カレンダー")).to_be_visible()
    await login(admin, site, "admin")

    await admin.goto(f"{site}/accounts/{user_id}")
    await admin.get_by_role("button", name="利用を停止する").click()
    await expect(admin.get_by_role("status")).to_contain_text("アカウントを停止しました")
    await expect(admin.get_by_role("heading", level=1)).to_contain_text("停止中")

    await user.get_by_role("link", name="カレンダー").click()
    await expect(user).to_have_url(re.compile(r"/login\?next=/calendar"))
    await login(user, site, "hayashi")
    await expect(user.locator("#login-error")).to_contain_text("現在ご利用になれません")

    await admin.get_by_role("button", name="停止を解除する").click()
    await expect(admin.get_by_role("status")).to_contain_text("停止を解除しました")
    await login(user, site, "hayashi")
    await expect(user).to_have_url(f"{site}/")
    actions = await db.fetch(
        "SELECT action, before->>'suspended' AS b, after->>'suspended' AS a"
        " FROM admin_audit WHERE action LIKE 'account.%' ORDER BY id"
    )
    assert [tuple(r) for r in actions] == [
        ("account.suspend", "false", "true"),
        ("account.resume", "true", "false"),
    ]


async def test_role_and_expiry_changes_are_saved_and_audited(
    site: str, page: Page, db: asyncpg.Connection
) -> None:
    """Changing role and expiry date shows up in the list and the audit log with before/after."""
    await make_account(db, "admin")
    user_id = await make_account(db, "kimura", "viewer")
    await login(page, site, "admin")
    await page.goto(f"{site}/accounts/{user_id}")
    await page.get_by_role("radio", name=re.compile("^運用担当者")).check()
    await page.get_by_label("有効期限（任意）").fill("2099-03-31")
    await page.get_by_role("button", name="保存").click()
    await expect(page.get_by_role("status")).to_have_text("保存しました。")
    await page.goto(f"{site}/accounts")
    row = page.get_by_role("row", name=re.compile("kimura"))
    await expect(row).to_contain_text("2099年3月31日(火)")
    await expect(row).to_contain_text("運用担当者")
    entry = await db.fetchrow(
        "SELECT before->>'role' AS b, after->>'role' AS a, after->>'expires_on' AS e"
        " FROM admin_audit WHERE action = 'account.update'"
    )
    assert tuple(entry) == ("viewer", "operator", "2099-03-31")


async def test_administrators_cannot_lock_themselves_out(
    site: str, page: Page, db: asyncpg.Connection
) -> None:
    """The last administrator cannot demote themselves; self-suspension is not offered."""
    admin_id = await make_account(db, "admin")
    await login(page, site, "admin")
    await page.goto(f"{site}/accounts/{admin_id}")
    await expect(page.get_by_role("button", name="利用を停止する")).to_have_count(0)
    await page.get_by_role("radio", name=re.compile("^閲覧者")).check()
    await page.get_by_role("button", name="保存").click()
    await expect(page.get_by_role("alert")).to_contain_text("自分自身のアカウント")
    assert await db.fetchval("SELECT role FROM admin_accounts") == "administrator"


async def test_password_reset_ends_sessions_and_forces_a_change(
    site: str, db: asyncpg.Connection, new_context: object
) -> None:
    """A reissued password logs the user out everywhere, replaces the old one, must be changed."""
    make = new_context
    admin_ctx, user_ctx = await make(), await make()  # type: ignore[operator]
    await make_account(db, "admin")
    user_id = await make_account(db, "inoue", "viewer")
    admin, user = await admin_ctx.new_page(), await user_ctx.new_page()
    admin.on("dialog", lambda d: d.accept())
    await login(user, site, "inoue")
    await login(admin, site, "admin")
    await admin.goto(f"{site}/accounts/{user_id}")
    await admin.get_by_role("button", name="パスワードを再発行する").click()
    reissued = await admin.locator("#initial-password").inner_text()

    await user.reload()
    await expect(user).to_have_url(re.compile("/login"))
    await login(user, site, "inoue", PASSWORD)
    await expect(user.locator("#login-error")).to_be_visible()
    await login(user, site, "inoue", reissued)
    await expect(user).to_have_url(f"{site}/password")
