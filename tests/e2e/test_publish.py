"""Publishing a flow version takes effect for the next call, without a restart, while
a call in progress finishes on the version it started with."""

from __future__ import annotations

import asyncio
from datetime import datetime
from pathlib import Path

import asyncpg

from ivr.dev.call import prompt_ms
from ivr.dev.sipp import Step, place_call
from ivr.dev.stack import Stack
from ivr.flow.loader import default_flow_text, load_flow
from ivr.log import TOKYO
from ivr.prompts.library import PromptLibrary
from tests.e2e.helpers import CALLER, DIALLED, prompt_path, wait_call


async def _publish(stack: Stack, path: Path, switches_before: int) -> int:
    """Publish with the CLI and wait until the controller serves it; return the version."""
    result = await asyncio.to_thread(stack.run_cli, "flow", "publish", str(path), "--by", "e2e")
    assert result.returncode == 0, result.stderr
    version = int(result.stdout.split()[1])
    for _ in range(300):
        switched = [e for e in stack.log_entries() if e.get("event") == "flow_switched"]
        if len(switched) > switches_before and switched[-1]["version"] == version:
            return version
        await asyncio.sleep(0.1)
    raise AssertionError(f"controller did not switch to version {version}: {stack.log_tail()}")


def _switches(stack: Stack) -> int:
    return sum(1 for e in stack.log_entries() if e.get("event") == "flow_switched")


async def test_publish_during_call(
    stack: Stack, library: PromptLibrary, db: asyncpg.Connection, tmp_path: Path
) -> None:
    """A call keeps its version across a publish; the next call gets the new one."""
    old_file = tmp_path / "old.yaml"
    old_file.write_text(default_flow_text())
    new_text = default_flow_text().replace(
        "○○市マイナ保険証案内です。", "みどり市マイナ保険証案内です。"
    )
    assert new_text != default_flow_text()
    new_file = tmp_path / "new.yaml"
    new_file.write_text(new_text)
    old_flow, new_flow = load_flow(default_flow_text()), load_flow(new_text)

    old_version = await _publish(stack, old_file, _switches(stack))
    since = datetime.now(TOKYO)
    press_at = prompt_ms(library, old_flow, "welcome") + 2000
    call = asyncio.create_task(
        place_call(stack.asterisk.sip_port, DIALLED, CALLER, [Step(press_at, "1")], tail_ms=2500)
    )
    await wait_call(db, since, ended=False)  # the call is in progress ...
    new_version = await _publish(stack, new_file, _switches(stack))  # ... when this lands
    assert (await call).ok
    row = await wait_call(db, since)
    assert row["flow_version"] == old_version
    assert row["digits"] == "1" and "guide_registration" in row["path"]

    since = datetime.now(TOKYO)
    before = len(stack.asterisk.log_text())
    press_at = prompt_ms(library, new_flow, "welcome") + 2000
    result = await place_call(
        stack.asterisk.sip_port, DIALLED, CALLER, [Step(press_at, "1")], tail_ms=1500
    )
    assert result.ok, result.output
    row = await wait_call(db, since)
    assert row["flow_version"] == new_version and row["digits"] == "1"
    played = stack.asterisk.log_text()[before:]
    assert prompt_path(library, new_flow, "welcome") in played
    assert prompt_path(library, old_flow, "welcome") not in played

    # Roll back so the version in service is the default flow again.
    result = await asyncio.to_thread(stack.run_cli, "flow", "rollback", str(old_version))
    assert result.returncode == 0, result.stderr
