"""The two middlewares: errors -> responses (one place), and access control."""

from __future__ import annotations

from urllib.parse import quote

import structlog
from aiohttp import web
from aiohttp.typedefs import Handler

from ivr.config import AdminSettings

from . import access, allowlist, csrf, render, security, sessions
from .db import connection
from .errors import AddressNotAllowed, AdminError, Forbidden, ForwardingRefused, LoginRequired
from .keys import SETTINGS, VISITOR
from .model import Address, Visitor

log = structlog.get_logger("ivr_admin.http")

_HTTP_MESSAGES = {
    404: "お探しのページは見つかりませんでした。",
    405: "この方法ではページを利用できません。",
    413: "送信された内容が大きすぎます。",
}


def _wants_json(request: web.Request) -> bool:
    return request.path.startswith("/api/") or request.path == "/healthz"


def _error_response(request: web.Request, error_id: str, status: int, message: str) -> web.Response:
    if _wants_json(request):
        return web.json_response({"error": error_id, "message": message}, status=status)
    return render.page(
        request,
        "error.html",
        {"error_id": error_id, "status": status, "message": message},
        status=status,
    )


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Map AdminError (stable ids) and aiohttp's HTTP errors to pages or JSON; never leak
    a traceback to the browser."""
    try:
        return await handler(request)
    except LoginRequired as e:
        if _wants_json(request):
            return _error_response(request, e.id, e.status, e.detail)
        target = "/login?next=" + quote(request.path_qs if request.method == "GET" else "/")
        if request.get(VISITOR) is not None and request[VISITOR].had_cookie:
            target += "&done=expired"
        raise web.HTTPSeeOther(target) from None
    except AdminError as e:
        return _error_response(request, e.id, e.status, e.detail)
    except web.HTTPException as e:
        if e.status < 400:
            raise
        message = _HTTP_MESSAGES.get(e.status, "リクエストを処理できませんでした。")
        return _error_response(request, f"http_{e.status}", e.status, message)
    except Exception:
        log.exception("unhandled error", path=request.path, method=request.method)
        return _error_response(
            request,
            "internal",
            500,
            "システムエラーが発生しました。時間をおいて、もう一度お試しください。",
        )


def _client_address(request: web.Request, settings: AdminSettings) -> Address:
    """Decided for every request: forwarding headers count only from a declared proxy."""
    forwarding = {
        name: ", ".join(request.headers.getall(name))
        for name in allowlist.FORWARDING_HEADERS
        if name in request.headers
    }
    try:
        return allowlist.client_address(
            request.remote, forwarding, security.trusted_proxies(settings)
        )
    except ForwardingRefused:
        log.warning(
            "forwarding headers refused",
            peer=request.remote or "",
            headers=sorted(forwarding),
            path=request.path,
        )
        raise


@web.middleware
async def access_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Allowlist, session, CSRF, login stage and role — checked for every request
    before any view runs, so a view cannot forget them."""
    settings = request.app[SETTINGS].admin
    ip = _client_address(request, settings)
    route = request.match_info.route.name or ""
    if route in access.PUBLIC_ROUTES:
        request[VISITOR] = Visitor(ip, None, False)
        return await handler(request)
    token = request.cookies.get(sessions.cookie_name(settings), "")
    async with connection(request) as conn:
        policy = await security.load_policy(conn)
        if not allowlist.allows(security.effective(settings, policy), ip):
            log.warning(
                "address not allowed", ip=str(ip), path=request.path, peer=request.remote or ""
            )
            request[VISITOR] = Visitor(ip, None, False)
            raise AddressNotAllowed()
        session = await sessions.load(conn, token, settings) if token else None
    visitor = Visitor(ip, session, bool(token) and session is None)
    request[VISITOR] = visitor
    if request.path.startswith("/static/"):
        return await handler(request)
    await csrf.check(request, visitor, settings)
    if route in access.ANONYMOUS_ROUTES:
        return await handler(request)
    if session is None:
        raise LoginRequired()
    account = session.account
    if session.stage == "mfa":
        if route not in access.MFA_ROUTES:
            raise web.HTTPSeeOther("/login/totp")
        return await handler(request)
    if account.must_change_password and route not in access.PASSWORD_CHANGE_ROUTES:
        raise web.HTTPSeeOther("/password")
    if (
        account.role in policy.totp_roles
        and not account.totp_enabled
        and route not in access.TOTP_ENROL_ROUTES
    ):
        raise web.HTTPSeeOther("/account/totp")
    if not account.role.allows(access.required_role(request.path)):
        log.warning("role refused", login_id=account.login_id, path=request.path)
        raise Forbidden()
    return await handler(request)


async def security_headers(request: web.Request, response: web.StreamResponse) -> None:
    """Headers for every response, errors and static files included."""
    h = response.headers
    h["Content-Security-Policy"] = (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    )
    h["X-Content-Type-Options"] = "nosniff"
    h["X-Frame-Options"] = "DENY"
    h["Referrer-Policy"] = "same-origin"
    h["Cross-Origin-Opener-Policy"] = "same-origin"
    h["Permissions-Policy"] = "camera=(), microphone=(), geolocation=(), payment=()"
    # Browsers ignore HSTS received over plain HTTP (RFC 6797 8.1), so sending it always
    # is safe, and behind a TLS-terminating proxy it is what we want.
    h["Strict-Transport-Security"] = "max-age=63072000; includeSubDomains"
    if not request.path.startswith("/static/"):
        h["Cache-Control"] = "no-store"  # pages may show personal data or a one-time password
