"""The blocklist staff keep: numbers are read like a caller's (one entry for every way
of writing a number), explained in Japanese when refused, and a message whose number
was blocked after it was accepted is never sent."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import asyncpg
import pytest

from ivr.sms import blocklist, outbox
from ivr.sms.worker import BLOCKED_REASON

from . import test_sms_kit as kit
from .test_sms_kit import FakeKaraden, sms_settings, worker

sms_pool, fake_karaden = kit.sms_pool, kit.fake_karaden  # fixtures shared by the SMS tests


@pytest.mark.parametrize(
    "typed",
    [
        "09012345678",
        "090-1234-5678",
        "+81 90 1234 5678",
        "+819012345678",
        "０９０－１２３４－５６７８",
    ],
)
def test_ways_of_writing_a_mobile_number_are_one_entry(typed: str) -> None:
    """Hyphens, spaces, the +81 form and full-width digits all give the 11-digit form."""
    assert blocklist.parse_number(typed) == "09012345678"


@pytest.mark.parametrize(
    ("typed", "says"),
    [
        ("", "電話番号を入力してください"),
        ("   ", "電話番号を入力してください"),
        ("090-1234", "電話番号として正しくありません"),
        ("abc", "電話番号として正しくありません"),
        ("0312345678", "携帯電話の番号（070・080・090で始まる番号）ではありません"),
        ("0120-95-0178", "携帯電話の番号（070・080・090で始まる番号）ではありません"),
    ],
)
def test_other_input_is_refused_in_japanese(typed: str, says: str) -> None:
    """Empty, unreadable and non-mobile numbers each get their own explanation."""
    with pytest.raises(blocklist.NumberRefused, match=says):
        blocklist.parse_number(typed)


async def test_add_list_remove(sms_pool: asyncpg.Pool) -> None:
    """An entry is added once (a second add says so by None) and removed by its id."""
    async with sms_pool.acquire() as conn:
        entry = await blocklist.add(conn, "09012345678", "苦情", "unyo")
        assert entry is not None and (entry.number, entry.created_by) == ("09012345678", "unyo")
        assert await blocklist.add(conn, "09012345678", "again", "unyo") is None
        assert [e.number for e in await blocklist.entries(conn)] == ["09012345678"]
        removed = await blocklist.remove(conn, entry.id)
        assert removed is not None and removed.reason == "苦情"
        assert await blocklist.remove(conn, entry.id) is None
        assert await blocklist.entries(conn) == []


async def test_a_number_blocked_after_acceptance_is_never_sent(
    sms_pool: asyncpg.Pool, fake_karaden: FakeKaraden, database_dsn: str
) -> None:
    """A queued message (e.g. replayed from the spool, or waiting out a gateway outage)
    whose number is now on the list fails with the reason; the provider never sees it."""
    call = uuid.uuid4()
    req = outbox.SmsRequest(
        outbox.outbox_id(call, "send"),
        call,
        "send",
        "sms_lost",
        "08011112222",
        "本文",
        1,
        datetime.now(UTC),
    )
    async with sms_pool.acquire() as conn:
        assert await outbox.insert(conn, req)
        assert await blocklist.add(conn, "08011112222", "", "unyo") is not None
    w = worker(database_dsn, sms_settings(), fake_karaden.url)
    try:
        assert await w.run_once(sms_pool) == 1
    finally:
        await w.gateway.close()
    row = await sms_pool.fetchrow("SELECT status, reason, final_at FROM sms_outbox")
    assert row is not None and (row["status"], row["reason"]) == ("failed", BLOCKED_REASON)
    assert row["final_at"] is not None and fake_karaden.posts == 0
