"""What the controller's objects already count, read as one snapshot per scrape."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Protocol

from ivr.ari import events as ari


class _Calls(Protocol):
    @property
    def active(self) -> int: ...

    @property
    def calls_started(self) -> int: ...


class _Ready(Protocol):
    def is_set(self) -> bool: ...


class _Connection(Protocol):
    @property
    def connected(self) -> _Ready: ...

    @property
    def ready(self) -> _Ready: ...

    @property
    def connects(self) -> int: ...


class _Recorder(Protocol):
    @property
    def backlog(self) -> int: ...

    @property
    def spool_depth(self) -> int: ...

    @property
    def dead_letters(self) -> int: ...

    @property
    def lag_seconds(self) -> float: ...


@dataclass(frozen=True)
class ControllerState:
    calls_in_progress: int = 0
    calls_started: int = 0
    ari_connected: bool = False  # the event socket is open
    ari_ready: bool = False  # ... and reconciled: calls are being handled
    ari_connects: int = 0
    record_backlog: int = 0  # call records waiting for the database
    record_lag_seconds: float = 0.0  # age of the oldest of them
    spool_depth: int = 0  # records in the disk spool
    dead_letters: int = 0  # records the database refused, waiting for `ivr records replay`
    speech_restarts: int | None = None  # None: this build does not count them
    speech_started: int | None = None  # worker processes started (idle exits restart too)


def snapshot(
    calls: _Calls | None,
    connection: _Connection | None,
    recorder: _Recorder | None,
    speech: object | None = None,
) -> ControllerState:
    """Read the live objects (any may be None while the controller starts)."""
    restarts = getattr(speech, "restarts", None)
    started = getattr(speech, "started", None)
    return ControllerState(
        calls_in_progress=calls.active if calls else 0,
        calls_started=calls.calls_started if calls else 0,
        ari_connected=bool(connection and connection.connected.is_set()),
        ari_ready=bool(connection and connection.ready.is_set()),
        ari_connects=connection.connects if connection else 0,
        record_backlog=recorder.backlog if recorder else 0,
        record_lag_seconds=recorder.lag_seconds if recorder else 0.0,
        spool_depth=recorder.spool_depth if recorder else 0,
        dead_letters=recorder.dead_letters if recorder else 0,
        speech_restarts=restarts if isinstance(restarts, int) else None,
        speech_started=started if isinstance(started, int) else None,
    )


class _Handler(Protocol):
    def on_event(self, event: ari.AriEvent) -> None: ...

    async def on_connected(self) -> None: ...

    def on_disconnected(self) -> None: ...


class TimedHandler:
    """Wraps the dispatcher handed to AriConnection: times each event's handling."""

    def __init__(self, inner: _Handler) -> None:
        from ivr.metrics.registry import EVENT_SECONDS

        self._inner = inner
        self._observe = EVENT_SECONDS.labels
        self.events = 0

    def on_event(self, event: ari.AriEvent) -> None:
        started = time.perf_counter()
        try:
            self._inner.on_event(event)
        finally:
            self.events += 1
            kind = type(event).__name__
            self._observe(kind=kind).observe(time.perf_counter() - started)

    async def on_connected(self) -> None:
        await self._inner.on_connected()

    def on_disconnected(self) -> None:
        self._inner.on_disconnected()
