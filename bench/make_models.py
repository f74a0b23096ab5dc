"""Write random-weight SD 1.5 / SD 2 / SDXL (and SDXL refiner) checkpoints, ControlNets and a VAE as a
models root.

``python -m bench make-models --size tiny|full --out DIR`` writes
``checkpoints/{tiny,full}-{sd15,sd2,sdxl}.safetensors`` (original single-file layout; with
``--families …,sdxl_refiner`` also ``…-sdxl_refiner.safetensors``, OpenCLIP-G as its only encoder),
``controlnet/…-{sd15,sdxl}-canny.safetensors`` (original layout: ``control_model.*`` for SD 1.5, bare
keys for SDXL) and ``…-canny-diffusers.safetensors`` (diffusers layout), and ``vae/…-vae.safetensors``.

``full`` uses the real architectures (the shipped configs in ``resources/configs``) and stores
nothing else. ``tiny`` models are small enough to build in seconds; since no shipped config fits
them, each tiny file carries its diffusers configs in its safetensors metadata
(``latent_studio.configs``, plus ``latent_studio.family``), which the loader reads in place of the
shipped ones. Weights are the library's initialisation plus a little seeded noise, so every weight
is distinct and no layer is a no-op (ControlNet zero convolutions included).
"""

from __future__ import annotations

import argparse
import importlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from studio.diffusion.ldm_layout import clip_to_ldm, clip_to_open_clip, unet_to_ldm, vae_to_ldm

_CLIP = {"vocab_size": 49408, "hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2,
         "num_attention_heads": 4, "max_position_embeddings": 77, "projection_dim": 32, "hidden_act": "quick_gelu",
         "bos_token_id": 0, "eos_token_id": 2, "pad_token_id": 1, "layer_norm_eps": 1e-05,
         "architectures": ["CLIPTextModel"]}
_CLIP_G = {**_CLIP, "hidden_act": "gelu", "architectures": ["CLIPTextModelWithProjection"]}
_VAE = {"_class_name": "AutoencoderKL", "block_out_channels": [32, 32, 64, 64], "layers_per_block": 1,
        "down_block_types": ["DownEncoderBlock2D"] * 4, "up_block_types": ["UpDecoderBlock2D"] * 4,
        "latent_channels": 4, "norm_num_groups": 32, "in_channels": 3, "out_channels": 3, "sample_size": 64,
        "scaling_factor": 0.18215}
# Attention only at the lower resolution: self-attention over every latent pixel of a 512² image
# (4,096 tokens) would make these test models slower than the real ones on a CPU.
_UNET = {"_class_name": "UNet2DConditionModel", "block_out_channels": [32, 64], "layers_per_block": 1,
         "down_block_types": ["DownBlock2D", "CrossAttnDownBlock2D"], "up_block_types": ["CrossAttnUpBlock2D", "UpBlock2D"],
         "cross_attention_dim": 32, "attention_head_dim": 8, "norm_num_groups": 32, "sample_size": 8,
         "in_channels": 4, "out_channels": 4}
_UNET_SD2 = {**_UNET, "use_linear_projection": True, "attention_head_dim": [2, 4]}
_UNET_XL = {**_UNET, "down_block_types": ["DownBlock2D", "CrossAttnDownBlock2D"],
            "up_block_types": ["CrossAttnUpBlock2D", "UpBlock2D"], "cross_attention_dim": 64,
            "attention_head_dim": [2, 4], "transformer_layers_per_block": [1, 2], "use_linear_projection": True,
            "addition_embed_type": "text_time", "addition_time_embed_dim": 8,
            "projection_class_embeddings_input_dim": 32 + 6 * 8}
# The refiner's shape: OpenCLIP-G alone (context width = G's), and time ids of 5 numbers (original
# size, crop, aesthetic score) in place of 6.
_UNET_XL_REFINER = {**_UNET_XL, "cross_attention_dim": 32, "projection_class_embeddings_input_dim": 32 + 5 * 8}
_SCHED = {"_class_name": "EulerDiscreteScheduler", "beta_start": 0.00085, "beta_end": 0.012,
          "beta_schedule": "scaled_linear", "num_train_timesteps": 1000, "prediction_type": "epsilon",
          "steps_offset": 1, "timestep_spacing": "leading", "clip_sample": False, "set_alpha_to_one": False}
TINY = {
    "sd15": {"unet": _UNET, "vae": _VAE, "text_encoder": _CLIP, "scheduler": _SCHED},
    "sd2": {"unet": _UNET_SD2, "vae": _VAE, "text_encoder": {**_CLIP, "hidden_act": "gelu"},
            "scheduler": {**_SCHED, "prediction_type": "v_prediction"}},
    "sdxl": {"unet": _UNET_XL, "vae": {**_VAE, "scaling_factor": 0.13025}, "text_encoder": _CLIP,
             "text_encoder_2": _CLIP_G, "scheduler": _SCHED},
    "sdxl_refiner": {"unet": _UNET_XL_REFINER, "vae": {**_VAE, "scaling_factor": 0.13025}, "text_encoder_2": _CLIP_G,
                     "scheduler": _SCHED},
}
TE_LAYOUT = {  # (prefix, layout) of each text encoder in an original single file
    "sd15": [("cond_stage_model.transformer.", "clip")],
    "sd2": [("cond_stage_model.model.", "open_clip")],
    "sdxl": [("conditioner.embedders.0.transformer.", "clip"), ("conditioner.embedders.1.model.", "open_clip")],
    "sdxl_refiner": [("conditioner.embedders.0.model.", "open_clip")],
}


@dataclass
class Made:
    """What was written, with the diffusers-layout weights each file was made from (for checks)."""

    paths: dict[str, Path] = field(default_factory=dict)
    reference: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)


def real_configs(family: str) -> dict[str, dict[str, Any]]:
    from studio.diffusion.loaders import CONFIGS, _json

    base = CONFIGS / family
    from studio.diffusion.families import text_encoder_names

    subs = ["unet", "vae", *text_encoder_names(family)]
    cfg = {s: _json(base / s / "config.json") for s in subs}
    cfg["scheduler"] = _json(base / "scheduler/scheduler_config.json")
    return cfg


def controlnet_config(unet: dict[str, Any], tiny: bool, family: str) -> dict[str, Any]:
    if not tiny:
        from studio.diffusion.loaders import CONFIGS, _json

        return _json(CONFIGS / "controlnet" / family / "config.json")
    drop = ("_class_name", "up_block_types", "out_channels", "sample_size")
    return {"_class_name": "ControlNetModel", **{k: v for k, v in unet.items() if k not in drop},
            "conditioning_embedding_out_channels": [16, 32, 96, 256]}


def _perturb(model: Any, seed: int) -> dict[str, Any]:
    import torch

    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn(p.shape, generator=g) * 0.02)
    return {k: v.detach() for k, v in model.state_dict().items() if not k.endswith("position_ids")}


def _models(cfg: dict[str, dict[str, Any]], seed: int) -> dict[str, dict[str, Any]]:
    from diffusers import AutoencoderKL, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

    out = {"unet": _perturb(UNet2DConditionModel.from_config(cfg["unet"]), seed),
           "vae": _perturb(AutoencoderKL.from_config(cfg["vae"]), seed + 1)}
    for i, sub in enumerate(s for s in ("text_encoder", "text_encoder_2") if s in cfg):
        c = {k: v for k, v in cfg[sub].items() if not k.startswith("_")}
        cls = CLIPTextModelWithProjection if "CLIPTextModelWithProjection" in c["architectures"] else CLIPTextModel
        out[sub] = _perturb(cls(CLIPTextConfig.from_dict(c)), seed + 2 + i)
    return out


def _save(path: Path, weights: dict[str, Any], dtype: Any, meta: dict[str, str]) -> Path:
    from safetensors.torch import save_file

    path.parent.mkdir(parents=True, exist_ok=True)
    save_file({k: v.to(dtype).contiguous() for k, v in weights.items()}, str(path), metadata=meta)
    return path


def write_models(out: Path, size: str = "tiny", *, seed: int = 0, dtype: str = "fp16",
                 families: tuple[str, ...] = ("sd15", "sd2", "sdxl")) -> Made:
    """The models of ``families`` under ``out``; the same seed gives the same weights whatever ran before
    (the layers' default initialisation draws from the global generator, seeded here on a fork of it)."""
    import torch

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return _write_models(out, size, seed=seed, dtype=dtype, families=families)


def _write_models(out: Path, size: str, *, seed: int, dtype: str, families: tuple[str, ...]) -> Made:
    import torch
    from diffusers import ControlNetModel, UNet2DConditionModel

    tiny = size == "tiny"
    td = {"fp16": torch.float16, "fp32": torch.float32, "bf16": torch.bfloat16}[dtype]
    made = Made()
    for n, fam in enumerate(families):
        cfg = TINY[fam] if tiny else real_configs(fam)
        meta = {"latent_studio.family": fam, "latent_studio.configs": json.dumps(cfg)} if tiny else {}
        w = _models(cfg, seed + 10 * n)
        ckpt = {"model.diffusion_model." + k: v for k, v in unet_to_ldm(w["unet"], cfg["unet"]).items()}
        ckpt.update({"first_stage_model." + k: v for k, v in vae_to_ldm(w["vae"], cfg["vae"]).items()})
        subs = [s for s in ("text_encoder", "text_encoder_2") if s in cfg]
        for sub, (prefix, layout) in zip(subs, TE_LAYOUT[fam], strict=True):
            ckpt.update(clip_to_ldm(w[sub], prefix) if layout == "clip" else clip_to_open_clip(w[sub], prefix))
        made.paths[f"checkpoint-{fam}"] = _save(out / "checkpoints" / f"{size}-{fam}.safetensors", ckpt, td, meta)
        made.reference[f"checkpoint-{fam}"] = w
        if fam in ("sd2", "sdxl_refiner"):
            continue
        # ControlNet: initialised from the UNet, as ControlNet training does
        ccfg = controlnet_config(cfg["unet"], tiny, fam)
        unet = UNet2DConditionModel.from_config(cfg["unet"])
        unet.load_state_dict(w["unet"])
        cn = _perturb(ControlNetModel.from_unet(unet, conditioning_embedding_out_channels=tuple(
            ccfg["conditioning_embedding_out_channels"])), seed + 10 * n + 5)
        cmeta = {"latent_studio.family": fam, "latent_studio.configs": json.dumps({"controlnet": ccfg})} if tiny else {}
        ldm = unet_to_ldm(cn, ccfg)
        if fam == "sd15":
            ldm = {"control_model." + k: v for k, v in ldm.items()}
        made.paths[f"controlnet-{fam}"] = _save(out / "controlnet" / f"{size}-{fam}-canny.safetensors", ldm, td, cmeta)
        made.paths[f"controlnet-{fam}-diffusers"] = _save(
            out / "controlnet" / f"{size}-{fam}-canny-diffusers.safetensors", cn, td, cmeta)
        made.reference[f"controlnet-{fam}"] = made.reference[f"controlnet-{fam}-diffusers"] = {"controlnet": cn}
        if fam == "sd15":
            vmeta = {"latent_studio.configs": json.dumps({"vae": cfg["vae"]})} if tiny else {}
            made.paths["vae"] = _save(out / "vae" / f"{size}-vae.safetensors", vae_to_ldm(w["vae"], cfg["vae"]), td,
                                      vmeta)
            made.reference["vae"] = {"vae": w["vae"]}
    for writer in EXTRA_WRITERS:
        module, name = writer.split(":")
        getattr(importlib.import_module(module), name)(out, made, size=size, seed=seed, dtype=td, families=families)
    return made


# Writers of the models that build on the checkpoints above (LoRAs, embeddings, adapters), each
# "module:function" called as function(out, made, size=, seed=, dtype=, families=) after them.
EXTRA_WRITERS: list[str] = [
    "bench.make_lora:write_loras",
    "bench.make_embedding:write_embeddings",
    "bench.make_t2i_adapter:write_t2i_adapters",
    "bench.make_ip_adapter:write_ip_adapters",
    "bench.make_upscale:write_upscale_models",
    "bench.make_gligen:write_gligen",
]


# The file names the example workflows use, linked to the random models of the right kind, so the
# examples run as they are on a folder of test models.
EXAMPLE_NAMES = {
    "checkpoint-sd15": ["checkpoints/v1-5-pruned-emaonly.safetensors"],
    "checkpoint-sdxl": ["checkpoints/sd_xl_base_1.0.safetensors"],
    "checkpoint-sdxl_refiner": ["checkpoints/sd_xl_refiner_1.0.safetensors"],
    "controlnet-sd15": ["controlnet/control_v11p_sd15_canny.safetensors",
                        "controlnet/control_v11f1p_sd15_depth.safetensors",
                        "controlnet/control_v11p_sd15_openpose.safetensors",
                        "controlnet/control_v11p_sd15_seg.safetensors",
                        "controlnet/control_v11f1e_sd15_tile.safetensors"],
}


def link_example_names(out: Path, made: Made) -> list[Path]:
    links = []
    for key, names in EXAMPLE_NAMES.items():
        target = made.paths.get(key)
        if target is None:
            continue
        for name in names:
            link = out / name
            link.unlink(missing_ok=True)
            link.symlink_to(target.relative_to(link.parent) if target.parent == link.parent else target.resolve())
            links.append(link)
    return links


def bench_models_dir(size: str) -> Path:
    """Where benchmarks keep their random models (outside the repository)."""
    import os

    base = os.environ.get("LATENT_STUDIO_BENCH_MODELS")
    return Path(base) / size if base else Path.home() / ".cache" / "latent-studio" / "bench-models" / size


def ensure_models(size: str = "tiny", families: tuple[str, ...] = ("sd15", "sdxl")) -> Path:
    """A models root with random models of ``size``, built once and reused."""
    root = bench_models_dir(size)
    wanted = [root / "checkpoints" / f"{size}-{f}.safetensors" for f in families]
    if not all(p.exists() for p in wanted):
        made = write_models(root, size, families=families)
        link_example_names(root, made)
    return root


def ensure_tiny_models() -> Path:
    return ensure_models("tiny")


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench make-models", description=__doc__.split("\n\n")[0])
    ap.add_argument("--size", choices=("tiny", "full"), default="tiny")
    ap.add_argument("--out", type=Path, required=True, help="models root to write into")
    ap.add_argument("--dtype", choices=("fp16", "bf16", "fp32"), default="fp16")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--families", default="sd15,sd2,sdxl", help="comma-separated subset of sd15,sd2,sdxl,sdxl_refiner")
    args = ap.parse_args(argv)
    fams = tuple(f for f in args.families.split(",") if f)
    bad = [f for f in fams if f not in TINY]
    if bad:
        ap.error(f"unknown family {bad[0]!r}")
    made = write_models(args.out, args.size, seed=args.seed, dtype=args.dtype, families=fams)
    for p in made.paths.values():
        print(f"{p.stat().st_size / 1e6:9.1f} MB  {p}")
    for link in link_example_names(args.out, made):
        print(f"{'link':>12}  {link}")
    return 0


if __name__ == "__main__":
    import sys

    raise SystemExit(main(sys.argv[1:]))
