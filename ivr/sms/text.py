"""How long a message is and how many SMS parts it takes.

Japanese text always goes as UCS-2 (GSM-7 cannot carry it): one part holds 70
characters; a longer message is split into parts of 67 (3 characters of each part
carry the concatenation header). Characters are counted in UTF-16 code units, as
the carriers do: a character outside the Basic Multilingual Plane (most emoji,
some rare kanji) counts as two.
"""

from __future__ import annotations

MAX_CHARS = 660
"""The longest message sent (the gateways' limit; also what a template may reach)."""
SINGLE_PART = 70
PER_PART = 67


def units(text: str) -> int:
    """Length in UTF-16 code units (what JavaScript's ``length`` also counts)."""
    return len(text.encode("utf-16-le")) // 2


def parts(text: str) -> int:
    """SMS parts ``text`` takes: 1 up to 70 characters, else one per 67."""
    n = units(text)
    if n <= SINGLE_PART:
        return 1
    return -(-n // PER_PART)
