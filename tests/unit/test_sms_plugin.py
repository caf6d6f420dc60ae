"""The wiring the controller uses: templates in service, the requester and the supervised
tasks take a caller's request all the way to a delivered message."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import uuid
from pathlib import Path

import asyncpg

from ivr.config import DatabaseSettings, Settings, SmsSettings
from ivr.sms.plugin import SmsCapability, make_gateway

from . import test_sms_kit as kit
from .test_sms_kit import FakeKaraden, sms_settings

sms_pool, fake_karaden = kit.sms_pool, kit.fake_karaden  # fixtures shared by the SMS tests


async def test_request_to_delivery_through_the_supervised_tasks(
    sms_pool: asyncpg.Pool, fake_karaden: FakeKaraden, database_dsn: str, tmp_path: Path
) -> None:
    """A request answered "queued" is sent by the worker task and its delivery recorded."""
    settings = Settings(
        database=DatabaseSettings(dsn=database_dsn, spool_dir=str(tmp_path)),
        sms=sms_settings(karaden_url=fake_karaden.url),
    )
    sms = SmsCapability(settings, lambda: {"office_hours": "平日の午前8時45分から午後5時15分まで"})
    await sms.start()
    assert sms.templates.served.origin == "default"
    tasks = [asyncio.create_task(coro, name=name) for coro, name in sms.tasks()]
    assert sorted(t.get_name() for t in tasks) == ["sms-outbox", "sms-spool-replay"]
    try:
        call = uuid.uuid4()
        assert await sms.requester.request(call, "send_expiry", "sms_expiry", "09012345678") == (
            "queued"
        )
        for _ in range(300):
            status = await sms_pool.fetchval(
                "SELECT status FROM sms_outbox WHERE call_id = $1", call
            )
            if status == "delivered":
                break
            await asyncio.sleep(0.02)
        assert status == "delivered"
        (sent,) = fake_karaden.messages.values()
        assert "平日の午前8時45分から午後5時15分まで" in sent.body
    finally:
        for t in tasks:
            t.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await t
        await sms.close()


def test_no_gateway_means_no_worker(tmp_path: Path) -> None:
    """With SMS off there is nothing to send with: only the spool replay runs."""
    settings = Settings(database=DatabaseSettings(spool_dir=str(tmp_path)))
    sms = SmsCapability(settings)
    assert make_gateway(SmsSettings()) is None and sms.worker is None
    tasks = sms.tasks()
    assert [name for _, name in tasks] == ["sms-spool-replay"]
    for coro, _ in tasks:
        coro.close()
    generic = dataclasses.replace(SmsSettings(), gateway="generic", generic_url="http://x/")
    assert make_gateway(generic) is not None
