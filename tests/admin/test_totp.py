"""Two-step login: enrolment in the browser, codes at login, replay, the per-role requirement."""

from __future__ import annotations

import re

import asyncpg
import pyotp
from playwright.async_api import Page, expect

from ivr_admin import totp

from .conftest import login, make_account, totp_code


async def _enrol(page: Page, site: str) -> str:
    """Enrol from the setup page with a code computed from the secret shown; return the secret."""
    await page.goto(f"{site}/account/totp")
    secret = await page.locator("#totp-secret").get_attribute("data-secret")
    assert secret and len(secret) == 32
    await expect(page.locator("#totp-secret")).to_have_text(" ".join(re.findall(".{4}", secret)))
    await page.get_by_label("確認コード（6桁）").fill(
        "000000" if totp_code(secret) != "000000" else "111111"
    )
    await page.get_by_role("button", name="設定する").click()
    await expect(page.get_by_role("alert")).to_contain_text("確認コードが正しくありません")
    await page.get_by_label("確認コード（6桁）").fill(totp_code(secret))
    await page.get_by_role("button", name="設定する").click()
    await expect(page.get_by_role("status")).to_contain_text("2段階認証を設定しました")
    return secret


async def test_enrol_then_log_in_with_a_code(site: str, page: Page, db: asyncpg.Connection) -> None:
    """After enrolment, login asks for the authenticator code; a wrong code is refused, the
    right one (from the secret shown at enrolment) lets the user in."""
    await make_account(db, "nakamura", "operator")
    await login(page, site, "nakamura")
    secret = await _enrol(page, site)
    assert await db.fetchval("SELECT totp_secret FROM admin_accounts") == secret

    await page.get_by_role("button", name="ログアウト").click()
    await login(page, site, "nakamura")
    await expect(page).to_have_url(re.compile(r"/login/totp"))
    await page.goto(f"{site}/accounts")  # nothing else opens before the code
    await expect(page).to_have_url(re.compile(r"/login/totp"))
    await page.get_by_label("確認コード（6桁）").fill(
        "123456" if totp_code(secret, 1) != "123456" else "654321"
    )
    await page.get_by_role("button", name="確認").click()
    await expect(page.get_by_role("alert")).to_have_text("確認コードが正しくありません。")
    # The enrolment used the current step; the next step's code is within the allowed drift.
    await page.get_by_label("確認コード（6桁）").fill(totp_code(secret, 1))
    await page.get_by_role("button", name="確認").click()
    await expect(page).to_have_url(f"{site}/")
    actions = [r["action"] for r in await db.fetch("SELECT action FROM admin_audit ORDER BY id")]
    assert "totp.enrol" in actions and actions[-1] == "login.success"


async def test_a_code_works_only_once(site: str, page: Page, db: asyncpg.Connection) -> None:
    """A code that was already accepted cannot be replayed for a second login."""
    secret = pyotp.random_base32()
    await make_account(db, "ishii", totp_secret=secret)
    code = totp_code(secret)
    for expected in (f"{site}/", re.compile("/login/totp")):
        await page.context.clear_cookies()
        await login(page, site, "ishii")
        await page.get_by_label("確認コード（6桁）").fill(code)
        await page.get_by_role("button", name="確認").click()
        await expect(page).to_have_url(expected)


async def test_required_role_must_enrol_before_using_the_site(
    site: str, page: Page, db: asyncpg.Connection
) -> None:
    """When administrators require 2-step login for a role, its members are sent to enrolment
    and can use the site only after it."""
    await make_account(db, "admin")
    await login(page, site, "admin")
    await page.goto(f"{site}/security")
    await page.get_by_role("checkbox", name="閲覧者").check()
    await page.get_by_role("button", name="保存").nth(1).click()
    await expect(page.get_by_role("status")).to_have_text("保存しました。")
    assert (
        await db.fetchval(
            "SELECT value::text FROM admin_settings WHERE key = 'totp_required_roles'"
        )
        == '["viewer"]'
    )

    await page.get_by_role("button", name="ログアウト").click()
    await make_account(db, "viewer1", "viewer")
    await login(page, site, "viewer1")
    await expect(page).to_have_url(f"{site}/account/totp")
    await page.goto(f"{site}/")
    await expect(page).to_have_url(f"{site}/account/totp")
    await _enrol(page, site)
    await page.goto(f"{site}/")
    await expect(page.get_by_role("heading", level=1)).to_have_text("ダッシュボード")


async def test_administrator_resets_a_lost_second_factor(
    site: str, page: Page, db: asyncpg.Connection
) -> None:
    """An administrator can remove an account's second factor (e.g. a lost phone); audited."""
    await make_account(db, "admin")
    user = await make_account(db, "goto", totp_secret=pyotp.random_base32())
    await login(page, site, "admin")
    page.on("dialog", lambda d: d.accept())
    await page.goto(f"{site}/accounts/{user}")
    await page.get_by_role("button", name="2段階認証を解除する").click()
    await expect(page.get_by_role("status")).to_contain_text("2段階認証の設定を解除しました")
    assert await db.fetchval("SELECT totp_secret FROM admin_accounts WHERE id = $1", user) is None
    assert (
        await db.fetchval("SELECT count(*) FROM admin_audit WHERE action = 'account.totp_reset'")
        == 1
    )


def test_match_accepts_drift_of_one_step_and_refuses_used_steps() -> None:
    """A code is accepted one step early or late, refused further away or once used."""
    secret = pyotp.random_base32()
    now = 1_800_000_000.0
    step = int(now // 30)
    code_at = lambda s: pyotp.TOTP(secret).at(s * 30)  # noqa: E731
    assert totp.match(secret, code_at(step), None, now) == step
    assert totp.match(secret, code_at(step - 1), None, now) == step - 1
    assert totp.match(secret, code_at(step + 1), None, now) == step + 1
    assert totp.match(secret, code_at(step + 2), None, now) is None
    assert totp.match(secret, code_at(step), step, now) is None
    assert totp.match(secret, "12345", None, now) is None
    assert totp.match(secret, "１２３４５６", None, now) is None
