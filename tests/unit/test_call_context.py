"""Who is calling: mobile, landline or withheld — withheld also when the trunk passes
the real number of a caller who restricted its presentation."""

from __future__ import annotations

import pytest

from ivr.call.context import PRES_VAR, caller_of


@pytest.mark.parametrize(
    ("number", "pres", "expected"),
    [
        ("09012345678", "allowed_not_screened", ("09012345678", "mobile")),
        ("+819012345678", "allowed", ("+819012345678", "mobile")),
        ("0312345678", "allowed_not_screened", ("0312345678", "landline")),
        ("09012345678", "prohib_not_screened", ("", "withheld")),  # 184 with the number
        ("09012345678", "prohib", ("", "withheld")),
        ("", "", ("", "withheld")),
        ("anonymous", "", ("", "withheld")),
        ("0312345678", "unavailable", ("", "withheld")),
    ],
)
def test_caller_of(number: str, pres: str, expected: tuple[str, str]) -> None:
    """The presentation the dialplan hands over wins over a number the trunk passed."""
    variables = {PRES_VAR: pres} if pres else {}
    assert caller_of(number, variables) == expected
