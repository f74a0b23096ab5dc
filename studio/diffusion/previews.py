"""Live previews: the sampler's current denoised estimate (x0) as a small uint8 RGB array.

By default a linear latent→RGB map per family, computed at latent resolution (a 4×3 matrix product:
far below 1 % of a UNet step). With a TAESD decoder (diffusers ``AutoencoderTiny``) the preview is
a real, full-size decode, at the cost of a small network per step.

x0 is taken in the space the UNet works in (VAE latent × scaling factor, unit variance), the space
these factors were fitted for: applied to unscaled latents they would saturate.
"""

from __future__ import annotations

from typing import Any

import numpy as np

# Rows are latent channels, columns R, G, B.
_FACTORS: dict[str, tuple[tuple[tuple[float, float, float], ...], tuple[float, float, float]]] = {
    "sd15": (((0.3512, 0.2297, 0.3227), (0.3250, 0.4974, 0.2350), (-0.2829, 0.1762, 0.2721),
              (-0.2120, -0.2616, -0.7177)), (0.0, 0.0, 0.0)),
    "sdxl": (((0.3651, 0.4232, 0.4341), (-0.2533, -0.0042, 0.1068), (0.1076, 0.1111, -0.0362),
              (-0.3165, -0.2492, -0.2188)), (0.1084, -0.0175, -0.0011)),
}
_FACTORS["sd2"] = _FACTORS["sd15"]
_FACTORS["sdxl_refiner"] = _FACTORS["sdxl"]  # one latent space


def latent_rgb_factors(family: str) -> tuple[np.ndarray, np.ndarray]:
    """(4, 3) matrix and (3,) bias for ``family`` (SD 1/2 factors for an unknown family)."""
    m, b = _FACTORS.get(family, _FACTORS["sd15"])
    return np.asarray(m, np.float32), np.asarray(b, np.float32)


def latent_to_rgb(x0: Any, family: str, index: int = 0) -> np.ndarray:
    """Image ``index`` of a (B, 4, h, w) latent batch as a uint8 (h, w, 3) array."""
    import torch

    m, b = latent_rgb_factors(family)
    with torch.no_grad():
        lat = x0[index].detach().float()
        mt = torch.from_numpy(m).to(lat.device)
        rgb = torch.einsum("chw,cr->hwr", lat, mt) + torch.from_numpy(b).to(lat.device)
        rgb = ((rgb + 1.0) * 127.5).clamp(0, 255).round().to(torch.uint8)
    return rgb.cpu().numpy()


def taesd_to_rgb(x0: Any, taesd: Any, index: int = 0) -> np.ndarray:
    """Decode image ``index`` with a diffusers ``AutoencoderTiny``; uint8 (H, W, 3)."""
    import torch

    with torch.no_grad():
        lat = x0[index:index + 1].to(device=taesd.device, dtype=taesd.dtype)
        img = taesd.decode(lat / taesd.config.scaling_factor).sample[0]  # in [-1, 1]
        img = ((img.float() + 1.0) * 127.5).clamp(0, 255).round().to(torch.uint8)
    return img.permute(1, 2, 0).cpu().numpy()


def preview(x0: Any, family: str, taesd: Any = None) -> np.ndarray:
    """The preview the sampler shows for this step."""
    return taesd_to_rgb(x0, taesd) if taesd is not None else latent_to_rgb(x0, family)
