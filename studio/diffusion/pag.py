"""Perturbed-attention guidance (Ahn et al. 2024, "Self-Rectifying Diffusion Sampling with
Perturbed-Attention Guidance").

At each evaluation the model is run a second time with the self-attention of the chosen layers made an
identity map (each token attends to itself only, so the layer returns its value projection), and the
output is pushed away from that degraded prediction::

    out = cfg_result + scale · (cond − cond_perturbed)

The layers are the self-attention (``attn1``) layers of the UNet's middle block, as ComfyUI's
PerturbedAttentionGuidance node and diffusers' PAG pipelines (``pag_applied_layers="mid"``) choose. The
formula is the same in ε, v or x₀ terms (the coefficients sum to one), so it is applied to the output as
the model gives it. Without CFG (cfg = 1) ``cfg_result`` is the positive prediction itself.

``PerturbedAttention`` is a model patch that changes nothing in the UNet between evaluations: it gives the
denoiser a post-CFG function per run (``studio.diffusion.denoiser``), which swaps the processors in for
the extra evaluation only and puts the UNet's own back right after. The extra evaluation runs the whole
model batch (with CFG, both halves), so that ControlNets and other per-row extensions apply unchanged;
its positive half is used.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from .denoiser import Guided


@dataclass(frozen=True)
class PerturbedAttention:
    scale: float
    where: str = "mid_block."  # module-name prefix of the perturbed layers

    @property
    def key(self) -> str:
        return f"pag({self.scale})"

    @contextmanager
    def applied(self, unet: Any) -> Iterator[None]:
        yield  # the processors are swapped per evaluation, by the post-CFG function

    def post_cfg(self, *, model: Any, batch: int, guided: bool) -> Any:
        layers = self_attention_layers(model.unet, self.where)
        return _Guide(self.scale, layers)


def self_attention_layers(unet: Any, prefix: str) -> list[Any]:
    """The self-attention modules (diffusers ``Attention`` that is not cross-attention) under ``prefix``."""
    from diffusers.models.attention_processor import Attention

    return [m for name, m in unet.named_modules()
            if name.startswith(prefix) and isinstance(m, Attention) and not m.is_cross_attention]


class IdentityAttention:
    """Self-attention as an identity map: the value projection, then the output projection."""

    def __call__(self, attn: Any, hidden_states: Any, encoder_hidden_states: Any = None, attention_mask: Any = None,
                 temb: Any = None, **kwargs: Any) -> Any:
        residual = hidden_states
        if hidden_states.ndim == 4:
            b, c, h, w = hidden_states.shape
            hidden_states = hidden_states.view(b, c, h * w).transpose(1, 2)
        if attn.group_norm is not None:
            hidden_states = attn.group_norm(hidden_states.transpose(1, 2)).transpose(1, 2)
        out = attn.to_out[1](attn.to_out[0](attn.to_v(hidden_states)))
        if residual.ndim == 4:
            out = out.transpose(-1, -2).reshape(residual.shape)
        if attn.residual_connection:
            out = out + residual
        return out / attn.rescale_output_factor


@contextmanager
def perturbed(layers: list[Any]) -> Iterator[None]:
    """``layers`` with identity self-attention inside the block; their processors restored after."""
    saved = [m.processor for m in layers]
    try:
        for m in layers:
            m.processor = IdentityAttention()
        yield
    finally:
        for m, p in zip(layers, saved, strict=True):
            m.processor = p


@dataclass
class _Guide:
    scale: float
    layers: list[Any]

    def __call__(self, g: Guided) -> Any:
        if self.scale == 0.0 or not self.layers:
            return g.out
        with perturbed(self.layers):
            worse = g.evaluate()
        worse_cond = worse[-g.cond.shape[0]:]  # the positive half (the whole batch without CFG)
        return g.out + self.scale * (g.cond - worse_cond)
