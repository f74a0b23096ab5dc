"""What the box editor reads from and writes to the graph: the box nodes, their labels, their
rectangles in output pixels, and the output size they are drawn on.

The output size is found in this order (``output_size``):
1. the latent the boxes' sampler starts from: follow the box node's wires downstream to the first node
   with a LATENT input, then that input upstream to the first node with ``width`` and ``height``
   parameters (Empty Latent, say);
2. else the size of the image in the preview pane;
3. else 512×512.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from PySide6.QtCore import QRectF, QSize

from studio.core.graph import Graph, Node
from studio.core.nodetype import BoxParams, NodeType
from studio.core.types import Kind

SNAP_PX = 8  # pixel boxes snap to 8 px: one latent pixel
RELATIVE_SNAP = 0.01  # relative boxes snap to 1 % of the output
DEFAULT_SIZE = (512, 512)


# --- reading and writing a node's box ------------------------------------------------------------------

def box_nodes(graph: Graph) -> list[Node]:
    """The graph's nodes whose type declares a box, in graph order."""
    return [n for n in graph.nodes.values() if (nt := graph.node_type(n)) is not None and nt.box is not None]


def _number(value: Any) -> float:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else 0.0


PROMPT_PARAMS = ("text", "prompt", "text_g")  # where a text encoder keeps its prompt


def label_source(graph: Graph, node: Node) -> tuple[str, str | None]:
    """Where a box's phrase lives, as (node id, parameter name): the box's own label parameter; for a
    box without one (an area), the prompt of the text node wired into its conditioning; else
    (node id, None): the node's title."""
    nt = graph.node_type(node)
    if nt is not None and nt.box is not None and nt.box.label:
        return node.id, nt.box.label
    for port, link in graph.incoming(node.id).items():
        decl = nt.input(port) if nt is not None else None
        if decl is None or decl.kind is not Kind.CONDITIONING or link.src not in graph.nodes:
            continue
        src = graph.nodes[link.src]
        src_type = graph.node_type(src)
        for name in PROMPT_PARAMS:
            inp = src_type.input(name) if src_type is not None else None
            if inp is not None and inp.kind is Kind.STRING and str(src.params.get(name) or "").strip():
                return src.id, name
    return node.id, None


def box_label(graph: Graph, node: Node) -> str:
    """The box's label: its phrase (see ``label_source``) on one line, else the node's title."""
    source, name = label_source(graph, node)
    text = str(graph.nodes[source].params.get(name) or "") if name else ""
    return " ".join(text.split()) or graph.title_of(node)


def read_rect(spec: BoxParams, params: dict[str, Any], size: tuple[float, float]) -> QRectF:
    """The node's rectangle in output pixels."""
    x, y, w, h = (_number(params.get(n)) for n in spec.names)
    if spec.relative:
        return QRectF(x * size[0], y * size[1], w * size[0], h * size[1])
    return QRectF(x, y, w, h)


def _clamp(value: float, nt: NodeType, name: str) -> float:
    inp = nt.input(name)
    if inp is not None and inp.min is not None:
        value = max(value, float(inp.min))
    if inp is not None and inp.max is not None:
        value = min(value, float(inp.max))
    return value


def rect_values(nt: NodeType, rect: QRectF, size: tuple[float, float]) -> dict[str, int | float]:
    """Parameter values for ``rect`` (output pixels): whole pixels, or fractions of the output rounded to
    four places for a relative box; each kept within its parameter's range."""
    spec = nt.box
    assert spec is not None
    coords = (rect.x(), rect.y(), rect.width(), rect.height())
    out: dict[str, int | float] = {}
    for i, (name, value) in enumerate(zip(spec.names, coords, strict=True)):
        if spec.relative:
            out[name] = round(_clamp(value / size[i % 2], nt, name), 4)
        else:
            out[name] = int(round(_clamp(round(value), nt, name)))
    return out


def grid_and_min(nt: NodeType, size: tuple[float, float]) -> tuple[tuple[float, float], tuple[float, float]]:
    """Snap step and smallest width/height in output pixels, from the box's kind and parameter ranges."""
    spec = nt.box
    assert spec is not None
    if spec.relative:
        grid = (size[0] * RELATIVE_SNAP, size[1] * RELATIVE_SNAP)
        lows = [(nt.input(n).min or 0.0) * size[i] if nt.input(n) else 0.0  # type: ignore[union-attr]
                for i, n in enumerate((spec.width, spec.height))]
    else:
        steps = [max(SNAP_PX, int(nt.input(n).step or 1) if nt.input(n) else 1)  # type: ignore[union-attr]
                 for n in (spec.width, spec.height)]
        grid = (float(steps[0]), float(steps[1]))
        lows = [float(nt.input(n).min or 0) if nt.input(n) else 0.0  # type: ignore[union-attr]
                for n in (spec.width, spec.height)]
    return grid, (max(grid[0], lows[0]), max(grid[1], lows[1]))


# --- the size the boxes are drawn on ---------------------------------------------------------------------

def _has_latent_input(graph: Graph, node: Node) -> str | None:
    """The name of ``node``'s connected LATENT input, if any (a sampler's)."""
    nt = graph.node_type(node)
    for inp in nt.wires if nt is not None else ():
        if inp.kind is Kind.LATENT and (node.id, inp.name) in graph.links:
            return inp.name
    return None


def _bfs(start: Iterable[str], step: Callable[[str], Iterable[str]]) -> Iterable[str]:
    seen: set[str] = set()
    queue = list(start)
    while queue:
        nid = queue.pop(0)
        if nid in seen:
            continue
        seen.add(nid)
        yield nid
        queue.extend(step(nid))


def latent_size(graph: Graph, node_id: str) -> tuple[int, int, str] | None:
    """Width, height and the source's title of the latent that the sampler downstream of ``node_id``
    starts from (see the module's doc), or None."""
    downstream = _bfs([node_id], lambda n: [lk.dst for lk in graph.outgoing(n)])
    sampler = next((n for n in downstream if _has_latent_input(graph, graph.nodes[n])), None)
    if sampler is None:
        return None
    port = _has_latent_input(graph, graph.nodes[sampler])
    first = graph.links[(sampler, port)].src  # type: ignore[index]
    for nid in _bfs([first], lambda n: [lk.src for lk in graph.incoming(n).values()]):
        params = graph.nodes[nid].params
        w, h = params.get("width"), params.get("height")
        if all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in (w, h)):
            return int(w), int(h), graph.title_of(nid)  # type: ignore[arg-type]
    return None


def output_size(graph: Graph, node_ids: Iterable[str], image: QSize | None = None) -> tuple[int, int, str]:
    """The output size (width, height) the boxes of ``node_ids`` are drawn on, and where it came from."""
    for nid in node_ids:
        if nid in graph.nodes:
            found = latent_size(graph, nid)
            if found is not None:
                return found
    if image is not None and image.width() > 0 and image.height() > 0:
        return image.width(), image.height(), "the preview image"
    return DEFAULT_SIZE[0], DEFAULT_SIZE[1], "default"


# --- the panel ----------------------------------------------------------------------------------------------
