"""Positions for imported nodes that came without any: columns by distance from the sources."""

from __future__ import annotations

from studio.core.graph import Graph

COLUMN, ROW = 340.0, 240.0


def auto_layout(graph: Graph) -> None:
    sources: dict[str, list[str]] = {}
    for lk in graph.links.values():  # indexed once: asking the graph per node would be quadratic
        sources.setdefault(lk.dst, []).append(lk.src)
    order = graph.topological_order()
    depth: dict[str, int] = {}
    for node_id in order:
        ups = [depth[src] for src in sources.get(node_id, ()) if src in depth]
        depth[node_id] = max(ups, default=-1) + 1
    rows: dict[int, int] = {}
    for node_id in order:
        col = depth[node_id]
        row = rows.get(col, 0)
        rows[col] = row + 1
        graph.set_pos(node_id, (col * COLUMN, row * ROW))
