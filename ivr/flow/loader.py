"""Load a flow from YAML text, reporting every problem at once.

``load_flow`` either returns a complete, validated :class:`~ivr.flow.model.Flow`
or raises :class:`~ivr.flow.errors.FlowError` listing every problem with its
node and line — never another exception, whatever the text. A flow that fails
here is never put in service: callers keep the flow they had.
"""

from __future__ import annotations

import os
import re
import string
from importlib import resources

from .errors import FlowError, FlowIssue, FlowSyntaxError, FlowValidationError
from .fields import Fields
from .model import Flow, Node, PromptSpec, Settings, is_name
from .nodeparse import Known, parse_node
from .validate import check_flow
from .yamltree import YMap, YScalar, parse

FORMAT_VERSION = 1
FILE_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}\Z")
"""Uploaded audio names: a plain file name, no folders."""

__all__ = [
    "FlowError",
    "FlowIssue",
    "FlowSyntaxError",
    "FlowValidationError",
    "load_default_flow",
    "load_flow",
    "load_flow_file",
]


def load_flow(text: str, source: str = "<flow>") -> Flow:
    """Parse and validate a flow; raise ``FlowError`` naming every problem."""
    issues: list[FlowIssue] = []
    root = parse(text, issues)
    if root is None:
        raise FlowSyntaxError(issues, source)
    if not isinstance(root, YMap):
        issues.append(FlowIssue("wrong_type", "the flow must be a mapping of keys", root.line))
        raise FlowValidationError(issues, source)
    flow = _build(root, issues, source)
    if flow is not None and not issues:
        check_flow(flow, issues)
    if issues or flow is None:
        raise FlowValidationError(issues, source)
    return flow


def load_flow_file(path: str | os.PathLike[str]) -> Flow:
    """Read a UTF-8 flow file and load it; unreadable files raise ``FlowSyntaxError``."""
    source = os.fspath(path)
    try:
        with open(path, encoding="utf-8") as fh:
            text = fh.read()
    except (OSError, UnicodeDecodeError) as exc:
        raise FlowSyntaxError(
            [FlowIssue("unreadable", f"cannot read the file: {exc}")], source
        ) from exc
    return load_flow(text, source)


def default_flow_text() -> str:
    """The text of the flow shipped with the package (``ivr/flows/default.yaml``)."""
    return resources.files("ivr").joinpath("flows/default.yaml").read_text(encoding="utf-8")


def load_default_flow() -> Flow:
    """The flow shipped with the package, loaded and validated."""
    return load_flow(default_flow_text(), "ivr/flows/default.yaml")


def _build(root: YMap, issues: list[FlowIssue], source: str) -> Flow | None:
    top = Fields(root, issues, what="the flow's top level")
    version_entry = top.entry("version", required=True)
    version = version_entry.value if version_entry is not None else None
    if version_entry is not None and not (
        isinstance(version, YScalar)
        and type(version.value) is int
        and version.value == FORMAT_VERSION
    ):
        top.report(
            "bad_value",
            f"unsupported flow format version (this program reads version {FORMAT_VERSION})",
            version_entry.key_line,
        )
    name = top.text("name")
    settings = _settings(top.mapping("settings"), issues)
    pmap = top.mapping("prompts", required=True)
    prompts = _prompts(pmap, issues) if pmap is not None else {}
    nmap = top.mapping("nodes", required=True)
    node_ids = list(nmap.entries) if nmap is not None else []
    start = top.ref("start", node_ids, "node", required=True)
    top.finish()
    if nmap is None:
        return None
    # Broken entries still count as known, so one mistake is not reported twice.
    prompt_ids = frozenset(pmap.entries) if pmap is not None else frozenset()
    known = Known(nodes=frozenset(node_ids), prompts=prompt_ids, settings=settings)
    nodes: dict[str, Node] = {}
    complete = True
    for dup in nmap.duplicates:
        issues.append(
            FlowIssue(
                "duplicate_node",
                f"node '{dup.key}' is defined twice (first on line {dup.first_line})",
                dup.line,
                dup.key,
            )
        )
    for node_id, entry in nmap.entries.items():
        if not is_name(node_id):
            issues.append(
                FlowIssue(
                    "bad_name",
                    f"node id {node_id!r} is not a valid name "
                    "(ASCII letters, digits and '_', not starting with a digit)",
                    entry.key_line,
                    node_id,
                )
            )
            continue
        if not isinstance(entry.value, YMap):
            issues.append(
                FlowIssue("wrong_type", "a node must be a mapping of keys", entry.key_line, node_id)
            )
            complete = False
            continue
        node = parse_node(node_id, entry.value, entry.key_line, known, issues)
        if node is None:
            complete = False
        else:
            nodes[node_id] = node
    if not nodes and not nmap.duplicates:
        issues.append(FlowIssue("missing_key", "the flow has no nodes", nmap.line))
    if not complete or not start:
        return None
    return Flow(
        start=start,
        nodes=nodes,
        prompts=prompts,
        settings=settings,
        name=name,
        version=FORMAT_VERSION,
        source=source,
    )


def _settings(smap: YMap | None, issues: list[FlowIssue]) -> Settings:
    d = Settings()
    if smap is None:
        return d
    f = Fields(smap, issues, what="settings")
    settings = Settings(
        pause_after_input=f.number("pause_after_input", d.pause_after_input, 0, 5),
        menu_timeout=f.number("menu_timeout", d.menu_timeout, 1, 120),
        collect_timeout=f.number("collect_timeout", d.collect_timeout, 1, 120),
        inter_digit_timeout=f.number("inter_digit_timeout", d.inter_digit_timeout, 0.5, 60),
        max_retries=f.integer("max_retries", d.max_retries, 0, 10),
        repeat_key=f.key("repeat_key", d.repeat_key),
        invalid_prompt=_optional_name(f, "invalid_prompt", d.invalid_prompt),
        timeout_prompt=_optional_name(f, "timeout_prompt", d.timeout_prompt),
    )
    f.finish()
    return settings


def _optional_name(f: Fields, key: str, default: str | None) -> str | None:
    value = f.get(key)
    if value is None:
        return default
    if isinstance(value, YScalar) and value.value is None:
        return None
    return f.name_value(key, value) or default


def _prompts(pmap: YMap, issues: list[FlowIssue]) -> dict[str, PromptSpec]:
    prompts: dict[str, PromptSpec] = {}
    for dup in pmap.duplicates:
        issues.append(
            FlowIssue(
                "duplicate_prompt",
                f"prompt '{dup.key}' is defined twice (first on line {dup.first_line})",
                dup.line,
            )
        )
    for pid, entry in pmap.entries.items():
        if not is_name(pid):
            issues.append(
                FlowIssue("bad_name", f"prompt id {pid!r} is not a valid name", entry.key_line)
            )
            continue
        if not isinstance(entry.value, YMap):
            issues.append(
                FlowIssue(
                    "wrong_type",
                    f"prompt '{pid}' must be a mapping with 'text' (and optional 'file')",
                    entry.key_line,
                )
            )
            continue
        f = Fields(entry.value, issues, what=f"prompt '{pid}'", line=entry.key_line)
        text = f.text("text")
        file = f.text("file") or None
        f.finish()
        line = f.line_of("text")
        if file is not None and (FILE_RE.match(file) is None or ".." in file):
            f.report(
                "bad_name",
                f"prompt '{pid}': file {file!r} is not a plain file name",
                f.line_of("file"),
            )
        if not text.strip() and file is None:
            f.report("missing_prompt", f"prompt '{pid}' has no text and no audio file", line)
        _check_placeholders(f, pid, text, line)
        prompts[pid] = PromptSpec(text=text, file=file, line=entry.key_line)
    return prompts


def _check_placeholders(f: Fields, pid: str, text: str, line: int) -> None:
    try:
        fields = [(n, spec, conv) for _, n, spec, conv in string.Formatter().parse(text)]
    except ValueError:
        f.report(
            "bad_placeholder",
            f"prompt '{pid}': unbalanced '{{' or '}}' (write {{{{ or }}}} for a brace)",
            line,
        )
        return
    for name, spec, conversion in fields:
        if name is None:
            continue
        if not is_name(name) or spec or conversion:
            shown = _as_written(name, spec, conversion)
            f.report(
                "bad_placeholder",
                f"prompt '{pid}': {shown} is not a plain {{variable}} name",
                line,
            )


def _as_written(name: str, spec: str | None, conversion: str | None) -> str:
    """The placeholder as written, for messages."""
    conv = f"!{conversion}" if conversion else ""
    fmt = f":{spec}" if spec else ""
    return f"{{{name}{conv}{fmt}}}"
