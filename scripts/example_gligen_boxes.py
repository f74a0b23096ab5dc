"""Write resources/workflows/gligen_boxes.json: a living room whose sofa, lamp and plant are placed by
three chained GLIGEN Text Box nodes (needs ComfyUI's gligen_sd14_textbox_pruned.safetensors in gligen/).
Run from the repository root: ``python scripts/example_gligen_boxes.py``."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from make_example_workflows import CHECKPOINT, OUT, _finish, _id, _wire  # noqa: E402

from studio.core.graph import Graph  # noqa: E402
from studio.core.registry import default_registry  # noqa: E402
from studio.core.workflow import save  # noqa: E402

FLOW = "gligen_boxes"
GLIGEN = "gligen_sd14_textbox_pruned.safetensors"
PROMPT = "a cosy living room with a sofa, a lamp and a plant, photo, soft daylight, detailed"
NEGATIVE = "blurry, low quality, deformed"
# (phrase, x, y, width, height) on the 512×512 image, in pixels.
BOXES = (("a grey sofa", 48, 272, 320, 192), ("a floor lamp", 48, 64, 96, 208), ("a green plant", 384, 160, 96, 304))


def build(g: Graph) -> None:
    f = FLOW
    ck = g.add_node("model.checkpoint", (0, 0), {"checkpoint": CHECKPOINT}, node_id=_id(f, "ckpt")).id
    pos = g.add_node("text.encode", (340, 0), {"text": PROMPT}, node_id=_id(f, "positive"), title="Prompt")
    neg = g.add_node("text.encode", (340, 220), {"text": NEGATIVE}, node_id=_id(f, "negative"),
                     title="Negative prompt")
    gligen = g.add_node("model.gligen", (0, 460), {"gligen_name": GLIGEN}, node_id=_id(f, "gligen"))
    lat = g.add_node("latent.empty", (340, 460), {"width": 512, "height": 512}, node_id=_id(f, "latent"))
    _wire(g, (ck, "clip", pos.id, "clip"), (ck, "clip", neg.id, "clip"))
    cond = (pos.id, "conditioning")
    for i, (phrase, x, y, w, h) in enumerate(BOXES):
        box = g.add_node("conditioning.gligen_box", (340 + 330 * i, 680),
                         {"text": phrase, "x": x, "y": y, "width": w, "height": h, "beta": 0.3},
                         node_id=_id(f, f"box_{i}"), title=f"Box: {phrase}")
        _wire(g, (*cond, box.id, "conditioning_to"), (ck, "clip", box.id, "clip"), (gligen.id, "gligen", box.id, "gligen"))
        cond = (box.id, "conditioning")
    smp = g.add_node("sample.sampler", (1040, 0), {"seed": 5, "steps": 30, "cfg": 7.5, "sampler": "euler",
                                                   "scheduler": "normal"}, node_id=_id(f, "sampler"))
    _wire(g, (ck, "model", smp.id, "model"), (*cond, smp.id, "positive"), (neg.id, "conditioning", smp.id, "negative"),
          (lat.id, "latent", smp.id, "latent"))
    _finish(g, f, ck, smp.id, f, x=1380)
    g.add_group("Boxes", (320, 640, 1020, 300), "#2e4f6b", group_id=_id(f, "group"))


def main() -> None:
    g = Graph(default_registry())
    build(g)
    save(g, OUT / f"{FLOW}.json")
    print(OUT / f"{FLOW}.json")


if __name__ == "__main__":
    main()
