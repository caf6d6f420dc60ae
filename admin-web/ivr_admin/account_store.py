"""Account rows: every query the views, the login and the CLI need."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

import asyncpg

from .model import Account, Address, Role

if TYPE_CHECKING:
    from .db import Conn

LOGIN_ID = re.compile(r"^[a-z0-9][a-z0-9._-]{2,31}$")
LOGIN_ID_RULE = (
    "ログインIDは半角の英小文字・数字と . _ - で、3〜32文字にしてください（先頭は英数字）。"
)


class LoginIdTaken(Exception):
    """Another account already uses this login ID."""


@dataclass(frozen=True)
class Credentials:
    account: Account
    password_hash: str
    totp_secret: str | None
    totp_last_step: int | None


async def get(conn: Conn, account_id: int) -> Account | None:
    row = await conn.fetchrow("SELECT * FROM admin_accounts WHERE id = $1", account_id)
    return None if row is None else Account.from_row(row)


async def credentials(conn: Conn, login_id: str) -> Credentials | None:
    row = await conn.fetchrow("SELECT * FROM admin_accounts WHERE login_id = $1", login_id)
    if row is None:
        return None
    return Credentials(
        Account.from_row(row), row["password_hash"], row["totp_secret"], row["totp_last_step"]
    )


async def list_all(conn: Conn) -> list[Account]:
    rows = await conn.fetch("SELECT * FROM admin_accounts ORDER BY login_id")
    return [Account.from_row(r) for r in rows]


async def create(
    conn: Conn,
    login_id: str,
    display_name: str,
    role: Role,
    expires_on: dt.date | None,
    password_hash: str,
) -> Account:
    try:
        row = await conn.fetchrow(
            """INSERT INTO admin_accounts (login_id, display_name, role, expires_on, password_hash)
               VALUES ($1, $2, $3, $4, $5) RETURNING *""",
            login_id,
            display_name,
            role.value,
            expires_on,
            password_hash,
        )
    except asyncpg.UniqueViolationError as e:
        raise LoginIdTaken(login_id) from e
    assert row is not None
    return Account.from_row(row)


async def _update(conn: Conn, account_id: int, assignments: str, *args: object) -> Account:
    row = await conn.fetchrow(
        f"UPDATE admin_accounts SET {assignments}, updated_at = now() WHERE id = $1 RETURNING *",
        account_id,
        *args,
    )
    assert row is not None
    return Account.from_row(row)


async def update(
    conn: Conn, account_id: int, display_name: str, role: Role, expires_on: dt.date | None
) -> Account:
    return await _update(
        conn,
        account_id,
        "display_name = $2, role = $3, expires_on = $4",
        display_name,
        role.value,
        expires_on,
    )


async def set_suspended(conn: Conn, account_id: int, suspended: bool) -> Account:
    return await _update(conn, account_id, "suspended_at = CASE WHEN $2 THEN now() END", suspended)


async def set_password(conn: Conn, account_id: int, password_hash: str, must_change: bool) -> None:
    await _update(
        conn,
        account_id,
        "password_hash = $2, must_change_password = $3",
        password_hash,
        must_change,
    )


async def set_totp(conn: Conn, account_id: int, secret: str | None, step: int | None) -> Account:
    return await _update(conn, account_id, "totp_secret = $2, totp_last_step = $3", secret, step)


async def accept_totp_step(conn: Conn, account_id: int, step: int) -> bool:
    """Claim a TOTP time step atomically, so one code cannot be used twice (even at once)."""
    claimed = await conn.fetchval(
        """UPDATE admin_accounts SET totp_last_step = $2
           WHERE id = $1 AND (totp_last_step IS NULL OR totp_last_step < $2) RETURNING id""",
        account_id,
        step,
    )
    return claimed is not None


async def note_login(conn: Conn, account_id: int, ip: Address) -> None:
    await conn.execute(
        "UPDATE admin_accounts SET last_login_at = now(), last_login_ip = $2 WHERE id = $1",
        account_id,
        str(ip),
    )


async def other_active_administrators(conn: Conn, account_id: int) -> int:
    """Active administrators besides ``account_id`` — there must always be one left."""
    count = await conn.fetchval(
        """SELECT count(*) FROM admin_accounts
           WHERE role = 'administrator' AND suspended_at IS NULL AND id <> $1
             AND (expires_on IS NULL OR expires_on >= (now() AT TIME ZONE 'Asia/Tokyo')::date)""",
        account_id,
    )
    return int(count)
