"""Repeat Latent Batch: copies in order, noise masks following their latents."""

import numpy as np
import pytest
import torch

from nodes.latent_repeat import repeat_batch
from studio.core.context import NodeFailure
from studio.diffusion.values import Latent


class Ctx:
    def __init__(self):
        self.warnings = []

    def warn(self, text):
        self.warnings.append(text)


def test_the_batch_repeats_in_order():
    samples = torch.arange(2, dtype=torch.float32).reshape(2, 1, 1, 1).expand(2, 4, 3, 5).contiguous()
    out = repeat_batch.fn(Ctx(), latent=Latent("sd15", samples), amount=3)
    assert out.family == "sd15" and out.samples.shape == (6, 4, 3, 5)
    assert out.samples[:, 0, 0, 0].tolist() == [0, 1, 0, 1, 0, 1]
    assert out.noise_mask is None


def test_a_mask_per_latent_follows_its_latent_and_a_single_mask_stays_single():
    samples = torch.zeros(2, 4, 2, 2)
    masks = np.stack([np.zeros((2, 2), np.float32), np.ones((2, 2), np.float32)])
    out = repeat_batch.fn(Ctx(), latent=Latent("sd15", samples, noise_mask=masks), amount=2)
    assert [float(m.max()) for m in out.noise_mask] == [0.0, 1.0, 0.0, 1.0]
    one = np.ones((1, 2, 2), np.float32)
    assert repeat_batch.fn(Ctx(), latent=Latent("sd15", samples, noise_mask=one), amount=3).noise_mask is one


def test_amount_one_returns_the_same_values_and_a_non_latent_fails():
    samples = torch.randn(1, 4, 2, 2)
    assert torch.equal(repeat_batch.fn(Ctx(), latent=Latent("sdxl", samples), amount=1).samples, samples)
    with pytest.raises(NodeFailure):
        repeat_batch.fn(Ctx(), latent=np.zeros(3), amount=2)
