"""The requester: refusals decided at once, limits in the database, and every "queued"
durable — committed, or fsynced to the spool while the database is away and replayed
into the outbox once, idempotently, when it returns."""

from __future__ import annotations

import os
import threading
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from ivr.config import SmsSettings
from ivr.sms.defaults import default_templates
from ivr.sms.service import SmsRequester
from ivr.sms.templates import Rules, TemplateSet

from . import test_sms_kit as kit
from .test_sms_kit import CutProxy, sms_settings, target_of, via_proxy

sms_pool = kit.sms_pool  # a fixture shared by the SMS tests

NUMBER = "09012345678"


def _templates(settings: SmsSettings) -> Callable[[], TemplateSet]:
    found = default_templates(Rules.from_settings(settings))
    return lambda: found


@pytest.fixture
async def make(
    database_dsn: str, tmp_path: Path, sms_pool: asyncpg.Pool
) -> AsyncIterator[Callable[..., SmsRequester]]:
    made: list[SmsRequester] = []

    def build(
        settings: SmsSettings | None = None, dsn: str = database_dsn, **kw: Any
    ) -> SmsRequester:
        s = settings or sms_settings()
        values = {"office_hours": "平日の9時から"}
        r = SmsRequester(s, dsn, tmp_path / "sms", _templates(s), lambda: values, **kw)
        made.append(r)
        return r

    yield build
    for r in made:
        await r.close()


async def test_accepted_request_is_committed_once_per_call_and_node(
    make: Callable[..., SmsRequester], sms_pool: asyncpg.Pool
) -> None:
    """ "queued" means a committed row; asking again for the same (call, node) adds nothing."""
    r = make()
    await r.start()
    call = uuid.uuid4()
    assert await r.request(call, "send_expiry", "sms_expiry", "+81 90-1234-5678") == "queued"
    assert await r.request(call, "send_expiry", "sms_expiry", NUMBER) == "queued"
    rows = await sms_pool.fetch("SELECT * FROM sms_outbox")
    assert len(rows) == 1
    row = rows[0]
    assert (row["number"], row["template"], row["status"]) == (NUMBER, "sms_expiry", "queued")
    assert "窓口の受付は平日の9時からです。" in row["body"] and row["parts"] >= 3


@pytest.mark.parametrize(
    ("number", "outcome"),
    [
        ("0312345678", "not_mobile"),
        ("0120950178", "not_mobile"),
        ("", "invalid_number"),
        ("anonymous", "invalid_number"),
        ("12ab", "invalid_number"),
    ],
)
async def test_numbers_that_cannot_take_an_sms_are_refused(
    make: Callable[..., SmsRequester], number: str, outcome: str
) -> None:
    """Landlines and free dial are not_mobile; withheld, empty and garbage are invalid_number."""
    r = make()
    await r.start()
    assert await r.request(uuid.uuid4(), "send", "sms_lost", number) == outcome


async def test_unknown_template_and_sms_off(make: Callable[..., SmsRequester]) -> None:
    """A template the set lacks is unknown_template; with no gateway configured, unavailable."""
    r = make()
    await r.start()
    assert await r.request(uuid.uuid4(), "send", "sms_nothing", NUMBER) == "unknown_template"
    off = make(SmsSettings())
    await off.start()
    assert await off.request(uuid.uuid4(), "send", "sms_lost", NUMBER) == "unavailable"


async def test_fourth_request_of_the_day_is_daily_limit(
    make: Callable[..., SmsRequester], sms_pool: asyncpg.Pool
) -> None:
    """Three per number per Tokyo day; the fourth is refused, another number is not."""
    r = make()
    await r.start()
    outcomes = [await r.request(uuid.uuid4(), "send", "sms_lost", NUMBER) for _ in range(4)]
    assert outcomes == ["queued", "queued", "queued", "daily_limit"]
    assert await r.request(uuid.uuid4(), "send", "sms_lost", "08011112222") == "queued"
    assert await sms_pool.fetchval("SELECT count(*) FROM sms_outbox") == 4


async def test_the_limit_day_is_the_tokyo_day(
    make: Callable[..., SmsRequester], sms_pool: asyncpg.Pool
) -> None:
    """Requests before midnight in Tokyo (15:00 UTC) count for the previous day."""
    moments = iter(
        [datetime(2026, 12, 1, 14, 58, tzinfo=UTC) + timedelta(seconds=i) for i in range(3)]
        + [datetime(2026, 12, 1, 15, 0, 1, tzinfo=UTC)]
    )
    r = make(clock=lambda: next(moments))
    await r.start()
    outcomes = [await r.request(uuid.uuid4(), "send", "sms_lost", NUMBER) for _ in range(4)]
    assert outcomes == ["queued"] * 4


async def test_rate_limit_and_blocklist(
    make: Callable[..., SmsRequester], sms_pool: asyncpg.Pool
) -> None:
    """Beyond the per-minute rate everyone waits; blocked numbers (config or table) never pass."""
    r = make(sms_settings(rate_per_minute=2, blocklist=("+819099998888",)))
    await r.start()
    await sms_pool.execute("INSERT INTO sms_blocklist (number, reason) VALUES ('08055556666', 'x')")
    assert await r.request(uuid.uuid4(), "send", "sms_lost", "09099998888") == "blocked"
    assert await r.request(uuid.uuid4(), "send", "sms_lost", "08055556666") == "blocked"
    assert await r.request(uuid.uuid4(), "send", "sms_lost", "08011110001") == "queued"
    assert await r.request(uuid.uuid4(), "send", "sms_lost", "08011110002") == "queued"
    assert await r.request(uuid.uuid4(), "send", "sms_lost", "08011110003") == "rate_limited"


async def test_database_away_spools_fsynced_and_replays_once(
    make: Callable[..., SmsRequester],
    sms_pool: asyncpg.Pool,
    database_dsn: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """With the database cut, "queued" is an fsynced spool file (written off the event loop);
    when it returns the request lands in the outbox once, however often it is replayed."""
    proxy = CutProxy(*target_of(database_dsn))
    await proxy.start()
    synced: list[str] = []
    real_fsync = os.fsync

    def fsync(fd: int) -> None:
        synced.append(threading.current_thread().name)
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    try:
        r = make(dsn=via_proxy(database_dsn, proxy.port))
        await r.start()
        call = uuid.uuid4()
        assert await r.request(call, "send", "sms_lost", NUMBER) == "queued"  # warms the pool
        proxy.cut()
        assert await r.request(call, "send_again", "sms_lost", NUMBER) == "queued"
        assert await r.request(call, "send_again", "sms_lost", NUMBER) == "queued"  # same file
        files = list((tmp_path / "sms").glob("sms-*.json"))
        assert len(files) == 1 and r.spooled.is_set()
        assert len(synced) >= 2  # the file, then its folder
        assert threading.main_thread().name not in synced
        copy = files[0].read_bytes()
        with pytest.raises((OSError, asyncpg.PostgresError, TimeoutError)):
            await r.replay_spool()  # still away: the file stays
        assert files[0].exists()
        proxy.restore()
        assert await r.replay_spool() == 1
        assert not files[0].exists()
        files[0].write_bytes(copy)  # a crash before the delete: replayed again
        assert await r.replay_spool() == 0
        rows = await sms_pool.fetch("SELECT node FROM sms_outbox WHERE call_id = $1", call)
        assert sorted(x["node"] for x in rows) == ["send", "send_again"]
    finally:
        await proxy.close()


async def test_limits_hold_while_the_database_is_away(
    make: Callable[..., SmsRequester], database_dsn: str, tmp_path: Path
) -> None:
    """Offline, this controller's own counts apply the daily limit."""
    proxy = CutProxy(*target_of(database_dsn))
    await proxy.start()
    proxy.cut()
    try:
        r = make(dsn=via_proxy(database_dsn, proxy.port))
        await r.start()
        outcomes = [await r.request(uuid.uuid4(), "send", "sms_lost", NUMBER) for _ in range(4)]
        assert outcomes == ["queued", "queued", "queued", "daily_limit"]
    finally:
        await proxy.close()


async def test_unreadable_spool_file_is_set_aside(
    make: Callable[..., SmsRequester], tmp_path: Path
) -> None:
    """A torn file is kept as *.bad, never deleted, and does not stop the others."""
    r = make()
    folder = tmp_path / "sms"
    folder.mkdir()
    (folder / f"sms-{uuid.uuid4()}.json").write_text("{broken")
    assert await r.replay_spool() == 0
    assert [p.suffix for p in folder.iterdir()] == [".bad"]
