"""A float16 VAE that overflows (NaN / inf inside) is run again in float32 and stays there, in the plain
and the tiled decode and encode, instead of handing on a black or NaN image."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

from studio.diffusion import vae as vae_ops
from studio.diffusion.vae_tiled import decode_tiled, encode_tiled
from studio.diffusion.values import Latent, VAEModel


def _overflowing(vae: VAEModel) -> tuple[VAEModel, VAEModel]:
    """(float32, float16) copies whose middle activations exceed float16's range (65504): fine in
    float32, where the next GroupNorm scales them back, NaN in float16."""
    model = copy.deepcopy(vae.vae)
    model.register_to_config(force_upcast=False)  # as the SD 1.x / 2.x configs say: float16 unless it overflows
    with torch.no_grad():  # (fp16 weights stay well inside its range)
        for conv in (model.decoder.mid_block.resnets[0].conv2, model.encoder.mid_block.resnets[0].conv2):
            conv.weight.mul_(2e5)
            conv.bias.mul_(2e5)
    half = torch.nn.Module.to(copy.deepcopy(model), torch.float16)
    full = torch.nn.Module.to(copy.deepcopy(half), torch.float32)  # the same (rounded) weights
    return VAEModel(vae.family, full), VAEModel(vae.family, half)


def _latent() -> Latent:
    return Latent("sd15", torch.randn(1, 4, 16, 16, generator=torch.Generator().manual_seed(3)))


@pytest.fixture
def pair(vae):
    full, half = _overflowing(vae)
    with torch.no_grad():  # the premise: this VAE really overflows in float16
        z = _latent().samples.to(torch.float16)
        assert not torch.isfinite(half.vae.decode(z, return_dict=False)[0]).all()
    return full, half


def test_decode_runs_again_in_float32(pair, caplog, monkeypatch) -> None:
    full, half = pair
    monkeypatch.setattr(vae_ops.log, "handlers", [caplog.handler])  # the studio's loggers do not propagate
    want = vae_ops.decode(full, _latent())
    got = vae_ops.decode(half, _latent())
    assert np.isfinite(got).all()
    np.testing.assert_allclose(got, want, atol=1e-5)
    assert "overflowed in float16" in caplog.text
    assert half.vae.dtype == torch.float16  # kept in float16 between calls, upcast for each one
    assert getattr(half.vae, vae_ops.OVERFLOWS_IN_FP16)


def test_encode_and_tiled_paths_run_again_in_float32(pair) -> None:
    full, half = pair
    image = vae_ops.decode(full, _latent())
    want = vae_ops.encode(full, image).samples
    got = encode_tiled(half, image, tile_size=64, overlap=16).samples
    assert torch.isfinite(got).all()
    assert torch.allclose(got, encode_tiled(full, image, tile_size=64, overlap=16).samples, atol=1e-4)
    assert torch.allclose(vae_ops.encode(half, image).samples, want, atol=1e-4)
    tiled = decode_tiled(half, _latent(), tile_size=64, overlap=16)
    assert np.isfinite(tiled).all()
    np.testing.assert_allclose(tiled, decode_tiled(full, _latent(), tile_size=64, overlap=16), atol=1e-5)


def test_a_float16_vae_that_does_not_overflow_stays_in_float16(vae) -> None:
    model = copy.deepcopy(vae.vae)
    model.register_to_config(force_upcast=False)
    half = VAEModel(vae.family, torch.nn.Module.to(model, torch.float16))
    out = vae_ops.decode(half, _latent())
    assert np.isfinite(out).all()
    assert not getattr(half.vae, vae_ops.OVERFLOWS_IN_FP16, False)
