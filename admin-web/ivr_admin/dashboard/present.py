"""The dashboard's figures as the page shows them: one JSON-ready dict, rendered by the
template on the first load and sent as is over the event stream afterwards, so the
page and its live updates can never disagree.

``view`` maps each figure's key (the elements' ``data-k``) to its text; ``charts``
holds the series; ``stale`` says since when the figures are old, and why.
"""

from __future__ import annotations

import copy
from datetime import datetime
from typing import Any

from ivr.log import TOKYO
from ivr.stats import model
from ivr.stats.queries import Health, Series, Snapshot

UNSET = "未設定"

HEALTH_LABELS = {
    "ok": "正常",
    "stale": "応答なし",
    "unknown": "不明",
    "down": "応答なし",
    "online": "接続中",
    "offline": "切断",
    "missing": "未設定",
}
STALE_REASONS = {
    "database": "データベースに接続できません",
    "controller": "制御装置（IVR）からの応答がありません",
    "site": "管理画面のサーバーに接続できません",
}


def number(n: int) -> str:
    return f"{n:,}"


def pct(value: float | None) -> str:
    return "—" if value is None else f"{value:.1f}%"


def when(moment: datetime | None, fmt: str = "%H:%M:%S") -> str:
    return "—" if moment is None else moment.astimezone(TOKYO).strftime(fmt)


def _series(s: Series) -> dict[str, Any]:
    return {"labels": s.labels, "values": s.values, "total": sum(s.values)}


def _health(h: Health) -> dict[str, str]:
    controller = HEALTH_LABELS.get(h.controller, h.controller)
    if h.controller == "unknown":
        controller = "不明（ハートビートなし）"
    trunk = HEALTH_LABELS.get(h.trunk, h.trunk)
    if h.trunk == "unknown" and h.controller == "ok":
        trunk = "不明（疎通確認なし）"
    return {
        "controller": controller,
        "controller_state": h.controller,
        "controller_at": when(h.controller_at),
        "asterisk": HEALTH_LABELS.get(h.asterisk, h.asterisk),
        "asterisk_state": h.asterisk,
        "trunk": trunk,
        "trunk_state": h.trunk,
    }


def snapshot(s: Snapshot) -> dict[str, Any]:
    c = s.today_counts
    classes = c.classes
    view: dict[str, str] = {
        "in_progress": number(s.in_progress),
        "total": number(c.total),
        "inside": number(c.calendar["inside"]),
        "outside": number(c.calendar["outside"]),
        "unknown": number(c.calendar[""]),
        "ended": number(c.ended),
        "unseen": number(c.unseen),
        "sms_calls": number(c.sms_calls),
        "without_staff": pct(c.without_staff_pct),
        "kyoto": pct(model.KYOTO_WITHOUT_STAFF_PCT),
        "calendar": model.CALENDAR_LABELS.get(s.calendar_state, s.calendar_state),
        "transfer_unset": "" if s.transfer is not None else UNSET,
        "transfer_answered": number(s.transfer["answered"]) if s.transfer is not None else "—",
        "transfer_failed": number(s.transfer["failed"]) if s.transfer is not None else "—",
        "sms_unset": "" if s.sms is not None else UNSET,
        "updated": when(s.at),
        "options_node": s.options_node or "—",
    }
    for klass in model.CLASS_LABELS:
        view[klass] = number(classes.get(klass, 0))
    for status in model.SMS_LABELS:
        view[f"sms_{status}"] = number(s.sms[status]) if s.sms is not None else "—"
    view.update(_health(s.health))
    pct_value = c.without_staff_pct
    data: dict[str, Any] = {
        "at": s.at.isoformat(),
        "today": s.today.isoformat(),
        "calendar_state": s.calendar_state,
        "view": view,
        "without_staff_pct": pct_value,
        "above_kyoto": pct_value is not None and pct_value >= model.KYOTO_WITHOUT_STAFF_PCT,
        "charts": {
            "hourly": _series(s.hourly),
            "daily": _series(s.daily),
            "monthly": _series(s.monthly),
            "options": _series(s.options),
        },
        "stale": None,
    }
    if s.stale_since is not None:
        data["stale"] = _stale(s.stale_since, s.stale_reason)
    return data


def _stale(since: datetime, reason: str) -> dict[str, str]:
    text = when(since, "%m月%d日 %H:%M:%S")
    return {
        "since": since.isoformat(),
        "reason": reason,
        "message": f"データが古い: {text} 時点の数値です（{STALE_REASONS.get(reason, reason)}）",
    }


def stale(
    data: dict[str, Any] | None, since: datetime | None, reason: str, now: datetime
) -> dict[str, Any]:
    """The last good figures, marked stale since they were taken (or with none at all)."""
    if data is None:
        return {
            "at": now.isoformat(),
            "view": {},
            "charts": None,
            "stale": {
                "since": "",
                "reason": reason,
                "message": f"データが古い: 数値を読み込めていません（{STALE_REASONS[reason]}）",
            },
        }
    out = copy.deepcopy(data)
    keep = out.get("stale")
    # The older cause wins: figures already stale since the controller left stay so.
    if keep is None or not since or keep["since"] > since.isoformat():
        out["stale"] = _stale(since or now, reason)
    return out
