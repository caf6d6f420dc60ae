"""``make run``: the whole system on this machine, in the foreground.

PostgreSQL (IVR_DATABASE_URL if set, else the server on 127.0.0.1:5432, else a
private cluster under .local/), a private Asterisk rendered from asterisk-conf/
with SIP on 127.0.0.1:5060 (IVR_SIP_PORT) and ARI on 8088 (IVR_ARI_PORT), and
the controller. Ctrl-C stops everything.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import secrets
import signal
import subprocess
import sys
from pathlib import Path

import asyncpg

from ivr.dev import postgres
from ivr.dev.asterisk import Instance, load_install
from ivr.dev.stack import Stack
from ivr.prompts.library import PromptLibrary
from ivr.store.migrate import migrate

RUN_DIR = postgres.PROJECT / ".local" / "run"
STATE = RUN_DIR / "state.json"


def _secret(name: str) -> str:
    path = RUN_DIR / name
    if not path.exists():
        path.write_text(secrets.token_urlsafe(24))
        path.chmod(0o600)
    return path.read_text().strip()


async def _database() -> str:
    configured = os.environ.get("IVR_DATABASE_URL")
    if configured:
        dsn = configured
    else:
        admin = await postgres.admin_dsn()
        dsn = await postgres.create_database(admin, "myna_ivr")
    conn = await asyncpg.connect(dsn)
    try:
        applied = await migrate(conn)
    finally:
        await conn.close()
    print(f"database: {dsn.rsplit('@', 1)[-1]} ({len(applied)} migrations applied now)")
    return dsn


def _self_signed_cert() -> tuple[Path, Path]:
    """A local certificate so the admin site is HTTPS-only even on a laptop."""
    tls = RUN_DIR / "tls"
    cert, key = tls / "admin.crt", tls / "admin.key"
    if not cert.exists() or not key.exists():
        tls.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "825",
             "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
             "-keyout", str(key), "-out", str(cert)],
            check=True, capture_output=True,
        )  # fmt: skip
        key.chmod(0o600)
    return cert, key


async def _first_admin(dsn: str, config: Path, env: dict[str, str]) -> str:
    """Create the first administrator once; later runs just say how to log in."""
    conn = await asyncpg.connect(dsn)
    try:
        admins = await conn.fetchval(
            "SELECT count(*) FROM admin_accounts WHERE role = 'administrator'"
        )
    finally:
        await conn.close()
    if admins:
        return "  Log in with an existing administrator account."
    out = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "ivr_admin", "create-admin", "admin", "--name", "管理者",
         "--config", str(config)],
        env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip
    return out.stdout if out.returncode == 0 else f"create-admin failed: {out.stderr}"


def _stop_previous() -> None:
    if STATE.exists():
        pid = json.loads(STATE.read_text()).get("asterisk_pid")
        if pid:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pid, signal.SIGTERM)


async def main() -> int:
    RUN_DIR.mkdir(parents=True, exist_ok=True)
    _stop_previous()
    dsn = await _database()
    install = load_install()
    if install.is_fallback:
        print(
            f"WARNING: running the FALLBACK {install.version}, not Asterisk 22 LTS", file=sys.stderr
        )
    inst = Instance(
        "run",
        install,
        sip_port=int(os.environ.get("IVR_SIP_PORT", "5060")),
        ari_port=int(os.environ.get("IVR_ARI_PORT", "8088")),
        ari_password=os.environ.get("IVR_ARI_PASSWORD") or _secret("ari-password"),
    )
    inst.render()
    print("prompts: building the fallback prompt ...")
    PromptLibrary(inst.sounds_host_dir, inst.sounds_ast_dir).build_system()
    inst.start()
    cert, key = _self_signed_cert()
    admin_port = int(os.environ.get("IVR_ADMIN_PORT", "8443"))
    stack = Stack(
        dsn,
        inst,
        RUN_DIR,
        extra_config={
            "log": {"level": "info", "json": "auto"},
            "admin": {"port": admin_port, "tls_cert": str(cert), "tls_key": str(key)},
        },
    )
    try:
        await inst.wait_ready()
        ports = f"SIP 127.0.0.1:{inst.sip_port}, ARI 127.0.0.1:{inst.ari_port}"
        print(f"asterisk: {install.version}, {ports}")
        assert inst.process is not None
        STATE.write_text(
            json.dumps(
                {
                    "sip_port": inst.sip_port,
                    "dsn": dsn,
                    "sounds_dir": str(inst.sounds_host_dir),
                    "asterisk_sounds_dir": inst.sounds_ast_dir,
                    "asterisk_pid": inst.process.pid,
                    "asterisk_log": str(inst.log_file),
                }
            )
        )
        stack.write_config()
        print("controller and admin site: starting (the first start synthesises every prompt) ...")
        env = {**stack.env(), "PYTHONUNBUFFERED": "1"}
        login = await _first_admin(dsn, stack.config_file, env)
        config = str(stack.config_file)
        commands = (
            [sys.executable, "-m", "ivr", "--config", config, "run"],
            [sys.executable, "-m", "ivr_admin", "serve", "--config", config],
        )
        children = [
            subprocess.Popen(cmd, env=env, stdin=subprocess.DEVNULL)  # noqa: ASYNC220 - long-lived
            for cmd in commands
        ]
        print(
            "\n"
            "  The IVR is running. In another terminal, place a real test call:\n"
            '      make call DIGITS="1"\n'
            f"  Admin site: https://127.0.0.1:{admin_port}/login (self-signed certificate)\n"
            f"{login}\n"
            f"  Settings: {stack.config_file}\n"
            f"  Asterisk log: {inst.log_file}\n"
            f"  Asterisk CLI: {' '.join(inst._cmd('-r'))}\n"
            "  Stop with Ctrl-C.\n",
            flush=True,
        )
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        while not stop.is_set() and all(c.poll() is None for c in children):
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 0.5)
        for child in children:
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)
        for child in children:
            await asyncio.to_thread(child.wait, 30)
        return max(c.returncode or 0 for c in children)
    finally:
        inst.stop()
        STATE.unlink(missing_ok=True)
        print("stopped.")


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
