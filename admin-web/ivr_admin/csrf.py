"""CSRF protection for every state-changing request.

Signed-in visitors send the token bound to their server-side session. Before login
there is no session yet, so the login form uses a double-submit token: a random
cookie the form must repeat (a cross-site page can neither read nor set it).
"""

from __future__ import annotations

import hmac
import secrets

from aiohttp import web

from ivr.config import AdminSettings

from .errors import BadRequest, CsrfRejected
from .model import Visitor

FIELD = "csrf_token"
HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def pre_cookie_name(settings: AdminSettings) -> str:
    return "__Host-ivr_admin_pre" if settings.cookie_secure else "ivr_admin_pre"


def login_token_value(request: web.Request, settings: AdminSettings) -> str:
    """The double-submit token for the login form: the browser's, or a new one."""
    token = request.cookies.get(pre_cookie_name(settings), "")
    return token if len(token) >= 32 else secrets.token_urlsafe(32)


def set_login_cookie(response: web.StreamResponse, settings: AdminSettings, token: str) -> None:
    response.set_cookie(
        pre_cookie_name(settings),
        token,
        path="/",
        secure=settings.cookie_secure,
        httponly=True,
        samesite="Strict",
    )


async def check(request: web.Request, visitor: Visitor, settings: AdminSettings) -> None:
    """Raise CsrfRejected unless an unsafe request carries the expected token."""
    if request.method in SAFE_METHODS:
        return
    if request.headers.get("Sec-Fetch-Site") == "cross-site":
        raise CsrfRejected()
    sent = request.headers.get(HEADER, "")
    if not sent and request.content_type in (
        "application/x-www-form-urlencoded",
        "multipart/form-data",
    ):
        try:
            form = await request.post()
        except (ValueError, UnicodeDecodeError) as e:  # malformed body
            raise BadRequest() from e
        value = form.get(FIELD, "")
        sent = value if isinstance(value, str) else ""
    if visitor.session is not None:
        expected = visitor.session.csrf_token
    else:
        expected = request.cookies.get(pre_cookie_name(settings), "")
    if not expected or not sent or not hmac.compare_digest(sent.encode(), expected.encode()):
        raise CsrfRejected()
