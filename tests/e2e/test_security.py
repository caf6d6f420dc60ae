"""Only the trunk's address may call in: a caller from anywhere else is challenged and
never reaches the dialplan or the controller."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

from ivr.dev.asterisk import Instance
from ivr.dev.postgres import free_port
from ivr.dev.stack import Stack

SCENARIO = Path(__file__).parent / "scenarios" / "unknown_source.xml"


async def test_unknown_source_is_refused(stack: Stack, asterisk: Instance) -> None:
    """An INVITE from 127.0.0.2 (not the trunk) gets 401 and creates no channel."""
    sipp = shutil.which("sipp")
    assert sipp is not None
    before = len(stack.log_entries())
    proc = await asyncio.create_subprocess_exec(
        sipp, f"127.0.0.1:{asterisk.sip_port}", "-sf", str(SCENARIO), "-m", "1",
        "-i", "127.0.0.2", "-p", str(free_port()), "-mp", str(free_port()),
        "-s", "0501234567", "-timeout", "20s", "-timeout_error", "-nostdin",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    out, _ = await proc.communicate()
    assert proc.returncode == 0, out.decode(errors="replace")[-2000:]  # the 401 arrived
    assert "No matching endpoint found" in asterisk.console_tail(200) + asterisk.log_text()
    await asyncio.sleep(0.5)
    assert not [e for e in stack.log_entries()[before:] if e.get("event") == "call_started"]
