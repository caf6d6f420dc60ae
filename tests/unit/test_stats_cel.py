"""Asterisk's own log (CEL) loaded from cel_custom's file: lines parsed as Asterisk writes
them, loaded once however often the file is read (restart, rotation, truncation, a
half-written line), and only inbound trunk channels counted as calls."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import pytest

from ivr.log import TOKYO
from ivr.stats import cel
from ivr.stats.cel import CelLoader, parse_line, parse_time
from tests.unit.test_stats_rollup import cel_line, classes, clean, inbound_cel

# Lines as Asterisk 22.10 wrote them with asterisk-conf/cel_custom.conf (seen in a test run).
REAL = """\
"CHAN_START","1796015887.339541","1796015887.0","1796015887.0","PJSIP/trunk-00000000","from-trunk","0501234567","09011112222","",""
"ANSWER","1796015887.340154","1796015887.0","1796015887.0","PJSIP/trunk-00000000","inbound","s","09011112222","Answer",""
"APP_START","1796015887.841101","1796015887.0","1796015887.0","PJSIP/trunk-00000000","inbound","s","09011112222","Playback","/ivr-instances/x/sounds/system/hold"
"CHAN_END","1796015891.351237","1796015887.0","1796015887.0","PJSIP/trunk-00000000","inbound","s","09011112222","",""
"LINKEDID_END","1796015891.351237","1796015887.0","1796015887.0","PJSIP/trunk-00000000","inbound","s","09011112222","",""
"CHAN_START","1796015891.466686","1796015891.1","1796015891.1","PJSIP/trunk-00000001","from-trunk","0501234567","09011113333","",""
"ANSWER","1796015891.467609","1796015891.1","1796015891.1","PJSIP/trunk-00000001","inbound","s","09011113333","Answer",""
"APP_START","1796015911.928990","1796015891.1","1796015891.1","PJSIP/trunk-00000001","inbound","s","09011113333","Playback","/ivr-instances/x/sounds/system/fallback"
"CHAN_END","1796015925.537493","1796015891.1","1796015891.1","PJSIP/trunk-00000001","inbound","s","09011113333","",""
"LINKEDID_END","1796015925.537493","1796015891.1","1796015891.1","PJSIP/trunk-00000001","inbound","s","09011113333","",""
"""


@pytest.fixture(autouse=True)
async def _clean(db: asyncpg.Connection) -> None:
    await clean(db)


def test_parse_a_line_as_asterisk_writes_it() -> None:
    """Quoted fields in the mapping's order; epoch microseconds to an exact UTC time."""
    e = parse_line(REAL.splitlines()[7])
    assert e.eventtype == "APP_START" and e.uniqueid == "1796015891.1"
    assert e.appname == "Playback" and e.appdata.endswith("/system/fallback")
    assert e.eventtime == datetime(2026, 11, 30, 5, 18, 31, 928990, tzinfo=UTC)
    with_comma = parse_line(
        '"APP_START","1.5","u","l","PJSIP/trunk-1","c","s","","Playback","a,b ""c"""'
    )
    assert with_comma.appdata == 'a,b "c"'
    assert with_comma.eventtime == datetime(1970, 1, 1, 0, 0, 1, 500000, tzinfo=UTC)


@pytest.mark.parametrize(
    "line",
    ['"CHAN_START","1.0","u"', '"CHAN_START","not a time","u","l","","","","","",""', ""],
)
def test_unreadable_lines_are_refused(line: str) -> None:
    """Too few fields or a time that is none: ValueError, for the loader to log."""
    with pytest.raises(ValueError):
        parse_line(line)


def test_a_dateformat_time_is_japan_time() -> None:
    """If cel.conf ever sets dateformat = %F %T, times are Asterisk's local (Japan) time."""
    assert parse_time("2026-04-01 09:00:00") == datetime(2026, 4, 1, 9, tzinfo=TOKYO)


async def test_loading_twice_and_from_scratch_counts_once(
    db: asyncpg.Connection, tmp_path: Path
) -> None:
    """The real lines give two calls (one apologised to); loading again, and again from
    the file's start as after a lost position, adds nothing."""
    path = tmp_path / "cel-ivr.csv"
    path.write_text(REAL)
    loader = CelLoader(path)
    assert await loader.load(db) == 10
    assert await loader.load(db) == 0
    calls = await db.fetch("SELECT * FROM cel_calls ORDER BY uniqueid")
    assert [(c["uniqueid"], c["apology"], c["caller"]) for c in calls] == [
        ("1796015887.0", False, "09011112222"),
        ("1796015891.1", True, "09011113333"),
    ]
    assert calls[1]["ended_at"] - calls[1]["started_at"] == timedelta(seconds=34.070807)
    await db.execute("DELETE FROM cel_position")
    again = CelLoader(path)
    assert await again.load(db) == 0
    assert await db.fetchval("SELECT count(*) FROM cel_events") == 10
    assert await classes(db) == {"held_hangup": 1, "apology": 1}
    loader.close()
    again.close()


async def test_a_restart_goes_on_from_the_stored_position(
    db: asyncpg.Connection, tmp_path: Path
) -> None:
    """A half-written last line waits for its end; a new loader reads from where the
    last one committed, not from the start."""
    path = tmp_path / "cel-ivr.csv"
    lines = REAL.splitlines(keepends=True)
    path.write_text("".join(lines[:3]) + lines[3][:20])
    first = CelLoader(path)
    assert await first.load(db) == 3
    offset = await db.fetchval('SELECT "offset" FROM cel_position')
    assert offset == len("".join(lines[:3]).encode())
    first.close()
    with path.open("a") as f:
        f.write(lines[3][20:] + "".join(lines[4:]))
    second = CelLoader(path)
    assert await second.load(db) == 7
    assert await db.fetchval("SELECT count(*) FROM cel_calls WHERE ended_at IS NOT NULL") == 2
    second.close()


async def test_rotation_and_truncation_lose_nothing(db: asyncpg.Connection, tmp_path: Path) -> None:
    """A file rotated away (renamed, a new one started) is read to its end first; a
    file truncated in place is read again from its start."""
    path = tmp_path / "cel-ivr.csv"
    lines = REAL.splitlines(keepends=True)
    path.write_text("".join(lines[:2]))
    loader = CelLoader(path)
    assert await loader.load(db) == 2
    with path.open("a") as f:
        f.write("".join(lines[2:5]))
    os.rename(path, tmp_path / "cel-ivr.csv.1")
    path.write_text("".join(lines[5:8]))
    assert await loader.load(db) == 6  # the rest of the old file, then the new one
    path.write_text("".join(lines[8:]))  # truncated and rewritten, shorter
    assert await loader.load(db) == 2
    assert await db.fetchval("SELECT count(*) FROM cel_events") == 10
    loader.close()


async def test_a_missing_file_is_not_an_error(db: asyncpg.Connection, tmp_path: Path) -> None:
    """CEL not enabled yet (no file): nothing loaded, and it is picked up once it appears."""
    path = tmp_path / "cel-ivr.csv"
    loader = CelLoader(path)
    assert await loader.load(db) == 0
    path.write_text(REAL)
    assert await loader.load(db) == 10
    loader.close()


async def test_only_inbound_trunk_channels_are_calls(db: asyncpg.Connection) -> None:
    """A transfer's outbound leg (same linkedid, its own uniqueid) is not a second call;
    its answer marks the inbound call transferred. Channels of other endpoints or
    contexts are not inbound calls."""
    now = datetime.now(TOKYO)
    lines = inbound_cel("1796100000.5", now, 90)
    lines.insert(
        3, cel_line("CHAN_START", now, "1796100000.6", "1796100000.5", context="ivr-transfer")
    )
    lines.insert(4, cel_line("ANSWER", now, "1796100000.6", "1796100000.5"))
    lines.append(cel_line("CHAN_START", now, "1796100000.7", channame="PJSIP/city-00000007"))
    lines.append(cel_line("CHAN_START", now, "1796100000.8", context="default"))
    events = [parse_line(line.rstrip("\n")) for line in lines]
    async with db.transaction():
        added, changed = await cel.store(db, events)
    assert added == len(lines) and changed == 1
    row = await db.fetchrow("SELECT * FROM cel_calls")
    assert row["uniqueid"] == "1796100000.5" and row["transferred"] is True
    assert await classes(db) == {"transferred": 1}
