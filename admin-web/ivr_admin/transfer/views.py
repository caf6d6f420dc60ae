"""The transfer-target pages: list, new, edit, delete. Operators and up.

Every save publishes the whole set as a new version (``ivr.transfer.store.publish``):
the rules are checked beside each field, an edit based on a version that is no
longer the newest is refused with the values now in service, and the change is
audit-logged with before and after. A target the flow in service transfers to
cannot be deleted (its callers would only ever hear the apology).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import asyncpg
from aiohttp import web

from ivr.config import Settings
from ivr.flow.loader import load_default_flow, load_flow_file
from ivr.flow.model import Flow, TransferNode
from ivr.store import flows
from ivr.transfer import store
from ivr.transfer.model import Target, TargetSet

from .. import forms, render
from ..db import connection
from ..keys import SETTINGS, VISITOR
from .forms import LABELS, TargetForm

if TYPE_CHECKING:
    from ..db import Conn

RECENT = 20
OUTCOMES = {
    "answered": "つながった",
    "busy": "話し中",
    "no_answer": "応答なし",
    "failed": "つながらなかった（回線）",
    "capacity": "同時転送数の上限",
    "trunk_capacity": "回線数の上限",
    "abandoned": "呼び出し中に切断",
    "ended_unseen": "終了（記録なし）",
}


def _settings(request: web.Request) -> Settings:
    return request.app[SETTINGS]


async def _current(request: web.Request, conn: Conn) -> tuple[int | None, TargetSet]:
    return await store.current(conn, store.configured(_settings(request).transfer))


async def _flow_in_service(request: web.Request, conn: Conn) -> Flow:
    """The flow calls use: the published version, else the configured file or the shipped one."""
    published = await flows.published(cast("asyncpg.Connection[asyncpg.Record]", conn))
    if published is not None:
        return published.flow()
    configured = _settings(request).flow.file
    return load_flow_file(Path(configured)) if configured else load_default_flow()


def _used_by(flow: Flow, name: str) -> list[str]:
    return [n.id for n in flow.nodes.values() if isinstance(n, TransferNode) and n.target == name]


async def target_list(request: web.Request) -> web.Response:
    async with connection(request) as conn:
        version, current = await _current(request, conn)
        live = {
            r["target"]: r["n"]
            for r in await conn.fetch(
                "SELECT target, count(*) AS n FROM transfer_slots WHERE expires_at > now()"
                " GROUP BY target"
            )
        }
        recent = await conn.fetch(
            "SELECT started_at, target, outcome, ring_seconds, talk_seconds"
            " FROM transfer_attempts ORDER BY started_at DESC LIMIT $1",
            RECENT,
        )
        latest = next(iter(await store.history(conn, 1)), None)
    return render.page(
        request,
        "transfer/list.html",
        {
            "targets": current.targets,
            "version": version,
            "latest": latest,
            "live": live,
            "recent": recent,
            "outcomes": OUTCOMES,
        },
    )


def _editor(
    request: web.Request,
    form: TargetForm,
    *,
    new: bool,
    stored: Target | None = None,
    used_by: list[str] | None = None,
    status: int = 200,
) -> web.Response:
    context: dict[str, Any] = {
        "form": form,
        "new": new,
        "labels": LABELS,
        "endpoints": _settings(request).transfer.endpoints,
        "stored": stored,
        "used_by": used_by or [],
    }
    return render.page(request, "transfer/edit.html", context, status=status)


async def target_new(request: web.Request) -> web.Response:
    async with connection(request) as conn:
        version, _ = await _current(request, conn)
    return _editor(request, TargetForm(base_version=version), new=True)


async def target_edit(request: web.Request) -> web.Response:
    name = request.match_info["name"]
    async with connection(request) as conn:
        version, current = await _current(request, conn)
        flow = await _flow_in_service(request, conn)
    target = current.get(name)
    if target is None:
        raise web.HTTPNotFound(text="この転送先はありません。")
    return _editor(request, TargetForm.of(target, version), new=False, used_by=_used_by(flow, name))


async def _publish(
    request: web.Request, form: TargetForm, build: Any, *, new: bool
) -> web.Response:
    """Publish ``build(current)`` (the whole set with this change) or show why not."""
    session = request[VISITOR].session
    assert session is not None  # the middleware lets only signed-in operators here
    async with connection(request) as conn:
        _, current = await _current(request, conn)
        try:
            await store.publish(
                conn,
                build(current),
                session.account.login_id,
                form.base_version,
                _settings(request).transfer,
                ip=request[VISITOR].ip,
            )
        except store.TargetsRefused as e:
            form.place(e.issues)
            return _editor(request, form, new=new, status=400)
        except store.StaleTargets as e:
            form.add(
                "",
                f"ほかの職員が先に保存しました（第{e.version}版）。下の「現在の内容」を確認してください。"
                "このままもう一度保存すると、入力中の内容で上書きします。",
            )
            form.base_version = e.version
            return _editor(request, form, new=new, stored=e.current.get(form.name), status=409)
    raise render.redirect("/transfer-targets", "saved")


async def target_create(request: web.Request) -> web.Response:
    form = TargetForm.read(await forms.form(request))
    target = form.target()
    if target is None:
        return _editor(request, form, new=True, status=400)
    async with connection(request) as conn:
        _, current = await _current(request, conn)
    if current.get(target.name) is not None:
        form.add("name", "同じ名前の転送先がすでにあります。")
        return _editor(request, form, new=True, status=400)
    return await _publish(request, form, lambda s: s.with_target(target), new=True)


async def target_save(request: web.Request) -> web.Response:
    name = request.match_info["name"]
    form = TargetForm.read(await forms.form(request), name=name)
    target = form.target()
    if target is None:
        return _editor(request, form, new=False, status=400)
    return await _publish(request, form, lambda s: s.with_target(target, replacing=name), new=False)


async def target_delete(request: web.Request) -> web.Response:
    name = request.match_info["name"]
    data = await forms.form(request)
    form = TargetForm.read(data, name=name)
    async with connection(request) as conn:
        version, current = await _current(request, conn)
        flow = await _flow_in_service(request, conn)
    target = current.get(name)
    if target is None:
        raise render.redirect("/transfer-targets")
    used = _used_by(flow, name)
    if used:
        form = TargetForm.of(target, version)
        form.add("", "運用中の通話フローがこの転送先を使っているため、削除できません。")
        return _editor(request, form, new=False, used_by=used, status=409)
    return await _publish(request, form, lambda s: s.without(name), new=False)
