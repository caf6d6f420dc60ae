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
    stack = Stack(dsn, inst, RUN_DIR, extra_config={"log": {"level": "info", "json": "auto"}})
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
        print("controller: starting (first start synthesises every prompt, ~20 s) ...")
        controller = subprocess.Popen(  # noqa: ASYNC220 - a long-lived child, not awaited
            [sys.executable, "-m", "ivr", "--config", str(stack.config_file), "run"],
            env={**stack.env(), "PYTHONUNBUFFERED": "1"},
            stdin=subprocess.DEVNULL,
        )
        print(
            "\n"
            "  The IVR is running. In another terminal, place a real test call:\n"
            '      make call DIGITS="1"\n'
            f"  Controller settings: {stack.config_file}\n"
            f"  Asterisk log: {inst.log_file}\n"
            f"  Asterisk CLI: {' '.join(inst._cmd('-r'))}\n"
            "  Stop with Ctrl-C.\n",
            flush=True,
        )
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        while not stop.is_set() and controller.poll() is None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 0.5)
        if controller.poll() is None:
            controller.send_signal(signal.SIGTERM)
            await asyncio.to_thread(controller.wait, 30)
        return controller.returncode or 0
    finally:
        inst.stop()
        STATE.unlink(missing_ok=True)
        print("stopped.")


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
