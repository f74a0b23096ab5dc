"""Random-weight CLIP vision encoders and IP-Adapters beside the random checkpoints of ``bench.make_models``.

Writes:

- ``clip_vision/{size}-clip-vision/`` (``config.json`` + ``model.safetensors``, transformers'
  ``CLIPVisionModelWithProjection``) and the same weights as one file,
  ``clip_vision/{size}-clip-vision.safetensors`` (the single-file form ComfyUI users keep; its
  configuration is read from the shapes), also under the name the example workflow uses,
  ``CLIP-ViT-H-14-laion2B-s32B-b79K.safetensors``;
- ``ipadapter/{size}-ip-adapter_sd15.safetensors`` (base), ``…-ip-adapter-plus_sd15.safetensors`` (plus),
  ``…-ip-adapter_sd15.bin`` (the base one as the ``{"image_proj", "ip_adapter"}`` pickle) and, with SDXL
  among the families, ``…-ip-adapter_sdxl.safetensors`` and ``…-ip-adapter-plus_sdxl.safetensors`` — all
  in the original h94 layout; the SD 1.5 base one is also linked as ``ip-adapter_sd15.safetensors`` for
  the example.

``full`` has the real shapes (ViT-H/14; SD 1.5: 16 layers of width 768; SDXL: 70 of 2048). A ``tiny``
encoder has width 32 with one attention head (so that the shapes alone describe it) and projects to
32; tiny IP-Adapters fit the tiny UNets of ``bench.make_models.TINY`` and carry their family in
their metadata, since their widths (32, 64) name no real family.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from bench.make_models import TINY, Made, _perturb, _save, real_configs

CLIP_TINY = {"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2, "num_attention_heads": 1,
             "image_size": 32, "patch_size": 8, "projection_dim": 32, "hidden_act": "gelu", "layer_norm_eps": 1e-5}
CLIP_VIT_H = {"hidden_size": 1280, "intermediate_size": 5120, "num_hidden_layers": 32, "num_attention_heads": 16,
              "image_size": 224, "patch_size": 14, "projection_dim": 1024, "hidden_act": "gelu",
              "layer_norm_eps": 1e-5}
# The resampler of IP-Adapter Plus: 4 blocks of heads of 64 channels (diffusers' converter assumes both).
PLUS_TINY = {"hidden_dims": 64, "heads": 1, "num_queries": 16}
PLUS_FULL = {"sd15": {"hidden_dims": 768, "heads": 12, "num_queries": 16},
             "sdxl": {"hidden_dims": 1280, "heads": 20, "num_queries": 16}}
EXAMPLE_CLIP_VISION = "CLIP-ViT-H-14-laion2B-s32B-b79K.safetensors"
EXAMPLE_IPADAPTER = "ip-adapter_sd15.safetensors"


def clip_vision_config(size: str) -> dict[str, Any]:
    return dict(CLIP_TINY if size == "tiny" else CLIP_VIT_H)


def make_clip_vision(config: dict[str, Any], seed: int) -> Any:
    from transformers import CLIPVisionConfig, CLIPVisionModelWithProjection

    model = CLIPVisionModelWithProjection(CLIPVisionConfig(**config)).eval()
    _perturb(model, seed)
    return model


def cross_attention_layers(unet_config: dict[str, Any]) -> list[tuple[int, int]]:
    """(hidden width, context width) of each cross-attention layer of a UNet, in processor order."""
    from diffusers import UNet2DConditionModel

    from studio.diffusion.loaders import _empty_weights

    with _empty_weights():
        unet = UNet2DConditionModel.from_config(unet_config)
    out = []
    for name in unet.attn_processors:
        if not name.endswith("attn1.processor"):
            w = unet.get_submodule(name.removesuffix(".processor")).to_k.weight
            out.append((w.shape[0], w.shape[1]))
    return out


def _plus_to_original(weights: dict[str, Any]) -> dict[str, Any]:
    """diffusers' ``IPAdapterPlusImageProjection`` names → the original resampler's."""
    import torch

    out: dict[str, Any] = {}
    for key, value in weights.items():
        parts = key.split(".")
        if parts[0] != "layers":
            out[key] = value
            continue
        i, rest = parts[1], ".".join(parts[2:])
        base = f"layers.{i}."
        if rest.startswith("ln0."):
            out[base + "0.norm1." + rest[4:]] = value
        elif rest.startswith("ln1."):
            out[base + "0.norm2." + rest[4:]] = value
        elif rest == "attn.to_q.weight":
            out[base + "0.to_q.weight"] = value
        elif rest == "attn.to_k.weight":
            out[base + "0.to_kv.weight"] = torch.cat([value, weights[f"layers.{i}.attn.to_v.weight"]])
        elif rest == "attn.to_out.0.weight":
            out[base + "0.to_out.weight"] = value
        elif rest.startswith("ff.0."):
            out[base + "1.0." + rest[5:]] = value
        elif rest == "ff.1.net.0.proj.weight":
            out[base + "1.1.weight"] = value
        elif rest == "ff.1.net.2.weight":
            out[base + "1.3.weight"] = value
        elif rest != "attn.to_v.weight":
            raise KeyError(key)
    return out


def make_ip_adapter(kind: str, unet_config: dict[str, Any], clip: dict[str, Any], seed: int,
                    plus: dict[str, int] | None = None) -> dict[str, Any]:
    """Flattened original-layout weights (``image_proj.*``, ``ip_adapter.N.to_{k,v}_ip.weight``)."""
    import torch
    from diffusers.models.embeddings import ImageProjection, IPAdapterPlusImageProjection

    layers = cross_attention_layers(unet_config)
    context = layers[0][1]
    torch.manual_seed(seed)
    if kind == "base":
        proj = _perturb(ImageProjection(image_embed_dim=clip["projection_dim"], cross_attention_dim=context,
                                        num_image_text_embeds=4), seed)
        image_proj = {k.replace("image_embeds", "proj"): v for k, v in proj.items()}
    else:
        p = plus or PLUS_TINY
        proj = _perturb(IPAdapterPlusImageProjection(embed_dims=clip["hidden_size"], output_dims=context,
                                                     hidden_dims=p["hidden_dims"], depth=4, dim_head=64,
                                                     heads=p["heads"], num_queries=p["num_queries"]), seed)
        image_proj = _plus_to_original(proj)
    g = torch.Generator().manual_seed(seed + 1)
    out = {f"image_proj.{k}": v for k, v in image_proj.items()}
    for i, (hidden, ctx) in enumerate(layers):
        for kv in ("k", "v"):
            out[f"ip_adapter.{2 * i + 1}.to_{kv}_ip.weight"] = torch.randn((hidden, ctx), generator=g) / ctx**0.5
    return out


def _nested(flat: dict[str, Any]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {"image_proj": {}, "ip_adapter": {}}
    for k, v in flat.items():
        group, rest = k.split(".", 1)
        out[group][rest] = v
    return out


def write_ip_adapters(out: Path, made: Made, *, size: str, seed: int, dtype: Any,
                      families: tuple[str, ...]) -> None:
    import torch
    from safetensors.torch import save_file

    tiny = size == "tiny"
    clip = clip_vision_config(size)
    encoder = make_clip_vision(clip, seed + 900).to(dtype)
    folder = out / "clip_vision" / f"{size}-clip-vision"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text(json.dumps({**encoder.config.to_dict(),
                                                    "architectures": ["CLIPVisionModelWithProjection"]}, indent=1))
    weights = {k: v.detach().contiguous() for k, v in encoder.state_dict().items()}
    save_file(weights, str(folder / "model.safetensors"), metadata={"format": "pt"})
    single = folder.parent / f"{size}-clip-vision.safetensors"
    shutil.copyfile(folder / "model.safetensors", single)
    made.paths["clip_vision"] = folder
    made.paths["clip_vision-file"] = single
    made.reference["clip_vision"] = {"config": clip, "weights": weights}
    _link(folder.parent / EXAMPLE_CLIP_VISION, single)

    ip_dir = out / "ipadapter"
    for n, fam in enumerate(f for f in ("sd15", "sdxl") if f in families):
        unet_cfg = TINY[fam]["unet"] if tiny else real_configs(fam)["unet"]
        meta: dict[str, str] = {"latent_studio.family": fam} if tiny else {}
        for kind in ("base", "plus"):
            plus = PLUS_TINY if tiny else PLUS_FULL[fam]
            w = make_ip_adapter(kind, unet_cfg, clip, seed + 950 + 10 * n + (kind == "plus"), plus)
            stem = f"{size}-ip-adapter{'-plus' if kind == 'plus' else ''}_{fam}"
            made.paths[f"ipadapter-{fam}-{kind}"] = _save(ip_dir / f"{stem}.safetensors", w, dtype, meta)
            made.reference[f"ipadapter-{fam}-{kind}"] = w
            if fam == "sd15" and kind == "base":
                pickle = ip_dir / f"{stem}.bin"
                torch.save({g: {k: v.to(dtype) for k, v in part.items()} for g, part in _nested(w).items()}, pickle)
                made.paths["ipadapter-sd15-base-bin"] = pickle
                _link(ip_dir / EXAMPLE_IPADAPTER, made.paths[f"ipadapter-{fam}-{kind}"])


def _link(link: Path, target: Path) -> None:
    link.unlink(missing_ok=True)
    link.symlink_to(target.name if target.parent == link.parent else target.resolve())
