"""Reading the figures: the dashboard's snapshot, the funnel and the monthly report (the
call log and its export are in ``ivr.stats.calllog``). Every query reads the roll-ups
(``stats_hourly``, ``stats_daily``, ``stats_funnel``, ``stats_sms_daily``), so the
answer time does not grow with the number of calls (``bench/dashboard.py``).

Times: counters are keyed by Japan wall-clock hours and days; ``stats_call`` times are
``timestamptz``. Shared by the admin site and the bench.
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any

from ivr.calendar.decide import state_at
from ivr.calendar.model import Calendar
from ivr.log import TOKYO
from ivr.stats import model
from ivr.stats.db import Conn
from ivr.stats.heartbeat import STALE_AFTER


def key_order(key: str) -> tuple[int, str]:
    """1..9 first, then 0, * and #: the order menus read keys out in."""
    return ("1234567890*#".find(key) if key in "1234567890*#" else 99, key)


def day_start(day: date) -> datetime:
    return datetime.combine(day, time(), TOKYO)


def month_start(day: date) -> date:
    return day.replace(day=1)


def next_month(day: date) -> date:
    return (day.replace(day=28) + timedelta(days=4)).replace(day=1)


@dataclass
class Counts:
    """Calls counted by class, calendar state and the rest, for one period."""

    total: int = 0
    classes: dict[str, int] = field(default_factory=lambda: dict.fromkeys(model.CLASS_LABELS, 0))
    calendar: dict[str, int] = field(default_factory=lambda: {"inside": 0, "outside": 0, "": 0})
    sms_calls: int = 0
    unseen: int = 0

    def add(self, calendar_state: str, klass: str, sms: bool, unseen: bool, n: int) -> None:
        self.total += n
        self.classes[klass] = self.classes.get(klass, 0) + n
        side = "" if not calendar_state else "inside" if calendar_state == model.OPEN else "outside"
        self.calendar[side] += n
        self.sms_calls += n if sms else 0
        self.unseen += n if unseen else 0

    @property
    def ended(self) -> int:
        return self.total - self.classes.get(model.IN_PROGRESS, 0)

    @property
    def without_staff_pct(self) -> float | None:
        return model.without_staff_pct(self.classes.get(model.IVR_ONLY, 0), self.ended)

    def as_dict(self) -> dict[str, Any]:
        return {
            "total": self.total,
            "ended": self.ended,
            "classes": dict(self.classes),
            "inside": self.calendar["inside"],
            "outside": self.calendar["outside"],
            "unknown": self.calendar[""],
            "sms_calls": self.sms_calls,
            "unseen": self.unseen,
            "without_staff_pct": self.without_staff_pct,
        }


@dataclass(frozen=True)
class Series:
    labels: list[str]
    values: list[int]


@dataclass(frozen=True)
class Health:
    """The controller's last pulse and what it said of Asterisk and the trunk."""

    controller: str  # ok | stale | unknown (no pulse ever)
    controller_at: datetime | None
    asterisk: str  # ok | down | unknown
    trunk: str  # online | offline | unknown | missing
    active_calls: int | None
    detail: dict[str, Any]


@dataclass(frozen=True)
class Snapshot:
    at: datetime
    today: date
    today_counts: Counts
    in_progress: int
    transfer: dict[str, int] | None  # None: the capability is not set up (未設定)
    sms: dict[str, int] | None
    calendar_state: str
    health: Health
    stale_since: datetime | None
    stale_reason: str
    hourly: Series
    daily: Series
    monthly: Series
    options: Series
    options_node: str | None


async def _table_has_rows(conn: Conn, table: str) -> bool:
    if await conn.fetchval("SELECT to_regclass($1)", table) is None:
        return False
    return bool(await conn.fetchval(f"SELECT EXISTS (SELECT 1 FROM {table})"))


async def capabilities(conn: Conn) -> tuple[bool, bool]:
    """Whether transfers and SMS are in use: their tables exist and have data."""
    return await _table_has_rows(conn, "transfer_attempts"), await _table_has_rows(
        conn, "sms_outbox"
    )


async def health(conn: Conn, now: datetime) -> Health:
    row = await conn.fetchrow(
        "SELECT at, detail::text AS detail FROM stats_heartbeat ORDER BY at DESC LIMIT 1"
    )
    if row is None:
        return Health("unknown", None, "unknown", "unknown", None, {})
    detail: dict[str, Any] = json.loads(row["detail"])
    fresh = now - row["at"] <= STALE_AFTER
    active = detail.get("active_calls")
    return Health(
        "ok" if fresh else "stale",
        row["at"],
        str(detail.get("asterisk", "unknown")) if fresh else "unknown",
        str(detail.get("trunk", "unknown")) if fresh else "unknown",
        int(active) if isinstance(active, int) and fresh else None,
        detail,
    )


async def counts_by_hour(
    conn: Conn, start: datetime, end: datetime
) -> tuple[Counts, dict[int, int]]:
    """Counts for [start, end) (Japan wall-clock hours) and calls per hour of day."""
    rows = await conn.fetch(
        """SELECT hour, calendar_state, class, sms, unseen, sum(n)::int AS n FROM stats_hourly
           WHERE hour >= $1 AND hour < $2 GROUP BY 1, 2, 3, 4, 5""",
        start.replace(tzinfo=None),
        end.replace(tzinfo=None),
    )
    counts = Counts()
    per_hour: dict[int, int] = defaultdict(int)
    for r in rows:
        counts.add(r["calendar_state"], r["class"], r["sms"], r["unseen"], r["n"])
        per_hour[r["hour"].hour] += r["n"]
    return counts, per_hour


async def counts_by_day(
    conn: Conn, start: date, end: date, flow_group: str | None = None
) -> tuple[Counts, dict[date, Counts]]:
    """Counts for the days [start, end), in all and per day."""
    rows = await conn.fetch(
        """SELECT day, calendar_state, class, sms, unseen, sum(n)::int AS n FROM stats_daily
           WHERE day >= $1 AND day < $2 AND ($3::text IS NULL OR flow_group = $3)
           GROUP BY 1, 2, 3, 4, 5""",
        start,
        end,
        flow_group,
    )
    total = Counts()
    per_day: dict[date, Counts] = defaultdict(Counts)
    for r in rows:
        total.add(r["calendar_state"], r["class"], r["sms"], r["unseen"], r["n"])
        per_day[r["day"]].add(r["calendar_state"], r["class"], r["sms"], r["unseen"], r["n"])
    return total, dict(per_day)


async def sms_by_status(conn: Conn, start: date, end: date) -> dict[str, int]:
    """SMS requests of the days [start, end) by status (queued includes sending)."""
    out = dict.fromkeys(model.SMS_LABELS, 0)
    for r in await conn.fetch(
        """SELECT status, sum(n)::int AS n FROM stats_sms_daily
           WHERE day >= $1 AND day < $2 GROUP BY 1""",
        start,
        end,
    ):
        status = "queued" if r["status"] == "sending" else r["status"]
        out[status] = out.get(status, 0) + r["n"]
    return out


async def option_mix(
    conn: Conn, start: date, end: date, node: str | None
) -> tuple[str | None, dict[str, int]]:
    """Keys chosen at ``node`` (else at the menu with the most choices) on [start, end)."""
    rows = await conn.fetch(
        """SELECT node, detail, sum(n)::int AS n FROM stats_funnel
           WHERE day >= $1 AND day < $2 AND metric = 'key' GROUP BY 1, 2""",
        start,
        end,
    )
    by_node: dict[str, dict[str, int]] = defaultdict(dict)
    for r in rows:
        by_node[r["node"]][r["detail"]] = r["n"]
    if node is None and by_node:
        node = max(by_node, key=lambda k: sum(by_node[k].values()))
    return node, by_node.get(node, {}) if node else {}


async def in_progress(conn: Conn, now: datetime) -> int:
    # A call open for half a day is a record nobody closed (no CEL to close it from).
    return int(
        await conn.fetchval(
            "SELECT count(*) FROM stats_call WHERE class = 'in_progress' AND started_at > $1",
            now - timedelta(hours=12),
        )
    )


async def calendar_state_now(conn: Conn, now: datetime) -> str:
    """The state of the calendar in service (the newest version; the default if none)."""
    body = await conn.fetchval("SELECT body::text FROM calendar_versions ORDER BY id DESC LIMIT 1")
    cal = Calendar() if body is None else Calendar.from_dict(json.loads(body))
    return state_at(cal, now)


async def snapshot(
    conn: Conn,
    now: datetime,
    *,
    menu_node: str | None = None,
    option_labels: dict[str, str] | None = None,
) -> Snapshot:
    """Everything the dashboard shows, as of ``now``."""
    now = now.astimezone(TOKYO)
    today = now.date()
    today_counts, per_hour = await counts_by_hour(
        conn, day_start(today), day_start(today + timedelta(days=1))
    )
    first = month_start(today)
    _, per_day = await counts_by_day(conn, first, next_month(first))
    year = today.replace(month=1, day=1)
    _, year_days = await counts_by_day(conn, year, year.replace(year=year.year + 1))
    per_month: dict[int, int] = defaultdict(int)
    for day, c in year_days.items():
        per_month[day.month] += c.total
    transfer_on, sms_on = await capabilities(conn)
    transfer = (
        {
            "answered": today_counts.classes[model.TRANSFERRED],
            "failed": today_counts.classes[model.TRANSFER_FAILED],
        }
        if transfer_on
        else None
    )
    sms = await sms_by_status(conn, today, today + timedelta(days=1)) if sms_on else None
    node, mix = await option_mix(conn, today, today + timedelta(days=1), menu_node)
    labels = option_labels or {}
    keys = sorted(mix, key=key_order)
    pulse = await health(conn, now)
    stale_since, reason = None, ""
    if pulse.controller == "stale":
        stale_since, reason = pulse.controller_at, "controller"
    days_in_month = (next_month(first) - first).days
    return Snapshot(
        at=now,
        today=today,
        today_counts=today_counts,
        in_progress=await in_progress(conn, now),
        transfer=transfer,
        sms=sms,
        calendar_state=await calendar_state_now(conn, now),
        health=pulse,
        stale_since=stale_since,
        stale_reason=reason,
        hourly=Series([f"{h}時" for h in range(24)], [per_hour.get(h, 0) for h in range(24)]),
        daily=Series(
            [f"{d}日" for d in range(1, days_in_month + 1)],
            [
                per_day[first + timedelta(days=d)].total
                if first + timedelta(days=d) in per_day
                else 0
                for d in range(days_in_month)
            ],
        ),
        monthly=Series(
            [f"{m}月" for m in range(1, 13)], [per_month.get(m, 0) for m in range(1, 13)]
        ),
        options=Series(
            [f"{k}: {labels[k]}" if k in labels else k for k in keys], [mix[k] for k in keys]
        ),
        options_node=node,
    )


# -- the funnel ----------------------------------------------------------------------


@dataclass(frozen=True)
class FlowGroup:
    key: str  # v12 or d<digest>
    calls: int
    first_day: date
    last_day: date

    @property
    def version(self) -> int | None:
        return int(self.key[1:]) if self.key.startswith("v") and self.key[1:].isdigit() else None

    @property
    def digest(self) -> str | None:
        return self.key[1:] if self.key.startswith("d") else None


@dataclass
class NodeCounts:
    reached: int = 0
    keys: dict[str, int] = field(default_factory=dict)
    timeouts: int = 0
    hangups: int = 0


async def flow_groups(conn: Conn) -> list[FlowGroup]:
    rows = await conn.fetch(
        """SELECT flow_group, sum(n)::int AS n, min(day) AS first, max(day) AS last
           FROM stats_daily WHERE flow_group <> '' GROUP BY 1 HAVING sum(n) > 0
           ORDER BY max(day) DESC, 1 DESC"""
    )
    return [FlowGroup(r["flow_group"], r["n"], r["first"], r["last"]) for r in rows]


async def funnel(
    conn: Conn, group: str, start: date | None = None, end: date | None = None
) -> dict[str, NodeCounts]:
    """Per node of the group's flow, over the days [start, end) (all when None)."""
    rows = await conn.fetch(
        """SELECT node, metric, detail, sum(n)::int AS n FROM stats_funnel
           WHERE flow_group = $1 AND ($2::date IS NULL OR day >= $2)
             AND ($3::date IS NULL OR day < $3)
           GROUP BY 1, 2, 3""",
        group,
        start,
        end,
    )
    out: dict[str, NodeCounts] = defaultdict(NodeCounts)
    for r in rows:
        counts = out[r["node"]]
        match r["metric"]:
            case "reached":
                counts.reached += r["n"]
            case "key":
                counts.keys[r["detail"]] = counts.keys.get(r["detail"], 0) + r["n"]
            case "timeout":
                counts.timeouts += r["n"]
            case "hangup":
                counts.hangups += r["n"]
    return dict(out)


# -- the monthly report ----------------------------------------------------------------


@dataclass(frozen=True)
class MonthlyReport:
    month: date
    total: Counts
    days: list[tuple[date, Counts]]
    sms: dict[str, int] | None
    transfer_on: bool


async def monthly(conn: Conn, month: date) -> MonthlyReport:
    first = month_start(month)
    end = next_month(first)
    total, per_day = await counts_by_day(conn, first, end)
    days = []
    day = first
    while day < end:
        days.append((day, per_day.get(day, Counts())))
        day += timedelta(days=1)
    transfer_on, sms_on = await capabilities(conn)
    sms = await sms_by_status(conn, first, end) if sms_on else None
    return MonthlyReport(first, total, days, sms, transfer_on)
