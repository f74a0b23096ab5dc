"""Write the example workflows in resources/workflows/ through the graph API (so they are always
valid files of the current format). Node ids are stable UUIDs derived from readable names."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from pathlib import Path

from studio.core.graph import Graph
from studio.core.registry import default_registry
from studio.core.workflow import save

OUT = Path(__file__).resolve().parents[1] / "resources" / "workflows"
NS = uuid.UUID("5b0c8f55-3c4e-4a43-9d0a-6a5f8f3f9e10")


def _id(flow: str, name: str) -> str:
    return str(uuid.uuid5(NS, f"{flow}/{name}"))


def canny(g: Graph) -> None:
    load = g.add_node("image.load", (0, 0), {"image": "images/sample.png"}, node_id=_id("canny", "load"))
    edges = g.add_node("preprocess.canny", (320, 0), node_id=_id("canny", "canny"))
    out = g.add_node("image.save", (640, 0), {"prefix": "canny"}, node_id=_id("canny", "save"))
    g.connect(load.id, "image", edges.id, "image")
    g.connect(edges.id, "image", out.id, "images")


def first_run(g: Graph) -> None:
    """Opened on a first launch: runs with no model at all."""
    load = g.add_node("image.load", (0, 0), {"image": "images/sample.png"}, node_id=_id("first", "load"))
    edges = g.add_node("preprocess.canny", (320, 0), node_id=_id("first", "canny"))
    show = g.add_node("image.preview", (640, 0), node_id=_id("first", "preview"))
    g.connect(load.id, "image", edges.id, "image")
    g.connect(edges.id, "image", show.id, "images")


EXAMPLES: dict[str, Callable[[Graph], None]] = {"canny": canny, "first_run": first_run}


def main() -> None:
    reg = default_registry()
    for name, build in EXAMPLES.items():
        g = Graph(reg)
        build(g)
        save(g, OUT / f"{name}.json")
        print(OUT / f"{name}.json")


if __name__ == "__main__":
    main()
