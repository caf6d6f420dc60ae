"""Keep ``make run``'s processes running, the way a service manager would.

A child that dies is started again after a delay that doubles from
``Backoff.initial`` up to ``Backoff.maximum`` and starts over once the child has
stayed up for ``Backoff.reset_after`` seconds, so a crash loop does not spin
while a rare crash is repaired at once. Stopping sends SIGTERM, then SIGKILL
after the child's ``stop_timeout``.

Children run in their own session (process group): a Ctrl-C in the terminal
reaches only the supervisor, which stops them in order, and whatever a child
leaves behind (e.g. the controller's speech worker) is killed with its group
when the child ends, like systemd's ``KillMode=mixed``.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

Spawn = Callable[[], "subprocess.Popen[bytes]"]


@dataclass(frozen=True)
class Backoff:
    initial: float = 0.5
    maximum: float = 30.0
    reset_after: float = 60.0

    def next(self, previous: float | None, uptime: float) -> float:
        """The delay before the next start, given the last delay and how long the
        child stayed up."""
        if previous is None or uptime >= self.reset_after:
            return self.initial
        return min(previous * 2, self.maximum)


def describe(returncode: int) -> str:
    """``exit code 1`` or ``killed by SIGKILL``."""
    if returncode < 0:
        try:
            return f"killed by {signal.Signals(-returncode).name}"
        except ValueError:
            return f"killed by signal {-returncode}"
    return f"exit code {returncode}"


class Child:
    """One supervised process: its name, how to start it, and the process now running."""

    def __init__(self, name: str, spawn: Spawn, *, stop_timeout: float = 10.0) -> None:
        self.name = name
        self.stop_timeout = stop_timeout
        self.process: subprocess.Popen[bytes] | None = None
        self.started_at = 0.0
        self._spawn = spawn
        self._own_group = False

    @classmethod
    def command(
        cls,
        name: str,
        argv: Sequence[str],
        *,
        env: Mapping[str, str] | None = None,
        stop_timeout: float = 10.0,
    ) -> Child:
        """A child that runs ``argv`` in its own session, stdout and stderr inherited."""

        def spawn() -> subprocess.Popen[bytes]:
            return subprocess.Popen(
                list(argv),
                env=None if env is None else dict(env),
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )

        return cls(name, spawn, stop_timeout=stop_timeout)

    @property
    def pid(self) -> int | None:
        return None if self.process is None else self.process.pid

    @property
    def uptime(self) -> float:
        return time.monotonic() - self.started_at

    def start(self) -> None:
        self.process = self._spawn()
        self.started_at = time.monotonic()
        # Only a group of its own may be killed whole: never the supervisor's.
        with contextlib.suppress(ProcessLookupError):
            self._own_group = os.getpgid(self.process.pid) == self.process.pid

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    async def wait(self, interval: float = 0.1) -> int:
        """Wait until the process ends; its return code (negative: the signal)."""
        assert self.process is not None
        while (code := self.process.poll()) is None:
            await asyncio.sleep(interval)
        return code

    def kill_group(self) -> None:
        """SIGKILL what is left of the child's process group."""
        if self.process is not None and self._own_group:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.process.pid, signal.SIGKILL)

    async def stop(self) -> bool:
        """SIGTERM, then SIGKILL after ``stop_timeout``; False if it had to be killed."""
        if self.process is None:
            return True
        graceful = True
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(self.wait(), self.stop_timeout)
            except TimeoutError:
                graceful = False
                self.process.kill()
                await self.wait()
        self.kill_group()
        return graceful


class Supervisor:
    """Starts children, restarts each one that dies (with backoff), stops them all."""

    def __init__(
        self,
        backoff: Backoff | None = None,
        say: Callable[[str], None] | None = None,
        on_start: Callable[[Child], None] | None = None,
    ) -> None:
        self.backoff = backoff or Backoff()
        self.children: list[Child] = []
        self._say = say or (lambda line: print(line, flush=True))
        self.on_start = on_start  # after every start, e.g. to record the pids
        self._watchers: list[asyncio.Task[None]] = []

    def start(self, child: Child) -> None:
        """Start ``child`` now (an error to start it propagates) and keep it running."""
        child.start()
        self.children.append(child)
        self._started(child)
        self._watchers.append(asyncio.create_task(self._watch(child), name=f"watch-{child.name}"))

    def _started(self, child: Child) -> None:
        if self.on_start is not None:
            self.on_start(child)

    async def _watch(self, child: Child) -> None:
        delay: float | None = None
        while True:
            code = await child.wait()
            uptime = child.uptime
            child.kill_group()
            what = f"{describe(code)} after {uptime:.1f}s"
            while True:
                delay = self.backoff.next(delay, uptime)
                self._say(f"supervisor: {child.name} {what}; restarting in {delay:g}s")
                await asyncio.sleep(delay)
                try:
                    child.start()
                except OSError as e:
                    what, uptime = f"could not start ({e})", 0.0
                    continue
                break
            self._started(child)
            self._say(f"supervisor: {child.name} restarted (pid {child.pid})")

    async def stop(self) -> None:
        """Stop restarting, then stop the children, the last started first."""
        watchers, self._watchers = self._watchers, []
        for task in watchers:
            task.cancel()
        await asyncio.gather(*watchers, return_exceptions=True)
        for child in reversed(self.children):
            if not await child.stop():
                self._say(
                    f"supervisor: {child.name} ignored SIGTERM for {child.stop_timeout:g}s: killed"
                )
