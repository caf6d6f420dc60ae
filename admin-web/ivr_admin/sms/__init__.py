"""SMS pages for operators: the templates (edit = publish, with the citizens' rules
shown next to the field and a live character/part counter), the outbox and the
blocklist (numbers masked to their last four digits below administrator); and the
optional delivery webhook for the provider (``webhook``: public, its own guard)."""

from __future__ import annotations

from aiohttp import web

from . import blocklist, outbox, templates, webhook

TEMPLATE = r"/sms-templates/edit/{name:[A-Za-z_][A-Za-z0-9_]{0,63}}"


def setup_routes(app: web.Application) -> None:
    r = app.router
    r.add_get("/sms-templates", templates.template_list, name="sms_templates")
    r.add_get("/sms-templates/new", templates.template_new, name="sms_template_new")
    r.add_get(TEMPLATE, templates.template_edit, name="sms_template_edit")
    r.add_post(TEMPLATE, templates.template_publish, name="sms_template_publish")
    r.add_get("/sms-templates/outbox", outbox.outbox_list, name="sms_outbox")
    r.add_get(blocklist.PATH, blocklist.blocklist_page, name="sms_blocklist")
    r.add_post(blocklist.PATH, blocklist.blocklist_add, name="sms_blocklist_add")
    r.add_post(
        blocklist.PATH + r"/{id:\d{1,18}}/remove",
        blocklist.blocklist_remove,
        name="sms_blocklist_remove",
    )
    webhook.setup(app)  # /sms/delivery/{token}, only when sms.webhook_token is set
