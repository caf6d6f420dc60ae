"""Prompt ids of a flow -> media URIs, synthesising speech on a cache miss."""

from __future__ import annotations

import asyncio
import string
from collections.abc import Mapping, Sequence

import structlog

from ivr.flow.model import Flow
from ivr.prompts.library import PromptLibrary

log = structlog.get_logger("ivr.prompts")

# Keyed-in numbers are read back from pre-built digit clips, never synthesised: no
# number is written to disk as audio and no call waits on the speech engine for it.
READBACK_VARIABLES = frozenset({"digits", "digits_kana"})
SPEECH_TIMEOUT = 10.0  # seconds a call may wait for the speech engine (cache misses only)


def _groups(digits: str) -> list[str]:
    """Digits grouped by four from the right, as phone numbers are read."""
    only = "".join(d for d in digits if d.isdigit())
    groups: list[str] = []
    while len(only) > 4:
        groups.insert(0, only[-4:])
        only = only[:-4]
    if only:
        groups.insert(0, only)
    return groups


class PromptResolver:
    """Resolves the prompts of the flow a call runs on (each call keeps its flow)."""

    def __init__(self, library: PromptLibrary, flow: Flow) -> None:
        self.library = library
        self.flow = flow

    def for_flow(self, flow: Flow) -> PromptResolver:
        return PromptResolver(self.library, flow)

    async def media(self, prompt_ids: Sequence[str], variables: Mapping[str, str]) -> list[str]:
        out = []
        for pid in prompt_ids:
            spec = self.flow.prompts[pid]
            upload = self.upload(pid)
            if upload is not None:
                out.append(self.library.media(upload))
                continue
            if set(spec.variables) & READBACK_VARIABLES:
                out.extend(await self._readback(spec.text, variables))
                continue
            try:
                text = spec.render(variables)
            except (KeyError, ValueError, IndexError):
                log.warning("prompt_variable_missing", prompt=pid)
                text = spec.text.replace("{", "").replace("}", "")
            if not text.strip():
                continue  # a recording-only prompt whose file is missing: logged above
            media = await self._speech(text)
            if media is not None:
                out.append(media)
        return out

    async def _speech(self, text: str) -> str | None:
        """The media for ``text`` (cached; synthesised with a time limit on a miss)."""
        try:
            async with asyncio.timeout(SPEECH_TIMEOUT):
                return self.library.media(await self.library.ensure_text(text))
        except TimeoutError:
            log.error("speech_timeout", seconds=SPEECH_TIMEOUT, chars=len(text))
            return None

    def _segments(self, text: str) -> list[tuple[str, str | None]]:
        """The text split into (literal, read-back variable or None) pieces."""
        return [(lit, name) for lit, name, _, _ in string.Formatter().parse(text)]

    async def _readback(self, text: str, variables: Mapping[str, str]) -> list[str]:
        """A read-back prompt as one playlist: its fixed words (synthesised once, cached,
        holding no number) around digit clips (``system/digit_N``, ``system/pause``)."""
        out: list[str] = []
        for literal, name in self._segments(text):
            if literal.strip():
                media = await self._speech(literal)
                if media is not None:
                    out.append(media)
            if name is None:
                continue
            if name not in READBACK_VARIABLES:
                value = variables.get(name, "")  # another variable inside a read-back
                if value.strip() and (media := await self._speech(value)) is not None:
                    out.append(media)
                continue
            for i, group in enumerate(_groups(variables.get("digits", ""))):
                if i:
                    out.append(self.library.media("system/pause"))
                out.extend(self.library.media(f"system/digit_{d}") for d in group)
        return out

    def upload(self, prompt_id: str) -> str | None:
        """The uploaded recording that replaces speech for this prompt, if present.

        A missing recording falls back to the prompt's text, spoken, so a caller
        never hears silence for a file that was not uploaded yet.
        """
        spec = self.flow.prompts[prompt_id]
        if not spec.file:
            return None
        rel = f"uploads/{spec.file.rsplit('.', 1)[0]}"
        if self.library.has(rel):
            return rel
        log.error("prompt_recording_missing", prompt=prompt_id, file=spec.file)
        return None

    def system(self, name: str) -> str:
        return self.library.media(f"system/{name}")

    async def prebuild(self) -> int:
        """Synthesise every prompt without placeholders now, so calls never wait for it."""
        built = 0
        for pid in sorted(self.flow.prompt_ids_used()):
            spec = self.flow.prompts[pid]
            if self.upload(pid) is not None or not spec.text.strip():
                continue
            if spec.variables and set(spec.variables) <= READBACK_VARIABLES:
                for literal, _ in self._segments(spec.text):  # the words around the number
                    if literal.strip():
                        await self.library.ensure_text(literal)
                        built += 1
                continue
            if spec.variables:
                continue
            await self.library.ensure_text(spec.text)
            built += 1
        await self.library.ensure_system()
        return built
