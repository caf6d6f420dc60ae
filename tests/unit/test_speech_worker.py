"""Speech synthesis runs in a child process that is replaced when it dies."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

import pytest

from ivr.prompts.library import PromptLibrary
from ivr.prompts.worker import SpeechWorker


async def test_synthesis_happens_in_the_worker(tmp_path: Path) -> None:
    """ensure_text through a worker writes the audio file from another process."""
    worker = SpeechWorker()
    try:
        assert await worker.run(os.getpid) != os.getpid()
        lib = PromptLibrary(tmp_path, "/x", worker=worker)
        rel = await lib.ensure_text("少々お待ちください。")
        assert (tmp_path / f"{rel}.wav").stat().st_size > 8000
        await lib.ensure_system()
        assert (tmp_path / "system" / "fallback.wav").exists()
    finally:
        worker.close()


async def test_dead_worker_is_replaced(tmp_path: Path) -> None:
    """A worker that dies fails that request; the next request gets a new worker."""
    worker = SpeechWorker()
    try:
        with pytest.raises(BrokenProcessPool):
            await worker.run(os._exit, 3)
        assert await worker.run(os.getpid) != os.getpid()
    finally:
        worker.close()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


async def _until(condition: Callable[[], bool], timeout: float = 15.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not reached")
        await asyncio.sleep(0.05)


async def test_idle_worker_exits_and_the_next_request_starts_one() -> None:
    """With nothing to synthesise for idle_seconds the worker process exits; the next
    request starts a new one and is served."""
    worker = SpeechWorker(idle_seconds=0.3)
    try:
        first = await worker.run(os.getpid)
        assert worker.running and _alive(first)
        await _until(lambda: not worker.running)
        await _until(lambda: not _alive(first))
        second = await worker.run(os.getpid)
        assert second not in (first, os.getpid()) and worker.started == 2
    finally:
        worker.close()


async def test_worker_busy_with_a_request_is_not_stopped_as_idle() -> None:
    """A request longer than idle_seconds keeps its worker: the idle clock starts only
    when no request is in flight."""
    worker = SpeechWorker(idle_seconds=0.1)
    try:
        pid = await worker.run(os.getpid)
        slept = await worker.run(_sleep_then_pid, 0.5)
        assert slept == pid and worker.started == 1
    finally:
        worker.close()


def _sleep_then_pid(seconds: float) -> int:
    time.sleep(seconds)
    return os.getpid()
