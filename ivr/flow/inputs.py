"""Keys that count as input: menu choices, digit entry, read-back confirmation.

Functions over a :class:`~ivr.flow.turn.Turn`, split from it to keep modules
small; they only ever change the turn's state and append to its commands.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from .errors import InvalidStateError
from .model import NUMBER_KEYS, CollectNode, MenuNode
from .readback import digit_variables
from .state import ENTERED, Phase

if TYPE_CHECKING:
    from .turn import Turn


def menu_key(turn: Turn, node: MenuNode, digit: str) -> None:
    """A key at a menu: repeat, a listed choice, or an invalid key."""
    if digit == node.repeat_key:
        turn.record("repeat", digit=digit)
        turn.play(node.prompts, Phase.PROMPT, after_input=True)
        return
    target = node.choices.get(digit)
    if target is not None:
        turn.record("key", digit=digit, next=target)
        turn.enter(target, after_input=True)
        return
    turn.record("invalid", digit=digit)
    fail(turn, node, "invalid", after_input=True)


def fail(turn: Turn, node: MenuNode | CollectNode, reason: str, *, after_input: bool) -> None:
    """Count an invalid input or a timeout: re-prompt, or leave when retries are spent."""
    failures = turn.state.failures + 1
    if failures > node.max_retries:
        turn.record("exhausted", reason=reason)
        turn.enter(node.on_exhausted, after_input=after_input)
        return
    lead = node.invalid_prompt if reason == "invalid" else node.timeout_prompt
    lead_ids = (lead,) if lead is not None else ()
    turn.state = replace(turn.state, failures=failures)
    confirming = turn.state.phase in (Phase.CONFIRM, Phase.CONFIRM_WAIT)
    if isinstance(node, CollectNode) and node.confirm is not None and confirming:
        turn.play(
            lead_ids + node.confirm.prompts,
            Phase.CONFIRM,
            after_input=after_input,
            variables=digit_variables(turn.state.entry),
        )
        return
    turn.state = replace(turn.state, entry="")
    turn.play(lead_ids + node.reprompts, Phase.PROMPT, after_input=after_input)


def collect_key(turn: Turn, node: CollectNode, digit: str) -> None:
    """A key while entering digits: start over, end the entry, or one more digit."""
    if digit == node.repeat_key:
        turn.record("repeat", digit=digit)
        turn.state = replace(turn.state, entry="")
        turn.play(node.prompts, Phase.PROMPT, after_input=True)
    elif digit == node.terminator:
        finish_entry(turn, node, after_input=True)
    elif digit not in NUMBER_KEYS:
        turn.record("invalid", digit=digit)
        fail(turn, node, "invalid", after_input=True)
    else:
        entry = turn.state.entry + digit
        turn.state = replace(
            turn.state, entry=entry, phase=Phase.ENTRY, digits=_masked_last(turn, digit)
        )
        if len(entry) >= node.max_digits:
            finish_entry(turn, node, after_input=True)
            if node.terminator is not None:
                turn.state = replace(turn.state, swallow=node.terminator)
        else:
            turn.start_timer(node.inter_digit_timeout, "digit")


def _masked_last(turn: Turn, digit: str) -> tuple[str, ...]:
    """The keys pressed with this entry digit (the last one) kept as :data:`ENTERED`:
    what was typed may be a phone number, and the call record keeps only that a number
    was entered (docs/personal-data.md)."""
    digits = turn.state.digits
    if digits and digits[-1] == digit:
        return (*digits[:-1], ENTERED)
    return digits


def finish_entry(turn: Turn, node: CollectNode, *, after_input: bool) -> None:
    """The entry is complete: check it, then read it back or accept it."""
    entry = turn.state.entry
    size = len(entry)
    valid = node.min_digits <= size <= node.max_digits and (
        not node.prefixes or entry.startswith(node.prefixes)
    )
    if not valid:
        turn.record("invalid", length=str(size))
        turn.state = replace(turn.state, phase=Phase.PROMPT)
        fail(turn, node, "invalid", after_input=after_input)
        return
    turn.record("input", length=str(size))
    if node.confirm is not None:
        turn.play(
            node.confirm.prompts,
            Phase.CONFIRM,
            after_input=after_input,
            variables=digit_variables(entry),
        )
    else:
        accept(turn, node, entry, after_input=after_input)


def confirm_key(turn: Turn, node: CollectNode, digit: str) -> None:
    """A key after the read-back: yes, re-enter, repeat, or invalid."""
    confirm = node.confirm
    if confirm is None:
        raise InvalidStateError(f"collect node {node.id!r} has no confirm step")
    if digit == confirm.yes_key:
        turn.record("confirm", answer="yes")
        accept(turn, node, turn.state.entry, after_input=True)
    elif digit == confirm.no_key:
        turn.record("confirm", answer="no")
        turn.state = replace(turn.state, entry="")
        turn.play(node.prompts, Phase.PROMPT, after_input=True)
    elif digit == node.repeat_key:
        turn.record("repeat", digit=digit)
        turn.play(
            confirm.prompts,
            Phase.CONFIRM,
            after_input=True,
            variables=digit_variables(turn.state.entry),
        )
    else:
        turn.record("invalid", digit=digit)
        fail(turn, node, "invalid", after_input=True)


def accept(turn: Turn, node: CollectNode, entry: str, *, after_input: bool) -> None:
    """Store the entry (when the node has ``store``) and go on to ``next``."""
    values = dict(turn.state.values)
    if node.store is not None:
        values[node.store] = entry
    turn.state = replace(turn.state, values=values, entry="")
    turn.enter(node.next, after_input=after_input)
