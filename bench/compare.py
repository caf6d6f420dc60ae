"""``make bench``: our IVR against a native dialplan IVR on the same Asterisk.

``python -m bench.compare [--steps 200,400,...] [--repeats 3] [--listen S]`` builds
a private stack as the end-to-end tests do (fresh database, private Asterisk, the
controller process serving the shipped flow), appends to that instance's rendered
``extensions.conf`` the flow's first menu as a plain ``Background``/``WaitExten``
dialplan on the same prompt files (``bench/native.py``), and then, for each
concurrency step and each column, runs one SIPp process placing that many calls
at once (started over ``--ramp`` seconds): each caller listens to the greeting,
presses 1 two seconds into the menu, hears the guidance for ``--listen`` seconds and
hangs up. Every step is repeated (``--repeats``, at least 3 for figures worth
reading) and shown with its spread; a column stops at the first step it fails.

Printed per column and step: failed calls, DTMF → next prompt p50/p95/p99 from
Asterisk's millisecond log (the flow's ``pause_after_input`` included in both
columns), call setup (INVITE → 200 OK, from SIPp), Asterisk's and the controller's
CPU (% of one core over the step; the controller's includes its speech worker if one
runs) and memory, and for ours the database write lag (the last call's hang-up to
its record ended in PostgreSQL). Then capacity (the highest step with no failed call
and p99 within 100 ms of the pause, in the median run) and the ratios ours/native.

Nothing is asserted. A full run loads every core for many minutes: run it on an
otherwise idle machine; on a machine with three cores or more SIPp is pinned to the
last one (``taskset``), away from Asterisk and the controller.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import resource
import shutil
import signal
import statistics
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg

from bench.latency import Usage, dtmf_to_prompt, kill_sipp_children, percentile, usage
from bench.native import NUMBER, dialplan, first_menu, install, media_of
from bench.profile import Profiler
from ivr.dev import postgres
from ivr.dev.asterisk import Instance, load_install
from ivr.dev.call import prompt_ms
from ivr.dev.postgres import free_port
from ivr.dev.sipp import Step, scenario
from ivr.dev.stack import Stack
from ivr.flow.loader import load_default_flow
from ivr.flow.model import Flow
from ivr.prompts.library import PromptLibrary
from ivr.store.migrate import migrate

OURS_NUMBER = "0501234567"
CALLER = "09000000000"
SLACK_MS = 100.0  # capacity: p99 within this much of the pause


@dataclass
class Run:
    """One SIPp run of one column at one concurrency."""

    placed: int
    failed: int
    dtmf_ms: list[float]
    unmatched: int
    setup_ms: list[float]
    asterisk_cpu: float  # % of one core over the run
    controller_cpu: float | None
    controller_rss_mb: float | None
    db_lag_s: float | None
    postgres_cpu: float | None = 0.0  # every postgres process (the server is otherwise idle)
    sipp_cpu: float = 0.0
    machine_cpu: float = 0.0  # all cores together, % of one core (200 = two cores busy)

    def p(self, q: float) -> float:
        return percentile(self.dtmf_ms, q) if self.dtmf_ms else float("nan")

    def ok(self, pause_ms: float) -> bool:
        return self.failed == 0 and bool(self.dtmf_ms) and self.p(99) <= pause_ms + SLACK_MS


@dataclass
class Level:
    concurrency: int
    runs: list[Run] = field(default_factory=list)

    def median(self, get: str) -> float:
        values = [_get(r, get) for r in self.runs]
        found = [v for v in values if v is not None]
        return statistics.median(found) if found else float("nan")

    def spread(self, get: str) -> tuple[float, float]:
        found = [v for r in self.runs if (v := _get(r, get)) is not None]
        return (min(found), max(found)) if found else (float("nan"), float("nan"))

    def ok(self, pause_ms: float) -> bool:
        """The median run passes: most runs have no failed call and a p99 in bounds."""
        return sum(r.ok(pause_ms) for r in self.runs) * 2 > len(self.runs)


def _get(run: Run, name: str) -> float | None:
    match name:
        case "p50":
            return run.p(50)
        case "p95":
            return run.p(95)
        case "p99":
            return run.p(99)
        case "setup50":
            return percentile(run.setup_ms, 50) if run.setup_ms else None
        case "setup99":
            return percentile(run.setup_ms, 99) if run.setup_ms else None
        case "failed":
            return float(run.failed)
    value = getattr(run, name)
    return None if value is None else float(value)


@dataclass
class Column:
    name: str
    number: str
    steps: list[Level] = field(default_factory=list)
    profile: list[str] = field(default_factory=list)

    def capacity(self, pause_ms: float) -> int:
        best = 0
        for step in self.steps:
            if not step.ok(pause_ms):
                break
            best = step.concurrency
        return best


# -- one run ------------------------------------------------------------------


def _children(pid: int) -> list[int]:
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            out.append(int(stat.parent.name))
    return out


def _speech_worker(pid: int) -> bool:
    """Whether the controller has a speech worker process (a spawned pool worker; the
    multiprocessing resource tracker that stays beside it is not one)."""
    for child in _children(pid):
        try:
            cmdline = Path(f"/proc/{child}/cmdline").read_bytes()
        except OSError:
            continue
        if b"spawn_main" in cmdline:
            return True
    return False


def _tree_usage(pid: int) -> Usage:
    """The process and its live children (the controller's speech worker)."""
    total = usage(pid)
    for child in _children(pid):
        try:
            u = usage(child)
        except (OSError, ValueError):
            continue
        total = Usage(total.cpu_s + u.cpu_s, total.rss_kb + u.rss_kb, total.peak_kb + u.peak_kb)
    return total


def _named_cpu(name: str) -> float:
    """CPU seconds of every live process called ``name`` (PostgreSQL's backends keep
    running: the controller's connections are long-lived)."""
    ticks = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        if text[text.find("(") + 1 : text.rfind(")")] == name:
            fields = text.rsplit(")", 1)[1].split()
            ticks += int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


def _machine_busy() -> float:
    """CPU seconds all cores spent not idle (``/proc/stat``)."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = values[3] + values[4]  # idle + iowait
    return (sum(values[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def _children_cpu() -> float:
    u = resource.getrusage(resource.RUSAGE_CHILDREN)
    return u.ru_utime + u.ru_stime


def _sipp_command(port: int, number: str, scen: Path, calls: int, ramp: float) -> list[str]:
    rate = max(1, round(calls / ramp)) if ramp > 0 else calls
    cmd = [
        "sipp",
        f"127.0.0.1:{port}",
        "-sf",
        str(scen),
        "-s",
        number,
        "-m",
        str(calls),
        "-l",
        str(calls),
        "-r",
        str(rate),
        "-rp",
        "1000",
        "-i",
        "127.0.0.1",
        "-p",
        str(free_port()),
        "-mp",
        str(free_port()),
        "-nostdin",
        "-trace_stat",
        "-stf",
        "stat.csv",
        "-fd",
        "1",
        "-trace_rtt",
        "-rtt_freq",
        "1",
        "-trace_err",
        "-recv_timeout",
        "60000",
    ]
    cores = os.cpu_count() or 1
    if cores >= 3 and shutil.which("taskset"):
        cmd = ["taskset", "-c", str(cores - 1), *cmd]
    return cmd


def _sipp_counts(work: Path) -> tuple[int, int]:
    """(successful, failed) calls from SIPp's statistics file (its last line)."""
    files = sorted(work.glob("*stat.csv"))
    if not files:
        return 0, 0
    lines = [ln for ln in files[-1].read_text().splitlines() if ln.strip()]
    if len(lines) < 2:
        return 0, 0
    head, last = lines[0].split(";"), lines[-1].split(";")
    row = dict(zip(head, last, strict=False))
    return int(row.get("SuccessfulCall(C)", 0) or 0), int(row.get("FailedCall(C)", 0) or 0)


def _sipp_setup(work: Path) -> list[float]:
    """INVITE → 200 OK of each call (ms), from SIPp's response-time trace."""
    out: list[float] = []
    for f in work.glob("*_rtt.csv"):
        for line in f.read_text().splitlines()[1:]:
            parts = line.split(";")
            if len(parts) >= 2:
                try:
                    out.append(float(parts[1]))
                except ValueError:
                    continue
    return out


async def _channels_gone(inst: Instance, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        out = await asyncio.to_thread(inst.cli, "core show channels count")
        found = re.search(r"^(\d+) active channels?", out, re.MULTILINE)
        if found is not None and found.group(1) == "0":
            return
        await asyncio.sleep(0.5)


async def _recorded(dsn: str, since: float, expected: int, timeout: float = 60.0) -> float | None:
    """Seconds from now until ``expected`` calls started after ``since`` (epoch) are
    recorded as ended, or None if they never are."""
    began = time.monotonic()
    conn = await asyncpg.connect(dsn)
    try:
        while time.monotonic() - began < timeout:
            done = await conn.fetchval(
                "SELECT count(*) FROM calls WHERE ended_at IS NOT NULL"
                " AND started_at >= to_timestamp($1)",
                since,
            )
            if done >= expected:
                return time.monotonic() - began
            await asyncio.sleep(0.05)
        return None
    finally:
        await conn.close()


async def one_run(
    stack: Stack,
    column: Column,
    steps: list[Step],
    calls: int,
    ramp: float,
    listen_ms: int,
    profile: Profiler | None = None,
) -> Run:
    inst = stack.asterisk
    assert inst.process is not None and stack.controller is not None
    work = Path(tempfile.mkdtemp(prefix="ivr-bench-run-"))
    try:
        scen = work / "caller.xml"
        scen.write_text(scenario(CALLER, steps, work, "caller_bye", listen_ms))
        log_from = len(inst.log_text())
        started_epoch = time.time() - 1
        if profile is not None:
            # Sample the busy middle: from the end of the ramp to the last hang-ups.
            await profile.start(ramp + (steps[0].wait_ms + listen_ms) / 1000)
        ast0, ctl0 = usage(inst.process.pid), _tree_usage(stack.controller.pid)
        pg0, sipp0, busy0 = _named_cpu("postgres"), _children_cpu(), _machine_busy()
        t0 = time.monotonic()
        proc = await asyncio.create_subprocess_exec(
            *_sipp_command(inst.sip_port, column.number, scen, calls, ramp),
            cwd=work,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        )
        await proc.wait()
        wall = time.monotonic() - t0
        ast1, ctl1 = usage(inst.process.pid), _tree_usage(stack.controller.pid)
        pg1, sipp1, busy1 = _named_cpu("postgres"), _children_cpu(), _machine_busy()
        if profile is not None:
            column.profile = await profile.stop()
        ok, failed = _sipp_counts(work)
        lag = None
        if column.number == OURS_NUMBER:
            lag = await _recorded(stack.dsn, started_epoch, ok)
        dtmf, unmatched = dtmf_to_prompt(inst.log_text()[log_from:])
        ours = column.number == OURS_NUMBER
        run = Run(
            placed=calls,
            failed=max(failed, calls - ok),
            dtmf_ms=dtmf,
            unmatched=unmatched,
            setup_ms=_sipp_setup(work),
            asterisk_cpu=100 * (ast1.cpu_s - ast0.cpu_s) / wall,
            controller_cpu=100 * (ctl1.cpu_s - ctl0.cpu_s) / wall if ours else None,
            controller_rss_mb=ctl1.rss_kb / 1024 if ours else None,
            db_lag_s=lag,
            # A backend that exits during the run takes its CPU seconds with it.
            postgres_cpu=100 * (pg1 - pg0) / wall if pg1 >= pg0 else None,
            sipp_cpu=100 * (sipp1 - sipp0) / wall,
            machine_cpu=100 * (busy1 - busy0) / wall,
        )
        await _channels_gone(inst)
        return run
    finally:
        shutil.rmtree(work, ignore_errors=True)


# -- the whole comparison --------------------------------------------------------


def prepare_native(inst: Instance, flow: Flow) -> None:
    """Render the instance and append the native column to its extensions.conf."""
    inst.render()
    PromptLibrary(inst.sounds_host_dir, inst.sounds_ast_dir).build_system()
    library = PromptLibrary(inst.sounds_host_dir, inst.sounds_ast_dir)
    text = dialplan(first_menu(flow), media_of(library, flow))
    conf = inst.host_dir / "etc" / "extensions.conf"
    conf.write_text(install(conf.read_text(), text))


async def compare(
    concurrency: list[int], repeats: int, ramp: float, listen_ms: int, profile_at: int | None
) -> tuple[list[Column], float, str]:
    flow = load_default_flow()
    pause_ms = flow.settings.pause_after_input * 1000
    inst = Instance(f"bench-{uuid.uuid4().hex[:8]}", load_install())
    admin = await postgres.admin_dsn()
    db_name = f"ivr_bench_{uuid.uuid4().hex[:10]}"
    dsn = await postgres.create_database(admin, db_name)
    work = Path(tempfile.mkdtemp(prefix="ivr-bench-"))
    # Quiet logs, as in production: per-step debug lines are not what is measured.
    stack = Stack(dsn, inst, work, extra_config={"log": {"level": "info"}})
    native, ours = Column("native", NUMBER), Column("ours", OURS_NUMBER)
    try:
        conn = await asyncpg.connect(dsn)
        try:
            await migrate(conn)
        finally:
            await conn.close()
        await asyncio.to_thread(prepare_native, inst, flow)
        inst.start()
        await inst.wait_ready()
        stack.start_controller()
        print("controller starting (synthesises every prompt first) ...", flush=True)
        await stack.wait_log("ari_connected", timeout=300)
        library = PromptLibrary(inst.sounds_host_dir, inst.sounds_ast_dir)
        menu = first_menu(flow)
        greeting_ms = sum(prompt_ms(library, flow, p) for p in menu.before)
        steps = [Step(greeting_ms + 2000, menu.key)]
        idle_rss = "?"
        for column in (native, ours):
            if column is ours and stack.controller is not None:
                # At rest: the speech worker that built the prompts exits after
                # prompts.worker_idle_seconds (60 s by default) with nothing to do.
                pid = stack.controller.pid
                deadline = time.monotonic() + 120
                while _speech_worker(pid) and time.monotonic() < deadline:
                    await asyncio.sleep(1)
                rest = _tree_usage(stack.controller.pid)
                worker = "running" if _speech_worker(stack.controller.pid) else "not running"
                idle_rss = f"{rest.rss_kb / 1024:.0f} MB (speech worker {worker})"
            for calls in concurrency:
                step = Level(calls)
                column.steps.append(step)
                for i in range(repeats):
                    print(
                        f"{column.name}: {calls} calls at once, run {i + 1}/{repeats}", flush=True
                    )
                    profiler = None
                    if calls == profile_at and i == 0:
                        ctl = stack.controller.pid if column is ours and stack.controller else None
                        out = Path("bench-profile") / f"{column.name}-{calls}"
                        profiler = Profiler(out.absolute(), inst, ctl)
                    step.runs.append(
                        await one_run(stack, column, steps, calls, ramp, listen_ms, profiler)
                    )
                if not step.ok(pause_ms):
                    break
        return [native, ours], pause_ms, idle_rss
    finally:
        kill_sipp_children()
        stack.stop_controller()
        await asyncio.to_thread(inst.stop)
        inst.remove()
        await postgres.drop_database(admin, db_name)
        shutil.rmtree(work, ignore_errors=True)


def _cell(step: Level, name: str, fmt: str = "{:.0f}") -> str:
    mid = step.median(name)
    lo, hi = step.spread(name)
    if mid != mid:  # NaN: nothing measured
        return "-"
    if len(step.runs) > 1 and lo != hi:
        return f"{fmt.format(mid)} [{fmt.format(lo)}–{fmt.format(hi)}]"
    return fmt.format(mid)


def report(columns: list[Column], pause_ms: float, idle_rss: str) -> str:
    out = [
        f"DTMF→prompt includes the flow's {pause_ms:.0f} ms pause; cells: median [min–max] "
        f"over the runs; capacity: no failed call and p99 ≤ pause + {SLACK_MS:.0f} ms.",
        f"controller at rest, before its column (speech worker included): {idle_rss}",
        f"CPU in % of one core; all CPU%: the whole machine ({os.cpu_count()} cores).",
    ]
    head = (
        f"{'column':<7} {'calls':>5} {'runs':>4} {'failed':>6} {'p50':>14} {'p95':>14} "
        f"{'p99':>18} {'setup p50/p99':>14} {'ast CPU%':>14} {'ctl CPU%':>12} "
        f"{'ctl MB':>7} {'db lag s':>9} {'pg CPU%':>12} {'SIPp CPU%':>12} {'all CPU%':>14}"
    )
    out += [head, "-" * len(head)]
    for col in columns:
        for s in col.steps:
            setup = f"{_cell(s, 'setup50')}/{_cell(s, 'setup99')}" if s.runs else "-"
            out.append(
                f"{col.name:<7} {s.concurrency:>5} {len(s.runs):>4} "
                f"{sum(r.failed for r in s.runs):>6} {_cell(s, 'p50'):>14} {_cell(s, 'p95'):>14} "
                f"{_cell(s, 'p99'):>18} {setup:>14} {_cell(s, 'asterisk_cpu'):>14} "
                f"{_cell(s, 'controller_cpu'):>12} {_cell(s, 'controller_rss_mb'):>7} "
                f"{_cell(s, 'db_lag_s', '{:.2f}'):>9} {_cell(s, 'postgres_cpu'):>12} "
                f"{_cell(s, 'sipp_cpu'):>12} {_cell(s, 'machine_cpu'):>14}"
                + ("" if s.ok(pause_ms) else "  ← fails")
            )
    native, ours = columns
    cn, co = native.capacity(pause_ms), ours.capacity(pause_ms)
    ratio = f"{co / cn:.2f}×" if cn else "-"
    out.append(f"capacity: native {cn}, ours {co}, ours/native {ratio}")
    for s_n in native.steps:
        s_o = next((s for s in ours.steps if s.concurrency == s_n.concurrency), None)
        if s_o is None or not s_o.runs or not s_n.runs:
            continue
        diff = s_o.median("p99") - s_n.median("p99")
        n_lo, n_hi = s_n.spread("p99")
        o_lo, o_hi = s_o.spread("p99")
        beyond = "beyond" if o_lo > n_hi or o_hi < n_lo else "within"
        cpu = s_o.median("asterisk_cpu") / s_n.median("asterisk_cpu")
        out.append(
            f"  at {s_n.concurrency}: p99 ours − native {diff:+.0f} ms ({beyond} the runs' "
            f"spread); Asterisk CPU ours/native {cpu:.2f}×"
        )
    return "\n".join(out)


async def main_async(
    concurrency: list[int], repeats: int, ramp: float, listen_ms: int, profile_at: int | None
) -> int:
    task = asyncio.current_task()
    assert task is not None
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)
    try:
        columns, pause_ms, idle_rss = await compare(
            concurrency, repeats, ramp, listen_ms, profile_at
        )
    except asyncio.CancelledError:
        print("bench stopped before the end; everything it started is stopped", file=sys.stderr)
        return 1
    except Exception as e:
        print(f"bench could not run: {type(e).__name__}: {e}", file=sys.stderr)
        return 1
    print(report(columns, pause_ms, idle_rss))
    for col in columns:
        if col.profile:
            print(f"\nprofile of {col.name}'s first run at {profile_at} calls (bench-profile/):")
            print("\n".join(col.profile))
    return 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="our IVR against a native dialplan IVR")
    p.add_argument(
        "--steps",
        default="200,400,600,800,1000,1200",
        help="concurrency steps, comma-separated (default 200,...,1200)",
    )
    p.add_argument("--repeats", type=int, default=3, help="runs per step (default 3)")
    p.add_argument("--ramp", type=float, default=5.0, help="seconds to start a step's calls")
    p.add_argument("--listen", type=float, default=10.0, help="seconds of guidance heard")
    p.add_argument(
        "--profile",
        type=int,
        metavar="CALLS",
        help="profile the first run of this step (py-spy on the controller, Asterisk's "
        "task processors); printed at the end, raw files in bench-profile/",
    )
    a = p.parse_args(argv)
    try:
        steps = sorted({int(s) for s in a.steps.split(",") if s.strip()})
    except ValueError:
        p.error("--steps: comma-separated numbers")
    if not steps or steps[0] < 1 or a.repeats < 1:
        p.error("--steps and --repeats must be at least 1")
    try:
        return asyncio.run(main_async(steps, a.repeats, a.ramp, int(a.listen * 1000), a.profile))
    except KeyboardInterrupt:
        print("bench interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
