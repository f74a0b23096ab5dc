"""Repeat a latent batch, e.g. to make several variations of one image-to-image start."""

from __future__ import annotations

from typing import Any

from studio.core.context import NodeContext, NodeFailure
from studio.core.nodetype import Int, Out, Wire, node


@node(
    "latent.repeat_batch", title="Repeat Latent Batch", category="Latent",
    inputs=[Wire("latent", "LATENT[$F]"), Int("amount", 1, min=1, max=64, tooltip="how many copies of the batch")],
    outputs=[Out("latent", "LATENT[$F]")],
    aliases=("RepeatLatentBatch",),
)
def repeat_batch(ctx: NodeContext, latent: Any, amount: int) -> Any:
    """The batch ``amount`` times over (a, b → a, b, a, b). Each copy keeps the noise mask its latent had;
    the sampler's seed per batch position makes the copies come out different."""
    from dataclasses import replace

    if not hasattr(latent, "samples") or not hasattr(latent, "family"):
        raise NodeFailure(f"latent is a {type(latent).__name__}, not a LATENT")
    samples = latent.samples
    n = samples.shape[0]
    mask = latent.noise_mask
    if mask is not None and getattr(mask, "ndim", 0) >= 3 and mask.shape[0] > 1:
        # One mask per latent of every copy: a shorter mask batch repeats over the latents, as the sampler reads it.
        mask = mask[[(i % n) % mask.shape[0] for i in range(n * amount)]]
    if latent.kept is not None and amount > 1:
        ctx.warn("the leftover-noise record of the input latent is dropped; the copies are sampled anew")
    out = samples.repeat((amount,) + (1,) * (samples.ndim - 1))
    return replace(latent, samples=out, noise_mask=mask, kept=latent.kept if amount == 1 else None)
