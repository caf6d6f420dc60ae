"""What staff need to read a flow's figures: its nodes in the order a caller meets
them, each menu's options with a label taken from its own prompt (「…は、1を」), and
the first menu (the one the option mix shows)."""

from __future__ import annotations

import contextlib
import re
from collections import deque
from dataclasses import dataclass
from pathlib import Path

from ivr.flow.errors import FlowError
from ivr.flow.loader import default_flow_text, load_flow
from ivr.flow.model import BranchNode, Flow, GotoNode, MenuNode, Node, PlayNode
from ivr.published.service import digest
from ivr.stats.db import Conn
from ivr.stats.queries import key_order

KIND_LABELS = {
    "menu": "メニュー",
    "play": "案内",
    "collect": "番号入力",
    "branch": "分岐",
    "sms": "SMS送信",
    "transfer": "転送",
    "goto": "移動",
    "hangup": "終了",
}


@dataclass(frozen=True)
class Option:
    key: str
    target: str
    label: str


@dataclass(frozen=True)
class NodeInfo:
    id: str
    kind: str
    kind_label: str
    text: str  # the node's first prompt, shortened
    options: tuple[Option, ...]


@dataclass(frozen=True)
class FlowInfo:
    name: str
    nodes: tuple[NodeInfo, ...]
    main_menu: str | None


def _sentences(text: str) -> list[str]:
    return [s.strip() for s in re.split(r"[。\n]", text) if s.strip()]


def option_labels(flow: Flow, node: MenuNode) -> dict[str, str]:
    """Key → what the prompt says it is for: 「マイナ保険証の登録や使い方は、1を。」 gives
    1 → 「マイナ保険証の登録や使い方」. A key the prompt does not name gets its target."""
    text = "。".join(flow.prompts[p].text for p in node.prompts if p in flow.prompts)
    labels: dict[str, str] = {}
    for sentence in _sentences(text):
        for key in node.choices:
            m = re.search(r"(.+?)、?\s*" + re.escape(key) + r"\s*を", sentence)
            if m and key not in labels:
                label = re.sub(r"(には|は|を)$", "", m.group(1).strip("、 "))
                labels[key] = label[:40]
    return {k: labels.get(k, v) for k, v in node.choices.items()}


def _edges(node: Node) -> tuple[list[str], list[str]]:
    """(where the caller goes without pressing anything, where a choice or an outcome
    leads), each in the order staff expect: keys 1..9, 0, *, #."""
    match node:
        case PlayNode() | GotoNode():
            return [node.next], []
        case BranchNode():
            cases = [node.cases[k] for k in node.cases]
            return ([node.default] if node.default else []), cases
        case MenuNode():
            keys = sorted(node.choices, key=key_order)
            return [], [node.choices[k] for k in keys] + [node.on_exhausted]
    return [], [target for _, target in node.edges()]


def walk_order(flow: Flow) -> list[str]:
    """Node ids in the order a caller meets them: what follows without a key first
    (the greeting up to the first menu), then breadth-first by choices; nodes nothing
    leads to last."""
    seen: dict[str, None] = {}
    queue = deque([flow.start])
    while queue:
        node_id = queue.popleft()
        if node_id in seen or node_id not in flow.nodes:
            continue
        seen[node_id] = None
        silent, chosen = _edges(flow.nodes[node_id])
        queue.extendleft(reversed(silent))
        queue.extend(chosen)
    for node_id in flow.nodes:
        seen.setdefault(node_id, None)
    return list(seen)


def main_menu(flow: Flow) -> str | None:
    """The first menu a caller reaches without pressing anything."""
    node_id: str | None = flow.start
    for _ in range(len(flow.nodes) + 1):
        node = flow.nodes.get(node_id) if node_id else None
        match node:
            case MenuNode():
                return node.id
            case PlayNode() | GotoNode():
                node_id = node.next
            case BranchNode():
                node_id = node.default or next(iter(node.cases.values()), None)
            case _:
                return None
    return None


def describe(flow: Flow) -> FlowInfo:
    nodes = []
    for node_id in walk_order(flow):
        node = flow.nodes[node_id]
        prompts = getattr(node, "prompts", ())
        text = flow.prompts[prompts[0]].text if prompts and prompts[0] in flow.prompts else ""
        options: tuple[Option, ...] = ()
        if isinstance(node, MenuNode):
            labels = option_labels(flow, node)
            options = tuple(
                Option(k, node.choices[k], labels[k]) for k in sorted(node.choices, key=key_order)
            )
        nodes.append(
            NodeInfo(
                node_id,
                node.kind,
                KIND_LABELS.get(node.kind, node.kind),
                text[:60] + ("…" if len(text) > 60 else ""),
                options,
            )
        )
    return FlowInfo(flow.name, tuple(nodes), main_menu(flow))


def group_of(version: int | None, flow_digest: str) -> str:
    """The funnel's group key of calls served by this flow (stats_call.flow_group)."""
    return f"v{version}" if version is not None else f"d{flow_digest}"


def fallback_texts(flow_file: str = "") -> list[str]:
    """The flows served when none is published: the configured file, the shipped one."""
    texts = []
    if flow_file:
        with contextlib.suppress(OSError, UnicodeDecodeError):
            texts.append(Path(flow_file).read_text(encoding="utf-8"))
    texts.append(default_flow_text())
    return texts


async def published_group(conn: Conn, flow_file: str = "") -> str:
    """The group of the flow in service now."""
    version = await conn.fetchval("SELECT id FROM flow_versions WHERE status = 'published'")
    if version is not None:
        return group_of(int(version), "")
    return group_of(None, digest(fallback_texts(flow_file)[0]))


async def flow_of_group(conn: Conn, group: str, flow_file: str = "") -> Flow | None:
    """The flow the calls of ``group`` ran, when it can still be found."""
    texts: list[str] = []
    if group.startswith("v") and group[1:].isdigit():
        source = await conn.fetchval(
            "SELECT source FROM flow_versions WHERE id = $1", int(group[1:])
        )
        texts = [source] if source is not None else []
    elif group.startswith("d"):
        wanted = group[1:]
        candidates = fallback_texts(flow_file) + [
            r["source"] for r in await conn.fetch("SELECT source FROM flow_versions ORDER BY id")
        ]
        texts = [t for t in candidates if digest(t) == wanted][:1]
    for text in texts:
        try:
            return load_flow(text, group)
        except FlowError:
            return None
    return None
