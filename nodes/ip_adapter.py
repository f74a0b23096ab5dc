"""IP-Adapter: image prompts. Load an adapter, and apply it with a CLIP vision encoder and images."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from nodes.models import _check, _fingerprint
from studio.core.context import NodeContext, NodeFailure
from studio.core.imaging import check_image
from studio.core.nodetype import File, Float, Out, Wire, node
from studio.core.services import RunServices


def _family(params: Mapping[str, Any], services: RunServices) -> str | None:
    from studio.diffusion.ip_adapter import family_of_ip_adapter
    from studio.diffusion.model_folders import resolve

    name = params.get("ipadapter") or ""
    return family_of_ip_adapter(resolve(list(services.model_roots), "ipadapter", name)) if name else None


@node(
    "model.ip_adapter", title="Load IP-Adapter", category="Models",
    inputs=[File("ipadapter", file_kind="ipadapter",
                 tooltip="an IP-Adapter in the original layout, e.g. ip-adapter_sd15.safetensors or "
                         "ip-adapter-plus_sdxl_vit-h.safetensors")],
    outputs=[Out("ipadapter", "IPADAPTER[$F]")],
    family=_family,
    fingerprint=_fingerprint("ipadapter", "ipadapter"),
    check=_check("ipadapter", "ipadapter"),
    aliases=("IPAdapterModelLoader",),
)
def load_ip_adapter(ctx: NodeContext, ipadapter: str) -> Any:
    """Load an IP-Adapter (base, plus or full-face; SD 1.5 or SDXL). Its family decides which models it
    fits; it needs the CLIP vision encoder it was trained with (ViT-H/14 for most)."""
    mm = ctx.models
    ctx.check_cancel()
    return mm.load_ip_adapter(mm.resolve("ipadapter", ipadapter), progress=ctx.progress)


@node(
    "ip_adapter.apply", title="Apply IP-Adapter", category="Conditioning",
    inputs=[
        Wire("model", "MODEL[$F]"),
        Wire("ipadapter", "IPADAPTER[$F]"),
        Wire("clip_vision", "CLIP_VISION"),
        Wire("image", "IMAGE", tooltip="the image prompt; several images (a batch) add up their tokens"),
        Float("weight", 1.0, min=-1.0, max=5.0, step=0.05, tooltip="how strongly the image steers; 0 = off"),
        Float("start", 0.0, min=0.0, max=1.0, step=0.01,
              tooltip="fraction of the sampling steps at which the image prompt begins"),
        Float("end", 1.0, min=0.0, max=1.0, step=0.01,
              tooltip="fraction of the sampling steps after which the image prompt stops"),
    ],
    outputs=[Out("model", "MODEL[$F]")],
    summary=["weight", "start", "end"],
    aliases=("IPAdapter", "IPAdapterAdvanced", "IPAdapterApply"),
)
def apply(ctx: NodeContext, model: Any, ipadapter: Any, clip_vision: Any, image: Any, weight: float, start: float,
          end: float) -> Any:
    """Steer a model with an image prompt: the images are encoded by the CLIP vision encoder, turned into
    tokens by the IP-Adapter and attended to beside the text prompt in every cross-attention layer, with
    this weight, from start to end (fractions of the steps). Several images (a batch) give the
    concatenation of their tokens, as diffusers does. Chain several of these nodes to use several
    IP-Adapters; the model itself is not changed."""
    from studio.diffusion.ip_adapter_patch import IPAdapterPatch, check_fits

    if ipadapter.family is not None and ipadapter.family != model.family:
        raise NodeFailure(f"IPADAPTER[{ipadapter.family}] does not fit MODEL[{model.family}]")
    check_fits(ipadapter, model.unet)
    try:
        frames = check_image(image, "the image prompt")
    except (TypeError, ValueError) as exc:
        raise NodeFailure(str(exc)) from None
    embeds, uncond = image_features(ipadapter, clip_vision, frames)
    if start >= end:
        ctx.warn(f"start {start:g} is not before end {end:g}: this IP-Adapter will never act")
    patch = IPAdapterPatch(ipadapter, embeds, uncond, float(weight), float(start), float(end))
    return replace(model, patches=(*model.patches, patch))


def image_features(ipadapter: Any, clip_vision: Any, frames: Any) -> tuple[Any, Any]:
    """(image features, unconditional features) of the kind the adapter reads (see ``ip_adapter_patch``)."""
    import torch

    from studio.diffusion.clip_vision import encode, encode_blank

    info = ipadapter.info
    width = clip_vision.hidden_size if info.uses_hidden_states else clip_vision.projection_dim
    if width != info.image_dim:
        feature = "hidden states" if info.uses_hidden_states else "image embeddings"
        raise NodeFailure(f"this {info.what} reads CLIP {feature} {info.image_dim} wide; the CLIP vision encoder "
                          f"gives {width} (use the encoder it was trained with: ViT-H/14 for most, ViT-bigG/14 for "
                          "SDXL models without 'vit-h' in their name)")
    out = encode(clip_vision, frames)
    if not info.uses_hidden_states:
        return out.image_embeds, torch.zeros_like(out.image_embeds)
    blank = encode_blank(clip_vision, 1).penultimate_hidden_states
    return out.penultimate_hidden_states, blank.repeat(frames.shape[0], 1, 1)
