"""Saving and loading .latent files, masks from image channels, cropping masks and conditioning strength."""

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import load_file, save_file

from nodes import latent_files as lf
from nodes import mask_ops
from nodes.conditioning_strength import set_strength
from studio.core.context import NodeFailure
from studio.diffusion.values import Conditioning, Latent, combine


def test_save_writes_comfyuis_raw_latent_and_load_reads_it_back(make_ctx, tmp_path):
    ctx = make_ctx()
    samples = torch.randn(2, 4, 3, 5)
    lf.save_latent.fn(ctx, Latent("sd15", samples), "latents", "run")
    lf.save_latent.fn(ctx, Latent("sdxl", samples), "latents", "run")
    first = tmp_path / "out" / "latents" / "run_00001_.latent"
    second = tmp_path / "out" / "latents" / "run_00002_.latent"
    stored = load_file(str(first))
    assert set(stored) == {"latent_tensor", "latent_format_version_0"}
    assert torch.allclose(stored["latent_tensor"], samples / 0.18215)
    assert torch.allclose(load_file(str(second))["latent_tensor"], samples / 0.13025)
    back = lf.load_latent.fn(make_ctx(search_dirs=[str(tmp_path / "out")]), "latents/run_00001_.latent", "sd")
    assert back.family == "sd15" and torch.allclose(back.samples, samples, atol=1e-6)
    xl = lf.load_latent.fn(make_ctx(search_dirs=[str(tmp_path / "out")]), "latents/run_00002_.latent", "sdxl")
    assert xl.family == "sdxl" and torch.allclose(xl.samples, samples, atol=1e-6)


def test_old_files_without_the_marker_hold_sd_unet_latents(make_ctx, tmp_path):
    t = torch.randn(1, 4, 2, 2)
    save_file({"latent_tensor": t}, str(tmp_path / "old.latent"))
    assert torch.allclose(lf.load_latent.fn(make_ctx(), "old.latent", "sd").samples, t, atol=1e-6)
    xl = lf.load_latent.fn(make_ctx(), "old.latent", "sdxl").samples
    assert torch.allclose(xl, t / 0.18215 * 0.13025, atol=1e-6)


def test_latent_files_stay_where_images_do(make_ctx, tmp_path):
    with pytest.raises(NodeFailure, match="subfolder"):
        lf.save_latent.fn(make_ctx(), Latent("sd15", torch.zeros(1, 4, 1, 1)), "../escape", "x")
    with pytest.raises(NodeFailure, match="may not contain"):
        lf.save_latent.fn(make_ctx(), Latent("sd15", torch.zeros(1, 4, 1, 1)), "", "a/b")
    with pytest.raises(NodeFailure, match="not found"):
        lf.load_latent.fn(make_ctx(), "../elsewhere.latent", "sd")
    (tmp_path / "junk.latent").write_bytes(b"not a safetensors file")
    with pytest.raises(NodeFailure, match="not a readable latent"):
        lf.load_latent.fn(make_ctx(), "junk.latent", "sd")


def test_load_image_mask_takes_one_channel_and_inverts_alpha(make_ctx, tmp_path):
    rgba = np.zeros((3, 4, 4), np.uint8)
    rgba[..., 0], rgba[..., 1], rgba[..., 2], rgba[..., 3] = 255, 51, 0, 204
    Image.fromarray(rgba, "RGBA").save(tmp_path / "m.png")
    Image.fromarray(rgba[..., :3], "RGB").save(tmp_path / "opaque.png")
    ctx = make_ctx()
    alpha = mask_ops.load_mask.fn(ctx, "m.png", "alpha")
    assert alpha.shape == (1, 3, 4) and alpha.dtype == np.float32
    assert np.allclose(alpha, 1 - 204 / 255)
    assert np.allclose(mask_ops.load_mask.fn(ctx, "m.png", "red"), 1.0)
    assert np.allclose(mask_ops.load_mask.fn(ctx, "m.png", "green"), 0.2)
    assert np.allclose(mask_ops.load_mask.fn(ctx, "m.png", "blue"), 0.0)
    assert np.allclose(mask_ops.load_mask.fn(ctx, "opaque.png", "alpha"), 0.0)
    with pytest.raises(NodeFailure, match="not found"):
        mask_ops.load_mask.fn(ctx, "../m.png", "alpha")


def test_crop_mask_cuts_the_rectangle():
    class Ctx:
        warnings = []

        def warn(self, text):
            self.warnings.append(text)

    m = np.arange(2 * 6 * 8, dtype=np.float32).reshape(2, 6, 8) / 100
    assert np.array_equal(mask_ops.crop_mask.fn(Ctx(), m, 2, 1, 3, 4), m[:, 1:5, 2:5])
    ctx = Ctx()
    assert mask_ops.crop_mask.fn(ctx, m, 6, 4, 10, 10).shape == (2, 2, 2) and ctx.warnings
    with pytest.raises(NodeFailure):
        mask_ops.crop_mask.fn(Ctx(), m, 8, 0, 1, 1)


def test_conditioning_strength_sets_every_entry():
    a, b = Conditioning("sd15", torch.zeros(1, 77, 8)), Conditioning("sd15", torch.ones(1, 77, 8), strength=3.0)
    out = set_strength.fn(None, combine(a, b), 0.25)
    assert [e.strength for e in out.entries()] == [0.25, 0.25]
    assert torch.equal(out.entries()[1].embeds, b.embeds)
