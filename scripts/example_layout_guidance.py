"""Write resources/workflows/layout_guidance.json: a cat on the left and a dog on the right, placed by
two chained Layout Guidance nodes (training-free: no extra model). Run from the repository root:
``python scripts/example_layout_guidance.py``."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from make_example_workflows import CHECKPOINT, OUT, _finish, _id, _wire  # noqa: E402

from studio.core.graph import Graph  # noqa: E402
from studio.core.registry import default_registry  # noqa: E402
from studio.core.workflow import save  # noqa: E402

FLOW = "layout_guidance"
PROMPT = "a cat and a dog on a sofa, living room, photo, detailed"
NEGATIVE = "blurry, low quality, deformed"
# (phrase, x, y, width, height) on the 512×512 image.
BOXES = (("cat", 32, 160, 208, 288), ("dog", 272, 160, 208, 288))


def build(g: Graph) -> None:
    f = FLOW
    ck = g.add_node("model.checkpoint", (0, 0), {"checkpoint": CHECKPOINT}, node_id=_id(f, "ckpt")).id
    pos = g.add_node("text.encode", (340, 0), {"text": PROMPT}, node_id=_id(f, "positive"), title="Prompt")
    neg = g.add_node("text.encode", (340, 220), {"text": NEGATIVE}, node_id=_id(f, "negative"),
                     title="Negative prompt")
    lat = g.add_node("latent.empty", (340, 460), {"width": 512, "height": 512}, node_id=_id(f, "latent"))
    model = (ck, "model")
    for i, (phrase, x, y, w, h) in enumerate(BOXES):
        guide = g.add_node("guidance.layout", (340 + 330 * i, 680),
                           {"phrase": phrase, "x": x, "y": y, "width": w, "height": h, "loss_scale": 30.0,
                            "iterations": 5, "steps": 10},
                           node_id=_id(f, f"guide_{phrase}"), title=f"Layout: {phrase}")
        _wire(g, (*model, guide.id, "model"))
        model = (guide.id, "model")
    smp = g.add_node("sample.sampler", (1040, 0), {"seed": 11, "steps": 30, "cfg": 7.5, "sampler": "euler",
                                                   "scheduler": "normal"}, node_id=_id(f, "sampler"))
    _wire(g, (*model, smp.id, "model"), (ck, "clip", pos.id, "clip"), (ck, "clip", neg.id, "clip"),
          (pos.id, "conditioning", smp.id, "positive"), (neg.id, "conditioning", smp.id, "negative"),
          (lat.id, "latent", smp.id, "latent"))
    _finish(g, f, ck, smp.id, f, x=1380)


def main() -> None:
    g = Graph(default_registry())
    build(g)
    save(g, OUT / f"{FLOW}.json")
    print(OUT / f"{FLOW}.json")


if __name__ == "__main__":
    main()
