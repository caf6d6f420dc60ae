"""SMS requests kept on local disk while the database is away.

One file per request, named by its outbox id (``sms-<id>.json``): written to a
temporary name, fsynced, renamed into place and the folder fsynced, so a request the
caller was told is "queued" survives a crash or a power cut. Asking again for the
same (call, node) finds the file already there. Replay inserts each into the outbox
idempotently and removes the file only after the database has it. A file that cannot
be read is set aside (``*.bad``) with a log line, never deleted. Blocking file work
runs off the event loop (``asyncio.to_thread``) in :mod:`ivr.sms.service`.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from pathlib import Path

from ivr.sms.outbox import SmsRequest


class RequestSpool:
    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def path_for(self, request_id: uuid.UUID) -> Path:
        return self.directory / f"sms-{request_id}.json"

    def holds(self, request_id: uuid.UUID) -> bool:
        return self.path_for(request_id).exists()

    def write(self, req: SmsRequest) -> bool:
        """Keep ``req`` durably; False when it was already kept. Raises OSError."""
        final = self.path_for(req.id)
        if final.exists():
            return False
        self.directory.mkdir(parents=True, exist_ok=True)
        tmp = final.with_name(f".{final.name}.{uuid.uuid4().hex}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)  # it holds a number
        try:
            os.write(fd, req.to_json().encode("utf-8"))
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, final)
        self._sync_folder()
        return True

    def _sync_folder(self) -> None:
        fd = os.open(self.directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    def pending(self) -> list[Path]:
        """Spooled requests, oldest first."""
        if not self.directory.is_dir():
            return []
        files = list(self.directory.glob("sms-*.json"))
        return sorted(files, key=lambda p: (p.stat().st_mtime_ns, p.name))

    @staticmethod
    def read(path: Path) -> SmsRequest:
        """Raises ValueError (or KeyError/TypeError) for a file that does not parse."""
        return SmsRequest.from_json(path.read_text(encoding="utf-8"))

    def remove(self, path: Path) -> None:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
        self._sync_folder()

    @staticmethod
    def set_aside(path: Path) -> Path:
        bad = path.with_suffix(".bad")
        os.replace(path, bad)
        return bad
