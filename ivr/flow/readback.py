"""How keyed-in digits are offered to prompt texts for reading back."""

from __future__ import annotations

DIGIT_KANA = {
    # Each digit as read one by one in a phone number (also the whisper's digit clips).
    "0": "ゼロ",
    "1": "イチ",
    "2": "ニー",
    "3": "サン",
    "4": "ヨン",
    "5": "ゴー",
    "6": "ロク",
    "7": "ナナ",
    "8": "ハチ",
    "9": "キュー",
}


def digits_kana(digits: str) -> str:
    """Read digits one by one in katakana, grouped by four from the right.

    Speech engines read "09012345678" as a large number; callers expect a phone
    number read digit by digit in groups, as in 「ゼロキューゼロの、イチニーサンヨンの、
    ゴーロクナナハチ」. Characters other than 0-9 are left out.
    """
    only = "".join(d for d in digits if d in DIGIT_KANA)
    groups: list[str] = []
    while len(only) > 4:
        groups.insert(0, only[-4:])
        only = only[:-4]
    if only:
        groups.insert(0, only)
    return "の、".join("".join(DIGIT_KANA[d] for d in group) for group in groups)


def digit_variables(digits: str) -> dict[str, str]:
    """Variables for a read-back prompt: ``{digits}`` and ``{digits_kana}``."""
    return {"digits": digits, "digits_kana": digits_kana(digits)}
