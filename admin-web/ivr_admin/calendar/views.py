"""The calendar pages: month view, editor (save), and the preview. Operators and up."""

from __future__ import annotations

import re
from datetime import datetime
from typing import TYPE_CHECKING, Any, cast

import asyncpg
from aiohttp import web

from ivr.calendar import store
from ivr.calendar.decide import active_announcements, next_open, state_at
from ivr.calendar.errors import CalendarError
from ivr.calendar.model import Calendar
from ivr.calendar.speech import office_hours_text, speak_moment
from ivr.calendar.validate import validate
from ivr.flow.loader import load_default_flow
from ivr.log import TOKYO
from ivr.store import flows

from .. import forms, render
from ..db import connection
from ..keys import VISITOR
from . import month, preview
from .fields import DAY_NAMES, field_id, field_label, indexed_label
from .forms import CalendarForm

if TYPE_CHECKING:
    from ..db import Conn

MSG_CONFLICT = "他の職員が先に変更しました"
HISTORY_SHOWN = 10


def _now() -> datetime:
    return datetime.now(TOKYO)


def _month_of(request: web.Request, today: datetime) -> tuple[int, int]:
    """``?month=2026-05``; the current month when absent or out of range."""
    m = re.fullmatch(r"(\d{4})-(\d{2})", request.query.get("month", ""))
    if m and 2000 <= int(m[1]) <= 2099 and 1 <= int(m[2]) <= 12:
        return int(m[1]), int(m[2])
    return today.year, today.month


def _plain(conn: Conn) -> asyncpg.Connection[asyncpg.Record]:
    """``ivr.calendar.store`` and ``ivr.store.flows`` are typed for a plain connection;
    the pool's proxy forwards every method they use."""
    return cast("asyncpg.Connection[asyncpg.Record]", conn)


async def _history(conn: Conn, limit: int) -> list[store.CalendarVersion]:
    return await store.history(_plain(conn), limit)


async def _current(conn: Conn) -> tuple[int | None, Calendar]:
    return await store.current(_plain(conn))


async def month_page(request: web.Request) -> web.Response:
    now = _now()
    year, mon = _month_of(request, now)
    async with connection(request) as conn:
        version, cal = await _current(conn)
        history = await _history(conn, HISTORY_SHOWN)
    opening = next_open(cal, now)
    prev_year, prev_month = month.shift(year, mon, -1)
    next_year, next_month = month.shift(year, mon, 1)
    return render.page(
        request,
        "calendar/month.html",
        {
            "year": year,
            "month": mon,
            "weeks": month.weeks(cal, year, mon, now.date()),
            "headings": month.WEEK_HEADINGS,
            "prev": f"{prev_year:04d}-{prev_month:02d}",
            "next": f"{next_year:04d}-{next_month:02d}",
            "this_month": (year, mon) == (now.year, now.month),
            "version": version,
            "history": history,
            "now": now,
            "state_now": preview.STATE_LABELS.get(state_at(cal, now), ""),
            "next_open": speak_moment(opening) if opening is not None else "",
            "office_hours": office_hours_text(cal) or "曜日ごとの受付時間はありません",
            "announcements_now": active_announcements(cal, now),
        },
    )


def _edit(
    request: web.Request,
    form: CalendarForm,
    latest: store.CalendarVersion | None,
    *,
    problems: list[tuple[str, str]] | None = None,
    conflict: bool = False,
    status: int = 200,
) -> web.Response:
    errors: dict[str, list[str]] = {}
    for name, message in problems or []:
        errors.setdefault(name, []).append(message)
    return render.page(
        request,
        "calendar/edit.html",
        {
            "form": form.with_spares(),
            "latest": latest,
            "errors": errors,
            "summary": [(field_id(n), field_label(n), m) for n, m in problems or []],
            "conflict": conflict,
            "conflict_message": MSG_CONFLICT,
            "day_names": DAY_NAMES,
            "fid": field_id,
            "lbl": indexed_label,
            "times": [f"{m // 60:02d}:{m % 60:02d}" for m in range(0, 24 * 60 + 1, 5)],
        },
        status=status,
    )


async def edit_page(request: web.Request) -> web.Response:
    async with connection(request) as conn:
        version, cal = await _current(conn)
        latest = next(iter(await _history(conn, 1)), None)
    return _edit(request, CalendarForm.of(cal, version), latest)


async def _conflict(
    request: web.Request, conn: Conn, version: int | None, cal: Calendar
) -> web.Response:
    """The refusal of a save based on an old version, with the values now in service."""
    latest = next(iter(await _history(conn, 1)), None)
    return _edit(request, CalendarForm.of(cal, version), latest, conflict=True, status=409)


async def save(request: web.Request) -> web.Response:
    """Save the whole calendar as a new version, or show why not (nothing is saved then)."""
    form = CalendarForm.read(await forms.form(request))
    built = form.build()
    session = request[VISITOR].session
    assert session is not None  # the middleware lets only signed-in operators here
    now = _now()
    async with connection(request) as conn:
        version, current = await _current(conn)
        if version != form.version:
            return await _conflict(request, conn, version, current)
        problems = built.check(lambda cal: validate(cal, now=now, previous=current))
        if built.calendar is None or problems:
            latest = next(iter(await _history(conn, 1)), None)
            return _edit(request, form, latest, problems=problems, status=400)
        try:
            await store.publish(
                _plain(conn),
                built.calendar,
                session.account.login_id,
                form.version,
                now,
                comment=form.comment,
                ip=request[VISITOR].ip,
            )
        except store.StaleCalendar as e:  # saved by someone else since the check above
            return await _conflict(request, conn, e.version, e.current)
        except CalendarError as e:  # the clock passed midnight since the check above
            latest = next(iter(await _history(conn, 1)), None)
            return _edit(request, form, latest, problems=built.place(e.issues), status=400)
    raise render.redirect("/calendar", "saved")


async def preview_page(request: web.Request) -> web.Response:
    """「この日時に電話すると」: the published flow run for a moment, caller and keys."""
    query = preview.read_query(request.query, _now())
    result = None
    if query.asked and not query.errors:
        async with connection(request) as conn:
            _, cal = await _current(conn)
            published = await flows.published(_plain(conn))
        if published is not None:
            flow = published.flow()
            label = f"公開中のフロー（版{published.id}「{published.name}」）"
        else:
            flow = load_default_flow()
            label = "標準のフロー（公開されたフローがないため、同梱のものを使っています）"
        result = preview.run(flow, label, cal, query)
    context: dict[str, Any] = {
        "query": query,
        "callers": preview.CALLERS,
        "result": result,
    }
    return render.page(request, "calendar/preview.html", context, status=200)
