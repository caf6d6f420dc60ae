"""Logging in, the forced password change, lockout after repeated failures, sessions."""

from __future__ import annotations

import re

import aiohttp
import asyncpg
from playwright.async_api import Page, expect

from ivr_admin import sessions

from .conftest import PASSWORD, login, make_account

NEW_PASSWORD = "tsukimi-dango-hanabi-42"


async def test_first_login_forces_a_password_change(
    site: str, page: Page, db: asyncpg.Connection
) -> None:
    """An account issued with an initial password must change it before any other page opens."""
    await make_account(db, "tanaka", must_change=True)
    await login(page, site, "tanaka")
    await expect(page).to_have_url(f"{site}/password")
    await expect(page.locator("#forced-change")).to_be_visible()

    await page.goto(f"{site}/accounts")  # every other page leads back to the change form
    await expect(page).to_have_url(f"{site}/password")

    await page.get_by_label("現在のパスワード").fill(PASSWORD)
    await page.get_by_label("新しいパスワード", exact=True).fill("password1234")
    await page.get_by_label("新しいパスワード（確認のためもう一度）").fill("password1234")
    await page.get_by_role("button", name="変更する").click()
    await expect(page.get_by_role("alert")).to_contain_text("よく使われている")

    await page.get_by_label("現在のパスワード").fill(PASSWORD)
    await page.get_by_label("新しいパスワード", exact=True).fill(NEW_PASSWORD)
    await page.get_by_label("新しいパスワード（確認のためもう一度）").fill(NEW_PASSWORD)
    await page.get_by_role("button", name="変更する").click()
    await expect(page).to_have_url(re.compile(r"/\?done=password_changed$"))
    await expect(page.get_by_role("status")).to_have_text("パスワードを変更しました。")
    await expect(page.get_by_role("navigation", name="メインメニュー")).to_contain_text("監査ログ")
    assert not await db.fetchval("SELECT must_change_password FROM admin_accounts")

    await page.get_by_role("button", name="ログアウト").click()
    await login(page, site, "tanaka", NEW_PASSWORD)
    await expect(page).to_have_url(f"{site}/")


async def test_wrong_password_locks_after_the_limit(
    site: str, page: Page, db: asyncpg.Connection
) -> None:
    """After 10 wrong passwords from one address the account refuses even the right one
    there, says so, and logs it."""
    await make_account(db, "suzuki")
    for _ in range(9):
        await login(page, site, "suzuki", "wrong-password-here")
        await expect(page.locator("#login-error")).to_have_text(
            "ログインIDまたはパスワードが正しくありません。"
        )
    await login(page, site, "suzuki", "wrong-password-here")
    await expect(page.locator("#login-error")).to_contain_text("一時的にログインを制限しています")
    await login(page, site, "suzuki", PASSWORD)
    await expect(page.locator("#login-error")).to_contain_text("一時的にログインを制限しています")
    await expect(page).to_have_url(f"{site}/login")

    actions = [r["action"] for r in await db.fetch("SELECT action FROM admin_audit ORDER BY id")]
    assert actions.count("login.failure") == 11
    assert actions.count("login.locked") == 1
    assert "login.success" not in actions


async def test_failures_from_one_address_are_throttled(
    site: str, http: aiohttp.ClientSession, db: asyncpg.Connection
) -> None:
    """Ten failures from one address, spread over many login IDs, block that address too."""
    await make_account(db, "sato")
    headers = {"X-Forwarded-For": "10.9.9.9"}
    async with http.get(f"{site}/login", headers=headers) as r:
        token = re.search(r'name="csrf_token" value="([^"]+)"', await r.text()).group(1)  # type: ignore[union-attr]
    for i in range(10):
        form = {"csrf_token": token, "login_id": f"guess{i}", "password": "x" * 12}
        async with http.post(f"{site}/login", data=form, headers=headers) as r:
            assert r.status in (401, 429)
    form = {"csrf_token": token, "login_id": "sato", "password": PASSWORD}
    async with http.post(f"{site}/login", data=form, headers=headers, allow_redirects=False) as r:
        assert r.status == 429
    # Another address is not affected.
    form = {"csrf_token": token, "login_id": "sato", "password": PASSWORD}
    async with http.post(
        f"{site}/login", data=form, headers={"X-Forwarded-For": "10.9.9.8"}, allow_redirects=False
    ) as r:
        assert r.status == 303


async def test_session_cookie_is_rotated_and_protected(
    site: str, page: Page, db: asyncpg.Connection
) -> None:
    """Login issues a new HttpOnly, SameSite=Strict session id; the database keeps only its hash."""
    await make_account(db, "ito")
    ctx = page.context
    await ctx.add_cookies(
        [{"name": "ivr_admin_session", "value": "planted-by-attacker", "url": site}]
    )
    await login(page, site, "ito")
    await expect(page).to_have_url(f"{site}/")
    (cookie,) = [c for c in await ctx.cookies() if c["name"] == "ivr_admin_session"]
    assert cookie["value"] != "planted-by-attacker"
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
    stored = await db.fetchval("SELECT token_hash FROM admin_sessions")
    assert stored == sessions.token_hash(cookie["value"])


async def test_idle_session_ends(site: str, page: Page, db: asyncpg.Connection) -> None:
    """A session idle longer than the timeout is over: the next click goes to the login page."""
    await make_account(db, "kato")
    await login(page, site, "kato")
    await db.execute("UPDATE admin_sessions SET last_seen_at = now() - interval '31 minutes'")
    await page.goto(f"{site}/")
    await expect(page).to_have_url(re.compile(r"/login\?next=/&done=expired$"))
    await expect(page.get_by_role("status")).to_contain_text("もう一度ログインしてください")


async def test_absolute_lifetime_ends_an_active_session(
    site: str, page: Page, db: asyncpg.Connection
) -> None:
    """Even an active session ends once its absolute lifetime is over."""
    await make_account(db, "yamada")
    await login(page, site, "yamada")
    await db.execute("UPDATE admin_sessions SET created_at = now() - interval '13 hours'")
    await page.goto(f"{site}/")
    await expect(page).to_have_url(re.compile(r"/login"))


async def test_login_redirects_back_to_the_requested_page(
    site: str, page: Page, db: asyncpg.Connection
) -> None:
    """A visitor sent to the login page returns to the page asked for, never to another site."""
    await make_account(db, "abe")
    await page.goto(f"{site}/audit")
    await expect(page).to_have_url(f"{site}/login?next=/audit")
    await page.get_by_label("ログインID").fill("abe")
    await page.get_by_label("パスワード").fill(PASSWORD)
    await page.get_by_role("button", name="ログイン").click()
    await expect(page).to_have_url(f"{site}/audit")

    await page.get_by_role("button", name="ログアウト").click()
    await page.goto(f"{site}/login?next=//evil.example/")
    await page.get_by_label("ログインID").fill("abe")
    await page.get_by_label("パスワード").fill(PASSWORD)
    await page.get_by_role("button", name="ログイン").click()
    await expect(page).to_have_url(f"{site}/")


async def test_suspended_and_expired_accounts_cannot_log_in(
    site: str, page: Page, db: asyncpg.Connection
) -> None:
    """Right password, but suspended or past the expiry date: refused with a clear message."""
    await make_account(db, "mori")
    await make_account(db, "ogawa")
    await db.execute("UPDATE admin_accounts SET suspended_at = now() WHERE login_id = 'mori'")
    await db.execute(
        "UPDATE admin_accounts SET expires_on = current_date - 2 WHERE login_id = 'ogawa'"
    )
    for login_id in ("mori", "ogawa"):
        await login(page, site, login_id)
        await expect(page.locator("#login-error")).to_contain_text("現在ご利用になれません")
    reasons = await db.fetch(
        "SELECT after->>'reason' AS r FROM admin_audit WHERE action = 'login.refused' ORDER BY id"
    )
    assert [r["r"] for r in reasons] == ["suspended", "expired"]
