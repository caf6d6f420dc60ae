"""Japanese text-to-speech with pyopenjtalk-plus (offline; dictionary and voice in the wheel)."""

from __future__ import annotations

import contextlib
import io
import threading
from typing import Any

import numpy as np
import numpy.typing as npt

_lock = threading.Lock()  # Open JTalk's global state is not thread-safe
_module: Any = None


def _engine() -> Any:
    global _module
    if _module is None:
        # The import prints a note about an optional ONNX model; keep stdout clean.
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            import pyopenjtalk

        _module = pyopenjtalk
    return _module


def synthesize(text: str, speed: float = 1.0) -> tuple[npt.NDArray[np.float64], int]:
    """Speak ``text``; returns (samples, sample rate)."""
    if not text.strip():
        raise ValueError("empty prompt text")
    engine = _engine()
    with _lock:
        samples, rate = engine.tts(text, speed=speed)
    return np.asarray(samples, dtype=np.float64), int(rate)
