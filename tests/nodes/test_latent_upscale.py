"""Scale Latent keeps the noise mask (the sampler resizes it), unless it crops."""

import numpy as np
import torch

from nodes.latent_upscale import upscale
from studio.diffusion.values import Latent


class Ctx:
    def __init__(self):
        self.warnings = []

    def warn(self, text):
        self.warnings.append(text)


def _scale(latent, **kw):
    params = {"mode": "factor", "width": 0, "height": 0, "factor": 2.0, "method": "nearest-exact", "crop": False}
    ctx = Ctx()
    return upscale.fn(ctx, latent=latent, **{**params, **kw}), ctx.warnings


def test_the_noise_mask_stays_with_a_scaled_latent():
    mask = np.zeros((1, 16, 16), np.float32)
    mask[:, 4:8, 4:8] = 1.0
    out, warnings = _scale(Latent("sd15", torch.randn(1, 4, 2, 2), noise_mask=mask))
    assert out.samples.shape == (1, 4, 4, 4)
    assert out.noise_mask is mask and not warnings


def test_a_crop_drops_the_mask_with_a_warning_and_no_mask_stays_none():
    mask = np.ones((1, 16, 32), np.float32)
    out, warnings = _scale(Latent("sd15", torch.randn(1, 4, 2, 4), noise_mask=mask), mode="size", width=64,
                           height=64, crop=True)
    assert out.samples.shape == (1, 4, 8, 8) and out.noise_mask is None
    assert any("noise mask is dropped" in w for w in warnings)
    plain, warnings = _scale(Latent("sd15", torch.randn(1, 4, 2, 2)))
    assert plain.noise_mask is None and not warnings
