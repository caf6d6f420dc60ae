"""ARI events decode into typed objects; playbacks route to their channel by target_uri."""

from __future__ import annotations

from ivr.ari import events as ari

CHANNEL = {
    "id": "1700000000.1",
    "name": "PJSIP/trunk-00000001",
    "state": "Ring",
    "caller": {"name": "", "number": "09012345678"},
    "dialplan": {
        "context": "inbound",
        "exten": "s",
        "priority": 2,
        "app_name": "Stasis",
        "app_data": "myna-ivr,inbound,0501234567",
    },
}


def test_stasis_start_carries_caller_and_args() -> None:
    """StasisStart gives the caller number and the dialplan's Stasis() arguments."""
    ev = ari.decode({"type": "StasisStart", "channel": CHANNEL, "args": ["inbound", "0501234567"]})
    assert isinstance(ev, ari.StasisStart)
    assert ev.channel.caller_number == "09012345678"
    assert ev.args == ("inbound", "0501234567")
    assert ev.channel.in_app("myna-ivr") and not ev.channel.in_app("other")


def test_dtmf_event() -> None:
    """ChannelDtmfReceived decodes the digit and its duration."""
    ev = ari.decode(
        {"type": "ChannelDtmfReceived", "channel": CHANNEL, "digit": "#", "duration_ms": 120}
    )
    assert ev == ari.ChannelDtmfReceived(ari.Channel.decode(CHANNEL), "#", 120)


def test_playback_routed_by_target_uri() -> None:
    """A playback event belongs to the channel named in its target_uri."""
    pb = {"id": "p1", "target_uri": "channel:1700000000.1", "media_uri": "sound:x", "state": "done"}
    ev = ari.decode({"type": "PlaybackFinished", "playback": pb})
    assert isinstance(ev, ari.PlaybackFinished)
    assert ari.channel_of(ev) == "1700000000.1"
    bridge = ari.decode({"type": "PlaybackStarted", "playback": {**pb, "target_uri": "bridge:b1"}})
    assert ari.channel_of(bridge) is None


def test_unknown_and_partial_events_never_raise() -> None:
    """Events we do not handle, or with missing fields, decode to OtherEvent."""
    assert isinstance(ari.decode({"type": "ChannelVarset"}), ari.OtherEvent)
    assert isinstance(ari.decode({}), ari.OtherEvent)
    ev = ari.decode({"type": "StasisEnd", "channel": {}})
    assert isinstance(ev, ari.StasisEnd) and ev.channel.id == ""
