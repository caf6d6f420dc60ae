"""Personal data with a real call (docs/personal-data.md): a landline caller keys a
mobile number in and asks for an SMS; afterwards each number is only where the
inventory lists it — the keyed one in the outbox, not in ``calls``, ``tts/`` or any
log. Then ``ivr retention run`` with periods of a second hashes or removes every place
it is responsible for, and the statistics stay exactly as they were."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from datetime import datetime

import asyncpg
import pytest

from ivr.dev.call import prompt_ms
from ivr.dev.sipp import Step, place_call
from ivr.dev.stack import Stack
from ivr.flow.model import Flow
from ivr.log import TOKYO
from ivr.prompts.library import PromptLibrary
from tests.e2e.helpers import DIALLED, wait_call
from tests.e2e.test_sms import sms_stack  # noqa: F401 - the SMS-enabled controller
from tests.unit.test_personal_data import Found, in_database, in_files, not_in_inventory
from tests.unit.test_sms_kit import FakeKaraden

LANDLINE, TYPED = "0311118888", "09087650002"
NUMBERS = {LANDLINE: "caller", TYPED: "keyed"}
SHORT = {
    "key": "an-e2e-key-of-more-than-16-chars",
    "callers": "1 second",
    "sms_recipients": "1 second",
    "spool": "1 second",
    "cel_files": "1 second",
}


@pytest.fixture
async def keyed_call(
    sms_stack: tuple[Stack, FakeKaraden],  # noqa: F811
    library: PromptLibrary,
    flow: Flow,
    db: asyncpg.Connection,
) -> AsyncIterator[tuple[Stack, asyncpg.Record]]:
    """The landline caller of tests/e2e/test_sms.py keys TYPED, confirms, and the
    message is delivered; yields the stack and the call's record."""
    stack, _gateway = sms_stack
    since = datetime.now(TOKYO)
    at_menu = prompt_ms(library, flow, "welcome") + 1500
    steps = (
        [Step(at_menu, "1"), Step(2500, "1"), Step(2000, "")]
        + [Step(150, d) for d in TYPED + "#"]
        + [Step(3500, "1"), Step(6000, "")]
    )
    result = await place_call(stack.asterisk.sip_port, DIALLED, LANDLINE, steps, tail_ms=1000)
    assert result.ok, result.output
    row = await wait_call(db, since, caller=LANDLINE)
    assert "sms_sent" in row["path"], row["path"]
    await _until(db, "SELECT status = 'delivered' FROM sms_outbox WHERE call_id = $1", row["id"])
    yield stack, row


async def _until(db: asyncpg.Connection, query: str, *args: object) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if await db.fetchval(query, *args):
            return
        await asyncio.sleep(0.2)
    raise AssertionError(f"never true: {query}")


def _files(stack: Stack) -> list[Found]:
    """Every file the system wrote that holds one of the numbers."""
    found = in_files(stack.workdir / "spool", "spool", NUMBERS)
    found += in_files(stack.asterisk.host_dir / "log", "asterisk", NUMBERS)
    found += in_files(stack.asterisk.sounds_host_dir, "sounds", NUMBERS)
    log = stack.log_file.read_bytes()
    found += [Found("log:controller", n, k) for n, k in NUMBERS.items() if n.encode() in log]
    return found


async def _figures(db: asyncpg.Connection) -> dict[str, object]:
    out: dict[str, object] = {}
    for table in ("stats_hourly", "stats_daily", "stats_funnel", "stats_sms_daily"):
        rows = await db.fetch(f"SELECT * FROM {table} WHERE n <> 0")
        out[table] = sorted(tuple(r.values()) for r in rows)
    return out


async def test_numbers_only_where_listed_then_retention_leaves_the_figures(
    keyed_call: tuple[Stack, asyncpg.Record], db: asyncpg.Connection
) -> None:
    """After the call the keyed number is in the outbox and nowhere unlisted (not in
    calls, tts/ or a log); the record keeps N for its digits. A retention run with
    periods of one second leaves no number in the database, the spool or the CEL
    files, and every counter as it was."""
    stack, row = keyed_call
    assert TYPED not in row["digits"] and "N" * len(TYPED) in row["digits"], row["digits"]
    cel_file = stack.asterisk.host_dir / "log" / "cel-ivr.csv"
    # Asterisk's CEL lines of the call are loaded (the job rotates only a loaded file).
    await _until(
        db,
        "SELECT count(*) > 0 FROM cel_events WHERE cid_num = $1 AND eventtype = 'CHAN_END'",
        LANDLINE,
    )
    found = await in_database(db, NUMBERS) + _files(stack)
    assert not_in_inventory(found) == []
    keyed = {f.place for f in found if f.number == TYPED}
    assert "db:sms_outbox.number" in keyed
    caller = {f.place for f in found if f.number == LANDLINE}
    assert {"db:calls.caller", "db:cel_events.cid_num", "asterisk:cel-ivr.csv"} <= caller
    assert keyed == {"db:sms_outbox.number"}, keyed  # not calls, tts/, any log or CEL

    # The periods are one second, measured from the last write: let the call's last CEL
    # line (written after CHAN_END) age past it, or the run rightly keeps it a while.
    while time.time() - cel_file.stat().st_mtime < 2.5:
        await asyncio.sleep(0.5)
    await _until(
        db,
        'SELECT "offset" = $2 FROM cel_position WHERE path = $1',
        str(cel_file),
        cel_file.stat().st_size,
    )
    before = await _figures(db)
    stack.extra_config["retention"] = SHORT
    try:
        done = await asyncio.to_thread(stack.run_cli, "retention", "run")
    finally:
        del stack.extra_config["retention"]
    assert done.returncode == 0, done.stderr
    assert "calls.caller:" in done.stdout and "CEL file rotated" in done.stdout, done.stdout

    after = await in_database(db, NUMBERS) + _files(stack)
    assert await _figures(db) == before
    # What the job does not keep: Asterisk's own log, rotated by the host (inventory).
    left = {f.place for f in after}
    assert left <= {"asterisk:messages.log", "asterisk:console.out"}, left
    assert not list(cel_file.parent.glob("cel-ivr.csv.*"))  # rotated, then removed
    hashed = await db.fetchval("SELECT caller FROM calls WHERE id = $1", row["id"])
    assert hashed.startswith("h:")


async def test_a_withheld_caller_is_withheld_everywhere(
    sms_stack: tuple[Stack, FakeKaraden],  # noqa: F811
    library: PromptLibrary,
    flow: Flow,
    db: asyncpg.Connection,
) -> None:
    """A caller who withheld the number (Privacy: id) although the trunk passes it is
    recorded as withheld: once Asterisk's CEL lines of the call are loaded, no table
    holds the number, and the call log's row says withheld."""
    stack, _gateway = sms_stack
    hidden = "09055550456"
    since = datetime.now(TOKYO)
    at_menu = prompt_ms(library, flow, "welcome") + 1500
    steps = [Step(at_menu, "9"), Step(3000, "")]
    result = await place_call(
        stack.asterisk.sip_port, DIALLED, hidden, steps, tail_ms=1000, withheld=True
    )
    assert result.ok, result.output
    row = await wait_call(db, since, caller="")
    await _until(
        db,
        "SELECT count(*) > 0 FROM cel_events WHERE uniqueid = $1 AND eventtype = 'CHAN_END'",
        row["channel_id"],
    )
    assert await in_database(db, {hidden: "caller"}) == []
    assert (
        await db.fetchval("SELECT caller FROM stats_call WHERE channel_id = $1", row["channel_id"])
        == ""
    )
