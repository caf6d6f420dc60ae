"""Prompt ids of a flow -> media URIs, synthesising speech on a cache miss."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import structlog

from ivr.flow.model import Flow
from ivr.prompts.library import PromptLibrary

log = structlog.get_logger("ivr.prompts")


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
            try:
                text = spec.render(variables)
            except (KeyError, ValueError, IndexError):
                log.warning("prompt_variable_missing", prompt=pid)
                text = spec.text.replace("{", "").replace("}", "")
            if not text.strip():
                continue  # a recording-only prompt whose file is missing: logged above
            out.append(self.library.media(await self.library.ensure_text(text)))
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
            if self.upload(pid) is not None or spec.variables or not spec.text.strip():
                continue
            await self.library.ensure_text(spec.text)
            built += 1
        await self.library.ensure_system()
        return built
