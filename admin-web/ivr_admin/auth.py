"""Signing in and out: password, second factor, forced password change."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import structlog
from aiohttp import web

from . import account_store, audit, csrf, forms, passwords, render, sessions, throttle, totp
from .db import connection
from .errors import Throttled
from .keys import SETTINGS, VISITOR
from .model import Account, Address

if TYPE_CHECKING:
    from .db import Conn

log = structlog.get_logger("ivr_admin.auth")

BAD_LOGIN = "ログインIDまたはパスワードが正しくありません。"
UNUSABLE = (
    "このアカウントは現在ご利用になれません（停止中または有効期限切れ）。"
    "管理者にお問い合わせください。"
)
CHANGE_LOCKED = (
    "パスワードの誤りが続いたため、この接続元からのパスワード変更を一時的に制限しています。"
    "しばらく待ってから、もう一度お試しください（ログイン中の画面はそのまま利用できます）。"
)


def safe_next(value: str) -> str:
    """Only paths on this site: no scheme, no host, no ``//evil`` or backslash tricks."""
    if value.startswith("/") and not value.startswith(("//", "/\\")) and "\\" not in value:
        return value
    return "/"


def login_form(
    request: web.Request, error: str = "", status: int = 200, login_id: str = "", next_: str = "/"
) -> web.Response:
    settings = request.app[SETTINGS].admin
    token = csrf.login_token_value(request, settings)
    response = render.page(
        request,
        "login.html",
        {
            "login_token": token,
            "error": error,
            "login_id": login_id,
            "next": safe_next(next_),
            "expired": request.query.get("done") == "expired",
        },
        status=status,
    )
    csrf.set_login_cookie(response, settings, token)
    return response


async def login(request: web.Request) -> web.Response:
    session = request[VISITOR].session
    if session is not None and session.stage == "full":
        raise web.HTTPSeeOther("/")
    return login_form(request, next_=request.query.get("next", "/"))


async def _fail(
    conn: Conn, request: web.Request, login_id: str, reason: str, actor: str | None = None
) -> bool:
    """Log and count one failure (under ``throttle.serialise``); True when it starts a
    lockout. An account tried from many addresses is reported, not locked."""
    settings = request.app[SETTINGS].admin
    ip = request[VISITOR].ip
    target = f"account:{login_id}"
    minutes = settings.login_window_minutes
    failure = await throttle.fail(conn, settings, login_id, ip)
    await audit.record(conn, actor, "login.failure", target, None, {"reason": reason}, ip)
    log.warning("login failure", login_id=login_id, ip=str(ip), reason=reason)
    if failure.locked:
        after = {"minutes": minutes, "scope": failure.locked}
        await audit.record(conn, None, "login.locked", target, None, after, ip)
        log.warning("login locked", login_id=login_id, ip=str(ip), scope=failure.locked)
    if failure.alert:
        after = {
            "failures": failure.alert.failures,
            "addresses": failure.alert.addresses,
            "minutes": minutes,
        }
        await audit.record(conn, None, "login.distributed_attack", target, None, after, ip)
        log.warning("login distributed attack", login_id=login_id, **after)
    return failure.locked is not None


async def _start(conn: Conn, request: web.Request, account: Account, stage: str) -> str:
    """End the browser's current session, if any, and start a new one (a new id)."""
    visitor = request[VISITOR]
    if visitor.session is not None:
        await sessions.end(conn, visitor.session.token_hash)
    token, _ = await sessions.create(
        conn, account.id, stage, visitor.ip, request.headers.get("User-Agent", "")
    )
    if stage == "full":
        await account_store.note_login(conn, account.id, visitor.ip)
        await throttle.forget(conn, account.login_id, visitor.ip)
        await audit.record(
            conn,
            account.login_id,
            "login.success",
            f"account:{account.login_id}",
            None,
            {"two_step": account.totp_enabled},
            visitor.ip,
        )
    return token


def _go(request: web.Request, location: str, token: str) -> web.HTTPSeeOther:
    response = web.HTTPSeeOther(location)
    sessions.set_cookie(response, request.app[SETTINGS].admin, token)
    return response


async def login_post(request: web.Request) -> web.Response:
    settings = request.app[SETTINGS].admin
    ip: Address = request[VISITOR].ip
    data = await forms.form(request)
    login_id = forms.text(data, "login_id", 64).lower()
    raw = data.get("password", "")
    password = raw if isinstance(raw, str) else ""
    next_ = safe_next(forms.text(data, "next", 500))
    if not login_id or not password:
        return login_form(
            request, "ログインIDとパスワードを入力してください。", 400, login_id, next_
        )
    async with connection(request) as conn, conn.transaction():
        # Check, verification and record, one attempt at a time per address.
        await throttle.serialise(conn, ip)
        if await throttle.refused(conn, settings, login_id, ip):
            await audit.record(
                conn, None, "login.failure", f"account:{login_id}", None, {"reason": "locked"}, ip
            )
            # fail2ban (ops/fail2ban/filter.d/ivr-admin.conf) keeps counting while locked.
            log.warning("login failure", login_id=login_id, ip=str(ip), reason="locked")
            return login_form(request, Throttled.message, 429, login_id, next_)
        creds = await account_store.credentials(conn, login_id)
        if not await passwords.verify(creds.password_hash if creds else None, password):
            reason = "unknown_login_id" if creds is None else "wrong_password"
            locked = await _fail(conn, request, login_id, reason)
            return login_form(
                request,
                Throttled.message if locked else BAD_LOGIN,
                429 if locked else 401,
                login_id,
                next_,
            )
        assert creds is not None
        account = creds.account
        if not account.active:
            await audit.record(
                conn,
                None,
                "login.refused",
                f"account:{login_id}",
                None,
                {"reason": "suspended" if account.suspended_at else "expired"},
                ip,
            )
            return login_form(request, UNUSABLE, 403, login_id, next_)
        if passwords.needs_rehash(creds.password_hash):
            await account_store.set_password(
                conn,
                account.id,
                await passwords.hash_password(password),
                account.must_change_password,
            )
        stage = "mfa" if account.totp_enabled else "full"
        token = await _start(conn, request, account, stage)
    if stage == "mfa":
        raise _go(request, "/login/totp?next=" + quote(next_), token)
    raise _go(request, next_, token)


async def login_totp(request: web.Request, error: str = "", status: int = 200) -> web.Response:
    session = request[VISITOR].session
    if session is not None and session.stage == "full":
        raise web.HTTPSeeOther("/")  # already through the second step
    return render.page(
        request,
        "login_totp.html",
        {"error": error, "next": safe_next(request.query.get("next", "/"))},
        status=status,
    )


async def login_totp_post(request: web.Request) -> web.Response:
    settings = request.app[SETTINGS].admin
    visitor = request[VISITOR]
    assert visitor.session is not None
    if visitor.session.stage == "full":
        raise web.HTTPSeeOther("/")
    account = visitor.session.account
    data = await forms.form(request)
    next_ = safe_next(forms.text(data, "next", 500))
    async with connection(request) as conn, conn.transaction():
        await throttle.serialise(conn, visitor.ip)
        if await throttle.refused(conn, settings, account.login_id, visitor.ip):
            return await _abandon(conn, request)
        creds = await account_store.credentials(conn, account.login_id)
        step = None
        if creds is not None and creds.totp_secret is not None:
            step = totp.match(creds.totp_secret, forms.text(data, "code", 20), creds.totp_last_step)
        if step is None or not await account_store.accept_totp_step(conn, account.id, step):
            if await _fail(conn, request, account.login_id, "wrong_code"):
                return await _abandon(conn, request)
            return await login_totp(request, "確認コードが正しくありません。", 401)
        token = await _start(conn, request, account, "full")
    raise _go(request, next_, token)


async def _abandon(conn: Conn, request: web.Request) -> web.Response:
    """Too many wrong codes: drop the half-finished login and show the lockout message."""
    session = request[VISITOR].session
    assert session is not None
    await sessions.end(conn, session.token_hash)
    response = login_form(request, Throttled.message, 429)
    sessions.clear_cookie(response, request.app[SETTINGS].admin)
    return response


async def logout(request: web.Request) -> web.Response:
    visitor = request[VISITOR]
    if visitor.session is not None:
        async with connection(request) as conn:
            await sessions.end(conn, visitor.session.token_hash)
            login_id = visitor.session.account.login_id
            await audit.record(conn, login_id, "logout", f"account:{login_id}", ip=visitor.ip)
    response = web.HTTPSeeOther("/login?done=logged_out")
    sessions.clear_cookie(response, request.app[SETTINGS].admin)
    raise response


async def password_page(
    request: web.Request, errors: list[str] | None = None, status: int = 200
) -> web.Response:
    session = request[VISITOR].session
    assert session is not None
    context: dict[str, Any] = {
        "errors": errors or [],
        "forced": session.account.must_change_password,
        "min_length": passwords.MIN_LENGTH,
    }
    return render.page(request, "password.html", context, status=status)


async def password_post(request: web.Request) -> web.Response:
    """Change one's own password. The current password is checked under the same limits
    as a login: a wrong one is a failure for this account from this address."""
    settings = request.app[SETTINGS].admin
    visitor = request[VISITOR]
    assert visitor.session is not None
    account = visitor.session.account
    data = await forms.form(request)
    current, new, confirm = (
        v if isinstance(v, str) else ""
        for v in (data.get(k, "") for k in ("current", "new", "confirm"))
    )
    login_id = account.login_id
    async with connection(request) as conn, conn.transaction():
        await throttle.serialise(conn, visitor.ip)
        if await throttle.refused(conn, settings, login_id, visitor.ip):
            # Refused before the check, even the right password; the session stays.
            await audit.record(
                conn,
                login_id,
                "login.failure",
                f"account:{login_id}",
                None,
                {"reason": "locked"},
                visitor.ip,
            )
            return await password_page(request, [CHANGE_LOCKED], 429)
        creds = await account_store.credentials(conn, login_id)
        assert creds is not None
        if not await passwords.verify(creds.password_hash, current):
            if await _fail(conn, request, login_id, "wrong_current_password", login_id):
                return await password_page(request, [CHANGE_LOCKED], 429)
            return await password_page(request, ["現在のパスワードが正しくありません。"], 400)
    errors = passwords.problems(new, account.login_id)
    if new != confirm:
        errors.append("確認のため入力したパスワードが一致しません。")
    if new and new == current:
        errors.append("現在と同じパスワードは使えません。")
    if errors:
        return await password_page(request, errors, 400)
    hashed = await passwords.hash_password(new)
    async with connection(request) as conn, conn.transaction():
        await account_store.set_password(conn, account.id, hashed, must_change=False)
        # Anyone else holding a session with the old password is signed out.
        await sessions.end_all(conn, account.id, keep=visitor.session.token_hash)
        await throttle.forget(conn, login_id, visitor.ip)
        await audit.record(
            conn, account.login_id, "password.change", f"account:{account.login_id}", ip=visitor.ip
        )
    raise render.redirect("/", "password_changed")
