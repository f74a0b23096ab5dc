"""Arrange commands for the canvas: align, distribute and auto-layout. Pure geometry, no Qt.

Every function returns new top-left positions and changes nothing; the canvas turns them into one
undoable move. Rectangles are ``(x, y, width, height)`` with the origin top-left and y pointing down.

Auto-layout places nodes left to right by dependency:

* layers by the longest path from the sources, each layer a column as wide as its widest node plus
  ``gap_x``; nodes are left-aligned in their column, so every wire runs strictly rightwards;
* within a column, nodes are ordered by barycenter sweeps (the mean vertical centre of their
  neighbours in the columns already placed), ties kept in the previous order, which starts as the
  current top-to-bottom order; then stacked with ``gap_y``, each column centred on the middle of
  the tallest one;
* nodes with no wire among the laid-out nodes (notes, say) go in rows below the columns, in their
  current left-to-right order, wrapped at the width of the columns (into a roughly square block
  when nothing is wired);
* the result keeps the top-left of the laid-out nodes' bounding box where it was. Other nodes of
  the graph do not move, so a laid-out subset may end up covering them.

A loop (possible only through a file) falls back to the current left-to-right order, and wires
that run against it are left out of the layout. A node missing from ``sizes`` counts as
``DEFAULT_SIZE``. Ids not in the graph are ignored. The whole layout is O(E + V log V).
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Iterable, Mapping

from .graph import Graph

Rect = tuple[float, float, float, float]  # x, y, width, height
Point = tuple[float, float]
Size = tuple[float, float]

EDGES = ("left", "right", "top", "bottom", "hcenter", "vcenter")
AXES = ("horizontal", "vertical")
DEFAULT_SIZE: Size = (200.0, 100.0)
SWEEPS = 4  # down, up, down, up: enough to untangle typical graphs, cheap on big ones


# -- align and distribute -----------------------------------------------------------------------
def align(rects: Mapping[str, Rect], edge: str) -> dict[str, Point]:
    """Line up the rectangles' ``edge`` with that edge of their bounding box (centres with its
    centre); the other coordinate stays."""
    if edge not in EDGES:
        raise ValueError(f"no alignment {edge!r}; expected one of {', '.join(EDGES)}")
    if not rects:
        return {}
    a = 0 if edge in ("left", "right", "hcenter") else 1  # the coordinate that changes
    lo = min(r[a] for r in rects.values())
    hi = max(r[a] + r[a + 2] for r in rects.values())
    out: dict[str, Point] = {}
    for key, r in rects.items():
        length = r[a + 2]
        if edge in ("left", "top"):
            new = lo
        elif edge in ("right", "bottom"):
            new = hi - length
        else:
            new = (lo + hi) / 2 - length / 2
        out[key] = _with(r, a, new)
    return out


def distribute(rects: Mapping[str, Rect], axis: str) -> dict[str, Point]:
    """Equal gaps between neighbours along ``axis``; the first and last (by leading edge) stay.
    Fewer than three rectangles are returned where they are."""
    if axis not in AXES:
        raise ValueError(f"no axis {axis!r}; expected one of {', '.join(AXES)}")
    out = {key: (float(r[0]), float(r[1])) for key, r in rects.items()}
    if len(rects) < 3:
        return out
    a = 0 if axis == "horizontal" else 1
    order = sorted(rects, key=lambda k: (rects[k][a], rects[k][a] + rects[k][a + 2] / 2, k))
    first, last = rects[order[0]], rects[order[-1]]
    inner = sum(rects[k][a + 2] for k in order[1:-1])
    gap = (last[a] - (first[a] + first[a + 2]) - inner) / (len(order) - 1)
    cursor = first[a] + first[a + 2] + gap
    for key in order[1:-1]:
        out[key] = _with(rects[key], a, cursor)
        cursor += rects[key][a + 2] + gap
    return out


def _with(r: Rect, axis: int, value: float) -> Point:
    return (float(value), float(r[1])) if axis == 0 else (float(r[0]), float(value))


# -- auto-layout --------------------------------------------------------------------------------
def auto_layout(graph: Graph, sizes: Mapping[str, Size], node_ids: Iterable[str] | None = None,
                *, gap_x: float = 80.0, gap_y: float = 40.0) -> dict[str, Point]:
    """Top-left positions for ``node_ids`` (every node when None), laid out left to right by their
    wires among themselves; see the module's description."""
    gap_x, gap_y = max(0.0, float(gap_x)), max(0.0, float(gap_y))
    ids = _members(graph, node_ids)
    if not ids:
        return {}
    size = {n: _size(sizes, n) for n in ids}
    pos = {n: graph.nodes[n].pos for n in ids}
    # The current left-to-right order: the fallback for a loop and the order of unwired nodes.
    by_x = sorted(ids, key=lambda n: (pos[n][0], pos[n][1], n))
    preds, succs = _edges(graph, ids)
    order = _topological(by_x, preds, succs)
    if order is None:
        order = by_x
        _drop_backward(order, preds, succs)
    wired = [n for n in order if preds[n] or succs[n]]
    loose = [n for n in by_x if not (preds[n] or succs[n])]

    columns = _columns(wired, preds, pos)
    _reduce_crossings(columns, preds, succs, size, gap_y)
    out, width, height = _place_columns(columns, size, gap_x, gap_y)
    _place_loose(out, loose, size, width, height + gap_y if columns else 0.0, gap_x, gap_y)

    # Keep the bounding box's top-left where it was.
    dx = min(p[0] for p in pos.values()) - min(p[0] for p in out.values())
    dy = min(p[1] for p in pos.values()) - min(p[1] for p in out.values())
    return {n: (out[n][0] + dx, out[n][1] + dy) for n in ids}


def _members(graph: Graph, node_ids: Iterable[str] | None) -> list[str]:
    """The nodes to lay out, each once, in the order given (the graph's order when None)."""
    if node_ids is None:
        return list(graph.nodes)
    return [n for n in dict.fromkeys(node_ids) if n in graph.nodes]


def _size(sizes: Mapping[str, Size], node_id: str) -> Size:
    w, h = sizes.get(node_id, DEFAULT_SIZE)
    return max(0.0, float(w)), max(0.0, float(h))


def _edges(graph: Graph, ids: list[str]) -> tuple[dict[str, list[str]], dict[str, list[str]]]:
    """Predecessors and successors along the wires among ``ids`` (several wires between two nodes
    count once; a wire from a node to itself not at all)."""
    members = dict.fromkeys(ids)
    preds: dict[str, list[str]] = {n: [] for n in ids}
    succs: dict[str, list[str]] = {n: [] for n in ids}
    seen: set[tuple[str, str]] = set()
    for lk in graph.links.values():
        pair = (lk.src, lk.dst)
        if lk.src != lk.dst and lk.src in members and lk.dst in members and pair not in seen:
            seen.add(pair)
            preds[lk.dst].append(lk.src)
            succs[lk.src].append(lk.dst)
    return preds, succs


def _topological(by_x: list[str], preds: dict[str, list[str]],
                 succs: dict[str, list[str]]) -> list[str] | None:
    """Sources first, ready nodes taken in their current left-to-right order; None on a loop."""
    rank = {n: i for i, n in enumerate(by_x)}
    indeg = {n: len(preds[n]) for n in by_x}
    ready = [(rank[n], n) for n in by_x if indeg[n] == 0]
    heapq.heapify(ready)
    order: list[str] = []
    while ready:
        _, n = heapq.heappop(ready)
        order.append(n)
        for c in succs[n]:
            indeg[c] -= 1
            if indeg[c] == 0:
                heapq.heappush(ready, (rank[c], c))
    return order if len(order) == len(by_x) else None


def _drop_backward(order: list[str], preds: dict[str, list[str]], succs: dict[str, list[str]]) -> None:
    """Leave out the wires that run against ``order`` (those closing a loop, among others)."""
    index = {n: i for i, n in enumerate(order)}
    for n in order:
        preds[n] = [p for p in preds[n] if index[p] < index[n]]
        succs[n] = [s for s in succs[n] if index[s] > index[n]]


def _columns(order: list[str], preds: dict[str, list[str]], pos: dict[str, Point]) -> list[list[str]]:
    """Columns by the longest path from the sources, each in its nodes' current top-down order."""
    layer: dict[str, int] = {}
    for n in order:
        layer[n] = max((layer[p] + 1 for p in preds[n]), default=0)
    columns: list[list[str]] = [[] for _ in range(max(layer.values(), default=-1) + 1)]
    for n in order:
        columns[layer[n]].append(n)
    for col in columns:
        col.sort(key=lambda n: (pos[n][1], pos[n][0], n))
    return columns


def _reduce_crossings(columns: list[list[str]], preds: dict[str, list[str]], succs: dict[str, list[str]],
                      size: dict[str, Size], gap_y: float) -> None:
    """Barycenter sweeps, alternately rightwards (by predecessors) and leftwards (by successors).
    Vertical centres, not ranks, are compared, as columns of different heights are centred."""
    centre: dict[str, float] = {}

    def stack(col: list[str]) -> None:
        y = -_column_height(col, size, gap_y) / 2
        for n in col:
            centre[n] = y + size[n][1] / 2
            y += size[n][1] + gap_y

    for col in columns:
        stack(col)
    for sweep in range(SWEEPS):
        rightwards = sweep % 2 == 0
        sequence = range(1, len(columns)) if rightwards else range(len(columns) - 2, -1, -1)
        neighbours = preds if rightwards else succs
        for i in sequence:
            col = columns[i]
            keys: dict[str, tuple[float, int]] = {}
            for index, n in enumerate(col):
                near = neighbours[n]
                bary = sum(centre[m] for m in near) / len(near) if near else centre[n]
                keys[n] = (bary, index)
            col.sort(key=keys.__getitem__)
            stack(col)


def _column_height(col: list[str], size: dict[str, Size], gap_y: float) -> float:
    return sum(size[n][1] for n in col) + gap_y * max(0, len(col) - 1)


def _place_columns(columns: list[list[str]], size: dict[str, Size], gap_x: float,
                   gap_y: float) -> tuple[dict[str, Point], float, float]:
    """Positions with the layout's top-left at the origin; also its width and height."""
    out: dict[str, Point] = {}
    heights = [_column_height(col, size, gap_y) for col in columns]
    tallest = max(heights, default=0.0)
    x = 0.0
    for col, height in zip(columns, heights, strict=True):
        y = (tallest - height) / 2
        for n in col:
            out[n] = (x, y)
            y += size[n][1] + gap_y
        x += max(size[n][0] for n in col) + gap_x
    return out, max(0.0, x - gap_x), tallest


def _place_loose(out: dict[str, Point], loose: list[str], size: dict[str, Size], width: float, top: float,
                 gap_x: float, gap_y: float) -> None:
    """Unwired nodes in rows from ``(0, top)``, wrapped at ``width`` (or, with no columns above,
    at about the side of a square holding them all)."""
    if not loose:
        return
    if width <= 0:  # the widest node added so that a row is never narrower than the square
        area = sum((size[n][0] + gap_x) * (size[n][1] + gap_y) for n in loose)
        width = math.sqrt(area) + max(size[n][0] for n in loose)
    x, row_height = 0.0, 0.0
    for n in loose:
        w, h = size[n]
        if x > 0 and x + w > width:
            top += row_height + gap_y
            x, row_height = 0.0, 0.0
        out[n] = (x, top)
        x += w + gap_x
        row_height = max(row_height, h)
