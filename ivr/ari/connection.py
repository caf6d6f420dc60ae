"""The ARI event WebSocket: connect, decode, hand over, reconnect.

Asterisk does not replay events missed while the socket was down, so after
every (re)connection the handler reconciles: it asks which channels sit in our
Stasis app now and compares that with the calls it knows.
"""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import Collection
from typing import Protocol

import aiohttp
import structlog

from ivr.ari.client import AriClient, AriError
from ivr.ari.events import HANDLED_TYPES, AriEvent, decode

log = structlog.get_logger("ivr.ari")


class EventHandler(Protocol):
    def on_event(self, event: AriEvent) -> None:
        """Route one event; must not block (it runs on the socket's reader)."""

    async def on_connected(self) -> None:
        """Called after each successful (re)connection, before events are read."""

    def on_disconnected(self) -> None: ...


class AriConnection:
    def __init__(
        self,
        client: AriClient,
        session: aiohttp.ClientSession,
        app: str,
        handler: EventHandler,
        backoff_min: float = 0.5,
        backoff_max: float = 10.0,
        stable_after: float = 5.0,
        events: Collection[str] | None = HANDLED_TYPES,
    ) -> None:
        self._client = client
        self._session = session
        self._app = app
        self._handler = handler
        self._min = backoff_min
        self._max = backoff_max
        # A connection counts as a success (the backoff starts afresh after it) once it
        # was reconciled and then stayed up this long.
        self._stable = stable_after
        # The event types asked of Asterisk after each connect (None: all of them). The
        # rest (ChannelVarset, ChannelDialplan, ChannelStateChange, ... several per
        # call step) would only be decoded here to be dropped.
        self._events = events
        self.connected = asyncio.Event()  # the socket is open (reconcile may be running)
        self.ready = asyncio.Event()  # ... and reconciled: events are being handled
        self.connects = 0

    @property
    def _ws_url(self) -> str:
        base = self._client.base_url.replace("http://", "ws://", 1).replace("https://", "wss://", 1)
        return f"{base}/events?app={self._app}&subscribeAll=false"

    async def run(self) -> None:
        """Stay connected until cancelled, with jittered exponential backoff."""
        loop = asyncio.get_running_loop()
        delay = self._min
        while True:
            up_since: float | None = None  # when reconcile succeeded on this connection
            try:
                async with self._session.ws_connect(
                    self._ws_url, headers=self._client.headers, heartbeat=10.0, max_msg_size=0
                ) as ws:
                    self.connects += 1
                    self.connected.set()
                    log.info("ari_connected", url=self._ws_url, connects=self.connects)
                    await self._filter_events()
                    await self._handler.on_connected()
                    up_since = loop.time()
                    self.ready.set()
                    async for msg in ws:
                        if msg.type == aiohttp.WSMsgType.TEXT:
                            self._dispatch(msg.data)
                        elif msg.type in (aiohttp.WSMsgType.ERROR, aiohttp.WSMsgType.CLOSED):
                            break
                    log.warning("ari_disconnected", code=ws.close_code)
            except (aiohttp.ClientError, OSError, TimeoutError) as e:
                log.warning("ari_connect_failed", error=repr(e), retry_in=round(delay, 2))
            finally:
                self.ready.clear()
                if self.connected.is_set():
                    self.connected.clear()
                    self._handler.on_disconnected()
            if up_since is not None and loop.time() - up_since >= self._stable:
                # Only a connection that worked resets the backoff: one whose reconcile
                # keeps failing, or that Asterisk closes at once, must not be retried
                # at the shortest interval for ever.
                delay = self._min
            # Full jitter: many controllers restarting together do not stampede Asterisk.
            await asyncio.sleep(random.uniform(self._min / 2, delay))
            delay = min(delay * 2, self._max)

    async def _filter_events(self) -> None:
        """Ask Asterisk for the event types the controller handles, on this connection
        (a new application registration starts unfiltered). A refusal costs only the
        saving: the unfiltered events are decoded and dropped as before."""
        if self._events is None:
            return
        try:
            await self._client.filter_events(self._app, self._events)
        except AriError as e:
            log.warning("ari_event_filter_failed", error=str(e))
        else:
            log.info("ari_event_filter_set", types=len(self._events))

    def _dispatch(self, data: str) -> None:
        try:
            raw = json.loads(data)
        except ValueError:
            log.warning("ari_bad_message", size=len(data))
            return
        if not isinstance(raw, dict):
            return
        try:
            self._handler.on_event(decode(raw))
        except Exception:  # one bad event must not end event handling for every call
            log.exception("ari_event_failed", type=raw.get("type"))
