"""Database access shared by the views: the connection type and pool lifecycle."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING, TypeAlias

import asyncpg
from aiohttp import web

from .keys import POOL

if TYPE_CHECKING:
    from asyncpg.pool import PoolAcquireContext, PoolConnectionProxy

    # A plain connection (CLI, tests) or one borrowed from the site's pool.
    Conn: TypeAlias = asyncpg.Connection[asyncpg.Record] | PoolConnectionProxy[asyncpg.Record]


def connection(request: web.Request) -> PoolAcquireContext[asyncpg.Record]:
    """``async with connection(request) as conn:`` borrows a pooled connection."""
    return request.app[POOL].acquire()


def pool_context(dsn: str) -> Callable[[web.Application], AsyncIterator[None]]:
    async def ctx(app: web.Application) -> AsyncIterator[None]:
        pool = await asyncpg.create_pool(dsn, min_size=1, max_size=5, command_timeout=30)
        app[POOL] = pool
        yield
        await pool.close()

    return ctx
