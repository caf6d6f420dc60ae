"""/healthz: liveness (this answer) and readiness (ARI, database), with the warnings
an operator should see (spool, dead letters, clock). Ready means calls are served."""

from __future__ import annotations

from typing import Any

from ivr.metrics.clock import ClockStatus
from ivr.metrics.db import DbFacts
from ivr.metrics.state import ControllerState


def database_check(db: DbFacts) -> dict[str, Any]:
    check: dict[str, Any] = {"status": "ok" if db.up else "down"}
    if db.error:
        check["error"] = db.error
    return check


def clock_check(clock: ClockStatus) -> dict[str, Any]:
    return {"status": clock.state, "source": clock.source, "detail": clock.detail}


def overall(ready: bool, warnings: list[str]) -> str:
    if not ready:
        return "unready"
    return "degraded" if warnings else "ok"


def controller_health(
    state: ControllerState, db: DbFacts, clock: ClockStatus
) -> tuple[dict[str, Any], bool]:
    """The /healthz body, and whether the controller is ready (HTTP 200, else 503)."""
    ready = state.ari_ready and db.up
    warnings = []
    if state.spool_depth:
        warnings.append("spooling: call records are waiting on disk for the database")
    if state.dead_letters:
        warnings.append("dead letters: run `ivr records replay` once the cause is fixed")
    if clock.state != "ok":
        warnings.append(f"clock {clock.state}: run chrony (docs/operations.md)")
    body = {
        "status": overall(ready, warnings),
        "live": True,
        "ready": ready,
        "warnings": warnings,
        "checks": {
            "ari": {
                "status": "ok" if state.ari_ready else "down",
                "connected": state.ari_connected,
                "connects": state.ari_connects,
            },
            "database": database_check(db),
            "records": {
                "status": "ok" if not (state.spool_depth or state.dead_letters) else "warning",
                "backlog": state.record_backlog,
                "lag_seconds": round(state.record_lag_seconds, 3),
                "spool_depth": state.spool_depth,
                "dead_letters": state.dead_letters,
            },
            "clock": clock_check(clock),
        },
        "calls_in_progress": state.calls_in_progress,
    }
    return body, ready
