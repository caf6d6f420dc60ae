"""Server-side sessions in PostgreSQL, so that any of them can be ended at once."""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from typing import TYPE_CHECKING

from aiohttp import web

from ivr.config import AdminSettings

from .model import Account, Address, Session

if TYPE_CHECKING:
    from .db import Conn

_BASE_NAME = "ivr_admin_session"


def cookie_name(settings: AdminSettings) -> str:
    # The __Host- prefix makes the browser refuse the cookie unless it is Secure, host-only
    # and for path "/", so a sibling subdomain cannot plant one.
    return f"__Host-{_BASE_NAME}" if settings.cookie_secure else _BASE_NAME


def token_hash(token: str) -> bytes:
    return hashlib.sha256(token.encode("utf-8", "replace")).digest()


async def create(
    conn: Conn, account_id: int, stage: str, ip: Address, user_agent: str
) -> tuple[str, str]:
    """Start a session; return the cookie token and the session's CSRF token.

    Called at every step of a login, so the session id changes whenever the privilege
    does (no fixation).
    """
    token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    await conn.execute(
        """INSERT INTO admin_sessions (token_hash, account_id, stage, csrf_token, ip, user_agent)
           VALUES ($1, $2, $3, $4, $5, $6)""",
        token_hash(token),
        account_id,
        stage,
        csrf,
        str(ip),
        user_agent[:300],
    )
    return token, csrf


async def load(conn: Conn, token: str, settings: AdminSettings) -> Session | None:
    """The live session for ``token``, touched; None if unknown, timed out or the account is
    suspended or expired."""
    row = await conn.fetchrow(
        """WITH s AS (
               UPDATE admin_sessions SET last_seen_at = now()
               WHERE token_hash = $1 AND last_seen_at > now() - $2::interval
                 AND created_at > now() - $3::interval
               RETURNING token_hash, account_id, stage, csrf_token, pending_totp)
           SELECT s.token_hash, s.stage, s.csrf_token, s.pending_totp, a.*
           FROM s JOIN admin_accounts a ON a.id = s.account_id
           WHERE a.suspended_at IS NULL
             AND (a.expires_on IS NULL
                  OR a.expires_on >= (now() AT TIME ZONE 'Asia/Tokyo')::date)""",
        token_hash(token),
        dt.timedelta(minutes=settings.session_idle_minutes),
        dt.timedelta(hours=settings.session_absolute_hours),
    )
    if row is None:
        return None
    return Session(
        token_hash=row["token_hash"],
        stage=row["stage"],
        csrf_token=row["csrf_token"],
        pending_totp=row["pending_totp"],
        account=Account.from_row(row),
    )


async def end(conn: Conn, hashed: bytes) -> None:
    await conn.execute("DELETE FROM admin_sessions WHERE token_hash = $1", hashed)


async def end_all(conn: Conn, account_id: int, keep: bytes | None = None) -> None:
    """End every session of an account (suspension, password change), except ``keep``."""
    await conn.execute(
        "DELETE FROM admin_sessions WHERE account_id = $1 AND token_hash IS DISTINCT FROM $2",
        account_id,
        keep,
    )


async def set_pending_totp(conn: Conn, hashed: bytes, secret: str | None) -> None:
    await conn.execute(
        "UPDATE admin_sessions SET pending_totp = $2 WHERE token_hash = $1", hashed, secret
    )


async def purge(conn: Conn, settings: AdminSettings) -> None:
    await conn.execute(
        "DELETE FROM admin_sessions WHERE last_seen_at < now() - $1::interval"
        " OR created_at < now() - $2::interval",
        dt.timedelta(minutes=settings.session_idle_minutes),
        dt.timedelta(hours=settings.session_absolute_hours),
    )


def set_cookie(response: web.StreamResponse, settings: AdminSettings, token: str) -> None:
    # No Max-Age: the cookie ends with the browser; the server enforces both timeouts.
    response.set_cookie(
        cookie_name(settings),
        token,
        path="/",
        secure=settings.cookie_secure,
        httponly=True,
        samesite="Strict",
    )


def clear_cookie(response: web.StreamResponse, settings: AdminSettings) -> None:
    response.del_cookie(
        cookie_name(settings),
        path="/",
        secure=settings.cookie_secure,
        httponly=True,
        samesite="Strict",
    )
