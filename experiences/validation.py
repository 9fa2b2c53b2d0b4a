"""Validation of a whole graph, in the shape the builder shows on its canvas.

``{"graph": [...], "nodes": {"<key>": {"<field path>": [...]}}, "edges": [...]}``. A draft is saved
with its errors; publishing refuses a graph with any.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from segments.models import Segment, Store

from .nodes import REGISTRY
from .nodes.base import NODE_ERRORS, ValidationContext


@dataclass
class GraphNode:
    key: str
    type: str
    config: dict[str, Any]


@dataclass
class GraphEdge:
    source: str
    target: str
    branch: str = ""


@dataclass
class Report:
    graph: list[str] = field(default_factory=list)
    nodes: dict[str, dict[str, list[str]]] = field(default_factory=dict)
    edges: list[str] = field(default_factory=list)
    segment_ids: dict[str, set[int]] = field(default_factory=dict)

    def node_error(self, key: str, path: str, message: str) -> None:
        self.nodes.setdefault(key, {}).setdefault(path, []).append(message)

    @property
    def ok(self) -> bool:
        return not (self.graph or self.nodes or self.edges)

    def as_dict(self) -> dict[str, Any]:
        return {"graph": self.graph, "nodes": self.nodes, "edges": self.edges}


def validation_context(store: Store, kind: str) -> ValidationContext:
    segments = {s.pk: s for s in Segment.objects.filter(store=store).only("id", "name", "kind")}
    return ValidationContext(store=store, kind=kind, segments=segments)


def validate_graph(
    nodes: list[GraphNode], edges: list[GraphEdge], ctx: ValidationContext
) -> Report:
    report = Report()
    parsed: dict[str, Any] = {}
    for node in nodes:
        parsed[node.key] = _validate_node(node, ctx, report)

    triggers = [n.key for n in nodes if n.type == "trigger"]
    if len(triggers) != 1:
        report.graph.append(
            f"An experience needs exactly one trigger; this one has {len(triggers)}."
        )
    outgoing: dict[str, dict[str, str]] = {n.key: {} for n in nodes}
    incoming: dict[str, int] = {n.key: 0 for n in nodes}
    for edge in edges:
        if edge.source not in outgoing or edge.target not in outgoing:
            report.edges.append(f"Edge {edge.source} -> {edge.target} joins a missing node.")
            continue
        outgoing[edge.source][edge.branch] = edge.target
        incoming[edge.target] += 1

    types = {n.key: n.type for n in nodes}
    for key, targets in outgoing.items():
        node_type = REGISTRY.get(types[key])
        if node_type is None or (node_type.config_model is not None and parsed[key] is None):
            continue  # already reported; its branches are unknown
        needed = node_type.branches(parsed[key])
        for branch in needed:
            if branch not in targets:
                label = f"branch {branch!r}" if branch else "its next step"
                report.node_error(key, NODE_ERRORS, f"Connect {label}.")
        for branch in targets:
            if branch not in needed:
                label = f"branch {branch!r}" if branch else "an unlabelled edge"
                report.node_error(key, NODE_ERRORS, f"This node has no {label}; remove the edge.")
    for key in triggers:
        if incoming[key]:
            report.node_error(key, NODE_ERRORS, "Nothing may lead into the trigger.")

    if len(triggers) == 1:
        reachable = _reachable(triggers[0], outgoing)
        for node in nodes:
            if node.key not in reachable:
                report.node_error(node.key, NODE_ERRORS, "Not reachable from the trigger.")
    cycle = _find_cycle(outgoing)
    if cycle:
        report.graph.append("The graph has a cycle: " + " -> ".join(cycle) + ".")
    return report


def _validate_node(node: GraphNode, ctx: ValidationContext, report: Report):
    node_type = REGISTRY.get(node.type)
    if node_type is None:
        report.node_error(node.key, "type", f"Unknown node type {node.type!r}.")
        return None
    if not node_type.available:
        report.node_error(node.key, "type", f"{node_type.label} nodes are not available yet.")
        return None
    if ctx.kind not in node_type.kinds:
        report.node_error(
            node.key,
            "type",
            f"{node_type.label} nodes are not offered in {ctx.kind.replace('_', ' ')} experiences.",
        )
    if node_type.requires_rewards and not ctx.store.rewards_enabled:
        report.node_error(node.key, "type", f"{node_type.label} nodes need Rewards enabled.")
    config, errors = node_type.parse(node.config)
    if config is not None:
        errors = node_type.validate(config, ctx)
        report.segment_ids[node.key] = node_type.segment_ids(config)
    for path, messages in errors.items():
        for message in messages:
            report.node_error(node.key, path, message)
    return config


def _reachable(start: str, outgoing: dict[str, dict[str, str]]) -> set[str]:
    seen, stack = {start}, [start]
    while stack:
        for target in outgoing[stack.pop()].values():
            if target not in seen:
                seen.add(target)
                stack.append(target)
    return seen


def _find_cycle(outgoing: dict[str, dict[str, str]]) -> list[str]:
    """Return one cycle as a list of keys (first key repeated at the end), or []."""
    state: dict[str, int] = {}  # 1 visiting, 2 done
    for root in outgoing:
        if state.get(root):
            continue
        path: list[str] = [root]
        iters = [iter(sorted(outgoing[root].values()))]
        state[root] = 1
        while iters:
            nxt = next(iters[-1], None)
            if nxt is None:
                state[path.pop()] = 2
                iters.pop()
            elif state.get(nxt) == 1:
                return path[path.index(nxt) :] + [nxt]
            elif not state.get(nxt):
                state[nxt] = 1
                path.append(nxt)
                iters.append(iter(sorted(outgoing[nxt].values())))
    return []


# --- experience settings ---------------------------------------------------------------------

EXIT_EVENTS = {"subscription_cancelled", "order_processed"}
EXIT_SEGMENT_PREFIXES = ("left_segment:", "entered_segment:")


def validate_exit_criteria(criteria: Any, store: Store) -> list[str]:
    """Return messages for exit criteria that are not understood or name another store's segment."""
    if not isinstance(criteria, list):
        return ["Exit criteria are a list."]
    errors = []
    wanted: dict[int, str] = {}
    for i, item in enumerate(criteria):
        if not isinstance(item, str):
            errors.append(f"Item {i}: give a text value.")
        elif item in EXIT_EVENTS:
            continue
        elif item.startswith(EXIT_SEGMENT_PREFIXES):
            raw = item.split(":", 1)[1]
            if not raw.isdigit():
                errors.append(f"Item {i}: {item!r} needs a segment id, e.g. left_segment:12.")
            else:
                wanted[int(raw)] = item
        else:
            known = ", ".join(sorted(EXIT_EVENTS) + ["left_segment:<id>", "entered_segment:<id>"])
            errors.append(f"Item {i}: unknown exit criterion {item!r}; use {known}.")
    if wanted:
        found = set(Segment.objects.filter(store=store, pk__in=wanted).values_list("pk", flat=True))
        errors += [f"{wanted[s]}: no such segment in this store." for s in wanted if s not in found]
    return errors


def node_branches(nodes: list[GraphNode]) -> dict[str, list[str]]:
    """Return the outgoing branch labels each node needs ("" is the single next step).

    The builder draws one labelled handle per branch; a node whose configuration does not parse
    yet has none until it does.
    """
    branches: dict[str, list[str]] = {}
    for node in nodes:
        node_type = REGISTRY.get(node.type)
        if node_type is None:
            branches[node.key] = []
            continue
        config, errors = node_type.parse(node.config)
        if node_type.config_model is not None and config is None:
            branches[node.key] = []
            continue
        branches[node.key] = node_type.branches(config)
    return branches
