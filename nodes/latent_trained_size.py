"""An empty latent at the trained resolution nearest a target size: the first stage of generating
any size (generate where the model composes well, then enlarge and refine with tiled sampling)."""

from __future__ import annotations

from typing import Any

from studio.core.context import NodeContext
from studio.core.nodetype import Int, Out, Wire, node


@node(
    "latent.empty_trained_size", title="Empty Latent (Trained Size)", category="Latent",
    inputs=[Wire("model", "MODEL[$F]", tooltip="the model that will sample it: its family decides the sizes"),
            Int("target_width", 3072, min=64, max=16384, step=8, label="target width"),
            Int("target_height", 1024, min=64, max=16384, step=8, label="target height"),
            Int("batch", 1, min=1, max=64)],
    outputs=[Out("latent", "LATENT[$F]")],
    summary=["target_width", "target_height"],
)
def empty_trained_size(ctx: NodeContext, model: Any, target_width: int, target_height: int, batch: int) -> Any:
    """An all-zero latent at the size the model was trained at whose aspect ratio is nearest the target
    (SDXL's training buckets; about 512² for SD 1.x and 768² for SD 2.x, in steps of 64 pixels). Sample
    it, then enlarge the image to the target and refine it with the Tiled Sampler: far from its
    trained sizes a model repeats subjects and breaks the composition."""
    import torch

    from studio.diffusion.buckets import nearest_trained_size
    from studio.diffusion.values import Latent

    w, h = nearest_trained_size(model.family, target_width, target_height)
    ctx.info(f"{w}×{h}: the trained size nearest {target_width}×{target_height} "
             f"(aspect {target_width / target_height:.2f}, generated at {w / h:.2f})")
    return Latent(family=model.family, samples=torch.zeros((batch, 4, h // 8, w // 8), dtype=torch.float32))
