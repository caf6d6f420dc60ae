"""Render ``asterisk-conf/`` into a private instance and run Asterisk from it.

The instance's files are the repository's files with ``@@NAME@@`` placeholders
substituted (ports, paths, secrets) — never hand-kept copies. Asterisk runs in
the Debian sid chroot made by ``scripts/install-asterisk.sh`` (Asterisk 22 LTS),
or on the host with the 16.28 fallback; paths differ between what this process
writes (``host_dir``) and what Asterisk sees (``ast_dir``) in the chroot case.
"""

from __future__ import annotations

import asyncio
import os
import re
import secrets
import shutil
import signal
import subprocess
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp

from ivr.dev.postgres import PROJECT, free_port

CONF_DIR = PROJECT / "asterisk-conf"
STATE_FILE = PROJECT / ".local" / "asterisk.env"
_PLACEHOLDER = re.compile(r"@@([A-Z_]+)@@")


class AsteriskSetupError(RuntimeError):
    """Asterisk is not installed, the config did not render, or it did not start."""


def render_dir(values: Mapping[str, str], out_dir: Path, conf_dir: Path = CONF_DIR) -> list[Path]:
    """Write every ``*.conf`` of ``conf_dir`` into ``out_dir`` with its ``@@NAME@@``
    placeholders substituted from ``values``; return the files written.

    Used for private instances (``Instance.render``) and for deployments
    (``python -m ivr.dev.render``). A placeholder without a value stops the
    rendering with an error naming the file and the placeholder."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for src in sorted(conf_dir.glob("*.conf")):
        text = src.read_text(encoding="utf-8")
        missing = sorted({m for m in _PLACEHOLDER.findall(text) if m not in values})
        if missing:
            raise AsteriskSetupError(f"{src.name}: no value for {', '.join(missing)}")
        (out_dir / src.name).write_text(_PLACEHOLDER.sub(lambda m: values[m.group(1)], text))
        written.append(out_dir / src.name)
    return written


@dataclass(frozen=True)
class Install:
    mode: str  # "chroot" (Asterisk 22 LTS) or "host" (16.28 fallback)
    chroot: Path | None
    binary: str
    moddir: str
    version: str

    @property
    def is_fallback(self) -> bool:
        return self.mode != "chroot"


def load_install(state_file: Path = STATE_FILE) -> Install:
    if not state_file.exists():
        raise AsteriskSetupError(
            f"{state_file} missing: run `make deps` (scripts/install-asterisk.sh)"
        )
    values = dict(line.split("=", 1) for line in state_file.read_text().splitlines() if "=" in line)
    chroot = Path(values["ASTERISK_CHROOT"]) if values.get("ASTERISK_CHROOT") else None
    return Install(
        values["ASTERISK_MODE"],
        chroot,
        values["ASTERISK_BIN"],
        values["ASTERISK_MODDIR"],
        values.get("ASTERISK_VERSION", "?"),
    )


@dataclass
class Instance:
    """One private Asterisk: its rendered config, ports and process."""

    name: str
    install: Install
    sip_port: int = field(default_factory=free_port)
    ari_port: int = field(default_factory=free_port)
    ari_user: str = "ivr"
    ari_password: str = field(default_factory=lambda: secrets.token_urlsafe(18))
    app: str = "myna-ivr"
    trunk_host: str = "127.0.0.1"
    trunk_port: int = 5070
    rtp_start: int = 20000
    rtp_end: int = 29999
    process: subprocess.Popen[bytes] | None = None

    @property
    def ast_dir(self) -> str:
        """The instance folder as Asterisk sees it."""
        return f"/ivr-instances/{self.name}" if self.install.chroot else str(self.host_dir)

    @property
    def host_dir(self) -> Path:
        if self.install.chroot:
            return self.install.chroot / "ivr-instances" / self.name
        return PROJECT / ".local" / "ivr-instances" / self.name

    @property
    def sounds_host_dir(self) -> Path:
        return self.host_dir / "sounds"

    @property
    def sounds_ast_dir(self) -> str:
        return f"{self.ast_dir}/sounds"

    @property
    def ari_url(self) -> str:
        return f"http://127.0.0.1:{self.ari_port}"

    @property
    def log_file(self) -> Path:
        return self.host_dir / "log" / "messages.log"

    def values(self) -> dict[str, str]:
        d = self.ast_dir
        return {
            "ETC_DIR": f"{d}/etc",
            "MOD_DIR": self.install.moddir,
            "DATA_DIR": "/usr/share/asterisk",
            "LIB_DIR": f"{d}/lib",
            "SPOOL_DIR": f"{d}/spool",
            "RUN_DIR": f"{d}/run",
            "LOG_DIR": f"{d}/log",
            "SOUNDS_DIR": self.sounds_ast_dir,
            "ARI_PORT": str(self.ari_port),
            "ARI_USER": self.ari_user,
            "ARI_PASSWORD": self.ari_password,
            "ARI_APP": self.app,
            "SIP_BIND": "127.0.0.1",
            "SIP_PORT": str(self.sip_port),
            "TRUNK_HOST": self.trunk_host,
            "TRUNK_PORT": str(self.trunk_port),
            "TRUNK_QUALIFY": "0",  # test trunks are SIPp scripts that expect no OPTIONS
            "DTMF_LOG": ",dtmf",  # tests and benches read key presses from messages.log
            "RTP_START": str(self.rtp_start),
            "RTP_END": str(self.rtp_end),
        }

    def render(self) -> None:
        """Write the instance's config from asterisk-conf/, substituting every placeholder."""
        for sub in ("etc", "lib", "spool", "run", "log", "sounds"):
            (self.host_dir / sub).mkdir(parents=True, exist_ok=True)
        render_dir(self.values(), self.host_dir / "etc")
        (self.host_dir / "etc" / "ari.conf").chmod(0o600)  # holds the ARI password

    def _cmd(self, *args: str) -> list[str]:
        base = [self.install.binary, "-C", f"{self.ast_dir}/etc/asterisk.conf", *args]
        return ["chroot", str(self.install.chroot), *base] if self.install.chroot else base

    def start(self) -> None:
        if self.install.chroot:
            _ensure_chroot_mounts(self.install.chroot)
        out = open(self.host_dir / "log" / "console.out", "ab")  # noqa: SIM115 - owned by the child
        self.process = subprocess.Popen(
            self._cmd("-f", "-n"),
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            env={**os.environ, "TZ": "Asia/Tokyo"},  # log times as the city reads them
        )
        out.close()

    async def wait_ready(self, timeout: float = 40.0) -> None:
        """Poll ARI until Asterisk answers (≈ a few seconds after start)."""
        deadline = time.monotonic() + timeout
        auth = aiohttp.encode_basic_auth(self.ari_user, self.ari_password)
        async with aiohttp.ClientSession() as s:
            while time.monotonic() < deadline:
                if self.process is not None and self.process.poll() is not None:
                    raise AsteriskSetupError(f"Asterisk exited: {self.console_tail()}")
                try:
                    async with s.get(
                        f"{self.ari_url}/ari/asterisk/info", headers={"Authorization": auth}
                    ) as r:
                        if r.status == 200:
                            return
                except aiohttp.ClientError:
                    pass
                await asyncio.sleep(0.2)
        raise AsteriskSetupError(f"Asterisk ARI not ready after {timeout}s: {self.console_tail()}")

    def cli(self, command: str, timeout: float = 10.0) -> str:
        r = subprocess.run(
            self._cmd("-rx", command), capture_output=True, text=True, timeout=timeout, check=False
        )
        return r.stdout + r.stderr

    def console_tail(self, lines: int = 30) -> str:
        path = self.host_dir / "log" / "console.out"
        return (
            "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
            if path.exists()
            else ""
        )

    def log_text(self) -> str:
        return self.log_file.read_text(errors="replace") if self.log_file.exists() else ""

    def stop(self, timeout: float = 10.0) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            self.cli("core stop now", timeout=timeout)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        self.process = None

    def remove(self) -> None:
        shutil.rmtree(self.host_dir, ignore_errors=True)


def _ensure_chroot_mounts(root: Path) -> None:
    # Asterisk needs no /proc in the chroot, so nothing is left mounted under the project
    # (a mounted /proc would make `rm -rf` of a checkout fail). It does need the host's
    # name resolution files: without them its own-name lookups stall under load.
    for name in ("hosts", "resolv.conf"):
        src = Path("/etc") / name
        if src.exists():
            shutil.copyfile(src, root / "etc" / name)
