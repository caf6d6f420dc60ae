"""YAML text → a small tree of values that remember their line numbers.

PyYAML's ``safe_load`` forgets where values came from and silently keeps the
last of two duplicate keys, so we compose the node graph ourselves and convert
it: every mapping keeps its duplicate keys for the loader to report, every
value knows its 1-based line. Mapping keys are taken as written (``1:`` is the
key ``"1"``, ``on:`` is ``"on"``, not ``True``). Aliases are followed, but
recursive ones, very deep nesting and alias bombs are reported, not crashed on.
"""

from __future__ import annotations

from dataclasses import dataclass

import yaml
from yaml.constructor import SafeConstructor
from yaml.nodes import MappingNode, ScalarNode, SequenceNode

from .errors import FlowIssue

MAX_TEXT = 1_000_000
MAX_VALUES = 50_000
MAX_DEPTH = 64

_TAG = "tag:yaml.org,2002:"
_CONSTRUCTED = {f"{_TAG}{name}" for name in ("int", "float", "bool", "null")}
_AS_TEXT = {f"{_TAG}str", f"{_TAG}timestamp"}


@dataclass(frozen=True, slots=True)
class YScalar:
    """A scalar: ``str``, ``int``, ``float``, ``bool`` or ``None``.

    ``raw`` is the text as written (``""`` for an empty value, which is how a
    value turned into a comment, like an unquoted ``#``, shows up).
    """

    value: str | int | float | bool | None
    line: int
    raw: str


@dataclass(frozen=True, slots=True)
class YSeq:
    """A sequence."""

    items: tuple[YValue, ...]
    line: int


@dataclass(frozen=True, slots=True)
class YEntry:
    """A mapping entry: its value and the line of its key."""

    key_line: int
    value: YValue


@dataclass(frozen=True, slots=True)
class YDuplicate:
    """A key given twice in one mapping (PyYAML would silently keep the last)."""

    key: str
    line: int
    first_line: int


@dataclass(frozen=True, slots=True)
class YMap:
    """A mapping with string keys, in document order."""

    entries: dict[str, YEntry]
    line: int
    duplicates: tuple[YDuplicate, ...] = ()


YValue = YScalar | YSeq | YMap


def type_name(value: YValue) -> str:
    """A short description of a value's type for messages."""
    if isinstance(value, YMap):
        return "a mapping"
    if isinstance(value, YSeq):
        return "a list"
    if value.value is None:
        return "empty (null)"
    return {
        bool: "true/false",
        int: "a number",
        float: "a number",
        str: "text",
    }[type(value.value)]


class _Converter:
    def __init__(self, issues: list[FlowIssue]) -> None:
        self.issues = issues
        self.count = 0
        self.too_big = False
        self.constructor = SafeConstructor()
        self.active: set[int] = set()

    def issue(self, code: str, message: str, line: int) -> None:
        self.issues.append(FlowIssue(code, message, line))

    def convert(self, node: yaml.Node, depth: int) -> YValue | None:
        line = node.start_mark.line + 1
        self.count += 1
        if self.count > MAX_VALUES:
            if not self.too_big:
                self.too_big = True
                self.issue("too_large", f"the flow has more than {MAX_VALUES} values", line)
            return None
        if depth > MAX_DEPTH:
            self.issue("too_deep", f"values are nested more than {MAX_DEPTH} levels deep", line)
            return None
        if id(node) in self.active:
            self.issue("recursive_alias", "an alias refers to a value that contains it", line)
            return None
        if isinstance(node, ScalarNode):
            return self.scalar(node, line)
        self.active.add(id(node))
        try:
            if isinstance(node, SequenceNode):
                items = (self.convert(item, depth + 1) for item in node.value)
                return YSeq(tuple(item for item in items if item is not None), line)
            if isinstance(node, MappingNode):
                return self.mapping(node, line, depth)
        finally:
            self.active.discard(id(node))
        self.issue("yaml_value", "unsupported YAML value", line)
        return None

    def scalar(self, node: ScalarNode, line: int) -> YScalar | None:
        raw = str(node.value)
        if node.tag in _AS_TEXT:
            return YScalar(raw, line, raw)
        if node.tag in _CONSTRUCTED:
            try:
                value = self.constructor.construct_object(node)
            except (yaml.YAMLError, ValueError, OverflowError, TypeError):
                self.issue("yaml_value", f"cannot read the value {raw!r}", line)
                return None
            if value is None or isinstance(value, bool | int | float):
                return YScalar(value, line, raw)
        self.issue("yaml_tag", f"unsupported YAML tag {node.tag!r} (write plain values)", line)
        return None

    def mapping(self, node: MappingNode, line: int, depth: int) -> YMap:
        entries: dict[str, YEntry] = {}
        duplicates: list[YDuplicate] = []
        for key_node, value_node in node.value:
            key_line = key_node.start_mark.line + 1
            if not isinstance(key_node, ScalarNode):
                self.issue("bad_key", "a key must be plain text, not a list or mapping", key_line)
                continue
            key = str(key_node.value)
            if key_node.tag == f"{_TAG}merge":
                self.issue("bad_key", "merge keys ('<<') are not supported", key_line)
                continue
            value = self.convert(value_node, depth + 1)
            if value is None:
                continue
            if key in entries:
                duplicates.append(YDuplicate(key, key_line, entries[key].key_line))
                continue
            entries[key] = YEntry(key_line, value)
        return YMap(entries, line, tuple(duplicates))


def parse(text: str, issues: list[FlowIssue]) -> YValue | None:
    """Parse one YAML document; problems go to ``issues`` and give ``None``."""
    if len(text) > MAX_TEXT:
        issues.append(FlowIssue("too_large", f"the flow is longer than {MAX_TEXT} characters"))
        return None
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        problem = exc.problem or exc.context or "unreadable YAML"
        line = mark.line + 1 if mark is not None else None
        issues.append(FlowIssue("yaml_syntax", f"YAML syntax error: {problem}", line))
        return None
    except yaml.YAMLError as exc:
        issues.append(FlowIssue("yaml_syntax", f"YAML error: {exc}"))
        return None
    except RecursionError:
        issues.append(FlowIssue("too_deep", "values are nested too deeply"))
        return None
    if root is None:
        issues.append(FlowIssue("empty", "the flow is empty"))
        return None
    return _Converter(issues).convert(root, 0)
