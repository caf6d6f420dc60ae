"""A real SIP call through Asterisk reaches the controller, follows the caller's key
and is recorded; with the controller down the dialplan holds the caller, then
apologises; after ARI drops or Asterisk restarts the controller reconnects by itself."""

from __future__ import annotations

import asyncio
import signal
from datetime import datetime

import asyncpg

from ivr.dev.call import prompt_ms
from ivr.dev.sipp import CallResult, Step, place_call
from ivr.dev.stack import Stack
from ivr.flow.model import Flow
from ivr.log import TOKYO
from ivr.prompts.library import PromptLibrary
from tests.e2e.helpers import CALLER, DIALLED, prompt_path, wait_call
from tests.e2e.tcpproxy import TcpProxy


async def _menu_call(stack: Stack, library: PromptLibrary, flow: Flow, digit: str) -> None:
    """Call in, press ``digit`` while the main menu plays, listen briefly, hang up."""
    press_at = prompt_ms(library, flow, "welcome") + 2000  # inside the main menu prompt
    result = await place_call(
        stack.asterisk.sip_port, DIALLED, CALLER, [Step(press_at, digit)], tail_ms=2500
    )
    assert result.ok, result.output


async def test_digit_follows_flow_and_is_recorded(
    stack: Stack, library: PromptLibrary, flow: Flow, db: asyncpg.Connection
) -> None:
    """Pressing 1 at the main menu plays the registration guidance and is stored."""
    since = datetime.now(TOKYO)
    asterisk_log_before = len(stack.asterisk.log_text())
    await _menu_call(stack, library, flow, "1")

    row = await wait_call(db, since)
    assert row["digits"] == "1"
    assert row["dialled"] == DIALLED
    assert row["answered_at"] is not None and row["ended_at"] > row["answered_at"]
    assert row["outcome"] == "caller_hangup"
    assert row["path"][:4] == ["service_check", "welcome", "announcement_check", "main_menu"]
    assert "guide_registration" in row["path"]

    key = await db.fetchrow(
        "SELECT * FROM call_events WHERE call_id = $1 AND kind = 'key'", row["id"]
    )
    assert key["node"] == "main_menu"

    # The controller saw the digit, and Asterisk really played the guidance file.
    await stack.wait_log("flow_step", kind="key", node="main_menu", since_start=True)
    new_log = stack.asterisk.log_text()[asterisk_log_before:]
    assert "DTMF end '1' received" in new_log
    assert prompt_path(library, flow, "guide_registration") in new_log
    summary = [e for e in stack.log_entries() if e.get("event") == "call_summary"]
    assert summary and summary[-1]["digits"] == "1"
    assert summary[-1]["caller"] == "*******5678"  # numbers are masked in logs


async def test_invalid_key_then_valid(
    stack: Stack, library: PromptLibrary, flow: Flow, db: asyncpg.Connection
) -> None:
    """An unassigned key plays the invalid-key prompt and the menu again, then 2 works."""
    since = datetime.now(TOKYO)
    first = prompt_ms(library, flow, "welcome") + 2000
    again = prompt_ms(library, flow, "invalid") + 2500
    result = await place_call(
        stack.asterisk.sip_port, DIALLED, CALLER, [Step(first, "8"), Step(again, "2")], tail_ms=2000
    )
    assert result.ok, result.output
    row = await wait_call(db, since)
    assert row["digits"] == "82"
    kinds = [
        r["kind"]
        for r in await db.fetch(
            "SELECT kind FROM call_events WHERE call_id = $1 AND node = 'main_menu' ORDER BY seq",
            row["id"],
        )
    ]
    assert "invalid" in kinds and "key" in kinds
    assert "guide_certificate" in row["path"]


async def test_controller_down_caller_is_held_then_apologised(
    stack: Stack, db: asyncpg.Connection
) -> None:
    """With no controller, the dialplan says 少々お待ちください and holds the caller,
    retrying Stasis for 20 s; only then the apology, and the call ends (no dead air)."""
    stack.stop_controller()
    try:
        before = len(stack.asterisk.log_text())
        started = asyncio.get_running_loop().time()
        result = await place_call(
            stack.asterisk.sip_port, DIALLED, CALLER, [], end="await_bye", timeout=60
        )
        held = asyncio.get_running_loop().time() - started
        assert result.ok, result.output  # Asterisk sent BYE: the call ended, no dead air
        new_log = stack.asterisk.log_text()[before:]
        assert "IVR-HOLD waiting for a controller: STASISSTATUS=FAILED" in new_log
        assert f"{stack.asterisk.sounds_ast_dir}/system/hold" in new_log
        assert new_log.count("Stasis(") >= 10  # retried about once a second
        assert "IVR-FALLBACK controller unavailable: STASISSTATUS=FAILED" in new_log
        assert f"{stack.asterisk.sounds_ast_dir}/system/fallback" in new_log
        assert held >= 20
    finally:
        stack.start_controller()
        await stack.wait_log("ari_connected", timeout=120)


async def test_reconnects_after_ari_connection_cut(
    stack: Stack,
    ari_proxy: TcpProxy,
    library: PromptLibrary,
    flow: Flow,
    db: asyncpg.Connection,
) -> None:
    """When the ARI connection is cut the controller reconnects and handles the next call."""
    assert ari_proxy.cut() >= 1
    await stack.wait_log("ari_disconnected", timeout=10)
    connected = await stack.wait_log("ari_connected", timeout=20, connects=2)
    assert connected["connects"] == 2
    since = datetime.now(TOKYO)
    await _menu_call(stack, library, flow, "1")
    row = await wait_call(db, since)
    assert row["digits"] == "1" and "guide_registration" in row["path"]


async def test_reconnects_after_asterisk_restart(
    stack: Stack, library: PromptLibrary, flow: Flow, db: asyncpg.Connection
) -> None:
    """Asterisk restarts under a running controller; the next call is handled normally."""
    connects = _connects(stack)
    stack.asterisk.stop()
    await stack.wait_log("ari_disconnected", timeout=15)
    stack.asterisk.start()
    await stack.asterisk.wait_ready()
    await stack.wait_log("ari_connected", timeout=30, connects=connects + 1)
    since = datetime.now(TOKYO)
    await _menu_call(stack, library, flow, "1")
    row = await wait_call(db, since)
    assert row["digits"] == "1" and row["outcome"] == "caller_hangup"


async def test_call_survives_ari_cut_mid_call(
    stack: Stack,
    ari_proxy: TcpProxy,
    library: PromptLibrary,
    flow: Flow,
    db: asyncpg.Connection,
) -> None:
    """The ARI connection drops during the menu; the call goes on and the key is handled."""
    welcome = prompt_ms(library, flow, "welcome")
    connects = _connects(stack)
    since, call, _ = await _call_in_background(stack, db, welcome + 7000)
    await asyncio.sleep(welcome / 1000 + 1)  # the main menu is playing
    assert ari_proxy.cut() >= 1
    await stack.wait_log("ari_connected", timeout=20, connects=connects + 1)
    result = await call
    assert result.ok, result.output
    row = await wait_call(db, since)
    assert row["digits"] == "1" and "guide_registration" in row["path"]
    assert row["outcome"] == "caller_hangup"


async def test_restarted_controller_resumes_call_in_progress(
    stack: Stack, library: PromptLibrary, flow: Flow, db: asyncpg.Connection
) -> None:
    """After a SIGKILL the new controller finds the caller still in Stasis and resumes
    the main menu where it was, in the same record; the welcome is not heard again."""
    welcome = prompt_ms(library, flow, "welcome")
    # Key pressed well after the restart, while the resumed main menu plays.
    since, call, first = await _call_in_background(stack, db, welcome + 1000 + 8000 + 2000)
    await asyncio.sleep(welcome / 1000 + 1)
    stack.stop_controller(signal.SIGKILL)
    stack.start_controller()
    adopted = await stack.wait_log("call_started", timeout=30, adopted=True)
    assert adopted["resumed_at"] == "main_menu"
    result = await call
    assert result.ok, result.output
    row = await wait_call(db, since)
    assert str(row["id"]) == adopted["call_id"] == str(first["id"])  # one record per call
    assert row["digits"] == "1" and "guide_registration" in row["path"]
    assert row["path"].count("welcome") == 1
    assert (
        await db.fetchval("SELECT count(*) FROM calls WHERE channel_id = $1", row["channel_id"])
        == 1
    )


async def _call_in_background(
    stack: Stack, db: asyncpg.Connection, press_at: int
) -> tuple[datetime, asyncio.Task[CallResult], asyncpg.Record]:
    """Start a call that presses 1 at ``press_at`` ms; return once it is recorded as started."""
    since = datetime.now(TOKYO)
    call = asyncio.create_task(
        place_call(stack.asterisk.sip_port, DIALLED, CALLER, [Step(press_at, "1")], tail_ms=2000)
    )
    return since, call, await wait_call(db, since, ended=False)


def _connects(stack: Stack) -> int:
    return max(
        (e.get("connects", 0) for e in stack.log_entries() if e.get("event") == "ari_connected"),
        default=0,
    )


async def test_prompt_that_ended_during_an_outage_is_noticed(
    stack: Stack,
    ari_proxy: TcpProxy,
    library: PromptLibrary,
    flow: Flow,
    db: asyncpg.Connection,
) -> None:
    """ARI is down while the welcome ends; after reconnecting, the menu still plays."""
    welcome = prompt_ms(library, flow, "welcome")
    connects = _connects(stack)
    # The key comes after the outage, while the main menu (which must start) plays.
    since, call, _ = await _call_in_background(stack, db, welcome + 7000)
    await asyncio.sleep(1)
    assert ari_proxy.block(welcome / 1000 + 0.5) >= 1  # the welcome ends while we are away
    await stack.wait_log("ari_connected", timeout=30, connects=connects + 1)
    result = await call
    assert result.ok, result.output
    row = await wait_call(db, since)
    assert row["path"][:5] == [
        "service_check",
        "welcome",
        "announcement_check",
        "main_menu",
        "guide_registration",
    ]
    assert row["digits"] == "1"
