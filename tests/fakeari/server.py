"""A fake Asterisk ARI on loopback: REST, the events WebSocket, and scripted trouble.

It implements what ``ivr/ari/client.py`` and ``connection.py`` use, with Asterisk's
status codes (404 unknown channel, 409 not in Stasis, 412 invalid state, 201 + a
Playback for a play, 204 otherwise) and Asterisk's automatic behaviour: a play
starts at once if the channel plays nothing else (else waits its turn), emits
PlaybackStarted, and PlaybackFinished after ``media_seconds`` per media unless it
is stopped first. Commands go through the channel's command queue as in Asterisk:
``answer`` and setting a channel variable wait while a playback runs (the request
is answered only then), and ``continue`` is answered at once but leaves Stasis
only once the channel plays nothing. ``POST /asterisk/variable`` with
``SHARED(name,<channel name>)`` acts at once (204 even for an unknown channel, as
Asterisk's dialplan-function write ignores the failure). Events pushed while no
WebSocket is connected are lost, as Asterisk loses them.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import fnmatch
import json
import re
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSCloseCode, web

from tests.fakeari import model
from tests.fakeari.dialplan import CityPhone, FakeDial, FakeDialplan, transferred_channel
from tests.fakeari.model import FakeChannel, FakePlayback

Event = dict[str, Any]


@dataclass
class Request:
    """One REST request as the fake received it."""

    method: str
    path: str  # as sent, e.g. /ari/channels/1746061200.1/answer
    query: tuple[tuple[str, str], ...]
    at: float  # time.monotonic() on arrival
    channel: str | None = None  # the channel it concerns (playbacks resolved to theirs)
    status: int = 0  # what the fake answered; 0 while pending or for a hung request

    @property
    def route(self) -> str:
        """The path below /ari: ``/channels/<id>/answer``."""
        return self.path.removeprefix("/ari")

    def param(self, name: str) -> str | None:
        return next((v for k, v in self.query if k == name), None)

    def __str__(self) -> str:
        return f"{self.method} {self.route} -> {self.status}"


@dataclass
class Rule:
    """Answer matching requests with ``status`` (None: never answer) ``times`` times."""

    method: str
    pattern: str  # fnmatch on Request.route, e.g. /channels/*/play/*
    status: int | None
    times: int | None = 1  # None: for ever
    message: str = "Injected by the test"
    hits: int = 0

    def matches(self, method: str, route: str) -> bool:
        live = self.times is None or self.hits < self.times
        return live and self.method == method and fnmatch.fnmatchcase(route, self.pattern)


@dataclass
class WsAttempt:
    """One request to the events WebSocket."""

    at: float
    status: int  # 101 when upgraded
    closed_at: float | None = None  # when an upgraded socket ended (either side)


@dataclass
class _Socket:
    ws: web.WebSocketResponse
    outbox: asyncio.Queue[Event | None] = field(default_factory=asyncio.Queue)


class FakeAri:
    """Start with ``await FakeAri().start()`` (or ``async with FakeAri() as fake``)."""

    def __init__(
        self,
        app: str = "myna-ivr",
        user: str = "ivr",
        password: str = "secret",
        media_seconds: float | None = 0.05,
        channelvars: tuple[str, ...] = ("SHARED(IVR_STATE)", "SHARED(IVR_HOLD_UNTIL)"),
    ) -> None:
        self.app = app
        self.channelvars = channelvars  # as asterisk-conf/ari.conf lists them
        self.globals: dict[str, str] = {}  # POST /asterisk/variable with a plain name
        self.users = {user: password}
        self.media_seconds = media_seconds  # how long one media URI plays by default
        self.durations: dict[str, float | None] = {}  # media URI -> seconds (None: until stopped)
        self.channels: dict[str, FakeChannel] = {}
        self.playbacks: dict[str, FakePlayback] = {}  # live ones, by id
        self.played: list[FakePlayback] = []  # every playback ever requested, in order
        self.requests: list[Request] = []
        self.events: list[Event] = []  # delivered to a WebSocket
        self.lost: list[Event] = []  # pushed while no WebSocket was connected
        self.dropped: list[Event] = []  # removed by a drop() filter
        self.ws_attempts: list[WsAttempt] = []
        self.rules: list[Rule] = []
        self.ws_refusals: list[Rule] = []
        self.cut_off = False  # refuse WebSocket upgrades (503) until restore()
        self._drops: list[tuple[Callable[[Event], bool], list[int]]] = []
        self._sockets: list[_Socket] = []
        self._release = asyncio.Event()  # lets hung requests go at close()
        self._changed = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self._owners: dict[str, str] = {}  # playback id -> channel id, for every id seen
        self._pending: set[asyncio.Future[None]] = set()  # continues waiting their turn
        self.continued: list[str] = []  # channels a continue took out of Stasis, in order
        # Channels the application subscribed to: their events come even outside Stasis.
        self.subscriptions: set[str] = set()
        self.unseen: list[Event] = []  # events of channels nobody subscribed to (not sent)
        self.dialplan = FakeDialplan(self)  # [ivr-transfer]: dials a fake city phone
        self.port = 0

    # -- lifecycle ------------------------------------------------------

    async def start(self) -> FakeAri:
        app = web.Application()
        app.router.add_get("/ari/events", self._events)
        app.router.add_route("*", "/ari/{tail:.*}", self._rest)
        self._runner = web.AppRunner(
            app, handle_signals=False, access_log=None, shutdown_timeout=0.5
        )
        await self._runner.setup()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind(("127.0.0.1", 0))
        self.port = sock.getsockname()[1]
        await web.SockSite(self._runner, sock).start()
        return self

    async def close(self) -> None:
        self._release.set()
        for task in list(self._pending):
            task.cancel()
        for pb in self.playbacks.values():
            if pb.timer is not None:
                pb.timer.cancel()
        for s in list(self._sockets):
            await s.ws.close(code=WSCloseCode.GOING_AWAY)
        if self._runner is not None:
            await self._runner.cleanup()

    async def __aenter__(self) -> FakeAri:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    @property
    def url(self) -> str:
        """What AriClient takes as ``base_url`` (it appends /ari)."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def connected(self) -> int:
        """WebSockets currently connected."""
        return len(self._sockets)

    @property
    def city(self) -> CityPhone:
        """How the fake city phone takes the next transfers."""
        return self.dialplan.city

    @city.setter
    def city(self, phone: CityPhone) -> None:
        self.dialplan.city = phone

    @property
    def dials(self) -> list[FakeDial]:
        """Every dial ``[ivr-transfer]`` made, in order."""
        return self.dialplan.dials

    # -- scripting calls ------------------------------------------------

    def add_channel(self, caller: str = "09012345678", exten: str = "0501234567", **kw: Any) -> str:
        """A channel already in our Stasis app, announced to nobody (e.g. it arrived
        while the controller was away). Returns its id."""
        kw.setdefault("channelvars", self.channelvars)
        channel = FakeChannel.inbound(self.app, caller, exten, **kw)
        self.channels[channel.id] = channel
        self._touch()
        return channel.id

    def start_call(self, caller: str = "09012345678", exten: str = "0501234567", **kw: Any) -> str:
        """A call enters ``Stasis(app,inbound,<exten>)``: StasisStart. Returns the channel id."""
        channel_id = self.add_channel(caller, exten, **kw)
        self.push(model.stasis_start(self.app, self.channels[channel_id]))
        return channel_id

    def press(self, channel_id: str, digits: str) -> None:
        """The caller presses keys (one ChannelDtmfReceived each)."""
        for digit in digits:
            self.push(model.dtmf(self.app, self.channels[channel_id], digit))

    def caller_hangup(
        self, channel_id: str, cause: tuple[int, str] = model.NORMAL_CLEARING
    ) -> None:
        """The caller hangs up: hang-up request, running playback done, StasisEnd, destroyed.
        A caller being transferred: the dial is cancelled (ringing) or the bridge ends."""
        self.dialplan.cancel(channel_id)
        channel = self.channels[channel_id]
        self.push(model.hangup_request(self.app, channel, cause[0]))
        self._destroy(channel, cause)

    def reenter(self, channel_id: str, held: bool = True) -> None:
        """The dialplan's holding loop brings a channel that left Stasis (``continue``,
        or no controller) back into ``Stasis(app,inbound,<exten>)``: StasisStart. With
        ``held`` it has held the caller, so ``SHARED(IVR_HOLD_UNTIL)`` is set (and
        ``SHARED(IVR_HOLD)`` cleared) as ``extensions.conf`` does."""
        channel = self.channels[channel_id]
        if held:
            channel.variables["SHARED(IVR_HOLD)"] = ""
            if not channel.variables.get("SHARED(IVR_HOLD_UNTIL)"):  # the first wait sets it
                channel.variables["SHARED(IVR_HOLD_UNTIL)"] = str(int(time.time()) + 20)
        channel.app_name, channel.app_data = "Stasis", f"{self.app},inbound,{channel.exten}"
        channel.priority = 3
        self.push(model.stasis_start(self.app, channel))

    def end_transfer(self, channel_id: str) -> None:
        """The city's staff member hangs up a bridged transfer: both legs end."""
        self.dialplan.end(channel_id)

    def add_transferred(
        self, saved: str, attempt: str, answered: str = "", caller: str = "09012345678"
    ) -> str:
        """A caller already in Dial() (ringing; talking when ``answered`` is set), as a
        controller that starts finds it. Returns its id."""
        channel = transferred_channel(
            self.app, saved, attempt, answered, caller=caller, channelvars=self.channelvars
        )
        self.channels[channel.id] = channel
        self.dialplan.adopt(channel)
        self._touch()
        return channel.id

    def destroy(self, channel: FakeChannel, cause: tuple[int, str] = model.NORMAL_CLEARING) -> None:
        self._destroy(channel, cause)

    def play_orphan(self, channel_id: str, playback_id: str, media: str) -> None:
        """A playback a previous controller started and left running (plays until stopped)."""
        pb = FakePlayback.new(channel_id, playback_id, [media])
        self.durations.setdefault(media, None)
        self._queue_playback(self.channels[channel_id], pb)

    def push(self, event: Event) -> None:
        """Send an event (envelope added if missing) to every connected WebSocket; with
        none connected it is lost, as Asterisk does not keep events for later."""
        if "asterisk_id" not in event:
            event = model.event(event["type"], self.app, **event)
        if not self._visible(event):
            self.unseen.append(event)
            return
        for i, (pred, left) in enumerate(self._drops):
            if left[0] != 0 and pred(event):
                left[0] -= 1
                self.dropped.append(event)
                if left[0] == 0:
                    del self._drops[i]
                return
        if not self._sockets:
            self.lost.append(event)
            return
        self.events.append(event)
        for s in self._sockets:
            s.outbox.put_nowait(event)
        self._touch()

    def _visible(self, event: Event) -> bool:
        """Whether Asterisk would send the event to the application: a channel's events
        while it is in our Stasis app (its snapshot says so) or subscribed to."""
        if event["type"] == "Dial":
            channel = event.get("caller") or event["peer"]
        else:
            channel = event.get("channel")
        if not isinstance(channel, dict):
            return True
        dialplan = channel.get("dialplan") or {}
        in_app = (
            dialplan.get("app_name") == "Stasis"
            and str(dialplan.get("app_data", "")).split(",", 1)[0] == self.app
        )
        return in_app or event["type"] == "StasisEnd" or channel.get("id") in self.subscriptions

    # -- scripting trouble ----------------------------------------------

    def fail(
        self, method: str, pattern: str, status: int, times: int | None = 1, message: str = ""
    ) -> Rule:
        """Answer the next ``times`` matching REST requests with ``status`` (None: for ever)."""
        rule = Rule(method, pattern, status, times, message or f"Injected {status}")
        self.rules.append(rule)
        return rule

    def hang(self, method: str, pattern: str, times: int | None = 1) -> Rule:
        """Never answer the next ``times`` matching REST requests (the client times out)."""
        rule = Rule(method, pattern, None, times)
        self.rules.append(rule)
        return rule

    def refuse_ws(self, status: int, times: int | None = 1) -> Rule:
        """Answer the next ``times`` WebSocket upgrades with ``status`` instead."""
        rule = Rule("GET", "/events", status, times)
        self.ws_refusals.append(rule)
        return rule

    def drop(self, pred: Callable[[Event], bool], times: int = 1) -> None:
        """Never deliver the next ``times`` events matching ``pred`` (lost in Asterisk)."""
        self._drops.append((pred, [times]))

    async def drop_ws(self, code: int = WSCloseCode.GOING_AWAY) -> None:
        """Close every events WebSocket from the server side (the client may reconnect)."""
        for s in list(self._sockets):
            self._sockets.remove(s)
            s.outbox.put_nowait(None)
            await s.ws.close(code=code)
        self._touch()

    async def cut(self) -> None:
        """Drop the WebSocket and refuse new ones (503) until ``restore()``; REST stays up."""
        self.cut_off = True
        await self.drop_ws()

    def restore(self) -> None:
        self.cut_off = False

    # -- waiting and reading --------------------------------------------

    def requests_for(self, channel_id: str) -> list[Request]:
        return [r for r in self.requests if r.channel == channel_id]

    def find(
        self, method: str, pattern: str, channel: str | None = None, since: float = 0.0
    ) -> list[Request]:
        return [
            r
            for r in self.requests
            if r.method == method
            and fnmatch.fnmatchcase(r.route, pattern)
            and (channel is None or r.channel == channel)
            and r.at >= since
        ]

    async def wait_for(self, check: Callable[[], Any], timeout: float = 3.0) -> Any:
        """Wait until ``check()`` is truthy (re-checked whenever the fake sees something)."""
        deadline = time.monotonic() + timeout
        while not (result := check()):
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"fake ARI: condition not met in {timeout} s")
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), min(left, 0.05))
        return result

    async def wait_request(
        self,
        method: str,
        pattern: str,
        channel: str | None = None,
        since: float = 0.0,
        timeout: float = 3.0,
    ) -> Request:
        """The first answered request matching (waits for it)."""

        def answered() -> Request | None:
            return next((r for r in self.find(method, pattern, channel, since) if r.status), None)

        found: Request = await self.wait_for(answered, timeout)
        return found

    async def wait_connected(self, count: int = 1, timeout: float = 3.0) -> None:
        await self.wait_for(lambda: len(self._sockets) >= count, timeout)

    # -- the events WebSocket -------------------------------------------

    async def _events(self, request: web.Request) -> web.StreamResponse:
        attempt = WsAttempt(time.monotonic(), 101)
        self.ws_attempts.append(attempt)
        self._touch()
        refusal = next((r for r in self.ws_refusals if r.matches("GET", "/events")), None)
        if refusal is not None:
            refusal.hits += 1
            attempt.status = refusal.status or 500
            return _error(attempt.status, refusal.message)
        if not self._authorised(request):
            attempt.status = 401
            return _unauthorised()
        if self.cut_off:
            attempt.status = 503
            return _error(503, "Service Unavailable")
        if not request.query.get("app"):
            attempt.status = 400
            return _error(400, "Missing param 'app'")
        ws = web.WebSocketResponse(protocols=("ari",))
        await ws.prepare(request)
        sock = _Socket(ws)
        self._sockets.append(sock)
        self._touch()
        writer = asyncio.create_task(self._write(sock))
        try:
            async for _ in ws:  # Asterisk ignores what clients send
                pass
        finally:
            attempt.closed_at = time.monotonic()
            if sock in self._sockets:
                self._sockets.remove(sock)
            sock.outbox.put_nowait(None)
            await writer
            self._touch()
        return ws

    async def _write(self, sock: _Socket) -> None:
        while (ev := await sock.outbox.get()) is not None:
            if sock.ws.closed:
                return
            try:
                await sock.ws.send_str(json.dumps(ev, ensure_ascii=False))
            except (ConnectionError, RuntimeError):
                return

    def _authorised(self, request: web.Request) -> bool:
        header = request.headers.get("Authorization", "")
        if header.startswith("Basic "):
            try:
                user, _, password = base64.b64decode(header[6:]).decode().partition(":")
            except ValueError:
                return False
        else:
            user, _, password = request.query.get("api_key", "").partition(":")
        return bool(user) and self.users.get(user) == password

    # -- REST -----------------------------------------------------------

    async def _rest(self, request: web.Request) -> web.StreamResponse:
        route = request.path.removeprefix("/ari")
        rec = Request(
            request.method,
            request.path,
            tuple(request.query.items()),
            time.monotonic(),
            self._channel_of(
                route, request.query.get("variable", ""), request.query.get("eventSource", "")
            ),
        )
        self.requests.append(rec)
        self._touch()
        response = await self._answer(request, rec)
        rec.status = response.status
        self._touch()
        return response

    async def _answer(self, request: web.Request, rec: Request) -> web.StreamResponse:
        if not self._authorised(request):
            return _unauthorised()
        rule = next((r for r in self.rules if r.matches(rec.method, rec.route)), None)
        if rule is not None:
            rule.hits += 1
            if rule.status is None:
                await self._release.wait()
                return _error(500, "Released at shutdown")
            return _error(rule.status, rule.message)
        parts = rec.route.strip("/").split("/")
        handler = _ROUTES.get((rec.method, _shape(parts)))
        if handler is None:
            return _error(404, "Resource not found")
        response: web.StreamResponse = await handler(self, request, parts)
        return response

    def _channel_of(self, route: str, variable: str = "", source: str = "") -> str | None:
        parts = route.strip("/").split("/")
        if source.startswith("channel:"):  # an application subscription
            return source.removeprefix("channel:")
        shared = _SHARED.fullmatch(variable) if parts == ["asterisk", "variable"] else None
        if shared is not None:  # SHARED(name,<channel name>): that channel's
            target = shared.group(2)
            return next((c.id for c in self.channels.values() if target in (c.name, c.id)), target)
        if len(parts) >= 2 and parts[0] == "channels":
            return parts[1]
        if len(parts) >= 2 and parts[0] == "playbacks":
            owner = self._owners.get(parts[1])
            if owner is None and "-pb" in parts[1]:  # <channel>-pbN, never played here
                owner = parts[1].rsplit("-pb", 1)[0]
            return owner
        return None

    def _control(self, channel_id: str) -> FakeChannel | web.Response:
        """res_ari's find_control(): 404 unknown channel, 409 not in our app."""
        channel = self.channels.get(channel_id)
        if channel is None:
            return _error(404, "Channel not found")
        if not channel.in_app(self.app):
            return _error(409, "Channel not in Stasis application")
        if channel.state in ("Down", "Rsrvd", "Ringing"):
            return _error(412, "Channel in invalid state")
        return channel

    async def _info(self, request: web.Request, parts: list[str]) -> web.Response:
        return web.json_response(
            {
                "build": {"os": "Linux", "kernel": "6.1.0", "machine": "x86_64"},
                "system": {"version": "22.5.0", "entity_id": model.ASTERISK_ID},
                "config": {
                    "name": "",
                    "default_language": "ja",
                    "setid": {"user": "asterisk", "group": "asterisk"},
                },
                "status": {
                    "startup_time": model.timestamp(),
                    "last_reload_time": model.timestamp(),
                },
            }
        )

    async def _list_channels(self, request: web.Request, parts: list[str]) -> web.Response:
        return web.json_response([c.json() for c in self.channels.values()])

    async def _get_channel(self, request: web.Request, parts: list[str]) -> web.Response:
        channel = self.channels.get(parts[1])
        if channel is None:
            return _error(404, "Channel not found")
        return web.json_response(channel.json())

    async def _answer_channel(self, request: web.Request, parts: list[str]) -> web.Response:
        channel = self._control(parts[1])
        if isinstance(channel, web.Response):
            return channel
        # Asterisk runs answer on the channel's command queue: behind a running playback.
        if not await self._until_idle(channel):
            return _error(404, "Channel not found")
        if channel.state != "Up":
            channel.state = "Up"
            self.push(model.state_change(self.app, channel))
        return web.Response(status=204)

    async def _play(self, request: web.Request, parts: list[str]) -> web.Response:
        channel = self._control(parts[1])
        if isinstance(channel, web.Response):
            return channel
        # ARI takes a comma-separated list; a repeated key keeps only the last value.
        media = [m for m in request.query.getall("media", [""])[-1].split(",") if m]
        if not media:
            return _error(400, "missing media")
        playback_id = parts[3] if len(parts) > 3 else None
        pb = FakePlayback.new(channel.id, playback_id, media)
        self._queue_playback(channel, pb)
        return web.json_response(pb.json(), status=201, headers={"Location": f"/playbacks/{pb.id}"})

    async def _hangup(self, request: web.Request, parts: list[str]) -> web.Response:
        channel = self.channels.get(parts[1])
        if channel is None:
            return _error(404, "Channel not found")
        cause = model.hangup_cause(request.query.get("reason", "normal"))
        if cause is None:
            return _error(400, "Invalid reason for hangup reason provided")
        self.push(model.hangup_request(self.app, channel, cause, soft=True))
        self._destroy(channel, (cause, "Normal Clearing" if cause == 16 else "Other"))
        return web.Response(status=204)

    async def _set_variable(self, request: web.Request, parts: list[str]) -> web.Response:
        channel = self._control(parts[1])
        if isinstance(channel, web.Response):
            return channel
        name = request.query.get("variable")
        if not name:
            return _error(400, "Variable name is required")
        # A synchronous command on the channel's queue: it waits behind a running playback.
        if not await self._until_idle(channel):
            return _error(404, "Channel not found")
        channel.variables[name] = request.query.get("value", "")
        self.push(model.varset(self.app, channel, name, channel.variables[name]))
        return web.Response(status=204)

    async def _set_global(self, request: web.Request, parts: list[str]) -> web.Response:
        """``POST /asterisk/variable``: a global, or a dialplan function such as
        ``SHARED(name,<channel>)``, which acts at once (no channel command queue)."""
        name = request.query.get("variable")
        if not name:
            return _error(400, "Variable name is required")
        value = request.query.get("value", "")
        shared = _SHARED.fullmatch(name)
        if shared is None:
            self.globals[name] = value
            return web.Response(status=204)
        var, target = shared.group(1), shared.group(2)
        channel = next((c for c in self.channels.values() if target in (c.name, c.id)), None)
        if channel is None:  # Asterisk logs "Channel '...' not found!" and answers 204
            return web.Response(status=204)
        key = f"SHARED({var})"
        channel.variables[key] = value
        self.push(model.varset(self.app, channel, key, value))
        return web.Response(status=204)

    async def _continue(self, request: web.Request, parts: list[str]) -> web.Response:
        channel = self._control(parts[1])
        if isinstance(channel, web.Response):
            return channel
        # Queued on the channel's command queue and answered at once: the channel
        # leaves Stasis only when the playbacks ahead of it have ended.
        context = request.query.get("context")
        task = asyncio.ensure_future(self._leave_stasis(channel, context))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)
        return web.Response(status=204)

    async def _leave_stasis(self, channel: FakeChannel, context: str | None = None) -> None:
        if not await self._until_idle(channel) or not channel.in_app(self.app):
            return
        self.continued.append(channel.id)
        self.push(model.stasis_end(self.app, channel))
        channel.priority += 1
        channel.app_name, channel.app_data = "GotoIf", ""  # back in the dialplan
        self._touch()
        if context == "ivr-transfer":
            self.dialplan.run(channel)
        elif context is None and channel.variables.get("SHARED(IVR_BUSY)") == "1":
            # [inbound]'s busy branch: a short message, then the call ends.
            channel.app_name, channel.app_data = "Playback", "system/busy"
            asyncio.get_running_loop().call_later(
                0.05, lambda: self.channels.get(channel.id) and self._destroy(channel, (16, ""))
            )

    async def _subscribe(self, request: web.Request, parts: list[str]) -> web.Response:
        if parts[1] != self.app:
            return _error(404, "Application not found")
        kind, _, ident = request.query.get("eventSource", "").partition(":")
        if kind != "channel":
            return _error(400, "Invalid event source")
        if ident not in self.channels:
            return _error(422, "Event source does not exist")
        if request.method == "DELETE":
            self.subscriptions.discard(ident)
        else:
            self.subscriptions.add(ident)
        return web.json_response({"name": self.app, "channel_ids": sorted(self.subscriptions)})

    async def _endpoint(self, request: web.Request, parts: list[str]) -> web.Response:
        prefix = f"{parts[1]}/{parts[2]}-"
        ids = [c.id for c in self.channels.values() if c.name.startswith(prefix)]
        return web.json_response(
            {"technology": parts[1], "resource": parts[2], "state": "online", "channel_ids": ids}
        )

    async def _until_idle(self, channel: FakeChannel) -> bool:
        """Wait until the channel plays nothing (its command queue reaches us); False
        if it went away meanwhile (or the fake is closing)."""
        idle = asyncio.ensure_future(channel.idle.wait())
        release = asyncio.ensure_future(self._release.wait())
        await asyncio.wait({idle, release}, return_when=asyncio.FIRST_COMPLETED)
        idle.cancel()
        release.cancel()
        return self.channels.get(channel.id) is channel and not self._release.is_set()

    async def _get_playback(self, request: web.Request, parts: list[str]) -> web.Response:
        pb = self.playbacks.get(parts[1])
        if pb is None:
            return _error(404, "Playback not found")
        return web.json_response(pb.json())

    async def _stop_playback(self, request: web.Request, parts: list[str]) -> web.Response:
        pb = self.playbacks.get(parts[1])
        if pb is None:
            return _error(404, "Playback not found")
        pb.stopped = True
        channel = self.channels.get(pb.channel_id)
        if channel is not None and channel.queue and channel.queue[0] is not pb:
            # Still waiting for its turn: cancelled; Asterisk reports it done (without
            # ever starting it) when the channel's command queue reaches it.
            return web.Response(status=204)
        self._finish(pb)
        return web.Response(status=204)

    # -- playback machinery ---------------------------------------------

    def _queue_playback(self, channel: FakeChannel, pb: FakePlayback) -> None:
        pb.seconds = [self.durations.get(m, self.media_seconds) for m in pb.media]
        self.playbacks[pb.id] = pb
        self.played.append(pb)
        self._owners[pb.id] = channel.id
        channel.queue.append(pb)
        channel.idle.clear()
        if channel.queue[0] is pb:
            self._start_media(pb)

    def _start_media(self, pb: FakePlayback) -> None:
        if pb.stopped:  # cancelled while queued
            self._finish(pb)
            return
        pb.state = "playing"
        self.push(model.playback_event(self.app, pb))
        seconds = pb.seconds[pb.index]
        if seconds is not None:
            pb.timer = asyncio.get_running_loop().call_later(seconds, self._media_ended, pb)

    def _media_ended(self, pb: FakePlayback) -> None:
        pb.timer = None
        if pb.index < len(pb.media) - 1:
            pb.state = "continuing"
            self.push(model.playback_event(self.app, pb))
            pb.index += 1
            self._start_media(pb)
        else:
            self._finish(pb)

    def _finish(self, pb: FakePlayback, go_on: bool = True) -> None:
        """The playback is done (played out, stopped, or its channel went away); the
        channel's next queued playback starts unless ``go_on`` is false."""
        if pb.timer is not None:
            pb.timer.cancel()
            pb.timer = None
        self.playbacks.pop(pb.id, None)
        channel = self.channels.get(pb.channel_id)
        was_head = channel is not None and bool(channel.queue) and channel.queue[0] is pb
        if channel is not None and pb in channel.queue:
            channel.queue.remove(pb)
        pb.state = "done"
        self.push(model.playback_event(self.app, pb))
        if channel is not None:
            if not channel.queue:
                channel.idle.set()
            elif was_head and go_on:
                self._start_media(channel.queue[0])

    def _end_playbacks(self, channel: FakeChannel) -> None:
        for pb in list(channel.queue):
            self._finish(pb, go_on=False)

    def _destroy(self, channel: FakeChannel, cause: tuple[int, str]) -> None:
        self._end_playbacks(channel)
        self.channels.pop(channel.id, None)
        channel.idle.set()
        if channel.in_app(self.app):
            self.push(model.stasis_end(self.app, channel))
        self.push(model.channel_destroyed(self.app, channel, cause))
        self.subscriptions.discard(channel.id)  # Asterisk forgets a destroyed source
        self._touch()

    def _touch(self) -> None:
        self._changed.set()


Handler = Callable[[FakeAri, web.Request, list[str]], Any]

# (method, path shape) -> handler; "*" stands for one id segment.
_ROUTES: dict[tuple[str, tuple[str, ...]], Handler] = {
    ("GET", ("asterisk", "info")): FakeAri._info,
    ("POST", ("asterisk", "variable")): FakeAri._set_global,
    ("GET", ("channels",)): FakeAri._list_channels,
    ("GET", ("channels", "*")): FakeAri._get_channel,
    ("POST", ("channels", "*", "answer")): FakeAri._answer_channel,
    ("POST", ("channels", "*", "play")): FakeAri._play,
    ("POST", ("channels", "*", "play", "*")): FakeAri._play,
    ("DELETE", ("channels", "*")): FakeAri._hangup,
    ("POST", ("channels", "*", "variable")): FakeAri._set_variable,
    ("POST", ("channels", "*", "continue")): FakeAri._continue,
    ("GET", ("playbacks", "*")): FakeAri._get_playback,
    ("DELETE", ("playbacks", "*")): FakeAri._stop_playback,
    ("POST", ("applications", "*", "subscription")): FakeAri._subscribe,
    ("DELETE", ("applications", "*", "subscription")): FakeAri._subscribe,
    ("GET", ("endpoints", "*", "*")): FakeAri._endpoint,
}


_SHARED = re.compile(r"SHARED\(([^,()]+),([^()]+)\)")


def _shape(parts: list[str]) -> tuple[str, ...]:
    """/channels/<id>/play/<id> -> (channels, *, play, *): ids sit at odd positions."""
    if parts[:1] == ["asterisk"]:
        return tuple(parts)
    if parts[:1] == ["endpoints"]:  # /endpoints/<tech>/<resource>
        return ("endpoints", *("*" for _ in parts[1:]))
    return tuple(p if i % 2 == 0 else "*" for i, p in enumerate(parts))


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"message": message}, status=status)


def _unauthorised() -> web.Response:
    return web.json_response(
        {"error": "Authentication required"},
        status=401,
        headers={"WWW-Authenticate": 'Basic realm="Asterisk REST Interface"'},
    )
