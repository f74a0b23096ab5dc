"""Random-weight upscale models beside the random checkpoints of ``bench.make_models``.

Writes, under ``upscale_models/`` (all in the released files' layouts and names of parameters):

- ``{size}-RRDBNet_x4.safetensors``: RRDBNet ×4 in BasicSR's layout (Real-ESRGAN x4plus), also as
  ``RealESRGAN_x4plus.safetensors``;
- ``{size}-RRDBNet_x2.safetensors``: RRDBNet ×2 with the pixel-unshuffled input (Real-ESRGAN x2plus),
  also as ``RealESRGAN_x2plus.safetensors``;
- ``{size}-ESRGAN_x4_old.safetensors``: RRDBNet ×4 in ESRGAN's original ``model.N`` layout (most
  community models), also as ``4x-UltraSharp.safetensors``;
- ``{size}-RealESRGAN_x4plus_anime_6B.pth``: a pickle holding ``{"params_ema": …}`` as Real-ESRGAN's
  releases do, also as ``RealESRGAN_x4plus_anime_6B.pth``;
- ``{size}-SRVGG_x4.safetensors`` / ``{size}-SRVGG_animevideo_x4.safetensors``: SRVGGNetCompact ×4, also
  as ``realesr-general-x4v3.safetensors`` / ``realesr-animevideov3.safetensors``;
- ``{size}-SwinIR_x4_real.safetensors``: real-world SwinIR ×4 (nearest+conv), also as
  ``003_realSR_BSRGAN_DFO_s64w8_SwinIR-M_x4_GAN.safetensors`` and ``SwinIR_4x.safetensors``;
- ``{size}-SwinIR_x2_classical.safetensors``: classical SwinIR ×2 (pixel shuffle), also as
  ``001_classicalSR_DF2K_s64w8_SwinIR-M_x2.safetensors``.

``full`` has the released architectures' sizes (RRDBNet 64 features × 23 blocks, SRVGG 64 × 32 / 16
convolutions, SwinIR-M: width 180, 6 × 6 blocks, window 8); ``tiny`` ones have a few channels and
blocks and run in milliseconds. SwinIR files keep the stored attention masks and index tables as
the real ones do.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bench.make_models import Made

FOLDER = "upscale_models"

# name → (architecture, tiny config, full config, saved layout, real-file names)
MODELS: dict[str, tuple[str, dict[str, Any], dict[str, Any], str, tuple[str, ...]]] = {
    "RRDBNet_x4": ("RRDBNet", {"num_feat": 8, "num_block": 2, "num_grow_ch": 4, "scale": 4},
                   {"num_feat": 64, "num_block": 23, "num_grow_ch": 32, "scale": 4}, "basicsr",
                   ("RealESRGAN_x4plus.safetensors",)),
    "RRDBNet_x2": ("RRDBNet", {"num_feat": 8, "num_block": 1, "num_grow_ch": 4, "scale": 2, "unshuffle": 2},
                   {"num_feat": 64, "num_block": 23, "num_grow_ch": 32, "scale": 2, "unshuffle": 2}, "basicsr",
                   ("RealESRGAN_x2plus.safetensors",)),
    "ESRGAN_x4_old": ("RRDBNet", {"num_feat": 8, "num_block": 2, "num_grow_ch": 4, "scale": 4},
                      {"num_feat": 64, "num_block": 23, "num_grow_ch": 32, "scale": 4}, "esrgan",
                      ("4x-UltraSharp.safetensors",)),
    "RealESRGAN_x4plus_anime_6B": ("RRDBNet", {"num_feat": 8, "num_block": 1, "num_grow_ch": 4, "scale": 4},
                                   {"num_feat": 64, "num_block": 6, "num_grow_ch": 32, "scale": 4}, "pth",
                                   ("RealESRGAN_x4plus_anime_6B.pth",)),
    "SRVGG_x4": ("SRVGGNetCompact", {"num_feat": 8, "num_conv": 2, "upscale": 4},
                 {"num_feat": 64, "num_conv": 32, "upscale": 4}, "basicsr", ("realesr-general-x4v3.safetensors",)),
    "SRVGG_animevideo_x4": ("SRVGGNetCompact", {"num_feat": 8, "num_conv": 3, "upscale": 4},
                            {"num_feat": 64, "num_conv": 16, "upscale": 4}, "basicsr",
                            ("realesr-animevideov3.safetensors",)),
    "SwinIR_x4_real": ("SwinIR", {"img_size": 16, "embed_dim": 12, "depths": (2, 2), "num_heads": (2, 2),
                                  "window_size": 4, "mlp_ratio": 2.0, "upscale": 4, "upsampler": "nearest+conv",
                                  "num_feat": 8},
                       {"img_size": 64, "embed_dim": 180, "depths": (6,) * 6, "num_heads": (6,) * 6,
                        "window_size": 8, "mlp_ratio": 2.0, "upscale": 4, "upsampler": "nearest+conv"}, "basicsr",
                       ("003_realSR_BSRGAN_DFO_s64w8_SwinIR-M_x4_GAN.safetensors", "SwinIR_4x.safetensors")),
    "SwinIR_x2_classical": ("SwinIR", {"img_size": 16, "embed_dim": 12, "depths": (2,), "num_heads": (3,),
                                       "window_size": 4, "mlp_ratio": 2.0, "upscale": 2, "upsampler": "pixelshuffle",
                                       "num_feat": 8},
                            {"img_size": 64, "embed_dim": 180, "depths": (6,) * 6, "num_heads": (6,) * 6,
                             "window_size": 8, "mlp_ratio": 2.0, "upscale": 2, "upsampler": "pixelshuffle"},
                            "basicsr", ("001_classicalSR_DF2K_s64w8_SwinIR-M_x2.safetensors",)),
}


def make_upscale_model(arch: str, config: dict[str, Any], seed: int) -> Any:
    """Our module of ``arch`` with seeded random weights (the global RNG is left as it was)."""
    import torch

    from studio.diffusion.upscale_models import UpscaleInfo, build

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = build(UpscaleInfo(arch, 0, config))
        with torch.no_grad():  # untrained biases are 0: give them values so that every weight matters
            for name, p in model.named_parameters():
                if name.endswith(("bias", "relative_position_bias_table")):
                    p.normal_(0.0, 0.02)
    return model.eval()


def save_state(path: Path, state: dict[str, Any], dtype: Any) -> Path:
    """Floating tensors in ``dtype``, integer ones (SwinIR's index tables) as they are."""
    from safetensors.torch import save_file

    path.parent.mkdir(parents=True, exist_ok=True)
    save_file({k: (v.to(dtype) if v.is_floating_point() else v).contiguous() for k, v in state.items()}, str(path))
    return path


def write_upscale_models(out: Path, made: Made, *, size: str, seed: int, dtype: Any,
                         families: tuple[str, ...] = ()) -> None:
    """Write every model of ``MODELS`` (families do not apply: upscale models work on pixels)."""
    import torch

    from studio.diffusion.upscale_arch.esrgan_keys import new_to_old_keys

    folder = out / FOLDER
    for n, (name, (arch, tiny, full, layout, real_names)) in enumerate(MODELS.items()):
        model = make_upscale_model(arch, tiny if size == "tiny" else full, seed + 100 + n)
        state = model.state_dict()
        if layout == "esrgan":
            state = new_to_old_keys(state)
        if layout == "pth":
            path = folder / f"{size}-{name}.pth"
            path.parent.mkdir(parents=True, exist_ok=True)
            torch.save({"params_ema": {k: v.to(dtype).clone() for k, v in state.items()}}, str(path))
        else:
            path = save_state(folder / f"{size}-{name}.safetensors", state, dtype)
        made.paths[f"upscale-{name}"] = path
        made.reference[f"upscale-{name}"] = {"weights": dict(model.state_dict())}
        for real in real_names:
            link = folder / real
            link.unlink(missing_ok=True)
            link.symlink_to(path.name)
