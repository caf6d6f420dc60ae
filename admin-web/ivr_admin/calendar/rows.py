"""The calendar editor's rows, as typed: every list of the form (time slots,
closures, special-hours dates, announcements) is a list of these, text only.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol, TypeVar

from ivr.calendar.model import Window, hm

MODE_CLOSED = "closed"
MODE_HOURS = "hours"


@dataclass
class WindowRow:
    start: str = ""
    end: str = ""

    def blank(self) -> bool:
        return not (self.start or self.end)

    @classmethod
    def of(cls, window: Window) -> WindowRow:
        return cls(hm(window.start), hm(window.end))


@dataclass
class RangeRow:
    """A recurring closure (month-days) or a one-off closure (dates)."""

    label: str = ""
    start: str = ""
    end: str = ""
    delete: bool = False

    def blank(self) -> bool:
        return not (self.label or self.start or self.end)


@dataclass
class OverrideRow:
    date: str = ""
    mode: str = MODE_CLOSED
    label: str = ""
    windows: list[WindowRow] = field(default_factory=list)
    delete: bool = False

    def blank(self) -> bool:
        return not (self.date or self.label) and all(w.blank() for w in self.windows)


@dataclass
class AnnouncementRow:
    id: str = ""
    label: str = ""
    text: str = ""
    start: str = ""
    end: str = ""
    delete: bool = False

    def blank(self) -> bool:
        return not (self.label or self.text or self.start or self.end)


class _Row(Protocol):
    def blank(self) -> bool: ...


R = TypeVar("R", bound=_Row)


def spare(rows: list[R], make: Callable[[], R]) -> list[R]:
    """``rows`` ending with one blank row, for adding an entry without JavaScript."""
    return rows if rows and rows[-1].blank() else [*rows, make()]
