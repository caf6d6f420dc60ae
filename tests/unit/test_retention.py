"""The retention job (ivr/retention): periods, the keyed hash, every listed place in
the database hashed past its period with the day's statistics unchanged, spool and CEL
files removed or rotated, and the command line."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid
from datetime import datetime, timedelta
from pathlib import Path

import asyncpg
import pytest

from ivr.config import DatabaseSettings, RetentionSettings, Settings, StatsSettings
from ivr.log import TOKYO
from ivr.retention import model
from ivr.retention.job import NO_KEY, run_once
from tests.unit.test_stats_rollup import inbound_cel, load_cel, record_call

KEY = "a-test-key-of-32-characters-long"
NOW = datetime(2027, 8, 20, 12, 0, tzinfo=TOKYO)
OLD = NOW - timedelta(days=800)  # past 24 months
RECENT = NOW - timedelta(days=10)
REPEAT, ONCE, HIDDEN, KEPT = "09011110001", "0311110002", "09011110003", "09011110004"


def settings_for(dsn: str, tmp: Path, key: str = KEY, **periods: str) -> Settings:
    return Settings(
        database=DatabaseSettings(dsn=dsn, spool_dir=str(tmp / "spool")),
        stats=StatsSettings(cel_file=str(tmp / "cel-ivr.csv")),
        retention=RetentionSettings(key=key, **periods),
    )


def test_periods_read_as_staff_write_them() -> None:
    """Periods parse with their unit; months are calendar months; zero or junk is refused."""
    months = model.parse_period("24 months")
    assert months == model.Period(24, "month")
    assert months.before(datetime(2027, 3, 31, tzinfo=TOKYO)) == datetime(2025, 3, 31, tzinfo=TOKYO)
    one = model.parse_period("1 month")
    assert one is not None
    assert one.before(datetime(2027, 3, 31, tzinfo=TOKYO)) == datetime(2027, 2, 28, tzinfo=TOKYO)
    days = model.parse_period("30 days")
    assert days is not None and days.before(NOW) == NOW - timedelta(days=30)
    for bad in ("0 days", "24", "two months", "5 fortnights", ""):
        assert model.parse_period(bad) is None, bad


def test_next_run_is_the_next_time_of_day() -> None:
    """The daily run is later today before run_at, tomorrow after it."""
    at = model.parse_time_of_day("03:30")
    assert at is not None
    early = datetime(2027, 8, 20, 1, 0, tzinfo=TOKYO)
    assert model.next_run(early, at) == datetime(2027, 8, 20, 3, 30, tzinfo=TOKYO)
    assert model.next_run(NOW, at) == datetime(2027, 8, 21, 3, 30, tzinfo=TOKYO)
    assert model.parse_time_of_day("25:00") is None


def test_one_caller_one_hash_in_any_form_and_only_with_the_key() -> None:
    """+81 and national forms of a number hash alike; another key hashes otherwise;
    empty, withheld-like and already hashed values are left alone."""
    key = KEY.encode()
    national = model.pseudonym(key, "09012345678")
    assert national is not None and national.startswith(model.HASH_PREFIX)
    assert model.pseudonym(key, "+819012345678") == national
    assert model.pseudonym(key, "819012345678") == national
    assert model.pseudonym(b"another-key-of-enough-length", "09012345678") != national
    assert "12345678" not in national
    for untouched in ("", "anonymous", national):
        assert model.pseudonym(key, untouched) is None


async def _day_figures(db: asyncpg.Connection) -> dict[str, object]:
    """Every counter, the facts of every call but the caller, and callers per day."""
    out: dict[str, object] = {}
    for table in ("stats_hourly", "stats_daily", "stats_funnel", "stats_sms_daily"):
        rows = await db.fetch(f"SELECT * FROM {table} WHERE n <> 0")
        out[table] = sorted(tuple(r.values()) for r in rows)
    facts = await db.fetch("SELECT * FROM stats_call ORDER BY channel_id")
    out["facts"] = [tuple(v for k, v in r.items() if k != "caller") for r in facts]
    repeat = await db.fetch(
        """SELECT hour::date AS day, count(DISTINCT caller) AS callers, count(*) AS calls
           FROM stats_call WHERE caller <> '' GROUP BY 1 ORDER BY 1"""
    )
    out["callers"] = [tuple(r.values()) for r in repeat]
    return out


def _cel(channel: str, at: datetime, caller: str) -> list[str]:
    """An inbound call's CEL lines, the caller's number on every one."""
    return [
        line.replace('"09012345678"', f'"{caller}"')
        for line in inbound_cel(channel, at, 30, caller=caller)
    ]


async def _outbox(db: asyncpg.Connection, number: str, status: str, at: datetime) -> None:
    await db.execute(
        """INSERT INTO sms_outbox (id, call_id, node, template, number, body, parts, status,
                                   requested_at)
           VALUES ($1, $2, 'send_registration', 't', $3, 'x', 1, $4, $5)""",
        uuid.uuid4(),
        uuid.uuid4(),
        number,
        status,
        at,
    )


async def _holding(db: asyncpg.Connection, number: str) -> list[str]:
    """Where a number is still kept, as table.column."""
    places = []
    for table, column in (
        ("calls", "caller"),
        ("cel_calls", "caller"),
        ("cel_events", "cid_num"),
        ("stats_call", "caller"),
        ("sms_outbox", "number"),
    ):
        if await db.fetchval(f"SELECT count(*) FROM {table} WHERE {column} = $1", number):
            places.append(f"{table}.{column}")
    return places


async def test_numbers_past_their_period_are_hashed_and_the_figures_stay(
    fresh_dsn: str, tmp_path: Path
) -> None:
    """Calls, CEL rows and finished messages older than 24 months lose their raw numbers
    to the keyed hash; recent ones and a message still waiting keep theirs; every
    counter, every call's facts and the callers per day are identical afterwards, and a
    second run changes nothing."""
    db = await asyncpg.connect(fresh_dsn)
    try:
        for i, (caller, at) in enumerate(
            [(REPEAT, OLD), (REPEAT, OLD + timedelta(hours=1)), (ONCE, OLD), (KEPT, RECENT)]
        ):
            channel = f"17000000{i:02d}.{i}"
            await load_cel(db, _cel(channel, at, caller))
            await record_call(db, caller=caller, started=at, channel=channel, sms="queued")
        # A withheld caller: no number in the record, the trunk's one in CEL.
        await load_cel(db, _cel("1700000099.9", OLD, HIDDEN))
        await record_call(db, caller="", started=OLD, channel="1700000099.9")
        await _outbox(db, REPEAT, "delivered", OLD)
        await _outbox(db, ONCE, "failed", OLD)
        await _outbox(db, KEPT, "queued", OLD)  # still waiting: its number is needed
        await _outbox(db, KEPT, "delivered", RECENT)
        before = await _day_figures(db)
        assert await _holding(db, REPEAT)  # the set-up holds raw numbers

        report = await run_once(settings_for(fresh_dsn, tmp_path), NOW)

        assert report.ok, report.errors
        assert report.hashed["calls.caller"] == 3
        assert report.hashed["sms_outbox.number"] == 2
        for number in (REPEAT, ONCE, HIDDEN):
            assert await _holding(db, number) == [], number
        assert await _holding(db, KEPT) == [
            "calls.caller",
            "cel_calls.caller",
            "cel_events.cid_num",
            "stats_call.caller",
            "sms_outbox.number",
        ]
        assert await db.fetchval("SELECT count(*) FROM sms_outbox WHERE number = $1", KEPT) == 2
        assert await _day_figures(db) == before
        hashes = await db.fetch(
            "SELECT DISTINCT caller FROM calls WHERE starts_with(caller, 'h:') ORDER BY 1"
        )
        assert len(hashes) == 2  # the repeat caller is still one caller
        again = await run_once(settings_for(fresh_dsn, tmp_path), NOW)
        assert set(again.hashed.values()) == {0}
        assert await _day_figures(db) == before
    finally:
        await db.close()


def _aged(path: Path, text: str, age: timedelta, now: datetime = NOW) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    stamp = (now - age).timestamp()
    os.utime(path, (stamp, stamp))
    return path


async def test_spool_files_past_their_period_are_removed(fresh_dsn: str, tmp_path: Path) -> None:
    """Spool, dead-letter, unreadable-line and SMS spool files older than 30 days go;
    younger ones and files that hold no numbers (the flow cache) stay."""
    spool = tmp_path / "spool"
    month = timedelta(days=31)
    old = [
        _aged(spool / f"records-{1:020d}-{'a' * 32}.jsonl", REPEAT, month),
        _aged(spool / f"deadletter-{2:020d}-{'b' * 32}.jsonl", REPEAT, month),
        _aged(spool / f"bad-{3:020d}-{'c' * 32}.jsonl", REPEAT, month),
        _aged(spool / "sms" / f"sms-{uuid.uuid4()}.json", REPEAT, month),
        _aged(spool / "sms" / f"sms-{uuid.uuid4()}.json.bad", REPEAT, month),
    ]
    young = _aged(spool / f"deadletter-{4:020d}-{'d' * 32}.jsonl", REPEAT, timedelta(days=29))
    cache = _aged(spool / "flow-in-service.json", "{}", timedelta(days=400))

    report = await run_once(settings_for(fresh_dsn, tmp_path), NOW)

    assert report.ok, report.errors
    assert sorted(report.removed) == sorted(old)
    assert not any(p.exists() for p in old)
    assert young.exists() and cache.exists()


async def test_cel_file_is_rotated_once_loaded_and_rotations_removed(
    fresh_dsn: str, tmp_path: Path
) -> None:
    """A CEL file the loader has read to its end is renamed aside; one with lines not
    yet loaded stays; rotations older than the period are removed."""
    cel_file = tmp_path / "cel-ivr.csv"
    now = datetime.now(TOKYO)  # the rotated file is as old as its last line: now
    cel_file.write_text("".join(_cel("1.1", OLD, REPEAT)), encoding="utf-8")
    stale = _aged(tmp_path / "cel-ivr.csv.20250101033000", REPEAT, timedelta(days=31), now)
    fresh = _aged(tmp_path / "cel-ivr.csv.20270801033000", REPEAT, timedelta(days=19), now)
    settings = settings_for(fresh_dsn, tmp_path)
    db = await asyncpg.connect(fresh_dsn)
    try:
        st = cel_file.stat()
        position = """INSERT INTO cel_position (path, inode, "offset") VALUES ($1, $2, $3)
                      ON CONFLICT (path) DO UPDATE SET "offset" = EXCLUDED."offset" """
        await db.execute(position, str(cel_file), st.st_ino, st.st_size - 1)
        partly = await run_once(settings, now)
        assert partly.rotated is None and cel_file.exists()
        await db.execute(position, str(cel_file), st.st_ino, st.st_size)
        report = await run_once(settings, now)
    finally:
        await db.close()
    assert report.ok, report.errors
    assert report.rotated == tmp_path / f"cel-ivr.csv.{now:%Y%m%d%H%M%S}"
    assert not cel_file.exists() and report.rotated.exists()
    assert stale in partly.removed and not stale.exists()
    assert fresh.exists()


async def test_without_a_key_numbers_are_not_hashed_and_the_run_says_so(
    fresh_dsn: str, tmp_path: Path
) -> None:
    """No key: the database part is refused with a clear error, files are still done."""
    old_file = _aged(tmp_path / "spool" / f"bad-{1:020d}-{'e' * 32}.jsonl", REPEAT, timedelta(40))
    db = await asyncpg.connect(fresh_dsn)
    try:
        await record_call(db, caller=REPEAT, started=OLD)
        report = await run_once(settings_for(fresh_dsn, tmp_path, key=""), NOW)
        assert await db.fetchval("SELECT count(*) FROM calls WHERE caller = $1", REPEAT) == 1
    finally:
        await db.close()
    assert report.errors == [NO_KEY]
    assert not old_file.exists()


async def test_command_line_runs_the_job(fresh_dsn: str, tmp_path: Path) -> None:
    """`ivr --config F retention run` hashes what is due and says how much; without a
    key it says why nothing was hashed and exits 1."""
    db = await asyncpg.connect(fresh_dsn)
    try:
        await record_call(db, caller=ONCE, started=datetime.now(TOKYO) - timedelta(days=3))
        config = tmp_path / "ivr.yaml"
        config.write_text(
            f"database: {{spool_dir: '{tmp_path / 'spool'}'}}\n"
            "stats: {cel_file: ''}\n"
            "retention: {callers: 2 days}\n",
            encoding="utf-8",
        )
        env = {k: v for k, v in os.environ.items() if not k.startswith("IVR_")}
        env["IVR_DATABASE_URL"] = fresh_dsn
        command = [sys.executable, "-m", "ivr", "--config", str(config), "retention", "run"]
        refused = await asyncio.to_thread(
            subprocess.run, command, env=env, capture_output=True, text=True, check=False
        )
        assert refused.returncode == 1 and "IVR_RETENTION_KEY" in refused.stderr
        env["IVR_RETENTION_KEY"] = KEY
        done = await asyncio.to_thread(
            subprocess.run, command, env=env, capture_output=True, text=True, check=False
        )
        assert done.returncode == 0, done.stderr
        assert "calls.caller: 1 numbers" in done.stdout
        assert await db.fetchval("SELECT count(*) FROM calls WHERE caller = $1", ONCE) == 0
    finally:
        await db.close()


def test_bad_retention_settings_name_the_key() -> None:
    """A period that does not read, or a short key, fails with the key's name."""
    from ivr.config import ConfigError

    with pytest.raises(ConfigError, match=r"retention\.callers"):
        _load({"callers": "forever"})
    with pytest.raises(ConfigError, match=r"retention\.key"):
        _load({"key": "short"})
    with pytest.raises(ConfigError, match=r"retention\.run_at"):
        _load({"run_at": "3am"})


def _load(values: dict[str, str]) -> Settings:
    import tempfile

    import yaml

    from ivr.config import load_settings

    with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as f:
        yaml.safe_dump({"retention": values}, f)
    try:
        return load_settings(f.name, env={})
    finally:
        os.unlink(f.name)


async def test_a_withheld_caller_is_withheld_in_the_cel_rows_too(fresh_dsn: str) -> None:
    """The number the trunk passes for a withheld caller is blanked from the CEL rows,
    whether they are loaded before or after the controller's record, and the call log's
    facts say withheld."""
    db = await asyncpg.connect(fresh_dsn)
    try:
        await load_cel(db, _cel("1700000001.1", RECENT, HIDDEN))  # CEL first
        await record_call(db, caller="", started=RECENT, channel="1700000001.1")
        await record_call(db, caller="", started=RECENT, channel="1700000002.2")
        await load_cel(db, _cel("1700000002.2", RECENT, HIDDEN))  # the record first
        await load_cel(db, _cel("1700000003.3", RECENT, KEPT))  # a caller who did not
        await record_call(db, caller=KEPT, started=RECENT, channel="1700000003.3")
        assert await _holding(db, HIDDEN) == []
        assert (
            await db.fetchval("SELECT count(*) FROM stats_call WHERE caller = '' AND NOT unseen")
            == 2
        )
        assert "cel_calls.caller" in await _holding(db, KEPT)
    finally:
        await db.close()


async def test_database_away_the_files_are_still_done(tmp_path: Path) -> None:
    """With the database unreachable, the run says so and still removes old spool files."""
    old_file = _aged(tmp_path / "spool" / f"bad-{1:020d}-{'f' * 32}.jsonl", REPEAT, timedelta(40))
    report = await run_once(settings_for("postgresql://127.0.0.1:1/none", tmp_path), NOW)
    assert len(report.errors) == 1 and report.errors[0].startswith("database unavailable")
    assert report.removed == [old_file] and not old_file.exists()
