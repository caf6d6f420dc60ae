"""``ivr records replay``: load dead-lettered call records back once their cause
is fixed.

Idempotent (the same upserts as the recorder), so replaying twice adds nothing.
Files are removed once their records are loaded, since they hold phone numbers;
records the database still refuses are kept, with their reason, in one new
dead-letter file. Only the files present when it starts are touched, so it can
run beside a controller that is writing new ones.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg

from ivr.store import spool
from ivr.store.calls import Record, from_json, refused, to_json, write_one


@dataclass
class ReplayReport:
    files: int = 0
    loaded: int = 0
    cleared: int = 0  # loaded with a missing flow version cleared
    refused: Counter[str] = field(default_factory=Counter)  # reason -> records
    kept_in: Path | None = None

    @property
    def still_refused(self) -> int:
        return sum(self.refused.values())


def _reason(e: BaseException) -> str:
    return f"{type(e).__name__}: {e}"


async def replay_dead_letters(dsn: str, spool_dir: Path) -> ReplayReport:
    report = ReplayReport()
    files = await asyncio.to_thread(lambda: sorted(spool_dir.glob("deadletter-*.jsonl")))
    report.files = len(files)
    if not files:
        return report
    records: list[Record] = []
    unreadable: list[str] = []
    for path in files:
        batches, bad = await asyncio.to_thread(_read, path)
        for batch in batches:
            records.extend(batch)
        unreadable.extend(bad)
    conn = await asyncpg.connect(dsn, timeout=10)
    try:
        # Passes until nothing more loads: an event set aside because its call row
        # was missing loads once the row itself has been loaded.
        waiting = records
        left: list[tuple[Record, str]] = []
        while waiting:
            left = []
            for rec in waiting:
                try:
                    stored = await write_one(conn, rec)
                except Exception as e:
                    if not refused(e):
                        raise  # the database is away: keep every file for the next try
                    left.append((rec, _reason(e)))
                    continue
                report.loaded += 1
                report.cleared += stored is not rec
            if len(left) == len(waiting):
                break
            waiting = [rec for rec, _ in left]
    finally:
        await conn.close()
    lines = [to_json(rec, error=reason) for rec, reason in left] + unreadable
    for _rec, reason in left:
        report.refused[reason.split("\n", 1)[0][:200]] += 1
    if unreadable:
        report.refused["unreadable line"] += len(unreadable)
    if lines:
        report.kept_in = spool.unique_path(spool_dir, "deadletter")
        await asyncio.to_thread(spool.write_lines, report.kept_in, lines)
    for path in files:
        await asyncio.to_thread(path.unlink, True)
    return report


def _read(path: Path) -> tuple[list[list[Record]], list[str]]:
    bad: list[str] = []
    return list(spool.read_batches(path, from_json, bad, 500)), bad
