"""The calendar's one domain error: every problem found, each tied to a field.

Kept apart from ``model`` and ``validate`` so that both can raise it without importing
each other. Field names are paths into the JSON form (``weekly.mon[0].end``,
``overrides[2].date``) so that the admin site can show each message beside its input.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class CalendarIssue:
    """One problem: where (a field path) and what, in Japanese for city staff."""

    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.field}: {self.message}"


class CalendarError(ValueError):
    """The calendar settings are not valid; ``issues`` lists every problem found."""

    id = "calendar_invalid"

    def __init__(self, issues: list[CalendarIssue] | tuple[CalendarIssue, ...]) -> None:
        self.issues: tuple[CalendarIssue, ...] = tuple(issues)
        super().__init__("; ".join(str(issue) for issue in self.issues) or "invalid calendar")

    @property
    def pairs(self) -> list[tuple[str, str]]:
        """The issues as plain ``(field, message)`` pairs."""
        return [(issue.field, issue.message) for issue in self.issues]
