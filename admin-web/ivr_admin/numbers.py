"""Phone numbers as staff see them (docs/personal-data.md, "Who sees numbers"): masked
to the last four digits for every role below administrator; an administrator sees
whole numbers only on asking for them, and each such view is written to the audit log.

Every page and export that shows a caller's or a recipient's number goes through
:func:`shown`; a whole-number view through :func:`audit_full_view`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from aiohttp import web

from ivr.log import mask_number
from ivr.retention.model import hashed

from . import audit
from .keys import VISITOR
from .model import Role

if TYPE_CHECKING:
    from .db import Conn

WITHHELD = "非通知"
EXPIRED = "保存期間経過"
"""A number past its retention period: the record keeps only a keyed hash of it."""


def shown(number: str, full: bool) -> str:
    """How a number reads on a page or in a CSV: the last four digits (``*******5678``),
    the whole number when ``full``; 非通知 for none; 保存期間経過 for a hash."""
    if not number:
        return WITHHELD
    if hashed(number):
        return EXPIRED
    return number if full else mask_number(number)


def may_see_full(request: web.Request) -> bool:
    """Only an administrator may see whole numbers."""
    session = request[VISITOR].session
    return session is not None and session.account.role is Role.ADMINISTRATOR


async def audit_full_view(
    conn: Conn, request: web.Request, action: str, target: str, detail: Mapping[str, Any]
) -> None:
    """Write who saw whole numbers, where, and which (the filter, how many rows) —
    never the numbers themselves — to the audit log."""
    session = request[VISITOR].session
    assert session is not None
    await audit.record(
        conn, session.account.login_id, action, target, None, dict(detail), request[VISITOR].ip
    )
