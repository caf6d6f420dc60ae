"""Encrypted backups restore every row, and an older dump comes forward by migration."""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import pytest

from ivr.dev import backup, postgres
from ivr.store.migrate import SQL_DIR, discover, migrate

TABLES = ("calls", "call_events", "flow_versions", "admin_accounts", "admin_audit")


@pytest.fixture
def age_key(tmp_path: Path) -> tuple[str, Path]:
    """A fresh age key pair: (public recipient, identity file)."""
    assert shutil.which("age-keygen"), "age missing: run bash scripts/install-system.sh"
    identity = tmp_path / "key.txt"
    subprocess.run(["age-keygen", "-o", str(identity)], check=True, capture_output=True)
    public = subprocess.run(
        ["age-keygen", "-y", str(identity)], check=True, capture_output=True, text=True
    ).stdout.strip()
    return public, identity


def settings(
    dsn: str, tmp_path: Path, key: tuple[str, Path], **extra: str
) -> backup.BackupSettings:
    env = {
        "IVR_DATABASE_URL": dsn,
        "IVR_BACKUP_DIR": str(tmp_path / "local"),
        "IVR_BACKUP_TARGET": str(tmp_path / "offhost"),
        "IVR_BACKUP_RECIPIENT": key[0],
        "IVR_BACKUP_IDENTITY": str(key[1]),
        **extra,
    }
    (tmp_path / "offhost").mkdir(exist_ok=True)
    return backup.settings_from(env)


async def fill(conn: asyncpg.Connection) -> None:
    """A call with its events, a flow version, an account and audit rows."""
    flow = await conn.fetchval(
        "INSERT INTO flow_versions (name, source, comment) VALUES ('main', 'nodes: {}', "
        "'初版') RETURNING id"
    )
    call = uuid.uuid4()
    await conn.execute(
        """INSERT INTO calls (id, channel_id, caller, started_at, ended_at, digits, path,
               outcome, flow_version) VALUES ($1, 'ch-1', '09012345678', now(), now(), '12',
               '{menu,info}', 'completed', $2)""",
        call,
        flow,
    )
    await conn.execute(
        """INSERT INTO call_events (call_id, seq, at, kind, node, detail)
           VALUES ($1, 1, now(), 'enter', 'menu', '{"k": "値"}'),
                  ($1, 2, now(), 'key', 'menu', '{}')""",
        call,
    )
    await conn.execute(
        """INSERT INTO admin_accounts (login_id, role, password_hash, display_name)
           VALUES ('kanri', 'administrator', '$argon2id$x', '管理 太郎')"""
    )
    await conn.execute(
        """INSERT INTO admin_audit (actor, action, target, after, ip)
           VALUES ('kanri', 'account.create', 'account:kanri', '{"role": "administrator"}',
                   '10.0.0.5'), ('', 'login.failure', 'account:x', NULL, '192.0.2.1')"""
    )


async def snapshot(conn: asyncpg.Connection) -> dict[str, list[str]]:
    return {
        t: [r[0] for r in await conn.fetch(f"SELECT to_jsonb(t)::text FROM {t} t ORDER BY 1")]
        for t in TABLES
    }


KEYS = {
    "calls": "id::text",
    "call_events": "call_id::text || '/' || seq",
    "flow_versions": "id::text || '/' || source",
    "admin_accounts": "login_id || '/' || role",
    "admin_audit": "id::text || '/' || action",
}


async def keys(conn: asyncpg.Connection) -> dict[str, set[str]]:
    """Each row's identity, for schemas that later migrations extend."""
    return {
        t: {r[0] for r in await conn.fetch(f"SELECT {expr} FROM {t}")} for t, expr in KEYS.items()
    }


async def test_backup_wipe_restore_finds_every_row(
    fresh_dsn: str, tmp_path: Path, age_key: tuple[str, Path]
) -> None:
    """The encrypted off-host copy restores calls, accounts, flow versions and audit
    rows exactly, and the recordings beside them; a non-empty database is refused."""
    recordings = tmp_path / "recordings"
    recordings.mkdir()
    (recordings / "greeting.wav").write_bytes(b"RIFF-test-audio")
    s = settings(fresh_dsn, tmp_path, age_key, IVR_BACKUP_FILES=str(recordings))
    conn = await asyncpg.connect(fresh_dsn)
    try:
        await fill(conn)
        before = await snapshot(conn)
        made = backup.backup(s)
        copies = sorted((tmp_path / "offhost").iterdir())
        assert [p.name for p in copies] == sorted(p.name for p in made)
        for path in copies:  # encrypted, and unreadable to others
            assert path.read_bytes().startswith(b"age-encryption.org/v1")
            assert path.stat().st_mode & 0o077 == 0
        dump = next(p for p in copies if p.name.endswith(backup.DUMP))
        with pytest.raises(backup.BackupError, match="already has tables"):
            backup.restore(s, dump)
        await conn.execute("DROP SCHEMA public CASCADE; CREATE SCHEMA public")
        assert (
            await conn.fetchval("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'") == 0
        )
    finally:
        await conn.close()

    applied = backup.restore(s, dump, files_to=tmp_path / "restored")
    assert applied == 0  # the dump was already at the current schema
    conn = await asyncpg.connect(fresh_dsn)
    try:
        after = await snapshot(conn)
    finally:
        await conn.close()
    assert after == before and all(after[t] for t in TABLES)
    assert (
        tmp_path / "restored" / "recordings" / "greeting.wav"
    ).read_bytes() == b"RIFF-test-audio"


async def test_an_older_dump_is_brought_forward_by_the_migrations(
    pg_admin_dsn: str, tmp_path: Path, age_key: tuple[str, Path]
) -> None:
    """A dump taken before the statistics and two-step-default migrations restores into
    an empty database, and restore applies every later migration with the rows kept."""
    older = tmp_path / "sql-0040"
    older.mkdir()
    for path in SQL_DIR.glob("*.sql"):
        if int(path.name[:4]) <= 40:
            shutil.copy(path, older / path.name)
    names = [f"ivr_own_{os.urandom(5).hex()}" for _ in range(2)]
    old_dsn = await postgres.create_database(pg_admin_dsn, names[0])
    new_dsn = await postgres.create_database(pg_admin_dsn, names[1])
    try:
        conn = await asyncpg.connect(old_dsn)
        try:
            await migrate(conn, older)
            await fill(conn)
            before = await keys(conn)
        finally:
            await conn.close()
        (made,) = backup.backup(settings(old_dsn, tmp_path, age_key))
        applied = backup.restore(settings(new_dsn, tmp_path, age_key), made)
        latest = [m.version for m in discover()]
        assert applied == len([v for v in latest if v > 40])
        conn = await asyncpg.connect(new_dsn)
        try:
            after = await keys(conn)
            assert all(before[t] and before[t] <= after[t] for t in KEYS), (before, after)
            versions = [r[0] for r in await conn.fetch("SELECT version FROM schema_migrations")]
            assert sorted(versions) == latest
            policy = await conn.fetchval(
                "SELECT value::text FROM admin_settings WHERE key = 'totp_required_roles'"
            )
            assert policy == '["administrator"]'
        finally:
            await conn.close()
    finally:
        for name in names:
            await postgres.drop_database(pg_admin_dsn, name)


async def test_only_the_newest_sets_are_kept(
    fresh_dsn: str, tmp_path: Path, age_key: tuple[str, Path]
) -> None:
    """With IVR_BACKUP_KEEP=2, a third backup removes the oldest set here and off-host."""
    s = settings(fresh_dsn, tmp_path, age_key, IVR_BACKUP_KEEP="2")
    start = datetime(2026, 11, 1, 3, 0, tzinfo=UTC)
    stamps = []
    for day in range(3):
        (made,) = backup.backup(s, now=start + timedelta(days=day))
        stamps.append(made.name)
    for where in ("local", "offhost"):
        assert sorted(p.name for p in (tmp_path / where).iterdir()) == stamps[1:]


def test_backup_refuses_to_write_unencrypted(tmp_path: Path) -> None:
    """Without a recipient no backup is written at all."""
    s = backup.settings_from(
        {"IVR_DATABASE_URL": "postgresql://127.0.0.1:1/x", "IVR_BACKUP_DIR": str(tmp_path)}
    )
    with pytest.raises(backup.BackupError, match="IVR_BACKUP_RECIPIENT"):
        backup.backup(s)
    assert list(tmp_path.iterdir()) == []
