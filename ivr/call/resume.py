"""A call's place in the flow, kept on its channel so any controller can resume it.

After every step the session writes :class:`Saved` to the channel's shared
variable ``SHARED(IVR_STATE)`` (Asterisk lists it with the channel: ``channelvars``
in ``ari.conf``). It is written with the ``SHARED()`` function through ARI's
``/asterisk/variable``, which acts at once; a plain channel variable would wait in
the channel's command queue behind the prompt playing, so a crash mid-prompt would
leave a stale node behind. A controller that gets the call after a crash or a hand-over reads
it and continues at that node, in the same call record: the record's id comes
from the channel id, and ``epoch`` (one more per takeover) keeps the record's
revisions and event numbers rising across controllers.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

VAR = "IVR_STATE"
HOLD_VAR = "IVR_HOLD_UNTIL"  # set by the dialplan while it holds the caller
HAND_OVER_VAR = "IVR_HOLD"  # a stopping controller asks the dialplan to hold the caller


def listed(name: str) -> str:
    """How a shared variable is named in a channel's ``channelvars``."""
    return f"SHARED({name})"


LEG_MENU = "menu"
LEG_TRANSFER = "transfer"  # bridged to a city phone: never taken over as a menu call
EPOCH_SPAN = 100_000  # record revisions and event numbers per controller epoch

_NAMESPACE = uuid.UUID("8a3c5f0e-6d1b-4f5e-9a0c-2b7d4e6f1a93")


def call_id(channel_id: str) -> uuid.UUID:
    """One record per call: every controller derives the same id from the channel."""
    return uuid.uuid5(_NAMESPACE, channel_id)


@dataclass(frozen=True)
class Saved:
    node: str
    epoch: int
    flow_version: int | None
    flow_digest: str
    started_at: datetime
    answered_at: datetime | None = None
    values: Mapping[str, str] = field(default_factory=dict)
    digits: str = ""
    path: tuple[str, ...] = ()
    leg: str = LEG_MENU

    def encode(self) -> str:
        return json.dumps(
            {
                "n": self.node,
                "e": self.epoch,
                "v": self.flow_version,
                "d": self.flow_digest,
                "s": self.started_at.isoformat(),
                "a": self.answered_at.isoformat() if self.answered_at else None,
                "x": dict(self.values),
                "k": self.digits,
                "p": list(self.path),
                "l": self.leg,
            },
            ensure_ascii=False,
            separators=(",", ":"),
        )

    @classmethod
    def decode(cls, text: str) -> Saved | None:
        """None for an empty or unreadable value (the call then starts afresh)."""
        if not text:
            return None
        try:
            d = json.loads(text)
            return cls(
                node=str(d["n"]),
                epoch=int(d["e"]),
                flow_version=None if d["v"] is None else int(d["v"]),
                flow_digest=str(d["d"]),
                started_at=datetime.fromisoformat(d["s"]),
                answered_at=datetime.fromisoformat(d["a"]) if d.get("a") else None,
                values={str(k): str(v) for k, v in dict(d.get("x") or {}).items()},
                digits=str(d.get("k", "")),
                path=tuple(str(n) for n in d.get("p") or ()),
                leg=str(d.get("l", LEG_MENU)),
            )
        except (ValueError, KeyError, TypeError):
            return None


def saved_on(variables: Mapping[str, str]) -> Saved | None:
    return Saved.decode(variables.get(listed(VAR), ""))
