"""ARI WebSocket events decoded into frozen dataclasses.

Only the event types the controller acts on get their own class; everything
else decodes to ``OtherEvent`` so a new Asterisk release never breaks decoding.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class Channel:
    id: str
    name: str
    state: str
    caller_number: str
    exten: str
    app_name: str
    app_data: str
    # Channel variables listed by ari.conf's ``channelvars`` (IVR_STATE, ...).
    variables: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def decode(cls, raw: dict[str, Any]) -> Channel:
        caller = raw.get("caller") or {}
        dialplan = raw.get("dialplan") or {}
        return cls(
            id=str(raw.get("id", "")),
            name=str(raw.get("name", "")),
            state=str(raw.get("state", "")),
            caller_number=str(caller.get("number", "")),
            exten=str(dialplan.get("exten", "")),
            app_name=str(dialplan.get("app_name", "")),
            app_data=str(dialplan.get("app_data", "")),
            variables={str(k): str(v) for k, v in dict(raw.get("channelvars") or {}).items() if v},
        )

    def in_app(self, app: str) -> bool:
        """True when the channel sits in ``Stasis(app, ...)``."""
        data = self.app_data.split(",", 1)[0].strip()
        return self.app_name.lower() == "stasis" and data == app


@dataclass(frozen=True, slots=True)
class Playback:
    id: str
    target_uri: str
    media_uri: str
    state: str

    @classmethod
    def decode(cls, raw: dict[str, Any]) -> Playback:
        return cls(
            str(raw.get("id", "")),
            str(raw.get("target_uri", "")),
            str(raw.get("media_uri", "")),
            str(raw.get("state", "")),
        )

    @property
    def channel_id(self) -> str | None:
        """The channel a playback plays to, from ``target_uri`` (``channel:<id>``)."""
        kind, _, ident = self.target_uri.partition(":")
        return ident if kind == "channel" and ident else None


@dataclass(frozen=True, slots=True)
class StasisStart:
    channel: Channel
    args: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class StasisEnd:
    channel: Channel


@dataclass(frozen=True, slots=True)
class ChannelDtmfReceived:
    channel: Channel
    digit: str
    duration_ms: int


@dataclass(frozen=True, slots=True)
class ChannelHangupRequest:
    channel: Channel


@dataclass(frozen=True, slots=True)
class ChannelDestroyed:
    channel: Channel
    cause: int


@dataclass(frozen=True, slots=True)
class PlaybackStarted:
    playback: Playback


@dataclass(frozen=True, slots=True)
class PlaybackFinished:
    playback: Playback


@dataclass(frozen=True, slots=True)
class Dial:
    """A dial's state changed: ``caller`` (the channel that runs ``Dial()``) rings
    ``peer``; ``dialstatus`` is "" when it starts, then RINGING, ANSWER, BUSY, ...
    Delivered for a channel outside Stasis once the application subscribed to it."""

    caller: Channel | None
    peer: Channel
    dialstatus: str
    dialstring: str


@dataclass(frozen=True, slots=True)
class OtherEvent:
    type: str
    raw: dict[str, Any]


AriEvent = (
    StasisStart
    | StasisEnd
    | ChannelDtmfReceived
    | ChannelHangupRequest
    | ChannelDestroyed
    | PlaybackStarted
    | PlaybackFinished
    | Dial
    | OtherEvent
)


# The event types ``decode`` gives a class of their own: every one the controller acts
# on. The connection asks Asterisk for these only (``AriConnection``); a type added
# to ``decode`` must be added here, or Asterisk never sends it (tests check both agree).
HANDLED_TYPES: frozenset[str] = frozenset(
    {
        "StasisStart",
        "StasisEnd",
        "ChannelDtmfReceived",
        "ChannelHangupRequest",
        "ChannelDestroyed",
        "PlaybackStarted",
        "PlaybackFinished",
        "Dial",
    }
)


def decode(raw: dict[str, Any]) -> AriEvent:
    """Decode one WebSocket message; never raises on unknown or partial events."""
    kind = str(raw.get("type", ""))
    chan = raw.get("channel")
    if isinstance(chan, dict):
        channel = Channel.decode(chan)
        if kind == "StasisStart":
            return StasisStart(channel, tuple(str(a) for a in raw.get("args") or ()))
        if kind == "StasisEnd":
            return StasisEnd(channel)
        if kind == "ChannelDtmfReceived":
            return ChannelDtmfReceived(
                channel, str(raw.get("digit", "")), int(raw.get("duration_ms") or 0)
            )
        if kind == "ChannelHangupRequest":
            return ChannelHangupRequest(channel)
        if kind == "ChannelDestroyed":
            return ChannelDestroyed(channel, int(raw.get("cause") or 0))
    peer = raw.get("peer")
    if kind == "Dial" and isinstance(peer, dict):
        caller = raw.get("caller")
        return Dial(
            Channel.decode(caller) if isinstance(caller, dict) else None,
            Channel.decode(peer),
            str(raw.get("dialstatus", "")),
            str(raw.get("dialstring", "")),
        )
    pb = raw.get("playback")
    if isinstance(pb, dict):
        if kind == "PlaybackStarted":
            return PlaybackStarted(Playback.decode(pb))
        if kind == "PlaybackFinished":
            return PlaybackFinished(Playback.decode(pb))
    return OtherEvent(kind, raw)


def channel_of(event: AriEvent) -> str | None:
    """The channel an event belongs to: playbacks are routed by their target_uri."""
    if isinstance(event, PlaybackStarted | PlaybackFinished):
        return event.playback.channel_id
    if isinstance(event, OtherEvent):
        return None
    if isinstance(event, Dial):  # ours is the calling side (a caller being transferred)
        return event.caller.id if event.caller is not None else None
    return event.channel.id
