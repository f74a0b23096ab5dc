"""Diffusers → original (LDM / OpenCLIP) key layout: saving checkpoints and writing single-file test models.

Written by hand: diffusers ships only the opposite direction (``single_file_utils``), and this one
is its inverse. ``tests/diffusion/loading`` checks it by loading the written files back through
diffusers' own conversion and comparing every weight.
"""

from __future__ import annotations

import re
from typing import Any

_RESNET = (("norm1", "in_layers.0"), ("conv1", "in_layers.2"), ("time_emb_proj", "emb_layers.1"),
           ("norm2", "out_layers.0"), ("conv2", "out_layers.3"), ("conv_shortcut", "skip_connection"))
_TOP = {"time_embedding.linear_1": "time_embed.0", "time_embedding.linear_2": "time_embed.2",
        "add_embedding.linear_1": "label_emb.0.0", "add_embedding.linear_2": "label_emb.0.2",
        "conv_in": "input_blocks.0.0", "conv_norm_out": "out.0", "conv_out": "out.2",
        "controlnet_mid_block": "middle_block_out.0", "controlnet_cond_embedding.conv_in": "input_hint_block.0"}


def _resnet(rest: str) -> str:
    for new, old in _RESNET:
        if rest.startswith(new + "."):
            return old + rest[len(new):]
    return rest


def unet_to_ldm(weights: dict[str, Any], config: dict[str, Any]) -> dict[str, Any]:
    """UNet2DConditionModel or ControlNetModel keys → the original ``input_blocks``/... layout."""
    per = config["layers_per_block"] + 1
    up_attn = [t.startswith("CrossAttn") for t in config.get("up_block_types", ())]
    n_hint = 2 * (len(config.get("conditioning_embedding_out_channels", ())) - 1)  # hint blocks
    out = {}
    for key, v in weights.items():
        name, _, param = key.rpartition(".")
        out[_unet_key(name, per, up_attn, n_hint) + "." + param] = v
    return out


def _unet_key(name: str, per: int, up_attn: list[bool], n_hint: int) -> str:
    for new, old in _TOP.items():
        if name == new:
            return old
    if m := re.fullmatch(r"down_blocks\.(\d+)\.(resnets|attentions)\.(\d+)\.(.+)", name):
        i, kind, j, rest = int(m[1]), m[2], int(m[3]), m[4]
        idx = 1 + i * per + j
        return f"input_blocks.{idx}.0.{_resnet(rest)}" if kind == "resnets" else f"input_blocks.{idx}.1.{rest}"
    if m := re.fullmatch(r"down_blocks\.(\d+)\.downsamplers\.0\.conv", name):
        return f"input_blocks.{(int(m[1]) + 1) * per}.0.op"
    if m := re.fullmatch(r"mid_block\.resnets\.(\d+)\.(.+)", name):
        return f"middle_block.{2 * int(m[1])}.{_resnet(m[2])}"
    if m := re.fullmatch(r"mid_block\.attentions\.0\.(.+)", name):
        return f"middle_block.1.{m[1]}"
    if m := re.fullmatch(r"up_blocks\.(\d+)\.(resnets|attentions)\.(\d+)\.(.+)", name):
        i, kind, j, rest = int(m[1]), m[2], int(m[3]), m[4]
        idx = i * per + j
        return f"output_blocks.{idx}.0.{_resnet(rest)}" if kind == "resnets" else f"output_blocks.{idx}.1.{rest}"
    if m := re.fullmatch(r"up_blocks\.(\d+)\.upsamplers\.0\.conv", name):
        i = int(m[1])
        return f"output_blocks.{i * per + per - 1}.{2 if up_attn[i] else 1}.conv"
    if m := re.fullmatch(r"controlnet_down_blocks\.(\d+)", name):
        return f"zero_convs.{m[1]}.0"
    if m := re.fullmatch(r"controlnet_cond_embedding\.blocks\.(\d+)", name):
        return f"input_hint_block.{2 * int(m[1]) + 2}"
    if name == "controlnet_cond_embedding.conv_out":
        return f"input_hint_block.{2 * n_hint + 2}"
    raise KeyError(f"no original-layout name for UNet key {name!r}")


_VAE_ATTN = {"group_norm": "norm", "to_q": "q", "to_k": "k", "to_v": "v", "to_out.0": "proj_out"}


def vae_to_ldm(weights: dict[str, Any], config: dict[str, Any]) -> dict[str, Any]:
    """AutoencoderKL keys → the original ``encoder.down.{i}.block.{j}`` layout (attention as 1×1 convs)."""
    n = len(config["block_out_channels"])
    out = {}
    for key, v in weights.items():
        name, _, param = key.rpartition(".")
        part, _, rest = name.partition(".")
        if part not in ("encoder", "decoder"):
            out[key] = v
            continue
        rest = rest.replace("conv_norm_out", "norm_out")
        if m := re.fullmatch(r"(down|up)_blocks\.(\d+)\.resnets\.(\d+)\.(.+)", rest):
            i = int(m[2]) if m[1] == "down" else n - 1 - int(m[2])
            rest = f"{m[1]}.{i}.block.{m[3]}.{m[4].replace('conv_shortcut', 'nin_shortcut')}"
        elif m := re.fullmatch(r"down_blocks\.(\d+)\.downsamplers\.0\.conv", rest):
            rest = f"down.{m[1]}.downsample.conv"
        elif m := re.fullmatch(r"up_blocks\.(\d+)\.upsamplers\.0\.conv", rest):
            rest = f"up.{n - 1 - int(m[1])}.upsample.conv"
        elif m := re.fullmatch(r"mid_block\.resnets\.(\d+)\.(.+)", rest):
            rest = f"mid.block_{int(m[1]) + 1}.{m[2].replace('conv_shortcut', 'nin_shortcut')}"
        elif m := re.fullmatch(r"mid_block\.attentions\.0\.(.+)", rest):
            rest = f"mid.attn_1.{_VAE_ATTN[m[1]]}"
            if v.ndim == 2:
                v = v[:, :, None, None]
        out[f"{part}.{rest}.{param}"] = v
    return out


def clip_to_ldm(weights: dict[str, Any], prefix: str) -> dict[str, Any]:
    """transformers CLIP keys → ``{prefix}text_model.…`` as SD 1.x / SDXL checkpoints store CLIP-L."""
    return {prefix + "text_model." + k.removeprefix("text_model."): v for k, v in weights.items()
            if not k.startswith("text_projection")}


_OPEN_CLIP = (("layer_norm1", "ln_1"), ("layer_norm2", "ln_2"), ("self_attn.out_proj", "attn.out_proj"),
              ("mlp.fc1", "mlp.c_fc"), ("mlp.fc2", "mlp.c_proj"))


def clip_to_open_clip(weights: dict[str, Any], prefix: str) -> dict[str, Any]:
    """transformers CLIP keys → OpenCLIP's layout (fused q/k/v ``in_proj``, transposed projection)."""
    import torch

    w = {k.removeprefix("text_model."): v for k, v in weights.items()}
    out = {prefix + "token_embedding.weight": w.pop("embeddings.token_embedding.weight"),
           prefix + "positional_embedding": w.pop("embeddings.position_embedding.weight"),
           prefix + "ln_final.weight": w.pop("final_layer_norm.weight"),
           prefix + "ln_final.bias": w.pop("final_layer_norm.bias")}
    if "text_projection.weight" in w:
        out[prefix + "text_projection"] = w.pop("text_projection.weight").T.contiguous()
    layers = sorted({int(k.split(".")[2]) for k in w if k.startswith("encoder.layers.")})
    for i in layers:
        src, dst = f"encoder.layers.{i}.", f"{prefix}transformer.resblocks.{i}."
        for p in ("weight", "bias"):
            out[dst + f"attn.in_proj_{p}"] = torch.cat([w.pop(src + f"self_attn.{q}_proj.{p}") for q in "qkv"])
            for new, old in _OPEN_CLIP:
                out[dst + f"{old}.{p}"] = w.pop(src + f"{new}.{p}")
    w.pop("embeddings.position_ids", None)
    if w:
        raise KeyError(f"no OpenCLIP name for {sorted(w)[:3]}")
    return out
