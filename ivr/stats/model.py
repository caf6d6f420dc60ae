"""Names shared by the roll-ups, the admin site, the CSV export and the bench."""

from __future__ import annotations

# A call's class (stats_call.class): exactly one per call, decided by stats_fact() in SQL.
IN_PROGRESS = "in_progress"
IVR_ONLY = "ivr_only"
TRANSFERRED = "transferred"
TRANSFER_FAILED = "transfer_failed"
MENU_HANGUP = "menu_hangup"
APOLOGY = "apology"
BUSY = "busy"
HELD_HANGUP = "held_hangup"
ERROR = "error"

CLASS_LABELS: dict[str, str] = {
    IN_PROGRESS: "通話中",
    IVR_ONLY: "自動応答で完了",
    TRANSFERRED: "職員に転送（応答あり）",
    TRANSFER_FAILED: "転送できず",
    MENU_HANGUP: "メニュー選択前に切断",
    APOLOGY: "おわびの案内で終了",
    BUSY: "回線混雑でお断り",
    HELD_HANGUP: "待機中に切断",
    ERROR: "システムエラー",
}
ENDED_CLASSES = tuple(c for c in CLASS_LABELS if c != IN_PROGRESS)

# The calendar state when a call began (calls.calendar_state); '' = not known yet.
OPEN = "open"
CALENDAR_LABELS: dict[str, str] = {
    "open": "開庁中",
    "closed": "閉庁中",
    "holiday": "祝日",
    "before_service": "サービス期間外",
    "after_service": "サービス期間外",
    "": "不明",
}

SMS_LABELS: dict[str, str] = {
    "queued": "送信待ち",
    "sent": "送信済み",
    "delivered": "配達済み",
    "failed": "失敗",
}

# Kyoto City's published share of calls its municipal IVR completes without staff.
KYOTO_WITHOUT_STAFF_PCT = 33.0


def without_staff_pct(ivr_only: int, ended: int) -> float | None:
    """The share of ended calls the IVR completed without staff, in percent."""
    return None if ended <= 0 else round(100.0 * ivr_only / ended, 1)
