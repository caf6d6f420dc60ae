"""Security settings: the editable allowlist and which roles must use 2-step login."""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from aiohttp import web

from ivr.config import AdminSettings, ConfigError

from . import allowlist, audit, forms, render
from .allowlist import Entry, Network
from .db import connection
from .errors import BadRequest
from .keys import SETTINGS, VISITOR
from .model import Address, Role

if TYPE_CHECKING:
    from .db import Conn


# Two-step login is required of these roles unless an administrator changed the policy.
DEFAULT_TOTP_ROLES = [Role.ADMINISTRATOR.value]


@dataclass(frozen=True)
class Policy:
    allowlist: tuple[Entry, ...]  # edited in the site; the config file's list is added to it
    totp_roles: frozenset[Role]


@functools.cache
def config_networks(settings: AdminSettings) -> list[Network]:
    """The config file's allowlist; a bad entry stops start-up naming the key."""
    found = []
    for i, cidr in enumerate(settings.allowlist):
        try:
            found.append(allowlist.parse_network(cidr))
        except ValueError:
            raise ConfigError(f"config: admin.allowlist[{i}]: not a CIDR: {cidr!r}") from None
    return found


@functools.cache
def trusted_proxies(settings: AdminSettings) -> list[Network]:
    found = []
    for i, cidr in enumerate(settings.trusted_proxies):
        try:
            found.append(allowlist.parse_network(cidr))
        except ValueError:
            raise ConfigError(f"config: admin.trusted_proxies[{i}]: not a CIDR: {cidr!r}") from None
    return found


async def load_policy(conn: Conn) -> Policy:
    rows = {
        r["key"]: json.loads(r["value"])
        for r in await conn.fetch("SELECT key, value::text FROM admin_settings")
    }
    entries = []
    for item in rows.get("allowlist", []):
        try:
            entries.append(Entry(allowlist.parse_network(item["cidr"]), item.get("note", "")))
        except (ValueError, KeyError, TypeError):
            continue  # written only by save_allowlist; skip rather than lock everyone out
    required = rows.get("totp_required_roles", DEFAULT_TOTP_ROLES)  # sql/0070: administrators
    roles = frozenset(Role(r) for r in required if r in set(Role))
    return Policy(tuple(entries), roles)


def effective(settings: AdminSettings, policy: Policy) -> list[Network]:
    return config_networks(settings) + [e.network for e in policy.allowlist]


async def _save(conn: Conn, key: str, value: Any, actor: str) -> None:
    await conn.execute(
        """UPDATE admin_settings SET value = $2::jsonb, updated_at = now(), updated_by = $3
           WHERE key = $1""",
        key,
        json.dumps(value, ensure_ascii=False),
        actor,
    )


def _entries_json(entries: tuple[Entry, ...] | list[Entry]) -> list[dict[str, str]]:
    return [{"cidr": str(e.network), "note": e.note} for e in entries]


def _check(settings: AdminSettings, text: str, ip: Address) -> dict[str, Any]:
    entries, errors = allowlist.parse_lines(text[:20000])
    networks = config_networks(settings) + [e.network for e in entries]
    return {
        "entries": entries,
        "errors": errors,
        "includes_you": allowlist.allows(networks, ip),
        "networks": networks,
    }


async def page(request: web.Request, status: int = 200, **extra: Any) -> web.Response:
    settings = request.app[SETTINGS].admin
    async with connection(request) as conn:
        policy = await load_policy(conn)
    ip = request[VISITOR].ip
    networks = effective(settings, policy)
    context: dict[str, Any] = {
        "config_entries": settings.allowlist,
        "allowlist_text": "\n".join(e.line() for e in policy.allowlist),
        "your_address": str(ip),
        "you_allowed": allowlist.allows(networks, ip),
        "totp_roles": {r.value for r in policy.totp_roles},
        "roles": list(Role),
        "nginx": allowlist.render_nginx(networks),
        "caddy": allowlist.render_caddy(networks),
        "errors": [],
        "needs_confirm": False,
    }
    context.update(extra)
    return render.page(request, "security.html", context, status=status)


async def security_page(request: web.Request) -> web.Response:
    return await page(request)


async def allowlist_post(request: web.Request) -> web.Response:
    settings = request.app[SETTINGS].admin
    visitor = request[VISITOR]
    data = await forms.form(request)
    text = forms.text(data, "allowlist", 20000)
    result = _check(settings, text, visitor.ip)
    if result["errors"]:
        return await page(request, 400, allowlist_text=text, errors=result["errors"])
    if not result["includes_you"] and forms.text(data, "confirm_lockout") != "yes":
        # Saving would shut out the very address making the change: say so, ask again.
        return await page(request, 409, allowlist_text=text, needs_confirm=True)
    assert visitor.session is not None
    actor = visitor.session.account.login_id
    async with connection(request) as conn, conn.transaction():
        before = await load_policy(conn)
        after = _entries_json(result["entries"])
        await _save(conn, "allowlist", after, actor)
        await audit.record(
            conn,
            actor,
            "allowlist.update",
            "allowlist",
            {"entries": _entries_json(before.allowlist)},
            {"entries": after},
            visitor.ip,
        )
    raise render.redirect("/security", "saved")


async def totp_roles_post(request: web.Request) -> web.Response:
    visitor = request[VISITOR]
    assert visitor.session is not None
    data = await forms.form(request)
    roles = sorted({r for r in forms.values(data, "roles") if r in set(Role)})
    actor = visitor.session.account.login_id
    async with connection(request) as conn, conn.transaction():
        before = await load_policy(conn)
        await _save(conn, "totp_required_roles", roles, actor)
        await audit.record(
            conn,
            actor,
            "totp_policy.update",
            "totp_required_roles",
            {"roles": sorted(r.value for r in before.totp_roles)},
            {"roles": roles},
            visitor.ip,
        )
    raise render.redirect("/security", "saved")


async def allowlist_check_api(request: web.Request) -> web.Response:
    """JSON: would this list be valid, and would it still admit the caller's address?"""
    body = await forms.json_object(request)
    text = body.get("allowlist", "")
    if not isinstance(text, str):
        raise BadRequest("allowlist は文字列で送ってください。")
    result = _check(request.app[SETTINGS].admin, text.replace("\x00", ""), request[VISITOR].ip)
    return web.json_response(
        {
            "valid": not result["errors"],
            "errors": result["errors"],
            "includes_you": result["includes_you"],
            "your_address": str(request[VISITOR].ip),
        }
    )
