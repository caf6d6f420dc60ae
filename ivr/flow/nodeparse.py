"""Reading each node kind from its YAML mapping (see docs/flows.md)."""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass

from .errors import FlowIssue
from .fields import Fields
from .model import (
    BRANCH_VALUES,
    CALLER_NUMBER,
    DTMF_KEYS,
    NODE_KINDS,
    NUMBER_KEYS,
    SMS_FAILURES,
    TRANSFER_FAILURES,
    BranchNode,
    CollectNode,
    ConfirmSpec,
    GotoNode,
    HangupNode,
    MenuNode,
    Node,
    PlayNode,
    Settings,
    SmsNode,
    TransferNode,
)
from .yamltree import YMap, YScalar, YSeq

NON_NUMBER_KEYS = DTMF_KEYS - NUMBER_KEYS
MAX_DIGITS = 32


@dataclass(frozen=True, slots=True)
class Known:
    """What node references are checked against."""

    nodes: Collection[str]
    prompts: Collection[str]
    settings: Settings


def parse_node(
    node_id: str, ymap: YMap, line: int, known: Known, issues: list[FlowIssue]
) -> Node | None:
    """Read one node (its id on ``line``); ``None`` when too broken to build."""
    f = Fields(ymap, issues, node=node_id, what="this node", line=line)
    kind = f.text("type", required=True)
    f.text("note")  # free text for people reading the flow
    reader = _READERS.get(kind)
    if reader is None:
        if kind:
            f.report(
                "unknown_type",
                f"unknown node type '{kind}' (one of: {', '.join(NODE_KINDS)})",
                f.line_of("type"),
            )
        return None
    f.what = f"a {kind} node"
    count = len(issues)
    node = reader(node_id, f, known)
    f.finish()
    return node if len(issues) == count else None


def _target(f: Fields, key: str, known: Known, *, required: bool = True) -> str:
    return f.ref(key, known.nodes, "node", required=required)


def _prompt_defaults(
    f: Fields, known: Known, invalid_prompt: str | None, timeout_prompt: str | None
) -> None:
    """Report settings-default prompts that the node uses but that do not exist."""
    for key, pid in (("invalid_prompt", invalid_prompt), ("timeout_prompt", timeout_prompt)):
        if pid is not None and key not in f.map.entries and pid not in known.prompts:
            f.report(
                "missing_prompt",
                f"uses the {key} '{pid}' (from settings), which is not in prompts",
            )


def _menu(node_id: str, f: Fields, known: Known) -> MenuNode:
    s = known.settings
    prompts = f.prompt_list("prompt", known.prompts, required=True) or ()
    reprompts = f.prompt_list("reprompt", known.prompts)
    repeat_key = f.key("repeat_key", s.repeat_key)
    choices: dict[str, str] = {}
    cmap = f.mapping("choices", required=True)
    if cmap is not None:
        for dup in cmap.duplicates:
            f.report(
                "duplicate_digit",
                f"key '{dup.key}' is listed twice in choices (first on line {dup.first_line})",
                dup.line,
            )
        for digit, entry in cmap.entries.items():
            if digit not in DTMF_KEYS:
                f.report(
                    "bad_digit",
                    f"choice '{digit}' is not a phone key (one of 0-9, '*', '#')",
                    entry.key_line,
                )
                continue
            if digit == repeat_key:
                f.report(
                    "duplicate_digit",
                    f"key '{digit}' is both a choice and the repeat key "
                    "(set repeat_key: null to use it as a choice)",
                    entry.key_line,
                )
                continue
            target = f.ref_value(f"choices.{digit}", entry.value, known.nodes, "node")
            if target is not None:
                choices[digit] = target
        if not cmap.entries and not cmap.duplicates:
            f.report("missing_key", "a menu needs at least one choice", cmap.line)
    invalid_prompt = f.optional_prompt("invalid_prompt", known.prompts, s.invalid_prompt)
    timeout_prompt = f.optional_prompt("timeout_prompt", known.prompts, s.timeout_prompt)
    _prompt_defaults(f, known, invalid_prompt, timeout_prompt)
    return MenuNode(
        id=node_id,
        prompts=prompts,
        reprompts=reprompts if reprompts is not None else prompts,
        choices=choices,
        on_exhausted=_target(f, "on_exhausted", known),
        timeout=f.number("timeout", s.menu_timeout, 1, 120),
        max_retries=f.integer("max_retries", s.max_retries, 0, 10),
        repeat_key=repeat_key,
        invalid_prompt=invalid_prompt,
        timeout_prompt=timeout_prompt,
        line=f.line,
    )


def _prefixes(f: Fields, max_digits: int) -> tuple[str, ...]:
    value = f.get("prefixes")
    if value is None:
        return ()
    items = value.items if isinstance(value, YSeq) else (value,)
    out: list[str] = []
    for item in items:
        text = item.value if isinstance(item, YScalar) else None
        if not isinstance(text, str) or not text.isdigit() or not text.isascii():
            f.report(
                "wrong_type",
                'each prefix must be digits in quotes, like "090" '
                "(unquoted 090 is not read as digits)",
                item.line,
            )
        elif len(text) > max_digits:
            f.report("out_of_range", f"prefix '{text}' is longer than max_digits", item.line)
        else:
            out.append(text)
    return tuple(out)


def _confirm(f: Fields, known: Known, repeat_key: str | None) -> ConfirmSpec | None:
    cmap = f.mapping("confirm")
    if cmap is None:
        return None
    c = Fields(cmap, f.issues, node=f.node, what="confirm", line=f.line_of("confirm"))
    prompts = c.prompt_list("prompt", known.prompts, required=True) or ()
    yes_key = c.key("yes_key", "1") or "1"
    no_key = c.key("no_key", "2") or "2"
    if yes_key == no_key:
        c.report("duplicate_digit", "yes_key and no_key must differ", c.line_of("no_key"))
    for name, digit in (("yes_key", yes_key), ("no_key", no_key)):
        if digit == repeat_key:
            c.report("duplicate_digit", f"{name} '{digit}' is also the repeat key", c.line_of(name))
    c.finish()
    return ConfirmSpec(prompts, yes_key, no_key)


def _collect(node_id: str, f: Fields, known: Known) -> CollectNode:
    s = known.settings
    prompts = f.prompt_list("prompt", known.prompts, required=True) or ()
    reprompts = f.prompt_list("reprompt", known.prompts)
    min_digits = f.integer("min_digits", 1, 1, MAX_DIGITS)
    max_digits = f.integer("max_digits", MAX_DIGITS, 1, MAX_DIGITS)
    if min_digits > max_digits:
        f.report("out_of_range", "min_digits is larger than max_digits", f.line_of("min_digits"))
    terminator = f.key("terminator", "#", allowed=NON_NUMBER_KEYS)
    repeat_key = f.key("repeat_key", s.repeat_key)
    if repeat_key is not None and repeat_key in NUMBER_KEYS:
        f.report(
            "bad_digit",
            f"repeat key '{repeat_key}' is a number key, which a collect node reads as input "
            '(set repeat_key: "*" or null here)',
            f.line_of("repeat_key"),
        )
    elif repeat_key is not None and repeat_key == terminator:
        f.report(
            "duplicate_digit",
            f"key '{repeat_key}' is both the terminator and the repeat key",
            f.line_of("repeat_key"),
        )
    store = f.name("store") or None
    invalid_prompt = f.optional_prompt("invalid_prompt", known.prompts, s.invalid_prompt)
    timeout_prompt = f.optional_prompt("timeout_prompt", known.prompts, s.timeout_prompt)
    _prompt_defaults(f, known, invalid_prompt, timeout_prompt)
    return CollectNode(
        id=node_id,
        prompts=prompts,
        reprompts=reprompts if reprompts is not None else prompts,
        next=_target(f, "next", known),
        on_exhausted=_target(f, "on_exhausted", known),
        min_digits=min_digits,
        max_digits=max_digits,
        terminator=terminator,
        prefixes=_prefixes(f, max_digits),
        store=store,
        confirm=_confirm(f, known, repeat_key),
        timeout=f.number("timeout", s.collect_timeout, 1, 120),
        inter_digit_timeout=f.number("inter_digit_timeout", s.inter_digit_timeout, 0.5, 60),
        max_retries=f.integer("max_retries", s.max_retries, 0, 10),
        repeat_key=repeat_key,
        invalid_prompt=invalid_prompt,
        timeout_prompt=timeout_prompt,
        line=f.line,
    )


def _play(node_id: str, f: Fields, known: Known) -> PlayNode:
    return PlayNode(
        id=node_id,
        prompts=f.prompt_list("prompt", known.prompts, required=True) or (),
        next=_target(f, "next", known),
        interruptible=f.boolean("interruptible", True),
        line=f.line,
    )


def _branch(node_id: str, f: Fields, known: Known) -> BranchNode:
    by = f.text("by", required=True)
    values = BRANCH_VALUES.get(by)
    if values is None and "by" in f.map.entries:
        f.report(
            "bad_value",
            f"'by' must be one of: {', '.join(BRANCH_VALUES)}",
            f.line_of("by"),
        )
    cases: dict[str, str] = {}
    cmap = f.mapping("cases", required=True)
    if cmap is not None:
        for dup in cmap.duplicates:
            f.report(
                "duplicate_key",
                f"case '{dup.key}' is given twice (first on line {dup.first_line})",
                dup.line,
            )
        for value, entry in cmap.entries.items():
            if values is not None and value not in values:
                f.report(
                    "bad_value",
                    f"'{value}' is not a {by} value (one of: {', '.join(values)})",
                    entry.key_line,
                )
                continue
            target = f.ref_value(f"cases.{value}", entry.value, known.nodes, "node")
            if target is not None:
                cases[value] = target
    default = _target(f, "default", known, required=False) or None
    if values is not None and cmap is not None and "default" not in f.map.entries:
        uncovered = [v for v in values if v not in cmap.entries]
        if uncovered:
            f.report(
                "missing_key",
                f"'default' is required: no case for {', '.join(uncovered)}",
            )
    return BranchNode(id=node_id, by=by, cases=cases, default=default, line=f.line)


def _sms(node_id: str, f: Fields, known: Known) -> SmsNode:
    value = f.get("to")
    to: tuple[str, ...] = (CALLER_NUMBER,)
    if value is not None:
        items = value.items if isinstance(value, YSeq) else (value,)
        to = tuple(n for item in items if (n := f.name_value("to", item)) is not None)
        if not items:
            f.report("missing_key", "'to' lists no number source", value.line)
    return SmsNode(
        id=node_id,
        template=f.name("template", required=True),
        next=_target(f, "next", known),
        on_failure=_target(f, "on_failure", known),
        to=to,
        # Refusals not listed go to on_failure.
        on=_outcome_routes(
            f, known, SMS_FAILURES, "an SMS refusal outcome", "an accepted SMS goes to 'next'"
        ),
        line=f.line,
    )


def _transfer(node_id: str, f: Fields, known: Known) -> TransferNode:
    return TransferNode(
        id=node_id,
        target=f.name("target", required=True),
        fallback=_target(f, "fallback", known),
        prompts=f.prompt_list("prompt", known.prompts) or (),
        # Outcomes that did not connect and are not listed go to fallback.
        on=_outcome_routes(
            f, known, TRANSFER_FAILURES, "a transfer outcome", "an answered transfer ends the flow"
        ),
        line=f.line,
    )


def _outcome_routes(
    f: Fields, known: Known, outcomes: Collection[str], noun: str, note: str
) -> dict[str, str]:
    """``on:`` — an outcome of the node's action (``sms``, ``transfer``) → node.
    ``outcomes``: those it may route on; ``noun`` and ``note`` word the issue for
    any other."""
    routes: dict[str, str] = {}
    omap = f.mapping("on")
    if omap is None:
        return routes
    for dup in omap.duplicates:
        f.report(
            "duplicate_key",
            f"outcome '{dup.key}' is given twice in on (first on line {dup.first_line})",
            dup.line,
        )
    for outcome, entry in omap.entries.items():
        if outcome not in outcomes:
            f.report(
                "bad_value",
                f"'{outcome}' is not {noun} (one of: {', '.join(outcomes)}; {note})",
                entry.key_line,
            )
            continue
        target = f.ref_value(f"on.{outcome}", entry.value, known.nodes, "node")
        if target is not None:
            routes[outcome] = target
    return routes


def _goto(node_id: str, f: Fields, known: Known) -> GotoNode:
    return GotoNode(id=node_id, next=_target(f, "next", known), line=f.line)


def _hangup(node_id: str, f: Fields, known: Known) -> HangupNode:
    return HangupNode(
        id=node_id,
        prompts=f.prompt_list("prompt", known.prompts) or (),
        outcome=f.name("outcome", default="completed"),
        line=f.line,
    )


_READERS: Mapping[str, Callable[[str, Fields, Known], Node]] = {
    "menu": _menu,
    "collect": _collect,
    "play": _play,
    "branch": _branch,
    "sms": _sms,
    "transfer": _transfer,
    "goto": _goto,
    "hangup": _hangup,
}
