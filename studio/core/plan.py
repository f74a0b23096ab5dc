"""Which nodes a run executes, and where each of their inputs really comes from.

The canvas holds more than what runs: muted nodes (never run, nor does anything that needs them),
bypassed nodes (each output handed the input of the same kind), reroutes (one input handed on)
and notes. A plan traces every wire through bypassed nodes and reroutes to the node that really
makes the value, and lists what does not run and why. A partial run ("run up to this node")
keeps only the targets and what they need.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from .graph import BYPASS, MUTE, Graph, GraphError, Problem

Source = tuple[str, str]  # (node id, output name)


@dataclass
class RunPlan:
    inputs: dict[str, dict[str, Source]] = field(default_factory=dict)  # per node that runs
    skipped: dict[str, str] = field(default_factory=dict)  # node id -> why it does not run
    problems: list[Problem] = field(default_factory=list)

    @property
    def runs(self) -> list[str]:
        return list(self.inputs)


@dataclass(frozen=True, slots=True)
class _Traced:
    source: Source | None = None  # the output that really feeds the wire
    muted: str | None = None  # ... or the muted (or skipped) node on the way
    open_end: tuple[str, str] | None = None  # ... or (node id, input) of a pass-through left unconnected
    no_input: tuple[str, str] | None = None  # ... or (node id, output) of a bypass with no input to hand on


def role(graph: Graph, node_id: str) -> str:
    """"run", "route" (bypassed or reroute: wires pass through), "mute", or "note" (editor only)."""
    node = graph.nodes[node_id]
    nt = graph.registry.get(node.type_id)
    if nt is not None and nt.editor_only:
        return "note"
    if node.mode == MUTE:
        return "mute"
    if node.mode == BYPASS or (nt is not None and nt.passthrough):
        return "route"
    return "run"


def plan_run(graph: Graph, targets: Iterable[str] | None = None) -> RunPlan:
    """The plan for running ``graph`` (only ``targets`` and what they need, when given)."""
    plan = RunPlan()
    try:
        order = graph.topological_order()
    except GraphError:
        order = list(graph.nodes)
    roles = {nid: role(graph, nid) for nid in graph.nodes}
    memo: dict[Source, _Traced] = {}

    def trace(src: str, port: str) -> _Traced:
        hops: list[Source] = []
        seen: set[Source] = set()
        while True:
            key = (src, port)
            if key in memo:
                result = memo[key]
                break
            if key in seen or src not in graph.nodes:
                result = _Traced()
                break
            seen.add(key)
            hops.append(key)
            r = roles[src]
            if r == "run":
                result = _Traced(muted=src) if src in plan.skipped else _Traced(source=key)
                break
            if r in ("mute", "note"):
                result = _Traced(muted=src)
                break
            node = graph.nodes[src]
            nt = graph.registry.get(node.type_id)
            through = nt.wires[0].name if nt is not None and nt.passthrough else graph.bypass_source(node, port)
            if through is None:  # only a file can bypass such a node; validate names the node too
                result = _Traced(no_input=(src, port))
                break
            link = graph.links.get((src, through))
            if link is None:
                result = _Traced(open_end=(src, through))
                break
            src, port = link.src, link.src_port
        for hop in hops:
            memo[hop] = result
        return result

    for nid in order:
        r = roles[nid]
        if r != "run":
            plan.skipped[nid] = {"mute": "muted", "note": "a note", "route": "bypassed"
                                 if graph.nodes[nid].mode == BYPASS else "a reroute"}[r]
            continue
        node = graph.nodes[nid]
        title = graph.title_of(node)
        inputs: dict[str, Source] = {}
        problems: list[Problem] = []  # only reported if the node runs
        needs_muted: str | None = None
        for decl in graph.input_ports(node):
            link = graph.links.get((nid, decl.name))
            if link is None:
                continue
            t = trace(link.src, link.src_port)
            if t.source is not None:
                inputs[decl.name] = t.source
            elif t.muted is not None:
                if not decl.optional:
                    needs_muted = needs_muted or t.muted
            elif t.open_end is not None and not decl.optional:
                via, port = t.open_end
                problems.append(Problem(nid, title, decl.name, (
                    f"fed through {graph.title_of(via)} [{via}] ({plan.skipped.get(via, 'bypassed')}), whose "
                    f"{port.replace('_', ' ')} input is not connected")))
            elif t.no_input is not None and not decl.optional:
                via, port = t.no_input
                problems.append(Problem(nid, title, decl.name, (
                    f"fed through {graph.title_of(via)} [{via}] (bypassed), which has no input to pass on "
                    f"to its {port.replace('_', ' ')} output")))
        if needs_muted is not None:
            root = needs_muted
            why = plan.skipped.get(root, "muted")
            plan.skipped[nid] = f"needs {graph.title_of(root)}, which is {why}" if why == "muted" else why
            continue
        plan.inputs[nid] = inputs
        plan.problems.extend(problems)

    _drop_dead_ends(graph, plan, order)
    if targets is not None:
        _keep_needed(graph, plan, list(targets))
    return plan


def _drop_dead_ends(graph: Graph, plan: RunPlan, order: list[str]) -> None:
    """Nodes whose wires all end at nodes that do not run (a loader feeding only a muted or
    bypassed node, say) do not run either, as in ComfyUI. A node with no wires out at all still
    runs: its picture shows on the canvas."""
    wired_out = {lk.src for lk in graph.links.values()}
    users: dict[str, list[str]] = {}
    for nid, inputs in plan.inputs.items():
        for src, _ in inputs.values():
            users.setdefault(src, []).append(nid)
    for nid in reversed(order):
        if nid not in plan.inputs or nid not in wired_out:
            continue
        if not any(u in plan.inputs for u in users.get(nid, ())):
            del plan.inputs[nid]
            plan.skipped[nid] = "feeds only nodes that do not run"
    kept = set(plan.inputs)
    plan.problems = [p for p in plan.problems if p.node_id in kept]


def _keep_needed(graph: Graph, plan: RunPlan, targets: list[str]) -> None:
    needed: set[str] = set()
    stack = [t for t in targets if t in plan.inputs]
    while stack:
        nid = stack.pop()
        if nid in needed:
            continue
        needed.add(nid)
        stack.extend(src for src, _ in plan.inputs[nid].values() if src in plan.inputs)
    for nid in list(plan.inputs):
        if nid not in needed:
            del plan.inputs[nid]
            plan.skipped[nid] = "not needed for this run"
    plan.problems = [p for p in plan.problems if p.node_id in needed]


def target_problem(graph: Graph, node_id: str) -> str | None:
    """Why "run up to this node" cannot run ``node_id``, or None."""
    if node_id not in graph.nodes:
        return "that node is not in the graph"
    plan = plan_run(graph, [node_id])
    if node_id in plan.inputs:
        return None
    why = plan.skipped.get(node_id, "it does not run")
    return f"{graph.title_of(node_id)} does not run: {why}"
