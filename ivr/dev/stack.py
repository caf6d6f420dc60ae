"""A whole local system: database, private Asterisk, and the controller process.

``make run`` and the end-to-end tests both build one of these, so the tests
exercise exactly what an operator starts.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ivr.dev.asterisk import Instance


@dataclass
class Stack:
    dsn: str
    asterisk: Instance
    workdir: Path
    extra_config: dict[str, Any] = field(default_factory=dict)
    controller: subprocess.Popen[bytes] | None = None
    _log_offset: int = 0

    @property
    def config_file(self) -> Path:
        return self.workdir / "ivr.yaml"

    @property
    def log_file(self) -> Path:
        return self.workdir / "controller.log"

    def write_config(self) -> Path:
        """The controller's settings for this stack (secrets go in the environment)."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        a = self.asterisk
        config: dict[str, Any] = {
            "ari": {
                "url": a.ari_url,
                "app": a.app,
                "username": a.ari_user,
                "reconnect_min": 0.2,
                "reconnect_max": 2.0,
            },
            "database": {"spool_dir": str(self.workdir / "spool")},
            "prompts": {"sounds_dir": str(a.sounds_host_dir), "asterisk_dir": a.sounds_ast_dir},
            "log": {"level": "debug", "json": "yes"},
            "stats": {"cel_file": str(a.host_dir / "log" / "cel-ivr.csv")},
        }
        for section, values in self.extra_config.items():
            config.setdefault(section, {}).update(values)
        self.config_file.write_text(yaml.safe_dump(config, allow_unicode=True))
        return self.config_file

    def env(self) -> dict[str, str]:
        return {
            **os.environ,
            "IVR_ARI_PASSWORD": self.asterisk.ari_password,
            "IVR_DATABASE_URL": self.dsn,
            "PYTHONUNBUFFERED": "1",
        }

    def run_cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "ivr", "--config", str(self.write_config()), *args],
            env=self.env(),
            capture_output=True,
            text=True,
            check=False,
        )

    def start_controller(self) -> None:
        self.write_config()
        out = open(self.log_file, "ab")  # noqa: SIM115 - handed to the child
        self._log_offset = self.log_file.stat().st_size
        self.controller = subprocess.Popen(
            [sys.executable, "-m", "ivr", "--config", str(self.config_file), "run"],
            env=self.env(),
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        out.close()

    async def wait_log(
        self, event: str, timeout: float = 60.0, since_start: bool = True, **match: Any
    ) -> dict[str, Any]:
        """Wait until the controller logs ``event`` (with the given field values)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for entry in self.log_entries(since_start):
                if entry.get("event") == event and all(entry.get(k) == v for k, v in match.items()):
                    return entry
            if self.controller is not None and self.controller.poll() is not None:
                raise RuntimeError(f"controller exited: {self.log_tail()}")
            await asyncio.sleep(0.1)
        raise TimeoutError(f"controller did not log {event} {match}: {self.log_tail()}")

    def log_entries(self, since_start: bool = True) -> list[dict[str, Any]]:
        if not self.log_file.exists():
            return []
        with self.log_file.open("rb") as f:
            if since_start:
                f.seek(self._log_offset)
            lines = f.read().decode(errors="replace").splitlines()
        entries = []
        for line in lines:
            try:
                entries.append(json.loads(line))
            except ValueError:
                continue
        return entries

    def log_tail(self, lines: int = 40) -> str:
        if not self.log_file.exists():
            return ""
        return "\n".join(self.log_file.read_text(errors="replace").splitlines()[-lines:])

    def stop_controller(self, sig: int = signal.SIGTERM, timeout: float = 15.0) -> int | None:
        proc, self.controller = self.controller, None
        if proc is None:
            return None
        if proc.poll() is None:
            proc.send_signal(sig)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        return proc.returncode
