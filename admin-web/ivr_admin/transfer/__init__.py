"""Transfer targets for operators: the list (with who is being transferred now and the
latest attempts), and an editor per target. Saving publishes a new version of the
whole set (rules checked, stale edits refused, audit-logged, announced to the
controllers) through :func:`ivr.transfer.store.publish`."""

from __future__ import annotations

from aiohttp import web

from . import views

TARGET = r"/transfer-targets/edit/{name:[A-Za-z_][A-Za-z0-9_]{0,39}}"


def setup_routes(app: web.Application) -> None:
    r = app.router
    r.add_get("/transfer-targets", views.target_list, name="transfer_targets")
    r.add_get("/transfer-targets/new", views.target_new, name="transfer_target_new")
    r.add_post("/transfer-targets/new", views.target_create, name="transfer_target_create")
    r.add_get(TARGET, views.target_edit, name="transfer_target_edit")
    r.add_post(TARGET, views.target_save, name="transfer_target_save")
    r.add_post(TARGET + "/delete", views.target_delete, name="transfer_target_delete")
