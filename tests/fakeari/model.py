"""What the fake Asterisk holds (channels, playbacks) and the JSON it speaks.

Shapes follow Asterisk 22's ARI models (``rest-api/api-docs/*.json``): a Channel
has id, name, state, protocol_id, caller/connected {name, number}, accountcode,
dialplan {context, exten, priority, app_name, app_data}, creationtime, language;
a Playback has id, media_uri, (next_media_uri), target_uri, language, state; every
event carries type, timestamp, asterisk_id and application. Playback states are
Asterisk's own: ``queued`` (no event), ``playing`` (PlaybackStarted, once per media
of a playlist), ``continuing`` (PlaybackContinuing), ``done`` (PlaybackFinished,
also after a stop or a hang-up: res_stasis_playback maps stopped/cancelled to done).
"""

from __future__ import annotations

import asyncio
import itertools
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

TOKYO = ZoneInfo("Asia/Tokyo")
ARI_CONF = Path(__file__).resolve().parents[2] / "asterisk-conf" / "ari.conf"


def ari_conf_channelvars() -> tuple[str, ...]:
    """The channel variables ``asterisk-conf/ari.conf`` lists with every channel."""
    for line in ARI_CONF.read_text().splitlines():
        name, _, value = line.partition("=")
        if name.strip() == "channelvars":
            return tuple(v.strip() for v in value.split(",") if v.strip())
    return ()


ASTERISK_ID = "52:54:00:12:34:56"  # Asterisk's entity id: a MAC address

# Hang-up causes as Asterisk reports them (cause, cause_txt).
NORMAL_CLEARING = (16, "Normal Clearing")
_REASONS = {"normal": 16, "busy": 17, "congestion": 34, "no_answer": 19, "rejected": 21}

_unique = itertools.count(1)


def timestamp(when: datetime | None = None) -> str:
    """Asterisk's ARI date format: ``2025-05-01T10:00:00.123+0900``."""
    when = when or datetime.now(TOKYO)
    return (
        when.strftime("%Y-%m-%dT%H:%M:%S.")
        + f"{when.microsecond // 1000:03d}"
        + (when.strftime("%z"))
    )


def hangup_cause(reason: str) -> int | None:
    """The cause for DELETE /channels/{id}?reason=...; None for a reason ARI refuses."""
    return _REASONS.get(reason)


@dataclass
class FakeChannel:
    """A channel as Asterisk's channel snapshot describes it."""

    id: str
    name: str
    caller_number: str = "09012345678"
    caller_name: str = ""
    exten: str = "0501234567"
    context: str = "inbound"
    priority: int = 3
    app_name: str = "Stasis"
    app_data: str = "myna-ivr,inbound,0501234567"
    state: str = "Ring"
    language: str = "ja"
    created: datetime = field(default_factory=lambda: datetime.now(TOKYO))
    variables: dict[str, str] = field(default_factory=dict)
    channelvars: tuple[str, ...] = ()  # the variables ari.conf lists with every snapshot
    # Playbacks of this channel in Asterisk's order: the first plays, the rest wait.
    queue: list[FakePlayback] = field(default_factory=list)
    idle: asyncio.Event = field(default_factory=asyncio.Event)

    def __post_init__(self) -> None:
        self.idle.set()

    @classmethod
    def inbound(
        cls, app: str, caller: str = "09012345678", exten: str = "0501234567", **kw: Any
    ) -> FakeChannel:
        """A call from the SIP trunk sitting in ``Stasis(app,inbound,<exten>)``."""
        n = next(_unique)
        return cls(
            id=kw.pop("id", None) or f"1746061200.{n}",
            name=kw.pop("name", None) or f"PJSIP/trunk-{n:08x}",
            caller_number=caller,
            exten=exten,
            app_data=kw.pop("app_data", None) or f"{app},inbound,{exten}",
            **kw,
        )

    def in_app(self, app: str) -> bool:
        return self.app_name == "Stasis" and self.app_data.split(",", 1)[0] == app

    def json(self) -> dict[str, Any]:
        """The snapshot Asterisk puts in events and in GET /channels."""
        out: dict[str, Any] = {
            "id": self.id,
            "name": self.name,
            "state": self.state,
            "protocol_id": f"{self.id}@trunk.example",  # the SIP Call-ID for chan_pjsip
            "caller": {"name": self.caller_name, "number": self.caller_number},
            "connected": {"name": "", "number": ""},
            "accountcode": "",
            "dialplan": {
                "context": self.context,
                "exten": self.exten,
                "priority": self.priority,
                "app_name": self.app_name,
                "app_data": self.app_data,
            },
            "creationtime": timestamp(self.created),
            "language": self.language,
        }
        if self.channelvars:  # ari.conf's channelvars, "" while unset
            out["channelvars"] = {name: self.variables.get(name, "") for name in self.channelvars}
        return out


@dataclass
class FakePlayback:
    """One ``POST /channels/{id}/play/{playbackId}``: a playlist of media URIs."""

    id: str
    channel_id: str
    media: list[str]
    seconds: list[float | None]  # how long each media plays; None: until stopped
    language: str = "ja"
    state: str = "queued"
    index: int = 0
    timer: asyncio.TimerHandle | None = None
    stopped: bool = False

    @classmethod
    def new(cls, channel_id: str, playback_id: str | None, media: list[str]) -> FakePlayback:
        return cls(playback_id or str(uuid.uuid4()), channel_id, media, [])

    @property
    def target_uri(self) -> str:
        return f"channel:{self.channel_id}"

    def json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.id,
            "media_uri": self.media[self.index],
            "target_uri": self.target_uri,
            "language": self.language,
            "state": self.state,
        }
        if self.index < len(self.media) - 1:
            out["next_media_uri"] = self.media[self.index + 1]
        return out


def event(kind: str, app: str, **body: Any) -> dict[str, Any]:
    """An ARI event with Asterisk's envelope."""
    return {
        "type": kind,
        "timestamp": timestamp(),
        **body,
        "asterisk_id": ASTERISK_ID,
        "application": app,
    }


def stasis_start(app: str, channel: FakeChannel) -> dict[str, Any]:
    args = channel.app_data.split(",")[1:]
    return event("StasisStart", app, args=args, channel=channel.json())


def stasis_end(app: str, channel: FakeChannel) -> dict[str, Any]:
    return event("StasisEnd", app, channel=channel.json())


def dtmf(app: str, channel: FakeChannel, digit: str, duration_ms: int = 120) -> dict[str, Any]:
    return event(
        "ChannelDtmfReceived", app, digit=digit, duration_ms=duration_ms, channel=channel.json()
    )


def hangup_request(
    app: str, channel: FakeChannel, cause: int = 16, soft: bool | None = None
) -> dict[str, Any]:
    body: dict[str, Any] = {"cause": cause, "channel": channel.json()}
    if soft is not None:  # only hang-ups requested through Asterisk (ARI, AMI) are soft
        body["soft"] = soft
    return event("ChannelHangupRequest", app, **body)


def channel_destroyed(
    app: str, channel: FakeChannel, cause: tuple[int, str] = NORMAL_CLEARING
) -> dict[str, Any]:
    return event(
        "ChannelDestroyed", app, cause=cause[0], cause_txt=cause[1], channel=channel.json()
    )


def state_change(app: str, channel: FakeChannel) -> dict[str, Any]:
    return event("ChannelStateChange", app, channel=channel.json())


def varset(app: str, channel: FakeChannel, name: str, value: str) -> dict[str, Any]:
    return event("ChannelVarset", app, variable=name, value=value, channel=channel.json())


def dial(
    app: str, caller: FakeChannel | None, peer: FakeChannel, status: str, dialstring: str = ""
) -> dict[str, Any]:
    """A ``Dial`` event: the caller's dial of ``peer`` changed state."""
    body: dict[str, Any] = {"peer": peer.json(), "dialstatus": status, "dialstring": dialstring}
    if caller is not None:
        body["caller"] = caller.json()
    return event("Dial", app, **body)


def playback_event(app: str, playback: FakePlayback) -> dict[str, Any]:
    kind = {
        "playing": "PlaybackStarted",
        "continuing": "PlaybackContinuing",
        "done": "PlaybackFinished",
        "failed": "PlaybackFinished",
    }[playback.state]
    return event(kind, app, playback=playback.json())
