"""Admin site fixtures: the site served on 127.0.0.1, real PostgreSQL, headless Chromium."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aiohttp
import asyncpg
import pyotp
import pytest
from aiohttp import web
from playwright.async_api import Browser, BrowserContext, Page, async_playwright

from ivr.config import AdminSettings, Settings
from ivr.dev.postgres import free_port
from ivr_admin import create_app, passwords

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
# 10.0.0.0/8 is allowed and 127.0.0.1 is a trusted proxy, so a test can appear to come
# from an allowed (10.x) or a refused (192.0.2.x) address with X-Forwarded-For.
TEST_ADMIN = AdminSettings(
    cookie_secure=False,
    allowlist=("127.0.0.0/8", "::1/128", "10.0.0.0/8"),
    trusted_proxies=("127.0.0.1/32",),
)
PASSWORD = "kumo-yama-umi-sora-7"  # passes the policy

Serve = Callable[..., Awaitable[str]]


def admin_settings(**changes: Any) -> Settings:
    return Settings(admin=dataclasses.replace(TEST_ADMIN, **changes))


async def _start(
    settings: Settings, dsn: str, ssl_context: Any = None
) -> tuple[web.AppRunner, str]:
    runner = web.AppRunner(create_app(settings, dsn), access_log=None)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port, ssl_context=ssl_context).start()
    scheme = "https" if ssl_context else "http"
    return runner, f"{scheme}://127.0.0.1:{port}"


@pytest.fixture(scope="session")
async def site(database_dsn: str) -> AsyncIterator[str]:
    """Base URL of the admin site with the test settings, for the whole session."""
    runner, url = await _start(admin_settings(), database_dsn)
    yield url
    await runner.cleanup()


@pytest.fixture
async def serve(database_dsn: str) -> AsyncIterator[Serve]:
    """Start another instance with other settings; returns its base URL."""
    runners: list[web.AppRunner] = []

    async def start(settings: Settings, ssl_context: Any = None) -> str:
        runner, url = await _start(settings, database_dsn, ssl_context)
        runners.append(runner)
        return url

    yield start
    for runner in runners:
        await runner.cleanup()


@pytest.fixture(autouse=True)
async def clean_admin_tables(db: asyncpg.Connection) -> None:
    """Every test starts with no accounts, sessions, failures or audit entries."""
    await db.execute(
        """TRUNCATE admin_accounts, admin_sessions, admin_login_failures, admin_login_alerts,
               admin_audit RESTART IDENTITY CASCADE;
           UPDATE admin_settings SET value = '[]', updated_by = ''"""
    )


async def make_account(
    db: asyncpg.Connection,
    login_id: str,
    role: str = "administrator",
    password: str = PASSWORD,
    *,
    must_change: bool = False,
    totp_secret: str | None = None,
) -> int:
    """Insert an account directly; returns its id."""
    account_id: int = await db.fetchval(
        """INSERT INTO admin_accounts
               (login_id, role, password_hash, must_change_password, totp_secret)
           VALUES ($1, $2, $3, $4, $5) RETURNING id""",
        login_id,
        role,
        passwords.hash_now(password),
        must_change,
        totp_secret,
    )
    return account_id


@pytest.fixture(scope="session")
async def browser() -> AsyncIterator[Browser]:
    """One headless Chromium (Debian's) for the whole session."""
    async with async_playwright() as p:
        b = await p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        yield b
        await b.close()


@pytest.fixture
async def new_context(browser: Browser) -> AsyncIterator[Callable[[], Awaitable[BrowserContext]]]:
    """Open isolated browser contexts (separate cookies); all closed after the test."""
    opened: list[BrowserContext] = []

    async def make() -> BrowserContext:
        ctx = await browser.new_context(
            locale="ja-JP", timezone_id="Asia/Tokyo", viewport={"width": 1280, "height": 800}
        )
        ctx.set_default_timeout(10_000)
        opened.append(ctx)
        return ctx

    yield make
    for ctx in opened:
        await ctx.close()


@pytest.fixture
async def page(new_context: Callable[[], Awaitable[BrowserContext]]) -> Page:
    """A page in a fresh browser context."""
    ctx = await new_context()
    return await ctx.new_page()


async def login(page: Page, site: str, login_id: str, password: str = PASSWORD) -> None:
    """Fill in and send the login form."""
    await page.goto(f"{site}/login")
    await page.get_by_label("ログインID").fill(login_id)
    await page.get_by_label("パスワード").fill(password)
    await page.get_by_role("button", name="ログイン").click()
    await page.wait_for_load_state()


def totp_code(secret: str, offset_steps: int = 0) -> str:
    """The code an authenticator app would show, ``offset_steps`` x 30 s from now."""
    import time

    return pyotp.TOTP(secret).at(time.time() + 30 * offset_steps)


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    """A plain HTTP client that keeps cookies for 127.0.0.1."""
    async with aiohttp.ClientSession(
        cookie_jar=aiohttp.CookieJar(unsafe=True), connector=aiohttp.TCPConnector(force_close=True)
    ) as session:
        yield session
