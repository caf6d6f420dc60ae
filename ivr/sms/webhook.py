"""Delivery reports pushed by the provider (Karaden's "SMS送達結果通知": a POST of the
message object as JSON), as an aiohttp handler. The admin site serves it at
``/sms/delivery/{token}`` when ``sms.webhook_token`` is set (``ivr_admin.sms.webhook``).

Checked in this order, each answer saying no more than it must:

1. the token in the path, compared in constant time: wrong → **404**, as for a path
   that does not exist (nothing tells a guesser it came close);
2. the source address (the client address the site decided, proxies included) against
   ``sms.webhook_sources``: outside → **403**; an empty list refuses everyone;
3. the body: not JSON, or not a report the gateway can read → **400**;
4. the update: idempotent, by the provider's id or our tag, and only ever forward (a
   final state is never changed) → **200** ``{"result": "updated" | "unchanged"}``; a
   report sent twice changes nothing the second time.

Polling (:mod:`ivr.sms.worker`) gets the same results without it: the webhook only
makes them arrive sooner.
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

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Handler = Callable[[web.Request], Awaitable[web.Response]]


async def apply_report(pool: asyncpg.Pool, gateway: Gateway, payload: Any) -> bool | None:
    """Record one report; None when it cannot be read, else whether a row changed."""
    found = gateway.report(payload)
    if found is None:
        return None
    msg, tag = found
    async with pool.acquire() as conn:
        return await outbox.apply_report(conn, msg, tag)


def source_networks(sources: Sequence[str]) -> list[Network]:
    """The allowed sources; raises ValueError naming a bad entry."""
    return [ipaddress.ip_network(s.strip(), strict=False) for s in sources]


def allowed(networks: Sequence[Network], address: str | None) -> bool:
    """Whether ``address`` is in one of ``networks`` (IPv4 seen as ::ffff:a.b.c.d counts
    as IPv4); an unreadable address or an empty list allows nothing."""
    try:
        ip = ipaddress.ip_address((address or "").split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return any(ip.version == n.version and ip in n for n in networks)


def _peer(request: web.Request) -> str | None:
    return request.remote


def delivery_handler(
    pool: Callable[[web.Request], asyncpg.Pool],
    gateway: Gateway,
    token: str,
    sources: Sequence[str],
    *,
    client: Callable[[web.Request], str | None] = _peer,
) -> Handler:
    """An aiohttp handler for ``POST …/{token}``. ``pool`` gives the request's database
    pool; ``client`` its source address (by default the TCP peer: a site behind a proxy
    passes the address it derived from the forwarding headers). An empty ``token``
    refuses everything with 404, an empty ``sources`` with 403."""
    networks = source_networks(sources)
    expected = token.encode()

    async def handler(request: web.Request) -> web.Response:
        given = request.match_info.get("token", "").encode()
        if not expected or not hmac.compare_digest(given, expected):
            log.warning("sms_webhook_refused", why="token", peer=request.remote or "")
            raise web.HTTPNotFound()
        source = client(request)
        if not allowed(networks, source):
            log.warning("sms_webhook_refused", why="source", source=source or "")
            raise web.HTTPForbidden()
        try:
            payload = await request.json(loads=json.loads)
        except (ValueError, UnicodeDecodeError):
            raise web.HTTPBadRequest() from None
        changed = await apply_report(pool(request), gateway, payload)
        if changed is None:
            log.warning("sms_webhook_unreadable", source=source or "")
            raise web.HTTPBadRequest()
        log.info("sms_webhook", changed=changed)
        return web.json_response({"result": "updated" if changed else "unchanged"})

    return handler
