"""The dashboard page, its live event stream, and the per-menu funnel."""

from __future__ import annotations

import contextlib
import json
import time
from datetime import date, datetime, timedelta
from typing import Any

import structlog
from aiohttp import web

from ivr.log import TOKYO
from ivr.stats import flowinfo, model, queries

from .. import render
from ..db import connection
from ..errors import BadRequest
from ..keys import SETTINGS
from . import present
from .hub import HUB

log = structlog.get_logger("ivr_admin.dashboard")

KEEPALIVE_SECONDS = 15.0
# A stream ends after this long and the browser reconnects by itself: the session is
# then checked again, so a suspended account stops receiving figures.
STREAM_SECONDS = 600.0
RETRY_MS = 2000


async def _current(request: web.Request) -> dict[str, Any]:
    hub = request.app[HUB]
    if hub.data is None or hub.error:
        await hub.refresh()
    if hub.message is None:
        raise web.HTTPServiceUnavailable()
    data: dict[str, Any] = json.loads(hub.message)
    return data


async def index(request: web.Request) -> web.Response:
    data = await _current(request)
    if not data.get("view"):  # no figures read since the site started: nothing to show
        raise web.HTTPServiceUnavailable()
    return render.page(
        request,
        "dashboard/index.html",
        {
            "data": data,
            "v": data.get("view", {}),
            "classes": model.CLASS_LABELS,
            "sms_labels": model.SMS_LABELS,
        },
    )


async def data(request: web.Request) -> web.Response:
    """The snapshot as JSON (the stream's first message; also for scripts and checks)."""
    return web.json_response(await _current(request))


async def stream(request: web.Request) -> web.StreamResponse:
    """Server-Sent Events: the snapshot at once, then each new one as it is published."""
    hub = request.app[HUB]
    response = web.StreamResponse(
        headers={
            "Content-Type": "text/event-stream; charset=utf-8",
            "X-Accel-Buffering": "no",  # nginx: pass events through at once
        }
    )
    await response.prepare(request)
    await response.write(f"retry: {RETRY_MS}\n\n".encode())
    sent: str | None = None
    ends = time.monotonic() + STREAM_SECONDS
    try:
        if hub.message is None:
            await hub.refresh()
        while time.monotonic() < ends and not hub.closing.is_set():
            message = await hub.next_message(sent, KEEPALIVE_SECONDS)
            if message is None:
                await response.write(b": keep-alive\n\n")
                continue
            sent = message
            await response.write(f"event: snapshot\ndata: {message}\n\n".encode())
    except ConnectionResetError:  # the browser went away
        return response
    with contextlib.suppress(ConnectionResetError):
        await response.write_eof()
    return response


# -- the funnel ------------------------------------------------------------------------


def _day(query: Any, name: str) -> date | None:
    raw = str(query.get(name, "")).strip()[:10]
    if not raw:
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise BadRequest(f"日付は 2025-04-01 の形で指定してください（{raw}）。") from None


async def funnel(request: web.Request) -> web.Response:
    flow_file = request.app[SETTINGS].flow.file
    start, end = _day(request.query, "from"), _day(request.query, "to")
    if start and end and start > end:
        raise BadRequest("期間の開始日が終了日より後になっています。")
    async with connection(request) as conn:
        groups = await queries.flow_groups(conn)
        published = await flowinfo.published_group(conn, flow_file)
        keys = [g.key for g in groups]
        wanted = str(request.query.get("group", "")) or published
        if wanted not in keys and keys:
            wanted = published if published in keys else keys[0]
        flow = await flowinfo.flow_of_group(conn, wanted, flow_file)
        after = (end or datetime.now(TOKYO).date()) + timedelta(days=1)
        counts = await queries.funnel(conn, wanted, start, after)
        total, _ = await queries.counts_by_day(conn, start or date(2000, 1, 1), after, wanted)
    info = flowinfo.describe(flow) if flow is not None else None
    rows = _funnel_rows(info, counts)
    versions = _version_labels(groups, published)
    return render.page(
        request,
        "dashboard/funnel.html",
        {
            "groups": versions,
            "group": wanted,
            "published": published,
            "info": info,
            "rows": rows,
            "total": total,
            "without_staff": present.pct(total.without_staff_pct),
            "kyoto": present.pct(model.KYOTO_WITHOUT_STAFF_PCT),
            "above_kyoto": total.without_staff_pct is not None
            and total.without_staff_pct >= model.KYOTO_WITHOUT_STAFF_PCT,
            "start": start.isoformat() if start else "",
            "end": end.isoformat() if end else "",
        },
    )


def _version_labels(groups: list[queries.FlowGroup], published: str) -> list[dict[str, Any]]:
    out = []
    for g in groups:
        label = f"版 {g.version}" if g.version is not None else f"版番号なし（内容 {g.digest}）"
        if g.key == published:
            label += "・公開中"
        out.append(
            {
                "key": g.key,
                "label": label,
                "calls": g.calls,
                "period": f"{g.first_day:%Y/%m/%d}〜{g.last_day:%Y/%m/%d}",
            }
        )
    return out


def _funnel_rows(
    info: flowinfo.FlowInfo | None, counts: dict[str, queries.NodeCounts]
) -> list[dict[str, Any]]:
    """The flow's nodes in the caller's order (then nodes only the figures know)."""
    rows: list[dict[str, Any]] = []
    known: set[str] = set()
    if info is not None:
        for node in info.nodes:
            known.add(node.id)
            rows.append(
                _row(node.id, node.kind_label, node.text, node.options, counts.get(node.id))
            )
    for node_id in sorted(set(counts) - known):
        rows.append(_row(node_id, "", "", (), counts[node_id]))
    return rows


def _row(
    node_id: str,
    kind: str,
    text: str,
    options: tuple[flowinfo.Option, ...],
    c: queries.NodeCounts | None,
) -> dict[str, Any]:
    c = c or queries.NodeCounts()
    reached = c.reached

    def share(n: int) -> str:
        return f"{100.0 * n / reached:.0f}%" if reached else "—"

    opts: list[dict[str, Any]] = [
        {"key": o.key, "label": o.label, "target": o.target, "n": c.keys.get(o.key, 0)}
        for o in options
    ]
    listed = {o.key for o in options}
    opts += [
        {"key": k, "label": "", "target": "", "n": n}
        for k, n in sorted(c.keys.items(), key=lambda kv: queries.key_order(kv[0]))
        if k not in listed
    ]
    for o in opts:
        o["share"] = share(o["n"])
    return {
        "id": node_id,
        "kind": kind,
        "text": text,
        "reached": reached,
        "options": opts,
        "timeouts": c.timeouts,
        "timeouts_share": share(c.timeouts),
        "hangups": c.hangups,
        "hangups_share": share(c.hangups),
    }
