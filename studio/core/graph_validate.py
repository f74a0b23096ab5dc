"""Validation of a graph: every problem of the nodes that run, each naming its node and port.

Kept apart from the graph model: it reads the graph (ports, wires, families, the run plan) and
never changes it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from .graph import BYPASS, Graph, GraphError, Link, Node, Problem
from .nodetype import NodeType
from .plan import plan_run
from .types import PortType, can_connect, families_fit, is_family_var


def validate_graph(graph: Graph, plan: Any = None) -> list[Problem]:
    """Every problem in the graph, each naming its node (id and title) and port. Nodes that do
    not run (muted, needing a muted node, notes) have none; a bypassed node only the bypass
    it cannot do."""
    plan = plan if plan is not None else plan_run(graph)
    problems: list[Problem] = []
    memo: dict[str, dict[str, tuple[str, PortType]]] = {}
    incoming: dict[str, dict[str, Link]] = {}
    for lk in graph.links.values():
        incoming.setdefault(lk.dst, {})[lk.dst_port] = lk
    for node in graph.nodes.values():
        if node.id in plan.skipped:
            # A bypassed reroute or note is routed around as it is anyway: nothing to report.
            nt = graph.registry.get(node.type_id)
            routed = nt is not None and (nt.passthrough or nt.editor_only)
            if node.mode == BYPASS and not routed and (why := graph.bypass_problem(node.id)):
                problems.append(Problem(node.id, graph.title_of(node), None, why))
            continue
        problems.extend(_node_problems(graph, node, memo, incoming.get(node.id, {})))
    problems.extend(plan.problems)
    try:
        graph.topological_order()
    except GraphError as exc:
        problems.append(Problem(None, "graph", None, str(exc)))
    return problems

def _node_problems(graph: Graph, node: Node, memo: dict, incoming: dict[str, Link]) -> Iterator[Problem]:
    title = graph.title_of(node)

    def p(port: str | None, msg: str, severity: str = "error") -> Problem:
        return Problem(node.id, title, port, msg, severity)

    nt = graph.registry.get(node.type_id)
    if nt is None:
        hint = graph.registry.unknown_type_hint(node.type_id)
        yield p(None, f"unknown node type {node.type_id!r}: kept as a placeholder; "
                      + (hint or "install the node pack that provides it"))
        return
    if node.version.split(".")[0] != nt.version.split(".")[0] and nt.upgrade is None:
        yield p(None, f"saved by version {node.version} of {nt.id}, but version {nt.version} is installed",
                "warning")
    bad_params: set[str] = set()
    for decl in nt.inputs:
        if decl.wire:
            lk = incoming.get(decl.name)
            if lk is None:
                if not decl.optional:
                    yield p(decl.name, "required input is not connected")
                continue
            if lk.src not in graph.nodes:
                yield p(decl.name, "connected to a node that is not in the graph")
                continue
            source = graph.nodes[lk.src]
            if graph._output_decl(source, lk.src_port) is None:
                yield p(decl.name, f"connected to output {lk.src_port!r} of {graph.title_of(source)} "
                                   f"[{source.id}], which has no such output")
                continue
            src_t = graph.output_type(lk.src, lk.src_port, memo=memo)
            in_t = decl.type
            if is_family_var(in_t.family):
                hit = graph.bound_families(node.id, memo=memo).get(in_t.family)
                if hit:
                    in_t = in_t.with_family(hit[0])
                    if not families_fit(src_t, hit[1]):
                        yield p(decl.name, f"{src_t} does not fit {hit[1]}")
                        continue
            verdict = can_connect(src_t, in_t)
            if not verdict:
                yield p(decl.name, verdict.reason)
        else:
            if decl.name not in node.params:
                continue  # the default applies
            value = node.params[decl.name]
            if value is None and decl.optional:
                continue
            msg = decl.problem(value)
            if msg:
                bad_params.add(decl.name)
                yield p(decl.name, msg)
    if nt.check is not None and not bad_params:
        yield from _checked(graph, nt, node, p)
    for port in incoming:
        if nt.input(port) is None or not nt.input(port).wire:  # type: ignore[union-attr]
            yield p(port, "wired to an input this node does not have")
    for name in node.params:
        if nt.input(name) is None:
            yield p(name, "unknown parameter (kept, but not used)", "warning")

def _checked(graph: Graph, nt: NodeType, node: Node, p: Callable[..., Problem]) -> Iterator[Problem]:
    """The node type's own checks of its parameters (a hook that fails is a problem too)."""
    assert nt.check is not None
    params = {**nt.default_params(), **node.params}
    try:
        found = list(nt.check(params, graph.services))
    except Exception as exc:
        found = [(None, f"cannot check the parameters: {type(exc).__name__}: {exc}")]
    for port, message in found:
        yield p(port, message)
