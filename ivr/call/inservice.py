"""The flow in service: the published-settings mechanism (:mod:`ivr.published`)
applied to call flows.

New calls take ``current``; a call keeps the engine and prompts it started
with, so publishing never changes a call in progress. A new version's prompts
are synthesised before it takes calls. When the database has no published
version, the shipped (or configured file) flow is served.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import structlog

from ivr.call.prompts import PromptResolver
from ivr.flow.engine import Engine
from ivr.flow.errors import FlowError
from ivr.flow.loader import load_flow
from ivr.flow.model import Flow
from ivr.prompts.library import PromptLibrary
from ivr.published.service import InService, InvalidSetting, Source
from ivr.store import flows

log = structlog.get_logger("ivr.flow")


@dataclass(frozen=True)
class ServiceFlow:
    version: int | None  # None: the file/default flow, no published version
    digest: str  # of the flow's source: groups calls whatever database numbered it
    flow: Flow
    engine: Engine
    prompts: PromptResolver


class FlowKind:
    name = "flow"
    channel = flows.CHANNEL

    def __init__(self, library: PromptLibrary, default_text: str, default_origin: str) -> None:
        self._library = library
        self._default = default_text
        self._origin = default_origin
        # Builds the audio of values this flow's prompts take from elsewhere (the calendar).
        self.prepare: Callable[[PromptResolver], Awaitable[int]] | None = None

    def default(self) -> Source:
        return Source(None, self._default)

    async def fetch(self, conn: asyncpg.Connection) -> Source | None:
        row = await flows.published(conn)
        return None if row is None else Source(row.id, row.source)

    def parse(self, source: Source) -> ServiceFlow:
        where = self._origin if source.version is None else f"version {source.version}"
        try:
            flow = load_flow(source.text, where)
        except FlowError as e:
            raise InvalidSetting(str(e)) from e
        return ServiceFlow(
            source.version, source.digest, flow, Engine(flow), PromptResolver(self._library, flow)
        )

    async def build(self, source: Source) -> ServiceFlow:
        service = self.parse(source)
        built = await service.prompts.prebuild()
        if self.prepare is not None:
            built += await self.prepare(service.prompts)
        log.info("flow_prompts_built", version=source.version, built=built)
        return service


class FlowInService(InService[ServiceFlow]):
    def __init__(
        self, library: PromptLibrary, default_file: Path, dsn: str, cache: Path | None = None
    ) -> None:
        self.flow_kind = FlowKind(
            library, default_file.read_text(encoding="utf-8"), str(default_file)
        )
        super().__init__(self.flow_kind, cache)
        self._dsn = dsn
        self._older: dict[tuple[int | None, str], ServiceFlow] = {}

    async def load_published(self, timeout: float = 5.0) -> None:
        await self.start(self._dsn, timeout)

    async def for_call(self, version: int | None, digest: str) -> ServiceFlow | None:
        """The flow a call taken over from another controller started on: the one in
        service if it is the same, else that version from the database (None if
        it cannot be had: the caller then continues on the flow in service)."""
        current = self.current
        if current.digest == digest:
            return current
        key = (version, digest)
        if key in self._older:
            return self._older[key]
        if version is None:
            return None
        try:
            conn = await asyncpg.connect(self._dsn, timeout=2)
            try:
                row = await flows.get(conn, version)
            finally:
                await conn.close()
            found = self.flow_kind.parse(Source(row.id, row.source))
        except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as e:
            log.warning("flow_version_unavailable", version=version, error=str(e))
            return None
        except (flows.FlowVersionError, InvalidSetting) as e:
            log.warning("flow_version_unavailable", version=version, error=str(e))
            return None
        if found.digest != digest:
            return None  # another database numbered it: not the call's flow
        if len(self._older) > 8:
            self._older.clear()
        self._older[key] = found
        return found
