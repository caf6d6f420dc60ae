"""The prompt cache: text + voice settings -> an audio file Asterisk can play.

Files are named by a hash of everything that changes the audio, so a prompt is
synthesised once, and editing a prompt's text never serves stale audio.
``sounds_dir`` is where this process writes; ``asterisk_dir`` is the same folder
as Asterisk sees it (they differ when Asterisk runs in a chroot or container).
"""

from __future__ import annotations

import asyncio
import hashlib
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from ivr.flow.readback import DIGIT_KANA
from ivr.prompts import audio, tts
from ivr.prompts.worker import SpeechWorker

VOICE = "openjtalk-mei_normal-1"  # bump when the synthesis pipeline changes

# Played by the dialplan itself when the controller is not connected.
SYSTEM_PROMPTS = {
    # While no controller is connected (a restart): the dialplan holds the caller.
    "hold": "少々お待ちください。",
    "fallback": (
        "お電話ありがとうございます。申し訳ございません。ただいま、システムの不具合により、"
        "ご案内ができません。恐れ入りますが、しばらくたってから、おかけ直しください。"
    ),
    "error": (
        "申し訳ございません。システムの不具合により、ご案内を続けることができません。"
        "恐れ入りますが、しばらくたってから、おかけ直しください。"
    ),
    # The trunk's channel limit is reached: a new caller hears this, then the call ends.
    "busy": (
        "お電話ありがとうございます。ただいま電話が大変混み合っております。"
        "恐れ入りますが、しばらくたってから、おかけ直しください。"
    ),
    # Whispered to the city's staff member who answers a transfer, before the bridge;
    # optionally followed by the caller's last four digits, read from the clips below.
    "transfer_whisper": "マイナ保険証案内からの転送です。",
    "transfer_last4": "お客様の電話番号の下4桁は、",
    **{f"digit_{d}": kana for d, kana in DIGIT_KANA.items()},
}


@dataclass(frozen=True)
class PromptLibrary:
    sounds_dir: Path
    asterisk_dir: str
    speed: float = 1.0
    rate: int = 8000
    # Where asynchronous synthesis runs: a child process (the controller), or a thread.
    worker: SpeechWorker | None = field(default=None, compare=False, repr=False)
    # Files known to exist: a call's play needs no disk access (no stat on the loop).
    _present: set[str] = field(default_factory=set, compare=False, repr=False)

    @property
    def ext(self) -> str:
        return audio.SUPPORTED_RATES[self.rate]

    def key(self, text: str) -> str:
        h = hashlib.sha256(f"{VOICE}|{self.speed}|{self.rate}|{text}".encode())
        return h.hexdigest()[:24]

    def media(self, relative: str) -> str:
        """ARI media URI for a file below the sounds folder (no extension)."""
        return f"sound:{self.asterisk_dir.rstrip('/')}/{relative}"

    def build_text(self, text: str) -> str:
        """Synthesise ``text`` if not cached; return its path relative to the folder."""
        rel = f"tts/{self.key(text)}"
        self._write_if_missing(rel, lambda: self._speak(text))
        return rel

    async def ensure_text(self, text: str) -> str:
        """Like build_text, off the event loop (synthesis takes ~0.2 s per sentence)."""
        rel = f"tts/{self.key(text)}"
        if rel in self._present:
            return rel
        path = self.sounds_dir / f"{rel}{self.ext}"
        if not await asyncio.to_thread(path.exists):
            if self.worker is None:
                await asyncio.to_thread(self.build_text, text)
            else:
                await self.worker.run(_build_text, self._spec(), text)
        self._present.add(rel)
        return rel

    async def ensure_system(self) -> None:
        """build_system, off the event loop."""
        if self.worker is None:
            await asyncio.to_thread(self.build_system)
        else:
            await self.worker.run(_build_system, self._spec())

    def _spec(self) -> tuple[str, str, float, int]:
        return (str(self.sounds_dir), self.asterisk_dir, self.speed, self.rate)

    def import_file(self, source: Path, name: str) -> str:
        """Convert an uploaded recording to ``uploads/<name>``; returns that relative path."""
        if not name.replace("_", "").replace("-", "").isalnum() or not name.isascii():
            raise audio.AudioError(
                f"recording name must be ASCII letters, digits, - or _: {name!r}"
            )
        samples, rate = audio.decode_file(source)
        rel = f"uploads/{name}"
        pcm = audio.to_pcm16(samples, rate, self.rate)
        self._write(self.sounds_dir / f"{rel}{self.ext}", audio.encode(pcm, self.rate))
        return rel

    def has(self, relative: str) -> bool:
        if relative in self._present:
            return True
        if (self.sounds_dir / f"{relative}{self.ext}").exists():  # once per file
            self._present.add(relative)
            return True
        return False

    def build_system(self) -> None:
        """Write the fixed-name prompts the dialplan plays (system/fallback, ...), the
        digit clips and a short pause that read-backs are made of."""
        pause = self.sounds_dir / "system" / f"pause{self.ext}"
        if not pause.exists():
            silence = b"\x00\x00" * (self.rate * 3 // 10)  # 0.3 s between digit groups
            self._write(pause, audio.encode(silence, self.rate))
        for name, text in SYSTEM_PROMPTS.items():
            target = self.sounds_dir / "system" / f"{name}{self.ext}"
            key_file = target.with_suffix(".key")
            if target.exists() and key_file.exists() and key_file.read_text() == self.key(text):
                continue
            self._write(target, self._speak(text))
            key_file.write_text(self.key(text))

    def _speak(self, text: str) -> bytes:
        samples, rate = tts.synthesize(text, self.speed)
        return audio.encode(audio.to_pcm16(samples, rate, self.rate), self.rate)

    def _write_if_missing(self, rel: str, make: Callable[[], bytes]) -> None:
        target = self.sounds_dir / f"{rel}{self.ext}"
        if target.exists():
            return
        self._write(target, make())

    @staticmethod
    def _write(target: Path, data: bytes) -> None:
        # Write then rename: Asterisk must never open a half-written file.
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
        tmp.write_bytes(data)
        os.chmod(tmp, 0o644)
        tmp.replace(target)


# Module-level entry points for the worker process (a bound method would pickle the worker).
def _build_text(spec: tuple[str, str, float, int], text: str) -> str:
    sounds_dir, asterisk_dir, speed, rate = spec
    return PromptLibrary(Path(sounds_dir), asterisk_dir, speed, rate).build_text(text)


def _build_system(spec: tuple[str, str, float, int]) -> None:
    sounds_dir, asterisk_dir, speed, rate = spec
    PromptLibrary(Path(sounds_dir), asterisk_dir, speed, rate).build_system()
