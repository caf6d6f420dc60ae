"""The fake's stand-in for ``[ivr-transfer]`` in ``asterisk-conf/extensions.conf``: a
caller ``continue``\\ d there is dialled out to a fake city phone, as ``Dial()`` does.

    fake.city = CityPhone("ANSWER", after=0.05)   # or BUSY, NOANSWER, CONGESTION, ...
    c1 = fake.start_call(); ...                   # the flow transfers: continue to ivr-transfer
    fake.dials[-1].dial_string                    # "PJSIP/0312345678@trunk"
    fake.end_transfer(c1)                         # staff hang up: both legs end
    fake.caller_hangup(c1)                        # the caller hangs up (ringing: Dial CANCEL)

What the real dialplan does, the fake does in the same order: it reads the values the
controller put on the channel (``SHARED(IVR_XFER_*)``) and refuses them as ``FILTER``
and the length checks would (``INVALIDARGS``, straight back to Stasis); it creates
the outbound leg and reports ``Dial`` events ("", RINGING, then the result) — which,
like every event of a channel outside Stasis, reach the application only if it
subscribed to the caller's channel; on answer it marks ``SHARED(IVR_XFER_ANSWERED)``
and the two legs stay bridged until one side hangs up; an unanswered dial sets
``SHARED(IVR_XFER_RESULT)`` and re-enters ``Stasis(<app>,transfer,<DIALSTATUS>)``.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from tests.fakeari import model
from tests.fakeari.model import FakeChannel

if TYPE_CHECKING:
    from tests.fakeari.server import FakeAri

_peers = itertools.count(0x100)


@dataclass
class CityPhone:
    """How the city's phone takes the next transfers: ``result`` after ``after`` seconds
    (``ANSWER``, ``BUSY``, ``NOANSWER`` (the ring time ran out), ``CONGESTION``, ...)."""

    result: str = "ANSWER"
    after: float = 0.05


@dataclass
class FakeDial:
    caller: str  # the caller's channel id
    peer: FakeChannel
    dial_string: str
    ring: str
    caller_id: str
    last4: str
    status: str = ""
    timer: asyncio.TimerHandle | None = field(default=None, repr=False)


def _digits(value: str) -> str:
    return "".join(c for c in value if c in "0123456789")


def _endpoint(value: str) -> str:
    return "".join(c for c in value if c in "abcdefghijklmnopqrstuvwxyz0123456789_")


class FakeDialplan:
    def __init__(self, fake: FakeAri) -> None:
        self.fake = fake
        self.city = CityPhone()
        self.dials: list[FakeDial] = []  # every dial, in order
        self.active: dict[str, FakeDial] = {}  # caller id -> its dial (ringing or bridged)
        self.refused: list[str] = []  # callers whose values did not pass the filter

    def run(self, channel: FakeChannel) -> None:
        """The caller reached ``ivr-transfer,s,1``."""
        raw = {k: channel.variables.get(f"SHARED(IVR_XFER_{k})", "") for k in _VARS}
        number, cid, ring = _digits(raw["NUMBER"]), _digits(raw["CID"]), _digits(raw["RING"])
        endpoint, last4 = _endpoint(raw["ENDPOINT"]), _digits(raw["LAST4"])
        changed = (number, endpoint, cid, ring) != (
            raw["NUMBER"],
            raw["ENDPOINT"],
            raw["CID"],
            raw["RING"],
        )
        if (
            changed
            or not 3 <= len(number) <= 15
            or not endpoint
            or not 3 <= len(cid) <= 15
            or not ring
            or not 5 <= int(ring) <= 120
        ):
            self.refused.append(channel.id)
            self._back_to_stasis(channel, "INVALIDARGS")
            return
        n = next(_peers)
        peer = FakeChannel(
            id=f"{channel.id}.{n}",
            name=f"PJSIP/{endpoint}-{n:08x}",
            caller_number=cid,
            exten=number,
            context="ivr-transfer-peer",
            priority=1,
            app_name="AppDial",
            app_data="(Outgoing Line)",
            state="Down",
            channelvars=channel.channelvars,
        )
        self.fake.channels[peer.id] = peer
        channel.context, channel.priority = "ivr-transfer", 21
        channel.app_name, channel.app_data = "Dial", f"PJSIP/{number}@{endpoint},{ring},r"
        dial = FakeDial(channel.id, peer, f"PJSIP/{number}@{endpoint}", ring, cid, last4)
        self.dials.append(dial)
        self.active[channel.id] = dial
        self._report(dial, "", dial_string=f"{number}@{endpoint}")
        peer.state = "Ringing"
        self._report(dial, "RINGING")
        loop = asyncio.get_running_loop()
        dial.timer = loop.call_later(self.city.after, self._settle, dial, self.city.result)

    def _report(self, dial: FakeDial, status: str, dial_string: str = "") -> None:
        caller = self.fake.channels.get(dial.caller)
        dial.status = status or dial.status
        self.fake.push(model.dial(self.fake.app, caller, dial.peer, status, dial_string))

    def _settle(self, dial: FakeDial, result: str) -> None:
        dial.timer = None
        caller = self.fake.channels.get(dial.caller)
        if caller is None:
            return
        if result == "ANSWER":
            dial.peer.state = "Up"
            mark = f"{time.time():.3f}"
            caller.variables["SHARED(IVR_XFER_ANSWERED)"] = mark
            self.fake.push(model.varset(self.fake.app, caller, "SHARED(IVR_XFER_ANSWERED)", mark))
            self._report(dial, "ANSWER")  # after the whisper, as app_dial reports it
            return
        self._report(dial, result)
        self.active.pop(dial.caller, None)
        self.fake.channels.pop(dial.peer.id, None)
        self._back_to_stasis(caller, result)

    def _back_to_stasis(self, caller: FakeChannel, status: str) -> None:
        caller.variables["SHARED(IVR_XFER_RESULT)"] = status
        caller.context, caller.priority = "ivr-transfer", 25
        caller.app_name, caller.app_data = "Stasis", f"{self.fake.app},transfer,{status}"
        self.fake.push(model.stasis_start(self.fake.app, caller))

    def end(self, caller_id: str, cause: tuple[int, str] = model.NORMAL_CLEARING) -> None:
        """A bridged conversation ends (either side hangs up): both legs go."""
        dial = self.active.pop(caller_id)
        caller = self.fake.channels[caller_id]
        self.fake.channels.pop(dial.peer.id, None)
        self.fake.push(model.hangup_request(self.fake.app, caller, cause[0]))
        self.fake.destroy(caller, cause)

    def adopt(self, channel: FakeChannel) -> None:
        """A caller found already in Dial(): a dial to a fresh peer, ringing or bridged."""
        n = next(_peers)
        peer = FakeChannel(
            id=f"{channel.id}.{n}",
            name=f"PJSIP/trunk-{n:08x}",
            state="Up" if channel.variables.get("SHARED(IVR_XFER_ANSWERED)") else "Ringing",
            app_name="AppDial",
            app_data="(Outgoing Line)",
            channelvars=channel.channelvars,
        )
        self.fake.channels[peer.id] = peer
        dial = FakeDial(channel.id, peer, "PJSIP/0312345678@trunk", "30", "0501234567", "")
        dial.status = "ANSWER" if peer.state == "Up" else "RINGING"
        self.dials.append(dial)
        self.active[channel.id] = dial

    def settle(self, caller_id: str, result: str) -> None:
        """The adopted (or any ringing) dial ends now with ``result``."""
        dial = self.active[caller_id]
        if dial.timer is not None:
            dial.timer.cancel()
        self._settle(dial, result)

    def cancel(self, caller_id: str) -> None:
        """The caller hung up while it rang: Dial cancels the outbound leg."""
        dial = self.active.pop(caller_id, None)
        if dial is None:
            return
        if dial.timer is not None:
            dial.timer.cancel()
            dial.timer = None
        if dial.status != "ANSWER":
            self._report(dial, "CANCEL")
        self.fake.channels.pop(dial.peer.id, None)


_VARS = ("NUMBER", "ENDPOINT", "RING", "CID", "LAST4")


def transferred_channel(
    app: str, saved: str, attempt: str, answered: str = "", **kw: Any
) -> FakeChannel:
    """A caller already in ``Dial()`` (ringing, or talking when ``answered`` is the
    mark), as a controller that starts finds it: outside Stasis, carrying its saved
    place (``leg: transfer``) and its attempt."""
    channel = FakeChannel.inbound(app, **kw)
    channel.context, channel.priority = "ivr-transfer", 21
    channel.app_name, channel.app_data = "Dial", "PJSIP/0312345678@trunk,30,r"
    channel.state = "Up"
    channel.variables.update(
        {
            "SHARED(IVR_STATE)": saved,
            "SHARED(IVR_XFER)": attempt,
            "SHARED(IVR_XFER_ANSWERED)": answered,
        }
    )
    return channel
