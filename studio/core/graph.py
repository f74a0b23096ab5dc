"""The graph model: nodes, links and groups, with every edit validated.

Qt-free. The canvas mirrors this model through the listener callbacks; the executor runs an
immutable ``GraphSnapshot`` of it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

from .graph_items import (  # noqa: F401  (re-exported: the graph's items are imported from here)
    BYPASS,
    MUTE,
    NODE_MODES,
    NORMAL,
    GraphError,
    Group,
    Link,
    Node,
    Problem,
    _check_color,
    is_color,
    new_id,
)
from .nodetype import Input, NodeType, Output
from .registry import Registry
from .services import RunServices

if TYPE_CHECKING:
    from .snapshot import GraphSnapshot

from .types import ANY_FAMILY, Kind, PortType, Verdict, can_connect, families_fit, is_family_var

ANY_PORT = PortType.parse("ANY")
# Ports of one unknown (placeholder) node: its ports are only names seen on its wires, so a file
# could declare any number; real nodes have a handful.
MAX_PORTS = 256


_THROUGH = "$through"  # families-table key: the type a reroute carries


Listener = Callable[[str, dict[str, Any]], None]


class Graph:
    def __init__(self, registry: Registry) -> None:
        self.registry = registry
        self.nodes: dict[str, Node] = {}
        self.links: dict[tuple[str, str], Link] = {}  # keyed by (dst, dst_port): one wire per input
        self.groups: list[Group] = []
        self.models: list[dict[str, Any]] = []  # the workflow's models table, as loaded or last computed
        self.rng: dict[str, Any] = {}
        self.extra: dict[str, Any] = {}  # the file's free-form "extra" object (view state), kept verbatim
        self.unknown: dict[str, Any] = {}  # top-level fields this version does not know, kept verbatim
        self.environment: dict[str, Any] = {}  # the environment recorded in the file as loaded
        self.listeners: list[Listener] = []
        # What file lookups see while editing (model folders for families); the Session sets it.
        self.services = RunServices()

    # -- notifications --------------------------------------------------------------------------
    def _notify(self, what: str, **info: Any) -> None:
        for fn in list(self.listeners):
            fn(what, info)

    # -- nodes ----------------------------------------------------------------------------------
    def node_type(self, node: Node | str) -> NodeType | None:
        n = self.nodes[node] if isinstance(node, str) else node
        return self.registry.get(n.type_id)

    def title_of(self, node: Node | str) -> str:
        n = self.nodes[node] if isinstance(node, str) else node
        if n.title:
            return n.title
        nt = self.registry.get(n.type_id)
        return nt.title if nt else n.type_id

    def add_node(
        self,
        type_id: str,
        pos: tuple[float, float] = (0.0, 0.0),
        params: Mapping[str, Any] | None = None,
        *,
        node_id: str | None = None,
        title: str | None = None,
    ) -> Node:
        nt = self.registry.get(type_id)
        if nt is None:
            raise GraphError(f"unknown node type {type_id!r}")
        node_id = node_id or new_id()
        if node_id in self.nodes:
            raise GraphError(f"a node with id {node_id} already exists")
        values = nt.default_params()
        for k, v in (params or {}).items():
            if nt.input(k) is None or nt.input(k).wire:  # type: ignore[union-attr]
                raise GraphError(f"{nt.title} has no parameter {k!r}")
            values[k] = v
        node = Node(node_id, type_id, nt.version, values, (float(pos[0]), float(pos[1])), title)
        return self.insert_node(node)

    def insert_node(self, node: Node) -> Node:
        """Add a fully formed node (used by file loading, paste and undo)."""
        if node.id in self.nodes:
            raise GraphError(f"a node with id {node.id} already exists")
        self.nodes[node.id] = node
        self._notify("node_added", node=node)
        return node

    def remove_node(self, node_id: str) -> tuple[Node, list[Link]]:
        """Remove a node and its wires; returns both so that an undo can put them back."""
        node = self.nodes[node_id]
        removed = [lk for lk in self.links.values() if node_id in (lk.src, lk.dst)]
        for lk in removed:
            self.disconnect(lk.dst, lk.dst_port)
        del self.nodes[node_id]
        self._notify("node_removed", node=node)
        return node, removed

    def set_param(self, node_id: str, name: str, value: Any) -> Any:
        node = self.nodes[node_id]
        old = node.params.get(name)
        node.params[name] = value
        self._notify("param_changed", node=node, name=name, value=value, old=old)
        return old

    def set_pos(self, node_id: str, pos: tuple[float, float]) -> None:
        node = self.nodes[node_id]
        node.pos = (float(pos[0]), float(pos[1]))
        self._notify("node_moved", node=node)

    def set_title(self, node_id: str, title: str | None) -> None:
        self.nodes[node_id].title = title or None
        self._notify("node_renamed", node=self.nodes[node_id])

    def set_mode(self, node_id: str, mode: str) -> None:
        """Bypass, mute or restore a node; refuses a bypass the node cannot do, with the reason."""
        if mode not in NODE_MODES:
            raise GraphError(f"no node mode {mode!r}")
        if mode == BYPASS:
            problem = self.bypass_problem(node_id)
            if problem:
                raise GraphError(problem)
        self.nodes[node_id].mode = mode
        self._notify("node_mode", node=self.nodes[node_id])

    def set_style(self, node_id: str, *, collapsed: bool | None = None, color: str | None | bool = False) -> None:
        """Collapse or expand a node, or set its colour (``color=None`` restores the default)."""
        node = self.nodes[node_id]
        _check_color(color)
        if collapsed is not None:
            node.collapsed = bool(collapsed)
        if color is not False:
            node.color = color or None  # type: ignore[assignment]
        self._notify("node_style", node=node)

    # -- bypass ---------------------------------------------------------------------------------
    def bypass_source(self, node: Node | str, output: str) -> str | None:
        """The input a bypassed node hands to ``output``: as ComfyUI does, the input at the same
        position if its kind matches, else the first input of that kind."""
        n = self.nodes[node] if isinstance(node, str) else node
        outs = self.output_ports(n)
        index = next((i for i, o in enumerate(outs) if o.name == output), None)
        if index is None:
            return None
        kind = outs[index].type.kind
        ins = self.input_ports(n)
        candidates = ([ins[index]] if index < len(ins) else []) + ins
        hit = next((i for i in candidates if i.type.kind is kind or Kind.ANY in (i.type.kind, kind)), None)
        return hit.name if hit else None

    def bypass_problem(self, node_id: str) -> str | None:
        """Why this node cannot be bypassed (an output with no input of its type), or None."""
        node = self.nodes[node_id]
        nt = self.registry.get(node.type_id)
        if nt is not None and (nt.editor_only or nt.passthrough):
            return f"{self.title_of(node)} has nothing to bypass"
        for out in self.output_ports(node):
            if self.bypass_source(node, out.name) is None:
                return (f"{self.title_of(node)} cannot be bypassed: it has no {out.type.kind.value} input to pass "
                        f"on to its {out.display_name} output (mute it instead)")
        return None

    # -- ports ----------------------------------------------------------------------------------
    def input_ports(self, node: Node) -> list[Input]:
        nt = self.registry.get(node.type_id)
        if nt is not None:
            return list(nt.wires)
        return [Input(name, ANY_PORT) for name in node.placeholder_inputs]

    def output_ports(self, node: Node) -> list[Output]:
        nt = self.registry.get(node.type_id)
        if nt is not None:
            return list(nt.outputs)
        return [Output(name, ANY_PORT) for name in node.placeholder_outputs]

    def _input_decl(self, node: Node, port: str) -> Input | None:
        nt = self.registry.get(node.type_id)
        if nt is None:
            return Input(port, ANY_PORT) if port in node.placeholder_inputs else None
        decl = nt.input(port)
        return decl if decl is not None and decl.wire else None

    def _output_decl(self, node: Node, port: str) -> Output | None:
        nt = self.registry.get(node.type_id)
        if nt is not None:
            return nt.output(port)
        return Output(port, ANY_PORT) if port in node.placeholder_outputs else None

    # -- families -------------------------------------------------------------------------------
    def bound_families(self, node_id: str, *, skip_port: str | None = None,
                       memo: dict[str, dict[str, tuple[str, PortType]]] | None = None
                       ) -> dict[str, tuple[str, PortType]]:
        """For each family variable of a node: (concrete family, the port type that fixed it)."""
        memo = {} if memo is None else memo
        if skip_port is None and node_id in memo:
            return memo[node_id]
        self._fill_upstream_families(node_id, memo)
        bound = self._families_here(node_id, skip_port, memo)
        if skip_port is None:
            memo[node_id] = bound
        return bound

    def _family_sources(self, node_id: str) -> Iterator[str]:
        """The nodes whose outputs may fix a family variable of ``node_id`` (or, for a reroute, the
        type it carries)."""
        nt = self.registry.get(self.nodes[node_id].type_id)
        for decl in nt.wires if nt is not None else ():
            if is_family_var(decl.type.family) or nt.passthrough:  # type: ignore[union-attr]
                lk = self.links.get((node_id, decl.name))
                if lk is not None and lk.src in self.nodes:
                    yield lk.src

    def _fill_upstream_families(self, node_id: str, memo: dict[str, dict[str, tuple[str, PortType]]]) -> None:
        """Memoise the families of every node upstream of ``node_id``, sources first, without
        recursion: a chain of thousands of nodes must not exhaust the stack. A loop (only possible
        through ``insert_link``) ends the walk instead of running forever."""
        seen = {node_id}
        stack: list[tuple[str, bool]] = [(node_id, False)]
        while stack:
            current, expanded = stack.pop()
            if expanded:
                if current != node_id and current not in memo:
                    memo[current] = self._families_here(current, None, memo)
                continue
            stack.append((current, True))
            for src in self._family_sources(current):
                if src not in memo and src not in seen:
                    seen.add(src)
                    stack.append((src, False))

    def _families_here(self, node_id: str, skip_port: str | None,
                       memo: dict[str, dict[str, tuple[str, PortType]]]) -> dict[str, tuple[str, PortType]]:
        """One node's families from its own parameters and the memoised families upstream."""
        node = self.nodes[node_id]
        nt = self.registry.get(node.type_id)
        bound: dict[str, tuple[str, PortType]] = {}
        if nt is None:
            return bound
        if nt.passthrough:  # a reroute carries whatever type feeds it
            lk = self.links.get((node_id, nt.wires[0].name))
            if lk is not None and lk.src in self.nodes:
                bound[_THROUGH] = ("", self._resolved_output(lk.src, lk.src_port, memo.get(lk.src, {})))
            return bound
        if nt.family is not None:
            try:
                fam = nt.family(node.params, self.services)
            except Exception:
                fam = None
            if fam and fam != ANY_FAMILY:
                for o in nt.outputs:
                    if is_family_var(o.type.family):
                        bound.setdefault(o.type.family, (fam, o.type.with_family(fam)))
        # A LATENT binds a family only where nothing else does: sd15 and sd2 latents are interchangeable,
        # so a model, VAE or prompt says better which family the node works in.
        for decl in sorted(nt.wires, key=lambda w: w.type.kind is Kind.LATENT):
            var = decl.type.family
            if not is_family_var(var) or var in bound or decl.name == skip_port:
                continue
            lk = self.links.get((node_id, decl.name))
            if lk is None or lk.src not in self.nodes:
                continue
            src_t = self._resolved_output(lk.src, lk.src_port, memo.get(lk.src, {}))
            if src_t.concrete_family:
                bound[var] = (src_t.concrete_family, src_t)
        return bound

    def _resolved_output(self, node_id: str, port: str, families: dict[str, tuple[str, PortType]]) -> PortType:
        nt = self.registry.get(self.nodes[node_id].type_id)
        if nt is not None and nt.passthrough:
            through = families.get(_THROUGH)
            return through[1] if through else ANY_PORT
        decl = self._output_decl(self.nodes[node_id], port)
        if decl is None:
            return ANY_PORT
        t = decl.type
        hit = families.get(t.family) if is_family_var(t.family) else None
        return t.with_family(hit[0]) if hit else t

    def output_type(self, node_id: str, port: str, *, memo: dict | None = None) -> PortType:
        """An output's type with its family resolved as far as the graph allows."""
        decl = self._output_decl(self.nodes[node_id], port)
        nt = self.registry.get(self.nodes[node_id].type_id)
        passthrough = nt is not None and nt.passthrough
        if decl is None or not (passthrough or is_family_var(decl.type.family)):
            return ANY_PORT if decl is None else decl.type
        return self._resolved_output(node_id, port, self.bound_families(node_id, memo=memo))

    def consumer_types(self, node_id: str) -> list[tuple[str, PortType]]:
        """What a reroute's output feeds, through further reroutes: (node title, input type)."""
        return [(self.title_of(dst), t) for dst, _port, t in self._consumers(node_id)]

    def _consumers(self, node_id: str) -> list[tuple[str, str, PortType]]:
        """The inputs a reroute's output feeds, through further reroutes: (node id, input, type)."""
        found: list[tuple[str, str, PortType]] = []
        seen, stack = {node_id}, [node_id]
        while stack:
            current = stack.pop()
            for lk in self.outgoing(current):
                dst = self.nodes.get(lk.dst)
                if dst is None:
                    continue
                nt = self.registry.get(dst.type_id)
                if nt is not None and nt.passthrough:
                    if dst.id not in seen:
                        seen.add(dst.id)
                        stack.append(dst.id)
                    continue
                decl = self._input_decl(dst, lk.dst_port)
                if decl is not None:
                    found.append((dst.id, lk.dst_port, decl.type))
        return found

    def _reroute_verdict(self, src: str, src_port: str, dst: str, dst_port: str) -> Verdict:
        """A reroute takes its type from what is connected: what feeds it must suit everything it
        feeds, and what it feeds must suit what it already carries or feeds."""
        s_nt, d_nt = self.registry.get(self.nodes[src].type_id), self.registry.get(self.nodes[dst].type_id)
        if d_nt is not None and d_nt.passthrough:
            out_t = self.output_type(src, src_port)
            for consumer, port, in_t in self._consumers(dst):
                verdict = can_connect(out_t, in_t)
                if verdict and is_family_var(in_t.family) and out_t.concrete_family:
                    # as for a direct wire: the consumer's other inputs may have fixed the family
                    hit = self.bound_families(consumer, skip_port=port).get(in_t.family)
                    if hit and not families_fit(out_t, hit[1]):
                        verdict = Verdict(False, f"{out_t} does not fit {hit[1]}")
                if not verdict:
                    return Verdict(False, f"the reroute feeds {self.title_of(consumer)}: {verdict.reason}")
        if s_nt is not None and s_nt.passthrough and self.output_type(src, src_port).kind is Kind.ANY:
            # Nothing feeds it yet: what it (and every reroute of its tree) feeds fixes its type, and
            # a further reroute brings along what it feeds in turn.
            in_decl = self._input_decl(self.nodes[dst], dst_port)
            to_reroute = d_nt is not None and d_nt.passthrough
            joining = self.consumer_types(dst) if to_reroute else (
                [(self.title_of(dst), in_decl.type)] if in_decl is not None else [])
            for title, other in self.consumer_types(self._reroute_root(src)):
                for new_title, new_t in joining:
                    if Kind.ANY in (other.kind, new_t.kind) or other.kind is new_t.kind:
                        continue
                    if not to_reroute:
                        return Verdict(False, f"the reroute already carries {other.kind.value} to {title}")
                    return Verdict(False, f"the reroutes would carry {other.kind.value} to {title} and "
                                          f"{new_t.kind.value} to {new_title}")
        return Verdict(True)

    def _reroute_root(self, node_id: str) -> str:
        """The first reroute of the chain of reroutes that ends at ``node_id``."""
        seen = {node_id}
        while True:
            nt = self.registry.get(self.nodes[node_id].type_id)
            lk = self.links.get((node_id, nt.wires[0].name)) if nt is not None and nt.passthrough else None
            above = self.nodes.get(lk.src) if lk is not None else None
            above_nt = self.registry.get(above.type_id) if above is not None else None
            if above is None or above.id in seen or above_nt is None or not above_nt.passthrough:
                return node_id
            seen.add(above.id)
            node_id = above.id

    # -- links ----------------------------------------------------------------------------------
    def check_connection(self, src: str, src_port: str, dst: str, dst_port: str, *,
                         replace: bool = False) -> Verdict:
        if src not in self.nodes or dst not in self.nodes:
            return Verdict(False, "that node is not in the graph")
        s, d = self.nodes[src], self.nodes[dst]
        out_decl, in_decl = self._output_decl(s, src_port), self._input_decl(d, dst_port)
        if out_decl is None:
            return Verdict(False, f"{self.title_of(s)} has no output {src_port!r}")
        if in_decl is None:
            return Verdict(False, f"{self.title_of(d)} has no wire input {dst_port!r}")
        if src == dst:
            return Verdict(False, "a node cannot feed itself")
        existing = self.links.get((dst, dst_port))
        if existing is not None and not replace:
            if existing == Link(src, src_port, dst, dst_port):
                return Verdict(False, "these ports are already connected")
            return Verdict(False, f"{in_decl.display_name} of {self.title_of(d)} already has a wire")
        out_t = self.output_type(src, src_port)
        in_t = in_decl.type
        verdict = can_connect(out_t, in_t)
        if not verdict:
            return verdict
        if is_family_var(in_t.family) and out_t.concrete_family:
            hit = self.bound_families(dst, skip_port=dst_port).get(in_t.family)
            if hit and not families_fit(out_t, hit[1]):
                return Verdict(False, f"{out_t} does not fit {hit[1]}")
        if self._reaches(dst, src):
            return Verdict(False, "that wire would make a loop")
        return self._reroute_verdict(src, src_port, dst, dst_port)

    def connect(self, src: str, src_port: str, dst: str, dst_port: str, *, replace: bool = False) -> Link:
        verdict = self.check_connection(src, src_port, dst, dst_port, replace=replace)
        if not verdict:
            raise GraphError(verdict.reason)
        if (dst, dst_port) in self.links:
            self.disconnect(dst, dst_port)
        return self.insert_link(Link(src, src_port, dst, dst_port))

    def insert_link(self, link: Link) -> Link:
        """Add a link without type checks (file loading and undo: the file decides)."""
        if link.src not in self.nodes or link.dst not in self.nodes:
            raise GraphError("a link must join two nodes of the graph")
        self.links[(link.dst, link.dst_port)] = link
        self._notify("link_added", link=link)
        return link

    def disconnect(self, dst: str, dst_port: str) -> Link | None:
        link = self.links.pop((dst, dst_port), None)
        if link is not None:
            self._notify("link_removed", link=link)
        return link

    def incoming(self, node_id: str) -> dict[str, Link]:
        return {lk.dst_port: lk for lk in self.links.values() if lk.dst == node_id}

    def outgoing(self, node_id: str) -> list[Link]:
        return [lk for lk in self.links.values() if lk.src == node_id]

    def _reaches(self, start: str, goal: str) -> bool:
        """Whether ``goal`` is downstream of (or equal to) ``start``."""
        children: dict[str, list[str]] = {}
        for lk in self.links.values():
            children.setdefault(lk.src, []).append(lk.dst)
        seen, stack = set(), [start]
        while stack:
            n = stack.pop()
            if n == goal:
                return True
            if n not in seen:
                seen.add(n)
                stack.extend(children.get(n, ()))
        return False

    # -- groups ---------------------------------------------------------------------------------
    def add_group(self, title: str, rect: tuple[float, float, float, float], color: str | None = None,
                  *, group_id: str | None = None) -> Group:
        g = Group(group_id or new_id(), title, tuple(float(v) for v in rect), color)  # type: ignore[arg-type]
        self.groups.append(g)
        self._notify("group_added", group=g)
        return g

    def insert_group(self, group: Group, index: int | None = None) -> Group:
        """Add a fully formed group (undo, paste), at ``index`` in the drawing order."""
        if any(g.id == group.id for g in self.groups):
            raise GraphError(f"a group with id {group.id} already exists")
        self.groups.insert(len(self.groups) if index is None else index, group)
        self._notify("group_added", group=group)
        return group

    def remove_group(self, group_id: str) -> Group:
        g = self.group(group_id)
        self.groups.remove(g)
        self._notify("group_removed", group=g)
        return g

    def group(self, group_id: str) -> Group:
        hit = next((g for g in self.groups if g.id == group_id), None)
        if hit is None:
            raise GraphError(f"no group with id {group_id}")
        return hit

    def set_group(self, group_id: str, *, title: str | None = None,
                  rect: tuple[float, float, float, float] | None = None, color: str | None | bool = False) -> None:
        """Rename, move or resize, or recolour a group (``color=None`` restores the default)."""
        g = self.group(group_id)
        _check_color(color)
        if title is not None:
            g.title = title
        if rect is not None:
            g.rect = (float(rect[0]), float(rect[1]), max(1.0, float(rect[2])), max(1.0, float(rect[3])))
        if color is not False:
            g.color = color or None  # type: ignore[assignment]
        self._notify("group_changed", group=g)

    # -- order and validation -------------------------------------------------------------------
    def topological_order(self) -> list[str]:
        indeg = dict.fromkeys(self.nodes, 0)
        children: dict[str, list[str]] = {n: [] for n in self.nodes}
        for lk in self.links.values():
            if lk.src in self.nodes and lk.dst in self.nodes:
                indeg[lk.dst] += 1
                children[lk.src].append(lk.dst)
        ready = [n for n, d in indeg.items() if d == 0]
        order: list[str] = []
        i = 0
        while i < len(ready):
            n = ready[i]
            i += 1
            order.append(n)
            for c in children[n]:
                indeg[c] -= 1
                if indeg[c] == 0:
                    ready.append(c)
        if len(order) != len(self.nodes):
            raise GraphError("the graph has a loop")
        return order

    def validate(self, plan: Any = None) -> list[Problem]:
        """Every problem in the graph, each naming its node (id and title) and port. Nodes that do
        not run (muted, needing a muted node, notes) have none; a bypassed node only the bypass
        it cannot do."""
        from .graph_validate import validate_graph  # local import: validation reads the graph

        return validate_graph(self, plan)

    # -- whole-graph helpers --------------------------------------------------------------------
    def clear(self) -> None:
        for node_id in list(self.nodes):
            self.remove_node(node_id)
        for g in list(self.groups):
            self.remove_group(g.id)
        self.models, self.rng, self.extra, self.unknown, self.environment = [], {}, {}, {}, {}

    def find_nodes(self, ref: str) -> list[Node]:
        """Nodes whose id, or else whose title, equals ``ref`` (used by ``--set NODE.PARAM``)."""
        if ref in self.nodes:
            return [self.nodes[ref]]
        hits = [n for n in self.nodes.values() if self.title_of(n) == ref]
        if not hits:
            hits = [n for n in self.nodes.values() if self.title_of(n).lower() == ref.lower()]
        return hits

    def snapshot(self, targets: Iterable[str] | None = None) -> GraphSnapshot:
        from .snapshot import GraphSnapshot  # local import: the snapshot module reads the graph

        return GraphSnapshot.of(self, targets)
