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


def test_uploaded_mp3_and_wav_are_converted(tmp_path: Path) -> None:
    """An uploaded 44.1 kHz stereo MP3 or WAV becomes an 8 kHz mono WAV of the same length."""
    import soundfile

    tone = np.sin(np.linspace(0, 2 * np.pi * 440 * 2, 88200)) * 0.4
    stereo = np.stack([tone, tone], axis=1)
    lib = PromptLibrary(tmp_path / "sounds", "/x")
    for fmt in ("MP3", "WAV"):
        src = tmp_path / f"rec.{fmt.lower()}"
        soundfile.write(str(src), stereo, 44100, format=fmt)
        rel = lib.import_file(src, f"greeting_{fmt.lower()}")
        with wave.open(str(tmp_path / "sounds" / f"{rel}.wav")) as w:
            assert (w.getframerate(), w.getnchannels()) == (8000, 1)
            assert abs(w.getnframes() / 8000 - 2.0) < 0.1


def test_bad_uploads_are_refused_with_a_reason(tmp_path: Path) -> None:
    """Not-audio, silent recordings and unsafe names are refused with a clear message."""
    import pytest
    import soundfile

    from ivr.prompts.audio import AudioError

    lib = PromptLibrary(tmp_path / "sounds", "/x")
    junk = tmp_path / "junk.mp3"
    junk.write_bytes(b"this is not audio")
    with pytest.raises(AudioError, match="not a readable"):
        lib.import_file(junk, "junk")
    quiet = tmp_path / "quiet.wav"
    soundfile.write(str(quiet), np.zeros(8000), 8000)
    with pytest.raises(AudioError, match="silent"):
        lib.import_file(quiet, "quiet")
    with pytest.raises(AudioError, match="name"):
        lib.import_file(quiet, "../etc/passwd")
