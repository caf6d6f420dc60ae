"""SMS pages for operators: the templates (edit = publish, with the citizens' rules
shown next to the field and a live character/part counter) and the outbox (numbers
masked to their last four digits below administrator)."""

from __future__ import annotations

from aiohttp import web

from . import outbox, templates

TEMPLATE = r"/sms-templates/edit/{name:[A-Za-z_][A-Za-z0-9_]{0,63}}"


def setup_routes(app: web.Application) -> None:
    r = app.router
    r.add_get("/sms-templates", templates.template_list, name="sms_templates")
    r.add_get("/sms-templates/new", templates.template_new, name="sms_template_new")
    r.add_get(TEMPLATE, templates.template_edit, name="sms_template_edit")
    r.add_post(TEMPLATE, templates.template_publish, name="sms_template_publish")
    r.add_get("/sms-templates/outbox", outbox.outbox_list, name="sms_outbox")
