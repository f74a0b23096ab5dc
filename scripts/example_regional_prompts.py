"""Write resources/workflows/regional_prompts.json: a 768×512 scene whose background prompt covers the
whole frame while area prompts place a fox on the left, an owl on the right and a moon in the sky
(Conditioning Area nodes combined; the box editor shows and moves their rectangles).
Run from the repository root: ``python scripts/example_regional_prompts.py``."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from make_example_workflows import CHECKPOINT, OUT, _finish, _id, _wire  # noqa: E402

from studio.core.graph import Graph  # noqa: E402
from studio.core.registry import default_registry  # noqa: E402
from studio.core.workflow import save  # noqa: E402

FLOW = "regional_prompts"
WIDTH, HEIGHT = 768, 512
BACKGROUND = "a quiet forest clearing at dusk, soft light, detailed illustration"
NEGATIVE = "blurry, low quality, deformed"
# (name, prompt, x, y, width, height, strength) on the 768×512 image, in pixels.
AREAS = (
    ("left", "a red fox sitting in the grass", 0, 160, 384, 352, 1.0),
    ("right", "a white owl on a tree stump", 384, 160, 384, 352, 1.0),
    ("sky", "a crescent moon and stars in a deep blue sky", 0, 0, 768, 192, 0.8),
)


def build(g: Graph) -> None:
    f = FLOW
    ck = g.add_node("model.checkpoint", (0, 0), {"checkpoint": CHECKPOINT}, node_id=_id(f, "ckpt")).id
    bg = g.add_node("text.encode", (340, 0), {"text": BACKGROUND}, node_id=_id(f, "background"),
                    title="Background (whole frame)")
    neg = g.add_node("text.encode", (340, 220), {"text": NEGATIVE}, node_id=_id(f, "negative"),
                     title="Negative prompt")
    lat = g.add_node("latent.empty", (340, 440), {"width": WIDTH, "height": HEIGHT}, node_id=_id(f, "latent"))
    _wire(g, (ck, "clip", bg.id, "clip"), (ck, "clip", neg.id, "clip"))
    cond = (bg.id, "conditioning")
    for i, (name, text, x, y, w, h, strength) in enumerate(AREAS):
        col = 340 + 330 * i
        enc = g.add_node("text.encode", (col, 680), {"text": text}, node_id=_id(f, f"{name}_prompt"),
                         title=f"Prompt: {name}")
        area = g.add_node("conditioning.set_area", (col, 900),
                          {"x": x, "y": y, "width": w, "height": h, "strength": strength},
                          node_id=_id(f, f"{name}_area"), title=f"Area: {name}")
        join = g.add_node("conditioning.combine", (col, 1120), node_id=_id(f, f"{name}_combine"))
        _wire(g, (ck, "clip", enc.id, "clip"), (enc.id, "conditioning", area.id, "conditioning"),
              (*cond, join.id, "conditioning_1"), (area.id, "conditioning", join.id, "conditioning_2"))
        cond = (join.id, "conditioning")
    smp = g.add_node("sample.sampler", (1380, 0), {"seed": 11, "steps": 25, "cfg": 7.0, "sampler": "dpmpp_2m",
                                                   "scheduler": "karras"}, node_id=_id(f, "sampler"))
    _wire(g, (ck, "model", smp.id, "model"), (*cond, smp.id, "positive"), (neg.id, "conditioning", smp.id, "negative"),
          (lat.id, "latent", smp.id, "latent"))
    _finish(g, f, ck, smp.id, f, x=1720)
    g.add_group("Regions", (320, 640, 1020, 660), "#4f6b2e", group_id=_id(f, "group"))


def main() -> None:
    g = Graph(default_registry())
    build(g)
    save(g, OUT / f"{FLOW}.json")
    print(OUT / f"{FLOW}.json")


if __name__ == "__main__":
    main()
