"""The outbox sends every message exactly once through a real HTTP gateway (a fake
Karaden on loopback): retries, lookups after unknown results, permanent refusals,
outages, racing workers, delivery polling and delivery reports."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime

import aiohttp
import asyncpg
from aiohttp import web

from ivr.dev.postgres import free_port
from ivr.sms import outbox
from ivr.sms.karaden import message_state
from ivr.sms.webhook import delivery_handler

from . import test_sms_kit as kit
from .test_sms_kit import FakeKaraden, karaden, sms_settings, statuses, until, worker

sms_pool, fake_karaden = kit.sms_pool, kit.fake_karaden  # fixtures shared by the SMS tests

BODY = "【○○市】テストです。○○市が暗証番号や口座番号をお聞きすることはありません。"


async def _queue(pool: asyncpg.Pool, n: int = 1, number: str = "09012345678") -> list[str]:
    ids = []
    async with pool.acquire() as conn:
        for i in range(n):
            call = uuid.uuid4()
            req = outbox.SmsRequest(
                outbox.outbox_id(call, "send"),
                call,
                "send",
                "sms_lost",
                number,
                f"{BODY}{i}",
                2,
                datetime.now(UTC),
            )
            assert await outbox.insert(conn, req)
            ids.append(str(req.id))
    return ids


async def _row(pool: asyncpg.Pool, sms_id: str) -> asyncpg.Record:
    row = await pool.fetchrow("SELECT * FROM sms_outbox WHERE id = $1", uuid.UUID(sms_id))
    assert row is not None
    return row


async def test_success_is_sent_then_delivered(
    sms_pool: asyncpg.Pool, fake_karaden: FakeKaraden, database_dsn: str
) -> None:
    """A queued message goes out once, tagged with its outbox id, and polling records delivery."""
    (sms_id,) = await _queue(sms_pool)
    w = worker(database_dsn, sms_settings(), fake_karaden.url)

    async def delivered() -> bool:
        return (await statuses(sms_pool))[sms_id] == "delivered"

    await until(delivered, lambda: w.run_once(sms_pool))
    (sent,) = fake_karaden.by_tag(sms_id)
    assert sent.to == "09012345678" and sent.body == f"{BODY}0"
    row = await _row(sms_pool, sms_id)
    assert row["provider_id"] == sent.id and row["carrier"] == "docomo"
    assert row["attempts"] == 1 and row["sent_at"] is not None and row["final_at"] is not None
    assert fake_karaden.posts == 1
    await w.gateway.close()


async def test_500_twice_then_success_sends_exactly_one(
    sms_pool: asyncpg.Pool, fake_karaden: FakeKaraden, database_dsn: str
) -> None:
    """Two 500s are retried with backoff (looked up first: not there), then one message exists."""
    (sms_id,) = await _queue(sms_pool)
    fake_karaden.script = ["500", "500"]
    w = worker(database_dsn, sms_settings(), fake_karaden.url)

    async def delivered() -> bool:
        return (await statuses(sms_pool))[sms_id] == "delivered"

    await until(delivered, lambda: w.run_once(sms_pool))
    assert fake_karaden.posts == 3
    assert len(fake_karaden.messages) == 1 and len(fake_karaden.by_tag(sms_id)) == 1
    assert (await _row(sms_pool, sms_id))["attempts"] == 3
    await w.gateway.close()


async def test_timeout_after_acceptance_is_found_by_tag_not_resent(
    sms_pool: asyncpg.Pool, fake_karaden: FakeKaraden, database_dsn: str
) -> None:
    """The provider took the message but the reply never came: the lookup by tag finds it."""
    (sms_id,) = await _queue(sms_pool)
    fake_karaden.script = ["accept_then_hang"]
    w = worker(database_dsn, sms_settings(request_timeout=0.3), fake_karaden.url)
    await w.run_once(sms_pool)
    row = await _row(sms_pool, sms_id)
    assert row["status"] == "queued" and row["check_first"] and "結果不明" in row["reason"]

    async def sent() -> bool:
        return (await statuses(sms_pool))[sms_id] in ("sent", "delivered")

    await until(sent, lambda: w.run_once(sms_pool))
    assert fake_karaden.posts == 1 and fake_karaden.lookups >= 1
    (only,) = fake_karaden.by_tag(sms_id)
    assert (await _row(sms_pool, sms_id))["provider_id"] == only.id
    await w.gateway.close()


async def test_permanent_refusal_is_not_retried(
    sms_pool: asyncpg.Pool, fake_karaden: FakeKaraden, database_dsn: str
) -> None:
    """A 4xx for the message stops at once, with the reason recorded."""
    (sms_id,) = await _queue(sms_pool)
    fake_karaden.script = ["422"]
    w = worker(database_dsn, sms_settings(), fake_karaden.url)
    for _ in range(5):
        await w.run_once(sms_pool)
        await asyncio.sleep(0.02)
    row = await _row(sms_pool, sms_id)
    assert row["status"] == "failed"
    assert "HTTP 422" in row["reason"] and "invalid to" in row["reason"]
    assert fake_karaden.posts == 1 and row["attempts"] == 1
    await w.gateway.close()


async def test_attempts_run_out_into_failed(sms_pool: asyncpg.Pool, database_dsn: str) -> None:
    """With nothing listening, a message is tried max_attempts times, then failed, with why."""
    (sms_id,) = await _queue(sms_pool)
    w = worker(database_dsn, sms_settings(max_attempts=3), f"http://127.0.0.1:{free_port()}")

    async def failed() -> bool:
        return (await statuses(sms_pool))[sms_id] == "failed"

    await until(failed, lambda: w.run_once(sms_pool))
    row = await _row(sms_pool, sms_id)
    assert row["attempts"] == 3 and "3回送信できませんでした" in row["reason"]
    assert "cannot connect" in row["reason"]
    await w.gateway.close()


async def test_gateway_down_then_up_every_message_goes_once(
    sms_pool: asyncpg.Pool, database_dsn: str
) -> None:
    """Messages queued during an outage wait, then each goes out exactly once."""
    ids = await _queue(sms_pool, 5)
    server = FakeKaraden()  # its port is chosen, nothing listens yet
    settings = sms_settings(max_attempts=50)
    w = worker(database_dsn, settings, server.url)
    for _ in range(3):
        await w.run_once(sms_pool)
        await asyncio.sleep(0.06)
    assert set((await statuses(sms_pool)).values()) == {"queued"}
    await server.start()
    try:

        async def all_delivered() -> bool:
            return set((await statuses(sms_pool)).values()) == {"delivered"}

        await until(all_delivered, lambda: w.run_once(sms_pool))
        assert sorted(t for m in server.messages.values() for t in m.tags) == sorted(ids)
        assert server.posts == 5
    finally:
        await server.stop()
        await w.gateway.close()


async def test_two_workers_racing_send_no_duplicate(
    sms_pool: asyncpg.Pool, fake_karaden: FakeKaraden, database_dsn: str
) -> None:
    """Two workers on 50 messages: every message goes out once, none twice."""
    ids = await _queue(sms_pool, 50)
    settings = sms_settings()
    a = worker(database_dsn, settings, fake_karaden.url, "a")
    b = worker(database_dsn, settings, fake_karaden.url, "b")
    a.batch = b.batch = 7

    async def all_sent() -> bool:
        return set((await statuses(sms_pool)).values()) <= {"sent", "delivered"}

    async def both() -> None:
        await asyncio.gather(a.run_once(sms_pool), b.run_once(sms_pool))

    await until(all_sent, both)
    tags = [t for m in fake_karaden.messages.values() for t in m.tags]
    assert sorted(tags) == sorted(ids) and fake_karaden.posts == 50
    for w in (a, b):
        await w.gateway.close()


async def test_a_lost_worker_lease_is_looked_up_before_resending(
    sms_pool: asyncpg.Pool, fake_karaden: FakeKaraden, database_dsn: str
) -> None:
    """A row left 'sending' by a worker that died after sending is found at the provider."""
    (sms_id,) = await _queue(sms_pool)
    async with sms_pool.acquire() as conn:
        (claimed,) = await outbox.claim_due(conn, 1, lease=0.01)
    gateway = karaden(sms_settings(), fake_karaden.url)
    from ivr.sms.gateway import Outgoing

    await gateway.send(Outgoing(str(claimed.id), claimed.number, claimed.body))  # then "dies"
    await asyncio.sleep(0.05)
    w = worker(database_dsn, sms_settings(), fake_karaden.url)

    async def sent() -> bool:
        return (await statuses(sms_pool))[sms_id] in ("sent", "delivered")

    await until(sent, lambda: w.run_once(sms_pool))
    assert fake_karaden.posts == 1 and len(fake_karaden.by_tag(sms_id)) == 1
    await gateway.close()
    await w.gateway.close()


async def test_undelivered_result_is_recorded(
    sms_pool: asyncpg.Pool, fake_karaden: FakeKaraden, database_dsn: str
) -> None:
    """A carrier that cannot reach the phone ends as failed, with the provider's words."""
    (sms_id,) = await _queue(sms_pool, number="08011112222")
    fake_karaden.undeliverable.add("08011112222")
    w = worker(database_dsn, sms_settings(), fake_karaden.url)

    async def final() -> bool:
        return (await statuses(sms_pool))[sms_id] == "failed"

    await until(final, lambda: w.run_once(sms_pool))
    assert "unconnected" in (await _row(sms_pool, sms_id))["reason"]
    await w.gateway.close()


async def test_delivery_report_webhook_is_idempotent_and_guarded(
    sms_pool: asyncpg.Pool, fake_karaden: FakeKaraden, database_dsn: str
) -> None:
    """A report updates the row by provider id (twice is the same); a wrong token or a
    wrong source address is refused."""
    (sms_id,) = await _queue(sms_pool)
    fake_karaden.deliver_after = 99  # polling alone would not finish it
    w = worker(database_dsn, sms_settings(), fake_karaden.url)
    await w.run_once(sms_pool)
    row = await _row(sms_pool, sms_id)
    assert row["status"] == "sent"
    report = {
        "id": row["provider_id"],
        "object": "message",
        "tags": [sms_id],
        "status": "done",
        "sent_result": "received",
        "carrier": "au",
    }
    gateway = karaden(sms_settings(), fake_karaden.url)
    app = web.Application()
    near = delivery_handler(lambda _: sms_pool, gateway, "s3cret", ["127.0.0.0/8"])
    far = delivery_handler(lambda _: sms_pool, gateway, "s3cret", ["192.0.2.0/24"])
    app.router.add_post("/ok/{token}", near)
    app.router.add_post("/far/{token}", far)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        async with aiohttp.ClientSession() as http:
            base = f"http://127.0.0.1:{port}"
            async with http.post(f"{base}/ok/wrong", json=report) as r:
                assert r.status == 404
            async with http.post(f"{base}/far/s3cret", json=report) as r:
                assert r.status == 403
            for result in ("updated", "unchanged"):
                async with http.post(f"{base}/ok/s3cret", json=report) as r:
                    assert r.status == 200 and (await r.json())["result"] == result
            async with http.post(f"{base}/ok/s3cret", data="not json") as r:
                assert r.status == 400
        row = await _row(sms_pool, sms_id)
        assert (row["status"], row["carrier"], row["next_poll_at"]) == ("delivered", "au", None)
        late = message_state(report | {"sent_result": "unconnected"})
        async with sms_pool.acquire() as conn:
            assert not await outbox.apply_report(conn, late, sms_id)  # final stays final
        assert (await _row(sms_pool, sms_id))["status"] == "delivered"
    finally:
        await runner.cleanup()
        await gateway.close()
        await w.gateway.close()
