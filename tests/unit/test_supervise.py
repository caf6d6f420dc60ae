"""make run's supervisor with real short-lived children: restart with backoff, clean stop."""

from __future__ import annotations

import asyncio
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from ivr.dev.supervise import Backoff, Child, Supervisor, describe

FAST = Backoff(initial=0.05, maximum=0.2, reset_after=10.0)


def python(name: str, code: str, stop_timeout: float = 5.0) -> Child:
    return Child.command(name, [sys.executable, "-c", code], stop_timeout=stop_timeout)


def alive(pid: int) -> bool:
    """True while ``pid`` runs (a zombie nobody has reaped yet counts as gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


async def until(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.02)


def delays(lines: list[str]) -> list[float]:
    return [float(m.group(1)) for line in lines if (m := re.search(r"restarting in (\S+)s", line))]


@pytest.mark.parametrize(
    ("previous", "uptime", "expected"),
    [
        (None, 0.0, 0.5),  # the first restart
        (0.5, 1.0, 1.0),
        (8.0, 1.0, 16.0),
        (16.0, 1.0, 30.0),  # capped
        (30.0, 1.0, 30.0),
        (30.0, 59.9, 30.0),
        (30.0, 60.0, 0.5),  # stayed up long enough: start over
    ],
)
def test_backoff_doubles_up_to_the_cap_and_resets(
    previous: float | None, uptime: float, expected: float
) -> None:
    """The delay doubles from 0.5 s to 30 s and goes back to 0.5 s after 60 s of uptime."""
    assert Backoff().next(previous, uptime) == expected


def test_describe_names_exit_codes_and_signals() -> None:
    """A return code is shown as an exit code, a negative one as the signal's name."""
    assert describe(0) == "exit code 0"
    assert describe(3) == "exit code 3"
    assert describe(-signal.SIGKILL) == "killed by SIGKILL"


async def test_crashing_child_is_restarted_with_doubling_delays() -> None:
    """A child that keeps exiting is started again after 0.05, 0.1, 0.2, 0.2 s, each time
    as a new process, and every restart is reported with the exit code and delay."""
    lines: list[str] = []
    pids: list[int | None] = []
    sup = Supervisor(FAST, lines.append, on_start=lambda c: pids.append(c.pid))
    child = python("crasher", "import sys; sys.exit(3)")
    try:
        sup.start(child)
        await until(lambda: len(pids) >= 5)
    finally:
        await sup.stop()
    assert delays(lines)[:4] == [0.05, 0.1, 0.2, 0.2]
    assert lines[0].startswith("supervisor: crasher exit code 3 after ")
    assert lines[0].endswith("; restarting in 0.05s")
    assert len(set(pids)) == len(pids)


async def test_backoff_resets_after_the_child_stayed_up(tmp_path: Path) -> None:
    """After a run longer than reset_after, the next delay is the initial one again."""
    counter = tmp_path / "runs"
    counter.write_text("0")
    code = (
        "import pathlib, sys, time\n"
        f"p = pathlib.Path({str(counter)!r})\n"
        "n = int(p.read_text()) + 1\n"
        "p.write_text(str(n))\n"
        "if n == 3:\n"
        "    time.sleep(1.5)\n"
        "sys.exit(1)\n"
    )
    lines: list[str] = []
    sup = Supervisor(Backoff(initial=0.05, maximum=5.0, reset_after=1.0), lines.append)
    try:
        sup.start(python("flaky", code))
        await until(lambda: len(delays(lines)) >= 4)
    finally:
        await sup.stop()
    assert delays(lines)[:4] == [0.05, 0.1, 0.05, 0.1]


async def test_death_by_signal_is_reported_and_leftovers_are_killed(tmp_path: Path) -> None:
    """A child killed by SIGKILL is reported as such and restarted, and the process it
    had started (its group) does not outlive it."""
    grandchild = tmp_path / "grandchild.pid"
    code = (
        "import os, pathlib, signal, subprocess, sys\n"
        "g = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'])\n"
        f"pathlib.Path({str(grandchild)!r}).write_text(str(g.pid))\n"
        "os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    lines: list[str] = []
    sup = Supervisor(Backoff(initial=5.0), lines.append)
    try:
        sup.start(python("victim", code))
        await until(lambda: len(lines) >= 1)
        assert lines[0].startswith("supervisor: victim killed by SIGKILL after ")
        assert lines[0].endswith("; restarting in 5s")
        pid = int(grandchild.read_text())
        await until(lambda: not alive(pid), timeout=2.0)
    finally:
        await sup.stop()


async def test_a_child_that_cannot_start_is_retried() -> None:
    """A failed start is reported and retried with the same backoff, until it starts."""
    attempts = 0

    def spawn() -> subprocess.Popen[bytes]:
        nonlocal attempts
        attempts += 1
        if attempts == 2:
            raise FileNotFoundError("no such program")
        code = "import sys; sys.exit(1)" if attempts == 1 else "import time; time.sleep(60)"
        return subprocess.Popen([sys.executable, "-c", code], start_new_session=True)

    lines: list[str] = []
    sup = Supervisor(FAST, lines.append)
    child = Child("picky", spawn)
    try:
        sup.start(child)
        await until(lambda: attempts == 3 and child.running())
    finally:
        await sup.stop()
    assert lines[1] == "supervisor: picky could not start (no such program); restarting in 0.1s"
    assert delays(lines) == [0.05, 0.1]
    assert lines[-1] == f"supervisor: picky restarted (pid {child.pid})"


async def test_stop_terms_then_kills_in_reverse_start_order(tmp_path: Path) -> None:
    """stop() sends SIGTERM to the last started child first; one that ignores SIGTERM is
    killed (with its group) after its stop_timeout; nothing is restarted afterwards."""
    order = tmp_path / "order"
    grandchild = tmp_path / "grandchild.pid"

    def polite(name: str) -> str:
        return (
            "import pathlib, signal, sys, time\n"
            "def bye(*_):\n"
            f"    with open({str(order)!r}, 'a') as f: f.write({name!r} + '\\n')\n"
            "    sys.exit(0)\n"
            "signal.signal(signal.SIGTERM, bye)\n"
            f"pathlib.Path({str(tmp_path / name)!r}).touch()\n"
            "time.sleep(60)\n"
        )

    stubborn = (
        "import pathlib, signal, subprocess, sys, time\n"
        "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
        "g = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'])\n"
        f"pathlib.Path({str(grandchild)!r}).write_text(str(g.pid))\n"
        "time.sleep(60)\n"
    )
    lines: list[str] = []
    sup = Supervisor(FAST, lines.append)
    first, middle, last = (
        python("first", polite("first")),
        python("stubborn", stubborn, 0.5),
        python("last", polite("last")),
    )
    try:
        for child in (first, middle, last):
            sup.start(child)
        await until(
            lambda: (
                (tmp_path / "first").exists()
                and (tmp_path / "last").exists()
                and grandchild.exists()
            )
        )
    finally:
        started = time.monotonic()
        await sup.stop()
        took = time.monotonic() - started
    assert order.read_text().split() == ["last", "first"]
    assert [c.process.returncode for c in (first, middle, last) if c.process] == [
        0,
        -signal.SIGKILL,
        0,
    ]
    assert lines == ["supervisor: stubborn ignored SIGTERM for 0.5s: killed"]
    assert 0.5 <= took < 5.0
    assert not alive(int(grandchild.read_text()))
    await asyncio.sleep(0.2)
    assert not any(c.running() for c in (first, middle, last))
