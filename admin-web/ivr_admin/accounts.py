"""Account administration: issue login IDs, change roles and expiry, suspend and
resume, reissue passwords and reset 2-step login. Administrators only (see ``access``)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from aiohttp import web

from . import account_store, audit, forms, passwords, render, sessions
from .db import connection
from .errors import NotFound
from .keys import VISITOR
from .model import Account, Role, today_tokyo


def _actor(request: web.Request) -> Account:
    session = request[VISITOR].session
    assert session is not None  # the middleware lets only signed-in administrators here
    return session.account


def _account_id(request: web.Request) -> int:
    return int(request.match_info["id"])  # the route pattern admits 1-18 digits only


async def _load(request: web.Request) -> Account:
    async with connection(request) as conn:
        account = await account_store.get(conn, _account_id(request))
    if account is None:
        raise NotFound("指定されたアカウントは見つかりませんでした。")
    return account


def _read_fields(
    data: forms.Form, current_expiry: dt.date | None = None
) -> tuple[dict[str, Any], list[str]]:
    """Display name, role and expiry from a form, with messages for what is wrong.

    A past expiry date is refused unless it is the one already stored, so an expired
    account can still be renamed or have its role changed."""
    errors = []
    name = forms.text(data, "display_name", 100)
    role_text = forms.text(data, "role")
    role = Role(role_text) if role_text in set(Role) else None
    if role is None:
        errors.append("権限を選んでください。")
    expires_text = forms.text(data, "expires_on", 10)
    expires_on = None
    if expires_text:
        try:
            expires_on = dt.date.fromisoformat(expires_text)
        except ValueError:
            errors.append("有効期限は「2025-03-31」の形で入力してください。")
        else:
            if expires_on < today_tokyo() and expires_on != current_expiry:
                errors.append("有効期限に過去の日付は指定できません。")
    return {"display_name": name, "role": role, "expires_on": expires_on}, errors


async def accounts_list(request: web.Request) -> web.Response:
    async with connection(request) as conn:
        accounts = await account_store.list_all(conn)
    return render.page(request, "accounts/list.html", {"accounts": accounts})


async def account_new(request: web.Request) -> web.Response:
    empty = {"login_id": "", "display_name": "", "role": "", "expires_on": ""}
    return render.page(
        request, "accounts/new.html", {"errors": [], "form": empty, "roles": list(Role)}
    )


async def account_create(request: web.Request) -> web.Response:
    data = await forms.form(request)
    fields, errors = _read_fields(data)
    login_id = forms.text(data, "login_id", 64).lower()
    if not account_store.LOGIN_ID.fullmatch(login_id):
        errors.insert(0, account_store.LOGIN_ID_RULE)
    form = {
        "login_id": login_id,
        "display_name": fields["display_name"],
        "role": fields["role"].value if fields["role"] else "",
        "expires_on": forms.text(data, "expires_on", 10),
    }
    if errors:
        return render.page(
            request,
            "accounts/new.html",
            {"errors": errors, "form": form, "roles": list(Role)},
            status=400,
        )
    initial = passwords.generate()
    hashed = await passwords.hash_password(initial)
    actor = _actor(request)
    try:
        async with connection(request) as conn, conn.transaction():
            account = await account_store.create(
                conn, login_id, fields["display_name"], fields["role"], fields["expires_on"], hashed
            )
            await audit.record(
                conn,
                actor.login_id,
                "account.create",
                f"account:{login_id}",
                None,
                account.audit_view(),
                request[VISITOR].ip,
            )
    except account_store.LoginIdTaken:
        return render.page(
            request,
            "accounts/new.html",
            {
                "errors": [f"ログインID「{login_id}」はすでに使われています。"],
                "form": form,
                "roles": list(Role),
            },
            status=409,
        )
    return _issued(request, account, initial, created=True)


def _issued(request: web.Request, account: Account, password: str, created: bool) -> web.Response:
    """The only page that ever shows the initial password."""
    return render.page(
        request,
        "accounts/issued.html",
        {"target": account, "password": password, "created": created},
    )


async def account_edit(
    request: web.Request, errors: list[str] | None = None, status: int = 200
) -> web.Response:
    account = await _load(request)
    return render.page(
        request,
        "accounts/edit.html",
        {
            "target": account,
            "roles": list(Role),
            "errors": errors or [],
            "is_self": account.id == _actor(request).id,
        },
        status=status,
    )


async def _guard(request: web.Request, account: Account, losing_admin: bool) -> str:
    """Why the change must not happen (self-lockout, no administrator left), or ""."""
    if not losing_admin:
        return ""
    if account.id == _actor(request).id:
        return "自分自身のアカウントを停止したり、管理者以外の権限に変えたりすることはできません。"
    async with connection(request) as conn:
        if (
            account.role is Role.ADMINISTRATOR
            and not await account_store.other_active_administrators(conn, account.id)
        ):
            return "有効な管理者が1人もいなくなるため、この変更はできません。"
    return ""


async def account_update(request: web.Request) -> web.Response:
    account = await _load(request)
    fields, errors = _read_fields(await forms.form(request), account.expires_on)
    if errors:
        return await account_edit(request, errors, 400)
    problem = await _guard(
        request,
        account,
        account.role is Role.ADMINISTRATOR and fields["role"] is not Role.ADMINISTRATOR,
    )
    if problem:
        return await account_edit(request, [problem], 409)
    async with connection(request) as conn, conn.transaction():
        after = await account_store.update(
            conn, account.id, fields["display_name"], fields["role"], fields["expires_on"]
        )
        await audit.record(
            conn,
            _actor(request).login_id,
            "account.update",
            f"account:{account.login_id}",
            account.audit_view(),
            after.audit_view(),
            request[VISITOR].ip,
        )
    raise render.redirect(f"/accounts/{account.id}", "saved")


async def account_suspend(request: web.Request) -> web.Response:
    account = await _load(request)
    problem = await _guard(request, account, True)
    if problem:
        return await account_edit(request, [problem], 409)
    async with connection(request) as conn, conn.transaction():
        after = await account_store.set_suspended(conn, account.id, True)
        # Suspension takes effect now: every live session of the account ends with it.
        await sessions.end_all(conn, account.id)
        await audit.record(
            conn,
            _actor(request).login_id,
            "account.suspend",
            f"account:{account.login_id}",
            account.audit_view(),
            after.audit_view(),
            request[VISITOR].ip,
        )
    raise render.redirect(f"/accounts/{account.id}", "suspended")


async def account_resume(request: web.Request) -> web.Response:
    account = await _load(request)
    async with connection(request) as conn, conn.transaction():
        after = await account_store.set_suspended(conn, account.id, False)
        await audit.record(
            conn,
            _actor(request).login_id,
            "account.resume",
            f"account:{account.login_id}",
            account.audit_view(),
            after.audit_view(),
            request[VISITOR].ip,
        )
    raise render.redirect(f"/accounts/{account.id}", "resumed")


async def account_reset_password(request: web.Request) -> web.Response:
    account = await _load(request)
    initial = passwords.generate()
    hashed = await passwords.hash_password(initial)
    async with connection(request) as conn, conn.transaction():
        await account_store.set_password(conn, account.id, hashed, must_change=True)
        if account.id != _actor(request).id:
            await sessions.end_all(conn, account.id)
        await audit.record(
            conn,
            _actor(request).login_id,
            "account.password_reset",
            f"account:{account.login_id}",
            None,
            {"must_change_password": True},
            request[VISITOR].ip,
        )
    return _issued(request, account, initial, created=False)


async def account_reset_totp(request: web.Request) -> web.Response:
    account = await _load(request)
    async with connection(request) as conn, conn.transaction():
        after = await account_store.set_totp(conn, account.id, None, None)
        await audit.record(
            conn,
            _actor(request).login_id,
            "account.totp_reset",
            f"account:{account.login_id}",
            account.audit_view(),
            after.audit_view(),
            request[VISITOR].ip,
        )
    raise render.redirect(f"/accounts/{account.id}", "totp_reset")
