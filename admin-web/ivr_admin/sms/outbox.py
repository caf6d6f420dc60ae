"""The outbox as staff see it: every request with its state and, when it failed, why.
Numbers are masked to their last four digits for every role below administrator; an
administrator's view (whole numbers) is audit-logged (:mod:`ivr_admin.numbers`)."""

from __future__ import annotations

from aiohttp import web

from ivr.sms import listing

from .. import forms, numbers, render
from ..db import connection

PAGE_SIZE = 100
LABELS = {
    "queued": "送信待ち",
    "sending": "送信中",
    "sent": "送信済み（配達確認中）",
    "delivered": "配達済み",
    "failed": "失敗",
}


async def outbox_list(request: web.Request) -> web.Response:
    full = numbers.may_see_full(request)
    status = forms.text(request.query, "status", 20)
    if status not in LABELS:
        status = ""
    page_text = forms.text(request.query, "page", 6)
    page_no = int(page_text) if page_text.isdigit() and int(page_text) > 0 else 1
    async with connection(request) as conn:
        rows = await listing.recent(conn, status, PAGE_SIZE + 1, (page_no - 1) * PAGE_SIZE)
        counts = await listing.counts(conn)
        if full:  # whoever sees whole numbers, and which, is on record
            detail = {"status": status, "page": page_no, "rows": min(len(rows), PAGE_SIZE)}
            await numbers.audit_full_view(conn, request, "sms_outbox.view_numbers", "", detail)
    shown = [{"row": r, "number": numbers.shown(r.number, full)} for r in rows[:PAGE_SIZE]]
    return render.page(
        request,
        "sms/outbox.html",
        {
            "rows": shown,
            "labels": LABELS,
            "counts": counts,
            "status": status,
            "page_no": page_no,
            "has_next": len(rows) > PAGE_SIZE,
            "masked": not full,
        },
    )
