"""Fixtures shared by every tier: a real PostgreSQL database per test session."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import asyncpg
import pytest

from ivr.dev import postgres
from ivr.store.migrate import migrate


@pytest.fixture(scope="session")
async def pg_admin_dsn() -> str:
    """Admin DSN of the configured, local or a private PostgreSQL server."""
    return await postgres.admin_dsn()


@pytest.fixture(scope="session")
async def database_dsn(pg_admin_dsn: str) -> AsyncIterator[str]:
    """A fresh database with every migration applied, dropped at the end."""
    name = f"ivr_test_{uuid.uuid4().hex[:10]}"
    dsn = await postgres.create_database(pg_admin_dsn, name)
    conn = await asyncpg.connect(dsn)
    try:
        await migrate(conn)
    finally:
        await conn.close()
    yield dsn
    await postgres.drop_database(pg_admin_dsn, name)


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
