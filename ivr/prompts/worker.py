"""Speech synthesis in a child process.

Open JTalk's dictionary and voice take about 200 MB once loaded; in a child the
controller itself stays small, and a crash in the native synthesiser cannot take
calls down with it: a broken worker is replaced and the request retried once.
"""

from __future__ import annotations

import asyncio
import multiprocessing
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from functools import partial
from typing import TypeVar

T = TypeVar("T")


class SpeechWorker:
    def __init__(self) -> None:
        self._pool: ProcessPoolExecutor | None = None

    async def run(self, fn: Callable[..., T], *args: object) -> T:
        """Run ``fn(*args)`` (picklable, module-level) in the worker process."""
        loop = asyncio.get_running_loop()
        for attempt in (1, 2):
            if self._pool is None:
                # spawn: a fresh interpreter, not a fork of a process with threads and sockets
                self._pool = ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"))
            pool = self._pool
            try:
                return await loop.run_in_executor(pool, partial(fn, *args))
            except BrokenProcessPool:
                if self._pool is pool:  # another request may already have replaced it
                    self.close()
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")  # pragma: no cover

    def close(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            # No cancel_futures: a cancelled future would surface in a call's task as
            # CancelledError, indistinguishable from the controller stopping.
            pool.shutdown(wait=False)
