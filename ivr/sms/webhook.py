"""Delivery reports pushed by the provider (Karaden's "SMS送達結果通知"), as a
handler the admin site or a small server can mount later, e.g.
``app.router.add_post("/sms/delivery/{token}", delivery_handler(...))``.

The path carries a secret token (compared in constant time) and the source address
must be on a list; the update is idempotent, by the provider's id or our tag, and
only ever moves a message forward. Polling (:mod:`ivr.sms.worker`) gets the same
results without it: the webhook only makes them arrive sooner.
"""

from __future__ import annotations

import hmac
import ipaddress
import json
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import asyncpg
import structlog
from aiohttp import web

from ivr.sms import outbox
from ivr.sms.gateway import Gateway

log = structlog.get_logger("ivr.sms.webhook")


async def apply_report(pool: asyncpg.Pool, gateway: Gateway, payload: Any) -> bool | None:
    """Record one report; None when it cannot be read, else whether a row changed."""
    found = gateway.report(payload)
    if found is None:
        return None
    msg, tag = found
    async with pool.acquire() as conn:
        return await outbox.apply_report(conn, msg, tag)


def delivery_handler(
    pool: asyncpg.Pool, gateway: Gateway, token: str, sources: Sequence[str]
) -> Callable[[web.Request], Awaitable[web.Response]]:
    """An aiohttp handler for ``POST …/{token}``; an empty ``token`` refuses everything."""
    networks = [ipaddress.ip_network(s, strict=False) for s in sources]

    async def handler(request: web.Request) -> web.Response:
        given = request.match_info.get("token", "")
        if not token or not hmac.compare_digest(given.encode(), token.encode()):
            raise web.HTTPNotFound()
        try:
            peer = ipaddress.ip_address(request.remote or "")
        except ValueError:
            raise web.HTTPForbidden() from None
        if networks and not any(peer in n for n in networks):
            log.warning("sms_webhook_refused", peer=str(peer))
            raise web.HTTPForbidden()
        try:
            payload = await request.json(loads=json.loads)
        except (ValueError, UnicodeDecodeError):
            raise web.HTTPBadRequest() from None
        changed = await apply_report(pool, gateway, payload)
        if changed is None:
            raise web.HTTPBadRequest()
        log.info("sms_webhook", changed=changed)
        return web.Response(status=204)

    return handler
