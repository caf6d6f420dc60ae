"""Resampling and encoding to the formats Asterisk plays natively.

8 kHz 16-bit mono ``.wav`` (format_wav, signed linear) or 16 kHz raw ``.sln16``.
The standard library's ``audioop`` is gone in Python 3.13, so samples are
handled with NumPy and resampled with soxr (libsoxr's high-quality filter).
"""

from __future__ import annotations

import io
import wave
from pathlib import Path

import numpy as np
import numpy.typing as npt
import soundfile
import soxr

SUPPORTED_RATES = {8000: ".wav", 16000: ".sln16"}
MAX_UPLOAD_SECONDS = 300.0


class AudioError(ValueError):
    """An uploaded recording cannot be used; the message says why, for staff."""


def decode_file(path: Path) -> tuple[npt.NDArray[np.float64], int]:
    """Read a WAV, MP3, FLAC or Ogg file as mono float samples (libsndfile)."""
    try:
        data, rate = soundfile.read(str(path), dtype="float64", always_2d=True)
    except (soundfile.LibsndfileError, RuntimeError, OSError) as e:
        raise AudioError(f"{path.name}: not a readable WAV/MP3 recording ({e})") from e
    if data.shape[0] == 0:
        raise AudioError(f"{path.name}: the recording is empty")
    seconds = data.shape[0] / rate
    if seconds > MAX_UPLOAD_SECONDS:
        raise AudioError(f"{path.name}: {seconds:.0f} s is longer than {MAX_UPLOAD_SECONDS:.0f} s")
    mono = data.mean(axis=1)
    if float(np.max(np.abs(mono))) < 1e-3:
        raise AudioError(f"{path.name}: the recording is silent")
    return mono, int(rate)


def to_pcm16(
    samples: npt.NDArray[np.floating] | npt.NDArray[np.int16], rate_in: int, rate_out: int
) -> bytes:
    """Resample mono audio to ``rate_out`` and return little-endian 16-bit PCM."""
    if samples.dtype == np.int16:
        floats = samples.astype(np.float64) / 32768.0
    else:
        floats = samples.astype(np.float64)
        peak = float(np.max(np.abs(floats))) if floats.size else 0.0
        if peak > 1.0:  # pyopenjtalk returns int16-scaled floats
            floats = floats / 32768.0
    if rate_in != rate_out:
        floats = soxr.resample(floats, rate_in, rate_out, quality="HQ")
    pcm = np.clip(np.round(floats * 32767.0), -32768, 32767).astype("<i2")
    return pcm.tobytes()


def encode(pcm16: bytes, rate: int) -> bytes:
    """Wrap PCM in the container Asterisk expects for ``rate``."""
    if rate == 16000:
        return pcm16  # .sln16 is headerless
    if rate != 8000:
        raise ValueError(f"unsupported sample rate {rate}; use 8000 or 16000")
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(pcm16)
    return buf.getvalue()


def silence(seconds: float, rate: int) -> bytes:
    return encode(b"\x00\x00" * int(seconds * rate), rate)


def duration(path_bytes: bytes, rate: int) -> float:
    """Length in seconds of an encoded prompt (used by tests and the simulator)."""
    if rate == 16000:
        return len(path_bytes) / 2 / rate
    with wave.open(io.BytesIO(path_bytes), "rb") as w:
        return w.getnframes() / w.getframerate()
