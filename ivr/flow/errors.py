"""Errors of the flow package, each with a stable ``id``.

Loading reports *every* problem of a flow at once (``FlowError.errors``), each
naming the node and the YAML line, so that an admin page can show them next to
the lines. The engine raises ``EngineError`` for transitions that must never
happen (a call state from another flow, an unknown event, a bad call context).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class FlowIssue:
    """One problem found in a flow.

    ``line`` is 1-based (``None`` when the problem has no place, e.g. an empty
    file); ``node`` is the node id concerned, ``None`` outside ``nodes:``;
    ``code`` is a stable id such as ``unknown_key`` or ``missing_target``.
    """

    code: str
    message: str
    line: int | None = None
    node: str | None = None

    def __str__(self) -> str:
        where = f"line {self.line}" if self.line is not None else "flow"
        if self.node is not None:
            where += f", node '{self.node}'"
        return f"{where}: {self.message} [{self.code}]"


class FlowError(Exception):
    """A flow could not be loaded; ``errors`` lists every problem, sorted by line."""

    id = "flow_error"

    def __init__(self, errors: list[FlowIssue], source: str = "<flow>") -> None:
        self.errors = sorted(errors, key=lambda i: (i.line or 0, i.node or "", i.message))
        self.source = source
        count = len(self.errors)
        lines = "\n".join(f"  {issue}" for issue in self.errors)
        super().__init__(f"{source}: {count} problem{'s' if count != 1 else ''}\n{lines}")


class FlowSyntaxError(FlowError):
    """The text is not a readable YAML document (or cannot be read at all)."""

    id = "flow_syntax"


class FlowValidationError(FlowError):
    """The YAML is readable but does not describe a valid flow."""

    id = "flow_invalid"


class EngineError(Exception):
    """A transition that must never happen; the call cannot go on."""

    id = "engine_error"


class InvalidContextError(EngineError):
    """The call context holds a value the flow cannot branch on."""

    id = "invalid_context"


class InvalidStateError(EngineError):
    """The call state does not fit the flow (another flow version, or corrupted)."""

    id = "invalid_state"


class InvalidEventError(EngineError):
    """The event is not one the engine knows, or carries an impossible value."""

    id = "invalid_event"
