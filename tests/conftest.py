"""Fixtures shared by every tier: a real PostgreSQL database per test session."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg
import pytest

from ivr.dev import postgres
from ivr.store.migrate import migrate


@pytest.fixture(scope="session")
async def pg_admin_dsn() -> str:
    """Admin DSN of the configured, local or a private PostgreSQL server."""
    return await postgres.admin_dsn()


@asynccontextmanager
async def fresh_database(admin_dsn: str, prefix: str = "ivr_test") -> AsyncIterator[str]:
    """A new database with every migration applied, dropped when the block ends."""
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    dsn = await postgres.create_database(admin_dsn, name)
    try:
        conn = await asyncpg.connect(dsn)
        try:
            await migrate(conn)
        finally:
            await conn.close()
        yield dsn
    finally:
        await postgres.drop_database(admin_dsn, name)


@pytest.fixture(scope="session")
async def database_dsn(pg_admin_dsn: str) -> AsyncIterator[str]:
    """The session's database, shared by the tests that do not need one of their own."""
    async with fresh_database(pg_admin_dsn) as dsn:
        yield dsn


@pytest.fixture
async def fresh_dsn(pg_admin_dsn: str) -> AsyncIterator[str]:
    """A database of this test's own (others publish flows and calendars into the shared one)."""
    async with fresh_database(pg_admin_dsn, "ivr_own") as dsn:
        yield dsn


@pytest.fixture
async def db(database_dsn: str) -> AsyncIterator[asyncpg.Connection]:
    """A connection to the session's test database."""
    conn = await asyncpg.connect(database_dsn)
    yield conn
    await conn.close()


def pytest_report_header() -> list[str]:
    """Say loudly which Asterisk the end-to-end tests run against."""
    from ivr.dev.asterisk import AsteriskSetupError, load_install

    try:
        install = load_install()
    except AsteriskSetupError as e:
        return [f"asterisk: NOT INSTALLED ({e})"]
    if install.is_fallback:
        return [
            "!" * 70,
            f"asterisk: FALLBACK {install.version} — not the production release (22 LTS)",
            "!" * 70,
        ]
    return [f"asterisk: {install.version} ({install.mode})"]
