"""Jinja2 set-up and the helpers every page uses."""

from __future__ import annotations

import datetime as dt
from typing import Any

import aiohttp_jinja2
import jinja2
from aiohttp import web

from . import access
from .keys import SETTINGS, VISITOR
from .model import TOKYO

# Short confirmations after a redirect (?done=...); only known ids are shown.
NOTICES = {
    "saved": "保存しました。",
    "suspended": "アカウントを停止しました。このアカウントのログイン中の画面もすべて終了しました。",
    "resumed": "アカウントの停止を解除しました。",
    "totp_reset": "2段階認証の設定を解除しました。次回ログイン時に設定し直してください。",
    "password_changed": "パスワードを変更しました。",
    "totp_enrolled": "2段階認証を設定しました。次回から確認コードの入力が必要です。",
    "logged_out": "ログアウトしました。",
    "expired": "ログインの有効期限が切れたか、ログアウトされました。もう一度ログインしてください。",
    "blocklist_added": "送信拒否リストに登録しました。この番号にはSMSを送りません。",
    "blocklist_removed": "送信拒否リストから削除しました。",
}


def tokyo_time(value: dt.datetime | None, fmt: str = "%Y年%m月%d日 %H:%M") -> str:
    """Datetimes are stored in UTC and always shown in Japan time."""
    if value is None:
        return "—"
    return value.astimezone(TOKYO).strftime(fmt)


def japanese_date(value: dt.date | None) -> str:
    if value is None:
        return "—"
    weekday = "月火水木金土日"[value.weekday()]
    return f"{value.year}年{value.month}月{value.day}日({weekday})"


def _context(request: web.Request) -> dict[str, Any]:
    settings = request.app[SETTINGS].admin
    visitor = request.get(VISITOR)
    session = visitor.session if visitor else None
    account = session.account if session and session.stage == "full" else None
    done = request.query.get("done", "")
    return {
        "site_name": settings.site_name,
        "account": account,
        "csrf_token": session.csrf_token if session else "",
        # Until a required password change is done, the menu would only lead back to it.
        "nav": access.navigation(account.role)
        if account and not account.must_change_password
        else [],
        "path": request.path,
        "notice": NOTICES.get(done, ""),
    }


def setup(app: web.Application) -> None:
    env = aiohttp_jinja2.setup(
        app,
        loader=jinja2.PackageLoader("ivr_admin", "templates"),
        autoescape=jinja2.select_autoescape(default=True),
        undefined=jinja2.StrictUndefined,
    )
    env.filters["tokyo"] = tokyo_time
    env.filters["jdate"] = japanese_date


def page(
    request: web.Request, template: str, context: dict[str, Any] | None = None, status: int = 200
) -> web.Response:
    # Common values are merged here rather than by aiohttp_jinja2's context processors,
    # whose middleware stores a plain string key on the request.
    full = _context(request) | (context or {})
    return aiohttp_jinja2.render_template(template, request, full, status=status)


def redirect(location: str, done: str = "") -> web.HTTPSeeOther:
    """A 303 after a successful POST, with an optional notice id."""
    if done:
        location += ("&" if "?" in location else "?") + f"done={done}"
    return web.HTTPSeeOther(location)
