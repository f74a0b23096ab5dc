"""Small node types for testing the core: cheap, counting, and able to fail or wait on demand."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable

import numpy as np

from studio.core.context import NodeFailure
from studio.core.nodetype import Choice, Float, Int, Out, Seed, SeedControl, String, Wire, node
from studio.core.registry import Registry

CALLS: Counter[str] = Counter()
SINK_LOG: list[tuple[str, float]] = []
HOOKS: dict[str, Callable[..., None]] = {}


@node("test.source", title="Source", category="Test", inputs=[Float("value", 1.0, min=-10, max=10)],
      outputs=[Out("image", "IMAGE")])
def source(ctx, value):
    CALLS["source"] += 1
    return np.full((1, 4, 4, 3), value, np.float32)


@node("test.add", title="Add", category="Test",
      inputs=[Wire("a", "IMAGE"), Wire("b", "IMAGE", optional=True), Float("offset", 0.0)],
      outputs=[Out("image", "IMAGE")])
def add(ctx, a, b, offset):
    CALLS["add"] += 1
    return a + (b if b is not None else 0) + offset


@node("test.big", title="Big", category="Test", inputs=[Int("kib", 64, min=1, max=1 << 20)],
      outputs=[Out("image", "IMAGE")])
def big(ctx, kib):
    CALLS["big"] += 1
    return np.zeros((1, kib, 256, 1), np.float32)  # kib KiB


@node("test.fail", title="Fail", category="Test", inputs=[Wire("image", "IMAGE")],
      outputs=[Out("image", "IMAGE")])
def fail(ctx, image):
    CALLS["fail"] += 1
    raise NodeFailure("this node always fails")


@node("test.crash", title="Crash", category="Test", inputs=[Wire("image", "IMAGE")],
      outputs=[Out("image", "IMAGE")])
def crash(ctx, image):
    CALLS["crash"] += 1
    return {}["missing"]


@node("test.steps", title="Steps", category="Test", inputs=[Wire("image", "IMAGE"), Int("steps", 5, min=1)],
      outputs=[Out("image", "IMAGE")])
def steps(ctx, image, steps):
    CALLS["steps"] += 1
    for i in range(steps):
        ctx.check_cancel()
        ctx.progress((i + 1) / steps, f"step {i + 1}")
        ctx.preview(np.zeros((8, 8, 3), np.uint8), step=i + 1)  # steps count from 1, as the sampler's
        if "step" in HOOKS:
            HOOKS["step"](i)
    return image


@node("test.sink", title="Sink", category="Test", side_effect=True,
      inputs=[Wire("image", "IMAGE"), String("tag", "out")], outputs=[])
def sink(ctx, image, tag):
    CALLS["sink"] += 1
    SINK_LOG.append((tag, float(image.mean())))
    ctx.add_output_file(f"{tag}.txt")


def _family(params, services):
    return params.get("family")


@node("test.model", title="Model", category="Test", inputs=[Choice("family", ["sd15", "sdxl"])],
      outputs=[Out("model", "MODEL[$F]")], family=_family)
def model(ctx, family):
    return family


@node("test.controlnet", title="ControlNet", category="Test", inputs=[Choice("family", ["sd15", "sdxl"])],
      outputs=[Out("control_net", "CONTROL_NET[$F]")], family=_family)
def controlnet(ctx, family):
    return family


@node("test.apply", title="Apply", category="Test",
      inputs=[Wire("model", "MODEL[$F]"), Wire("control_net", "CONTROL_NET[$F]")],
      outputs=[Out("model", "MODEL[$F]")])
def apply(ctx, model, control_net):
    return model


@node("test.mask_sink", title="Mask Sink", category="Test", inputs=[Wire("mask", "MASK")], outputs=[])
def mask_sink(ctx, mask):
    return None


@node("test.seeded", title="Seeded", category="Test", inputs=[Seed("seed", 5), SeedControl("seed"), Int("size", 8, min=1)],
      outputs=[Out("image", "IMAGE")])
def seeded(ctx, seed, seed_control, size):
    """A picture that depends on the seed: grey level seed % 251 / 250."""
    CALLS["seeded"] += 1
    return np.full((1, size, size, 3), seed % 251 / 250, np.float32)


TEST_TYPES = [source, add, big, fail, crash, steps, sink, model, controlnet, apply, mask_sink, seeded]


def make_registry(with_builtins: bool = False) -> Registry:
    reg = Registry(TEST_TYPES)
    if with_builtins:
        reg.load_builtins()
    return reg



def reset() -> None:
    CALLS.clear()
    SINK_LOG.clear()
    HOOKS.clear()


def services(*, output_dir=None, search_dirs=(), models=None, settings=None, preview_decoder=None):
    """A RunServices for a test: fixed folders, and an existing model manager if one is given."""
    from pathlib import Path

    from studio.core.services import RunServices
    from studio.core.settings import Settings

    return RunServices(settings=settings or Settings(), search_dirs=tuple(Path(d) for d in search_dirs),
                       output_dir=Path(output_dir) if output_dir else None,
                       models_provider=(lambda: models) if models is not None else None,
                       preview_decoder=preview_decoder)
