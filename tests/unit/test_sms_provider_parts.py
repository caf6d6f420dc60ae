"""The provider's own count of parts: read from Karaden's ``charged_count_per_sent`` and
from the generic gateway's ``generic_parts_path``, stored beside our count when the
message is sent, polled or reported, and never erased by a later reply without one."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import asyncpg
import pytest
from aiohttp import web

from ivr.config import SmsSettings
from ivr.dev.postgres import free_port
from ivr.sms import listing, outbox
from ivr.sms.gateway import Outgoing, part_count
from ivr.sms.generic import GenericGateway
from ivr.sms.karaden import message_state
from ivr.sms.text import parts

from . import test_sms_kit as kit
from .test_sms_kit import FakeKaraden, sms_settings, until, worker

sms_pool, fake_karaden = kit.sms_pool, kit.fake_karaden  # fixtures shared by the SMS tests

WARNING = SmsSettings().fraud_warning
LONG_BODY = "【○○市】" + "あ" * 80 + WARNING  # well over 70 characters: several parts


@pytest.mark.parametrize(
    ("value", "expected"),
    [(3, 3), ("2", 2), (0, None), (None, None), (True, None), ("x", None), (-1, None)],
)
def test_karaden_charged_count_is_the_providers_part_count(value: Any, expected: Any) -> None:
    """A positive charged_count_per_sent is kept; 0 (not counted yet) and junk are not."""
    data = {"id": "m", "status": "done", "sent_result": "none", "carrier": "au"}
    if value is not None:
        data["charged_count_per_sent"] = value
    assert message_state(data).parts == expected
    assert part_count(value) == expected


class SegmentsProvider:
    """A provider whose replies say how many segments it counted, under ``meta.segments``."""

    def __init__(self) -> None:
        app = web.Application()
        app.router.add_post("/send", self.create)
        app.router.add_get("/status/{id}", self.detail)
        self.app = app

    async def create(self, request: web.Request) -> web.Response:
        data = await request.json()
        n = len(data["text"])
        return web.json_response({"id": "g1", "state": "ok", "meta": {"segments": -(-n // 67)}})

    async def detail(self, request: web.Request) -> web.Response:
        found = {"id": request.match_info["id"], "state": "DELIVRD", "meta": {"segments": 4}}
        return web.json_response(found)


@pytest.fixture
async def segments_url() -> AsyncIterator[str]:
    runner = web.AppRunner(SegmentsProvider().app, access_log=None)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    yield f"http://127.0.0.1:{port}"
    await runner.cleanup()


async def test_generic_gateway_reads_parts_from_the_configured_path(segments_url: str) -> None:
    """With generic_parts_path the send, the status and a report carry the provider's
    count; without it the count stays unknown."""
    base = SmsSettings(
        gateway="generic",
        generic_url=f"{segments_url}/send",
        generic_status_url=f"{segments_url}/status/{{id}}",
        generic_body_field="text",
        generic_status_path="state",
        generic_delivered=("DELIVRD",),
    )
    g = GenericGateway(dataclasses.replace(base, generic_parts_path="meta.segments"))
    plain = GenericGateway(base)
    try:
        sent = await g.send(Outgoing("t", "09012345678", "あ" * 140))
        assert (sent.provider_id, sent.parts) == ("g1", 3)
        status = await g.status("g1")
        assert status is not None and status.parts == 4
        report = g.report({"id": "g1", "state": "DELIVRD", "meta": {"segments": 2}})
        assert report is not None and report[0].parts == 2
        assert (await plain.send(Outgoing("t", "09012345678", "あ"))).parts is None
    finally:
        await g.close()
        await plain.close()


async def _queue(pool: asyncpg.Pool, body: str = LONG_BODY) -> uuid.UUID:
    call = uuid.uuid4()
    req = outbox.SmsRequest(
        outbox.outbox_id(call, "send"),
        call,
        "send",
        "sms_lost",
        "09012345678",
        body,
        parts(body),
        datetime.now(UTC),
    )
    async with pool.acquire() as conn:
        assert await outbox.insert(conn, req)
    return req.id


async def _provider_parts(pool: asyncpg.Pool, sms_id: uuid.UUID) -> int | None:
    value: int | None = await pool.fetchval(
        "SELECT provider_parts FROM sms_outbox WHERE id = $1", sms_id
    )
    return value


async def test_send_stores_karadens_count_beside_ours(
    sms_pool: asyncpg.Pool, fake_karaden: FakeKaraden, database_dsn: str
) -> None:
    """The count in Karaden's reply is stored; the staff listing shows both counts."""
    sms_id = await _queue(sms_pool)
    w = worker(database_dsn, sms_settings(), fake_karaden.url)
    try:

        async def delivered() -> bool:
            status = await sms_pool.fetchval("SELECT status FROM sms_outbox WHERE id = $1", sms_id)
            return bool(status == "delivered")

        await until(delivered, lambda: w.run_once(sms_pool))
    finally:
        await w.gateway.close()
    ours = parts(LONG_BODY)
    assert ours > 1
    assert await _provider_parts(sms_pool, sms_id) == fake_karaden.parts_of(LONG_BODY) == ours
    async with sms_pool.acquire() as conn:
        (row,) = await listing.recent(conn)
        counted = await listing.provider_counts(conn, "sms_lost")
    assert (row.parts, row.provider_parts) == (ours, ours)
    assert [(c.parts, c.provider_parts) for c in counted] == [(ours, ours)]


async def test_a_count_given_later_is_kept_and_never_erased(
    sms_pool: asyncpg.Pool, fake_karaden: FakeKaraden, database_dsn: str
) -> None:
    """0 at send time stores nothing; the poll's count is stored; a report without one
    (or a late 0) leaves it."""
    sms_id = await _queue(sms_pool)
    fake_karaden.count_parts = 0
    fake_karaden.deliver_after = 99  # stays "sent" while we look
    w = worker(database_dsn, sms_settings(), fake_karaden.url)
    try:
        await w.run_once(sms_pool)
        assert await sms_pool.fetchval("SELECT status FROM sms_outbox WHERE id = $1", sms_id) == (
            "sent"
        )
        assert await _provider_parts(sms_pool, sms_id) is None
        fake_karaden.count_parts = 5

        async def counted() -> bool:
            return await _provider_parts(sms_pool, sms_id) == 5

        await until(counted, lambda: w.run_once(sms_pool))
    finally:
        await w.gateway.close()
    provider_id = await sms_pool.fetchval(
        "SELECT provider_id FROM sms_outbox WHERE id = $1", sms_id
    )
    late = message_state(
        {"id": provider_id, "status": "done", "sent_result": "received", "carrier": "au"}
        | {"charged_count_per_sent": 0}
    )
    async with sms_pool.acquire() as conn:
        assert await outbox.apply_report(conn, late, str(sms_id))
    row = await sms_pool.fetchrow("SELECT status, provider_parts FROM sms_outbox")
    assert row is not None and (row["status"], row["provider_parts"]) == ("delivered", 5)
