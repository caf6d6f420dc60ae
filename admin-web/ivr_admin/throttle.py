"""Brute-force limits ("Lockout policy" in admin-web/README.md).

Failures (wrong password at login, wrong current password on the change form, wrong
second-step code) are counted per (login ID, source address) and per source address.
Reaching ``login_max_failures`` within the window refuses that login ID from that
address; reaching it over two or more login IDs refuses the address for all of them.
So one place's failures never refuse an account everywhere (an attacker cannot shut
its owner out), nor an address for everyone (one person's typing errors do not stop a
whole office behind one address). Failures against one login ID from many addresses
raise an audit alert instead (``Failure.alert``), once per window.

Check, verification and record run in one transaction that holds a transaction-scoped
advisory lock on the source address (``serialise``), so parallel requests from one
address are answered one after another and cannot all pass the check before any of
them is recorded. The lock is per address, not per (login ID, address), because the
per-address count spans every login ID.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ivr.config import AdminSettings

from .model import Address

if TYPE_CHECKING:
    from .db import Conn

# First key of pg_advisory_xact_lock(int, int); the second is hashtext(address). This
# two-key space never overlaps the one-bigint locks (e.g. the migration runner's).
_LOCK_CLASS = 0x1AD0


@dataclass(frozen=True)
class Spread:
    """Failures against one login ID within the window, from more than one address."""

    failures: int
    addresses: int


@dataclass(frozen=True)
class Failure:
    """What one recorded failure started."""

    locked: str | None  # "account_address" or "address" when it reached a limit
    alert: Spread | None  # the login ID is being tried from many addresses (first in window)


def _window(settings: AdminSettings) -> dt.timedelta:
    return dt.timedelta(minutes=settings.login_window_minutes)


async def serialise(conn: Conn, ip: Address) -> None:
    """Wait for, and hold until the transaction ends, this address's attempt lock."""
    if not conn.is_in_transaction():
        raise RuntimeError("throttle.serialise must run inside a transaction")
    await conn.execute("SELECT pg_advisory_xact_lock($1, hashtext($2))", _LOCK_CLASS, str(ip))


async def _locks(conn: Conn, settings: AdminSettings, login_id: str, ip: Address) -> str | None:
    """Which refusal holds for this login ID from this address, if any: "address" (the
    limit reached over two or more login IDs: guessing IDs, spraying a password) or
    "account_address" (the limit reached for this login ID from here). Failures against
    a single login ID never refuse the address for anyone else."""
    row = await conn.fetchrow(
        """SELECT count(*) FILTER (WHERE login_id = $1) AS by_account,
                  count(*) AS by_address,
                  count(DISTINCT login_id) AS login_ids
           FROM admin_login_failures
           WHERE ip = $2 AND at > now() - $3::interval""",
        login_id,
        str(ip),
        _window(settings),
    )
    assert row is not None
    limit = settings.login_max_failures
    if row["by_address"] >= limit and row["login_ids"] >= 2:
        return "address"
    return "account_address" if row["by_account"] >= limit else None


async def refused(conn: Conn, settings: AdminSettings, login_id: str, ip: Address) -> bool:
    """True while this address has used up its failures, for this login ID or for all.

    Checked before the password, so a refused attempt is not verified even with the right
    password and guessing stops paying off. Call it after ``serialise``.
    """
    return await _locks(conn, settings, login_id, ip) is not None


async def fail(conn: Conn, settings: AdminSettings, login_id: str, ip: Address) -> Failure:
    """Record a failure (after ``serialise`` and a ``refused`` that said no, so a refusal
    holding now is one this failure started)."""
    await conn.execute(
        "INSERT INTO admin_login_failures (login_id, ip) VALUES ($1, $2)", login_id, str(ip)
    )
    locked = await _locks(conn, settings, login_id, ip)
    return Failure(locked, await _spread(conn, settings, login_id))


async def _spread(conn: Conn, settings: AdminSettings, login_id: str) -> Spread | None:
    """A Spread when the login ID has had the limit's worth of failures from several
    addresses and no alert was raised for it in the window (atomic across addresses)."""
    row = await conn.fetchrow(
        """SELECT count(*) AS failures, count(DISTINCT ip) AS addresses
           FROM admin_login_failures WHERE login_id = $1 AND at > now() - $2::interval""",
        login_id,
        _window(settings),
    )
    assert row is not None
    if row["failures"] < settings.login_max_failures or row["addresses"] < 2:
        return None
    first = await conn.fetchval(
        """INSERT INTO admin_login_alerts AS a (login_id) VALUES ($1)
           ON CONFLICT (login_id) DO UPDATE SET alerted_at = now()
               WHERE a.alerted_at <= now() - $2::interval
           RETURNING true""",
        login_id,
        _window(settings),
    )
    return Spread(int(row["failures"]), int(row["addresses"])) if first else None


async def forget(conn: Conn, login_id: str, ip: Address) -> None:
    """A success clears that account's failures from that address (and only those: the
    owner signing in elsewhere does not give an attacker a fresh allowance)."""
    await conn.execute(
        "DELETE FROM admin_login_failures WHERE login_id = $1 AND ip = $2", login_id, str(ip)
    )


async def purge(conn: Conn, settings: AdminSettings) -> None:
    await conn.execute(
        "DELETE FROM admin_login_failures WHERE at < now() - $1::interval", _window(settings) * 2
    )
    await conn.execute(
        "DELETE FROM admin_login_alerts WHERE alerted_at < now() - $1::interval",
        _window(settings) * 2,
    )
