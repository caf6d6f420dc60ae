"""Transfers to city lines with real calls: a SIPp caller, Asterisk's Dial() in
[ivr-transfer], and SIPp UAS processes on the trunk's address playing the city's
phone. Answered (bridged, talk time recorded, not hung up by the controller), busy,
no answer, a SIP failure, the caller hanging up while it rings, the target's and
the trunk's capacity, and controller restarts during a conversation."""

from __future__ import annotations

import asyncio
import re
import secrets
import signal
import time
import uuid
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path

import asyncpg
import pytest

from ivr.dev import postgres
from ivr.dev.asterisk import Instance, load_install
from ivr.dev.postgres import free_port
from ivr.dev.sipp import CallResult, Step, place_call
from ivr.dev.stack import Stack
from ivr.log import TOKYO
from ivr.prompts.library import PromptLibrary
from ivr.store.migrate import migrate
from tests.e2e.cityphone import CityPhone, answer, refuse, ring
from tests.e2e.helpers import DIALLED, wait_call

# Short prompts: a transfer starts about two seconds into the call.
FLOW = """\
version: 1
name: transfer test
start: menu
settings:
  menu_timeout: 20
  max_retries: 5
  pause_after_input: 0.2
  invalid_prompt: null
  timeout_prompt: null
prompts:
  menu: {text: ゼロを押してください。}
  connecting: {text: おつなぎします。}
  busy: {text: 話し中です。}
  no_answer: {text: 出られません。}
  crowded: {text: 混み合っております。}
  sorry: {text: おつなぎできません。}
  bye: {text: さようなら。}
nodes:
  menu: {type: menu, prompt: menu, choices: {"0": staff}, on_exhausted: bye}
  staff:
    type: transfer
    target: kokuho
    prompt: connecting
    fallback: sorry
    on: {busy: busy, no_answer: no_answer, capacity: crowded}
  busy: {type: play, prompt: busy, next: bye}
  no_answer: {type: play, prompt: no_answer, next: bye}
  crowded: {type: play, prompt: crowded, next: bye}
  sorry: {type: play, prompt: sorry, next: bye}
  bye: {type: hangup, prompt: bye}
"""

NUMBER = "0312345678"
PRESS_0 = [Step(1000, "0")]
# kokuho takes one caller at a time and rings 5 s; the trunk carries four channels.
TRANSFER = {
    "trunk_channels": 4,
    "targets": [{"name": "kokuho", "number": NUMBER, "max_calls": 1, "ring_seconds": 5}],
}


@pytest.fixture(scope="module")
async def xfer_asterisk() -> AsyncIterator[Instance]:
    """A private Asterisk whose trunk points at a port of its own (the city phone's)."""
    inst = Instance(f"xfer-{uuid.uuid4().hex[:8]}", load_install(), trunk_port=free_port())
    inst.render()
    PromptLibrary(inst.sounds_host_dir, inst.sounds_ast_dir).build_system()
    inst.start()
    try:
        await inst.wait_ready()
        yield inst
    finally:
        inst.stop()
        inst.remove()


@pytest.fixture(scope="module")
async def xfer_dsn(pg_admin_dsn: str) -> AsyncIterator[str]:
    name = f"ivr_xfer_{uuid.uuid4().hex[:8]}"
    dsn = await postgres.create_database(pg_admin_dsn, name)
    conn = await asyncpg.connect(dsn)
    try:
        await migrate(conn)
    finally:
        await conn.close()
    yield dsn
    await postgres.drop_database(pg_admin_dsn, name)


@pytest.fixture
async def xdb(xfer_dsn: str) -> AsyncIterator[asyncpg.Connection]:
    conn = await asyncpg.connect(xfer_dsn)
    yield conn
    await conn.close()


@pytest.fixture(scope="module")
async def xfer(
    xfer_dsn: str, xfer_asterisk: Instance, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Stack]:
    work = tmp_path_factory.mktemp("xfer")
    flow = work / "transfer.yaml"
    flow.write_text(FLOW, encoding="utf-8")
    s = Stack(
        xfer_dsn,
        xfer_asterisk,
        work,
        extra_config={
            "flow": {"file": str(flow)},
            "controller": {"watchdog_seconds": 5.0},
            "transfer": TRANSFER,
        },
    )
    s.start_controller()
    try:
        await s.wait_log("ari_connected", timeout=180)
        yield s
    finally:
        s.stop_controller()


def _caller() -> str:
    return f"0903{secrets.randbelow(10**7):07d}"


def _call(stack: Stack, caller: str, steps: list[Step], **kw: object) -> asyncio.Task[CallResult]:
    return asyncio.create_task(
        place_call(stack.asterisk.sip_port, DIALLED, caller, steps, timeout=90, **kw)  # type: ignore[arg-type]
    )


def _phone_dir(stack: Stack) -> Path:
    return stack.workdir / f"phone-{uuid.uuid4().hex[:6]}"


def _channels(inst: Instance) -> list[str]:
    out = inst.cli("core show channels concise")
    return [line.split("!", 1)[0] for line in out.splitlines() if "!" in line]


def _bridged_pairs(inst: Instance) -> int:
    """Bridges holding two channels (`bridge show all`)."""
    out = inst.cli("bridge show all")
    # Bridge-ID  Name  Chans  Type  Technology  Duration
    return sum(1 for line in out.splitlines() if re.match(r"^[0-9a-f-]{36}\s.*\s2\s+basic\s", line))


async def _channel_of(db: asyncpg.Connection, caller: str, since: datetime) -> str:
    row = await wait_call(db, since, ended=False, caller=caller, timeout=20)
    return str(row["channel_id"])


async def _attempt(
    db: asyncpg.Connection, call_id: uuid.UUID, timeout: float = 15
) -> asyncpg.Record:
    """The call's last transfer attempt, once it has ended."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        row = await db.fetchrow(
            "SELECT * FROM transfer_attempts WHERE call_id = $1 AND ended_at IS NOT NULL"
            " ORDER BY started_at DESC LIMIT 1",
            call_id,
        )
        if row is not None:
            return row
        await asyncio.sleep(0.1)
    raise AssertionError(f"no finished transfer attempt for call {call_id}")


async def _wait_channels_gone(inst: Instance, timeout: float = 10) -> list[str]:
    deadline = time.monotonic() + timeout
    while (left := await asyncio.to_thread(_channels, inst)) and time.monotonic() < deadline:
        await asyncio.sleep(0.2)
    return left


async def test_answered_transfer_is_bridged_and_recorded(
    xfer: Stack, xdb: asyncpg.Connection
) -> None:
    """0 → the city phone rings with the help line's number, answers, hears the whisper;
    both legs are bridged by Dial() (one bridge, two channels), the controller hangs up
    nothing; staff hang up, the caller gets the BYE; the record says transferred with
    ring and talk time."""
    inst = xfer.asterisk
    log_before = len(inst.log_text())
    phone = await CityPhone.start(inst.trunk_port, answer(hold_ms=4500), _phone_dir(xfer))
    caller, since = _caller(), datetime.now(TOKYO)
    call = _call(xfer, caller, PRESS_0, end="await_bye")
    channel = await _channel_of(xdb, caller, since)
    # Asterisk reports the answer once the whisper to staff has played: bridged by now.
    await xfer.wait_log("transfer_answered", timeout=20, channel_id=channel)
    assert await asyncio.to_thread(_bridged_pairs, inst) == 1, inst.cli("bridge show all")
    assert len(await asyncio.to_thread(_channels, inst)) == 2
    result = await call
    assert result.ok, result.output  # the caller stayed on until staff hung up
    assert (await phone.finish()).ok, phone.output
    assert await _wait_channels_gone(inst) == []

    row = await wait_call(xdb, since, caller=caller, timeout=15)
    assert row["outcome"] == "transferred" and row["path"] == ["menu", "staff"]
    attempt = await _attempt(xdb, row["id"])
    assert (attempt["target"], attempt["number"], attempt["outcome"]) == (
        "kokuho",
        NUMBER,
        "answered",
    )
    assert 0.5 < attempt["ring_seconds"] < 4
    assert 3.5 < attempt["talk_seconds"] < 8
    events = await xdb.fetch(
        "SELECT kind, detail FROM call_events WHERE call_id = $1 ORDER BY seq", row["id"]
    )
    assert events[-1]["kind"] == "transfer" and '"answered"' in events[-1]["detail"]
    (invite,) = phone.invites
    assert invite.startswith(f"INVITE sip:{NUMBER}@")
    from_line = next(h for h in invite.splitlines() if h.lower().startswith("from:"))
    assert DIALLED in from_line and caller not in invite  # the help line's number, not the caller's
    new_log = inst.log_text()[log_before:]
    assert "system/transfer_whisper" in new_log and "IVR-FALLBACK" not in new_log
    assert not [e for e in xfer.log_entries() if e.get("event") == "hangup_failed"]


@pytest.mark.parametrize(
    ("phone_scenario", "outcome", "route"),
    [
        (refuse(486), "busy", "busy"),
        (ring(), "no_answer", "no_answer"),
        (refuse(503), "failed", "sorry"),
    ],
    ids=["486-busy", "no-answer", "503-failed"],
)
async def test_unanswered_transfer_takes_its_route(
    xfer: Stack, xdb: asyncpg.Connection, phone_scenario: str, outcome: str, route: str
) -> None:
    """Busy (486), no answer (the 5 s ring time) and a SIP failure (503) each come back
    into the flow at their own route, in the call's own record, then the goodbye."""
    inst = xfer.asterisk
    phone = await CityPhone.start(inst.trunk_port, phone_scenario, _phone_dir(xfer))
    caller, since = _caller(), datetime.now(TOKYO)
    result = await _call(xfer, caller, PRESS_0, end="await_bye")
    assert result.ok, result.output
    assert (await phone.finish()).ok, phone.output
    row = await wait_call(xdb, since, caller=caller, timeout=15)
    assert row["outcome"] == "completed"
    assert row["path"] == ["menu", "staff", route, "bye"]
    attempt = await _attempt(xdb, row["id"])
    assert attempt["outcome"] == outcome
    if outcome == "no_answer":
        assert 4.5 < attempt["ring_seconds"] < 8
    assert await _wait_channels_gone(inst) == []


async def test_caller_hanging_up_while_it_rings_cancels_the_city_leg(
    xfer: Stack, xdb: asyncpg.Connection
) -> None:
    """The caller hangs up while the city phone rings: the outbound leg is cancelled
    (the phone gets CANCEL), no channel is left, the attempt is recorded as abandoned."""
    inst = xfer.asterisk
    phone = await CityPhone.start(inst.trunk_port, ring(), _phone_dir(xfer))
    caller, since = _caller(), datetime.now(TOKYO)
    result = await _call(xfer, caller, PRESS_0, tail_ms=3500)
    assert result.ok, result.output
    assert (await phone.finish()).ok, phone.output
    assert await _wait_channels_gone(inst) == []
    row = await wait_call(xdb, since, caller=caller, timeout=15)
    assert row["outcome"] == "caller_hangup"
    attempt = await _attempt(xdb, row["id"])
    assert attempt["outcome"] == "abandoned" and attempt["answered_at"] is None
    assert await xdb.fetchval("SELECT count(*) FROM transfer_slots") == 0


async def test_target_and_trunk_capacity(xfer: Stack, xdb: asyncpg.Connection) -> None:
    """While one caller talks to kokuho (one at a time; the trunk carries four):
    a second caller asking for staff gets the capacity route (never dialled); with
    three callers on the trunk a fourth's transfer would pass the limit
    (trunk_capacity, the same words); and a caller arriving on a full trunk hears the
    short busy message from the dialplan, recorded as trunk_busy."""
    inst = xfer.asterisk
    log_before = len(inst.log_text())
    phone = await CityPhone.start(inst.trunk_port, answer(hold_ms=16000), _phone_dir(xfer))
    first, since = _caller(), datetime.now(TOKYO)
    talking = _call(xfer, first, PRESS_0, end="await_bye")
    channel = await _channel_of(xdb, first, since)
    await xfer.wait_log("transfer_answered", timeout=20, channel_id=channel)

    second = _caller()  # the target is full: 「混み合っております」
    result = await _call(xfer, second, PRESS_0, end="await_bye")
    assert result.ok, result.output

    idle, asking, late = _caller(), _caller(), _caller()
    waiting = _call(xfer, idle, [], tail_ms=9000)  # on the trunk, in the menu
    await _channel_of(xdb, idle, since)
    refused = _call(xfer, asking, PRESS_0, end="await_bye")  # 2 + 1 + itself = 4
    asking_channel = await _channel_of(xdb, asking, since)
    await xfer.wait_log("transfer_refused", timeout=15, channel_id=asking_channel)
    busy = await _call(xfer, late, [], end="await_bye")  # a fifth channel: refused
    assert busy.ok, busy.output
    for task in (refused, waiting, talking):
        result = await task
        assert result.ok, result.output
    assert (await phone.finish(timeout=40)).ok, phone.output

    outcomes = {}
    for who in (second, asking):
        row = await wait_call(xdb, since, caller=who, timeout=15)
        assert row["path"] == ["menu", "staff", "crowded", "bye"]
        outcomes[who] = (await _attempt(xdb, row["id"]))["outcome"]
    assert outcomes == {second: "capacity", asking: "trunk_capacity"}
    row = await wait_call(xdb, since, caller=late, timeout=15)
    assert row["outcome"] == "trunk_busy" and row["path"] == []
    assert "IVR-BUSY" in inst.log_text()[log_before:]
    first_row = await wait_call(xdb, since, caller=first, timeout=15)
    assert first_row["outcome"] == "transferred"
    assert len(phone.invites) == 1  # only the first caller was ever dialled


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL], ids=["sigterm", "sigkill"])
async def test_controller_restart_never_touches_a_conversation(
    xfer: Stack, xdb: asyncpg.Connection, sig: int
) -> None:
    """The controller is stopped (SIGTERM) or killed (SIGKILL) while a caller talks to
    staff, and started again: the conversation goes on in its bridge, nothing is played
    or replayed to the caller, and the new controller records its end as transferred."""
    inst = xfer.asterisk
    phone = await CityPhone.start(inst.trunk_port, answer(hold_ms=11000), _phone_dir(xfer))
    caller, since = _caller(), datetime.now(TOKYO)
    call = _call(xfer, caller, PRESS_0, end="await_bye")
    channel = await _channel_of(xdb, caller, since)
    await xfer.wait_log("transfer_answered", timeout=20, channel_id=channel)
    assert await asyncio.to_thread(_bridged_pairs, inst) == 1, inst.cli("bridge show all")
    row = await wait_call(xdb, since, ended=False, caller=caller)
    seen = await xdb.fetchval("SELECT max(seq) FROM call_events WHERE call_id = $1", row["id"])

    await asyncio.to_thread(xfer.stop_controller, sig)
    xfer.start_controller()
    await xfer.wait_log("ari_connected", timeout=60)
    await xfer.wait_log("transfer_followed_again", timeout=15, channel_id=channel)
    assert await asyncio.to_thread(_bridged_pairs, inst) == 1  # still talking
    result = await call
    assert result.ok, result.output  # never cut: the BYE came when staff hung up
    assert (await phone.finish()).ok, phone.output

    row = await wait_call(xdb, since, caller=caller, timeout=15)
    assert row["outcome"] == "transferred" and row["path"] == ["menu", "staff"]
    later = await xdb.fetch(
        "SELECT kind, detail FROM call_events WHERE call_id = $1 AND seq > $2 ORDER BY seq",
        row["id"],
        seen,
    )
    assert [e["kind"] for e in later] == ["transfer"]  # no resume, no prompt again
    attempt = await _attempt(xdb, row["id"])
    assert attempt["outcome"] == "answered" and attempt["talk_seconds"] > 9
    assert not [e for e in xfer.log_entries() if e.get("event") == "play"]
    assert await xdb.fetchval("SELECT count(*) FROM transfer_slots") == 0


async def test_crashed_controllers_slot_is_freed_by_reconciliation(
    xfer: Stack, xdb: asyncpg.Connection
) -> None:
    """The controller is killed during a conversation that then ends while none runs:
    its slot stays in PostgreSQL until the next controller reconciles with Asterisk,
    which frees it (the attempt marked ended_unseen); kokuho then takes a caller again."""
    inst = xfer.asterisk
    # Staff talk 5.5 s from their answer (the whisper included), the controller is
    # killed as soon as it sees the answer (after the whisper, ~3 s).
    phone = await CityPhone.start(inst.trunk_port, answer(hold_ms=5500), _phone_dir(xfer))
    caller, since = _caller(), datetime.now(TOKYO)
    call = _call(xfer, caller, PRESS_0, end="await_bye")
    channel = await _channel_of(xdb, caller, since)
    await xfer.wait_log("transfer_answered", timeout=20, channel_id=channel)
    await asyncio.to_thread(xfer.stop_controller, signal.SIGKILL)
    assert await asyncio.to_thread(_bridged_pairs, inst) == 1  # ends while none runs
    assert (await call).ok and (await phone.finish()).ok, phone.output
    assert await _wait_channels_gone(inst) == []
    assert await xdb.fetchval("SELECT count(*) FROM transfer_slots") == 1  # left behind

    xfer.start_controller()
    await xfer.wait_log("ari_connected", timeout=60)
    await xfer.wait_log("transfer_slots_freed", timeout=15)
    assert await xdb.fetchval("SELECT count(*) FROM transfer_slots") == 0
    row = await wait_call(xdb, since, ended=False, caller=caller)
    attempt = await xdb.fetchrow("SELECT * FROM transfer_attempts WHERE call_id = $1", row["id"])
    assert attempt["outcome"] == "ended_unseen"

    phone = await CityPhone.start(inst.trunk_port, answer(hold_ms=1000), _phone_dir(xfer))
    again, since = _caller(), datetime.now(TOKYO)
    result = await _call(xfer, again, PRESS_0, end="await_bye")
    assert result.ok, result.output
    assert (await phone.finish()).ok, phone.output
    row = await wait_call(xdb, since, caller=again, timeout=15)
    assert row["outcome"] == "transferred"
