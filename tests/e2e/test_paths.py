"""Paths through the default flow walked by real callers at the same time: repeat and
barge-in, a mobile number keyed in with # and read back, and silence to the end."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg
import pytest

from ivr.dev.call import prompt_ms
from ivr.dev.sipp import CallResult, Step, place_call
from ivr.dev.stack import Stack
from ivr.flow.model import Flow
from ivr.flow.readback import digit_variables
from ivr.log import TOKYO
from ivr.prompts.library import PromptLibrary
from tests.e2e.helpers import DIALLED, wait_call

REPEATER = "09011110001"
LANDLINE = "0311110002"
SILENT = "09011110003"
TYPED = "09087654321"


@dataclass
class Walk:
    result: CallResult
    row: asyncpg.Record
    events: list[asyncpg.Record]
    log: list[dict[str, Any]]

    def kinds(self, node: str) -> list[str]:
        return [e["kind"] for e in self.events if e["node"] == node]


@pytest.fixture(scope="module")
async def walks(
    stack: Stack, library: PromptLibrary, flow: Flow, database_dsn: str
) -> dict[str, Walk]:
    """Three callers walk different paths concurrently; their records are collected."""
    ms = {p: prompt_ms(library, flow, p) for p in flow.prompts}
    at_menu = ms["welcome"] + 2000
    scripts = {
        # * during the menu repeats it; 2 during the repeat chooses the certificate guide.
        REPEATER: ([Step(at_menu, "*"), Step(3000, "2")], "caller_bye", 2000),
        # 1, then 1 (SMS) during the guidance, then a mobile number and #, then 1 to confirm.
        LANDLINE: (
            [Step(at_menu, "1"), Step(2500, "1"), Step(2000, "")]
            + [Step(150, d) for d in TYPED + "#"]
            + [Step(3500, "1")],
            "caller_bye",
            3000,
        ),
        # 1, then silence: timeout, the reprompt, timeout again, goodbye, Asterisk hangs up.
        SILENT: ([Step(at_menu, "1")], "await_bye", 0),
    }
    since = datetime.now(TOKYO)
    results = await asyncio.gather(
        *(
            place_call(stack.asterisk.sip_port, DIALLED, caller, steps, end, tail, timeout=150)
            for caller, (steps, end, tail) in scripts.items()
        )
    )
    conn = await asyncpg.connect(database_dsn)
    try:
        out = {}
        for caller, result in zip(scripts, results, strict=True):
            row = await wait_call(conn, since, caller=caller)
            events = await conn.fetch(
                "SELECT * FROM call_events WHERE call_id = $1 ORDER BY seq", row["id"]
            )
            log = [e for e in stack.log_entries() if e.get("call_id") == str(row["id"])]
            out[caller] = Walk(result, row, events, log)
        return out
    finally:
        await conn.close()


def test_repeat_key_replays_the_menu(walks: dict[str, Walk]) -> None:
    """* at the main menu replays it, and a key during the replay is taken."""
    w = walks[REPEATER]
    assert w.result.ok, w.result.output
    assert w.kinds("main_menu")[:3] == ["enter", "repeat", "key"]
    assert w.row["digits"] == "*2"
    assert "guide_certificate" in w.row["path"]
    menu_plays = [e for e in w.log if e["event"] == "play" and e["prompts"] == ["main_menu"]]
    assert len(menu_plays) == 2


def test_barge_in_stops_the_prompt_early(
    walks: dict[str, Walk], library: PromptLibrary, flow: Flow
) -> None:
    """A key pressed during the menu ends its playback long before the prompt's length."""
    w = walks[REPEATER]
    first_menu = next(e for e in w.log if e["event"] == "play" and e["prompts"] == ["main_menu"])
    finished = next(
        e for e in w.log if e["event"] == "playback_finished" and e["token"] == first_menu["token"]
    )
    assert finished["ms"] < prompt_ms(library, flow, "main_menu") - 5000
    assert finished["state"] in ("done", "stopped", "complete")


def test_mobile_number_keyed_with_hash_and_confirmed(
    walks: dict[str, Walk], library: PromptLibrary, flow: Flow
) -> None:
    """A landline caller keys in a mobile number ending with #, hears it read back from
    digit clips (no audio file holds the number), confirms."""
    w = walks[LANDLINE]
    assert w.result.ok, w.result.output
    assert w.row["path"][:6] == [
        "service_check",
        "welcome",
        "announcement_check",
        "main_menu",
        "guide_registration",
        "route_registration",
    ]
    assert "number_registration" in w.row["path"]
    kinds = w.kinds("number_registration")
    assert "input" in kinds and "confirm" in kinds
    readback = [e for e in w.log if e["event"] == "play" and e["prompts"] == ["sms_confirm_mobile"]]
    assert readback, "the number was not read back"
    spoken = flow.prompts["sms_confirm_mobile"].render(digit_variables(TYPED))
    assert not library.has(f"tts/{library.key(spoken)}")  # the number was never synthesised
    assert not any(TYPED in p.name for p in (library.sounds_dir / "tts").iterdir())
    # SMS sending arrives with its own issue: until then the flow's failure path runs.
    assert "send_registration" in w.row["path"] and "sms_failed" in w.row["path"]
    # The record keeps that a number was keyed, not the number (docs/personal-data.md).
    assert w.row["digits"].startswith("11" + "N" * len(TYPED) + "#")
    assert TYPED not in w.row["digits"]


def test_silence_times_out_then_ends_gracefully(walks: dict[str, Walk]) -> None:
    """A caller who stops pressing keys gets the timeout prompt, a retry, then a goodbye."""
    w = walks[SILENT]
    assert w.result.ok, w.result.output  # Asterisk hung up on the caller: no dead air
    assert w.kinds("guide_registration").count("timeout") == 2
    assert "exhausted" in w.kinds("guide_registration")
    assert w.row["path"][-1] == "goodbye"
    assert w.row["outcome"] == "completed"
