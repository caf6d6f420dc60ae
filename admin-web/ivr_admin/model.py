"""Domain types of the admin site: roles, accounts, sessions, the visitor."""

from __future__ import annotations

import datetime as dt
import enum
import ipaddress
from dataclasses import dataclass
from typing import Any, Protocol
from zoneinfo import ZoneInfo

TOKYO = ZoneInfo("Asia/Tokyo")
Address = ipaddress.IPv4Address | ipaddress.IPv6Address


class Row(Protocol):
    """A database row (asyncpg.Record) or any mapping by column name."""

    def __getitem__(self, key: str, /) -> Any: ...


class Role(enum.StrEnum):
    """Roles form a ladder: each one may do everything the roles below it may do."""

    VIEWER = "viewer"
    OPERATOR = "operator"
    ADMINISTRATOR = "administrator"

    @property
    def rank(self) -> int:
        return _RANKS[self]

    @property
    def label(self) -> str:
        return _LABELS[self]

    def allows(self, needed: Role) -> bool:
        return self.rank >= needed.rank


_RANKS = {Role.VIEWER: 0, Role.OPERATOR: 1, Role.ADMINISTRATOR: 2}
_LABELS = {Role.VIEWER: "閲覧者", Role.OPERATOR: "運用担当者", Role.ADMINISTRATOR: "管理者"}


def today_tokyo() -> dt.date:
    return dt.datetime.now(TOKYO).date()


@dataclass(frozen=True)
class Account:
    """An account as the site shows it; the password hash and TOTP secret stay in the database."""

    id: int
    login_id: str
    display_name: str
    role: Role
    must_change_password: bool
    suspended_at: dt.datetime | None
    expires_on: dt.date | None
    totp_enabled: bool
    last_login_at: dt.datetime | None
    last_login_ip: str | None
    created_at: dt.datetime

    @classmethod
    def from_row(cls, row: Row) -> Account:
        ip = row["last_login_ip"]
        return cls(
            id=row["id"],
            login_id=row["login_id"],
            display_name=row["display_name"],
            role=Role(row["role"]),
            must_change_password=row["must_change_password"],
            suspended_at=row["suspended_at"],
            expires_on=row["expires_on"],
            totp_enabled=row["totp_secret"] is not None,
            last_login_at=row["last_login_at"],
            last_login_ip=None if ip is None else str(ip),
            created_at=row["created_at"],
        )

    @property
    def expired(self) -> bool:
        return self.expires_on is not None and today_tokyo() > self.expires_on

    @property
    def active(self) -> bool:
        return self.suspended_at is None and not self.expired

    @property
    def status_label(self) -> str:
        if self.suspended_at is not None:
            return "停止中"
        return "期限切れ" if self.expired else "有効"

    def audit_view(self) -> dict[str, Any]:
        """The fields an audit entry records as before/after values."""
        return {
            "login_id": self.login_id,
            "display_name": self.display_name,
            "role": self.role.value,
            "suspended": self.suspended_at is not None,
            "expires_on": None if self.expires_on is None else self.expires_on.isoformat(),
            "totp": self.totp_enabled,
        }


@dataclass(frozen=True)
class Session:
    token_hash: bytes
    stage: str  # "mfa" until the second factor is given, then "full"
    csrf_token: str
    pending_totp: str | None
    account: Account


@dataclass(frozen=True)
class Visitor:
    """Who is asking: the client address (after trusted proxies) and the session, if any."""

    ip: Address
    session: Session | None
    had_cookie: bool  # a session cookie came but matched no live session
