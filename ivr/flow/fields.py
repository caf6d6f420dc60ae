"""Typed reading of one YAML mapping, collecting problems instead of stopping.

A :class:`Fields` reads the keys a node kind knows; whatever it was never asked
for is reported by :meth:`Fields.finish` as an unknown key, so the list of
allowed keys is the code that reads them, and cannot drift from it.
"""

from __future__ import annotations

import math
from collections.abc import Collection

from .errors import FlowIssue
from .model import DTMF_KEYS, is_name
from .yamltree import YEntry, YMap, YScalar, YSeq, YValue, type_name


class Fields:
    """Reads keys of ``ymap`` for ``node`` (``None`` outside ``nodes:``)."""

    def __init__(
        self,
        ymap: YMap,
        issues: list[FlowIssue],
        *,
        node: str | None = None,
        what: str = "this section",
        line: int | None = None,
    ) -> None:
        self.map = ymap
        self.issues = issues
        self.node = node
        self.what = what
        self.line = line or ymap.line
        """Where problems of the mapping as a whole are reported (its key's line)."""
        self.used: set[str] = set()

    # -- reporting -------------------------------------------------------

    def report(self, code: str, message: str, line: int | None = None) -> None:
        """Record a problem at ``line`` (default: the line of the mapping's key)."""
        self.issues.append(FlowIssue(code, message, line or self.line, self.node))

    def line_of(self, key: str) -> int:
        """The line of ``key`` if present, else the mapping's (key's) line."""
        entry = self.map.entries.get(key)
        return entry.key_line if entry is not None else self.line

    def finish(self) -> None:
        """Report duplicate keys and every key that no reader asked for."""
        for dup in self.map.duplicates:
            self.report(
                "duplicate_key",
                f"key '{dup.key}' is given twice (first on line {dup.first_line})",
                dup.line,
            )
        allowed = ", ".join(sorted(self.used))
        for key, entry in self.map.entries.items():
            if key not in self.used:
                self.report(
                    "unknown_key",
                    f"unknown key '{key}' in {self.what} (allowed: {allowed})",
                    entry.key_line,
                )

    # -- raw access ------------------------------------------------------

    def entry(self, key: str, *, required: bool = False) -> YEntry | None:
        """The entry for ``key``; reports it when required and absent."""
        self.used.add(key)
        entry = self.map.entries.get(key)
        if entry is None and required:
            self.report("missing_key", f"'{key}' is required in {self.what}")
        return entry

    def _wrong(self, key: str, value: YValue, expected: str) -> None:
        self.report("wrong_type", f"'{key}' must be {expected}, not {type_name(value)}", value.line)

    # -- typed readers ---------------------------------------------------

    def text(self, key: str, *, required: bool = False, default: str = "") -> str:
        """A string value."""
        entry = self.entry(key, required=required)
        if entry is None:
            return default
        value = entry.value
        if isinstance(value, YScalar) and isinstance(value.value, str):
            return value.value
        self._wrong(key, value, "text")
        return default

    def name(self, key: str, *, required: bool = False, default: str = "") -> str:
        """An identifier (node id, prompt id, template, target, ...)."""
        entry = self.entry(key, required=required)
        if entry is None:
            return default
        return self.name_value(key, entry.value) or default

    def ref(self, key: str, known: Collection[str], noun: str, *, required: bool = False) -> str:
        """A name that must be one of ``known`` (a node id, a prompt id)."""
        entry = self.entry(key, required=required)
        if entry is None:
            return ""
        return self.ref_value(key, entry.value, known, noun) or ""

    def ref_value(self, key: str, value: YValue, known: Collection[str], noun: str) -> str | None:
        """Check that ``value`` names one of ``known``; ``None`` (reported) if not."""
        name = self.name_value(key, value)
        if name is None:
            return None
        if name not in known:
            code = "missing_prompt" if noun == "prompt" else "missing_target"
            self.report(
                code, f"'{key}' refers to {noun} '{name}', which does not exist", value.line
            )
            return None
        return name

    def name_value(self, key: str, value: YValue) -> str | None:
        """Check that ``value`` is an identifier; ``None`` (reported) if not."""
        if not (isinstance(value, YScalar) and isinstance(value.value, str)):
            self._wrong(key, value, "a name (letters, digits and '_')")
            return None
        if not is_name(value.value):
            self.report(
                "bad_name",
                f"'{key}': {value.value!r} is not a valid name "
                "(ASCII letters, digits and '_', not starting with a digit)",
                value.line,
            )
            return None
        return value.value

    def number(self, key: str, default: float, low: float, high: float) -> float:
        """A finite number within [low, high]."""
        entry = self.entry(key)
        if entry is None:
            return default
        value = entry.value
        if (
            not isinstance(value, YScalar)
            or isinstance(value.value, bool)
            or not isinstance(value.value, int | float)
        ):
            self._wrong(key, value, "a number")
            return default
        number = float(value.value)
        if not math.isfinite(number) or not low <= number <= high:
            self.report("out_of_range", f"'{key}' must be between {low:g} and {high:g}", value.line)
            return default
        return number

    def integer(self, key: str, default: int, low: int, high: int) -> int:
        """A whole number within [low, high]."""
        entry = self.entry(key)
        if entry is None:
            return default
        value = entry.value
        if (
            not isinstance(value, YScalar)
            or isinstance(value.value, bool)
            or not isinstance(value.value, int)
        ):
            self._wrong(key, value, "a whole number")
            return default
        if not low <= value.value <= high:
            self.report("out_of_range", f"'{key}' must be between {low} and {high}", value.line)
            return default
        return value.value

    def boolean(self, key: str, default: bool) -> bool:
        """``true`` or ``false``."""
        entry = self.entry(key)
        if entry is None:
            return default
        value = entry.value
        if isinstance(value, YScalar) and isinstance(value.value, bool):
            return value.value
        self._wrong(key, value, "true or false")
        return default

    def key(
        self, key: str, default: str | None, *, allowed: Collection[str] = DTMF_KEYS
    ) -> str | None:
        """One phone key ('0'-'9', '*', '#'), or ``null`` to switch it off."""
        entry = self.entry(key)
        if entry is None:
            return default
        value = entry.value
        if isinstance(value, YScalar) and value.value is None:
            if value.raw == "":
                self.report(
                    "bad_digit",
                    f"'{key}' is empty: write '*' and '#' in quotes (\"#\"), "
                    "or null to switch it off",
                    value.line,
                )
                return default
            return None
        return self.key_value(key, value, allowed)

    def key_value(self, key: str, value: YValue, allowed: Collection[str]) -> str | None:
        """Check that ``value`` is one allowed phone key; ``None`` (reported) if not."""
        digit: str | None = None
        if isinstance(value, YScalar) and not isinstance(value.value, bool):
            if isinstance(value.value, int) and 0 <= value.value <= 9:
                digit = str(value.value)
            elif isinstance(value.value, str):
                digit = value.value
        if digit is None or digit not in allowed:
            keys = " ".join(sorted(allowed))
            self.report("bad_digit", f"'{key}' must be one key of: {keys}", value.line)
            return None
        return digit

    def prompt_list(
        self, key: str, known: Collection[str], *, required: bool = False
    ) -> tuple[str, ...] | None:
        """A prompt id or a list of them; ``None`` when absent."""
        entry = self.entry(key, required=required)
        if entry is None:
            return None
        value = entry.value
        items = value.items if isinstance(value, YSeq) else (value,)
        names = tuple(
            n for item in items if (n := self.ref_value(key, item, known, "prompt")) is not None
        )
        if not items:
            self.report("missing_prompt", f"'{key}' lists no prompt", value.line)
        return names

    def optional_prompt(self, key: str, known: Collection[str], default: str | None) -> str | None:
        """One prompt id, or ``null`` for none; ``default`` when absent."""
        entry = self.entry(key)
        if entry is None:
            return default
        if isinstance(entry.value, YScalar) and entry.value.value is None:
            return None
        return self.ref_value(key, entry.value, known, "prompt")

    def mapping(self, key: str, *, required: bool = False) -> YMap | None:
        """A nested mapping."""
        entry = self.entry(key, required=required)
        if entry is None:
            return None
        if isinstance(entry.value, YMap):
            return entry.value
        self._wrong(key, entry.value, "a mapping")
        return None

    def get(self, key: str) -> YValue | None:
        """Any value, marked as known."""
        entry = self.entry(key)
        return entry.value if entry is not None else None
