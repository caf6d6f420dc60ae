"""The optional SMS delivery webhook, served by the admin site (the server that already
faces the network behind the TLS proxy) at ``/sms/delivery/{token}``.

Only when ``sms.webhook_token`` is set. The route is public (``access.PUBLIC_ROUTES``):
no staff allowlist, no session, no CSRF — the provider is not staff. It has its own
guard instead (:mod:`ivr.sms.webhook`): the secret token in the path and the
provider's addresses in ``sms.webhook_sources``, matched against the client address
the site derives for every request (forwarding headers only from ``trusted_proxies``).
A token without sources or without a gateway stops start-up.
"""

from __future__ import annotations

import asyncpg
from aiohttp import web

from ivr.config import ConfigError
from ivr.config_rules import webhook_rules
from ivr.sms.plugin import make_gateway
from ivr.sms.webhook import delivery_handler

from ..keys import POOL, SETTINGS, VISITOR

ROUTE = "sms_delivery"
PATH = "/sms/delivery/{token}"


def _pool(request: web.Request) -> asyncpg.Pool:
    return request.app[POOL]


def _client(request: web.Request) -> str:
    return str(request[VISITOR].ip)


def setup(app: web.Application) -> None:
    """Add the webhook route when a token is configured; refuse an unsafe configuration."""
    s = app[SETTINGS].sms
    if not s.webhook_token:
        return
    for ok, message in webhook_rules(s):
        if not ok:
            raise ConfigError(f"config: {message}")
    gateway = make_gateway(s)
    if gateway is None:  # pragma: no cover - webhook_rules requires a gateway
        raise ConfigError("config: sms.webhook_token: a webhook needs sms.gateway")
    handler = delivery_handler(_pool, gateway, s.webhook_token, s.webhook_sources, client=_client)
    app.router.add_post(PATH, handler, name=ROUTE)

    async def close(_: web.Application) -> None:
        await gateway.close()

    app.on_cleanup.append(close)


__all__ = ["PATH", "ROUTE", "setup"]
