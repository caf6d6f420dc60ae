"""The audit log: ``record`` for every feature, and the administrators' viewer and CSV."""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import structlog
from aiohttp import web

from ivr.store.audit import record

from . import render
from .db import connection
from .model import TOKYO

if TYPE_CHECKING:
    from .db import Conn

log = structlog.get_logger("ivr_admin.audit")

PAGE_SIZE = 100
CSV_LIMIT = 100_000

# Action ids as staff read them; unknown ids are shown as they are.
ACTIONS = {
    "login.success": "ログイン",
    "login.failure": "ログイン失敗",
    "login.locked": "ログイン制限の開始",
    "login.distributed_attack": "警告: 複数の接続元からのログイン失敗",
    "login.refused": "ログイン拒否（停止中・期限切れ）",
    "logout": "ログアウト",
    "password.change": "パスワード変更",
    "totp.enrol": "2段階認証の設定",
    "account.create": "アカウント作成",
    "account.update": "アカウント変更",
    "account.suspend": "アカウント停止",
    "account.resume": "アカウント停止解除",
    "account.password_reset": "パスワード再発行",
    "account.totp_reset": "2段階認証の解除",
    "allowlist.update": "接続元制限の変更",
    "totp_policy.update": "2段階認証の必須化設定の変更",
    "flow.publish": "通話フローの公開",
    "calendar.publish": "カレンダーの変更",
    "sms_templates.publish": "SMS文面の公開",
    "sms_blocklist.add": "SMS送信拒否リストへの登録",
    "sms_blocklist.remove": "SMS送信拒否リストからの削除",
    "sms_blocklist.view_numbers": "SMS送信拒否リストの電話番号の表示",
    "transfer_targets.publish": "転送先の変更",
    "calls.view_numbers": "通話履歴の電話番号の表示",
    "calls.export": "通話履歴のCSV出力（電話番号あり）",
    "sms_outbox.view_numbers": "SMS送信状況の電話番号の表示",
}

__all__ = ["ACTIONS", "purge", "record"]


async def purge(conn: Conn, retention_days: int) -> int:
    """Delete entries older than the retention period; return how many."""
    status = await conn.execute(
        "DELETE FROM admin_audit WHERE at < now() - $1::interval",
        dt.timedelta(days=retention_days),
    )
    return int(status.split()[-1])


def _filters(query: Mapping[str, str]) -> tuple[str, list[Any], dict[str, str]]:
    """SQL conditions from the filter form; invalid dates are ignored, not errors."""
    where: list[str] = ["TRUE"]
    args: list[Any] = []
    shown: dict[str, str] = {}
    for name, op in (("from", ">="), ("to", "<")):
        raw = query.get(name, "")[:10]
        try:
            day = dt.date.fromisoformat(raw)
        except ValueError:
            continue
        if name == "to":
            day += dt.timedelta(days=1)  # "to" includes the whole day
        args.append(dt.datetime.combine(day, dt.time(), TOKYO))
        where.append(f"at {op} ${len(args)}")
        shown[name] = raw
    for name in ("actor", "action"):
        raw = query.get(name, "").replace("\x00", "").strip()[:100]
        if raw:
            args.append(raw)
            where.append(f"{name} = ${len(args)}")
            shown[name] = raw
    return " AND ".join(where), args, shown


def _values(raw: str | None) -> str:
    return "" if raw is None else raw


async def audit_page(request: web.Request) -> web.Response:
    where, args, shown = _filters(request.query)
    try:
        page_no = max(1, min(int(request.query.get("page", "1")), 10_000))
    except ValueError:
        page_no = 1
    async with connection(request) as conn:
        rows = await conn.fetch(
            f"""SELECT at, actor, action, target, before::text, after::text, host(ip) AS ip
                FROM admin_audit WHERE {where} ORDER BY at DESC, id DESC
                LIMIT {PAGE_SIZE + 1} OFFSET {(page_no - 1) * PAGE_SIZE}""",
            *args,
        )
        actions = [
            r["action"]
            for r in await conn.fetch("SELECT DISTINCT action FROM admin_audit ORDER BY action")
        ]
    return render.page(
        request,
        "audit.html",
        {
            "rows": rows[:PAGE_SIZE],
            "labels": ACTIONS,
            "actions": actions,
            "filters": shown,
            "page_no": page_no,
            "has_next": len(rows) > PAGE_SIZE,
            "query": {k: v for k, v in shown.items()},
        },
    )


def _cell(value: str) -> str:
    # Excel runs a cell starting with = + - @ as a formula; a leading quote disarms it.
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


async def audit_csv(request: web.Request) -> web.Response:
    """CSV for Excel: UTF-8 with BOM, CRLF, Japanese headers, times in Japan time."""
    where, args, _ = _filters(request.query)
    async with connection(request) as conn:
        rows = await conn.fetch(
            f"""SELECT at, actor, action, target, before::text, after::text, host(ip) AS ip
                FROM admin_audit WHERE {where} ORDER BY at, id LIMIT {CSV_LIMIT}""",
            *args,
        )
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(["日時", "操作者", "操作", "操作ID", "対象", "接続元", "変更前", "変更後"])
    for r in rows:
        writer.writerow(
            [
                _cell(v)
                for v in (
                    render.tokyo_time(r["at"], "%Y-%m-%d %H:%M:%S"),
                    r["actor"],
                    ACTIONS.get(r["action"], r["action"]),
                    r["action"],
                    r["target"],
                    r["ip"] or "",
                    _values(r["before"]),
                    _values(r["after"]),
                )
            ]
        )
    name = f"audit-{dt.datetime.now(TOKYO):%Y%m%d-%H%M}.csv"
    return web.Response(
        body=("\ufeff" + out.getvalue()).encode("utf-8"),
        content_type="text/csv",
        charset="utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )
