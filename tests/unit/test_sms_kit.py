"""Helpers shared by the SMS tests (no tests here): a fake Karaden API on loopback
(a real aiohttp server), a TCP proxy that can cut the database away, fixtures."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import re
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest
from aiohttp import web

from ivr.config import SmsSettings
from ivr.dev.postgres import free_port
from ivr.sms.karaden import KaradenGateway
from ivr.sms.worker import OutboxWorker

TENANT = "tenant-1"
SERVICE_ID = 7
TOKEN = "test-token"


def sms_settings(**changes: Any) -> SmsSettings:
    """Karaden settings with fast retries for tests."""
    base = SmsSettings(
        gateway="karaden",
        token=TOKEN,
        karaden_tenant_id=TENANT,
        karaden_service_id=SERVICE_ID,
        request_timeout=1.0,
        retry_base=0.01,
        retry_max=0.05,
        poll_interval=0.01,
        db_timeout=1.0,
    )
    return dataclasses.replace(base, **changes)


@dataclasses.dataclass
class Stored:
    id: str
    to: str
    body: str
    tags: list[str]
    polls: int = 0


class FakeKaraden:
    """The Karaden subset the outbox uses. ``script`` decides the next POSTs in turn:
    ``ok``, ``500``, ``accept_then_hang`` (stores the message, then never answers),
    ``422``; when it is empty every POST is ``ok``. A message is delivered on its
    ``deliver_after``-th status poll; numbers in ``undeliverable`` come back
    ``unconnected``. Every message carries its ``charged_count_per_sent``."""

    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.script: list[str] = []
        self.messages: dict[str, Stored] = {}
        self.posts = 0
        self.lookups = 0
        self.deliver_after = 1
        self.undeliverable: set[str] = set()
        self.count_parts: int | None = None
        self.headers_seen: list[dict[str, str]] = []
        self._runner: web.AppRunner | None = None
        app = web.Application()
        base = f"/api/{TENANT}/messages"
        app.router.add_post(base, self._create)
        app.router.add_get(base, self._list)
        app.router.add_get(base + "/{id}", self._detail)
        self._app = app

    async def start(self) -> None:
        self._runner = web.AppRunner(self._app, access_log=None, shutdown_timeout=0.1)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    def _auth(self, request: web.Request) -> None:
        self.headers_seen.append(dict(request.headers))
        if request.headers.get("Authorization") != f"Bearer {TOKEN}":
            raise web.HTTPUnauthorized()
        if request.headers.get("Karaden-Version") != "2024-03-01":
            raise web.HTTPBadRequest()

    def _view(self, m: Stored) -> dict[str, Any]:
        if m.polls >= self.deliver_after:
            result = "unconnected" if m.to in self.undeliverable else "received"
            status = "done"
        else:
            result, status = "none", "waiting"
        return {
            "id": m.id,
            "object": "message",
            "service_id": SERVICE_ID,
            "to": m.to,
            "body": m.body,
            "tags": m.tags,
            "status": status,
            "sent_result": result,
            "carrier": "docomo",
            "charged_count_per_sent": self.parts_of(m.body),
        }

    def parts_of(self, body: str) -> int:
        """The provider's own count (課金対象通数); ``count_parts`` overrides it."""
        if self.count_parts is not None:
            return self.count_parts
        n = len(body.encode("utf-16-le")) // 2
        return 1 if n <= 70 else -(-n // 67)

    async def _create(self, request: web.Request) -> web.Response:
        self._auth(request)
        self.posts += 1
        step = self.script.pop(0) if self.script else "ok"
        form = await request.post()
        if step == "500":
            return web.json_response({"object": "error", "message": "internal"}, status=500)
        to, body = str(form.get("to", "")), str(form.get("body", ""))
        tags = [str(t) for t in form.getall("tags[]", [])]
        if (
            step == "422"
            or not re.fullmatch(r"\d{11}", to)
            or not 0 < len(body) <= 660
            or form.get("service_id") != str(SERVICE_ID)
            or form.get("is_shorten") != "false"
        ):
            return web.json_response(
                {"object": "error", "code": 422, "message": "invalid to"}, status=422
            )
        m = Stored(str(uuid.uuid4()), to, body, tags)
        self.messages[m.id] = m
        if step == "accept_then_hang":
            await asyncio.sleep(30)  # the client gives up first
        return web.json_response(self._view(m))

    async def _list(self, request: web.Request) -> web.Response:
        self._auth(request)
        self.lookups += 1
        tag = request.query.get("tag", "")
        found = [self._view(m) for m in self.messages.values() if tag in m.tags]
        return web.json_response({"object": "list", "has_more": False, "data": found})

    async def _detail(self, request: web.Request) -> web.Response:
        self._auth(request)
        m = self.messages.get(request.match_info["id"])
        if m is None:
            raise web.HTTPNotFound()
        m.polls += 1
        return web.json_response(self._view(m))

    def by_tag(self, tag: str) -> list[Stored]:
        return [m for m in self.messages.values() if tag in m.tags]


class CutProxy:
    """A TCP proxy in front of PostgreSQL that can be cut (the database "goes away")."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.port = free_port()
        self.up = True
        self._server: asyncio.Server | None = None
        self._links: set[asyncio.StreamWriter] = set()

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", self.port)

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if not self.up:
            writer.close()
            return
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.close()
            return
        self._links |= {writer, up_writer}

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            with contextlib.suppress(OSError, asyncio.CancelledError):
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            dst.close()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))

    def cut(self) -> None:
        self.up = False
        for w in self._links:
            w.close()
        self._links.clear()

    def restore(self) -> None:
        self.up = True

    async def close(self) -> None:
        self.cut()
        if self._server is not None:
            self._server.close()


def via_proxy(dsn: str, port: int) -> str:
    """``dsn`` with its host and port replaced by the proxy's."""
    parts = urlsplit(dsn)
    auth = parts.netloc.rpartition("@")[0]
    return urlunsplit(parts._replace(netloc=f"{auth + '@' if auth else ''}127.0.0.1:{port}"))


def target_of(dsn: str) -> tuple[str, int]:
    parts = urlsplit(dsn)
    return parts.hostname or "127.0.0.1", parts.port or 5432


@pytest.fixture
async def fake_karaden() -> AsyncIterator[FakeKaraden]:
    server = FakeKaraden()
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
async def sms_pool(database_dsn: str) -> AsyncIterator[asyncpg.Pool]:
    """A pool on the test database with an empty outbox, blocklist and template history."""
    pool = await asyncpg.create_pool(database_dsn, min_size=1, max_size=4)
    await pool.execute("TRUNCATE sms_outbox, sms_blocklist, sms_template_versions RESTART IDENTITY")
    yield pool
    await pool.close()


def karaden(settings: SmsSettings, url: str) -> KaradenGateway:
    return KaradenGateway(
        url,
        settings.karaden_tenant_id,
        settings.karaden_service_id,
        settings.token,
        version=settings.karaden_version,
        timeout=settings.request_timeout,
    )


def worker(dsn: str, settings: SmsSettings, url: str, name: str = "w") -> OutboxWorker:
    return OutboxWorker(dsn, karaden(settings, url), settings, name=name, jitter=lambda: 0.0)


async def until(
    check: Callable[[], Awaitable[bool]], step: Callable[[], Awaitable[Any]], rounds: int = 200
) -> None:
    """Run ``step`` until ``check`` holds (a short sleep between rounds)."""
    for _ in range(rounds):
        if await check():
            return
        await step()
        await asyncio.sleep(0.01)
    raise AssertionError("condition not reached")


async def statuses(pool: asyncpg.Pool) -> dict[str, str]:
    rows = await pool.fetch("SELECT id, status FROM sms_outbox")
    return {str(r["id"]): r["status"] for r in rows}
