"""The flow in service, switched without restart when a new version is published.

New calls take ``current``; a call keeps the engine and prompts it started
with, so publishing never changes a call in progress. The watcher LISTENs for
``flow_published`` (and re-reads the published version after every reconnect,
since notifications sent while disconnected are lost). A new version's prompts
are synthesised before it takes calls.
"""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import Callable
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
from ivr.store import flows

log = structlog.get_logger("ivr.flow")


@dataclass(frozen=True)
class ServiceFlow:
    version: int | None  # None: the file/default flow, no published version yet
    flow: Flow
    engine: Engine
    prompts: PromptResolver


def _notify_into(queue: asyncio.Queue[str]) -> Callable[..., None]:
    def on_notify(_conn: object, _pid: int, _channel: str, payload: str) -> None:
        queue.put_nowait(payload)

    return on_notify


class FlowInService:
    def __init__(
        self, library: PromptLibrary, fallback: Flow, dsn: str, cache: Path | None = None
    ) -> None:
        self._library = library
        self._dsn = dsn
        self._cache = cache
        self.current = self._load_cache() or self._make(None, fallback)
        self.switched = asyncio.Event()  # set after each switch (tests and metrics)

    def _make(self, version: int | None, flow: Flow) -> ServiceFlow:
        return ServiceFlow(version, flow, Engine(flow), PromptResolver(self._library, flow))

    async def _switch_to(self, conn: asyncpg.Connection) -> None:
        row = await flows.published(conn)
        if row is None or row.id == self.current.version:
            return
        try:
            flow = row.flow()
        except FlowError as e:  # publish() validates, but the schema could change under us
            log.error("flow_version_invalid", version=row.id, error=str(e))
            return
        candidate = self._make(row.id, flow)
        built = await candidate.prompts.prebuild()
        still = await flows.published(conn)
        if still is None or still.id != row.id:  # rolled back while its prompts were built
            log.info("flow_switch_superseded", version=row.id)
            return
        self.current = candidate
        self.switched.set()
        self._save_cache(row.id, row.source)
        log.info("flow_switched", version=row.id, name=flow.name, prompts_built=built)

    def _save_cache(self, version: int, source: str) -> None:
        """Keep the version in service on disk: if the database is away at the next
        start, callers still get the city's flow, not the shipped default."""
        if self._cache is None:
            return
        try:
            self._cache.parent.mkdir(parents=True, exist_ok=True)
            tmp = self._cache.with_suffix(".tmp")
            tmp.write_text(json.dumps({"version": version, "source": source}, ensure_ascii=False))
            tmp.replace(self._cache)
        except OSError as e:
            log.warning("flow_cache_write_failed", error=str(e))

    def _load_cache(self) -> ServiceFlow | None:
        if self._cache is None or not self._cache.exists():
            return None
        try:
            saved = json.loads(self._cache.read_text(encoding="utf-8"))
            flow = load_flow(saved["source"], f"cached version {saved['version']}")
        except (OSError, ValueError, KeyError, FlowError) as e:
            log.warning("flow_cache_unusable", error=str(e))
            return None
        return self._make(int(saved["version"]), flow)

    async def load_published(self, timeout: float = 5.0) -> None:
        """At start-up: serve the published version if the database answers in time."""
        try:
            conn = await asyncpg.connect(self._dsn, timeout=timeout)
        except (OSError, asyncpg.PostgresError, TimeoutError) as e:
            log.warning("flow_published_unavailable", error=str(e), serving="file")
            return
        try:
            await self._switch_to(conn)
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as e:
            # e.g. the schema is not migrated yet: serve the file flow, keep watching.
            log.warning("flow_published_unavailable", error=str(e), serving="file")
        finally:
            await conn.close()

    async def watch(self) -> None:
        """Supervised LISTEN loop; runs until cancelled."""
        delay = 0.5
        while True:
            conn: asyncpg.Connection | None = None
            try:
                conn = await asyncpg.connect(self._dsn, timeout=5)
                wake: asyncio.Queue[str] = asyncio.Queue()
                await conn.add_listener(flows.CHANNEL, _notify_into(wake))
                await self._switch_to(conn)
                delay = 0.5
                while True:
                    try:
                        await asyncio.wait_for(wake.get(), timeout=30)
                    except TimeoutError:
                        await conn.execute("SELECT 1")  # notice a dead connection
                        continue
                    await self._switch_to(conn)
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError) as e:
                log.warning("flow_watch_failed", error=str(e), retry_in=delay)
            except Exception:  # e.g. the speech worker failing twice: keep watching
                log.exception("flow_watch_error", retry_in=delay)
            finally:
                if conn is not None and not conn.is_closed():
                    conn.terminate()
            await asyncio.sleep(random.uniform(delay / 2, delay))
            delay = min(delay * 2, 10.0)
