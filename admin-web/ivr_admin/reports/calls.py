"""The call log: newest first, filtered, one page at a time (keyset: a year of calls is
paged through an index, never counted). Numbers show their last four digits for every
role below administrator; an administrator's full-number view is audit-logged."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import asyncpg
from aiohttp import web

from ivr.log import TOKYO
from ivr.stats import calllog, model

from .. import numbers, render
from ..db import connection
from ..errors import Forbidden
from . import filters

PAGE_SIZE = 50


def _before(query: Any) -> tuple[datetime, str] | None:
    """The keyset cursor: ``<iso time>|<channel id>`` of the last row shown."""
    raw = query.get("before", "")
    if not isinstance(raw, str) or "|" not in raw:
        return None
    at, _, channel = raw.partition("|")
    try:
        return datetime.fromisoformat(at), channel[:200]
    except ValueError:
        return None


def _shown(row: calllog.LogRow, full: bool) -> dict[str, Any]:
    return {
        "row": row,
        "caller": numbers.shown(row.caller, full),
        "class_label": model.CLASS_LABELS.get(row.klass, row.klass),
        "calendar_label": model.CALENDAR_LABELS.get(row.calendar_state, row.calendar_state),
        "transfer_label": {"answered": "応答あり", "failed": "つながらず"}.get(row.transfer, ""),
        "options": "、".join(o.replace(":", " → ") for o in row.options),
        "path": " › ".join(row.path),
        "seconds": row.seconds,
    }


async def _page(request: web.Request, full: bool) -> web.Response:
    is_admin = numbers.may_see_full(request)
    if full and not is_admin:
        raise Forbidden()
    f = filters.parse_filter(request.query)
    before = _before(request.query)
    today = datetime.now(TOKYO).date()
    async with connection(request) as conn:
        try:
            rows = await calllog.call_log(conn, f, before=before, limit=PAGE_SIZE + 1)
        except asyncpg.QueryCanceledError:
            raise filters.RangeError(
                "この条件に合う通話を探すのに時間がかかりすぎました。"
                "期間を短くするか、条件を変えてください。"
            ) from None
        options = await calllog.known_options(conn, today - timedelta(days=400))
        if full:
            # Whoever sees whole numbers, and which, is on record.
            await numbers.audit_full_view(
                conn,
                request,
                "calls.view_numbers",
                "calls",
                {**filters.as_query(f), "rows": min(len(rows), PAGE_SIZE)},
            )
    shown = [_shown(r, full) for r in rows[:PAGE_SIZE]]
    next_query = None
    if len(rows) > PAGE_SIZE:
        last = rows[PAGE_SIZE - 1]
        next_query = {
            **filters.as_query(f),
            "before": f"{last.started_at.isoformat()}|{last.channel_id}",
        }
    return render.page(
        request,
        "reports/calls.html",
        {
            "rows": shown,
            "filter": filters.as_query(f),
            "classes": model.CLASS_LABELS,
            "transfer_choices": filters.TRANSFER_CHOICES,
            "sms_choices": filters.SMS_CHOICES,
            "options": options,
            "next_query": next_query,
            "paged": before is not None,
            "full": full,
            "is_admin": is_admin,
            "base": "/calls/numbers" if full else "/calls",
            # The export needs a range: the last seven days unless the filter has one.
            "export": {
                "from": (today - timedelta(days=6)).isoformat(),
                "to": today.isoformat(),
                **filters.as_query(f),
            },
        },
    )


async def call_log(request: web.Request) -> web.Response:
    return await _page(request, full=False)


async def call_log_numbers(request: web.Request) -> web.Response:
    """The same list with whole numbers: administrators only, audit-logged."""
    return await _page(request, full=True)
