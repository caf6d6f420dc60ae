"""Two-step login is required of administrators by default, and a server-side command
resets an administrator's second factor when the device is lost."""

from __future__ import annotations

import asyncio
import ipaddress
import os
import re
import shutil
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import asyncpg
import pyotp
import pytest
from aiohttp import web

from ivr.dev import postgres
from ivr.dev.postgres import free_port
from ivr.store.migrate import SQL_DIR, migrate
from ivr_admin import create_app, sessions

from .conftest import PASSWORD, admin_settings, make_account


async def _login(http: aiohttp.ClientSession, site: str, login_id: str) -> str:
    """Log in with the password; where the site sends the browser next."""
    async with http.get(f"{site}/login") as r:
        token = re.search(r'name="csrf_token" value="([^"]+)"', await r.text())
    assert token
    form = {"csrf_token": token.group(1), "login_id": login_id, "password": PASSWORD}
    async with http.post(f"{site}/login", data=form, allow_redirects=False) as r:
        assert r.status == 303, await r.text()
        location = r.headers["Location"]
    async with http.get(f"{site}{location}", allow_redirects=False) as r:
        return r.headers.get("Location", location) if r.status in (302, 303) else location


@pytest.fixture
async def fresh_site(fresh_dsn: str) -> AsyncIterator[tuple[str, str]]:
    """The site on a database with every migration and nothing edited: (url, dsn)."""
    runner = web.AppRunner(create_app(admin_settings(), fresh_dsn), access_log=None)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    yield f"http://127.0.0.1:{port}", fresh_dsn
    await runner.cleanup()


async def test_administrators_must_enrol_by_default(
    fresh_site: tuple[str, str], http: aiohttp.ClientSession
) -> None:
    """On a new installation an administrator is sent to enrol an authenticator before
    any page; an operator is not; the migration that set the default is audit-logged."""
    site, dsn = fresh_site
    conn = await asyncpg.connect(dsn)
    try:
        await make_account(conn, "kanri", "administrator")
        await make_account(conn, "unyou", "operator")
        policy = await conn.fetchval(
            "SELECT value::text FROM admin_settings WHERE key = 'totp_required_roles'"
        )
        audit = await conn.fetchval(
            "SELECT after::text FROM admin_audit WHERE action = 'totp_policy.update'"
        )
    finally:
        await conn.close()
    assert policy == '["administrator"]'
    assert audit is not None and "migration 0070" in audit
    assert await _login(http, site, "kanri") == "/account/totp"
    http.cookie_jar.clear()
    assert await _login(http, site, "unyou") == "/"


async def _database_before_0070(admin_dsn: str, tmp_path: Path) -> tuple[str, str]:
    older = tmp_path / "sql"
    older.mkdir(parents=True)
    for path in SQL_DIR.glob("*.sql"):
        if int(path.name[:4]) < 70:
            shutil.copy(path, older / path.name)
    name = f"ivr_own_{os.urandom(5).hex()}"
    dsn = await postgres.create_database(admin_dsn, name)
    conn = await asyncpg.connect(dsn)
    try:
        await migrate(conn, older)
    finally:
        await conn.close()
    return name, dsn


async def test_a_policy_an_administrator_chose_is_kept(pg_admin_dsn: str, tmp_path: Path) -> None:
    """Upgrading a site whose administrators switched two-step login off on purpose does
    not switch it back on; an untouched site gets the new default."""
    results = []
    for edited_by in ("tanaka", ""):
        name, dsn = await _database_before_0070(pg_admin_dsn, tmp_path / (edited_by or "x"))
        try:
            conn = await asyncpg.connect(dsn)
            try:
                await conn.execute(
                    "UPDATE admin_settings SET updated_by = $1 WHERE key = 'totp_required_roles'",
                    edited_by,
                )
                await migrate(conn)
                results.append(
                    await conn.fetchval(
                        "SELECT value::text FROM admin_settings WHERE key = 'totp_required_roles'"
                    )
                )
            finally:
                await conn.close()
        finally:
            await postgres.drop_database(pg_admin_dsn, name)
    assert results == ["[]", '["administrator"]']


async def _command(*args: str, dsn: str) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "ivr_admin", *args,
        env={**os.environ, "IVR_DATABASE_URL": dsn},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    return proc.returncode or 0, out.decode(), err.decode()


async def test_reset_totp_command_makes_the_account_enrol_again(
    site: str, database_dsn: str, db: asyncpg.Connection, http: aiohttp.ClientSession
) -> None:
    """`reset-totp` clears the lost authenticator, ends the account's sessions and is
    audit-logged; the next login asks for a new enrolment instead of a code."""
    await db.execute(
        "UPDATE admin_settings SET value = '[\"administrator\"]' WHERE key = 'totp_required_roles'"
    )
    account = await make_account(db, "kanri", totp_secret=pyotp.random_base32())
    await sessions.create(db, account, "full", ipaddress.ip_address("10.0.0.5"), "old phone")
    assert (await _login(http, site, "kanri")).startswith("/login/totp")  # a code is asked
    http.cookie_jar.clear()

    code, out, err = await _command("reset-totp", "Kanri", dsn=database_dsn)
    assert code == 0, err
    assert "2段階認証を解除しました" in out
    row = await db.fetchrow(
        "SELECT totp_secret, totp_last_step FROM admin_accounts WHERE id = $1", account
    )
    assert row is not None and row["totp_secret"] is None and row["totp_last_step"] is None
    assert (
        await db.fetchval("SELECT count(*) FROM admin_sessions WHERE account_id = $1", account) == 0
    )
    audit = await db.fetchrow(
        "SELECT actor, target, after::text FROM admin_audit WHERE action = 'account.totp_reset'"
    )
    assert audit is not None and audit["target"] == "account:kanri"
    assert "command line" in audit["after"]
    assert await _login(http, site, "kanri") == "/account/totp"

    code, _, err = await _command("reset-totp", "nobody", dsn=database_dsn)
    assert code == 1 and "nobody" in err
