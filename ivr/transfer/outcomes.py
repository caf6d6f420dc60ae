"""What a transfer's end means: Asterisk's ``DIALSTATUS`` → the flow's outcomes.

The names a flow routes on (``on: {busy: ..., no_answer: ...}``) are
``ivr.flow.model.TRANSFER_FAILURES``; ``answered`` ends the flow, and
``abandoned`` (the caller hung up while it rang) ends the call.
"""

from __future__ import annotations

from collections.abc import Mapping

ANSWERED = "answered"
BUSY = "busy"
NO_ANSWER = "no_answer"
FAILED = "failed"
CAPACITY = "capacity"  # the target takes no more callers at once
TRUNK_CAPACITY = "trunk_capacity"  # the trunk's channel limit would be passed
ABANDONED = "abandoned"  # the caller hung up while it rang

RESULT_VAR = "IVR_XFER_RESULT"  # SHARED(): the DIALSTATUS of an unanswered Dial
ANSWERED_VAR = "IVR_XFER_ANSWERED"  # SHARED(): when the city phone answered (epoch seconds)
TRANSFER_VAR = "IVR_XFER"  # SHARED(): the attempt this channel is on (ivr.transfer.watch)
BUSY_VAR = "IVR_BUSY"  # SHARED(): "1" = the trunk is full, [inbound] says so and hangs up

_DIALSTATUS = {
    "ANSWER": ANSWERED,
    "BUSY": BUSY,
    "NOANSWER": NO_ANSWER,
    "CANCEL": ABANDONED,
    "CONGESTION": FAILED,  # a 503 from the trunk, or no route
    "CHANUNAVAIL": FAILED,
    "INVALIDARGS": FAILED,  # the dialplan refused the values (ivr-transfer's filter)
    "DONTCALL": FAILED,
    "TORTURE": FAILED,
}


FINAL_STATUSES = frozenset(_DIALSTATUS)
"""Dial statuses that end a dial (RINGING, PROGRESS, "" do not)."""


def from_dialstatus(status: str) -> str:
    """The outcome for a ``DIALSTATUS``; anything unknown is a failure."""
    return _DIALSTATUS.get(status.strip().upper(), FAILED)


def returned_with(variables: Mapping[str, str]) -> str | None:
    """The outcome a channel came back from ``[ivr-transfer]`` with (the dialplan sets
    ``SHARED(IVR_XFER_RESULT)`` before it re-enters Stasis, also through the holding
    loop), or None when it has not dialled since the controller armed it."""
    status = variables.get(f"SHARED({RESULT_VAR})", "")
    return from_dialstatus(status) if status else None
