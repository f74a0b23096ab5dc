"""A latent's noise mask against diffusers' StableDiffusionInpaintPipeline with a 4-channel UNet, and
what inpainting keeps of the source."""

from __future__ import annotations

import diffusers
import numpy as np
import pytest
import torch

from studio.diffusion import prompts, sampling, vae
from studio.diffusion.values import Latent

from .test_sampling_parity import NEGATIVE, PAIRS, PROMPT, SEED, TOL, _diff, _gen, _scheduler


def _init(batch: int = 1) -> torch.Tensor:
    return torch.randn((batch, 4, 8, 8), generator=torch.Generator().manual_seed(9))


def _pixel_mask() -> torch.Tensor:
    """A binary (1, 64, 64) mask: the pipeline binarizes its mask, ours blends soft values."""
    m = torch.zeros((1, 64, 64))
    m[:, 16:48, 8:40] = 1.0
    m[:, 3:5, 50:61] = 1.0  # thinner than a latent cell: nearest resizing decides what survives
    return m


def _pipeline(ns, sampler: str, scheduler: str):
    pipe = diffusers.StableDiffusionInpaintPipeline(
        vae=ns.vae, text_encoder=ns.encoder, tokenizer=ns.tokenizer, unet=ns.unet,
        scheduler=_scheduler(sampler, scheduler, ns.model.scheduler_config), safety_checker=None,
        feature_extractor=None, requires_safety_checker=False,
    )
    pipe.set_progress_bar_config(disable=True)
    return pipe


def _reference(ns, sampler, scheduler, init, mask, *, strength, steps=4, per_prompt=1):
    pipe = _pipeline(ns, sampler, scheduler)
    # A 4-channel image is taken as latents; masked_image_latents only has to exist for a 4-channel UNet.
    return pipe(PROMPT, image=init, mask_image=mask[:, None], masked_image_latents=init, strength=strength,
                negative_prompt=NEGATIVE, num_inference_steps=steps, guidance_scale=6.0,
                num_images_per_prompt=per_prompt, generator=_gen(), output_type="latent").images


def _ours(ns, sampler, scheduler, latent, *, denoise, steps=4, **kw):
    pos, neg = prompts.encode_prompt(ns.clip, PROMPT), prompts.encode_prompt(ns.clip, NEGATIVE)
    return sampling.sample(ns.model, pos, neg, latent, seed=SEED, steps=steps, cfg=6.0, sampler=sampler,
                           scheduler=scheduler, denoise=denoise, **kw)


@pytest.mark.parametrize("strength", [1.0, 0.75])
@pytest.mark.parametrize(("sampler", "scheduler"), PAIRS)
def test_noise_mask_matches_inpaint_pipeline(sd15, sampler, scheduler, strength):
    init, mask = _init(), _pixel_mask()
    ref = _reference(sd15, sampler, scheduler, init, mask, strength=strength)
    out = _ours(sd15, sampler, scheduler, Latent("sd15", init, noise_mask=mask), denoise=strength)
    assert _diff(out.samples, ref) <= TOL
    assert out.noise_mask is not None and torch.equal(out.noise_mask, mask)  # the result keeps its mask
    # The mask must matter, or this comparison proves nothing.
    assert _diff(out.samples, _ours(sd15, sampler, scheduler, Latent("sd15", init), denoise=strength).samples) > 1e-2


@pytest.mark.parametrize(("sampler", "scheduler"), [("euler", "normal"), ("ddim", "normal"), ("dpmpp_2m", "karras")])
def test_latent_size_and_numpy_masks_and_batches_match_the_pipeline(sd15, sampler, scheduler):
    init, mask = _init(), _pixel_mask()
    ref = _reference(sd15, sampler, scheduler, init, mask, strength=0.75, per_prompt=2)
    # The pipeline's own downsampling: interpolate (nearest) to the latent size.
    small = torch.nn.functional.interpolate(mask[:, None], size=(8, 8))
    for noise_mask in (small, small[:, 0].numpy(), mask.numpy()):
        out = _ours(sd15, sampler, scheduler, Latent("sd15", init.repeat(2, 1, 1, 1), noise_mask=noise_mask),
                    denoise=0.75)
        assert _diff(out.samples, ref) <= TOL


def test_masked_area_is_kept_exactly_in_latents_and_closely_when_decoded(sd15):
    from studio.diffusion.values import VAEModel

    # The decoder mixes the whole image (group norms), so what is kept decodes close to, not exactly as,
    # the source. A decoder without mid-block attention, with latents of the repainted area's scale
    # (scaling factor), keeps that mixing modest, as real VAEs do.
    torch.manual_seed(4)
    local = diffusers.AutoencoderKL(
        in_channels=3, out_channels=3, down_block_types=("DownEncoderBlock2D",) * 4,
        up_block_types=("UpDecoderBlock2D",) * 4, block_out_channels=(8, 8, 8, 8), layers_per_block=1,
        latent_channels=4, norm_num_groups=4, sample_size=64, mid_block_add_attention=False, scaling_factor=10.0,
    ).eval()
    model = VAEModel("sd15", local)
    image = np.random.default_rng(3).random((1, 64, 256, 3), dtype=np.float32)
    source = vae.encode(model, image)
    mask = np.zeros((1, 64, 256), np.float32)
    mask[:, :, :64] = 1.0  # repaint the left quarter
    args = dict(denoise=0.5, steps=10)
    out = _ours(sd15, "euler", "normal", Latent("sd15", source.samples, noise_mask=mask), **args)
    unmasked = _ours(sd15, "euler", "normal", Latent("sd15", source.samples), **args)
    assert torch.equal(out.samples[..., 8:], source.samples[..., 8:])
    assert (out.samples[..., :8] - source.samples[..., :8]).abs().mean() > 0.5
    reference = vae.decode(model, source)

    def err(latent, cols):
        return float(np.abs(vae.decode(model, latent)[:, :, cols] - reference[:, :, cols]).mean())

    far, repainted = slice(192, None), slice(0, 64)  # far from the seam; the repainted area
    assert err(out, far) < 0.25 * err(unmasked, far)
    assert err(out, far) < 0.25 * err(out, repainted)


def test_soft_mask_values_blend(sd15):
    init = _init()
    full, none = (_ours(sd15, "ddim", "normal", Latent("sd15", init, noise_mask=torch.full((1, 8, 8), v)),
                        denoise=0.75).samples for v in (1.0, 0.0))
    assert torch.equal(none, init)  # mask 0 everywhere: the latent comes back as it was
    half = _ours(sd15, "ddim", "normal", Latent("sd15", init, noise_mask=torch.full((1, 8, 8), 0.5)),
                 denoise=0.75).samples
    assert _diff(half, full) > 1e-2 and _diff(half, none) > 1e-2


def test_bad_noise_masks_are_refused(sd15):
    from studio.core.context import NodeFailure

    init = _init(2)
    with pytest.raises(NodeFailure, match="3 noise masks does not fit a latent batch of 2"):
        _ours(sd15, "euler", "normal", Latent("sd15", init, noise_mask=torch.ones(3, 8, 8)), denoise=0.5)
    with pytest.raises(NodeFailure, match="not .B, H, W. or .B, 1, H, W."):
        _ours(sd15, "euler", "normal", Latent("sd15", init, noise_mask=torch.ones(1, 2, 8, 8)), denoise=0.5)


def test_sampler_node_no_longer_warns_about_the_mask(sd15):
    from nodes.sampling import sampler
    from studio.core.context import CancelToken, NodeContext

    events = []
    ctx = NodeContext(node_id="s", title="Sampler", run_id=1, cancel=CancelToken(),
                      emit=lambda kind, data: events.append((kind, data)))
    pos, neg = prompts.encode_prompt(sd15.clip, PROMPT), prompts.encode_prompt(sd15.clip, NEGATIVE)
    latent = Latent("sd15", _init(), noise_mask=_pixel_mask())
    out = sampler(ctx, model=sd15.model, positive=pos, negative=neg, latent=latent, seed=SEED, steps=3, cfg=6.0,
                  sampler="euler", scheduler="normal", denoise=0.8)
    assert not [d for k, d in events if k == "log" and d["level"] == "warning"]
    assert out.noise_mask is latent.noise_mask
    keep = _pixel_mask()[:, ::8, ::8] == 0  # whole latent cells outside the mask
    assert torch.equal(out.samples[:, :, keep[0]], latent.samples[:, :, keep[0]])

