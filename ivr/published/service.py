"""One mechanism for everything staff publish: validated in the database, announced
with ``NOTIFY``, built before it takes calls, cached on disk for outages.

Each kind of setting (the flow, the calendar, ...) plugs in a :class:`Kind`:
how to read the version in service from the database, the shipped default, and
how to build the object calls use. :class:`InService` holds the built object of
one kind; :class:`Watcher` keeps every kind current over one ``LISTEN``
connection.

**Whenever the database answers, it wins.** At start and after every
reconnection the watcher re-reads each kind: what the database has in service,
or the shipped default when it has none. The disk cache is read only when the
database cannot be reached at start-up, so a restored dump, a promoted replica
or a different database never leaves a stale version in service.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, Protocol, TypeVar

import asyncpg
import structlog

log = structlog.get_logger("ivr.published")

T = TypeVar("T")
T_co = TypeVar("T_co", covariant=True)

# The database is away, restarting, or not migrated yet: keep what we have.
DB_ERRORS: tuple[type[BaseException], ...] = (
    OSError,
    TimeoutError,
    asyncpg.PostgresError,
    asyncpg.InterfaceError,
)


class InvalidSetting(Exception):
    """A stored version does not validate (it is never put into service)."""


@dataclass(frozen=True)
class Source:
    """One version of a setting as stored: its number (None for the shipped
    default) and its text (YAML, JSON)."""

    version: int | None
    text: str

    @property
    def digest(self) -> str:
        """Identifies the content, whichever database numbered it."""
        return digest(self.text)


def digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


class Kind(Protocol[T_co]):
    """What one kind of published setting plugs into the mechanism."""

    name: str  # names the cache file and the log lines: "flow", "calendar"
    channel: str  # the NOTIFY channel its publishes are announced on

    def default(self) -> Source:
        """The shipped default, served when the database has no version in service."""
        ...

    async def fetch(self, conn: asyncpg.Connection) -> Source | None:
        """The version in service in the database, or None when there is none."""
        ...

    async def build(self, source: Source) -> T_co:
        """Parse, validate and prepare (e.g. synthesise prompts); raises InvalidSetting."""
        ...


@dataclass(frozen=True)
class Served(Generic[T]):
    source: Source
    value: T
    origin: str  # "database", "default", "cache"


class InService(Generic[T]):
    """The built, current version of one kind; swapped atomically for new calls."""

    def __init__(self, kind: Kind[T], cache: Path | None = None) -> None:
        self.kind = kind
        self._cache = cache
        self._served: Served[T] | None = None
        self.switched = asyncio.Event()  # set after each switch (tests and metrics)
        self._lock = asyncio.Lock()

    @property
    def served(self) -> Served[T]:
        if self._served is None:
            raise RuntimeError(f"{self.kind.name}: nothing loaded yet")
        return self._served

    @property
    def current(self) -> T:
        return self.served.value

    async def start(self, dsn: str, timeout: float = 5.0) -> None:
        """At start-up: the database's version if it answers in time; else the disk
        cache; else the shipped default."""
        try:
            conn = await asyncpg.connect(dsn, timeout=timeout)
        except DB_ERRORS as e:
            log.warning("published_db_unavailable", kind=self.kind.name, error=str(e))
            await self.load_offline()
            return
        try:
            await self.refresh(conn)
        except DB_ERRORS as e:  # e.g. the schema is not migrated yet
            log.warning("published_db_unavailable", kind=self.kind.name, error=str(e))
            if self._served is None:
                await self.load_offline()
        finally:
            await conn.close()

    async def load_offline(self) -> None:
        """The database cannot be reached: the cached version, else the default."""
        if self._served is not None:
            return
        cached = await asyncio.to_thread(self._read_cache)
        if cached is not None:
            try:
                value = await self.kind.build(cached)
            except InvalidSetting as e:
                log.warning("published_cache_unusable", kind=self.kind.name, error=str(e))
            else:
                self._set(Served(cached, value, "cache"))
                return
        default = self.kind.default()
        self._set(Served(default, await self.kind.build(default), "default"))

    async def refresh(self, conn: asyncpg.Connection) -> bool:
        """Serve what the database has in service (or the default when it has none).
        Returns True when it switched."""
        async with self._lock:
            found = await self.kind.fetch(conn)
            origin = "database"
            if found is None:
                found, origin = self.kind.default(), "default"
            now = self._served
            if (
                now is not None
                and now.origin != "cache"
                and now.source.version == found.version
                and now.source.digest == found.digest
            ):
                return False
            try:
                value = await self.kind.build(found)
            except InvalidSetting as e:
                # Validated when published; the code could have changed under it.
                log.error(
                    "published_invalid", kind=self.kind.name, version=found.version, error=str(e)
                )
                if now is None:
                    await self.load_offline()
                return False
            again = await self.kind.fetch(conn)  # building may take seconds
            if origin == "database" and (
                again is None or (again.version, again.digest) != (found.version, found.digest)
            ):
                log.info("published_superseded", kind=self.kind.name, version=found.version)
                return False
            self._set(Served(found, value, origin))
            await asyncio.to_thread(self._write_cache, found if origin == "database" else None)
            log.info(
                f"{self.kind.name}_switched",  # flow_switched, calendar_switched, ...
                version=found.version,
                digest=found.digest,
                origin=origin,
                previous=None if now is None else now.source.version,
            )
            return True

    def _set(self, served: Served[T]) -> None:
        self._served = served
        self.switched.set()

    def _write_cache(self, source: Source | None) -> None:
        """Keep the database's version on disk for a start while it is away; the
        default needs no cache (and a stale file must not outlive it)."""
        if self._cache is None:
            return
        try:
            if source is None:
                self._cache.unlink(missing_ok=True)
                return
            self._cache.parent.mkdir(parents=True, exist_ok=True)
            tmp = self._cache.with_suffix(".tmp")
            data = {"version": source.version, "source": source.text}
            tmp.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
            tmp.replace(self._cache)
        except OSError as e:
            log.warning("published_cache_write_failed", kind=self.kind.name, error=str(e))

    def _read_cache(self) -> Source | None:
        if self._cache is None or not self._cache.exists():
            return None
        try:
            saved = json.loads(self._cache.read_text(encoding="utf-8"))
            return Source(int(saved["version"]), str(saved["source"]))
        except (OSError, ValueError, KeyError, TypeError) as e:
            log.warning("published_cache_unusable", kind=self.kind.name, error=str(e))
            return None


def _notify_into(queue: asyncio.Queue[str]) -> Callable[..., None]:
    def on_notify(_conn: object, _pid: int, channel: str, _payload: str) -> None:
        queue.put_nowait(channel)

    return on_notify


class Watcher:
    """Supervised ``LISTEN`` loop for every kind; re-reads all of them after each
    (re)connection, since notifications sent while disconnected are lost."""

    def __init__(self, dsn: str, services: Sequence[InService[Any]]) -> None:
        self._dsn = dsn
        self._services = list(services)
        self.connected = asyncio.Event()

    async def run(self) -> None:
        delay = 0.5
        while True:
            conn: asyncpg.Connection | None = None
            try:
                conn = await asyncpg.connect(self._dsn, timeout=5)
                wake: asyncio.Queue[str] = asyncio.Queue()
                by_channel = {s.kind.channel: s for s in self._services}
                for channel in by_channel:
                    await conn.add_listener(channel, _notify_into(wake))
                for service in self._services:
                    await service.refresh(conn)
                self.connected.set()
                delay = 0.5
                while True:
                    try:
                        channel = await asyncio.wait_for(wake.get(), timeout=30)
                    except TimeoutError:
                        await conn.execute("SELECT 1")  # notice a dead connection
                        continue
                    if channel in by_channel:
                        await by_channel[channel].refresh(conn)
            except DB_ERRORS as e:
                log.warning("published_watch_failed", error=str(e), retry_in=delay)
            except Exception:  # e.g. the speech worker failing twice: keep watching
                log.exception("published_watch_error", retry_in=delay)
            finally:
                self.connected.clear()
                if conn is not None and not conn.is_closed():
                    conn.terminate()
            await asyncio.sleep(random.uniform(delay / 2, delay))
            delay = min(delay * 2, 10.0)
