"""Facts read from the database for /healthz and /metrics: reachable, and recent counts.

Every query is bounded (indexed ranges over the last hour, or the outbox's partial
index of pending rows), so a scrape stays cheap with millions of calls.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Protocol

import asyncpg

RECENT = timedelta(hours=1)

_QUERIES = {
    "calls": """SELECT coalesce(outcome, 'unknown') AS k, count(*) AS n FROM calls
                WHERE started_at > now() - $1::interval AND ended_at IS NOT NULL GROUP BY 1""",
    "transfers": """SELECT coalesce(outcome, 'in_progress') AS k, count(*) AS n
                    FROM transfer_attempts WHERE started_at > now() - $1::interval GROUP BY 1""",
    "sms": """SELECT status AS k, count(*) AS n FROM sms_outbox
              WHERE status IN ('queued', 'sending') GROUP BY 1""",
    "logins": """SELECT action AS k, count(*) AS n FROM admin_audit
                 WHERE at > now() - $1::interval
                   AND action IN ('login.failure', 'login.locked', 'login.distributed_attack')
                 GROUP BY 1""",
}


@dataclass
class DbFacts:
    up: bool = False
    error: str = ""
    counts: dict[str, dict[str, int]] = field(default_factory=dict)  # query -> key -> n
    sms_oldest_pending_seconds: float = 0.0


class _Conn(Protocol):
    async def fetchval(self, query: str, *args: Any, timeout: float | None = None) -> Any: ...

    async def fetch(self, query: str, *args: Any, timeout: float | None = None) -> list[Any]: ...


async def probe(dsn: str, timeout: float, queries: tuple[str, ...] = ()) -> DbFacts:
    """Connect, check, and run the named queries (a missing table is skipped, not fatal)."""
    try:
        conn = await asyncpg.connect(dsn, timeout=timeout)
    except Exception as e:  # whatever the driver raises, the answer is "down"
        return DbFacts(error=f"{type(e).__name__}: {e}"[:300])
    try:
        return await read(conn, timeout, queries)
    finally:
        await conn.close(timeout=timeout)


async def read(conn: _Conn, timeout: float, queries: tuple[str, ...] = ()) -> DbFacts:
    """The checks of ``probe`` on a connection already open (e.g. from a pool)."""
    facts = DbFacts()
    try:
        await conn.fetchval("SELECT 1", timeout=timeout)
        facts.up = True
        for name in queries:
            try:
                sql = _QUERIES[name]
                args = (RECENT,) if "$1" in sql else ()
                rows = await conn.fetch(sql, *args, timeout=timeout)
            except asyncpg.UndefinedTableError:
                continue  # an older schema: `ivr migrate` adds it
            facts.counts[name] = {str(r["k"]): int(r["n"]) for r in rows}
        if "sms" in facts.counts:
            oldest = await conn.fetchval(
                """SELECT extract(epoch FROM now() - min(requested_at)) FROM sms_outbox
                   WHERE status IN ('queued', 'sending')""",
                timeout=timeout,
            )
            facts.sms_oldest_pending_seconds = float(oldest or 0.0)
    except Exception as e:  # e.g. a connection the server just terminated
        facts.up = facts.up and isinstance(e, asyncpg.PostgresError)  # e.g. no permission
        facts.error = f"{type(e).__name__}: {e}"[:300]
    return facts
