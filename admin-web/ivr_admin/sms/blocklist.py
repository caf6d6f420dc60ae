"""The SMS blocklist page (operator and up): list, add, remove. Numbers are checked
like a caller's (``phonenumbers``); every change is audit-logged in its own
transaction, the number masked there as everywhere in the audit log (the audit log
keeps no whole numbers, docs/personal-data.md); the list shows numbers masked to
their last four digits for every role below administrator (entries are removed by
their id, so no page carries a whole number it does not show), and an
administrator's view of whole numbers is itself audit-logged."""

from __future__ import annotations

from aiohttp import web

from ivr.log import mask_number
from ivr.sms import blocklist

from .. import audit, forms, render
from ..db import connection
from ..keys import VISITOR
from ..model import Role, Session

PATH = "/sms-templates/blocklist"
VIEW = "sms_blocklist.view_numbers"


def _session(request: web.Request) -> Session:
    session = request[VISITOR].session
    assert session is not None  # the middleware lets only signed-in operators here
    return session


async def _page(
    request: web.Request,
    *,
    number: str = "",
    reason: str = "",
    error: str = "",
    status: int = 200,
) -> web.Response:
    session = _session(request)
    full = session.account.role is Role.ADMINISTRATOR
    async with connection(request) as conn:
        found = await blocklist.entries(conn)
        if full and found:  # whoever sees whole numbers is on record (never the numbers)
            detail = {"rows": len(found)}
            ip = request[VISITOR].ip
            login_id = session.account.login_id
            await audit.record(conn, login_id, VIEW, "", None, detail, ip)
    rows = [{"entry": e, "number": e.number if full else mask_number(e.number)} for e in found]
    return render.page(
        request,
        "sms/blocklist.html",
        {
            "rows": rows,
            "masked": not full,
            "number": number,
            "reason": reason,
            "error": error,
            "max_reason": blocklist.MAX_REASON,
        },
        status=status,
    )


async def blocklist_page(request: web.Request) -> web.Response:
    return await _page(request)


async def blocklist_add(request: web.Request) -> web.Response:
    data = await forms.form(request)
    typed = forms.text(data, "number", 40)
    reason = forms.text(data, "reason", blocklist.MAX_REASON)
    try:
        number = blocklist.parse_number(typed)
    except blocklist.NumberRefused as e:
        return await _page(request, number=typed, reason=reason, error=str(e), status=400)
    login_id = _session(request).account.login_id
    async with connection(request) as conn, conn.transaction():
        entry = await blocklist.add(conn, number, reason, login_id)
        if entry is not None:
            await audit.record(
                conn,
                login_id,
                "sms_blocklist.add",
                f"sms_blocklist:{mask_number(number)}",
                None,
                {"number": mask_number(entry.number), "reason": entry.reason},
                request[VISITOR].ip,
            )
    if entry is None:
        error = "この番号はすでに登録されています。"
        return await _page(request, number=typed, reason=reason, error=error, status=409)
    raise render.redirect(PATH, "blocklist_added")


async def blocklist_remove(request: web.Request) -> web.Response:
    entry_id = int(request.match_info["id"])
    login_id = _session(request).account.login_id
    async with connection(request) as conn, conn.transaction():
        entry = await blocklist.remove(conn, entry_id)
        if entry is not None:
            await audit.record(
                conn,
                login_id,
                "sms_blocklist.remove",
                f"sms_blocklist:{mask_number(entry.number)}",
                {"number": mask_number(entry.number), "reason": entry.reason},
                None,
                request[VISITOR].ip,
            )
    # Removed now, or by someone else a moment ago: either way it is off the list.
    raise render.redirect(PATH, "blocklist_removed")
