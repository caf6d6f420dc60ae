"""Server-side access control: roles, CSRF, the source-address allowlist, security headers."""

from __future__ import annotations

import re

import aiohttp
import asyncpg
from playwright.async_api import Page, expect

from .conftest import PASSWORD, Serve, admin_settings, login, make_account

OPERATOR_PAGES = ["/calendar", "/guidance", "/flows", "/sms-templates", "/transfer-targets"]
ADMIN_PAGES = ["/accounts", "/accounts/new", "/security", "/audit", "/audit/export.csv"]


async def _session(
    http: aiohttp.ClientSession, site: str, login_id: str, headers: dict[str, str] | None = None
) -> str:
    """Log in with a plain HTTP client; return the session's CSRF token."""
    async with http.get(f"{site}/login", headers=headers) as r:
        token = _token(await r.text())
    form = {"csrf_token": token, "login_id": login_id, "password": PASSWORD}
    async with http.post(f"{site}/login", data=form, headers=headers) as r:
        assert r.status == 200, await r.text()
        return _token(await r.text())


def _token(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, html
    return found.group(1)


async def test_viewer_gets_403_on_operator_and_admin_pages(
    site: str, http: aiohttp.ClientSession, db: asyncpg.Connection
) -> None:
    """A viewer's direct GET or POST to operator and administrator pages is refused with 403."""
    await make_account(db, "viewer1", "viewer")
    await make_account(db, "other", "viewer")
    csrf = await _session(http, site, "viewer1")
    for path in OPERATOR_PAGES + ADMIN_PAGES:
        async with http.get(site + path, allow_redirects=False) as r:
            assert r.status == 403, path
            assert 'error-id">forbidden' in await r.text()
        async with http.post(site + path, data={"csrf_token": csrf}, allow_redirects=False) as r:
            assert r.status == 403, path
    async with http.post(f"{site}/accounts/2/suspend", data={"csrf_token": csrf}) as r:
        assert r.status == 403
    async with http.post(
        f"{site}/api/allowlist/check", json={"allowlist": ""}, headers={"X-CSRF-Token": csrf}
    ) as r:
        assert r.status == 403 and (await r.json())["error"] == "forbidden"
    assert (
        await db.fetchval("SELECT count(*) FROM admin_accounts WHERE suspended_at IS NOT NULL") == 0
    )


async def test_operator_reaches_operator_pages_but_not_admin_pages(
    site: str, http: aiohttp.ClientSession, db: asyncpg.Connection
) -> None:
    """Roles are a ladder: an operator sees operator pages and the dashboard, not admin pages."""
    await make_account(db, "oper", "operator")
    await _session(http, site, "oper")
    for path in ["/", *OPERATOR_PAGES]:
        async with http.get(site + path) as r:
            assert r.status == 200, path
    for path in ADMIN_PAGES:
        async with http.get(site + path) as r:
            assert r.status == 403, path


async def test_navigation_shows_only_what_the_role_may_use(
    site: str, page: Page, db: asyncpg.Connection
) -> None:
    """The viewer's menu has the dashboard only; the administrator's has every area."""
    await make_account(db, "viewer1", "viewer")
    await login(page, site, "viewer1")
    nav = page.get_by_role("navigation", name="メインメニュー")
    await expect(nav.get_by_role("link")).to_have_text(["ダッシュボード"])
    await page.get_by_role("button", name="ログアウト").click()
    await make_account(db, "admin")
    await login(page, site, "admin")
    await expect(nav.get_by_role("link")).to_have_text(
        [
            "ダッシュボード",
            "カレンダー",
            "ガイダンス",
            "フロー",
            "SMSテンプレート",
            "転送先",
            "アカウント",
            "セキュリティ設定",
            "監査ログ",
        ]
    )


async def test_missing_or_forged_csrf_token_is_rejected(
    site: str, http: aiohttp.ClientSession, db: asyncpg.Connection
) -> None:
    """A state-changing request without the session's CSRF token, or with a wrong one, fails."""
    await make_account(db, "admin")
    target = await make_account(db, "target", "viewer")
    csrf = await _session(http, site, "admin")
    url = f"{site}/accounts/{target}/suspend"
    for form in ({}, {"csrf_token": "forged-" + csrf[7:]}, {"csrf_token": ""}):
        async with http.post(url, data=form) as r:
            assert r.status == 403
            assert 'error-id">csrf_rejected' in await r.text()
    async with http.post(
        url, data={"csrf_token": csrf}, headers={"Sec-Fetch-Site": "cross-site"}
    ) as r:
        assert r.status == 403
    assert (
        await db.fetchval("SELECT suspended_at FROM admin_accounts WHERE id = $1", target) is None
    )
    async with http.post(url, data={"csrf_token": csrf}) as r:
        assert r.status == 200
    assert await db.fetchval("SELECT suspended_at FROM admin_accounts WHERE id = $1", target)


async def test_login_form_needs_its_token_too(
    site: str, http: aiohttp.ClientSession, db: asyncpg.Connection
) -> None:
    """A login POST from another site (no double-submit token) is refused before the password."""
    await make_account(db, "admin")
    form = {"login_id": "admin", "password": PASSWORD, "csrf_token": "x" * 43}
    async with http.post(f"{site}/login", data=form, allow_redirects=False) as r:
        assert r.status == 403
    assert await db.fetchval("SELECT count(*) FROM admin_sessions") == 0


async def test_browser_form_with_a_tampered_token_is_rejected(
    site: str, page: Page, db: asyncpg.Connection
) -> None:
    """A form whose hidden token was altered in the page shows the CSRF error, not the change."""
    await make_account(db, "admin")
    target = await make_account(db, "target", "viewer")
    await login(page, site, "admin")
    await page.goto(f"{site}/accounts/{target}")
    page.on("dialog", lambda d: d.accept())
    await page.eval_on_selector_all(
        "input[name=csrf_token]", "els => els.forEach(e => e.value = 'x')"
    )
    await page.get_by_role("button", name="利用を停止する").click()
    await expect(page.locator("#error-id")).to_have_text("csrf_rejected")
    await expect(page.get_by_role("heading", level=1)).to_have_text("アクセスできません")


async def test_address_outside_the_allowlist_gets_403(
    site: str, serve: Serve, page: Page, http: aiohttp.ClientSession
) -> None:
    """Requests from outside the allowlist are refused with 403 — directly, or via a trusted
    proxy's X-Forwarded-For — while a forwarding header from an undeclared peer gets 400."""
    async with http.get(f"{site}/login", headers={"X-Forwarded-For": "192.0.2.10"}) as r:
        assert r.status == 403
        assert "この接続元からは管理画面を利用できません" in await r.text()
    async with http.get(f"{site}/login", headers={"X-Forwarded-For": "10.1.2.3"}) as r:
        assert r.status == 200
    async with http.get(f"{site}/static/admin.css", headers={"X-Forwarded-For": "192.0.2.10"}) as r:
        assert r.status == 403

    closed = await serve(admin_settings(allowlist=("10.0.0.0/8",), trusted_proxies=()))
    response = await page.goto(f"{closed}/login")
    assert response is not None and response.status == 403
    await expect(page.locator("#error-id")).to_have_text("address_not_allowed")
    # Not a declared proxy: its X-Forwarded-For is refused, never believed.
    async with http.get(f"{closed}/login", headers={"X-Forwarded-For": "10.1.2.3"}) as r:
        assert r.status == 400
        assert 'error-id">forwarding_refused' in await r.text()


async def test_allowlist_edit_warns_before_locking_yourself_out(
    site: str, serve: Serve, page: Page, db: asyncpg.Connection
) -> None:
    """Saving an allowlist that excludes your own address is refused until confirmed; then it
    takes effect at once, and the change is audited with before and after."""
    strict = await serve(admin_settings(allowlist=(), trusted_proxies=()))
    await make_account(db, "admin")
    await db.execute(
        """UPDATE admin_settings SET value = '[{"cidr": "127.0.0.0/8", "note": "本庁舎"}]'
           WHERE key = 'allowlist'"""
    )
    await login(page, strict, "admin")
    await page.goto(f"{strict}/security")
    await expect(page.locator("#your-address")).to_have_text("127.0.0.1")
    box = page.get_by_label(re.compile("許可するアドレス"))
    await expect(box).to_have_value("127.0.0.0/8  # 本庁舎")

    await box.fill("192.168.10.5/24")
    await expect(page.locator("#allowlist-check")).to_contain_text("192.168.10.0/24 のことですか")
    await page.get_by_role("button", name="保存").first.click()
    await expect(page.get_by_role("alert")).to_contain_text("1行目")

    await page.get_by_label(re.compile("許可するアドレス")).fill("203.0.113.0/24  # 本庁舎")
    await expect(page.locator("#allowlist-check")).to_contain_text("利用できなくなります")
    await page.get_by_role("button", name="保存").first.click()
    await expect(page.locator("#lockout-warning")).to_be_visible()
    assert "127.0.0.0/8" in await db.fetchval(
        "SELECT value::text FROM admin_settings WHERE key = 'allowlist'"
    )

    await page.get_by_label("現在の接続元から利用できなくなることを理解したうえで保存する").check()
    await page.get_by_role("button", name="保存").first.click()
    await expect(page.locator("#error-id")).to_have_text("address_not_allowed")
    entry = await db.fetchrow(
        "SELECT actor, before::text, after::text FROM admin_audit WHERE action = 'allowlist.update'"
    )
    assert entry["actor"] == "admin"
    assert "127.0.0.0/8" in entry["before"] and "203.0.113.0/24" in entry["after"]


async def test_security_headers_on_every_response(site: str, http: aiohttp.ClientSession) -> None:
    """Pages, errors and static files carry CSP (no framing), nosniff, referrer policy and HSTS."""
    for path in ("/login", "/no-such-page", "/static/admin.css", "/healthz"):
        async with http.get(site + path) as r:
            assert "frame-ancestors 'none'" in r.headers["Content-Security-Policy"], path
            assert r.headers["X-Content-Type-Options"] == "nosniff"
            assert r.headers["Referrer-Policy"] == "same-origin"
            assert r.headers["Strict-Transport-Security"].startswith("max-age=")


async def test_healthz_reports_the_database(site: str, http: aiohttp.ClientSession) -> None:
    """/healthz answers without login, as JSON."""
    async with http.get(f"{site}/healthz") as r:
        assert r.status == 200
        body = await r.json()
    # "degraded" only for warnings (an unsynchronised clock); tests/admin/test_ops.py
    assert body["database"] is True and body["ready"] is True
    assert body["status"] == ("ok" if not body["warnings"] else "degraded")
