"""Applying an IP-Adapter to a UNet for one run: attention processors and per-step image tokens.

An ``IPAdapterPatch`` is a ``ModelPatch`` (``studio.diffusion.model_patches``) on a MODEL value:

- ``applied(unet)`` replaces the processor of every cross-attention layer with an ``IPAttnProcessor``
  holding this adapter's ``to_k_ip``/``to_v_ip`` weights (plus those of any IP-Adapter applied before
  it: chained adapters share one processor per layer, as diffusers' multi-adapter processor does) and
  puts the UNet's own processors back on exit, also after an error or a cancel. The shared UNet's
  weights are never touched.
- ``conditioning_patch(batch=, guided=)`` is called by ``build_denoiser`` once per run: it projects
  the image features to tokens (once) and returns a denoiser ``ConditioningPatch`` that, at every step,
  hands the tokens and the step's weight to the processors through the UNet's cross-attention kwargs
  (``ip_hidden_states``: {patch id: (tokens, scale)}). The weight is 0 outside [start, end] (fractions
  of the schedule's evaluations, the same rule as ControlNet's start/end).

This reproduces diffusers' ``load_ip_adapter`` + ``set_ip_adapter_scale`` + ``ip_adapter_image``:
with CFG the token rows are [unconditional × batch, image × batch]; the unconditional features are
zeros for a base adapter, and the encoder's penultimate hidden states of an all-zero pixel input
for the hidden-state kinds (plus, full), as diffusers' ``encode_image`` does. Several images are
projected one by one and their tokens concatenated (diffusers' multi-image behaviour).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from studio.core.context import NodeFailure

from .denoiser import Step, UNetInputs
from .ip_adapter import IPAdapterModel

IP_KWARG = "ip_hidden_states"  # a cross-attention kwarg diffusers' Attention passes on quietly


class IPAttnProcessor:
    """Cross-attention with image tokens added: ``attn(text) + Σ scale_i · attn(image tokens_i)``,
    computed as diffusers' ``IPAdapterAttnProcessor2_0`` does (without masks). A plain object, not a
    module, so that installing it adds nothing to the UNet's module tree."""

    def __init__(self, entries: tuple[tuple[str, Any, Any], ...]) -> None:
        self.entries = entries  # (patch id, to_k_ip weight, to_v_ip weight)

    def __call__(self, attn: Any, hidden_states: Any, encoder_hidden_states: Any = None, attention_mask: Any = None,
                 temb: Any = None, ip_hidden_states: dict[str, tuple[Any, float]] | None = None) -> Any:
        import torch.nn.functional as F

        residual = hidden_states
        if attn.spatial_norm is not None:
            hidden_states = attn.spatial_norm(hidden_states, temb)
        input_ndim = hidden_states.ndim
        if input_ndim == 4:
            batch_size, channel, height, width = hidden_states.shape
            hidden_states = hidden_states.view(batch_size, channel, height * width).transpose(1, 2)
        batch_size, sequence_length, _ = (hidden_states.shape if encoder_hidden_states is None
                                          else encoder_hidden_states.shape)
        if attention_mask is not None:
            attention_mask = attn.prepare_attention_mask(attention_mask, sequence_length, batch_size)
            attention_mask = attention_mask.view(batch_size, attn.heads, -1, attention_mask.shape[-1])
        if attn.group_norm is not None:
            hidden_states = attn.group_norm(hidden_states.transpose(1, 2)).transpose(1, 2)
        query = attn.to_q(hidden_states)
        if encoder_hidden_states is None:
            encoder_hidden_states = hidden_states
        elif attn.norm_cross:
            encoder_hidden_states = attn.norm_encoder_hidden_states(encoder_hidden_states)
        key = attn.to_k(encoder_hidden_states)
        value = attn.to_v(encoder_hidden_states)
        head_dim = key.shape[-1] // attn.heads

        def heads(t: Any) -> Any:
            return t.view(batch_size, -1, attn.heads, head_dim).transpose(1, 2)

        def merge(t: Any) -> Any:
            return t.transpose(1, 2).reshape(batch_size, -1, attn.heads * head_dim).to(query.dtype)

        query = heads(query)
        hidden_states = merge(F.scaled_dot_product_attention(query, heads(key), heads(value), attn_mask=attention_mask,
                                                             dropout_p=0.0, is_causal=False))
        given = ip_hidden_states or {}
        for ident, to_k_ip, to_v_ip in self.entries:
            tokens, scale = given.get(ident, (None, 0.0))
            if tokens is None or scale == 0:
                continue
            ip = F.scaled_dot_product_attention(query, heads(F.linear(tokens, to_k_ip)), heads(F.linear(tokens, to_v_ip)),
                                                attn_mask=None, dropout_p=0.0, is_causal=False)
            hidden_states = hidden_states + scale * merge(ip)
        hidden_states = attn.to_out[1](attn.to_out[0](hidden_states))
        if input_ndim == 4:
            hidden_states = hidden_states.transpose(-1, -2).reshape(batch_size, channel, height, width)
        if attn.residual_connection:
            hidden_states = hidden_states + residual
        return hidden_states / attn.rescale_output_factor


def cross_attention_names(unet: Any) -> list[str]:
    """Processor names of the UNet's cross-attention layers, in ``attn_processors`` order (the order
    of an IP-Adapter file's layers)."""
    return [name for name in unet.attn_processors if not name.endswith("attn1.processor")]


@dataclass(frozen=True, eq=False)
class IPAdapterPatch:
    """One IP-Adapter with its image features, weight and step range (see the module docstring).
    ``embeds``/``uncond`` are float32 CPU tensors: (n images, width) image embeddings for a base
    adapter, (n, tokens, width) penultimate hidden states for the other kinds."""

    adapter: IPAdapterModel
    embeds: Any
    uncond: Any
    weight: float = 1.0
    start: float = 0.0
    end: float = 1.0
    ident: str = field(default_factory=lambda: uuid.uuid4().hex)

    @property
    def key(self) -> str:
        return (f"ip_adapter:{Path(self.adapter.source).name}:{self.weight:g}:{self.start:g}-{self.end:g}:"
                f"{self.embeds.shape[0]} image(s)")

    @contextmanager
    def applied(self, unet: Any) -> Iterator[None]:
        names = cross_attention_names(unet)
        weights = self.adapter.layer_weights()
        check_fits(self.adapter, unet, names)
        before = dict(unet.attn_processors)
        procs = dict(before)
        device, dtype = unet.device, unet.dtype
        for name, (wk, wv) in zip(names, weights, strict=True):
            prev = before[name]
            chained = prev.entries if isinstance(prev, IPAttnProcessor) else ()
            procs[name] = IPAttnProcessor((*chained, (self.ident, wk.to(device, dtype), wv.to(device, dtype))))
        unet.set_attn_processor(procs)
        try:
            yield
        finally:
            unet.set_attn_processor(dict(before))

    def tokens(self, device: Any, dtype: Any) -> tuple[Any, Any]:
        """(image tokens, unconditional tokens), each (1, n images × tokens, width)."""
        import torch

        proj = self.adapter.image_proj
        p = next(proj.parameters())
        with torch.no_grad():
            cond = proj(self.embeds.to(device=p.device, dtype=p.dtype))
            uncond = proj(self.uncond.to(device=p.device, dtype=p.dtype))
        return (cond.reshape(1, -1, cond.shape[-1]).to(device, dtype),
                uncond.reshape(1, -1, uncond.shape[-1]).to(device, dtype))

    def conditioning_patch(self, *, unet: Any, batch: int, guided: bool) -> IPAdapterStep:
        """The denoiser's per-step part for one run over a latent batch of ``batch``."""
        import torch

        cond, uncond = self.tokens(unet.device, unet.dtype)
        rows = [uncond.repeat(batch, 1, 1), cond.repeat(batch, 1, 1)] if guided else [cond.repeat(batch, 1, 1)]
        return IPAdapterStep(self.ident, torch.cat(rows), float(self.weight), float(self.start), float(self.end))


@dataclass
class IPAdapterStep:
    """A denoiser ``ConditioningPatch``: this step's tokens and weight for one IP-Adapter."""

    ident: str
    tokens: Any  # (model batch rows, tokens, width)
    weight: float
    start: float
    end: float

    def scale(self, step: Step) -> float:
        off = step.index / step.total < self.start or (step.index + 1) / step.total > self.end
        return 0.0 if off else self.weight

    def __call__(self, inputs: UNetInputs, step: Step) -> UNetInputs:
        kwargs = dict(inputs.cross_attention_kwargs or {})
        given = dict(kwargs.get(IP_KWARG) or {})
        given[self.ident] = (self.tokens, self.scale(step))
        kwargs[IP_KWARG] = given
        return replace(inputs, cross_attention_kwargs=kwargs)


def check_fits(adapter: IPAdapterModel, unet: Any, names: list[str] | None = None) -> None:
    """Refuse, naming the mismatch, an IP-Adapter made for another UNet."""
    names = cross_attention_names(unet) if names is None else names
    info = adapter.info
    what = f"{Path(adapter.source).name or 'this IP-Adapter'}"
    if len(names) != info.layers:
        raise NodeFailure(f"{what} has {info.layers} attention layers, this model {len(names)} cross-attention "
                          "layers: it was made for another model family")
    context = int(unet.config.cross_attention_dim) if isinstance(unet.config.cross_attention_dim, int) else None
    if context is not None and context != info.context_dim:
        raise NodeFailure(f"{what} makes image tokens {info.context_dim} wide; this model's cross-attention reads "
                          f"{context}: it was made for another model family")
    for name, (wk, _) in zip(names, adapter.layer_weights(), strict=True):
        attn = unet.get_submodule(name.removesuffix(".processor"))
        if tuple(attn.to_k.weight.shape) != tuple(wk.shape):
            raise NodeFailure(f"{what}: layer {name.removesuffix('.processor')} has keys of shape "
                              f"{tuple(attn.to_k.weight.shape)}, the IP-Adapter {tuple(wk.shape)}")
