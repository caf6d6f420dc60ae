"""The values a transfer puts on the caller's channel for ``[ivr-transfer]``: the only
way anything reaches a dial string. Pure.

They come from a published target (number, endpoint, ring time), the configuration
(the caller ID shown to staff) and the network's caller ID (the last four digits read
to staff) — never from keys the caller pressed or values a flow collected: a flow
names a target, and :func:`plan` looks the name up. Every value is checked here
against the same rules the dialplan enforces with ``FILTER`` (digits only, endpoint
names from ``[a-z0-9_]``, lengths), so a value the dialplan would refuse is never
sent at all.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ivr.transfer.model import ENDPOINT_RE, NUMBER_RE, RING_SECONDS, Target

CONTEXT = "ivr-transfer"  # extensions.conf; reached only by the controller's continue
EXTENSION = "s"

# SHARED() variables [ivr-transfer] reads (extensions.conf).
NUMBER_VAR = "IVR_XFER_NUMBER"
ENDPOINT_VAR = "IVR_XFER_ENDPOINT"
RING_VAR = "IVR_XFER_RING"
CALLER_ID_VAR = "IVR_XFER_CID"
LAST4_VAR = "IVR_XFER_LAST4"
TARGET_VAR = "IVR_XFER_TARGET"

_CALLER_ID = re.compile(r"[0-9]{3,15}\Z")


class DialRefused(Exception):
    """A value would not pass the dialplan's filter: the transfer is not attempted."""


@dataclass(frozen=True)
class DialPlan:
    target: str
    number: str
    endpoint: str
    ring_seconds: int
    caller_id: str  # shown to staff: the help line's number by default
    last4: str  # the caller's last four digits for the whisper, or ""

    @property
    def dial_string(self) -> str:
        """What ``Dial()`` in ``[ivr-transfer]`` is given (for logs and tests)."""
        return f"PJSIP/{self.number}@{self.endpoint}"

    def variables(self) -> list[tuple[str, str]]:
        """``SHARED()`` name → value, as ``[ivr-transfer]`` reads them."""
        return [
            (TARGET_VAR, self.target),
            (NUMBER_VAR, self.number),
            (ENDPOINT_VAR, self.endpoint),
            (RING_VAR, str(self.ring_seconds)),
            (CALLER_ID_VAR, self.caller_id),
            (LAST4_VAR, self.last4),
        ]


def national(number: str) -> str:
    """A network caller ID as national digits: ``+81312345678`` → ``0312345678``;
    anything but digits is dropped (``anonymous`` → "")."""
    raw = number.strip()
    if raw.startswith("+81"):
        raw = "0" + raw[3:]
    return "".join(c for c in raw if c in "0123456789")


def plan(
    target: Target,
    endpoints: tuple[str, ...],
    *,
    caller_id_mode: str,
    help_line: str,
    dialled: str,
    caller: str,
    whisper_last4: bool,
) -> DialPlan:
    """The dial values for ``target``; raises :class:`DialRefused` for any value the
    dialplan would refuse (a set is validated when published, and again here: the
    code that dials trusts nothing it did not check itself)."""
    if not NUMBER_RE.match(target.number):
        raise DialRefused(f"target {target.name!r}: the number is not 3-15 digits")
    if not ENDPOINT_RE.match(target.endpoint) or target.endpoint not in endpoints:
        raise DialRefused(f"target {target.name!r}: endpoint {target.endpoint!r} is not allowed")
    lo, hi = RING_SECONDS
    if not lo <= target.ring_seconds <= hi:
        raise DialRefused(f"target {target.name!r}: ring time {target.ring_seconds} s")
    line = national(help_line) or national(dialled)
    shown = national(caller) if caller_id_mode == "caller" else line
    if not _CALLER_ID.match(shown):
        shown = line  # a withheld caller: staff see the help line
    if not _CALLER_ID.match(shown):
        raise DialRefused("no caller ID to present (set transfer.help_line_number)")
    digits = national(caller)
    last4 = digits[-4:] if whisper_last4 and len(digits) >= 4 else ""
    return DialPlan(target.name, target.number, target.endpoint, target.ring_seconds, shown, last4)
