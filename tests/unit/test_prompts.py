"""Japanese speech is synthesised offline, resampled to 8 kHz and cached by content."""

from __future__ import annotations

import wave
from pathlib import Path

import numpy as np

from ivr.prompts import audio
from ivr.prompts.library import PromptLibrary


def test_resample_keeps_duration() -> None:
    """One second at 48 kHz becomes one second of 16-bit PCM at 8 kHz."""
    tone = np.sin(np.linspace(0, 2 * np.pi * 440, 48000)) * 0.5
    pcm = audio.to_pcm16(tone, 48000, 8000)
    assert len(pcm) == 8000 * 2
    assert audio.duration(audio.encode(pcm, 8000), 8000) == 1.0


def test_library_synthesises_once_per_text(tmp_path: Path) -> None:
    """The same text maps to one cached 8 kHz mono WAV; other text to another file."""
    lib = PromptLibrary(tmp_path, "/ast/sounds")
    rel = lib.build_text("お電話ありがとうございます。")
    path = tmp_path / f"{rel}.wav"
    with wave.open(str(path)) as w:
        assert (w.getframerate(), w.getnchannels(), w.getsampwidth()) == (8000, 1, 2)
        assert w.getnframes() > 8000 * 0.8  # real speech, not silence
    mtime = path.stat().st_mtime_ns
    assert lib.build_text("お電話ありがとうございます。") == rel
    assert path.stat().st_mtime_ns == mtime
    assert lib.build_text("失礼いたします。") != rel
    assert lib.media(rel) == f"sound:/ast/sounds/{rel}"


def test_speed_changes_the_cache_key(tmp_path: Path) -> None:
    """A different speaking speed is a different audio file."""
    a = PromptLibrary(tmp_path, "/x", speed=1.0).key("テスト")
    b = PromptLibrary(tmp_path, "/x", speed=0.9).key("テスト")
    assert a != b


def test_system_prompts_built(tmp_path: Path) -> None:
    """The dialplan's fallback prompt exists at its fixed name after build_system."""
    PromptLibrary(tmp_path, "/x").build_system()
    assert (tmp_path / "system" / "fallback.wav").stat().st_size > 16000
