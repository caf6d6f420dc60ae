"""Encrypted backups: ``python -m ivr.dev.backup backup`` / ``restore FILE``
(``make backup``, ``make restore FILE=...``).

backup   ``pg_dump -Fc`` of the database (and a tar of IVR_BACKUP_FILES, e.g. uploaded
         recordings), each encrypted with ``age`` to IVR_BACKUP_RECIPIENT (a public key:
         the server cannot read its own backups), kept in IVR_BACKUP_DIR, copied to
         IVR_BACKUP_TARGET (a mounted off-host directory, or an rsync destination
         ``host:/path/``), and only the newest IVR_BACKUP_KEEP sets are kept.
restore  decrypts with IVR_BACKUP_IDENTITY (the private key, brought to the server for
         the restore only), ``pg_restore`` into the database (refusing one that already
         has tables unless ``--replace``), then applies the migrations, so an older dump
         comes forward to this version's schema.

Settings come from the environment, then ``.env`` in the working directory; the
database from IVR_DATABASE_URL (or ``--config``). No unencrypted copy is ever written
outside a private temporary directory.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Coroutine, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

import asyncpg

from ivr.config import ConfigError, load_settings
from ivr.log import TOKYO
from ivr.store.migrate import migrate

T = TypeVar("T")
PREFIX = "myna-ivr-"
DUMP = ".dump.age"
FILES = ".files.tar.age"


class BackupError(Exception):
    """A setting is missing or a step failed; the message says which."""


@dataclass(frozen=True)
class BackupSettings:
    dsn: str
    directory: Path
    target: str  # "" = not copied off the host (said loudly)
    recipient: str  # age1... public key, or a file of recipients
    identity: str  # age identity file, for restore
    keep: int
    files: tuple[Path, ...]


def read_env_file(path: Path) -> dict[str, str]:
    values: dict[str, str] = {}
    if not path.is_file():
        return values
    for line in path.read_text(encoding="utf-8").splitlines():
        name, sep, value = line.strip().partition("=")
        if sep and name and not name.startswith("#"):
            values[name.strip()] = value.strip().strip("'\"")
    return values


def settings_from(env: Mapping[str, str], config: str | None = None) -> BackupSettings:
    try:
        dsn = load_settings(config, env).database.dsn
    except ConfigError as e:
        raise BackupError(str(e)) from e
    keep = env.get("IVR_BACKUP_KEEP", "14")
    if not keep.isdigit() or int(keep) < 1:
        raise BackupError("backup: IVR_BACKUP_KEEP must be a whole number, at least 1")
    return BackupSettings(
        dsn=dsn,
        directory=Path(env.get("IVR_BACKUP_DIR") or "var/backups"),
        target=env.get("IVR_BACKUP_TARGET", ""),
        recipient=env.get("IVR_BACKUP_RECIPIENT", ""),
        identity=env.get("IVR_BACKUP_IDENTITY", ""),
        keep=int(keep),
        files=tuple(Path(p) for p in env.get("IVR_BACKUP_FILES", "").split()),
    )


def libpq_env(dsn: str) -> tuple[str, dict[str, str]]:
    """The DSN without its password, and an environment carrying it (not visible in ps)."""
    parts = urlsplit(dsn)
    env = dict(os.environ)
    if parts.password:
        env["PGPASSWORD"] = parts.password
        host = parts.hostname or ""
        netloc = f"{parts.username}@" if parts.username else ""
        netloc += f"[{host}]" if ":" in host else host
        netloc += f":{parts.port}" if parts.port else ""
        dsn = urlunsplit(parts._replace(netloc=netloc))
    return dsn, env


def _run(argv: list[str], env: dict[str, str] | None = None) -> None:
    try:
        done = subprocess.run(argv, capture_output=True, text=True, env=env, check=False)
    except OSError as e:
        raise BackupError(f"backup: cannot run {argv[0]}: {e}") from e
    if done.returncode != 0:
        raise BackupError(f"backup: {argv[0]} failed: {done.stderr.strip()[-600:]}")


def _recipient_args(recipient: str) -> list[str]:
    if not recipient:
        raise BackupError("backup: set IVR_BACKUP_RECIPIENT (an age public key, age1...)")
    return ["-R", recipient] if Path(recipient).is_file() else ["-r", recipient]


def backup(s: BackupSettings, now: datetime | None = None) -> list[Path]:
    """Write one encrypted set; copy it off the host; apply retention. The new files."""
    recipient = _recipient_args(s.recipient)
    stamp = (now or datetime.now(TOKYO)).strftime("%Y%m%dT%H%M%S%z")
    s.directory.mkdir(parents=True, exist_ok=True)
    made = []
    dsn, env = libpq_env(s.dsn)
    with tempfile.TemporaryDirectory(prefix="ivr-backup-") as tmp:
        plain = Path(tmp) / "db.dump"
        _run(["pg_dump", "--format=custom", "--no-owner", f"--dbname={dsn}", "-f", str(plain)], env)
        made.append(_encrypt(plain, s.directory / f"{PREFIX}{stamp}{DUMP}", recipient))
        if s.files:
            archive = Path(tmp) / "files.tar"
            with tarfile.open(archive, "w") as tar:
                for path in s.files:
                    if not path.exists():
                        raise BackupError(f"backup: IVR_BACKUP_FILES: {path} does not exist")
                    tar.add(path, arcname=path.name)
            made.append(_encrypt(archive, s.directory / f"{PREFIX}{stamp}{FILES}", recipient))
    copy_off_host(s, made)
    prune(s.directory, s.keep)
    if s.target and not _is_rsync(s.target):
        prune(Path(s.target), s.keep)
    return made


def _encrypt(plain: Path, out: Path, recipient: list[str]) -> Path:
    part = out.with_name(out.name + ".part")
    _run(["age", *recipient, "-o", str(part), str(plain)])
    part.chmod(0o600)
    part.rename(out)  # a half-written file is never taken for a backup
    return out


def _is_rsync(target: str) -> bool:
    head = target.split("/", 1)[0]
    return ":" in head


def copy_off_host(s: BackupSettings, made: list[Path]) -> None:
    if not s.target:
        print("!!! backup: NOT COPIED OFF THE HOST: set IVR_BACKUP_TARGET", file=sys.stderr)
        return
    if _is_rsync(s.target):
        _run(["rsync", "-t", "--chmod=F600", *map(str, made), s.target])
        return
    target = Path(s.target)
    if not target.is_dir():
        raise BackupError(f"backup: IVR_BACKUP_TARGET {target} is not a directory (mounted?)")
    for path in made:
        part = target / (path.name + ".part")
        shutil.copyfile(path, part)
        part.chmod(0o600)
        part.rename(target / path.name)


def sets(directory: Path) -> list[str]:
    """Backup set stamps in ``directory``, oldest first."""
    found = {p.name[len(PREFIX) :].split(".", 1)[0] for p in directory.glob(f"{PREFIX}*{DUMP}")}
    return sorted(found)


def prune(directory: Path, keep: int) -> None:
    for stamp in sets(directory)[:-keep]:
        for suffix in (DUMP, FILES):
            (directory / f"{PREFIX}{stamp}{suffix}").unlink(missing_ok=True)


def _sync(coro: Coroutine[Any, Any, T]) -> T:
    """Run a database step to completion, also when called from inside an event loop."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()


async def _tables(dsn: str) -> int:
    conn = await asyncpg.connect(dsn)
    try:
        n: int = await conn.fetchval(
            """SELECT count(*) FROM pg_tables
               WHERE schemaname NOT IN ('pg_catalog', 'information_schema')"""
        )
        return n
    finally:
        await conn.close()


async def _migrate(dsn: str) -> int:
    conn = await asyncpg.connect(dsn)
    try:
        return len(await migrate(conn))
    finally:
        await conn.close()


def restore(
    s: BackupSettings, file: Path, replace: bool = False, files_to: Path | None = None
) -> int:
    """Restore one set; returns how many migrations were applied after it."""
    if not s.identity or not Path(s.identity).is_file():
        raise BackupError("backup: set IVR_BACKUP_IDENTITY to the age identity (private key) file")
    if not file.is_file():
        raise BackupError(f"backup: no such file: {file}")
    if not replace and _sync(_tables(s.dsn)):
        raise BackupError(
            "backup: the database already has tables; restore into an empty database, or"
            " pass --replace (make restore ... REPLACE=yes) to overwrite it"
        )
    dsn, env = libpq_env(s.dsn)
    with tempfile.TemporaryDirectory(prefix="ivr-restore-") as tmp:
        plain = Path(tmp) / "db.dump"
        _run(["age", "-d", "-i", s.identity, "-o", str(plain), str(file)])
        _run(
            ["pg_restore", "--clean", "--if-exists", "--no-owner", "--no-privileges",
             "--exit-on-error", "--single-transaction", f"--dbname={dsn}", str(plain)],
            env,
        )  # fmt: skip
        files = file.with_name(file.name.removesuffix(DUMP) + FILES)
        if files_to is not None and files.is_file():
            archive = Path(tmp) / "files.tar"
            _run(["age", "-d", "-i", s.identity, "-o", str(archive), str(files)])
            with tarfile.open(archive) as tar:
                tar.extractall(files_to, filter="data")
    return _sync(_migrate(s.dsn))


def main(argv: list[str] | None = None, env: Mapping[str, str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ivr.dev.backup", description=__doc__)
    parser.add_argument("--config", help="YAML configuration file (for database.dsn)")
    parser.add_argument("--env-file", default=".env", help="read settings from here too")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("backup", help="write, encrypt, copy off the host, prune")
    p_restore = sub.add_parser("restore", help="decrypt and restore one backup, then migrate")
    p_restore.add_argument("file", type=Path)
    p_restore.add_argument("--replace", action="store_true", help="overwrite a non-empty database")
    p_restore.add_argument("--files-to", type=Path, help="extract the backed-up files here")
    args = parser.parse_args(argv)
    values = {**read_env_file(Path(args.env_file)), **(os.environ if env is None else env)}
    try:
        s = settings_from(values, args.config or values.get("IVR_CONFIG") or None)
        if args.command == "backup":
            for path in backup(s):
                print(f"backup: wrote {path}")
        else:
            applied = restore(s, args.file, args.replace, args.files_to)
            print(f"backup: restored {args.file}; {applied} newer migrations applied")
    except BackupError as e:
        print(e, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
