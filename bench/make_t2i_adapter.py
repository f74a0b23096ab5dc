"""Random-weight T2I-Adapters beside the random checkpoints of ``bench.make_models``.

Writes, under ``out/controlnet/``:

- ``{size}-sd15-t2i-depth.safetensors``: SD 1.5, the original TencentARC layout (``conv_in``, ``body.K.*``);
  also linked as ``t2iadapter_depth_sd15v2.safetensors``, the name the example workflow uses;
- ``{size}-sd15-t2i-depth-diffusers.safetensors``: the same weights in the diffusers layout (``adapter.*``);
- ``{size}-sdxl-t2i-depth-diffusers.safetensors`` (when SDXL is among the families): diffusers layout, as
  TencentARC publishes the SDXL adapters.

``full`` adapters have the real architectures (SD 1.5 ``full_adapter``: unshuffle 8, channels 320–1280;
SDXL ``full_adapter_xl``: unshuffle 16). A ``tiny`` adapter must give one feature map per down block of
the tiny UNet (channels 32, 64; a plain first block, whose residual the UNet adds after its downsampler):
feature maps of 32 and 64 channels, both at 1/16 of the image — the shape of SDXL's adapter, with
unshuffle 16 and no downsampling between the two. Tiny files carry that config and their family in their
metadata (as the other tiny models do), since from the shapes alone the SD 1.5 one would read as SDXL.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from bench.make_models import Made, _perturb, _save

TINY_CONFIG = {"_class_name": "T2IAdapter", "adapter_type": "full_adapter_xl", "in_channels": 3,
               "channels": [32, 64], "num_res_blocks": 2, "downscale_factor": 16}
FULL_CONFIGS = {
    "sd15": {"_class_name": "T2IAdapter", "adapter_type": "full_adapter", "in_channels": 3,
             "channels": [320, 640, 1280, 1280], "num_res_blocks": 2, "downscale_factor": 8},
    "sdxl": {"_class_name": "T2IAdapter", "adapter_type": "full_adapter_xl", "in_channels": 3,
             "channels": [320, 640, 1280, 1280], "num_res_blocks": 2, "downscale_factor": 16},
}
EXAMPLE_NAME = "t2iadapter_depth_sd15v2.safetensors"


def adapter_config(family: str, size: str) -> dict[str, Any]:
    return dict(TINY_CONFIG) if size == "tiny" else dict(FULL_CONFIGS[family])


def make_adapter(config: dict[str, Any], seed: int) -> dict[str, Any]:
    """Diffusers-layout weights of a randomly initialised ``T2IAdapter`` (every weight distinct)."""
    from diffusers import T2IAdapter

    return _perturb(T2IAdapter.from_config(config), seed)


def to_original(weights: dict[str, Any], config: dict[str, Any]) -> dict[str, Any]:
    """Diffusers names → the original TencentARC names (``body.K`` over all residual blocks)."""
    nrb = int(config["num_res_blocks"])
    out = {}
    for key, value in weights.items():
        parts = key.removeprefix("adapter.").split(".")
        if parts[0] == "body" and parts[2] == "resnets":
            parts = ["body", str(int(parts[1]) * nrb + int(parts[3])), *parts[4:]]
        elif parts[0] == "body" and parts[2] == "in_conv":
            parts = ["body", str(int(parts[1]) * nrb), *parts[2:]]
        out[".".join(parts)] = value
    return out


def write_t2i_adapters(out: Path, made: Made, *, size: str, seed: int, dtype: Any,
                       families: tuple[str, ...]) -> None:
    tiny = size == "tiny"
    for n, fam in enumerate(f for f in ("sd15", "sdxl") if f in families):
        cfg = adapter_config(fam, size)
        meta = {"latent_studio.family": fam, "latent_studio.configs": json.dumps({"t2i_adapter": cfg})} if tiny else {}
        w = make_adapter(cfg, seed + 700 + n)
        folder = out / "controlnet"
        made.reference[f"t2i_adapter-{fam}"] = {"t2i_adapter": w, "config": cfg}
        made.paths[f"t2i_adapter-{fam}-diffusers"] = _save(
            folder / f"{size}-{fam}-t2i-depth-diffusers.safetensors", w, dtype, meta)
        if fam != "sd15":
            continue
        path = _save(folder / f"{size}-{fam}-t2i-depth.safetensors", to_original(w, cfg), dtype, meta)
        made.paths[f"t2i_adapter-{fam}"] = path
        link = folder / EXAMPLE_NAME
        link.unlink(missing_ok=True)
        link.symlink_to(path.name)
        made.paths[f"t2i_adapter-{fam}-example"] = link
