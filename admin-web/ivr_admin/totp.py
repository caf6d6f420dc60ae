"""Two-step login with time-based one-time codes (RFC 6238, 30 s, 6 digits)."""

from __future__ import annotations

import hmac
import time
from urllib.parse import quote

import pyotp
from aiohttp import web

from . import account_store, audit, forms, render, sessions
from .db import connection
from .keys import SETTINGS, VISITOR

STEP_SECONDS = 30


def new_secret() -> str:
    return pyotp.random_base32()  # 160 bits, as RFC 4226 recommends


def match(secret: str, code: str, last_step: int | None, now: float | None = None) -> int | None:
    """The time step ``code`` belongs to (one step of clock drift either way), or None.

    A step at or before ``last_step`` was already used and is refused: codes work once.
    """
    code = code.replace(" ", "").replace("-", "")
    if len(code) != 6 or not code.isascii() or not code.isdigit():
        return None
    totp = pyotp.TOTP(secret)
    current = int((time.time() if now is None else now) // STEP_SECONDS)
    for step in (current - 1, current, current + 1):
        if last_step is not None and step <= last_step:
            continue
        if hmac.compare_digest(totp.at(step * STEP_SECONDS), code):
            return step
    return None


def grouped(secret: str) -> str:
    """``JBSW Y3DP EHPK 3PXP`` — easier to type into a phone by hand."""
    return " ".join(secret[i : i + 4] for i in range(0, len(secret), 4))


def provisioning_uri(secret: str, login_id: str, issuer: str) -> str:
    return pyotp.TOTP(secret).provisioning_uri(name=login_id, issuer_name=issuer)


async def _setup_page(request: web.Request, error: str = "", status: int = 200) -> web.Response:
    session = request[VISITOR].session
    assert session is not None
    secret = session.pending_totp
    if secret is None:
        secret = new_secret()
        async with connection(request) as conn:
            await sessions.set_pending_totp(conn, session.token_hash, secret)
    issuer = request.app[SETTINGS].admin.site_name
    return render.page(
        request,
        "totp_setup.html",
        {
            "enabled": session.account.totp_enabled,
            "secret": secret,
            "secret_grouped": grouped(secret),
            "uri": provisioning_uri(secret, session.account.login_id, issuer),
            "uri_quoted": quote(provisioning_uri(secret, session.account.login_id, issuer)),
            "error": error,
        },
        status=status,
    )


async def totp_setup(request: web.Request) -> web.Response:
    return await _setup_page(request)


async def totp_setup_post(request: web.Request) -> web.Response:
    visitor = request[VISITOR]
    session = visitor.session
    assert session is not None
    if session.pending_totp is None:
        return await _setup_page(request, "もう一度、最初から設定してください。", 400)
    code = forms.text(await forms.form(request), "code", 20)
    step = match(session.pending_totp, code, None)
    if step is None:
        return await _setup_page(
            request,
            "確認コードが正しくありません。アプリに表示されている6桁の数字を入力してください。",
            400,
        )
    account = session.account
    async with connection(request) as conn, conn.transaction():
        after = await account_store.set_totp(conn, account.id, session.pending_totp, step)
        await sessions.set_pending_totp(conn, session.token_hash, None)
        await audit.record(
            conn,
            account.login_id,
            "totp.enrol",
            f"account:{account.login_id}",
            account.audit_view(),
            after.audit_view(),
            visitor.ip,
        )
    raise render.redirect("/", "totp_enrolled")
