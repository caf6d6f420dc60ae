"""Profiles for ``make bench BENCH_FLAGS="--profile 600"``: where the controller spends
its CPU (py-spy, sampling without pausing the process, speech worker included) and
which of Asterisk's task processors queue up (``core show taskprocessors``) while one
run of a step is under way. Printed after the comparison; the raw files are kept."""

from __future__ import annotations

import asyncio
import re
import shutil
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from ivr.dev.asterisk import Instance

RATE = 200  # py-spy samples per second


@dataclass(frozen=True)
class Processor:
    name: str
    processed: int
    max_depth: int


_ROW = re.compile(r"^(?P<name>\S+)\s+(?P<processed>\d+)\s+\d+\s+(?P<max>\d+)\b", re.MULTILINE)


def taskprocessors(text: str) -> dict[str, Processor]:
    """``core show taskprocessors``: name, processed, in queue, max depth, ..."""
    return {
        m["name"]: Processor(m["name"], int(m["processed"]), int(m["max"]))
        for m in _ROW.finditer(text)
    }


def busiest(before: dict[str, Processor], after: dict[str, Processor], n: int = 8) -> list[str]:
    """The processors that did the most work between two readings, grouped by kind
    (per-channel processors have a unique suffix), with their deepest queue."""
    work: Counter[str] = Counter()
    depth: dict[str, int] = {}
    count: Counter[str] = Counter()
    for name, p in after.items():
        kind = re.sub(r"[-/][0-9a-f]{8}.*$|-\d+$", "-*", name)
        work[kind] += p.processed - (before[name].processed if name in before else 0)
        depth[kind] = max(depth.get(kind, 0), p.max_depth)
        count[kind] += 1
    return [
        f"{kind:<44} {n_done:>9,} tasks  max depth {depth[kind]:>5}  ({count[kind]} queues)"
        for kind, n_done in work.most_common(n)
    ]


def top_functions(collapsed: str, n: int = 15) -> tuple[int, list[str], list[str]]:
    """From py-spy's raw (collapsed-stack) output: the sample count, the functions
    with the most samples of their own, and those with the most samples inclusive."""
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    for line in collapsed.splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        total += count
        frames = [_short(f) for f in stack.split(";")]
        own[frames[-1]] += count
        for frame in set(frames):
            if not frame.startswith("process ") and not frame.endswith(_PLUMBING):
                inclusive[frame] += count

    def rows(c: Counter[str]) -> list[str]:
        return [f"{100 * k / max(total, 1):5.1f}%  {name}" for name, k in c.most_common(n)]

    return total, rows(own), rows(inclusive)


# Frames every sample passes through: the interpreter's start and the event loop.
_PLUMBING = ("(runners.py)", "(base_events.py)", "(<frozen runpy>)", "(__main__.py)")


def _short(frame: str) -> str:
    """``func (path/to/module.py:12)`` → ``func (module.py)``: lines split a function."""
    m = re.match(r"^(?P<fn>.*?) \((?P<path>[^:)]*)(?::\d+)?\)$", frame)
    if m is None:
        return frame
    return f"{m['fn']} ({Path(m['path']).name})"


class Profiler:
    """Started when a run begins, stopped when it ends."""

    def __init__(self, out: Path, inst: Instance, controller_pid: int | None) -> None:
        self.out, self.inst, self.pid = out, inst, controller_pid
        self.proc: asyncio.subprocess.Process | None = None
        self.before: dict[str, Processor] = {}

    async def start(self, seconds: float) -> None:
        self.out.mkdir(parents=True, exist_ok=True)
        self.before = taskprocessors(await asyncio.to_thread(self.inst.cli, TP_COMMAND))
        beside = Path(sys.executable).with_name("py-spy")  # the venv's, off PATH
        spy = str(beside) if beside.exists() else shutil.which("py-spy")
        if self.pid is not None and spy is not None:
            self.proc = await asyncio.create_subprocess_exec(
                *[spy, "record", "--pid", str(self.pid), "--duration", str(int(seconds))],
                *["--rate", str(RATE), "--format", "raw", "--nonblocking", "--subprocesses"],
                *["--output", str(self.out / "controller.txt")],
                stdout=asyncio.subprocess.DEVNULL,
                stderr=(self.out / "py-spy.err").open("w"),
            )

    async def stop(self) -> list[str]:
        text = await asyncio.to_thread(self.inst.cli, TP_COMMAND)
        (self.out / "taskprocessors.txt").write_text(text)
        lines = ["Asterisk task processors during the run (busiest kinds):"]
        lines += ["  " + row for row in busiest(self.before, taskprocessors(text))]
        if self.proc is not None:
            try:
                await asyncio.wait_for(self.proc.wait(), 60)
            except TimeoutError:
                self.proc.kill()
            raw = self.out / "controller.txt"
            if raw.exists():
                total, own, incl = top_functions(raw.read_text())
                lines.append(f"controller (py-spy, {total:,} samples at {RATE}/s), own time:")
                lines += ["  " + row for row in own]
                lines.append("inclusive:")
                lines += ["  " + row for row in incl]
            else:
                err = (self.out / "py-spy.err").read_text().strip()
                lines.append(f"controller: py-spy wrote nothing ({err or 'no message'})")
        return lines


TP_COMMAND = "core show taskprocessors"
