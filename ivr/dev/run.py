"""``make run``: the whole system on this machine, in the foreground.

PostgreSQL (IVR_DATABASE_URL if set, else the server on 127.0.0.1:5432, else a
private cluster under .local/), a private Asterisk rendered from asterisk-conf/
with SIP on 127.0.0.1:5060 (IVR_SIP_PORT) and ARI on 8088 (IVR_ARI_PORT), and
the controller and the admin site. Each of those three processes is restarted with
backoff if it dies (``ivr.dev.supervise``), so a crashed controller does not take
Asterisk and its calls down with it. Ctrl-C (or SIGTERM) stops everything.

State (secrets, certificate, settings, ``state.json`` for ``make call``) lives in
.local/run, or in IVR_RUN_DIR, which also gives the private Asterisk instance a
name of its own, so a second stack (the end-to-end test) never touches the first.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import io
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
from ivr.dev.supervise import Child, Supervisor
from ivr.prompts.library import PromptLibrary
from ivr.store.migrate import migrate

DEFAULT_RUN_DIR = postgres.PROJECT / ".local" / "run"
RUN_DIR = Path(os.environ.get("IVR_RUN_DIR") or DEFAULT_RUN_DIR).absolute()
STATE = RUN_DIR / "state.json"


def instance_name(run_dir: Path = RUN_DIR) -> str:
    """The private Asterisk's name: ``run``, or one of its own for another run folder."""
    if run_dir.resolve() == DEFAULT_RUN_DIR.resolve():
        return "run"
    return "run-" + hashlib.sha256(str(run_dir.resolve()).encode()).hexdigest()[:10]


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
    """Stop what a run that was killed outright (no clean stop) left running."""
    if STATE.exists():
        state = json.loads(STATE.read_text())
        pids = {state.get("asterisk_pid"), *state.get("pids", {}).values()}
        for pid in pids - {None}:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pid, signal.SIGTERM)  # each child leads its own process group


def _write_state(dsn: str, inst: Instance, supervisor: Supervisor) -> None:
    assert inst.process is not None
    state = {
        "sip_port": inst.sip_port,
        "dsn": dsn,
        "sounds_dir": str(inst.sounds_host_dir),
        "asterisk_sounds_dir": inst.sounds_ast_dir,
        "asterisk_pid": inst.process.pid,
        "asterisk_log": str(inst.log_file),
        "pids": {c.name: c.pid for c in supervisor.children},
    }
    STATE.write_text(json.dumps(state))


def _asterisk(inst: Instance) -> Child:
    def spawn() -> subprocess.Popen[bytes]:
        inst.start()
        assert inst.process is not None
        return inst.process

    return Child("asterisk", spawn)


async def _start(supervisor: Supervisor) -> str:
    """Start everything under ``supervisor``; the text to show once it is up."""
    RUN_DIR.mkdir(parents=True, exist_ok=True)
    _stop_previous()
    dsn = await _database()
    install = load_install()
    if install.is_fallback:
        print(
            f"WARNING: running the FALLBACK {install.version}, not Asterisk 22 LTS", file=sys.stderr
        )
    inst = Instance(
        instance_name(),
        install,
        sip_port=int(os.environ.get("IVR_SIP_PORT", "5060")),
        ari_port=int(os.environ.get("IVR_ARI_PORT", "8088")),
        ari_password=os.environ.get("IVR_ARI_PASSWORD") or _secret("ari-password"),
    )
    inst.render()
    print("prompts: building the fallback prompt ...")
    PromptLibrary(inst.sounds_host_dir, inst.sounds_ast_dir).build_system()
    supervisor.on_start = lambda _child: _write_state(dsn, inst, supervisor)
    supervisor.start(_asterisk(inst))
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
    await inst.wait_ready()
    print(
        f"asterisk: {install.version}, SIP 127.0.0.1:{inst.sip_port}, ARI 127.0.0.1:{inst.ari_port}"
    )
    stack.write_config()
    print("controller and admin site: starting (the first start synthesises every prompt) ...")
    env = stack.env()
    login = await _first_admin(dsn, stack.config_file, env)
    config = str(stack.config_file)
    supervisor.start(
        Child.command(
            "controller", [sys.executable, "-m", "ivr", "--config", config, "run"], env=env
        )
    )
    supervisor.start(
        Child.command(
            "admin site", [sys.executable, "-m", "ivr_admin", "serve", "--config", config], env=env
        )
    )
    return (
        "\n"
        "  The IVR is running. In another terminal, place a real test call:\n"
        '      make call DIGITS="1"\n'
        f"  Admin site: https://127.0.0.1:{admin_port}/login (self-signed certificate)\n"
        f"{login}\n"
        f"  Settings: {stack.config_file}\n"
        f"  Asterisk log: {inst.log_file}\n"
        f"  Asterisk CLI: {' '.join(inst._cmd('-r'))}\n"
        "  A process that dies is restarted; stop everything with Ctrl-C.\n"
    )


async def main() -> int:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    # Children run in sessions of their own: signals reach only this process, which
    # stops them in order: the admin site and the controller, then Asterisk.
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        loop.add_signal_handler(sig, stop.set)
    supervisor = Supervisor()
    startup = asyncio.create_task(_start(supervisor))
    stopping = asyncio.create_task(stop.wait())
    try:
        await asyncio.wait({startup, stopping}, return_when=asyncio.FIRST_COMPLETED)
        if startup.done():
            print(startup.result(), flush=True)  # raises what stopped the start-up
            await stopping
    finally:
        for task in (startup, stopping):
            task.cancel()
        await asyncio.gather(startup, stopping, return_exceptions=True)
        await supervisor.stop()
        STATE.unlink(missing_ok=True)
        print("stopped.", flush=True)
    return 0


if __name__ == "__main__":
    if isinstance(sys.stdout, io.TextIOWrapper):  # lines in order with the children's
        sys.stdout.reconfigure(line_buffering=True)
    sys.exit(asyncio.run(main()))
