"""Who is calling, as a flow may branch on it: ``mobile``, ``landline`` or ``withheld``.

A caller who withheld the number (184, presentation restricted) is ``withheld`` even
when the trunk passes the real number anyway: the dialplan hands the presentation
over in ``SHARED(IVR_PRES)``, and such a caller's number is neither recorded nor
texted (the flow asks them to key a number in). Numbers are classified with the
maintained ``phonenumbers`` library (:mod:`ivr.sms.numbers`).
"""

from __future__ import annotations

from collections.abc import Mapping

from ivr.sms.numbers import caller_type as number_type

PRES_VAR = "SHARED(IVR_PRES)"


def withheld(presentation: str) -> bool:
    """``CALLERID(pres)`` values that mean the caller asked not to be identified."""
    p = presentation.strip().lower()
    return p.startswith("prohib") or p.startswith("unavailable")


def caller_of(number: str, variables: Mapping[str, str]) -> tuple[str, str]:
    """(the number to use — "" when withheld —, the caller type)."""
    if withheld(variables.get(PRES_VAR, "")):
        return "", "withheld"
    kind = number_type(number)
    return ("" if kind == "withheld" else number), kind


def caller_type(number: str) -> str:
    return number_type(number)
