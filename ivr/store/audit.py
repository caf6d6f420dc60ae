"""The audit log's writer, shared by the admin site and the command line.

Every settings change (flows, calendar, guidance, targets, templates, accounts,
allowlist) appends one row: who, what, on what, before and after, from where.
The admin site shows and exports these rows (``ivr_admin.audit``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeAlias

import asyncpg
import structlog

if TYPE_CHECKING:
    from asyncpg.pool import PoolConnectionProxy

    Conn: TypeAlias = asyncpg.Connection[asyncpg.Record] | PoolConnectionProxy[asyncpg.Record]

log = structlog.get_logger("ivr.audit")

_SECRET_KEYS = frozenset({"password", "password_hash", "totp_secret", "secret", "token"})


def scrub(values: Mapping[str, Any] | None) -> str | None:
    """JSON for the log; secrets never reach it, even if a caller passes them by mistake."""
    if values is None:
        return None
    clean = {k: ("***" if k in _SECRET_KEYS else v) for k, v in values.items()}
    return json.dumps(clean, ensure_ascii=False, default=str)


async def record(
    conn: Conn,
    actor: str | None,
    action: str,
    target: str = "",
    before: Mapping[str, Any] | None = None,
    after: Mapping[str, Any] | None = None,
    ip: object | None = None,
) -> None:
    """Append one entry (actor: a login ID, or e.g. ``cli:tanaka``; None for the system).

    Call it inside the change's own transaction, so a change and its record stand or
    fall together."""
    await conn.execute(
        """INSERT INTO admin_audit (actor, action, target, before, after, ip)
           VALUES ($1, $2, $3, $4::jsonb, $5::jsonb, $6)""",
        actor or "",
        action,
        target,
        scrub(before),
        scrub(after),
        None if ip is None else str(ip),
    )
    log.info("audit", actor=actor or "", action=action, target=target, ip=str(ip or ""))
