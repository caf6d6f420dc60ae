"""One transfer in flight: what was dialled, when it rang, when it was answered, and
the call's record, which the watch closes when an answered transfer ends.

The attempt travels with the channel too (``SHARED(IVR_XFER)``, :meth:`Attempt.encode`),
with the dialplan's mark of the answer (``SHARED(IVR_XFER_ANSWERED)``), so a
controller that starts while the caller talks to staff rebuilds the watch from
``GET /channels`` alone (:func:`rebuilt`).
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from ivr.ari.events import Channel
from ivr.call import resume
from ivr.log import TOKYO
from ivr.store.calls import CallRow, EventRow
from ivr.transfer import outcomes
from ivr.transfer.records import AttemptRow

# Revisions of an attempt's row: it only ever moves forward.
REV_STARTED, REV_ANSWERED, REV_ENDED = 1, 2, 3


def now() -> datetime:
    return datetime.now(TOKYO)


@dataclass(frozen=True)
class Attempt:
    id: uuid.UUID
    call_id: uuid.UUID
    node: str  # the flow's transfer node
    target: str
    number: str
    endpoint: str
    started_at: datetime
    dialled: str = ""  # the number the caller dialled (the call record's)

    def encode(self) -> str:
        return json.dumps(
            {
                "i": str(self.id),
                "c": str(self.call_id),
                "n": self.node,
                "t": self.target,
                "u": self.number,
                "e": self.endpoint,
                "s": self.started_at.isoformat(),
                "d": self.dialled,
            },
            ensure_ascii=False,
            separators=(",", ":"),
        )

    @classmethod
    def decode(cls, text: str) -> Attempt | None:
        if not text:
            return None
        try:
            d: dict[str, Any] = json.loads(text)
            return cls(
                uuid.UUID(d["i"]),
                uuid.UUID(d["c"]),
                str(d["n"]),
                str(d["t"]),
                str(d["u"]),
                str(d["e"]),
                datetime.fromisoformat(d["s"]),
                str(d.get("d", "")),
            )
        except (ValueError, KeyError, TypeError):
            return None

    def row(self, channel_id: str, **kw: Any) -> AttemptRow:
        return AttemptRow(
            id=self.id,
            call_id=self.call_id,
            channel_id=channel_id,
            node=self.node,
            target=self.target,
            started_at=self.started_at,
            number=self.number,
            endpoint=self.endpoint,
            **kw,
        )


@dataclass
class CallHandle:
    """The call's record, handed from the session to the watch: the watch writes the
    next revisions and event numbers."""

    row: CallRow
    seq: int

    def event(self, kind: str, node: str, detail: dict[str, str]) -> EventRow:
        self.seq += 1
        return EventRow(self.row.id, self.seq, now(), kind, node, detail)

    def closed(self, outcome: str) -> CallRow:
        self.row = replace(self.row, ended_at=now(), outcome=outcome, rev=self.row.rev + 1)
        return self.row


@dataclass
class Watch:
    attempt: Attempt
    channel_id: str
    channel_name: str
    handle: CallHandle
    answered_at: datetime | None = None
    status: str = ""  # the Dial's latest status
    ringing: bool = False  # the outbound leg exists (a Dial event came)
    done: bool = False

    def answered(self, mark: str) -> None:
        """The city phone answered; ``mark`` is the dialplan's time of it (epoch
        seconds), else now (the Dial's ANSWER comes after the whisper)."""
        if self.answered_at is None:
            self.answered_at = answered_time(mark) or now()

    @property
    def ring_seconds(self) -> float:
        end = self.answered_at or now()
        return round(max(0.0, (end - self.attempt.started_at).total_seconds()), 3)

    def talk_seconds(self, ended: datetime) -> float | None:
        if self.answered_at is None:
            return None
        return round(max(0.0, (ended - self.answered_at).total_seconds()), 3)

    def unanswered_outcome(self) -> str:
        """How a transfer that was never answered ended, by the Dial's last status."""
        final = self.status in outcomes.FINAL_STATUSES
        return outcomes.from_dialstatus(self.status) if final else outcomes.ABANDONED


def answered_time(mark: str) -> datetime | None:
    try:
        return datetime.fromtimestamp(float(mark), UTC).astimezone(TOKYO) if mark else None
    except (ValueError, OverflowError, OSError):
        return None


def rebuilt(channel: Channel, saved: resume.Saved) -> Watch | None:
    """The watch of a transfer found on a channel (a predecessor started it), or None
    when the channel does not carry one."""
    attempt = Attempt.decode(channel.variables.get(f"SHARED({outcomes.TRANSFER_VAR})", ""))
    if attempt is None:
        return None
    epoch = saved.epoch + 1  # as a session taking the call over would
    base = epoch * resume.EPOCH_SPAN
    row = CallRow(
        id=resume.call_id(channel.id),
        channel_id=channel.id,
        caller=channel.caller_number,
        dialled=attempt.dialled,
        started_at=saved.started_at,
        answered_at=saved.answered_at,
        digits=saved.digits,
        path=saved.path,
        last_node=saved.node,
        flow_version=saved.flow_version,
        flow_digest=saved.flow_digest,
        rev=base,
    )
    watch = Watch(attempt, channel.id, channel.name, CallHandle(row, base))
    mark = channel.variables.get(f"SHARED({outcomes.ANSWERED_VAR})", "")
    if mark:
        watch.answered(mark)
    return watch


def dialled_of(channel: Channel, args: tuple[str, ...]) -> str:
    """The number the caller dialled: ``Stasis(<app>,inbound,<dialled>)`` carries it; a
    call back from a transfer (``Stasis(<app>,transfer,<DIALSTATUS>)``) has it in its
    attempt; else the channel's extension."""
    if len(args) > 1 and args[0] == "inbound" and args[1]:
        return args[1]
    attempt = Attempt.decode(channel.variables.get(f"SHARED({outcomes.TRANSFER_VAR})", ""))
    if attempt is not None and attempt.dialled:
        return attempt.dialled
    return channel.exten
