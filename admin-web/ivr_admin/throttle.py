"""Brute-force limits: failed logins counted per login ID and per source address."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from ivr.config import AdminSettings

from .model import Address

if TYPE_CHECKING:
    from .db import Conn


def _window(settings: AdminSettings) -> dt.timedelta:
    return dt.timedelta(minutes=settings.login_window_minutes)


async def refused(conn: Conn, settings: AdminSettings, login_id: str, ip: Address) -> bool:
    """True while the login ID or the address has used up its failures in the window.

    Checked before the password, so a locked account refuses even the right one and
    guessing stops paying off.
    """
    row = await conn.fetchrow(
        """SELECT count(*) FILTER (WHERE login_id = $1) AS by_login,
                  count(*) FILTER (WHERE ip = $2) AS by_ip
           FROM admin_login_failures
           WHERE at > now() - $3::interval AND (login_id = $1 OR ip = $2)""",
        login_id,
        str(ip),
        _window(settings),
    )
    assert row is not None
    limit = settings.login_max_failures
    return bool(row["by_login"] >= limit or row["by_ip"] >= limit)


async def fail(conn: Conn, settings: AdminSettings, login_id: str, ip: Address) -> bool:
    """Record a failure; True when it is the one that reaches the limit (a lockout starts)."""
    await conn.execute(
        "INSERT INTO admin_login_failures (login_id, ip) VALUES ($1, $2)", login_id, str(ip)
    )
    return await refused(conn, settings, login_id, ip)


async def forget(conn: Conn, login_id: str) -> None:
    """A successful login clears that account's count (the address keeps its own)."""
    await conn.execute("DELETE FROM admin_login_failures WHERE login_id = $1", login_id)


async def purge(conn: Conn, settings: AdminSettings) -> None:
    await conn.execute(
        "DELETE FROM admin_login_failures WHERE at < now() - $1::interval", _window(settings) * 2
    )
