"""The call flow as loaded and validated: prompts, settings and nodes.

Every object here is immutable and already checked by :mod:`ivr.flow.loader`;
the engine trusts it. Node ids, prompt ids, SMS templates, transfer targets and
stored values are all *names* (ASCII identifiers), never numbers to dial.
"""

from __future__ import annotations

import re
import string
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import ClassVar

DTMF_KEYS = frozenset("0123456789*#")
"""Keys a flow may refer to."""

NUMBER_KEYS = frozenset("0123456789")

CALENDAR_STATES = ("open", "closed", "holiday", "before_service", "after_service")
CALLER_TYPES = ("mobile", "landline", "withheld")
ANNOUNCEMENT_STATES = ("active", "none")
BRANCH_VALUES: Mapping[str, tuple[str, ...]] = {
    "calendar": CALENDAR_STATES,
    "caller_type": CALLER_TYPES,
    "announcements": ANNOUNCEMENT_STATES,
}
"""What a ``branch`` node can look at, and the values each can take."""

CALLER_NUMBER = "caller"
"""Built-in SMS number source: the number the caller is calling from."""

SMS_FAILURES = (
    "no_number",
    "invalid_number",
    "not_mobile",
    "daily_limit",
    "rate_limited",
    "blocked",
    "unknown_template",
    "unavailable",
)
"""Outcomes of an SMS request that was not accepted; an ``sms`` node's ``on`` may route
each one to its own node (``no_number``: no source had a number, decided by the engine;
the others come from the SMS capability, ``ivr.sms.service``)."""

TRANSFER_FAILURES = ("busy", "no_answer", "failed", "capacity", "trunk_capacity")
"""Outcomes of a transfer that did not connect; a ``transfer`` node's ``on`` may route
each one to its own node (``ivr.transfer.outcomes`` maps Asterisk's DIALSTATUS onto
them). ``trunk_capacity`` falls back to the ``capacity`` route when only that one is
given; anything not routed goes to ``fallback``."""

NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
"""Ids and names: ASCII identifiers."""


def is_name(value: str) -> bool:
    """Whether ``value`` is a valid id/name (ASCII identifier)."""
    return NAME_RE.match(value) is not None


def placeholders(text: str) -> tuple[str, ...]:
    """The ``{variable}`` names used in a prompt text, in order.

    Raises ``ValueError`` when the braces are unbalanced (``{{`` and ``}}`` are
    literal braces, as in :meth:`str.format`).
    """
    return tuple(name for _, name, _, _ in string.Formatter().parse(text) if name is not None)


@dataclass(frozen=True, slots=True)
class PromptSpec:
    """One guidance text; ``file`` names an uploaded recording that replaces speech."""

    text: str
    file: str | None = None
    line: int = 0

    @property
    def variables(self) -> tuple[str, ...]:
        """Placeholder names in ``text``."""
        return placeholders(self.text)

    def render(self, variables: Mapping[str, str]) -> str:
        """The text with its placeholders filled in; ``KeyError`` names a missing one."""
        return self.text.format_map(variables)


@dataclass(frozen=True, slots=True)
class Settings:
    """Flow-wide defaults; nodes may override most of them."""

    pause_after_input: float = 0.5
    menu_timeout: float = 5.0
    collect_timeout: float = 10.0
    inter_digit_timeout: float = 3.0
    max_retries: int = 3
    repeat_key: str | None = "*"
    invalid_prompt: str | None = "invalid"
    timeout_prompt: str | None = "timeout"


@dataclass(frozen=True, slots=True)
class MenuNode:
    """Play a prompt and wait for one key; each listed key leads to a node."""

    kind: ClassVar[str] = "menu"
    id: str
    prompts: tuple[str, ...]
    choices: Mapping[str, str]
    on_exhausted: str
    reprompts: tuple[str, ...] = ()
    timeout: float = 5.0
    max_retries: int = 3
    repeat_key: str | None = "*"
    invalid_prompt: str | None = "invalid"
    timeout_prompt: str | None = "timeout"
    line: int = 0

    def edges(self) -> tuple[tuple[str, str], ...]:
        """(label, target) pairs of every way out of this node."""
        choices = ((f"choices.{k}", v) for k, v in self.choices.items())
        return (*choices, ("on_exhausted", self.on_exhausted))

    def silent_edges(self) -> tuple[str, ...]:
        """Where a caller who presses nothing ends up."""
        return (self.on_exhausted,)


@dataclass(frozen=True, slots=True)
class ConfirmSpec:
    """Read the keyed-in digits back and ask for a yes/no key."""

    prompts: tuple[str, ...]
    yes_key: str = "1"
    no_key: str = "2"


@dataclass(frozen=True, slots=True)
class CollectNode:
    """Collect several digits (e.g. a mobile number), optionally read back."""

    kind: ClassVar[str] = "collect"
    id: str
    prompts: tuple[str, ...]
    next: str
    on_exhausted: str
    reprompts: tuple[str, ...] = ()
    min_digits: int = 1
    max_digits: int = 20
    terminator: str | None = "#"
    prefixes: tuple[str, ...] = ()
    store: str | None = None
    confirm: ConfirmSpec | None = None
    timeout: float = 10.0
    inter_digit_timeout: float = 3.0
    max_retries: int = 3
    repeat_key: str | None = "*"
    invalid_prompt: str | None = "invalid"
    timeout_prompt: str | None = "timeout"
    line: int = 0

    def edges(self) -> tuple[tuple[str, str], ...]:
        """(label, target) pairs of every way out of this node."""
        return (("next", self.next), ("on_exhausted", self.on_exhausted))

    def silent_edges(self) -> tuple[str, ...]:
        """Where a caller who presses nothing ends up."""
        return (self.on_exhausted,)


@dataclass(frozen=True, slots=True)
class PlayNode:
    """Play prompts, then go on to ``next``."""

    kind: ClassVar[str] = "play"
    id: str
    prompts: tuple[str, ...]
    next: str
    interruptible: bool = True
    line: int = 0

    def edges(self) -> tuple[tuple[str, str], ...]:
        """(label, target) pairs of every way out of this node."""
        return (("next", self.next),)

    def silent_edges(self) -> tuple[str, ...]:
        """Where a caller who presses nothing ends up."""
        return (self.next,)


@dataclass(frozen=True, slots=True)
class BranchNode:
    """Go on by the call's calendar state or caller type, without playing anything."""

    kind: ClassVar[str] = "branch"
    id: str
    by: str
    cases: Mapping[str, str]
    default: str | None = None
    line: int = 0

    def target(self, value: str) -> str:
        """The node to go to for ``value``."""
        found = self.cases.get(value, self.default)
        if found is None:  # the loader makes this impossible
            raise KeyError(value)
        return found

    def edges(self) -> tuple[tuple[str, str], ...]:
        """(label, target) pairs of every way out of this node."""
        out = tuple((f"cases.{k}", v) for k, v in self.cases.items())
        return out + ((("default", self.default),) if self.default is not None else ())

    def silent_edges(self) -> tuple[str, ...]:
        """Where a caller who presses nothing ends up."""
        return tuple(target for _, target in self.edges())


@dataclass(frozen=True, slots=True)
class SmsNode:
    """Ask the session to queue an SMS; go to ``next`` or ``on_failure`` by outcome."""

    kind: ClassVar[str] = "sms"
    id: str
    template: str
    next: str
    on_failure: str
    to: tuple[str, ...] = (CALLER_NUMBER,)
    on: Mapping[str, str] = field(default_factory=dict)
    """Refusal outcome (one of ``SMS_FAILURES``) → node; others go to ``on_failure``."""
    line: int = 0

    def failure_target(self, outcome: str) -> str:
        """The node for an outcome that is not a success."""
        return self.on.get(outcome, self.on_failure)

    def edges(self) -> tuple[tuple[str, str], ...]:
        """(label, target) pairs of every way out of this node."""
        routes = tuple((f"on.{k}", v) for k, v in self.on.items())
        return (("next", self.next), ("on_failure", self.on_failure), *routes)

    def silent_edges(self) -> tuple[str, ...]:
        """Where a caller who presses nothing ends up."""
        return (self.next, self.on_failure, *self.on.values())


@dataclass(frozen=True, slots=True)
class TransferNode:
    """Transfer to a named target; ``fallback`` when it does not connect, unless ``on``
    routes that outcome elsewhere."""

    kind: ClassVar[str] = "transfer"
    id: str
    target: str
    fallback: str
    prompts: tuple[str, ...] = ()
    on: Mapping[str, str] = field(default_factory=dict)
    """Outcome (one of ``TRANSFER_FAILURES``) → node; others go to ``fallback``."""
    line: int = 0

    def failure_target(self, outcome: str) -> str:
        """The node for an outcome other than ``answered``."""
        if outcome in self.on:
            return self.on[outcome]
        if outcome == "trunk_capacity" and "capacity" in self.on:
            return self.on["capacity"]
        return self.fallback

    def edges(self) -> tuple[tuple[str, str], ...]:
        """(label, target) pairs of every way out of this node."""
        routes = tuple((f"on.{k}", v) for k, v in self.on.items())
        return (("fallback", self.fallback), *routes)

    def silent_edges(self) -> tuple[str, ...]:
        """Where a caller who presses nothing ends up."""
        return (self.fallback, *self.on.values())


@dataclass(frozen=True, slots=True)
class GotoNode:
    """Go on to ``next`` at once (an alias, handy for shared endings)."""

    kind: ClassVar[str] = "goto"
    id: str
    next: str
    line: int = 0

    def edges(self) -> tuple[tuple[str, str], ...]:
        """(label, target) pairs of every way out of this node."""
        return (("next", self.next),)

    def silent_edges(self) -> tuple[str, ...]:
        """Where a caller who presses nothing ends up."""
        return (self.next,)


@dataclass(frozen=True, slots=True)
class HangupNode:
    """Play an optional goodbye, then end the call with ``outcome``."""

    kind: ClassVar[str] = "hangup"
    id: str
    prompts: tuple[str, ...] = ()
    outcome: str = "completed"
    line: int = 0

    def edges(self) -> tuple[tuple[str, str], ...]:
        """(label, target) pairs of every way out of this node."""
        return ()

    def silent_edges(self) -> tuple[str, ...]:
        """Where a caller who presses nothing ends up."""
        return ()


Node = (
    MenuNode | CollectNode | PlayNode | BranchNode | SmsNode | TransferNode | GotoNode | HangupNode
)
NODE_KINDS: tuple[str, ...] = (
    "menu",
    "play",
    "collect",
    "branch",
    "sms",
    "transfer",
    "goto",
    "hangup",
)
TERMINAL_KINDS = frozenset({"hangup", "transfer"})
"""Node kinds that can end the call's flow."""


def node_prompt_ids(node: Node) -> tuple[str, ...]:
    """Every prompt id a node can play, in a stable order."""
    match node:
        case MenuNode() | CollectNode():
            ids = [*node.prompts, *node.reprompts]
            ids += [p for p in (node.invalid_prompt, node.timeout_prompt) if p is not None]
            if isinstance(node, CollectNode) and node.confirm is not None:
                ids += node.confirm.prompts
            return tuple(dict.fromkeys(ids))
        case PlayNode() | TransferNode() | HangupNode():
            return node.prompts
        case _:
            return ()


@dataclass(frozen=True, slots=True)
class Flow:
    """A validated call flow."""

    start: str
    nodes: Mapping[str, Node]
    prompts: Mapping[str, PromptSpec]
    settings: Settings = field(default_factory=Settings)
    name: str = ""
    version: int = 1
    source: str = "<flow>"

    def prompt_ids_used(self) -> frozenset[str]:
        """Ids of every prompt some node can play."""
        return used_prompt_ids(self)


def used_prompt_ids(flow: Flow) -> frozenset[str]:
    """Ids of every prompt some node of ``flow`` can play (for building audio)."""
    return frozenset(pid for node in flow.nodes.values() for pid in node_prompt_ids(node))
