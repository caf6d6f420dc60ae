"""The controller's monitoring endpoint, served for real and scraped over HTTP."""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
import asyncpg
import pytest
from prometheus_client.parser import text_string_to_metric_families

from ivr.ari.client import AriClient
from ivr.ari.connection import AriConnection
from ivr.call.dispatcher import Dispatcher
from ivr.config import ConfigError, DatabaseSettings, MetricsSettings, Settings, load_settings
from ivr.dev.postgres import free_port
from ivr.metrics import MetricsServer, TimedHandler, snapshot
from ivr.metrics.clock import clock_status, parse_chrony_tracking
from ivr.prompts.worker import SpeechWorker
from ivr.store.calls import CallRecorder
from tests.fakeari import FakeAri
from tests.fakeari import model as m

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def parse(text: str) -> Samples:
    out: Samples = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def refuse(*_args: object) -> object:
    raise AssertionError("no call is expected in this test")


@dataclasses.dataclass
class Rig:
    fake: FakeAri
    connection: AriConnection
    recorder: CallRecorder
    dispatcher: Dispatcher
    handler: TimedHandler


@pytest.fixture
async def rig(tmp_path: Path, fresh_dsn: str) -> AsyncIterator[Rig]:
    """A real ARI connection (to the fake Asterisk), dispatcher and call recorder."""
    async with FakeAri() as fake, aiohttp.ClientSession() as http:
        client = AriClient(http, fake.url, "ivr", "secret", 2.0)
        dispatcher = Dispatcher(client, "myna-ivr", refuse)  # type: ignore[arg-type]
        handler = TimedHandler(dispatcher)
        connection = AriConnection(client, http, "myna-ivr", handler, 0.05, 0.2)
        recorder = CallRecorder(fresh_dsn, tmp_path / "spool")
        task = asyncio.create_task(connection.run())
        await asyncio.wait_for(connection.ready.wait(), 10)
        yield Rig(fake, connection, recorder, dispatcher, handler)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task


def settings_for(dsn: str) -> Settings:
    return Settings(
        database=DatabaseSettings(dsn=dsn),
        metrics=MetricsSettings(host="127.0.0.1", port=0, db_timeout=1.0),
    )


async def serve(settings: Settings, rig: Rig, speech: object = None) -> MetricsServer:
    server = MetricsServer(
        settings, lambda: snapshot(rig.dispatcher, rig.connection, rig.recorder, speech)
    )
    await server.start()
    return server


async def get(port: int, path: str) -> tuple[int, str]:
    async with aiohttp.ClientSession() as http, http.get(f"http://127.0.0.1:{port}{path}") as r:
        return r.status, await r.text()


async def test_metrics_scrape_reports_the_controller_and_the_database(
    rig: Rig, fresh_dsn: str
) -> None:
    """A scrape carries ARI state, event latency, recorder counts and DB-read outcomes."""
    conn = await asyncpg.connect(fresh_dsn)
    try:
        now = datetime.now(UTC)
        await conn.execute(
            """INSERT INTO calls (id, channel_id, started_at, ended_at, outcome)
               VALUES ($1, 'c1', $3, $3, 'completed'), ($2, 'c2', $3, $3, 'caller_hangup')""",
            uuid.uuid4(),
            uuid.uuid4(),
            now,
        )
        await conn.execute(
            """INSERT INTO sms_outbox (id, call_id, node, template, number, body, parts,
                   requested_at) VALUES ($1, $2, 'sms', 't', '09012345678', 'x', 1, $3)""",
            uuid.uuid4(),
            uuid.uuid4(),
            now,
        )
    finally:
        await conn.close()
    chan = m.FakeChannel.inbound("myna-ivr")
    rig.fake.push(m.dtmf("myna-ivr", chan, "1"))  # an event for no known call
    for _ in range(200):
        if rig.handler.events:
            break
        await asyncio.sleep(0.02)
    speech = SpeechWorker()
    server = await serve(settings_for(fresh_dsn), rig, speech)
    try:
        status, text = await get(server.port, "/metrics")
    finally:
        await server.close()
    assert status == 200
    got = parse(text)
    assert got[("ivr_ari_ready", ())] == 1.0
    assert got[("ivr_ari_connects_total", ())] == 1.0
    assert got[("ivr_ari_reconnects_total", ())] == 0.0
    assert got[("ivr_database_up", ())] == 1.0
    assert got[("ivr_ready", ())] == 1.0
    assert got[("ivr_calls_in_progress", ())] == 0.0
    assert got[("ivr_calls_last_hour", (("outcome", "completed"),))] == 1.0
    assert got[("ivr_calls_last_hour", (("outcome", "caller_hangup"),))] == 1.0
    assert got[("ivr_sms_outbox", (("status", "queued"),))] == 1.0
    assert got[("ivr_sms_outbox_oldest_pending_seconds", ())] >= 0.0
    assert got[("ivr_dead_letters", ())] == 0.0
    assert got[("ivr_spool_depth", ())] == 0.0
    assert got[("ivr_speech_workers_started_total", ())] == 0.0  # none needed yet
    latency = ("ivr_ari_event_handling_seconds_count", (("kind", "ChannelDtmfReceived"),))
    assert got[latency] >= 1.0
    states = {dict(k[1])["state"]: v for k, v in got.items() if k[0] == "ivr_clock_sync"}
    assert sum(states.values()) == 1.0 and states[clock_status().state] == 1.0


async def test_readiness_flips_when_the_database_is_unreachable(rig: Rig, fresh_dsn: str) -> None:
    """The same controller is ready with its database and unready (503) when the DSN
    points at a closed port; the answer names the failing check."""
    good = await serve(settings_for(fresh_dsn), rig)
    bad = await serve(settings_for(f"postgresql://127.0.0.1:{free_port()}/nothing"), rig)
    try:
        ok_status, ok_body = await get(good.port, "/healthz")
        bad_status, bad_body = await get(bad.port, "/healthz")
        live_status, _ = await get(bad.port, "/livez")
        _, bad_metrics = await get(bad.port, "/metrics")
    finally:
        await good.close()
        await bad.close()
    assert ok_status == 200 and '"ready": true' in ok_body
    assert '"ari": {"status": "ok"' in ok_body
    assert bad_status == 503 and '"ready": false' in bad_body
    assert '"database": {"status": "down"' in bad_body
    assert live_status == 200  # alive, only not ready
    assert parse(bad_metrics)[("ivr_database_up", ())] == 0.0


async def test_health_reports_ari_down_and_dead_letters(tmp_path: Path, fresh_dsn: str) -> None:
    """Without an ARI connection the controller is not ready; dead letters are a warning."""
    spool = tmp_path / "spool"
    spool.mkdir()
    (spool / "deadletter-1.jsonl").write_text("{}\n")
    recorder = CallRecorder(fresh_dsn, spool)
    run = asyncio.create_task(recorder.run())
    for _ in range(200):
        if recorder.dead_letters:
            break
        await asyncio.sleep(0.02)
    server = MetricsServer(settings_for(fresh_dsn), lambda: snapshot(None, None, recorder, None))
    await server.start()
    try:
        status, body = await get(server.port, "/healthz")
    finally:
        await server.close()
        await recorder.close()
        run.cancel()
        with pytest.raises(asyncio.CancelledError):
            await run
    assert status == 503
    assert '"ari": {"status": "down"' in body
    assert '"dead_letters": 1' in body and "ivr records replay" in body


def test_clock_is_never_ok_by_default() -> None:
    """The clock check answers one of three states; chrony's output is read as it says."""
    assert clock_status().state in ("ok", "unsynchronised", "unknown")
    unsynced = parse_chrony_tracking(
        "Reference ID    : 00000000 ()\nLeap status     : Not synchronised\n"
    )
    assert unsynced is not None and unsynced.state == "unsynchronised"
    synced = parse_chrony_tracking("Leap status     : Normal\n")
    assert synced is not None and synced.state == "ok"
    assert parse_chrony_tracking("506 Cannot talk to daemon\n") is None


def test_metrics_settings_are_checked(tmp_path: Path) -> None:
    """A bad metrics port or timeout stops start-up naming the key."""
    cfg = tmp_path / "ivr.yaml"
    cfg.write_text("metrics:\n  port: 70000\n")
    with pytest.raises(ConfigError, match=r"metrics\.port"):
        load_settings(cfg, env={})
    cfg.write_text("metrics:\n  db_timeout: 0\n")
    with pytest.raises(ConfigError, match=r"metrics\.db_timeout"):
        load_settings(cfg, env={})
    cfg.write_text('metrics:\n  admin_allowlist: ["127.0.0.0/8", "127.0.0.1/8"]\n')
    with pytest.raises(ConfigError, match=r"metrics\.admin_allowlist\[1\]"):
        load_settings(cfg, env={})
