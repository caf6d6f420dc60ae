"""The SMS blocklist staff keep (table ``sms_blocklist``): numbers never sent to.

:func:`ivr.sms.outbox.admit` reads the table in the transaction that admits a request,
so an entry refuses the very next request for its number (outcome ``blocked``), and a
removed one stops refusing at once. (While the database is away the controller decides
alone, from ``sms.blocklist`` in the configuration.)

Numbers are checked with the same ``phonenumbers`` rules as a caller's
(:func:`ivr.sms.numbers.classify`) and stored in the 11-digit national form, the form
the outbox compares: ``+81 90-1234-5678`` and ``09012345678`` are one entry.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, TypeAlias

import asyncpg

from ivr.sms.numbers import classify

if TYPE_CHECKING:
    from asyncpg.pool import PoolConnectionProxy

    Conn: TypeAlias = asyncpg.Connection[asyncpg.Record] | PoolConnectionProxy[asyncpg.Record]

MAX_REASON = 200


class NumberRefused(ValueError):
    """The number cannot go on the list; the message is for staff (Japanese)."""


@dataclass(frozen=True)
class Entry:
    id: int
    number: str  # 11-digit national form
    reason: str
    created_by: str
    created_at: datetime


def parse_number(text: str) -> str:
    """The 11-digit national form of a Japanese mobile number typed by staff; raises
    :class:`NumberRefused` saying why not."""
    if not text.strip():
        raise NumberRefused("電話番号を入力してください。")
    check = classify(text)
    if check.kind == "mobile":
        return check.national
    if check.kind == "landline":
        raise NumberRefused(
            "携帯電話の番号（070・080・090で始まる番号）ではありません。"
            "SMSは携帯電話にだけ送るため、この番号を登録する必要はありません。"
        )
    raise NumberRefused(
        "電話番号として正しくありません。"
        "携帯電話の番号を「09012345678」「090-1234-5678」「+81 90-1234-5678」"
        "のように入力してください。"
    )


_COLUMNS = "id, number, reason, created_by, created_at"


async def entries(conn: Conn) -> list[Entry]:
    """Every entry, the newest first."""
    rows = await conn.fetch(
        f"SELECT {_COLUMNS} FROM sms_blocklist ORDER BY created_at DESC, id DESC"
    )
    return [Entry(**dict(r)) for r in rows]


async def add(conn: Conn, number: str, reason: str, by: str) -> Entry | None:
    """Put ``number`` (already parsed) on the list; None when it is there already."""
    row = await conn.fetchrow(
        f"""INSERT INTO sms_blocklist (number, reason, created_by) VALUES ($1, $2, $3)
            ON CONFLICT (number) DO NOTHING RETURNING {_COLUMNS}""",
        number,
        reason[:MAX_REASON],
        by,
    )
    return None if row is None else Entry(**dict(row))


async def remove(conn: Conn, entry_id: int) -> Entry | None:
    """Take an entry off the list; the entry removed, or None when there was none."""
    row = await conn.fetchrow(
        f"DELETE FROM sms_blocklist WHERE id = $1 RETURNING {_COLUMNS}", entry_id
    )
    return None if row is None else Entry(**dict(row))
