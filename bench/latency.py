"""DTMF -> next prompt latency and call setup time, with real SIPp calls.

``python -m bench.latency [--calls N] [--concurrency C]`` builds its own stack as the
end-to-end tests do (fresh database, private Asterisk, controller process), places
N calls in batches of C that press 1 during the main menu, and prints figures from
three sources: Asterisk's millisecond log (``DTMF end`` -> next ``Playing`` on the
same channel), the controller's ``dtmf_to_prompt`` debug entries, and the calls
table (answered_at - started_at). The flow's ``pause_after_input`` is a deliberate
silence after a key, so each latency is shown raw and minus that pause. Nothing is
asserted: the exit status is non-zero only when the bench itself could not run.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import math
import os
import re
import shutil
import signal
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import asyncpg

from ivr.dev import postgres
from ivr.dev.asterisk import Instance, load_install
from ivr.dev.call import menu_steps
from ivr.dev.sipp import CallResult, Step, place_call
from ivr.dev.stack import Stack
from ivr.flow.loader import load_default_flow
from ivr.prompts.library import PromptLibrary
from ivr.store.migrate import migrate

DIALLED = "0501234567"
TAIL_MS = 3000  # listen this long after the key, then hang up
_TS = r"^\[(?P<ts>\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3})\]"
_DTMF_END = re.compile(_TS + r".*DTMF end '.' received on (?P<chan>[^,\s]+)")
_PLAYING = re.compile(_TS + r".*<(?P<chan>[^>]+)> Playing '")


@dataclass
class Usage:
    """A process's CPU seconds (user + system) and memory, from /proc."""

    cpu_s: float
    rss_kb: int
    peak_kb: int


@dataclass
class Figures:
    calls: int
    concurrency: int
    pause_ms: float
    failed: list[CallResult] = field(default_factory=list)
    asterisk_ms: list[float] = field(default_factory=list)
    dtmf_unmatched: int = 0
    controller_ms: list[float] = field(default_factory=list)
    setup_ms: list[float] = field(default_factory=list)
    rows: int = 0
    controller: dict[str, Usage] = field(default_factory=dict)  # "before calls", "end"
    asterisk_cpu_s: float = 0.0  # during the calls
    seconds: float = 0.0


def dtmf_to_prompt(log_text: str) -> tuple[list[float], int]:
    """Pair each ``DTMF end`` with the next ``Playing`` on the same channel (ms);
    also return how many key presses were followed by no prompt at all."""
    pending: dict[str, datetime] = {}
    out: list[float] = []
    for line in log_text.splitlines():
        if m := _DTMF_END.match(line):
            pending[m["chan"]] = datetime.strptime(m["ts"], "%Y-%m-%d %H:%M:%S.%f")
        elif (m := _PLAYING.match(line)) and m["chan"] in pending:
            at = datetime.strptime(m["ts"], "%Y-%m-%d %H:%M:%S.%f")
            out.append((at - pending.pop(m["chan"])).total_seconds() * 1000)
    return out, len(pending)


def usage(pid: int) -> Usage:
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat.rsplit(")", 1)[1].split()  # after "pid (comm)"; utime, stime = fields 14, 15
    cpu = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    status = dict(
        line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines()
    )
    kb = {k: int(status[k].split()[0]) for k in ("VmRSS", "VmHWM")}
    return Usage(cpu, kb["VmRSS"], kb["VmHWM"])


def percentile(values: list[float], p: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


def report(f: Figures) -> str:
    def row(name: str, values: list[float]) -> str:
        if not values:
            return f"  {name:<40} {0:>5}      -      -      -      -"
        cells = " ".join(f"{percentile(values, p):6.1f}" for p in (50, 95, 99, 100))
        return f"  {name:<40} {len(values):>5} {cells}"

    pause = f.pause_ms
    ast, ctl = f.asterisk_ms, f.controller_ms
    clashes = sum("Unable to bind" in r.output for r in f.failed)
    clash = f"; {clashes} were SIPp unable to bind its own port (no call made)" if clashes else ""
    lines = [
        f"myna-ivr bench: {f.calls} calls, concurrency {f.concurrency}, "
        f"{f.seconds:.0f} s of calls; flow pause_after_input = {pause:.0f} ms",
        f"  {'latency (ms)':<40} {'n':>5} {'p50':>6} {'p95':>6} {'p99':>6} {'max':>6}",
        row("DTMF→prompt, Asterisk log (raw)", ast),
        row("DTMF→prompt, Asterisk log − pause", [v - pause for v in ast]),
        row("DTMF→prompt, controller log (raw)", ctl),
        row("DTMF→prompt, controller log − pause", [v - pause for v in ctl]),
        row("call setup, answered_at − started_at", f.setup_ms),
        f"  calls: {f.calls} placed, {len(f.failed)} failed (SIPp non-zero{clash}), "
        f"{f.rows} recorded; key presses followed by no prompt: {f.dtmf_unmatched}",
    ]
    before, end = f.controller.get("before calls"), f.controller.get("end")
    if before and end:
        lines.append(
            f"  controller: peak RSS (VmHWM) {end.peak_kb / 1024:.1f} MB, RSS at end "
            f"{end.rss_kb / 1024:.1f} MB; CPU {end.cpu_s:.2f} s in all (incl. start-up "
            f"prompt synthesis), {end.cpu_s - before.cpu_s:.2f} s during the calls"
        )
    lines.append(f"  asterisk: CPU {f.asterisk_cpu_s:.2f} s during the calls")
    for bad in f.failed[:3]:
        lines.append(f"  --- failed call (SIPp exit {bad.returncode}):\n{bad.output[-600:]}")
    return "\n".join(lines)


async def place_calls(sip_port: int, steps: list[Step], n: int, c: int) -> list[CallResult]:
    results: list[CallResult] = []
    for start in range(0, n, c):
        batch = [
            place_call(sip_port, DIALLED, f"090{i:08d}", steps, tail_ms=TAIL_MS)
            for i in range(start, min(n, start + c))
        ]
        results += await asyncio.gather(*batch)
    return results


async def read_calls(dsn: str, expected: int, timeout: float = 20.0) -> list[float]:
    """Setup time (ms) of every recorded call, once ``expected`` calls have ended."""
    conn = await asyncpg.connect(dsn)
    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            ended = await conn.fetchval("SELECT count(*) FROM calls WHERE ended_at IS NOT NULL")
            if ended >= expected:
                break
            await asyncio.sleep(0.2)
        rows = await conn.fetch(
            "SELECT extract(epoch FROM answered_at - started_at) * 1000 AS ms "
            "FROM calls WHERE answered_at IS NOT NULL"
        )
        return [float(r["ms"]) for r in rows]
    finally:
        await conn.close()


def copy_logs(keep: Path, *logs: Path) -> None:
    keep.mkdir(parents=True, exist_ok=True)
    for log in logs:
        if log.exists():
            shutil.copy(log, keep / log.name)


def kill_sipp_children() -> None:
    """SIPp callers left behind when the bench is stopped mid-call (by their pids)."""
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            pid, rest = stat.read_text().split(" ", 1)
        except OSError:
            continue
        if rest.startswith("(sipp)") and int(rest.rsplit(")", 1)[1].split()[1]) == os.getpid():
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(pid), signal.SIGKILL)


def start_asterisk(inst: Instance) -> None:
    inst.render()
    PromptLibrary(inst.sounds_host_dir, inst.sounds_ast_dir).build_system()
    inst.start()


async def bench(calls: int, concurrency: int, work: Path, keep: Path | None) -> Figures:
    flow = load_default_flow()
    figures = Figures(calls, concurrency, flow.settings.pause_after_input * 1000)
    inst = Instance(f"bench-{uuid.uuid4().hex[:8]}", load_install())
    admin = await postgres.admin_dsn()
    db_name = f"ivr_bench_{uuid.uuid4().hex[:10]}"
    dsn = await postgres.create_database(admin, db_name)
    stack = Stack(dsn, inst, work)
    try:
        conn = await asyncpg.connect(dsn)
        try:
            await migrate(conn)
        finally:
            await conn.close()
        await asyncio.to_thread(start_asterisk, inst)
        await inst.wait_ready()
        stack.start_controller()
        print("controller starting (synthesises every prompt first) ...", flush=True)
        await stack.wait_log("ari_connected", timeout=240)
        assert stack.controller is not None and inst.process is not None
        pid, ast_pid = stack.controller.pid, inst.process.pid
        library = PromptLibrary(inst.sounds_host_dir, inst.sounds_ast_dir)
        steps = menu_steps(library, flow, "1")
        figures.controller["before calls"] = usage(pid)
        ast_before = usage(ast_pid).cpu_s
        print(f"placing {calls} calls, {concurrency} at a time ...", flush=True)
        began = time.monotonic()
        results = await place_calls(inst.sip_port, steps, calls, concurrency)
        figures.seconds = time.monotonic() - began
        figures.failed = [r for r in results if not r.ok]
        figures.setup_ms = await read_calls(dsn, calls - len(figures.failed))
        figures.rows = len(figures.setup_ms)
        figures.controller["end"] = usage(pid)
        figures.asterisk_cpu_s = usage(ast_pid).cpu_s - ast_before
        figures.asterisk_ms, figures.dtmf_unmatched = dtmf_to_prompt(inst.log_text())
        figures.controller_ms = [
            float(e["ms"]) for e in stack.log_entries() if e.get("event") == "dtmf_to_prompt"
        ]
        return figures
    finally:
        kill_sipp_children()
        stack.stop_controller()
        await asyncio.to_thread(inst.stop)
        if keep is not None:  # the raw logs, to look into the figures
            copy_logs(keep, inst.log_file, stack.log_file)
        inst.remove()
        await postgres.drop_database(admin, db_name)


async def main_async(calls: int, concurrency: int, keep: Path | None) -> int:
    task = asyncio.current_task()
    assert task is not None
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)
    work = Path(tempfile.mkdtemp(prefix="ivr-bench-"))
    try:
        figures = await bench(calls, concurrency, work, keep)
    except Exception as e:
        print(f"bench could not run: {type(e).__name__}: {e}", file=sys.stderr)
        return 1
    except asyncio.CancelledError:
        print("bench stopped before the end; everything it started is stopped", file=sys.stderr)
        return 1
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(report(figures))
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description="DTMF→prompt latency with real SIPp calls")
    parser.add_argument("--calls", type=int, default=20, help="calls to place (default 20)")
    parser.add_argument("--concurrency", type=int, default=10, help="calls at once (default 10)")
    parser.add_argument(
        "--keep-logs", type=Path, help="copy Asterisk's and the controller's log here"
    )
    args = parser.parse_args()
    if args.calls < 1 or args.concurrency < 1:
        parser.error("--calls and --concurrency must be at least 1")
    try:
        return asyncio.run(main_async(args.calls, args.concurrency, args.keep_logs))
    except KeyboardInterrupt:
        print("bench interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
