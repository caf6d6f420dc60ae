"""Template list and editor. Saving publishes a new version of the whole set (the
rules are checked, stale edits refused, the change audit-logged and announced to
the controllers) through :func:`ivr.sms.store.publish`."""

from __future__ import annotations

import json

from aiohttp import web

from ivr.flow.model import is_name
from ivr.sms import listing, store
from ivr.sms.templates import LONGEST_VALUES, MAX_SOURCE, VARIABLES, Rules, render
from ivr.sms.text import MAX_CHARS, parts, units

from .. import forms
from .. import render as pages
from ..db import connection
from ..keys import SETTINGS, VISITOR


def _rules(request: web.Request) -> Rules:
    return Rules.from_settings(request.app[SETTINGS].sms)


def measure(text: str) -> dict[str, int]:
    """Characters and parts as typed, and with the longest plausible values filled in."""
    try:
        longest = render(text, LONGEST_VALUES)
    except (KeyError, ValueError, IndexError):
        longest = text
    return {
        "chars": units(text),
        "parts": parts(text),
        "longest_chars": units(longest),
        "longest_parts": parts(longest),
    }


def counter_text(m: dict[str, int]) -> str:
    """The counter's words (the same as static/sms.js writes while typing)."""
    out = f"{m['chars']}文字・{m['parts']}通"
    if m["longest_chars"] != m["chars"]:
        out += f"（差し込み項目が最も長い場合 {m['longest_chars']}文字・{m['longest_parts']}通）"
    if m["longest_chars"] > MAX_CHARS:
        out += f" — 上限の{MAX_CHARS}文字を超えています"
    return out


async def _list_page(request: web.Request, error: str = "", status: int = 200) -> web.Response:
    rules = _rules(request)
    async with connection(request) as conn:
        version, current = await store.current(conn, rules)
    rows = [
        {"name": name, "text": text, "measure": measure(text)}
        for name, text in sorted(current.templates.items())
    ]
    return pages.page(
        request,
        "sms/templates.html",
        {"rows": rows, "version": version, "rules": rules, "error": error},
        status=status,
    )


async def template_list(request: web.Request) -> web.Response:
    return await _list_page(request)


async def template_new(request: web.Request) -> web.Response:
    """The list page's "new template" form: on to the editor for a valid name."""
    name = forms.text(request.query, "name", 64)
    if not is_name(name):
        error = "テンプレート名は半角英数字と「_」で、数字以外から始めてください（例: sms_lost）。"
        return await _list_page(request, error, 400)
    raise web.HTTPSeeOther(f"/sms-templates/edit/{name}")


async def _editor(
    request: web.Request,
    name: str,
    text: str,
    version: int | None,
    *,
    errors: list[str] | None = None,
    stored: str | None = None,
    exists: bool = True,
    status: int = 200,
) -> web.Response:
    rules = _rules(request)
    m = measure(text)
    async with connection(request) as conn:
        counted = await listing.provider_counts(conn, name)
    return pages.page(
        request,
        "sms/edit.html",
        {
            "name": name,
            "text": text,
            "version": "" if version is None else str(version),
            "errors": errors or [],
            "stored": stored,
            "exists": exists,
            "rules": rules,
            "variables": VARIABLES,
            "counter": counter_text(m),
            "over": m["longest_chars"] > MAX_CHARS,
            "longest_json": json.dumps(dict(LONGEST_VALUES), ensure_ascii=False),
            "max_chars": MAX_CHARS,
            "max_source": MAX_SOURCE,
            "provider_counts": counted,
        },
        status=status,
    )


async def template_edit(request: web.Request) -> web.Response:
    name = request.match_info["name"]
    async with connection(request) as conn:
        version, current = await store.current(conn, _rules(request))
    text = current.templates.get(name)
    if text is None:
        # A new template: start from the warning line every template needs.
        return await _editor(request, name, _rules(request).fraud_warning, version, exists=False)
    return await _editor(request, name, text, version)


def _base_version(data: forms.Form) -> int | None:
    raw = forms.text(data, "base_version", 20)
    return int(raw) if raw.isdigit() else None


async def template_publish(request: web.Request) -> web.Response:
    name = request.match_info["name"]
    data = await forms.form(request)
    text = forms.text(data, "body", MAX_SOURCE + 1).replace("\r\n", "\n").replace("\r", "\n")
    base = _base_version(data)
    rules = _rules(request)
    session = request[VISITOR].session
    assert session is not None  # the middleware lets only signed-in operators here
    try:
        async with connection(request) as conn:
            _, current = await store.current(conn, rules)
            await store.publish(
                conn,
                current.with_template(name, text),
                session.account.login_id,
                base,
                rules,
                ip=request[VISITOR].ip,
            )
    except store.TemplatesRefused as e:
        errors = [i.message for i in e.issues if i.template == name]
        others = [f"{i.template}: {i.message}" for i in e.issues if i.template != name]
        return await _editor(request, name, text, base, errors=errors + others, status=400)
    except store.StaleTemplates as e:
        message = (
            f"ほかの職員が先に保存しました（第{e.version}版）。下の「現在の内容」を確認してください。"
            "このままもう一度保存すると、入力中の内容で上書きします。"
        )
        return await _editor(
            request,
            name,
            text,
            e.version,
            errors=[message],
            stored=e.current.templates.get(name, ""),
            status=409,
        )
    raise pages.redirect(f"/sms-templates/edit/{name}", "saved")
