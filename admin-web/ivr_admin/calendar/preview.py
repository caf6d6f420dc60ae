"""「この日時に電話すると」: what the published flow does for a caller at a chosen moment.

The call context is built exactly as the controller builds it for a real call
(``ivr.calendar.facts.facts_at`` on the calendar in service) and the flow runs in
``ivr.flow.simulate`` on the same engine. SMS and transfers are shown, never carried out.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, time

from ivr.calendar.facts import facts_at
from ivr.calendar.model import Calendar
from ivr.flow.engine import Engine
from ivr.flow.model import Flow
from ivr.flow.simulate import (
    END_HANGUP,
    END_TRANSFERRED,
    Note,
    Simulation,
    Spoken,
    parse_keys,
    simulate,
)
from ivr.flow.state import CallContext
from ivr.log import TOKYO

CALLERS = {
    "mobile": ("携帯電話", "09000000000"),
    "landline": ("固定電話", "0300000000"),
    "withheld": ("非通知", ""),
}
"""Caller types as offered on the page, with the sample number the preview calls from."""

STATE_LABELS = {
    "open": "受付時間内",
    "closed": "受付時間外",
    "holiday": "休業日（祝日・休業日）",
    "before_service": "サービス開始前",
    "after_service": "サービス終了後",
}
KIND_LABELS = {
    "menu": "メニュー",
    "play": "案内",
    "collect": "番号入力",
    "branch": "分岐",
    "sms": "SMS送信",
    "transfer": "転送",
    "goto": "移動",
    "hangup": "終了",
}
_BRANCH_VALUES = {
    "calendar": ("カレンダー", STATE_LABELS),
    "caller_type": ("発信者", {k: v[0] for k, v in CALLERS.items()}),
    "announcements": ("臨時案内", {"active": "あり", "none": "なし"}),
}

MSG_DATE = "日付を選んでください"
MSG_TIME = "時刻を「10:00」の形で入力してください"
MSG_CALLER = "発信者の種類を選んでください"
MSG_KEYS = "押すボタンは 0〜9、*、# で入力してください（例: 0 や 1 2）"


@dataclass(frozen=True)
class Query:
    """The preview form as sent, and what was read from it."""

    day: str
    clock: str
    caller: str
    keys: str
    asked: bool
    """The form was sent (the page opened without it shows only the form)."""
    errors: Mapping[str, str]
    moment: datetime | None = None
    key_list: tuple[str, ...] = ()


def read_query(query: Mapping[str, str], now: datetime) -> Query:
    """The preview form from the URL; defaults are now and a mobile caller."""
    local = now.astimezone(TOKYO)
    day = query.get("date", local.date().isoformat()).strip()[:10]
    clock = query.get("time", f"{local.hour:02d}:{local.minute:02d}").strip()[:5]
    caller = query.get("caller", "mobile")
    keys = query.get("keys", "").strip()[:64]
    errors: dict[str, str] = {}
    moment = None
    try:
        parsed_day = date.fromisoformat(day)
    except ValueError:
        errors["date"] = MSG_DATE
    try:
        parsed_clock = time.fromisoformat(clock)
    except ValueError:
        errors["time"] = MSG_TIME
    if not errors:
        moment = datetime.combine(parsed_day, parsed_clock, TOKYO)
    if caller not in CALLERS:
        errors["caller"] = MSG_CALLER
    key_list: tuple[str, ...] = ()
    try:
        key_list = parse_keys(keys)
    except ValueError:
        errors["keys"] = MSG_KEYS
    return Query(day, clock, caller, keys, "date" in query, errors, moment, key_list)


@dataclass(frozen=True)
class StepView:
    node: str
    kind: str
    kind_label: str
    keys: str
    timeline: tuple[Spoken | str, ...]
    """Prompts as heard and notes in Japanese, in the order they happened."""


@dataclass(frozen=True)
class Preview:
    moment: datetime
    when: str
    """The moment as staff write it: 「2026年6月10日(水) 17:16」."""
    caller_label: str
    state: str
    state_label: str
    announcements: bool
    variables: Mapping[str, str]
    flow_label: str
    steps: tuple[StepView, ...]
    ending: str
    unused_keys: str
    simulation: Simulation


def run(flow: Flow, flow_label: str, cal: Calendar, query: Query) -> Preview:
    """Run ``flow`` for the caller and moment of ``query`` (which must have no errors)."""
    assert query.moment is not None and not query.errors
    facts = facts_at(cal, query.moment)
    caller_label, number = CALLERS[query.caller]
    ctx = CallContext(
        caller=number,
        dialled="",
        caller_type=query.caller,
        calendar=facts.state,
        variables=facts.variables,
        announcements=facts.announcements,
    )
    sim = simulate(Engine(flow), ctx, query.key_list)
    steps = tuple(
        StepView(
            node=s.node,
            kind=s.kind,
            kind_label=KIND_LABELS.get(s.kind, s.kind),
            keys=" ".join(s.keys),
            timeline=tuple(
                item if isinstance(item, Spoken) else describe(item, number) for item in s.timeline
            ),
        )
        for s in sim.steps
    )
    local = query.moment.astimezone(TOKYO)
    weekday = "月火水木金土日"[local.weekday()]
    return Preview(
        moment=query.moment,
        when=f"{local.year}年{local.month}月{local.day}日({weekday}) {local:%H:%M}",
        caller_label=caller_label,
        state=facts.state,
        state_label=STATE_LABELS.get(facts.state, facts.state),
        announcements=facts.announcements == "active",
        variables=facts.variables,
        flow_label=flow_label,
        steps=steps,
        ending=ending(sim),
        unused_keys=" ".join(sim.unused_keys),
        simulation=sim,
    )


def ending(sim: Simulation) -> str:
    if sim.end == END_TRANSFERRED:
        return (
            "職員に転送して終わります（プレビューでは、転送先が応答したものとして表示しています）"
        )
    if sim.end == END_HANGUP:
        return f"電話を切って終わります（結果: {sim.outcome}）"
    return "手順が多すぎるため、途中で打ち切りました"


def describe(note: Note, caller_number: str) -> str:
    """One thing that happened at a node, in Japanese for staff."""
    d = note.detail
    match note.kind:
        case "branch":
            what, values = _BRANCH_VALUES.get(d.get("by", ""), (d.get("by", ""), {}))
            value = values.get(d.get("value", ""), d.get("value", ""))
            return f"{what}: {value} → {d.get('next', '')} へ"
        case "key":
            return f"「{d.get('digit', '')}」を押した → {d.get('next', '')} へ"
        case "invalid" if "digit" in d:
            return f"「{d['digit']}」は選べないボタンです"
        case "invalid":
            return f"入力された番号（{d.get('length', '')}桁）は受け付けられません"
        case "timeout":
            return "ボタンが押されないまま時間切れになりました"
        case "repeat":
            return f"「{d.get('digit', '')}」で案内をもう一度流します"
        case "exhausted":
            return "やり直しの回数を超えたため、次へ進みます"
        case "skip":
            return f"「{d.get('digit', '')}」で案内を飛ばしました"
        case "input":
            return f"{d.get('length', '')}桁の番号が入力されました"
        case "confirm":
            return "確認: はい" if d.get("answer") == "yes" else "確認: 入力し直し"
        case "sms_request":
            to = "発信元の番号" if d.get("to") == caller_number else "入力された番号"
            return f"SMS「{d.get('template', '')}」を{to}に送ります（プレビューのため送信しません）"
        case "sms":
            return f"SMSの結果: {d.get('outcome', '')}"
        case "transfer_request":
            return f"転送先「{d.get('target', '')}」に転送します（プレビューのため転送しません）"
        case "transfer":
            return f"転送の結果: {d.get('outcome', '')}"
        case "hangup":
            return f"電話を切ります（結果: {d.get('outcome', '')}）"
        case "limit":
            return f"{d.get('events', '')}回の操作を超えたため、ここで打ち切りました"
    return note.kind
