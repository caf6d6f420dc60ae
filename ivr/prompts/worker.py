"""Speech synthesis in a child process.

Open JTalk's dictionary and voice take about 200 MB once loaded; in a child the
controller itself stays small, and a crash in the native synthesiser cannot take
calls down with it: a broken worker is replaced and the request retried once.

The child runs only while prompts are being built: after ``idle_seconds`` with no
request it exits, and the next request starts a new one (about a second to load
the voice), so a controller that only plays prepared prompts keeps no synthesiser
in memory.
"""

from __future__ import annotations

import asyncio
import multiprocessing
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from functools import partial
from typing import TypeVar

import structlog

T = TypeVar("T")

log = structlog.get_logger("ivr.prompts")


class SpeechWorker:
    def __init__(self, idle_seconds: float = 60.0) -> None:
        self._pool: ProcessPoolExecutor | None = None
        self._idle_seconds = idle_seconds  # 0: the worker stays up until close()
        self._busy = 0  # requests in flight
        self._idle: asyncio.TimerHandle | None = None
        self.started = 0  # worker processes started (for tests and figures)
        self.restarts = 0  # workers that died under a request (a crash, not an idle exit)

    @property
    def running(self) -> bool:
        """Whether a worker process is up (or starting)."""
        return self._pool is not None

    async def run(self, fn: Callable[..., T], *args: object) -> T:
        """Run ``fn(*args)`` (picklable, module-level) in the worker process."""
        loop = asyncio.get_running_loop()
        self._busy += 1
        if self._idle is not None:
            self._idle.cancel()
            self._idle = None
        try:
            for attempt in (1, 2):
                if self._pool is None:
                    # spawn: a fresh interpreter, not a fork of a process with threads and sockets
                    self._pool = ProcessPoolExecutor(
                        1, mp_context=multiprocessing.get_context("spawn")
                    )
                    self.started += 1
                pool = self._pool
                try:
                    return await loop.run_in_executor(pool, partial(fn, *args))
                except BrokenProcessPool:
                    if self._pool is pool:  # another request may already have replaced it
                        self.restarts += 1
                        self.close()
                    if attempt == 2:
                        raise
            raise AssertionError("unreachable")  # pragma: no cover
        finally:
            self._busy -= 1
            if self._busy == 0 and self._pool is not None and self._idle_seconds > 0:
                self._idle = loop.call_later(self._idle_seconds, self._exit_idle)

    def _exit_idle(self) -> None:
        self._idle = None
        if self._busy == 0 and self._pool is not None:
            log.debug("speech_worker_idle_exit", idle_seconds=self._idle_seconds)
            self.close()

    def close(self) -> None:
        if self._idle is not None:
            self._idle.cancel()
            self._idle = None
        pool, self._pool = self._pool, None
        if pool is not None:
            # No cancel_futures: a cancelled future would surface in a call's task as
            # CancelledError, indistinguishable from the controller stopping.
            pool.shutdown(wait=False)
