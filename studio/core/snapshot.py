"""What a run executes: an immutable copy of the graph's nodes that run, with their inputs traced
through bypassed nodes and reroutes, and the document it was taken from."""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from .graph import Graph, GraphError, Problem
from .nodetype import NodeType


@dataclass(frozen=True, slots=True)
class SnapNode:
    id: str
    title: str
    type: NodeType | None
    type_id: str
    version: str
    params: Mapping[str, Any]
    inputs: Mapping[str, tuple[str, str]]  # input name -> (source node id, output name)


@dataclass(frozen=True)
class GraphSnapshot:
    """An immutable copy of what the executor needs; editing the graph afterwards changes nothing."""

    nodes: Mapping[str, SnapNode]
    order: tuple[str, ...]
    problems: tuple[Problem, ...]
    document: Mapping[str, Any] = field(repr=False)
    # Nodes of the document that this run leaves out, and why (muted, bypassed, not needed, ...).
    skipped: Mapping[str, str] = field(default_factory=dict)
    targets: tuple[str, ...] | None = None  # a partial run: the nodes it was asked for

    @classmethod
    def of(cls, graph: Graph, targets: Iterable[str] | None = None) -> GraphSnapshot:
        """Deep copies of everything the run reads: what a run embeds in its PNGs is exactly what it
        ran, whatever is edited (a randomized seed, a width) while it runs. Only the nodes that run
        are in it, their wires traced through bypassed nodes and reroutes; with ``targets``, only
        those nodes and what they need."""
        from .plan import plan_run  # local imports: both depend on this module
        from .workflow import graph_to_document

        targets = tuple(targets) if targets is not None else None
        document = copy.deepcopy(graph_to_document(graph))
        plan = plan_run(graph, targets)
        saved_params = {entry["id"]: entry["params"] for entry in document["nodes"]}
        nodes = {}
        for nid, inputs in plan.inputs.items():
            n = graph.nodes[nid]
            nt = graph.registry.get(n.type_id)
            params = dict(nt.default_params()) if nt else {}
            params.update(saved_params[n.id])
            nodes[n.id] = SnapNode(n.id, graph.title_of(n), nt, n.type_id, n.version, MappingProxyType(params),
                                   MappingProxyType(dict(inputs)))
        problems = [p for p in graph.validate(plan) if p.node_id is None or p.node_id in nodes]
        try:
            order = tuple(nid for nid in graph.topological_order() if nid in nodes)
        except GraphError:
            order = ()
        return cls(MappingProxyType(nodes), order, tuple(problems), MappingProxyType(document),
                   MappingProxyType(dict(plan.skipped)), targets)

    def upstream(self, node_id: str) -> Iterable[str]:
        """Every node ``node_id`` depends on (not including itself)."""
        seen: set[str] = set()
        stack = [src for src, _ in self.nodes[node_id].inputs.values()]
        while stack:
            n = stack.pop()
            if n not in seen and n in self.nodes:
                seen.add(n)
                stack.extend(src for src, _ in self.nodes[n].inputs.values())
        return seen
