"""Random LoRAs for the random checkpoints of ``bench.make_models``, in the layouts users have on disk.

Written into ``<out>/loras/``:
- ``{size}-{family}-lora.safetensors`` (sd15, and sdxl when built): kohya/A1111 layout, rank 4, with
  ``alpha``; every UNet attention projection (``to_q/k/v/out.0`` of attn1 and attn2) and every text
  encoder attention projection (``q/k/v/out_proj``). Named as kohya's sd-scripts names them: SD 1.x
  with the diffusers UNet's module paths, SDXL with the original (SGM) UNet's block names
  (``lora_unet_input_blocks_4_1_…``), ``lora_te_`` / ``lora_te1_`` + ``lora_te2_`` for the encoders.
- ``{size}-sd15-locon.safetensors``: a second, different SD 1.5 file (kohya LoCon: attention, the
  transformers' ``proj_in``/``proj_out`` 1×1 convs and the resnets' 3×3 ``conv1``; UNet only).
- ``{size}-sd15-peft.safetensors``: diffusers/PEFT layout (``unet.….lora_A/lora_B``,
  ``text_encoder.…``), lora_alpha in diffusers' ``lora_adapter_metadata``.
- ``lcm-lora-sdv1-5.safetensors``: the kohya SD 1.5 file under the name the example workflow uses
  (the catalogue's LCM-LoRA for SD 1.5).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

RANK = 4
ALPHA = 2.0
ATTN = re.compile(r"attn[12]\.(to_q|to_k|to_v|to_out\.0)$")
TE_ATTN = re.compile(r"self_attn\.(q_proj|k_proj|v_proj|out_proj)$")
EXAMPLE_NAME = "lcm-lora-sdv1-5.safetensors"  # the LoRA resources/workflows/lora.json names
LOCON = re.compile(r"(attn[12]\.(to_q|to_v)|proj_in|proj_out|resnets\.\d+\.conv1)$")


def _modules(weights: dict[str, Any], pattern: re.Pattern[str]) -> list[tuple[str, tuple[int, ...]]]:
    return [(k[: -len(".weight")], tuple(v.shape)) for k, v in weights.items()
            if k.endswith(".weight") and pattern.search(k[: -len(".weight")])]


def _factors(shape: tuple[int, ...], g: Any, rank: int = RANK) -> tuple[Any, Any]:
    """(down, up) for a weight of ``shape``: linear, or conv with the kernel in ``down`` (as LoCon)."""
    import torch

    out, inp = shape[0], shape[1]
    if len(shape) == 4:
        down = torch.randn(rank, inp, *shape[2:], generator=g) * 0.2
        up = torch.randn(out, rank, 1, 1, generator=g) * 0.2
    else:
        down, up = torch.randn(rank, inp, generator=g) * 0.2, torch.randn(out, rank, generator=g) * 0.2
    return down, up


def kohya_unet_name(module: str, family: str, unet_config: dict[str, Any]) -> str:
    """kohya's layer name for a diffusers UNet module (SDXL: through the original block names)."""
    if family.startswith("sdxl"):
        from studio.diffusion.ldm_layout import unet_to_ldm

        (ldm,) = unet_to_ldm({module + ".weight": None}, unet_config)
        module = ldm[: -len(".weight")]
    return "lora_unet_" + module.replace(".", "_")


def kohya_te_name(module: str, prefix: str) -> str:
    module = module if module.startswith("text_model.") else "text_model." + module
    return prefix + module.replace(".", "_")


def kohya_lora(reference: dict[str, dict[str, Any]], family: str, unet_config: dict[str, Any], seed: int,
               unet_pattern: re.Pattern[str] = ATTN, text: bool = True, dtype: Any = None,
               rank: int = RANK) -> dict[str, Any]:
    import torch

    g = torch.Generator().manual_seed(seed)
    sd: dict[str, Any] = {}

    def add(name: str, shape: tuple[int, ...]) -> None:
        down, up = _factors(shape, g, rank)
        sd[name + ".lora_down.weight"], sd[name + ".lora_up.weight"] = down, up
        sd[name + ".alpha"] = torch.tensor(ALPHA)

    for module, shape in _modules(reference["unet"], unet_pattern):
        add(kohya_unet_name(module, family, unet_config), shape)
    if text:
        prefixes = {"text_encoder": "lora_te1_", "text_encoder_2": "lora_te2_"} if family == "sdxl" else \
            {"text_encoder": "lora_te_"}
        for sub, prefix in prefixes.items():
            for module, shape in _modules(reference[sub], TE_ATTN):
                add(kohya_te_name(module, prefix), shape)
    return {k: v.to(dtype) if dtype is not None else v for k, v in sd.items()}


def peft_lora(reference: dict[str, dict[str, Any]], seed: int, dtype: Any = None) -> dict[str, Any]:
    import torch

    g = torch.Generator().manual_seed(seed)
    sd: dict[str, Any] = {}
    for sub, pattern in (("unet", ATTN), ("text_encoder", TE_ATTN)):
        for module, shape in _modules(reference[sub], pattern):
            down, up = _factors(shape, g)
            sd[f"{sub}.{module}.lora_A.weight"], sd[f"{sub}.{module}.lora_B.weight"] = down, up
    return {k: v.to(dtype) if dtype is not None else v for k, v in sd.items()}


def _save(path: Path, sd: dict[str, Any], meta: dict[str, str]) -> Path:
    from safetensors.torch import save_file

    path.parent.mkdir(parents=True, exist_ok=True)
    save_file({k: v.contiguous() for k, v in sd.items()}, str(path), metadata=meta)
    return path


def write_loras(out: Path, made: Any, *, size: str, seed: int, dtype: Any, families: tuple[str, ...]) -> None:
    from bench.make_models import TINY, real_configs

    loras = out / "loras"
    for n, fam in enumerate(f for f in ("sd15", "sdxl") if f in families):
        ref = made.reference[f"checkpoint-{fam}"]
        cfg = (TINY[fam] if size == "tiny" else real_configs(fam))["unet"]
        # Tiny models' widths name no family; say it as the tiny checkpoints do.
        meta: dict[str, str] = {"latent_studio.family": fam} if size == "tiny" else {}
        meta["ss_network_module"] = "networks.lora"
        sd = kohya_lora(ref, fam, cfg, seed + 100 + n, dtype=dtype)
        made.paths[f"lora-{fam}"] = _save(loras / f"{size}-{fam}-lora.safetensors", sd, meta)
        if fam != "sd15":
            continue
        made.paths["lora-example"] = _save(loras / EXAMPLE_NAME, sd, meta)
        locon = kohya_lora(ref, fam, cfg, seed + 200, LOCON, text=False, dtype=dtype)
        made.paths["lora-sd15-locon"] = _save(loras / f"{size}-sd15-locon.safetensors", locon,
                                              {**meta, "ss_network_module": "lycoris.kohya"})
        peft = peft_lora(ref, seed + 300, dtype)
        made.paths["lora-sd15-peft"] = _save(
            loras / f"{size}-sd15-peft.safetensors", peft,
            {**{k: v for k, v in meta.items() if k.startswith("latent_studio")}, "format": "pt",
             "lora_adapter_metadata": json.dumps(_adapter_metadata(peft, {"unet": 2 * RANK,
                                                                          "text_encoder": RANK // 2}))})


def _adapter_metadata(sd: dict[str, Any], alphas: dict[str, int]) -> dict[str, Any]:
    """The PEFT ``LoraConfig`` of each part, prefixed by the part, as diffusers' ``save_lora_weights``
    stores it (``lora_adapter_metadata``)."""
    from peft import LoraConfig

    meta: dict[str, Any] = {}
    for part, alpha in alphas.items():
        targets = sorted({k[len(part) + 1: -len(".lora_A.weight")] for k in sd
                          if k.startswith(part + ".") and k.endswith(".lora_A.weight")})
        cfg = LoraConfig(r=RANK, lora_alpha=alpha, target_modules=targets).to_dict()
        meta.update({f"{part}.{k}": sorted(v) if isinstance(v, set) else v for k, v in cfg.items()})
    return meta
