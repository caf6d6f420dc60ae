"""One retention run, and the daily loop the controller supervises.

``run_once`` does every place in docs/personal-data.md: the database part (numbers
past their period hashed) and the file part (spool and CEL files). It never raises
for one place failing: the others are still done, and the report says what failed. The
database part runs on one node at a time (an advisory lock); the files are each node's.
Without a key (``IVR_RETENTION_KEY``) numbers cannot be hashed: that part is refused
with a clear error every run, the files are still done.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import asyncpg
import structlog

from ivr.config import RetentionSettings, Settings
from ivr.log import TOKYO

from . import files, store
from .model import Period, next_run, parse_period, parse_time_of_day

log = structlog.get_logger("ivr.retention")

LOCK = 60  # pg advisory lock class of the job (the stats use 50)
NO_KEY = (
    "retention.key is not set (IVR_RETENTION_KEY): numbers past their period cannot be "
    "hashed and are still kept"
)


@dataclass
class RetentionReport:
    hashed: dict[str, int] = field(default_factory=dict)  # "table.column" -> rows
    removed: list[Path] = field(default_factory=list)
    rotated: Path | None = None
    errors: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors


def _period(r: RetentionSettings, kind: str) -> Period:
    period = parse_period(getattr(r, kind))
    assert period is not None, kind  # checked when the settings were loaded
    return period


_DB_TROUBLE = (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError)


async def run_once(settings: Settings, now: datetime | None = None) -> RetentionReport:
    """Apply every retention period once, as of ``now`` (default: now)."""
    now = now or datetime.now(TOKYO)
    r = settings.retention
    report = RetentionReport()
    cel_file = Path(settings.stats.cel_file) if settings.stats.cel_file else None
    loaded: tuple[int, int] | None = None
    try:
        conn = await asyncpg.connect(settings.database.dsn, timeout=10)
    except _DB_TROUBLE as e:
        report.errors.append(f"database unavailable, no number hashed: {e}")
    else:
        try:
            loaded = await _database(conn, settings, cel_file, now, report)
        except _DB_TROUBLE as e:  # the connection went away: tomorrow's run goes on
            report.errors.append(f"database: {e}")
        finally:
            with contextlib.suppress(*_DB_TROUBLE):
                await conn.close()
    found = files.FileReport()
    spool_dir = Path(settings.database.spool_dir)
    await asyncio.to_thread(files.clean_spool, spool_dir, now, _period(r, "spool"), found)
    if cel_file is not None:
        await asyncio.to_thread(files.rotate_if_loaded, cel_file, loaded, now, found)
        old = await asyncio.to_thread(files.rotations, cel_file)
        await asyncio.to_thread(files.remove_due, old, now, _period(r, "cel_files"), found)
    report.removed, report.rotated = found.removed, found.rotated
    report.errors.extend(found.errors)
    return report


async def _database(
    conn: asyncpg.Connection,
    settings: Settings,
    cel_file: Path | None,
    now: datetime,
    report: RetentionReport,
) -> tuple[int, int] | None:
    """Hash what is due in every place of :data:`store.PLACES`; returns how far the CEL
    loader has read ``cel_file`` (inode, offset), None when it has not."""
    r = settings.retention
    tables = await store.present(conn)
    # One node at a time (several controllers run the job at the same hour).
    alone = await conn.fetchval("SELECT pg_try_advisory_lock($1, 0)", LOCK)
    if not alone:
        log.info("retention_running_elsewhere")
    elif not r.key:
        report.errors.append(NO_KEY)
    else:
        for place in store.PLACES:
            if place.table not in tables:
                continue
            cutoff = _period(r, place.kind).before(now)
            try:
                report.hashed[place.name] = await store.hash_place(
                    conn, place, r.key.encode("utf-8"), cutoff
                )
            except asyncpg.PostgresError as e:
                report.errors.append(f"{place.name}: {e}")
    if alone and {"calls", "cel_events"} <= tables:
        await store.sweep_withheld(conn, now)
    if cel_file is None or "cel_position" not in tables:
        return None
    row = await conn.fetchrow(
        'SELECT inode, "offset" FROM cel_position WHERE path = $1', str(cel_file)
    )
    return (int(row["inode"]), int(row["offset"])) if row else None


def log_report(report: RetentionReport) -> None:
    fields = {
        "hashed": report.hashed,
        "files_removed": len(report.removed),
        "cel_rotated": str(report.rotated) if report.rotated else None,
    }
    if report.ok:
        log.info("retention_done", **fields)
    else:
        log.error("retention_incomplete", errors=report.errors, **fields)


async def run_daily(settings: Settings) -> None:
    """Run at ``retention.run_at`` every day (Japan time), for the controller's life."""
    at = parse_time_of_day(settings.retention.run_at)
    assert at is not None  # checked when the settings were loaded
    while True:
        now = datetime.now(TOKYO)
        wake = next_run(now, at)
        log.debug("retention_next_run", at=wake.isoformat(timespec="minutes"))
        await asyncio.sleep((wake - now).total_seconds())
        try:
            log_report(await run_once(settings))
        except Exception as e:  # a failed run is retried tomorrow; the controller goes on
            log.error("retention_failed", error=repr(e), exc_info=True)
