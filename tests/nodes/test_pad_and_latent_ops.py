import numpy as np
import pytest
import torch

import studio.diffusion.vae as vae_module
from nodes.image_pad import outpaint_mask, pad_for_outpaint
from nodes.latent_ops import composite, from_batch, set_noise_mask, vae_encode_inpaint
from studio.core.context import NodeFailure
from studio.core.registry import default_registry
from studio.diffusion.values import Latent, VAEModel


def _warnings(ctx):
    return [d["message"] for k, d in ctx.recorder.events if k == "log" and d["level"] == "warning"]


def _previews(ctx):
    return [d for k, d in ctx.recorder.events if k == "preview"]


def test_registered_with_comfyui_names():
    reg = default_registry()
    for type_id, alias in (("image.pad_outpaint", "ImagePadForOutpaint"), ("latent.set_noise_mask", "SetLatentNoiseMask"),
                           ("latent.composite", "LatentComposite"), ("latent.from_batch", "LatentFromBatch"),
                           ("latent.vae_encode_inpaint", "VAEEncodeForInpaint")):
        assert alias in reg[type_id].aliases


# --- outpaint pad -------------------------------------------------------------------------------


def test_pad_places_the_image_on_grey_and_masks_the_new_area(make_ctx):
    image = np.random.default_rng(0).random((2, 20, 24, 3), dtype=np.float32)
    ctx = make_ctx()
    out, mask = pad_for_outpaint(ctx, image=image, left=8, top=4, right=0, bottom=8, feathering=0)
    assert out.shape == (2, 32, 32, 3) and mask.shape == (2, 32, 32)
    assert (out[:, 4:24, 8:32] == image).all()
    assert (out[:, :4] == 0.5).all() and (out[:, 24:] == 0.5).all() and (out[:, :, :8] == 0.5).all()
    assert (mask[:, :4] == 1).all() and (mask[:, 24:] == 1).all() and (mask[:, :, :8] == 1).all()
    assert (mask[:, 4:24, 8:] == 0).all()
    assert _previews(ctx)[0]["image"].shape == (32, 32, 3) and _warnings(ctx) == []


def test_pad_feathering_follows_the_comfyui_ramp(make_ctx):
    image = np.zeros((1, 20, 20, 3), np.float32)
    _, mask = pad_for_outpaint(make_ctx(), image=image, left=8, top=0, right=0, bottom=4, feathering=4)
    inner = mask[0, 0:20, 8:28]
    # Left side padded: d = column index from 0, weight ((4 - d) / 4)^2.
    assert inner[5, :5].tolist() == [1.0, 0.5625, 0.25, 0.0625, 0.0]
    # Bottom padded: d counts from 1 at the last row.
    assert inner[16:, 10].tolist() == [0.0, 0.0625, 0.25, 0.5625]
    # Top and right are not padded: no ramp there.
    assert inner[0, 10] == 0.0 and inner[10, 19] == 0.0
    assert inner[19, 1] == 0.5625  # corner: the nearer side decides (bottom d=1, left d=1)
    assert (mask[0, 20:] == 1).all() and (mask[0, :, :8] == 1).all()
    assert np.allclose(outpaint_mask(20, 20, 0, 4, 8, 0, 4), mask[0])


def test_pad_warns_on_sizes_off_the_8_grid_and_on_feathering_too_wide(make_ctx):
    ctx = make_ctx()
    _, mask = pad_for_outpaint(ctx, image=np.zeros((1, 16, 16, 3), np.float32), left=4, top=0, right=0,
                               bottom=0, feathering=8)
    warnings = " ".join(_warnings(ctx))
    assert "20×16 is not a multiple of 8" in warnings and "crops it to 16×16" in warnings
    assert "not feathered" in warnings
    assert (mask[0, :, 4:] == 0).all()


# --- latents ------------------------------------------------------------------------------------


def _latent(b=1, h=8, w=8, value=0.0, family="sd15"):
    return Latent(family=family, samples=torch.full((b, 4, h, w), value))


def test_set_noise_mask_attaches_the_mask(make_ctx):
    m = np.zeros((1, 64, 64), np.float32)
    m[0, :32] = 1.0
    out = set_noise_mask(make_ctx(), latent=_latent(b=2), mask=m)
    assert out.family == "sd15" and out.samples.shape == (2, 4, 8, 8)
    assert isinstance(out.noise_mask, torch.Tensor) and torch.equal(out.noise_mask, torch.from_numpy(m))
    with pytest.raises(NodeFailure, match="batch of 3 masks does not fit a latent batch of 2"):
        set_noise_mask(make_ctx(), latent=_latent(b=2), mask=np.zeros((3, 64, 64), np.float32))
    ctx = make_ctx()
    set_noise_mask(ctx, latent=_latent(), mask=np.zeros((1, 64, 128), np.float32))
    assert any("stretched" in w for w in _warnings(ctx))


def test_composite_places_the_source_at_its_latent_cell(make_ctx):
    dest = _latent(h=8, w=8, value=0.0)
    src = Latent("sd15", torch.arange(16, dtype=torch.float32).view(1, 1, 4, 4).repeat(1, 4, 1, 1) + 1)
    out = composite(make_ctx(), destination=dest, source=src, x=16, y=24, feather=0)
    s = out.samples[0, 0]
    assert torch.equal(s[3:7, 2:6], src.samples[0, 0])
    s[3:7, 2:6] = 0
    assert (s == 0).all() and (dest.samples == 0).all()  # the destination itself is untouched
    # Past the border it is clipped.
    out = composite(make_ctx(), destination=dest, source=src, x=48, y=48, feather=0)
    assert torch.equal(out.samples[0, 0, 6:, 6:], src.samples[0, 0, :2, :2])


def test_composite_feather_blends_the_inner_edges_only(make_ctx):
    dest = _latent(h=8, w=8, value=0.0)
    src = _latent(h=4, w=4, value=1.0)
    out = composite(make_ctx(), destination=dest, source=src, x=16, y=16, feather=16).samples[0, 0]
    ramp = torch.tensor([0.5, 1.0, 1.0, 0.5])  # 2 cells of feather: 1/2, then full, on both sides
    assert torch.allclose(out[2:6, 2:6], ramp[:, None] * ramp[None, :])
    assert out[:2].sum() == 0 and out[6:].sum() == 0
    # Against the destination's right and bottom border the edge stays hard.
    out = composite(make_ctx(), destination=dest, source=src, x=32, y=32, feather=16).samples[0, 0]
    inward = torch.tensor([0.5, 1.0, 1.0, 1.0])
    assert torch.allclose(out[4:, 4:], inward[:, None] * inward[None, :])


def test_composite_warns_when_off_grid_and_keeps_the_destination_mask(make_ctx):
    mask = torch.ones((1, 64, 64))
    dest = Latent("any", torch.zeros((1, 4, 8, 8)), noise_mask=mask)
    ctx = make_ctx()
    out = composite(ctx, destination=dest, source=_latent(h=2, w=2, value=1.0, family="sdxl"), x=10, y=0,
                    feather=0)
    assert out.family == "sdxl" and out.noise_mask is mask
    assert out.samples[0, 0, 0, 1] == 1 and out.samples[0, 0, 0, 0] == 0  # x=10 works as cell 1
    assert any("steps of 8" in w for w in _warnings(ctx))


def test_latent_from_batch_slices_and_clamps(make_ctx):
    samples = torch.arange(5, dtype=torch.float32).view(5, 1, 1, 1).repeat(1, 4, 2, 2)
    masks = torch.arange(2, dtype=torch.float32).view(2, 1, 1).repeat(1, 16, 16)
    latent = Latent("sd15", samples, noise_mask=masks)
    out = from_batch(make_ctx(), latent=latent, batch_index=1, length=3)
    assert out.samples[:, 0, 0, 0].tolist() == [1.0, 2.0, 3.0]
    assert out.noise_mask[:, 0, 0].tolist() == [1.0, 0.0, 1.0]  # two masks repeat over five latents
    ctx = make_ctx()
    out = from_batch(ctx, latent=latent, batch_index=9, length=2)
    assert out.samples[:, 0, 0, 0].tolist() == [4.0]
    assert any("taking 1 from index 4" in w for w in _warnings(ctx))


# --- VAE encode for inpainting -------------------------------------------------------------------


def _spy(monkeypatch):
    seen = []

    def fake_encode(vae, image):
        seen.append(image.copy())
        b, h, w = image.shape[:3]
        return Latent(family=vae.family, samples=torch.zeros((b, 4, h // 8, w // 8)))

    monkeypatch.setattr(vae_module, "encode", fake_encode)
    return seen


def test_inpaint_encode_blanks_the_mask_and_carries_the_grown_noise_mask(make_ctx, monkeypatch):
    seen = _spy(monkeypatch)
    image = np.random.default_rng(2).random((1, 16, 16, 3), dtype=np.float32)
    mask = np.zeros((1, 16, 16), np.float32)
    mask[0, 8, 8] = 1.0
    mask[0, 2, 2] = 0.5  # not above 0.5: kept
    ctx = make_ctx()
    out = vae_encode_inpaint(ctx, vae=VAEModel("sdxl", None), pixels=image, mask=mask, grow_mask_by=6)
    encoded = seen[0]
    assert (encoded[0, 8, 8] == 0.5).all()
    keep = np.ones((16, 16), bool)
    keep[8, 8] = False
    assert (encoded[0][keep] == image[0][keep]).all()
    assert out.family == "sdxl" and out.samples.shape == (1, 4, 2, 2)
    yy, xx = np.mgrid[:16, :16]
    disc3 = ((yy - 8) ** 2 + (xx - 8) ** 2 <= 9).astype(np.float32)
    assert isinstance(out.noise_mask, torch.Tensor)
    assert np.array_equal(out.noise_mask.numpy(), disc3[None])
    assert _previews(ctx)[0]["image"].shape == (16, 16, 3)


def test_inpaint_encode_crops_mask_and_image_together(make_ctx, monkeypatch):
    seen = _spy(monkeypatch)
    image = np.zeros((2, 19, 17, 3), np.float32)
    mask = np.zeros((1, 19, 17), np.float32)
    mask[0, 0, 5] = mask[0, 5, 16] = 1.0  # the top row and the right column are cropped away ...
    mask[0, 10, 8] = 1.0  # ... so this lands at (9, 8) of the 16×16 crop
    ctx = make_ctx()
    out = vae_encode_inpaint(ctx, vae=VAEModel("sd15", None), pixels=image, mask=mask, grow_mask_by=0)
    assert seen[0].shape == (2, 16, 16, 3)
    assert (seen[0][:, 9, 8] == 0.5).all() and seen[0].sum() == 2 * 3 * 0.5
    assert out.noise_mask.shape == (2, 16, 16) and out.noise_mask.sum() == 2
    assert any("centre-cropped to 16×16" in w for w in _warnings(ctx))


def test_inpaint_encode_with_a_real_tiny_vae(make_ctx):
    import diffusers

    torch.manual_seed(0)
    model = diffusers.AutoencoderKL(
        down_block_types=("DownEncoderBlock2D",) * 4, up_block_types=("UpDecoderBlock2D",) * 4,
        block_out_channels=(8,) * 4, layers_per_block=1, norm_num_groups=4,
    ).eval()
    vae = VAEModel("sd15", model)
    image = np.random.default_rng(4).random((1, 32, 32, 3), dtype=np.float32)
    mask = np.zeros((1, 32, 32), np.float32)
    mask[0, :16] = 1.0
    out = vae_encode_inpaint(make_ctx(), vae=vae, pixels=image, mask=mask, grow_mask_by=4)
    blanked = image.copy()
    blanked[0, :16] = 0.5
    ref = vae_module.encode(vae, blanked)
    assert out.family == "sd15" and torch.allclose(out.samples, ref.samples)
    assert out.noise_mask.shape == (1, 32, 32)
    assert (out.noise_mask[0, :18] == 1).all() and (out.noise_mask[0, 18:] == 0).all()  # grown by 2 rows


def test_padding_one_side_only_ramps_from_that_side_alone():
    from nodes.image_pad import outpaint_mask

    mask = outpaint_mask(64, 64, 0, 0, 0, 32, 16)  # right only, as an outpaint to the right is
    assert mask.shape == (64, 96)
    assert (mask[:, 64:] == 1).all()
    assert mask[10, 63] == pytest.approx(((16 - 1) / 16) ** 2)  # d counts from 1 at the right side
    assert (mask[:, :48] == 0).all()  # far from the padded side; no ramp from the unpadded ones
    no_pad = outpaint_mask(64, 64, 0, 0, 0, 0, 16)
    assert (no_pad == 0).all()
