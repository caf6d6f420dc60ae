"""The call lifecycle with real calls: a killed or restarted controller cuts no
caller, a taken-over call resumes at its node in its own record, a database outage
loses no record, and moving to another database serves that database's flow."""

from __future__ import annotations

import asyncio
import secrets
import signal
import time
from collections.abc import AsyncIterator
from datetime import datetime

import asyncpg
import pytest

from ivr.dev import postgres
from ivr.dev.asterisk import Instance
from ivr.dev.sipp import CallResult, Step, place_call
from ivr.dev.stack import Stack
from ivr.log import TOKYO
from ivr.published.service import digest
from tests.conftest import fresh_database
from tests.e2e.conftest import private_asterisk
from tests.e2e.helpers import DIALLED
from tests.e2e.tcpproxy import TcpProxy

# Short prompts: the whole test flow takes seconds, so restarts land mid-call.
FLOW = """\
version: 1
name: lifecycle test
start: welcome
settings:
  menu_timeout: 30
  max_retries: 10
  pause_after_input: 0.3
  invalid_prompt: null
  timeout_prompt: null
prompts:
  welcome: {text: ようこそ。}
  menu: {text: 一を押してください。}
  info: {text: これは少し長いご案内です。途中で装置が入れ替わっても、続きからお聞きいただけます。}
  menu2: {text: 以上です。}
  bye: {text: さようなら。}
nodes:
  welcome: {type: play, prompt: welcome, next: menu}
  menu: {type: menu, prompt: menu, choices: {"1": info}, on_exhausted: menu2}
  info: {type: play, prompt: info, next: menu2, interruptible: false}
  menu2: {type: menu, prompt: menu2, choices: {"9": bye}, on_exhausted: bye}
  bye: {type: hangup, prompt: bye}
"""

# Every caller keeps pressing 1: whatever node a takeover resumes, the call moves on.
PRESSES = [Step(3000, "1")] + [Step(2200, "1") for _ in range(6)]


@pytest.fixture(scope="module")
async def life_asterisk() -> AsyncIterator[Instance]:
    async with private_asterisk("life") as inst:
        yield inst


@pytest.fixture(scope="module")
async def db_proxy() -> AsyncIterator[TcpProxy]:
    """The controller reaches PostgreSQL through this, so the test can take it away."""
    admin = await postgres.admin_dsn()
    port = int(admin.rsplit("@", 1)[1].split("/", 1)[0].rsplit(":", 1)[1])
    proxy = TcpProxy(port)
    await proxy.start()
    yield proxy
    await proxy.close()


@pytest.fixture(scope="module")
async def life_dsn(pg_admin_dsn: str) -> AsyncIterator[str]:
    """A database of its own: other modules publish flows into the shared one."""
    async with fresh_database(pg_admin_dsn, "ivr_life") as dsn:
        yield dsn


@pytest.fixture
async def ldb(life_dsn: str) -> AsyncIterator[asyncpg.Connection]:
    conn = await asyncpg.connect(life_dsn)
    yield conn
    await conn.close()


@pytest.fixture(scope="module")
async def life(
    life_dsn: str,
    life_asterisk: Instance,
    db_proxy: TcpProxy,
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[Stack]:
    work = tmp_path_factory.mktemp("life")
    flow = work / "lifecycle.yaml"
    flow.write_text(FLOW, encoding="utf-8")
    host, rest = life_dsn.rsplit("@", 1)
    dbname = rest.split("/", 1)[1]
    proxied = f"{host}@127.0.0.1:{db_proxy.port}/{dbname}"
    s = Stack(
        proxied,
        life_asterisk,
        work,
        extra_config={"flow": {"file": str(flow)}, "controller": {"watchdog_seconds": 5.0}},
    )
    s.start_controller()
    try:
        await s.wait_log("ari_connected", timeout=180)
        yield s
    finally:
        s.stop_controller()


def _caller(n: int) -> str:
    return f"0902{secrets.randbelow(1000):03d}{n:04d}"


async def _restart(stack: Stack, sig: int) -> None:
    """Stop the controller as a crash (SIGKILL) or a deploy (SIGTERM) would, and start
    the next one at once, as a supervisor does."""
    connects = sum(1 for e in stack.log_entries() if e.get("event") == "ari_connected")
    stack.stop_controller(sig)
    stack.start_controller()
    await stack.wait_log("ari_connected", timeout=60)
    assert connects >= 1


async def _rows(db: asyncpg.Connection, callers: list[str]) -> list[asyncpg.Record]:
    return list(
        await db.fetch("SELECT * FROM calls WHERE caller = ANY($1) ORDER BY caller", callers)
    )


async def _wait_ended(db: asyncpg.Connection, callers: list[str], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        rows = await _rows(db, callers)
        if len(rows) >= len(callers) and all(r["ended_at"] for r in rows):
            return
        await asyncio.sleep(0.2)


async def test_kill_and_restart_during_calls_cut_no_caller(
    life: Stack, ldb: asyncpg.Connection
) -> None:
    """SIGKILL while calls arrive, then SIGTERM: every caller stays connected to the
    end, calls in progress resume at their node (no second welcome), callers who
    arrived during the gaps are held and then served, and each call has one record."""
    callers = [_caller(n) for n in range(12)]
    log_before = len(life.asterisk.log_text())
    calls: list[asyncio.Task[CallResult]] = []
    for caller in callers:
        calls.append(
            asyncio.create_task(
                place_call(life.asterisk.sip_port, DIALLED, caller, PRESSES, tail_ms=3000)
            )
        )
        await asyncio.sleep(0.5)
        if len(calls) == 5:
            await asyncio.to_thread(life.stop_controller, signal.SIGKILL)
            life.start_controller()  # calls 6.. arrive while it starts: held, then served
    await life.wait_log("ari_connected", timeout=60)
    await asyncio.sleep(2)
    await _restart(life, signal.SIGTERM)
    results = await asyncio.gather(*calls)
    for result in results:
        assert result.ok, result.output  # the caller hung up; nobody hung up on them

    await _wait_ended(ldb, callers, 20)
    rows = await _rows(ldb, callers)
    assert [r["caller"] for r in rows] == sorted(callers)  # exactly one record per call
    for row in rows:
        assert row["path"].count("welcome") == 1, row["path"]
        assert row["path"][:2] == ["welcome", "menu"] and "info" in row["path"], row["path"]
        assert row["outcome"] == "caller_hangup" and row["ended_at"] is not None
    ids = [r["id"] for r in rows]
    resumed = await ldb.fetchval(
        "SELECT count(DISTINCT call_id) FROM call_events "
        "WHERE call_id = ANY($1) AND kind = 'resume'",
        ids,
    )
    assert resumed >= 5  # the calls in progress at the kill, and those at the SIGTERM
    new_log = life.asterisk.log_text()[log_before:]
    assert "IVR-HOLD" in new_log  # someone was held ...
    assert "IVR-FALLBACK" not in new_log  # ... and nobody got the apology


async def test_database_outage_during_calls_loses_no_record(
    life: Stack, ldb: asyncpg.Connection, db_proxy: TcpProxy
) -> None:
    """PostgreSQL unreachable for 60 s while calls run: every call is served and every
    record (row and events) is written once the database is back."""
    callers = [_caller(n) for n in range(6)]
    since = datetime.now(TOKYO)
    db_proxy.block(60)
    calls = []
    for caller in callers:
        calls.append(
            asyncio.create_task(
                place_call(life.asterisk.sip_port, DIALLED, caller, PRESSES, tail_ms=2000)
            )
        )
        await asyncio.sleep(1)
    for result in await asyncio.gather(*calls):
        assert result.ok, result.output
    assert await _rows(ldb, callers) == []  # nothing could be written yet
    await life.wait_log("db_write_failed", timeout=30)
    await asyncio.sleep(max(0.0, 62 - (datetime.now(TOKYO) - since).total_seconds()))
    await _wait_ended(ldb, callers, 30)
    rows = await _rows(ldb, callers)
    assert len(rows) == len(callers)
    for row in rows:
        assert row["path"][:3] == ["welcome", "menu", "info"]
        events = await ldb.fetchval(
            "SELECT count(*) FROM call_events WHERE call_id = $1", row["id"]
        )
        assert events >= len(row["path"])
    assert not list((life.workdir / "spool").glob("deadletter-*"))


async def test_another_database_serves_its_own_flow(life: Stack, pg_admin_dsn: str) -> None:
    """A flow published in one database is cached; moved to an empty database, the
    controller serves the default flow, and calls are recorded with nothing
    dead-lettered (the stale cache never wins over a database that answers)."""
    published = life.workdir / "published.yaml"
    published.write_text(FLOW.replace("ようこそ。", "ようこそ、公開版です。"), encoding="utf-8")
    out = await asyncio.to_thread(life.run_cli, "flow", "publish", str(published), "--by", "e2e")
    assert out.returncode == 0, out.stderr
    await life.wait_log("flow_switched", timeout=60, since_start=True, origin="database")
    assert (life.workdir / "spool" / "flow-in-service.json").exists()

    old_dsn = life.dsn
    async with fresh_database(pg_admin_dsn, "ivr_moved") as other:
        try:
            await asyncio.to_thread(life.stop_controller)
            life.dsn = other
            life.start_controller()
            await life.wait_log("ari_connected", timeout=60)
            caller = _caller(99)
            result = await place_call(
                life.asterisk.sip_port, DIALLED, caller, PRESSES[:2], tail_ms=1000
            )
            assert result.ok, result.output
            conn = await asyncpg.connect(other)
            try:
                row = None
                for _ in range(100):
                    row = await conn.fetchrow(
                        "SELECT * FROM calls WHERE caller = $1 AND ended_at IS NOT NULL", caller
                    )
                    if row is not None:
                        break
                    await asyncio.sleep(0.1)
                assert row is not None
                assert row["flow_version"] is None and row["flow_digest"] == digest(FLOW)
                assert row["record_note"] == ""
            finally:
                await conn.close()
            assert not list((life.workdir / "spool").glob("deadletter-*"))
            assert not (life.workdir / "spool" / "flow-in-service.json").exists()
        finally:
            await asyncio.to_thread(life.stop_controller)
            life.dsn = old_dsn
            life.start_controller()
            await life.wait_log("ari_connected", timeout=60)
