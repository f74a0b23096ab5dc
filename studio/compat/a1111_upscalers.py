"""A1111's hires-fix upscaler names → the upscale-model files they stand for.

A1111 lists its built-in Real-ESRGAN models under display names and every other file in its ESRGAN,
RealESRGAN and SwinIR folders under its file name without the extension.
"""

from __future__ import annotations

# Display name (lower case) → file stems, most common first.
BUILT_IN = {
    "r-esrgan 4x+": ("RealESRGAN_x4plus",),
    "r-esrgan 4x+ anime6b": ("RealESRGAN_x4plus_anime_6B",),
    "r-esrgan 2x+": ("RealESRGAN_x2plus",),
    "r-esrgan general 4xv3": ("realesr-general-x4v3",),
    "r-esrgan general wdn 4xv3": ("realesr-general-wdn-x4v3",),
    "r-esrgan animevideo": ("realesr-animevideov3",),
    "esrgan_4x": ("ESRGAN_4x", "RRDB_ESRGAN_x4"),
    "swinir 4x": ("SwinIR_4x", "003_realSR_BSRGAN_DFO_s64w8_SwinIR-M_x4_GAN"),
}
# Upscalers that are not upscale models (resamplers, or architectures not supported here).
NOT_MODELS = frozenset({"none", "lanczos", "nearest", "bicubic", "bilinear", "ldsr", "scunet", "scunet gan",
                        "scunet psnr", "dat x2", "dat x3", "dat x4"})


def upscaler_files(name: str) -> tuple[str, ...]:
    """File stems to look for in ``upscale_models/`` for the A1111 upscaler ``name``; () for a
    resampler or an upscaler that no file here can stand for."""
    key = name.strip().lower()
    if key in NOT_MODELS or key.startswith("latent"):
        return ()
    stem = name.strip()
    if not stem or any(c in stem for c in "/\\\0") or stem.startswith("."):
        return ()
    return BUILT_IN.get(key, (stem,))
