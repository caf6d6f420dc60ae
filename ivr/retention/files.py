"""The file part of the retention job: spool files past their period removed, and
Asterisk's CEL file rotated once loaded, its rotations removed past their period.

Files the system writes with numbers in them (docs/personal-data.md):

- the controller's spool (``database.spool_dir``): ``records-*.jsonl`` (and
  ``*.replaying``) waiting for the database, ``deadletter-*.jsonl`` refused by it,
  ``bad-*.jsonl`` unreadable lines; each is removed once replayed, or here once
  older than ``retention.spool``;
- the SMS spool (``<spool_dir>/sms``): ``sms-<id>.json`` requests waiting for the
  database, ``*.bad`` ones that could not be read, ``.*.tmp`` left by a crash;
- Asterisk's CEL file (``stats.cel_file``, ``CALLERID(num)`` on every line): renamed
  to ``<name>.<YYYYmmddHHMMSS>`` once every line of it is in the database (its
  numbers are then hashed there with the callers'), the renamed ones removed once
  older than ``retention.cel_files``. Asterisk's ``cel_custom`` opens the file for
  every line, so it starts a new one by itself; the loader reads a rotated file to its
  end first (ivr/stats/cel.py).

A file's age is its last change (mtime): a spool file being appended to is never due.
A CEL line Asterisk appends between the check and the rename is still read by the
controller's loader, which follows a rotated file to its end through its open handle.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from ivr.log import TOKYO

from .model import Period, due

SPOOL_PATTERNS = (
    "records-*.jsonl",
    "records-*.replaying",
    "deadletter-*.jsonl",
    "bad-*.jsonl",
    "sms/sms-*.json",
    "sms/*.bad",
    "sms/.sms-*.tmp",
)
_ROTATED = re.compile(r"^\.\d{14}$")


@dataclass
class FileReport:
    removed: list[Path] = field(default_factory=list)
    rotated: Path | None = None
    errors: list[str] = field(default_factory=list)


def _mtime(path: Path) -> datetime:
    return datetime.fromtimestamp(path.stat().st_mtime, TOKYO)


def remove_due(paths: list[Path], now: datetime, period: Period, report: FileReport) -> None:
    for path in paths:
        try:
            if due(_mtime(path), now, period):
                path.unlink()
                report.removed.append(path)
        except FileNotFoundError:
            continue  # replayed meanwhile
        except OSError as e:
            report.errors.append(f"{path}: {e.strerror}")


def spool_files(spool_dir: Path) -> list[Path]:
    found: list[Path] = []
    for pattern in SPOOL_PATTERNS:
        found.extend(spool_dir.glob(pattern))
    return sorted(set(found))


def clean_spool(spool_dir: Path, now: datetime, period: Period, report: FileReport) -> None:
    """Remove spool, dead-letter and SMS spool files older than ``period``."""
    if spool_dir.is_dir():
        remove_due(spool_files(spool_dir), now, period, report)


def rotations(cel_file: Path) -> list[Path]:
    """``cel-ivr.csv.<YYYYmmddHHMMSS>`` files beside the CEL file."""
    if not cel_file.parent.is_dir():
        return []
    prefix = cel_file.name
    return sorted(
        p
        for p in cel_file.parent.iterdir()
        if p.name.startswith(prefix) and _ROTATED.match(p.name[len(prefix) :])
    )


def rotate_if_loaded(
    cel_file: Path, loaded: tuple[int, int] | None, now: datetime, report: FileReport
) -> None:
    """Rename the CEL file when the loader has read all of it: ``loaded`` is the
    (inode, offset) it recorded. A file not (fully) loaded, or empty, stays."""
    try:
        st = cel_file.stat()
    except FileNotFoundError:
        return
    except OSError as e:
        report.errors.append(f"{cel_file}: {e.strerror}")
        return
    if loaded is None or st.st_size == 0 or loaded != (st.st_ino, st.st_size):
        return
    target = cel_file.with_name(f"{cel_file.name}.{now:%Y%m%d%H%M%S}")
    try:
        os.rename(cel_file, target)
    except OSError as e:
        report.errors.append(f"{cel_file}: cannot rotate: {e.strerror}")
        return
    report.rotated = target
