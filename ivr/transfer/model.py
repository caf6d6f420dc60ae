"""Transfer targets: the city numbers a flow may transfer to, by name, and the rules
every published set must keep. Pure: no I/O.

A flow names a target (``target: kokuho``); the number, the outbound endpoint, how
many callers may be transferred to it at once and how long it rings live here, in a
set staff publish (``ivr.transfer.store``), seeded from ``transfer.targets`` in the
configuration while the database has none. **Only numbers on this list are ever
dialled**: a number is digits only, of a sane length, and reaches the dial string
through ``ivr.transfer.dialvars`` and the dialplan's ``FILTER`` as well.

Messages come in Japanese for staff (``Issue.message``, shown beside the field) and
in English for the configuration and the logs (``Issue.detail``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ivr.flow.errors import FlowIssue
from ivr.flow.model import Flow, TransferNode, is_name

NUMBER_RE = re.compile(r"[0-9]{3,15}\Z")
"""A target's number: digits only, 3 (an extension) to 15 (E.164's longest)."""
ENDPOINT_RE = re.compile(r"[a-z0-9_]{1,40}\Z")
"""An outbound endpoint's name, as ``pjsip.conf`` spells it (the dialplan filters the same)."""
MAX_NAME = 40
MAX_LABEL = 40
MAX_TARGETS = 50
MAX_CALLS = (1, 50)
RING_SECONDS = (5, 120)
DEFAULT_ENDPOINT = "trunk"


class TargetsError(Exception):
    """A stored or submitted set that cannot be read (not the rules: see :func:`check`)."""


@dataclass(frozen=True)
class Target:
    name: str
    number: str
    endpoint: str = DEFAULT_ENDPOINT
    max_calls: int = 2  # callers transferred to it at once, across every controller
    ring_seconds: int = 30  # how long it rings before the caller gets the no-answer route
    label: str = ""  # for people: 「国保課」

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "number": self.number,
            "endpoint": self.endpoint,
            "max_calls": self.max_calls,
            "ring_seconds": self.ring_seconds,
            "label": self.label,
        }

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> Target:
        try:
            return cls(
                name=str(raw["name"]),
                number=str(raw["number"]),
                endpoint=str(raw.get("endpoint", DEFAULT_ENDPOINT)),
                max_calls=_int(raw.get("max_calls", 2)),
                ring_seconds=_int(raw.get("ring_seconds", 30)),
                label=str(raw.get("label", "")),
            )
        except (KeyError, TypeError, ValueError) as e:
            raise TargetsError(f"unreadable transfer target: {e!r}") from e


def _int(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ValueError(f"not an integer: {value!r}")
    return int(value)


@dataclass(frozen=True)
class TargetSet:
    """Every target, in the order staff keep them."""

    targets: tuple[Target, ...] = ()
    _by_name: Mapping[str, Target] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_by_name", {t.name: t for t in self.targets})

    def get(self, name: str) -> Target | None:
        return self._by_name.get(name)

    @property
    def names(self) -> frozenset[str]:
        return frozenset(self._by_name)

    def with_target(self, target: Target, replacing: str | None = None) -> TargetSet:
        """The set with ``target`` added, or put in the place of ``replacing``."""
        old = replacing or target.name
        if old in self._by_name:
            return TargetSet(tuple(target if t.name == old else t for t in self.targets))
        return TargetSet((*self.targets, target))

    def without(self, name: str) -> TargetSet:
        return TargetSet(tuple(t for t in self.targets if t.name != name))

    def to_dict(self) -> dict[str, Any]:
        return {"targets": [t.to_dict() for t in self.targets]}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> TargetSet:
        try:
            raw = json.loads(text)
        except ValueError as e:
            raise TargetsError(f"transfer targets are not JSON: {e}") from e
        if not isinstance(raw, dict) or not isinstance(raw.get("targets"), list):
            raise TargetsError('transfer targets: expected {"targets": [...]}')
        return cls(tuple(Target.from_dict(t) for t in raw["targets"] if isinstance(t, dict)))


@dataclass(frozen=True)
class Issue:
    """One broken rule: the target (its name as given), the field, and why."""

    target: str
    field: str
    message: str  # Japanese, for staff
    detail: str  # English, for the configuration and the logs


def check(targets: TargetSet, endpoints: Iterable[str]) -> list[Issue]:
    """Every rule a set breaks (an empty list: it may be published).

    ``endpoints`` are the outbound endpoints the configuration allows
    (``transfer.endpoints``): a target can reach no other."""
    allowed = tuple(endpoints)
    issues: list[Issue] = []
    if len(targets.targets) > MAX_TARGETS:
        issues.append(
            Issue("", "", f"転送先は{MAX_TARGETS}件までです。", f"at most {MAX_TARGETS} targets")
        )
    seen: set[str] = set()
    for t in targets.targets:
        issues += _check_one(t, allowed)
        if t.name in seen:
            issues.append(
                Issue(t.name, "name", "同じ名前の転送先がすでにあります。", "duplicate name")
            )
        seen.add(t.name)
    return issues


def _check_one(t: Target, endpoints: tuple[str, ...]) -> list[Issue]:
    out: list[Issue] = []

    def bad(field_name: str, message: str, detail: str) -> None:
        out.append(Issue(t.name, field_name, message, detail))

    if not is_name(t.name) or len(t.name) > MAX_NAME:
        bad(
            "name",
            "名前は半角英数字と「_」で、数字以外から始めてください"
            f"（{MAX_NAME}文字まで、例: kokuho）。",
            "must be an identifier (letters, digits, _; not starting with a digit)",
        )
    if not NUMBER_RE.match(t.number):
        bad(
            "number",
            "電話番号は半角数字だけで、3桁から15桁で入力してください（ハイフンは不要です）。",
            "must be 3-15 digits, nothing else",
        )
    if not ENDPOINT_RE.match(t.endpoint) or t.endpoint not in endpoints:
        bad(
            "endpoint",
            f"発信に使う回線は次のいずれかです: {'、'.join(endpoints) or '（設定なし）'}。",
            f"must be one of transfer.endpoints ({', '.join(endpoints) or 'none'})",
        )
    lo, hi = MAX_CALLS
    if not lo <= t.max_calls <= hi:
        bad("max_calls", f"同時転送数は{lo}から{hi}までです。", f"must be {lo}-{hi}")
    lo, hi = RING_SECONDS
    if not lo <= t.ring_seconds <= hi:
        bad("ring_seconds", f"呼び出し時間は{lo}秒から{hi}秒までです。", f"must be {lo}-{hi}")
    if len(t.label) > MAX_LABEL or any(ord(c) < 32 for c in t.label):
        bad(
            "label",
            f"表示名は{MAX_LABEL}文字までの1行で入力してください。",
            f"at most {MAX_LABEL} characters on one line",
        )
    return out


def unknown_targets(flow: Flow, known: Iterable[str]) -> list[FlowIssue]:
    """A ``FlowIssue`` (code ``unknown_target``, with the node and line) for every
    transfer node naming a target that is not in ``known``: such a flow is not published."""
    names = sorted(set(known))
    listed = ", ".join(names) if names else "none are set up: add them on the 転送先 page"
    return [
        FlowIssue(
            "unknown_target",
            f"transfer target '{node.target}' is not a transfer target ({listed})",
            node.line,
            node.id,
        )
        for node in flow.nodes.values()
        if isinstance(node, TransferNode) and node.target not in names
    ]
