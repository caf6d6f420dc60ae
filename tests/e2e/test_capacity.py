"""``controller.max_calls`` with real calls: a controller capped at one call serves the
first caller, and a second caller arriving meanwhile hears the dialplan's short busy
message at once and is recorded as busy; the first call goes on to its end."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import datetime

import asyncpg
import pytest

from ivr.dev.asterisk import Instance
from ivr.dev.sipp import Step, place_call
from ivr.dev.stack import Stack
from ivr.log import TOKYO
from tests.conftest import fresh_database
from tests.e2e.conftest import private_asterisk
from tests.e2e.helpers import DIALLED, wait_call

# The caller hears the menu (about 3 s) and presses 1 for a short guidance.
FLOW = """\
version: 1
name: capacity test
start: menu
settings:
  menu_timeout: 20
  max_retries: 2
  pause_after_input: 0.2
  invalid_prompt: null
  timeout_prompt: null
prompts:
  menu: {text: ご案内は1を押してください。}
  info: {text: ご案内します。}
  bye: {text: さようなら。}
nodes:
  menu: {type: menu, prompt: menu, choices: {"1": info}, on_exhausted: bye}
  info: {type: play, prompt: info, next: bye}
  bye: {type: hangup, prompt: bye}
"""

FIRST, SECOND = "09011110001", "09011110002"


@pytest.fixture(scope="module")
async def capped_asterisk() -> AsyncIterator[Instance]:
    """A private Asterisk for the capped controller."""
    async with private_asterisk("cap") as inst:
        yield inst


@pytest.fixture(scope="module")
async def capped_dsn(pg_admin_dsn: str) -> AsyncIterator[str]:
    """A database of this module's own: its calls are the only ones in it."""
    async with fresh_database(pg_admin_dsn, "ivr_cap") as dsn:
        yield dsn


@pytest.fixture(scope="module")
async def capped(
    capped_dsn: str, capped_asterisk: Instance, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Stack]:
    """The controller serving the short flow with ``controller.max_calls: 1``."""
    work = tmp_path_factory.mktemp("cap")
    flow = work / "capacity.yaml"
    flow.write_text(FLOW, encoding="utf-8")
    s = Stack(
        capped_dsn,
        capped_asterisk,
        work,
        extra_config={"flow": {"file": str(flow)}, "controller": {"max_calls": 1}},
    )
    s.start_controller()
    try:
        await s.wait_log("ari_connected", timeout=180)
        yield s
    finally:
        s.stop_controller()


async def test_second_caller_over_the_cap_hears_busy(capped: Stack, capped_dsn: str) -> None:
    """max_calls 1: while the first caller is in the menu, a second caller is passed to
    the busy message (Asterisk plays system/busy and hangs up on them) and recorded as
    busy, unanswered by the controller; the first caller presses 1 and completes."""
    inst = capped.asterisk
    since = datetime.now(TOKYO)
    log_before = len(inst.log_text())
    first = asyncio.create_task(
        place_call(inst.sip_port, DIALLED, FIRST, [Step(6000, "1")], end="await_bye", timeout=60)
    )
    db = await asyncpg.connect(capped_dsn)
    try:
        row = await wait_call(db, since, ended=False, caller=FIRST, timeout=30)
        await capped.wait_log("play", timeout=15, channel_id=row["channel_id"])
        second = await place_call(inst.sip_port, DIALLED, SECOND, [], end="await_bye", timeout=60)
        assert second.ok, second.output  # Asterisk hung up on the second caller
        busy = await wait_call(db, since, caller=SECOND, timeout=15)
        assert busy["outcome"] == "busy" and busy["answered_at"] is None
        assert busy["dialled"] == DIALLED and list(busy["path"]) == []
        assert busy["flow_digest"] != ""  # the flow in service, as a served call records it
        log = inst.log_text()[log_before:]
        assert "IVR-BUSY" in log and "system/busy" in log
        refused = [e for e in capped.log_entries() if e.get("event") == "call_refused_busy"]
        assert [e["channel_id"] for e in refused] == [busy["channel_id"]]

        result = await first
        assert result.ok, result.output
        done = await wait_call(db, since, caller=FIRST, timeout=15)
        assert done["outcome"] == "completed" and list(done["path"]) == ["menu", "info", "bye"]
        assert uuid.UUID(str(done["id"])) != uuid.UUID(str(busy["id"]))
    finally:
        await db.close()
