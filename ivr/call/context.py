"""What a call knows when it starts: who calls, which flow, the calendar."""

from __future__ import annotations

import re

_MOBILE = re.compile(r"^(?:0|\+?81)[789]0\d{8}$")


def caller_type(number: str) -> str:
    """Classify the caller's number as ``mobile``, ``landline`` or ``withheld``.

    Japanese mobile numbers are 070/080/090 + 8 digits (also in +81 form).
    The SMS issue replaces this with the maintained ``phonenumbers`` library.
    """
    digits = re.sub(r"[^\d+]", "", number)
    if not digits or number.lower() in {"anonymous", "unknown", "unavailable"}:
        return "withheld"
    return "mobile" if _MOBILE.match(digits) else "landline"
