"""Speech synthesis runs in a child process that is replaced when it dies."""

from __future__ import annotations

import os
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
