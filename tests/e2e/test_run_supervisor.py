"""``make run`` restarts a controller that dies while Asterisk stays up, restarts a
dead Asterisk too, and a SIGTERM stops everything it started."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from ivr.dev.asterisk import Instance, load_install
from ivr.dev.postgres import PROJECT, free_port
from ivr.dev.run import instance_name


def _children(pid: int) -> dict[str, int]:
    """The live child processes of ``pid`` by role: asterisk, controller, admin."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            argv = (entry / "cmdline").read_bytes().decode(errors="replace").split("\0")
        except OSError:
            continue
        state, ppid = stat.rsplit(")", 1)[1].split()[:2]
        if int(ppid) != pid or state == "Z":
            continue
        if argv[0].endswith("asterisk"):
            found["asterisk"] = int(entry.name)
        elif argv[1:3] == ["-m", "ivr"]:
            found["controller"] = int(entry.name)
        elif argv[1:3] == ["-m", "ivr_admin"]:
            found["admin"] = int(entry.name)
    return found


def _alive(pid: int) -> bool:
    try:
        return (Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]) != "Z"
    except FileNotFoundError:
        return False


def _events(out: Path, name: str) -> int:
    count = 0
    for line in out.read_text(errors="replace").splitlines():
        if line.startswith("{"):
            try:
                count += json.loads(line).get("event") == name
            except ValueError:
                continue
    return count


async def _until(
    proc: subprocess.Popen[bytes], out: Path, what: str, check: Callable[[], bool], timeout: float
) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if proc.poll() is not None:
            raise AssertionError(f"make run exited while waiting for {what}:\n{out.read_text()}")
        if time.monotonic() > deadline:
            raise AssertionError(f"no {what} after {timeout}s:\n{out.read_text()[-4000:]}")
        await asyncio.sleep(0.2)


@pytest.mark.timeout(420)
async def test_dead_children_restarted_then_all_stopped(database_dsn: str, tmp_path: Path) -> None:
    """SIGKILL of the controller: a new controller connects to ARI, Asterisk keeps its pid;
    SIGKILL of Asterisk: a new one comes up and the controller reconnects to it;
    then SIGTERM to make run: it exits 0 and every process it started is gone."""
    run_dir = tmp_path / "run"
    env = {
        **os.environ,
        "IVR_RUN_DIR": str(run_dir),
        "IVR_DATABASE_URL": database_dsn,
        "IVR_SIP_PORT": str(free_port()),
        "IVR_ARI_PORT": str(free_port()),
        "IVR_ADMIN_PORT": str(free_port()),
    }
    env.pop("IVR_ARI_PASSWORD", None)
    out = tmp_path / "run.out"
    with out.open("wb") as sink:
        proc = subprocess.Popen(
            [sys.executable, "-m", "ivr.dev.run"],
            cwd=PROJECT,
            env=env,
            stdout=sink,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    seen: dict[str, int] = {}
    try:
        # The first start synthesises every prompt of the flow: allow for it.
        await _until(proc, out, "ari_connected", lambda: _events(out, "ari_connected") >= 1, 240)
        seen = _children(proc.pid)
        assert set(seen) == {"asterisk", "controller", "admin"}, seen

        os.kill(seen["controller"], signal.SIGKILL)
        await _until(proc, out, "a new connection", lambda: _events(out, "ari_connected") >= 2, 60)
        now = _children(proc.pid)
        assert now["controller"] != seen["controller"]
        assert now["asterisk"] == seen["asterisk"]
        assert now["admin"] == seen["admin"]
        text = out.read_text()
        assert "supervisor: controller killed by SIGKILL after " in text
        assert f"supervisor: controller restarted (pid {now['controller']})" in text
        seen.update(now)

        os.kill(seen["asterisk"], signal.SIGKILL)
        await _until(proc, out, "a reconnection", lambda: _events(out, "ari_connected") >= 3, 60)
        now = _children(proc.pid)
        assert now["asterisk"] != seen["asterisk"]
        assert now["controller"] == seen["controller"]
        assert "supervisor: asterisk killed by SIGKILL after " in out.read_text()
        seen.update(now)

        proc.send_signal(signal.SIGTERM)
        assert await asyncio.to_thread(proc.wait, 60) == 0
        assert out.read_text().rstrip().endswith("stopped.")
        assert not [name for name, pid in seen.items() if _alive(pid)]
        assert not (run_dir / "state.json").exists()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        for pid in seen.values():
            if _alive(pid):
                os.killpg(pid, signal.SIGKILL)
        Instance(instance_name(run_dir), load_install()).remove()
