"""Random-weight GLIGEN text-box models beside the random SD 1.5 checkpoint of ``bench.make_models``.

Writes, when SD 1.5 is among the families:

- ``gligen/{size}-gligen_sd15.safetensors``: the original (ComfyUI ``models/gligen``) layout, pruned
  to the gated layers and the position net: ``input_blocks.N.1.transformer_blocks.0.fuser.*``,
  ``middle_block.1…``, ``output_blocks.N.1…``, ``position_net.*``; also linked as
  ``gligen_sd14_textbox_pruned.safetensors``, the name the example workflow uses;
- ``gligen/{size}-gligen_sd15-diffusers/unet/`` (tiny only): the same weights in diffusers' layout, a
  whole UNet made with ``attention_type="gated"`` (``config.json`` + ``diffusion_pytorch_model.safetensors``;
  its other weights are the tiny checkpoint's UNet).

One gated layer per transformer block of the family's UNet (4 for the tiny UNet, 16 for SD 1.5), made
by diffusers' own modules, with the gates opened (``alpha_attn``/``alpha_dense`` ≠ 0, which training
does; at 0 the layers would do nothing). Tiny files carry their family in their metadata, since their
width (32) names no real family.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from bench.make_models import TINY, Made, _perturb, _save, real_configs

EXAMPLE_GLIGEN = "gligen_sd14_textbox_pruned.safetensors"


def make_gligen(unet_config: dict[str, Any], seed: int) -> dict[str, Any]:
    """Weights of a GLIGEN model for a UNet of ``unet_config``, by diffusers module path
    (``down_blocks.0.attentions.0.transformer_blocks.0.fuser.*``, ``position_net.*``)."""
    import torch
    from diffusers import UNet2DConditionModel
    from diffusers.models.attention import BasicTransformerBlock, GatedSelfAttentionDense
    from diffusers.models.embeddings import GLIGENTextBoundingboxProjection

    with torch.device("meta"):
        shape = UNet2DConditionModel.from_config(unet_config)
    context = int(unet_config["cross_attention_dim"])
    torch.manual_seed(seed)
    weights: dict[str, Any] = {}
    g = torch.Generator().manual_seed(seed)
    n = 0
    for name, block in shape.named_modules():
        if not isinstance(block, BasicTransformerBlock) or block.attn2 is None:
            continue
        dim, heads = block.attn1.to_q.in_features, block.attn1.heads
        fuser = GatedSelfAttentionDense(dim, context, heads, dim // heads).eval()
        state = _perturb(fuser, seed + 1 + n)
        gates = 0.2 + 0.6 * torch.rand(2, generator=g)
        state["alpha_attn"], state["alpha_dense"] = gates[0].clone(), gates[1].clone()
        weights.update({f"{name}.fuser.{k}": v for k, v in state.items()})
        n += 1
    net = GLIGENTextBoundingboxProjection(positive_len=context, out_dim=context, feature_type="text-only").eval()
    state = _perturb(net, seed + 100)
    # The null features are learned; random ones make a padded object differ from a zero one.
    state["null_positive_feature"] = torch.randn(context, generator=g) * 0.5
    state["null_position_feature"] = torch.randn(state["null_position_feature"].shape, generator=g) * 0.5
    weights.update({f"position_net.{k}": v for k, v in state.items()})
    return weights


def to_original(weights: dict[str, Any], layers_per_block: int) -> dict[str, Any]:
    """The same weights under the original (LDM) block names."""
    from studio.diffusion.gligen_keys import ldm_block

    out = {}
    for key, value in weights.items():
        if ".fuser." in key:
            block, part = key.split(".fuser.", 1)
            key = f"{ldm_block(block, layers_per_block)}.fuser.{part}"
        out[key] = value
    return out


def write_gligen(out: Path, made: Made, *, size: str, seed: int, dtype: Any, families: tuple[str, ...]) -> None:
    if "sd15" not in families:
        return
    tiny = size == "tiny"
    unet_cfg: dict[str, Any] = dict(TINY["sd15"]["unet"] if tiny else real_configs("sd15")["unet"])
    meta = {"latent_studio.family": "sd15"} if tiny else {}
    weights = {k: v.to(dtype).float() for k, v in make_gligen(unet_cfg, seed + 1300).items()}
    folder = out / "gligen"
    original = _save(folder / f"{size}-gligen_sd15.safetensors", to_original(weights, unet_cfg["layers_per_block"]),
                     dtype, meta)
    made.paths["gligen-sd15"] = original
    made.reference["gligen-sd15"] = weights
    link = folder / EXAMPLE_GLIGEN
    link.unlink(missing_ok=True)
    link.symlink_to(original.name)
    if tiny:
        unet_dir = folder / f"{size}-gligen_sd15-diffusers" / "unet"
        unet_dir.mkdir(parents=True, exist_ok=True)
        config = {**unet_cfg, "attention_type": "gated"}
        (unet_dir / "config.json").write_text(json.dumps(config, indent=1))
        base = made.reference.get("checkpoint-sd15", {}).get("unet", {})
        _save(unet_dir / "diffusion_pytorch_model.safetensors", {**base, **weights}, dtype, {"format": "pt", **meta})
        made.paths["gligen-sd15-diffusers"] = unet_dir.parent
