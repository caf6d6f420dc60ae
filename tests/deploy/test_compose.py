"""The docker-compose deployment, built and run for real (``make test-deploy``, CI's second
step): the images from Debian packages, ``docker-compose up``, every service healthy, a
real SIPp call through the containerised Asterisk recorded in the containerised
PostgreSQL, an administrator's login through the TLS proxy, and a killed controller
restarted by its restart policy with calls working again. Then the compose profiles:
``monitoring`` (Prometheus scraping the controller, Alertmanager mailing an alert to an
SMTP inbox run by the test) and ``backup`` (one run writing an encrypted dump to the
off-host target). ``docker-compose down -v`` afterwards, whatever happened.

Needs root (it installs docker.io / docker-compose and starts dockerd when missing).
Everything listens on loopback, on ports picked free at the start, beside the test
instances of Asterisk and PostgreSQL. The images are kept (tag ``deploytest``) as the
build cache of the next run; IVR_DEPLOY_REMOVE_IMAGES=1 removes them too. Waits are
generous and nothing is timed: a failure says which step and shows the services' logs.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import re
import secrets
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import pytest

from ivr.dev.sipp import Step, place_call
from ivr.log import TOKYO
from tests.smtpinbox import Inbox

ROOT = Path(__file__).resolve().parents[2]
PROJECT = "myna-ivr-deploytest"
TAG = "deploytest"
CALLER = "09012345678"
DIALLED = "0501234567"
SERVICES = ("db", "asterisk", "controller", "admin", "proxy")  # long-running, health-checked
ONE_SHOTS = ("asterisk-config", "prompts", "migrate")
PROFILES = ("--profile", "monitoring", "--profile", "backup")  # so that down removes them too
APP_UID = 10001  # the application image's user (the backup service writes as it)
ADMIN_LOGIN = "deploykanri"

pytestmark = pytest.mark.timeout(3600)


def log(message: str) -> None:
    """Progress on the terminal (pytest -s) and in the captured output of a failure."""
    print(f"[deploy {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


@dataclass
class Stack:
    """The running compose project and what the test needs to reach it."""

    dir: Path
    env_file: Path
    docker: str
    env: dict[str, str]
    cert: Path

    def compose(self, *args: str, timeout: float = 900, check: bool = True) -> str:
        cmd = ["docker-compose", "-p", PROJECT, "--env-file", str(self.env_file), *args]
        proc = subprocess.run(
            cmd,
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if check and proc.returncode != 0:
            raise AssertionError(
                f"`{' '.join(cmd[5:])}` failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}"
            )
        return proc.stdout + proc.stderr

    def docker_cmd(self, *args: str, check: bool = True, timeout: float = 120) -> str:
        proc = subprocess.run([self.docker, *args], capture_output=True, text=True, timeout=timeout)
        if check and proc.returncode != 0:
            raise AssertionError(f"docker {' '.join(args)} failed:\n{proc.stdout}{proc.stderr}")
        return proc.stdout.strip()

    def container(self, service: str) -> str:
        cid = self.compose("ps", "-q", service, timeout=60).strip().splitlines()
        assert cid, f"no container for service {service}"
        return cid[-1]

    def state(self, service: str) -> dict[str, object]:
        state: dict[str, object] = json.loads(
            self.docker_cmd("inspect", "-f", "{{json .State}}", self.container(service))
        )
        return state

    def restarts(self, service: str) -> int:
        return int(self.docker_cmd("inspect", "-f", "{{.RestartCount}}", self.container(service)))

    def logs(self, services: tuple[str, ...] = (), tail: int = 60) -> str:
        return self.compose("logs", "--no-color", f"--tail={tail}", *services, check=False)

    @property
    def dsn(self) -> str:
        return self.env["IVR_DATABASE_URL"]


def _run(cmd: list[str], timeout: float, what: str, env: dict[str, str] | None = None) -> str:
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=timeout, env=env)
    if proc.returncode != 0:
        raise AssertionError(f"{what} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return proc.stdout


_PORTS_HANDED_OUT: set[int] = set()


def _free_port() -> int:
    """A loopback port free now for TCP and UDP, in 30200-30999: below the kernel's
    ephemeral range (32768-) and apart from the ports the other tests pick (20000-29999
    RTP, 40000- for the rest), so nothing else takes it between now and ``up``."""
    for _ in range(500):
        port = random.randrange(30200, 31000)
        if port in _PORTS_HANDED_OUT:
            continue
        try:
            for kind in (socket.SOCK_STREAM, socket.SOCK_DGRAM):
                with socket.socket(socket.AF_INET, kind) as sock:
                    sock.bind(("127.0.0.1", port))
        except OSError:
            continue
        _PORTS_HANDED_OUT.add(port)
        return port
    raise AssertionError("no free loopback port in 30200-30999")


def _self_signed(directory: Path, name: str) -> Path:
    """A certificate for ``name`` and 127.0.0.1, as the proxy mounts them."""
    directory.mkdir(mode=0o755)
    _run(
        [
            "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
            "-subj", f"/CN={name}", "-addext", f"subjectAltName=DNS:{name},IP:127.0.0.1",
            "-keyout", str(directory / "privkey.pem"), "-out", str(directory / "fullchain.pem"),
        ],
        60,
        "openssl (the test's self-signed certificate)",
    )  # fmt: skip
    # A throw-away key in a private temporary folder: readable by the proxy's user.
    (directory / "privkey.pem").chmod(0o644)
    return directory / "fullchain.pem"


def _write_config(path: Path, admin_port: int, metrics_port: int) -> None:
    path.write_text(
        f"""# written by tests/deploy/test_compose.py
ari: {{app: myna-ivr, username: ivr}}
admin:
  host: 127.0.0.1
  port: {admin_port}
  allowlist: ["127.0.0.0/8", "::1/128"]
  trusted_proxies: ["127.0.0.1/32"]
metrics: {{host: 127.0.0.1, port: {metrics_port}}}
log: {{level: info, json: "yes"}}
"""
    )
    path.chmod(0o644)


def _wait_healthy(stack: Stack, services: tuple[str, ...], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    status: dict[str, str] = {}
    while time.monotonic() < deadline:
        for service in services:
            state = stack.state(service)
            health = state.get("Health")
            status[service] = (
                str(health.get("Status")) if isinstance(health, dict) else "no health check"
            )
            if not state.get("Running"):
                status[service] = f"not running ({state.get('Status')})"
        if all(s == "healthy" for s in status.values()):
            return
        time.sleep(3)
    unhealthy = tuple(s for s, h in status.items() if h != "healthy")
    raise AssertionError(
        f"not healthy after {timeout:.0f} s: {status}\n{stack.logs(unhealthy, tail=80)}"
    )


def _cleanup(stack: Stack, remove_images: bool) -> None:
    stack.compose(
        *PROFILES, "down", "-v", "--remove-orphans", "--timeout", "20", timeout=300, check=False
    )
    if remove_images:
        images = stack.docker_cmd(
            "images", "-q", "--filter", "reference=myna-ivr*:" + TAG, check=False
        ).split()
        if images:
            stack.docker_cmd("rmi", "-f", *sorted(set(images)), check=False, timeout=300)
    # Layers left untagged by a rebuild of these images are this test's garbage.
    stack.docker_cmd(
        "image", "prune", "-f", "--filter", "label=io.myna-ivr.image", check=False, timeout=300
    )


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    if os.geteuid() != 0:
        pytest.fail("the deployment test needs root (Docker engine, debootstrap)")
    if shutil.which("sipp") is None:
        pytest.fail("sipp missing: run scripts/install-system.sh (Debian sip-tester)")
    started = time.monotonic()
    docker = _run(["bash", "scripts/docker-engine.sh"], 900, "scripts/docker-engine.sh")
    docker = docker.strip().splitlines()[-1]
    # A private folder the containers can read (bind mounts: config, certificates).
    work = tmp_path_factory.mktemp("deploy")
    work.chmod(0o755)
    cert = _self_signed(work / "certs", "localhost")
    pg_password = secrets.token_urlsafe(24)
    # The backup service's test key (age), its local and "off-host" folders.
    if shutil.which("age-keygen") is None:
        pytest.fail("age missing: run scripts/install-system.sh (Debian age)")
    _run(["age-keygen", "-o", str(work / "backup.key")], 60, "age-keygen")
    recipient = _run(["age-keygen", "-y", str(work / "backup.key")], 60, "age-keygen -y").strip()
    for name in ("backups", "offsite"):
        (work / name).mkdir(mode=0o700)
        os.chown(work / name, APP_UID, APP_UID)
    # Where no registry is reachable (these machines) the base images are made locally;
    # IVR_DEPLOY_BASE=public builds from debian:bookworm-slim / debian:sid-slim instead.
    local_base = os.environ.get("IVR_DEPLOY_BASE", "local") != "public"
    env: dict[str, str] = {}
    env_file = work / "env"

    def write_env() -> None:
        """The settings, with ports picked free now (again just before ``up``)."""
        admin_port, metrics_port, db_port = _free_port(), _free_port(), _free_port()
        _write_config(work / "ivr.yaml", admin_port, metrics_port)
        env.clear()
        env.update(
            {
                "IVR_IMAGE_TAG": TAG,
                "IVR_BASE_IMAGE": "myna-ivr-base:bookworm"
                if local_base
                else "debian:bookworm-slim",
                "IVR_ASTERISK_BASE_IMAGE": "myna-ivr-base:sid" if local_base else "debian:sid-slim",
                "IVR_CONFIG_FILE": str(work / "ivr.yaml"),
                "IVR_ARI_PASSWORD": secrets.token_urlsafe(24),
                "IVR_ARI_PORT": str(_free_port()),
                "POSTGRES_PASSWORD": pg_password,
                "POSTGRES_USER": "ivr",
                "POSTGRES_DB": "myna_ivr",
                "IVR_DB_PORT": str(db_port),
                "IVR_DATABASE_URL": f"postgresql://ivr:{pg_password}@127.0.0.1:{db_port}/myna_ivr",
                "IVR_TRUNK_HOST": "127.0.0.1",
                "IVR_TRUNK_PORT": "5060",
                "IVR_TRUNK_QUALIFY": "0",
                "IVR_SIP_BIND": "127.0.0.1",
                "IVR_SIP_PORT": str(_free_port()),
                # Below the ephemeral range, apart from the tests' 20000-29999.
                "IVR_RTP_START": "31000",
                "IVR_RTP_END": "31199",
                "IVR_PUBLIC_NAME": "localhost",
                "IVR_PROXY_HTTPS_PORT": str(_free_port()),
                "IVR_ADMIN_PORT": str(admin_port),
                "IVR_METRICS_PORT": str(metrics_port),
                "IVR_ADMIN_ALLOWLIST": "127.0.0.1/32 ::1/128",
                "IVR_TLS_CERT_DIR": str(cert.parent),
                "IVR_RETENTION_KEY": secrets.token_urlsafe(24),
                # Profile monitoring: mail to the test's inbox (test_monitoring_...).
                "IVR_PROMETHEUS_PORT": str(_free_port()),
                "IVR_ALERTMANAGER_PORT": str(_free_port()),
                "IVR_ALERT_SMTP_HOST": f"127.0.0.1:{_free_port()}",
                "IVR_ALERT_SMTP_TLS": "false",
                "IVR_ALERT_EMAIL_FROM": "ivr-alerts@deploytest.invalid",
                "IVR_ALERT_EMAIL_TO": "operators@deploytest.invalid",
                # Profile backup.
                "IVR_BACKUP_RECIPIENT": recipient,
                "IVR_BACKUP_DIR": str(work / "backups"),
                "IVR_BACKUP_TARGET": str(work / "offsite"),
                "IVR_BACKUP_KEEP": "3",
            }
        )
        env_file.write_text("".join(f"{k}={v}\n" for k, v in env.items()))
        env_file.chmod(0o600)

    write_env()
    s = Stack(work, env_file, docker, env, cert)
    remove_images = os.environ.get("IVR_DEPLOY_REMOVE_IMAGES") == "1"
    # A previous run killed half-way may have left its project behind.
    s.compose(*PROFILES, "down", "-v", "--remove-orphans", timeout=300, check=False)
    try:
        log("building the images (base images, wheels, docker-compose build) ...")
        t = time.monotonic()
        _run(
            ["bash", "scripts/build-images.sh"],
            2400,
            "scripts/build-images.sh",
            env={**os.environ, "IVR_ENV_FILE": str(env_file), "COMPOSE_PROJECT_NAME": PROJECT},
        )
        log(f"images built in {time.monotonic() - t:.0f} s")
        t = time.monotonic()
        write_env()
        # up waits for the one-shots (config, prompts, migrations) and the health of
        # what the others depend on.
        try:
            s.compose("up", "-d", timeout=1200)
        except AssertionError as e:
            raise AssertionError(f"{e}\n{s.logs(tail=80)}") from None
        _wait_healthy(s, SERVICES, timeout=600)
        log(f"stack up and healthy in {time.monotonic() - t:.0f} s")
        for service in ONE_SHOTS:
            state = s.state(service)
            assert state.get("ExitCode") == 0, f"{service} exited {state.get('ExitCode')}"
        yield s
    except BaseException:
        log("FAILED; the services' last log lines:\n" + s.logs(tail=120))
        raise
    finally:
        _cleanup(s, remove_images)
        log(f"cleaned up; the whole run took {time.monotonic() - started:.0f} s")


def _welcome_ms(stack: Stack) -> int:
    """The main menu's first prompt, as built in the sounds volume (ms)."""
    code = (
        "from pathlib import Path\n"
        "from ivr.app import DEFAULT_FLOW\n"
        "from ivr.dev.call import prompt_ms\n"
        "from ivr.flow.loader import load_flow_file\n"
        "from ivr.prompts.library import PromptLibrary\n"
        "lib = PromptLibrary(Path('/var/lib/ivr/sounds'), '/var/lib/ivr/sounds')\n"
        "print(prompt_ms(lib, load_flow_file(DEFAULT_FLOW), 'welcome', default=-1))\n"
    )
    out = stack.docker_cmd("exec", stack.container("controller"), "python", "-c", code)
    ms = int(out.splitlines()[-1])
    assert ms > 0, "the welcome prompt was not built in the sounds volume"
    return ms


async def _call_recorded(stack: Stack, label: str) -> None:
    """A SIPp call presses 1 in the main menu; its row must appear, ended, with the key."""
    since = datetime.now(TOKYO)
    press_at = _welcome_ms(stack) + 2000  # inside the main menu prompt
    result = await place_call(
        int(stack.env["IVR_SIP_PORT"]),
        DIALLED,
        CALLER,
        [Step(press_at, "1")],
        tail_ms=3000,
        timeout=180,
    )
    assert result.ok, f"{label}: the SIPp call failed:\n{result.output}\n{stack.logs(tail=60)}"
    conn = await asyncpg.connect(stack.dsn, timeout=30)
    try:
        row = None
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            row = await conn.fetchrow(
                "SELECT * FROM calls WHERE caller = $1 AND started_at >= $2 "
                "ORDER BY started_at DESC LIMIT 1",
                CALLER,
                since,
            )
            if row is not None and row["ended_at"] is not None:
                break
            await asyncio.sleep(1)
    finally:
        await conn.close()
    assert row is not None and row["ended_at"] is not None, (
        f"{label}: no ended call from {CALLER} in the containerised database "
        f"(row: {dict(row) if row else None})\n{stack.logs(('asterisk', 'controller'))}"
    )
    assert row["digits"] == "1", f"{label}: the key press did not arrive: {dict(row)}"
    assert row["outcome"] == "caller_hangup", f"{label}: {dict(row)}"
    log(f"{label}: call recorded: outcome={row['outcome']} path={list(row['path'])}")


async def test_call_through_the_containers_is_recorded(stack: Stack) -> None:
    await _call_recorded(stack, "first call")


async def test_admin_login_through_the_tls_proxy(stack: Stack) -> None:
    """create-admin in the admin image, then a login over TLS through Caddy: the site
    accepts the password and asks for the first-login steps; monitoring is not exposed."""
    out = stack.compose(
        "exec", "-T", "admin", "python", "-m", "ivr_admin",
        "create-admin", ADMIN_LOGIN, "--config", "/app/config/ivr.yaml",
        timeout=300,
    )  # fmt: skip
    found = re.search(r"初期パスワード:\s*(\S+)", out)
    assert found, f"create-admin printed no password:\n{out}"
    password = found.group(1)
    base = f"https://localhost:{stack.env['IVR_PROXY_HTTPS_PORT']}"
    context = ssl.create_default_context(cafile=str(stack.cert))
    async with aiohttp.ClientSession(
        cookie_jar=aiohttp.CookieJar(unsafe=True),
        connector=aiohttp.TCPConnector(ssl=context, force_close=True),
        timeout=aiohttp.ClientTimeout(total=60),
    ) as http:
        async with http.get(f"{base}/login") as r:
            page = await r.text()
            assert r.status == 200, f"GET /login through the proxy: {r.status}\n{page[:500]}"
            assert "max-age" in r.headers.get("Strict-Transport-Security", ""), r.headers
            token = re.search(r'name="csrf_token" value="([^"]+)"', page)
            assert token, f"no CSRF token on the login page:\n{page[:1000]}"
        form = {"csrf_token": token.group(1), "login_id": ADMIN_LOGIN, "password": password}
        async with http.post(f"{base}/login", data=form, allow_redirects=False) as r:
            body = await r.text()
            assert r.status == 303, f"login refused through the proxy: {r.status}\n{body[:1000]}"
            location = r.headers["Location"]
        assert not location.startswith("/login"), f"login sent back to {location}"
        async with http.get(f"{base}{location}") as r:
            assert r.status == 200 and "/login" not in r.url.path, (
                f"after login, {location} answered {r.status} at {r.url}"
            )
        for path in ("/metrics", "/healthz"):
            async with http.get(f"{base}{path}") as r:
                assert r.status == 404, f"{path} is reachable through the proxy ({r.status})"
    # The site saw the browser's address through the trusted proxy, not a refusal.
    conn = await asyncpg.connect(stack.dsn, timeout=30)
    try:
        sessions = await conn.fetchval(
            "SELECT count(*) FROM admin_sessions s JOIN admin_accounts a ON a.id = s.account_id"
            " WHERE a.login_id = $1",
            ADMIN_LOGIN,
        )
    finally:
        await conn.close()
    assert sessions >= 1, "the login made no session in the containerised database"
    log(f"admin login through the TLS proxy: redirected to {location}")


async def test_killed_controller_is_restarted_and_calls_work(stack: Stack) -> None:
    before = stack.restarts("controller")
    # A crash, as the engine sees one: its main process dies. (`docker kill` would count
    # as an operator's stop, which a restart policy leaves stopped.)
    pid = int(stack.docker_cmd("inspect", "-f", "{{.State.Pid}}", stack.container("controller")))
    assert pid > 0, f"the controller is not running: {stack.state('controller')}"
    os.kill(pid, signal.SIGKILL)
    log(f"controller container's process {pid} killed (SIGKILL)")
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline and stack.restarts("controller") <= before:
        time.sleep(2)
    assert stack.restarts("controller") > before, (
        f"the controller was not restarted by its restart policy: {stack.state('controller')}"
    )
    _wait_healthy(stack, ("controller",), timeout=300)
    log("controller restarted and healthy again")
    await _call_recorded(stack, "call after the restart")


async def test_monitoring_and_backup_profiles(stack: Stack) -> None:
    """Not started by the plain ``up``; with ``--profile monitoring`` Prometheus scrapes
    the controller (target up) and Alertmanager mails an alert through the SMTP server;
    ``--profile backup run --rm backup now`` writes an encrypted dump (and the sounds)
    into the off-host target, which the test's age key opens."""
    assert not stack.compose("ps", "-q", "prometheus", "alertmanager", "backup").strip(), (
        "a profile service was started by the plain `docker-compose up`"
    )
    inbox = Inbox()
    smtp_port = int(stack.env["IVR_ALERT_SMTP_HOST"].rsplit(":", 1)[1])
    server = await asyncio.start_server(inbox.session, "127.0.0.1", smtp_port)
    try:
        t = time.monotonic()
        try:
            stack.compose("--profile", "monitoring", "up", "-d", "prometheus", "alertmanager")
        except AssertionError as e:
            raise AssertionError(f"{e}\n{stack.logs(('monitoring-config',))}") from None
        _wait_healthy(stack, ("prometheus", "alertmanager"), timeout=300)
        log(f"profile monitoring up and healthy in {time.monotonic() - t:.0f} s")
        prometheus = f"http://127.0.0.1:{stack.env['IVR_PROMETHEUS_PORT']}"
        alertmanager = f"http://127.0.0.1:{stack.env['IVR_ALERTMANAGER_PORT']}"
        controller = f"http://127.0.0.1:{stack.env['IVR_METRICS_PORT']}/"
        targets: list[dict[str, Any]] = []
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as http:
            deadline = time.monotonic() + 180
            up = False
            while time.monotonic() < deadline and not up:
                async with http.get(f"{prometheus}/api/v1/targets") as r:
                    targets = (await r.json())["data"]["activeTargets"]
                up = any(
                    t["labels"].get("job") == "ivr-controller"
                    and t["scrapeUrl"].startswith(controller)
                    and t["health"] == "up"
                    for t in targets
                )
                if not up:
                    await asyncio.sleep(3)
            assert up, (
                f"Prometheus does not scrape the controller as up: {targets}\n"
                f"{stack.logs(('prometheus',))}"
            )
            log("Prometheus scrapes the controller: up")
            alert = [
                {
                    "labels": {"alertname": "IvrDeployTest", "severity": "warning"},
                    "annotations": {"summary": "alert from the deployment test"},
                }
            ]
            async with http.post(f"{alertmanager}/api/v2/alerts", json=alert) as r:
                assert r.status == 200, f"Alertmanager refused the alert: {await r.text()}"
        deadline = time.monotonic() + 180  # group_wait is 30 s
        while time.monotonic() < deadline and not any("IvrDeployTest" in m for m in inbox.messages):
            await asyncio.sleep(2)
        mail = next((m for m in inbox.messages if "IvrDeployTest" in m), None)
        assert mail is not None, (
            f"no alert mail reached the SMTP server ({len(inbox.messages)} other mails)\n"
            f"{stack.logs(('alertmanager',))}"
        )
        assert "To: operators@deploytest.invalid" in mail, mail[:2000]
        assert "Subject: [myna-ivr] FIRING IvrDeployTest" in mail, mail[:2000]
        log("an alert reached the SMTP server through Alertmanager")
    finally:
        server.close()
        await server.wait_closed()

    out = stack.compose("--profile", "backup", "run", "--rm", "-T", "backup", "now", timeout=600)
    offsite = Path(stack.env["IVR_BACKUP_TARGET"])
    dumps = sorted(offsite.glob("myna-ivr-*.dump.age"))
    assert dumps, f"no encrypted dump in the off-host target {offsite}:\n{out}"
    assert sorted(offsite.glob("myna-ivr-*.files.tar.age")), f"no sounds archive:\n{out}"
    assert (Path(stack.env["IVR_BACKUP_DIR"]) / dumps[-1].name).is_file(), "no local copy"
    assert dumps[-1].read_bytes().startswith(b"age-encryption.org/v1"), "not age-encrypted"
    plain = subprocess.run(
        ["age", "-d", "-i", str(stack.dir / "backup.key"), str(dumps[-1])],
        capture_output=True,
        timeout=120,
    )
    assert plain.returncode == 0, f"the test key does not open it: {plain.stderr!r}"
    assert plain.stdout.startswith(b"PGDMP"), "the decrypted file is not a pg_dump archive"
    log(f"backup service: {dumps[-1].name} in the off-host target, opened by the key")
