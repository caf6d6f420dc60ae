"""The controller's pulse in ``stats_heartbeat``: written every few seconds with what it
knows of Asterisk (ARI answers), the trunk (``GET /endpoints/PJSIP/trunk``: online when
its qualify OPTIONS are answered) and itself (calls in progress, records waiting).

The admin site reads it: a pulse older than ``STALE_AFTER`` means the controller is
away, and the dashboard says its figures are stale since the last one.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp

from ivr.ari.client import AriClient, AriError
from ivr.stats.db import Conn

STALE_AFTER = timedelta(seconds=15)
INTERVAL = 5.0

Probe = Callable[[], Awaitable[Mapping[str, Any]]]
Status = Callable[[], Mapping[str, Any]]


def default_source() -> str:
    return f"controller@{socket.gethostname()}"


async def ari_probe(
    client: AriClient, http: aiohttp.ClientSession, endpoint: str = "trunk", timeout: float = 3.0
) -> dict[str, Any]:
    """Asterisk's and the trunk's state as ARI reports them; never raises."""
    out: dict[str, Any] = {}
    try:
        info = await client.asterisk_info()
        out["asterisk"] = "ok"
        out["asterisk_version"] = str(info.get("system", {}).get("version", ""))
    except AriError as e:
        out["asterisk"] = "down"
        out["asterisk_error"] = str(e)[:200]
        out["trunk"] = "unknown"
        return out
    url = f"{client.base_url}/endpoints/PJSIP/{endpoint}"
    try:
        async with http.get(
            url, headers=client.headers, timeout=aiohttp.ClientTimeout(total=timeout)
        ) as r:
            body = await r.json() if r.status == 200 else {}
        state = str(body.get("state", "unknown")) if isinstance(body, dict) else "unknown"
        out["trunk"] = state if r.status == 200 else "missing"
        out["trunk_channels"] = len(body.get("channel_ids", [])) if isinstance(body, dict) else 0
    except (aiohttp.ClientError, TimeoutError, ValueError) as e:
        out["trunk"] = "unknown"
        out["trunk_error"] = str(e)[:200]
    return out


_BEAT = """
INSERT INTO stats_heartbeat (source, at, started_at, detail) VALUES ($1, now(), $2, $3::jsonb)
ON CONFLICT (source) DO UPDATE SET at = now(), started_at = EXCLUDED.started_at,
    detail = EXCLUDED.detail
"""


async def beat(conn: Conn, source: str, started_at: datetime, detail: Mapping[str, Any]) -> None:
    await conn.execute(_BEAT, source, started_at, json.dumps(dict(detail), default=str))


def age(at: datetime, now: datetime | None = None) -> timedelta:
    return (now or datetime.now(UTC)) - at
