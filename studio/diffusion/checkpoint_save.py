"""Writing a MODEL, CLIP and VAE back as one single-file checkpoint in the original (LDM) layout.

The weights are those a run would use: the MODEL's and CLIP's weight patches (LoRA, merges) are
applied while the tensors are copied out and undone after (``model_patches.applied``). Keys go from
the diffusers layout back to the original one with ``studio.diffusion.ldm_layout`` (the inverse of diffusers'
single-file conversion our loader uses; the tiny test checkpoints are written with it too).

Metadata: the family and the diffusers configs (``latent_studio.family`` / ``latent_studio.configs``,
which our loader reads back), the prediction type and zero-terminal-SNR flag in the keys
``checkpoint_sampling`` reads, the source files, and each merge's recipe.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from .families import META_CONFIGS, META_FAMILY, text_encoder_names
from .model_patches import applied

# (key prefix, layout) of each text encoder in an original single file, in text_encoder_names order.
TE_LAYOUT: dict[str, tuple[tuple[str, str], ...]] = {
    "sd15": (("cond_stage_model.transformer.", "clip"),),
    "sd2": (("cond_stage_model.model.", "open_clip"),),
    "sdxl": (("conditioner.embedders.0.transformer.", "clip"), ("conditioner.embedders.1.model.", "open_clip")),
    "sdxl_refiner": (("conditioner.embedders.0.model.", "open_clip"),),
}


def _weights(module: Any, patches: tuple[Any, ...], root: Any = None) -> dict[str, Any]:
    """``module``'s state dict with ``patches`` applied (to ``root``, default the module), detached
    CPU copies; only the keys the unpatched module has (a patch may add modules, e.g. processors)."""
    keys = set(module.state_dict())
    with applied(module if root is None else root, patches):
        return {k: v.detach().to("cpu", copy=True).contiguous() for k, v in module.state_dict().items() if k in keys}


def _config(obj: Any) -> dict[str, Any]:
    cfg = obj.config
    return dict(cfg.to_dict() if hasattr(cfg, "to_dict") else cfg)


def checkpoint_state(model: Any, clip: Any, vae: Any) -> tuple[dict[str, Any], dict[str, str]]:
    """(tensors by original-layout key, safetensors metadata) for one family's model, CLIP and VAE."""
    from studio.diffusion.ldm_layout import clip_to_ldm, clip_to_open_clip, unet_to_ldm, vae_to_ldm

    family = model.family
    if family not in TE_LAYOUT:
        raise ValueError(f"cannot save a {family} model as a checkpoint")
    for what, value in (("text encoder", clip), ("VAE", vae)):
        fam = getattr(value, "family", None)
        if fam not in (family, None) and not (what == "VAE" and {fam, family} <= {"sdxl", "sdxl_refiner"}):
            raise ValueError(f"the {what} is for {fam}, the model for {family}: save parts of one family")
    unet_cfg, vae_cfg = _config(model.unet), _config(vae.vae)
    out = {"model.diffusion_model." + k: v
           for k, v in unet_to_ldm(_weights(model.unet, tuple(model.patches)), unet_cfg).items()}
    out.update({"first_stage_model." + k: v for k, v in vae_to_ldm(_weights(vae.vae, ()), vae_cfg).items()})
    configs: dict[str, Any] = {"unet": unet_cfg, "vae": vae_cfg, "scheduler": dict(model.scheduler_config)}
    names = text_encoder_names(family)
    for i, (sub, (prefix, layout)) in enumerate(zip(names, TE_LAYOUT[family], strict=True)):
        encoder = clip.encoders[i]
        w = _weights(encoder, tuple(clip.patches), root=clip)
        out.update(clip_to_ldm(w, prefix) if layout == "clip" else clip_to_open_clip(w, prefix))
        configs[sub] = _config(encoder)
    return out, _metadata(model, clip, vae, configs)


def _metadata(model: Any, clip: Any, vae: Any, configs: Mapping[str, Any]) -> dict[str, str]:
    sched = model.scheduler_config
    meta = {META_FAMILY: model.family, META_CONFIGS: json.dumps(configs, default=str),
            "modelspec.prediction_type": "v" if sched.get("prediction_type") == "v_prediction" else
            str(sched.get("prediction_type", "epsilon")),
            "latent_studio.sources": json.dumps({"model": model.source, "clip": clip.source, "vae": vae.source})}
    if sched.get("rescale_betas_zero_snr"):
        meta["ztsnr"] = "true"
    merges = [dict(p.recipe) for p in model.patches if hasattr(p, "recipe")]
    if merges:
        meta["latent_studio.merges"] = json.dumps(merges, default=str)
    loras = [p.key for p in (*model.patches, *clip.patches) if str(getattr(p, "key", "")).startswith("lora:")]
    if loras:
        meta["latent_studio.loras"] = json.dumps(loras)
    return meta


def checkpoint_bytes(model: Any, clip: Any, vae: Any) -> bytes:
    """The whole .safetensors file."""
    from safetensors.torch import save

    tensors, meta = checkpoint_state(model, clip, vae)
    return save(tensors, metadata=meta)
