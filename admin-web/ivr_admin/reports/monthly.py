"""The monthly report: calls by day, inside and outside office hours, SMS, transfers,
outcomes and the share completed without staff. One page that prints on A4."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

from aiohttp import web

from ivr.log import TOKYO
from ivr.stats import model, queries

from .. import render
from ..db import connection
from .filters import RangeError

WEEKDAYS = "月火水木金土日"


def parse_month(raw: str) -> date:
    raw = raw.strip()[:10]
    try:
        year, month = (int(p) for p in raw.replace("/", "-").split("-")[:2])
        return date(year, month, 1)
    except ValueError:
        raise RangeError(
            f"月「{raw}」を読み取れません。2025-04 のように、年-月 で指定してください。"
        ) from None


async def monthly_page(request: web.Request) -> web.Response:
    today = datetime.now(TOKYO).date()
    raw = request.query.get("month", "")
    month = parse_month(raw) if raw else today.replace(day=1)
    async with connection(request) as conn:
        report = await queries.monthly(conn, month)
    days: list[dict[str, Any]] = []
    for day, c in report.days:
        days.append(
            {
                "day": day,
                "label": f"{day.day}日（{WEEKDAYS[day.weekday()]}）",
                "weekend": day.weekday() >= 5,
                "c": c,
            }
        )
    previous = (month.replace(day=1) - timedelta(days=1)).replace(day=1)
    following = queries.next_month(month)
    t = report.total
    return render.page(
        request,
        "reports/monthly.html",
        {
            "report": report,
            "month": month,
            "month_label": f"{month.year}年{month.month}月",
            "days": days,
            "t": t,
            "classes": model.CLASS_LABELS,
            "ended_classes": model.ENDED_CLASSES,
            "sms_labels": model.SMS_LABELS,
            "without_staff": "—" if t.without_staff_pct is None else f"{t.without_staff_pct:.1f}%",
            "kyoto": f"{model.KYOTO_WITHOUT_STAFF_PCT:.0f}%",
            "previous": previous.strftime("%Y-%m"),
            "following": following.strftime("%Y-%m") if following <= today else "",
            "export_from": month.isoformat(),
            "export_to": (following - timedelta(days=1)).isoformat(),
            "chart": {
                "labels": [f"{d['day'].day}" for d in days],
                "values": [d["c"].total for d in days],
            },
            "printed": datetime.now(TOKYO),
        },
    )
