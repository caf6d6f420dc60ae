"""Which numbers can take an SMS: Japanese mobile numbers (070/080/090, also in +81
form), recognised with ``phonenumbers`` and given in the 11-digit national form
(``09012345678``) that the gateways want."""

from __future__ import annotations

import re
from dataclasses import dataclass

import phonenumbers
from phonenumbers import PhoneNumberType

WITHHELD_NAMES = frozenset({"anonymous", "unknown", "unavailable", "private", "withheld"})
_KEEP = re.compile(r"[^\d+]")


@dataclass(frozen=True)
class NumberCheck:
    """``kind``: ``mobile``, ``landline`` (any other valid Japanese number: fixed, free
    dial, IP phone, pager, foreign), ``withheld`` (none given) or ``invalid``.
    ``national``: the 11-digit national form, for mobiles only."""

    kind: str
    national: str = ""


def classify(number: str) -> NumberCheck:
    """Classify a caller's or keyed-in number."""
    text = number.strip()
    if not text or text.lower() in WITHHELD_NAMES:
        return NumberCheck("withheld")
    digits = _KEEP.sub("", text)
    if not digits.lstrip("+") or len(digits) > 20 or "+" in digits[1:]:
        return NumberCheck("invalid")
    if digits.startswith("81") and len(digits) in (11, 12) and not digits.startswith("810"):
        digits = "+" + digits  # Asterisk may give the caller as 8190... without the plus
    try:
        parsed = phonenumbers.parse(digits, "JP")
    except phonenumbers.NumberParseException:
        return NumberCheck("invalid")
    if not phonenumbers.is_valid_number(parsed):
        return NumberCheck("invalid")
    if parsed.country_code != 81:
        return NumberCheck("landline")  # a valid foreign number: no SMS from here
    if phonenumbers.number_type(parsed) != PhoneNumberType.MOBILE:
        return NumberCheck("landline")
    national = "0" + phonenumbers.national_significant_number(parsed)
    if len(national) != 11:  # pragma: no cover - JP mobiles are 11 digits
        return NumberCheck("invalid")
    return NumberCheck("mobile", national)


def mobile_national(number: str) -> str | None:
    """The 11-digit national form of a Japanese mobile number, else None."""
    check = classify(number)
    return check.national if check.kind == "mobile" else None


def caller_type(number: str) -> str:
    """``mobile``, ``landline`` or ``withheld``, as a flow's ``branch by: caller_type``
    sees it (an unreadable number is not a mobile: ``landline``)."""
    kind = classify(number).kind
    return "landline" if kind == "invalid" else kind
