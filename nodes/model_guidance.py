"""Guidance patches on a model: CFG rescale and perturbed-attention guidance."""

from __future__ import annotations

from dataclasses import replace

from studio.core.context import NodeContext
from studio.core.nodetype import Float, Out, Wire, node
from studio.diffusion.cfg_rescale import RescaleCFG
from studio.diffusion.pag import PerturbedAttention
from studio.diffusion.values import UNetModel


@node(
    "model.rescale_cfg", title="Rescale CFG", category="Models",
    inputs=[Wire("model", "MODEL[$F]"),
            Float("multiplier", 0.7, min=0.0, max=1.0, step=0.01,
                  tooltip="how far the guided prediction's spread is brought back to the positive prompt's "
                          "(0 = plain CFG); helps v-prediction and zero-terminal-SNR models at high CFG")],
    outputs=[Out("model", "MODEL[$F]")],
    summary=["multiplier"], aliases=("RescaleCFG",),
)
def rescale_cfg(ctx: NodeContext, model: UNetModel, multiplier: float) -> UNetModel:
    """The model sampled with CFG rescale (the shared UNet is not changed)."""
    return replace(model, patches=(*model.patches, RescaleCFG(float(multiplier))))


@node(
    "model.perturbed_attention", title="Perturbed-Attention Guidance", category="Models",
    inputs=[Wire("model", "MODEL[$F]"),
            Float("scale", 3.0, min=0.0, max=100.0, step=0.01,
                  tooltip="how strongly the result is pushed away from a run whose middle-block self-attention "
                          "is switched off (0 = off); costs one more model evaluation per step")],
    outputs=[Out("model", "MODEL[$F]")],
    summary=["scale"], aliases=("PerturbedAttentionGuidance",),
)
def perturbed_attention(ctx: NodeContext, model: UNetModel, scale: float) -> UNetModel:
    """The model sampled with perturbed-attention guidance (the shared UNet is not changed)."""
    return replace(model, patches=(*model.patches, PerturbedAttention(float(scale))))
