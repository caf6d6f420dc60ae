"""Local JSONL spool files for call records the database could not take in time.

Names are ``<kind>-<time_ns>-<uuid4 hex>.jsonl``: unique (in a container the
controller is always PID 1) and, for one clock, sorted by name in creation order.
Files are never renamed, so no replay can land on top of a newer file. They hold phone
numbers: created readable by the controller's user only (0600), removed once replayed,
and by the retention job (ivr/retention) once older than ``retention.spool``.
"""

from __future__ import annotations

import contextlib
import os
import re
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import IO, TypeVar

T = TypeVar("T")

_NEW = re.compile(r"^records-(\d{20})-[0-9a-f]{32}\.jsonl$")


class _Clock:
    last = 0


def unique_path(directory: Path, kind: str, ns: int | None = None) -> Path:
    """A fresh file name; ``ns`` places it at that point of the order instead of now."""
    if ns is None:
        ns = _Clock.last = max(time.time_ns(), _Clock.last + 1)
    return directory / f"{kind}-{ns:020d}-{uuid.uuid4().hex}.jsonl"


def pending_files(directory: Path) -> list[Path]:
    """Spool files to replay, oldest first; older versions' files (``records-<pid>.jsonl``,
    ``*.replaying`` left by a crash mid-replay) come before any current one."""
    found = [*directory.glob("records-*.jsonl"), *directory.glob("records-*.replaying")]
    return sorted(found, key=lambda p: (_NEW.match(p.name) is not None, p.name))


def oldest_ns(directory: Path) -> int | None:
    stamps = [int(m.group(1)) for p in pending_files(directory) if (m := _NEW.match(p.name))]
    return min(stamps, default=None)


def read_batches(
    path: Path, parse: Callable[[str], T], bad: list[str], size: int
) -> Iterator[list[T]]:
    """The parsed lines of a spool file in batches; lines that do not parse (a torn last
    line after a crash or a full disk) are added to ``bad`` instead."""
    batch: list[T] = []
    with path.open("rb") as f:
        for raw in f:
            if not raw.strip():
                continue
            try:
                batch.append(parse(raw.decode("utf-8")))
            except (ValueError, KeyError, TypeError, AttributeError):
                bad.append(raw.decode("utf-8", "replace").rstrip("\n"))
            if len(batch) >= size:
                yield batch
                batch = []
    if batch:
        yield batch


def _open_private(path: Path) -> IO[str]:
    """Open for appending, created readable by the controller's user only: spool files
    hold phone numbers (docs/personal-data.md)."""
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    return os.fdopen(fd, "a", encoding="utf-8")


def write_lines(path: Path, lines: Iterable[str]) -> None:
    """Append lines durably (fsync); raises OSError."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with _open_private(path) as f:
        for line in lines:
            f.write(line.rstrip("\n") + "\n")
        f.flush()
        os.fsync(f.fileno())


class Appender:
    """One open spool file that single records are appended to, without an fsync each."""

    def __init__(self, directory: Path) -> None:
        self._dir = directory
        self._file: IO[str] | None = None

    def append(self, line: str) -> None:
        """Raises OSError; after a failed write the next line starts a new file, so a
        torn line can only ever be the last line of its file."""
        try:
            if self._file is None:
                self._dir.mkdir(parents=True, exist_ok=True)
                self._file = _open_private(unique_path(self._dir, "records"))
            self._file.write(line + "\n")
            self._file.flush()
        except OSError:
            self.seal()
            raise

    def seal(self) -> None:
        """Make the current file durable and close it; the next append opens a new one."""
        f, self._file = self._file, None
        if f is not None:
            with contextlib.suppress(OSError):
                f.flush()
                os.fsync(f.fileno())
            with contextlib.suppress(OSError):
                f.close()


def count_lines(directory: Path, kind: str) -> int:
    """Non-empty lines in ``<kind>-*.jsonl`` files (e.g. dead letters waiting)."""
    total = 0
    for path in directory.glob(f"{kind}-*.jsonl"):
        with contextlib.suppress(OSError), path.open("rb") as f:
            total += sum(1 for raw in f if raw.strip())
    return total
