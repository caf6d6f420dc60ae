"""Checks over the whole flow graph, once every node has been read.

- every node is reachable from ``start``;
- from every node some way out (a ``hangup`` or ``transfer`` node) is reachable;
- a caller who presses nothing never loops forever: following only what
  happens without input (menu/collect ``on_exhausted``, ``next``, every branch
  case, every SMS outcome route, transfer ``fallback``) always reaches a hangup or an
  answered transfer — so menus end gracefully, with no loop counter at run time;
- SMS number sources name a value some ``collect`` node stores.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from .errors import FlowIssue
from .model import CALLER_NUMBER, TERMINAL_KINDS, CollectNode, Flow, SmsNode


def check_flow(flow: Flow, issues: list[FlowIssue]) -> None:
    """Append every graph-level problem of ``flow`` to ``issues``."""
    nodes = flow.nodes
    edges = {nid: [t for _, t in node.edges() if t in nodes] for nid, node in nodes.items()}
    reachable = _reach([flow.start], edges)
    for nid, node in nodes.items():
        if nid not in reachable:
            issues.append(
                FlowIssue("unreachable", "no path from 'start' leads to this node", node.line, nid)
            )

    reverse: dict[str, list[str]] = {nid: [] for nid in nodes}
    for nid, targets in edges.items():
        for target in targets:
            reverse[target].append(nid)
    exits = [nid for nid, node in nodes.items() if node.kind in TERMINAL_KINDS]
    can_exit = _reach(exits, reverse)
    for nid, node in nodes.items():
        if nid not in can_exit:
            issues.append(
                FlowIssue(
                    "no_way_out",
                    "no hangup or transfer node can be reached from here (a cycle with no way out)",
                    node.line,
                    nid,
                )
            )

    silent = {
        nid: [t for t in node.silent_edges() if t in nodes and t in can_exit]
        for nid, node in nodes.items()
        if nid in can_exit
    }
    for loop in _cycles(silent):
        first = min(loop, key=lambda n: nodes[n].line)
        path = " → ".join([*loop, loop[0]])
        issues.append(
            FlowIssue(
                "silent_loop",
                f"a caller who presses no key would loop forever: {path} "
                "(let on_exhausted lead to a hangup or transfer)",
                nodes[first].line,
                first,
            )
        )

    stores = {n.store for n in nodes.values() if isinstance(n, CollectNode) and n.store}
    for nid, node in nodes.items():
        if isinstance(node, SmsNode):
            for source in node.to:
                if source != CALLER_NUMBER and source not in stores:
                    issues.append(
                        FlowIssue(
                            "missing_target",
                            f"'to': no collect node stores '{source}' "
                            f"(use '{CALLER_NUMBER}' or a collect node's 'store' name)",
                            node.line,
                            nid,
                        )
                    )


def _reach(starts: Iterable[str], edges: Mapping[str, list[str]]) -> set[str]:
    seen: set[str] = set()
    todo = [s for s in starts if s in edges]
    while todo:
        nid = todo.pop()
        if nid in seen:
            continue
        seen.add(nid)
        todo.extend(t for t in edges[nid] if t not in seen)
    return seen


def _cycles(edges: Mapping[str, list[str]]) -> list[list[str]]:
    """Strongly connected components that contain a cycle (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0
    for root in edges:
        if root in index:
            continue
        work: list[tuple[str, int]] = [(root, 0)]
        while work:
            nid, i = work.pop()
            if i == 0:
                index[nid] = low[nid] = counter
                counter += 1
                stack.append(nid)
                on_stack.add(nid)
            targets = edges[nid]
            if i < len(targets):
                work.append((nid, i + 1))
                target = targets[i]
                if target not in index:
                    work.append((target, 0))
                elif target in on_stack:
                    low[nid] = min(low[nid], index[target])
                continue
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[nid])
            if low[nid] == index[nid]:
                component: list[str] = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == nid:
                        break
                if len(component) > 1 or nid in targets:
                    found.append(list(reversed(component)))
    return found
