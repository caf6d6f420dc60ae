"""Small helpers for end-to-end tests: prompt files and lengths, waiting for rows."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import asyncpg

from ivr.flow.model import Flow
from ivr.prompts.library import PromptLibrary

CALLER = "09012345678"
DIALLED = "0501234567"


def prompt_path(library: PromptLibrary, flow: Flow, prompt_id: str) -> str:
    """The file (as Asterisk names it, no extension) that speaks ``prompt_id``."""
    return f"{library.asterisk_dir}/tts/{library.key(flow.prompts[prompt_id].text)}"


async def wait_call(
    db: asyncpg.Connection,
    since: Any,
    *,
    ended: bool = True,
    timeout: float = 15.0,
    caller: str = CALLER,
) -> asyncpg.Record:
    """The newest call from the test caller started after ``since`` (ended, by default)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        row = await db.fetchrow(
            "SELECT * FROM calls WHERE caller = $1 AND started_at >= $2 "
            "ORDER BY started_at DESC LIMIT 1",
            caller,
            since,
        )
        if row is not None and (row["ended_at"] is not None or not ended):
            return row
        await asyncio.sleep(0.1)
    raise AssertionError("no finished call row from the test caller")
