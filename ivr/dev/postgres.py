"""Find a PostgreSQL server, or start a private cluster from Debian's binaries."""

from __future__ import annotations

import glob
import os
import random
import shutil
import socket
import subprocess
from pathlib import Path

import asyncpg

PROJECT = Path(__file__).resolve().parents[2]


_handed_out: set[int] = set()


def _bindable(port: int, kind: socket.SocketKind) -> bool:
    with socket.socket(socket.AF_INET, kind) as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_port() -> int:
    """A loopback port free now for TCP and UDP (and its RTP neighbours), never handed
    out twice by this process: SIPp, Asterisk and PostgreSQL bind these a moment later,
    and the kernel's "next free port" would give concurrent callers the same one."""
    for _ in range(500):
        port = random.randrange(40000, 59990, 2)
        if port in _handed_out:
            continue
        if _bindable(port, socket.SOCK_STREAM) and all(
            _bindable(p, socket.SOCK_DGRAM) for p in (port, port + 1, port + 2)
        ):
            _handed_out.add(port)
            return port
    raise RuntimeError("no free loopback port found")


async def reachable(dsn: str) -> bool:
    try:
        conn = await asyncpg.connect(dsn, timeout=3)
    except (TimeoutError, OSError, asyncpg.PostgresError):
        return False
    await conn.close()
    return True


def _pg_bin(name: str) -> str:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    if found:
        return found[-1]
    path = shutil.which(name)
    if path is None:
        raise RuntimeError(f"{name} not found: install Debian's postgresql package")
    return path


def _as_postgres(cmd: list[str]) -> list[str]:
    # initdb and postgres refuse to run as root.
    return ["runuser", "-u", "postgres", "--", *cmd] if os.geteuid() == 0 else cmd


def start_private_cluster(data_dir: Path) -> str:
    """Start (creating if needed) a cluster in ``data_dir``; return its admin DSN."""
    data_dir.mkdir(parents=True, exist_ok=True)
    if os.geteuid() == 0:
        shutil.chown(data_dir, "postgres", "postgres")
    port_file = data_dir / "ivr-port"
    if not (data_dir / "PG_VERSION").exists():
        subprocess.run(
            _as_postgres(
                [
                    _pg_bin("initdb"),
                    "-D",
                    str(data_dir),
                    "-A",
                    "trust",
                    "-U",
                    "postgres",
                    "-E",
                    "UTF8",
                    "--locale=C.UTF-8",
                ]
            ),
            check=True,
            stdout=subprocess.DEVNULL,
        )
    status = subprocess.run(
        _as_postgres([_pg_bin("pg_ctl"), "-D", str(data_dir), "status"]),
        stdout=subprocess.DEVNULL,
        check=False,
    )
    if status.returncode != 0:
        port = free_port()
        port_file.write_text(str(port))
        opts = f"-c listen_addresses=127.0.0.1 -c port={port} -c unix_socket_directories={data_dir}"
        subprocess.run(
            _as_postgres(
                [
                    _pg_bin("pg_ctl"),
                    "-D",
                    str(data_dir),
                    "-l",
                    str(data_dir / "log"),
                    "-o",
                    opts,
                    "-w",
                    "start",
                ]
            ),
            check=True,
            stdout=subprocess.DEVNULL,
        )
    return f"postgresql://postgres@127.0.0.1:{port_file.read_text().strip()}/postgres"


def stop_private_cluster(data_dir: Path) -> None:
    subprocess.run(
        _as_postgres([_pg_bin("pg_ctl"), "-D", str(data_dir), "-m", "fast", "stop"]),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        check=False,
    )


async def admin_dsn(private_dir: Path | None = None) -> str:
    """The configured server (IVR_PG_ADMIN_URL), the local one on 5432, else a private one."""
    configured = os.environ.get("IVR_PG_ADMIN_URL")
    if configured:
        return configured
    local = "postgresql://postgres@127.0.0.1:5432/postgres"
    if await reachable(local):
        return local
    return start_private_cluster(private_dir or PROJECT / ".local" / "pgdata")


def with_database(dsn: str, name: str) -> str:
    base, _, _ = dsn.rpartition("/")
    return f"{base}/{name}"


async def create_database(admin: str, name: str, *, replace: bool = False) -> str:
    conn = await asyncpg.connect(admin)
    try:
        exists = await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name)
        if exists and replace:
            await conn.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
            exists = None
        if not exists:
            await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return with_database(admin, name)


async def drop_database(admin: str, name: str) -> None:
    conn = await asyncpg.connect(admin)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()
