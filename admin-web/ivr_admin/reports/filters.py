"""The call log's and the export's filters, read from the query string. A malformed or
reversed range is refused with a Japanese message naming what is wrong."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from typing import Any

from ivr.log import TOKYO
from ivr.stats import model
from ivr.stats.calllog import CallFilter

from ..errors import BadRequest

TRANSFER_CHOICES = {
    "answered": "転送（応答あり）",
    "failed": "転送（つながらず）",
    "none": "転送なし",
}
SMS_CHOICES = {"yes": "SMS受付あり", "no": "SMS受付なし"}
LABELS = {"from": "開始日", "to": "終了日"}


class RangeError(BadRequest):
    id = "bad_range"


def _text(query: Mapping[str, Any], name: str, limit: int = 100) -> str:
    value = query.get(name, "")
    return value.replace("\x00", "").strip()[:limit] if isinstance(value, str) else ""


def parse_day(query: Mapping[str, Any], name: str) -> date | None:
    raw = _text(query, name, 40)
    if not raw:
        return None
    try:
        return date.fromisoformat(raw.replace("/", "-"))
    except ValueError:
        raise RangeError(
            f"{LABELS.get(name, name)}「{raw}」を日付として読み取れません。"
            "2025-04-01 のように、年-月-日 で指定してください。"
        ) from None


def parse_range(
    query: Mapping[str, Any], *, required: bool = False
) -> tuple[date | None, date | None]:
    start, end = parse_day(query, "from"), parse_day(query, "to")
    if required and (start is None or end is None):
        raise RangeError("期間の開始日と終了日の両方を指定してください。")
    if start is not None and end is not None and start > end:
        raise RangeError(
            f"期間が逆になっています: 開始日 {start:%Y-%m-%d} が終了日 {end:%Y-%m-%d} より後です。"
        )
    today = datetime.now(TOKYO).date()
    if (start is not None and start.year < 2000) or (end is not None and end.year > today.year + 1):
        raise RangeError("期間は2000年から来年までの範囲で指定してください。")
    return start, end


def parse_filter(query: Mapping[str, Any], *, required: bool = False) -> CallFilter:
    start, end = parse_range(query, required=required)
    klass = _text(query, "outcome", 40)
    transfer = _text(query, "transfer", 20)
    sms = _text(query, "sms", 10)
    option = _text(query, "option", 80)
    return CallFilter(
        start=start,
        end=end,
        klass=klass if klass in model.CLASS_LABELS else "",
        option=option if ":" in option else "",
        transfer=transfer if transfer in TRANSFER_CHOICES else "",
        sms=sms if sms in SMS_CHOICES else "",
    )


def as_query(f: CallFilter) -> dict[str, str]:
    """The filter back as query parameters (links to the next page and the export)."""
    out = {
        "from": f.start.isoformat() if f.start else "",
        "to": f.end.isoformat() if f.end else "",
        "outcome": f.klass,
        "option": f.option,
        "transfer": f.transfer,
        "sms": f.sms,
    }
    return {k: v for k, v in out.items() if v}
