"""The lockout policy (admin-web/README.md): per account and address, race-free, shared by
the password-change form, alerts instead of account lockout, and forwarding headers."""

from __future__ import annotations

import asyncio
import re
import threading

import aiohttp
import asyncpg
import pytest
from playwright.async_api import Page, expect

from ivr_admin import passwords

from .conftest import PASSWORD, Serve, admin_settings, login, make_account

NEW_PASSWORD = "tsukimi-dango-hanabi-42"
LOCKED = "一時的にログインを制限しています"
CHANGE_LOCKED = "パスワード変更を一時的に制限しています"


class Verifications:
    """Counts the Argon2 verifications the site performs (they run in worker threads)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.count = 0
        self._lock = threading.Lock()
        real = passwords.verify_now

        def counting(stored: str | None, password: str) -> bool:
            with self._lock:
                self.count += 1
            return real(stored, password)

        monkeypatch.setattr(passwords, "verify_now", counting)


def _token(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, html
    return found.group(1)


async def _login_token(http: aiohttp.ClientSession, site: str, address: str | None = None) -> str:
    headers = {"X-Forwarded-For": address} if address else None
    async with http.get(f"{site}/login", headers=headers) as r:
        return _token(await r.text())


async def _try(
    http: aiohttp.ClientSession,
    site: str,
    token: str,
    login_id: str,
    password: str,
    address: str | None = None,
) -> int:
    """One login POST (as from ``address`` via the trusted local proxy); its status."""
    headers = {"X-Forwarded-For": address} if address else None
    form = {"csrf_token": token, "login_id": login_id, "password": password}
    async with http.post(f"{site}/login", data=form, headers=headers, allow_redirects=False) as r:
        await r.read()
        return r.status


async def _actions(db: asyncpg.Connection) -> list[str]:
    return [r["action"] for r in await db.fetch("SELECT action FROM admin_audit ORDER BY id")]


async def test_parallel_wrong_passwords_are_verified_at_most_the_limit(
    site: str, http: aiohttp.ClientSession, db: asyncpg.Connection, monkeypatch: pytest.MonkeyPatch
) -> None:
    """20 wrong passwords sent at once get exactly 10 verifications; then the right one is
    refused from that address without being checked."""
    await make_account(db, "suzuki")
    verified = Verifications(monkeypatch)
    token = await _login_token(http, site)
    statuses = await asyncio.gather(
        *(_try(http, site, token, "suzuki", f"wrong-password-{i:02d}") for i in range(20))
    )
    assert verified.count == 10
    assert sorted(statuses) == [401] * 9 + [429] * 11
    assert await db.fetchval("SELECT count(*) FROM admin_login_failures") == 10
    assert await _try(http, site, token, "suzuki", PASSWORD) == 429
    assert verified.count == 10
    actions = await _actions(db)
    assert actions.count("login.locked") == 1
    assert "login.success" not in actions


async def test_password_change_form_is_limited_like_login(
    site: str, page: Page, db: asyncpg.Connection, http: aiohttp.ClientSession
) -> None:
    """After 10 wrong current passwords the right one is refused too, with a clear message;
    the session stays usable and the same address cannot log in to the account either."""
    await make_account(db, "tanaka")
    original = await db.fetchval("SELECT password_hash FROM admin_accounts")
    await login(page, site, "tanaka")
    await expect(page).to_have_url(f"{site}/")

    async def change(current: str) -> None:
        await page.goto(f"{site}/password")
        await page.get_by_label("現在のパスワード").fill(current)
        await page.get_by_label("新しいパスワード", exact=True).fill(NEW_PASSWORD)
        await page.get_by_label("新しいパスワード（確認のためもう一度）").fill(NEW_PASSWORD)
        await page.get_by_role("button", name="変更する").click()
        await page.wait_for_load_state()

    for i in range(9):
        await change(f"not-the-password-{i}")
        await expect(page.get_by_role("alert")).to_contain_text(
            "現在のパスワードが正しくありません"
        )
    await change("not-the-password-9")
    await expect(page.get_by_role("alert")).to_contain_text(CHANGE_LOCKED)
    await change(PASSWORD)
    await expect(page.get_by_role("alert")).to_contain_text(CHANGE_LOCKED)
    assert await db.fetchval("SELECT password_hash FROM admin_accounts") == original

    await page.goto(f"{site}/audit")  # still signed in
    await expect(page).to_have_url(f"{site}/audit")
    assert await db.fetchval("SELECT count(*) FROM admin_sessions") == 1
    token = await _login_token(http, site)
    assert await _try(http, site, token, "tanaka", PASSWORD) == 429

    reasons = await db.fetch(
        "SELECT actor, after->>'reason' AS reason FROM admin_audit"
        " WHERE action = 'login.failure' ORDER BY id"
    )
    assert [r["reason"] for r in reasons] == ["wrong_current_password"] * 10 + ["locked"] * 2
    assert {r["actor"] for r in reasons[:11]} == {"tanaka"}


async def test_second_address_logs_in_while_the_first_is_locked(
    site: str, http: aiohttp.ClientSession, db: asyncpg.Connection
) -> None:
    """One account's failures from one address refuse that account there only: the owner
    elsewhere, and another account at the same address, still log in."""
    await make_account(db, "sato")
    await make_account(db, "kato")
    token = await _login_token(http, site, "10.1.1.1")
    for _ in range(10):
        await _try(http, site, token, "sato", "wrong-password-here", "10.1.1.1")
    assert await _try(http, site, token, "sato", PASSWORD, "10.1.1.1") == 429
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as owner:
        owner_token = await _login_token(owner, site, "10.2.2.2")
        assert await _try(owner, site, owner_token, "sato", PASSWORD, "10.2.2.2") == 303
    # The owner's success does not give the attacking address a fresh allowance.
    assert await _try(http, site, token, "sato", PASSWORD, "10.1.1.1") == 429
    assert (
        await db.fetchval("SELECT after->>'scope' FROM admin_audit WHERE action = 'login.locked'")
        == "account_address"
    )
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as colleague:
        other_token = await _login_token(colleague, site, "10.1.1.1")
        assert await _try(colleague, site, other_token, "kato", PASSWORD, "10.1.1.1") == 303
    successes = await db.fetch(
        "SELECT actor, host(ip) AS ip FROM admin_audit WHERE action = 'login.success' ORDER BY id"
    )
    assert [tuple(r) for r in successes] == [("sato", "10.2.2.2"), ("kato", "10.1.1.1")]
    assert "login.distributed_attack" not in await _actions(db)


async def test_account_tried_from_many_addresses_raises_one_alert(
    site: str, http: aiohttp.ClientSession, db: asyncpg.Connection
) -> None:
    """Failures against one account from 25 addresses lock nobody out and write one
    login.distributed_attack entry per window, shown in Japanese in the audit log."""
    await make_account(db, "ito")
    token = await _login_token(http, site)
    statuses = [
        await _try(http, site, token, "ito", "wrong-password-here", f"10.3.0.{n}")
        for n in range(1, 26)
    ]
    assert statuses == [401] * 25
    alerts = await db.fetch(
        """SELECT target, after->>'failures' AS failures, after->>'addresses' AS addresses
           FROM admin_audit WHERE action = 'login.distributed_attack'"""
    )
    assert [tuple(a) for a in alerts] == [("account:ito", "10", "10")]
    assert "login.locked" not in await _actions(db)

    # The next window's first failure alerts again.
    await db.execute("UPDATE admin_login_alerts SET alerted_at = alerted_at - interval '5 min'")
    assert await _try(http, site, token, "ito", "wrong-password-here", "10.3.0.26") == 401
    assert (await _actions(db)).count("login.distributed_attack") == 2

    assert await _try(http, site, token, "ito", PASSWORD, "10.4.0.1") == 303
    async with http.get(f"{site}/audit", headers={"X-Forwarded-For": "10.4.0.1"}) as r:
        assert r.status == 200
        assert "警告: 複数の接続元からのログイン失敗" in await r.text()


async def test_forwarding_headers_only_from_declared_proxies(
    site: str, serve: Serve, http: aiohttp.ClientSession, db: asyncpg.Connection
) -> None:
    """Forwarding headers from an undeclared peer get 400 (so it cannot make visitors look
    local); from a declared proxy they decide the address used by allowlist and lockout."""
    undeclared = await serve(admin_settings(trusted_proxies=()))
    async with http.get(f"{undeclared}/login") as r:
        assert r.status == 200  # the peer itself, 127.0.0.1, is allowlisted
    for header in (
        {"X-Forwarded-For": "10.1.2.3"},
        {"Forwarded": "for=10.1.2.3"},
        {"X-Real-IP": "10.1.2.3"},
    ):
        async with http.get(f"{undeclared}/login", headers=header) as r:
            assert r.status == 400, header
            text = await r.text()
            assert 'error-id">forwarding_refused' in text
            assert "登録された中継サーバー" in text
    async with http.get(f"{undeclared}/healthz", headers={"X-Forwarded-For": "10.1.2.3"}) as r:
        assert r.status == 400 and (await r.json())["error"] == "forwarding_refused"

    # Declared proxy (127.0.0.1): the forwarded client is the one the allowlist judges.
    for header, status in (
        ({"X-Forwarded-For": "192.0.2.10"}, 403),
        ({"Forwarded": "for=192.0.2.10;proto=https"}, 403),
        ({"Forwarded": 'for="[2001:db8::1]:4711"'}, 403),
        ({"Forwarded": "for=10.7.7.7"}, 200),
        ({"X-Forwarded-For": "unknown"}, 400),
        ({"X-Forwarded-For": "10.1.1.1", "Forwarded": "for=10.2.2.2"}, 400),
    ):
        async with http.get(f"{site}/login", headers=header) as r:
            assert r.status == status, header
    await make_account(db, "kato")
    token = await _login_token(http, site, "10.6.6.6")
    assert await _try(http, site, token, "kato", PASSWORD, "10.6.6.6") == 303
    assert await db.fetchval("SELECT host(ip) FROM admin_sessions") == "10.6.6.6"
