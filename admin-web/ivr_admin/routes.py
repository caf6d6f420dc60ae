"""Every URL of the site, in one place. Who may reach each one is decided by
``access`` (by route name and URL prefix), not here."""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

from . import accounts, audit, auth, dashboard, pages, reports, security, sms, totp
from .calendar import views as calendar
from .transfer import setup_routes as setup_transfer_routes

STATIC_DIR = Path(__file__).with_name("static")
ACCOUNT = r"/accounts/{id:\d{1,18}}"


def setup_routes(app: web.Application) -> None:
    r = app.router
    r.add_get("/healthz", pages.healthz, name="healthz")
    r.add_get("/metrics", pages.metrics, name="metrics")  # metrics.admin_allowlist only
    r.add_get("/login", auth.login, name="login")
    r.add_post("/login", auth.login_post, name="login_post")
    r.add_get("/login/totp", auth.login_totp, name="login_totp")
    r.add_post("/login/totp", auth.login_totp_post, name="login_totp_post")
    r.add_post("/logout", auth.logout, name="logout")
    r.add_get("/password", auth.password_page, name="password")
    r.add_post("/password", auth.password_post, name="password_post")
    r.add_get("/account/totp", totp.totp_setup, name="totp_setup")
    r.add_post("/account/totp", totp.totp_setup_post, name="totp_setup_post")

    dashboard.setup_routes(app)  # "/", its event stream, the funnel
    reports.setup_routes(app)  # the call log, the monthly report, the CSV export
    r.add_get("/calendar", calendar.month_page, name="calendar")
    r.add_get("/calendar/edit", calendar.edit_page, name="calendar_edit")
    r.add_post("/calendar/edit", calendar.save, name="calendar_save")
    r.add_get("/calendar/preview", calendar.preview_page, name="calendar_preview")
    for prefix in ("/guidance", "/flows"):
        r.add_get(prefix, pages.placeholder(prefix), name=prefix.strip("/").replace("-", "_"))

    sms.setup_routes(app)
    setup_transfer_routes(app)  # /transfer-targets

    r.add_get("/accounts", accounts.accounts_list, name="accounts")
    r.add_get("/accounts/new", accounts.account_new, name="account_new")
    r.add_post("/accounts/new", accounts.account_create, name="account_create")
    r.add_get(ACCOUNT, accounts.account_edit, name="account_edit")
    r.add_post(ACCOUNT, accounts.account_update, name="account_update")
    r.add_post(ACCOUNT + "/suspend", accounts.account_suspend, name="account_suspend")
    r.add_post(ACCOUNT + "/resume", accounts.account_resume, name="account_resume")
    r.add_post(ACCOUNT + "/password", accounts.account_reset_password, name="account_password")
    r.add_post(ACCOUNT + "/totp", accounts.account_reset_totp, name="account_totp")

    r.add_get("/security", security.security_page, name="security")
    r.add_post("/security/allowlist", security.allowlist_post, name="allowlist_post")
    r.add_post("/security/totp", security.totp_roles_post, name="totp_roles_post")
    r.add_post("/api/allowlist/check", security.allowlist_check_api, name="allowlist_check")

    r.add_get("/audit", audit.audit_page, name="audit")
    r.add_get("/audit/export.csv", audit.audit_csv, name="audit_csv")

    r.add_static("/static/", STATIC_DIR, name="static", append_version=True)
