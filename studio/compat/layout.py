"""Positions for imported nodes that came without any: columns by distance from the sources."""

from __future__ import annotations

from studio.core.graph import Graph

COLUMN, ROW = 340.0, 240.0


def auto_layout(graph: Graph) -> None:
    depth: dict[str, int] = {}
    for node_id in graph.topological_order():
        ups = [depth[lk.src] for lk in graph.incoming(node_id).values() if lk.src in depth]
        depth[node_id] = max(ups, default=-1) + 1
    rows: dict[int, int] = {}
    for node_id in graph.topological_order():
        col = depth[node_id]
        row = rows.get(col, 0)
        rows[col] = row + 1
        graph.set_pos(node_id, (col * COLUMN, row * ROW))
