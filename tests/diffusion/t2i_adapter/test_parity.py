"""Sampling with a T2I-Adapter against diffusers' adapter pipelines: same components, seed, steps, cfg."""

from __future__ import annotations

import diffusers
import numpy as np
import pytest
import torch
from PIL import Image

from studio.core.context import NodeFailure
from studio.diffusion import prompts, sampling, schedulers
from studio.diffusion.t2i_adapter import is_on, prepare_hint
from studio.diffusion.values import ControlSpec, Latent

TOL = 1e-4  # as the ControlNet parity tests
SEED = 1234
PROMPT, NEGATIVE = "a photo of a red cat", "blurry"


def _hint_image() -> Image.Image:
    # Another size than the output: both sides resize it (Lanczos).
    rng = np.random.default_rng(5)
    return Image.fromarray((rng.random((48, 40, 3)) * 255).astype(np.uint8))


def _as_image(pil: Image.Image) -> np.ndarray:
    return (np.asarray(pil, dtype=np.float32) / 255.0)[None]


def _ours(ns, spec=None, *, steps=3, cfg=6.0, size=64, positive_only=False):
    pos = prompts.encode_prompt(ns.clip, PROMPT)
    neg = prompts.encode_prompt(ns.clip, NEGATIVE)
    if spec is not None:
        pos = pos.with_control(spec)
        neg = neg if positive_only else neg.with_control(spec)
    latent = Latent(ns.model.family, torch.zeros(1, 4, size // 8, size // 8))
    return sampling.sample(ns.model, pos, neg, latent, seed=SEED, steps=steps, cfg=cfg, sampler="euler",
                           scheduler="normal").samples


def _diff(a, b) -> float:
    assert a.shape == b.shape
    return float((a - b).abs().max())


def _scheduler(ns):
    return schedulers.make_scheduler("euler", "normal", ns.model.scheduler_config)


def test_sd15_adapter_matches_the_adapter_pipeline(sd15):
    pipe = diffusers.StableDiffusionAdapterPipeline(
        vae=sd15.vae, text_encoder=sd15.encoders[0], tokenizer=sd15.tokenizers[0], unet=sd15.unet,
        adapter=sd15.adapter.model, scheduler=_scheduler(sd15), safety_checker=None, feature_extractor=None,
        requires_safety_checker=False,
    )
    pipe.set_progress_bar_config(disable=True)
    hint = _hint_image()
    ref = pipe(PROMPT, image=hint, negative_prompt=NEGATIVE, height=64, width=64, num_inference_steps=3,
               guidance_scale=6.0, adapter_conditioning_scale=0.8, generator=torch.Generator().manual_seed(SEED),
               output_type="latent").images
    ours = _ours(sd15, ControlSpec(sd15.adapter, _as_image(hint), strength=0.8))
    assert _diff(ours, ref) <= TOL
    # The adapter must matter, or this comparison proves nothing.
    assert _diff(ours, _ours(sd15)) > 1e-3


@pytest.mark.parametrize("factor", [1.0, 0.5])
def test_sdxl_adapter_matches_the_sdxl_adapter_pipeline(sdxl, factor):
    pipe = diffusers.StableDiffusionXLAdapterPipeline(
        vae=sdxl.vae, text_encoder=sdxl.encoders[0], text_encoder_2=sdxl.encoders[1], tokenizer=sdxl.tokenizers[0],
        tokenizer_2=sdxl.tokenizers[1], unet=sdxl.unet, adapter=sdxl.adapter.model, scheduler=_scheduler(sdxl),
    )
    pipe.set_progress_bar_config(disable=True)
    hint = _hint_image()
    ref = pipe(PROMPT, image=hint, negative_prompt=NEGATIVE, height=64, width=64, num_inference_steps=3,
               guidance_scale=6.0, adapter_conditioning_scale=1.2, adapter_conditioning_factor=factor,
               generator=torch.Generator().manual_seed(SEED), output_type="latent").images
    ours = _ours(sdxl, ControlSpec(sdxl.adapter, _as_image(hint), strength=1.2, end=factor))
    assert _diff(ours, ref) <= TOL
    assert _diff(ours, _ours(sdxl)) > 1e-3


def test_steps_are_on_as_in_the_sdxl_pipeline():
    # adapter_conditioning_factor f: on while i < int(n·f); our end is f, start 0.
    for n in (1, 3, 4, 7):
        for f in (0.0, 0.3, 0.5, 0.7, 1.0):
            assert [is_on(i, n, 0.0, f) for i in range(n)] == [i < int(n * f) for i in range(n)]
    assert [is_on(i, 4, 0.5, 1.0) for i in range(4)] == [False, False, True, True]


def test_positive_only_and_strength_zero(sd15):
    hint = _as_image(_hint_image())
    base = _ours(sd15)
    both = _ours(sd15, ControlSpec(sd15.adapter, hint))
    pos_only = _ours(sd15, ControlSpec(sd15.adapter, hint), positive_only=True)
    assert _diff(pos_only, base) > 1e-3 and _diff(pos_only, both) > 1e-3
    assert _diff(_ours(sd15, ControlSpec(sd15.adapter, hint, strength=0.0)), base) <= 1e-6
    assert _diff(_ours(sd15, ControlSpec(sd15.adapter, hint, start=0.0, end=0.0)), base) == 0.0


def test_size_not_a_multiple_of_the_unshuffle_is_refused(sd15):
    # The tiny adapter unshuffles by 16 (as SDXL's): 72 px is a multiple of 8 (the latent) but not of 16.
    with pytest.raises(NodeFailure, match=r"multiple of 16 px; 72×72 is not"):
        _ours(sd15, ControlSpec(sd15.adapter, _as_image(_hint_image())), size=72)


def test_hint_is_prepared_as_the_pipelines_do():
    from diffusers.pipelines.t2i_adapter.pipeline_stable_diffusion_adapter import _preprocess_adapter_image

    pil = _hint_image()
    ref = _preprocess_adapter_image(pil, 64, 32)
    assert torch.equal(prepare_hint(_as_image(pil), 3, 64, 32), ref)
    # 1-channel adapters (sketch, canny) get the luma, as PIL's convert("L") gives it.
    gray = _preprocess_adapter_image(pil.convert("L"), 64, 32)
    assert torch.equal(prepare_hint(_as_image(pil), 1, 64, 32), gray)
    # A hint that is not 8-bit is resized as float channels, close to the 8-bit path (which clips
    # between its two passes, so a noise image differs at a few pixels).
    soft = _as_image(pil) + 0.3 / 255
    diff = (prepare_hint(soft, 3, 64, 32) - ref).abs()
    assert float(diff.mean()) < 1 / 255 and float(diff.max()) < 0.15


def test_adapters_add_up_and_combine_with_a_controlnet(sd15, tiny, manager):
    hint = _as_image(_hint_image())
    one = _ours(sd15, ControlSpec(sd15.adapter, hint, strength=0.8))
    pos = prompts.encode_prompt(sd15.clip, PROMPT)
    neg = prompts.encode_prompt(sd15.clip, NEGATIVE)
    for s in (0.5, 0.3):  # features are linear in the strength, so two adapters of 0.5 and 0.3 make one of 0.8
        spec = ControlSpec(sd15.adapter, hint, strength=s)
        pos, neg = pos.with_control(spec), neg.with_control(spec)
    latent = Latent("sd15", torch.zeros(1, 4, 8, 8))
    run = dict(seed=SEED, steps=3, cfg=6.0, sampler="euler", scheduler="normal")
    two = sampling.sample(sd15.model, pos, neg, latent, **run).samples
    assert _diff(one, two) <= TOL
    cn = manager.load_controlnet(tiny.paths["controlnet-sd15"])
    spec = ControlSpec(cn, hint, strength=1.0)
    both = sampling.sample(sd15.model, pos.with_control(spec), neg.with_control(spec), latent, **run).samples
    cn_only = sampling.sample(sd15.model, prompts.encode_prompt(sd15.clip, PROMPT).with_control(spec),
                              prompts.encode_prompt(sd15.clip, NEGATIVE).with_control(spec), latent, **run).samples
    assert _diff(both, two) > 1e-3 and _diff(both, cn_only) > 1e-3


def test_sd15_full_adapter_from_an_original_file_matches_the_pipeline(sd15, tmp_path):
    """SD 1.5's own adapter shape (unshuffle 8, a downsampling per stage), grayscale as sketch/canny
    adapters are, read from a TencentARC-layout file with nothing but its weights to go by. The UNet's
    first block has attention, as SD 1.5's has, so its residual lands before the downsampler."""
    from safetensors.torch import save_file

    from bench.make_models import TINY
    from bench.make_t2i_adapter import make_adapter, to_original
    from studio.diffusion.model_manager import ModelManager
    from studio.diffusion.values import UNetModel

    cfg = {"_class_name": "T2IAdapter", "adapter_type": "full_adapter", "in_channels": 1, "channels": [32, 64],
           "num_res_blocks": 2, "downscale_factor": 8}
    path = tmp_path / "t2iadapter_canny_sd15v2.safetensors"
    save_file({k: v.contiguous() for k, v in to_original(make_adapter(cfg, 11), cfg).items()}, str(path))
    adapter = ModelManager(device="cpu", dtype="fp32", cache_dir=False).load_controlnet(path)
    assert (adapter.family, adapter.in_channels, adapter.multiple) == ("sd15", 1, 8)
    torch.manual_seed(2)
    unet = diffusers.UNet2DConditionModel.from_config({
        **TINY["sd15"]["unet"], "down_block_types": ["CrossAttnDownBlock2D", "DownBlock2D"],
        "up_block_types": ["UpBlock2D", "CrossAttnUpBlock2D"]}).eval()
    ns = type(sd15)(**{**vars(sd15), "unet": unet, "model": UNetModel("sd15", unet, sd15.model.scheduler_config)})
    pipe = diffusers.StableDiffusionAdapterPipeline(
        vae=sd15.vae, text_encoder=sd15.encoders[0], tokenizer=sd15.tokenizers[0], unet=unet, adapter=adapter.model,
        scheduler=_scheduler(ns), safety_checker=None, feature_extractor=None, requires_safety_checker=False,
    )
    pipe.set_progress_bar_config(disable=True)
    hint = _hint_image()
    ref = pipe(PROMPT, image=hint.convert("L"), negative_prompt=NEGATIVE, height=64, width=64, num_inference_steps=2,
               guidance_scale=5.0, adapter_conditioning_scale=1.0, generator=torch.Generator().manual_seed(SEED),
               output_type="latent").images
    ours = _ours(ns, ControlSpec(adapter, _as_image(hint)), steps=2, cfg=5.0)
    assert _diff(ours, ref) <= TOL
    assert _diff(ours, _ours(ns, steps=2, cfg=5.0)) > 1e-3
    # Only the unshuffle factor bounds the size: the adapter's pooling rounds up as the UNet's
    # downsamplers do, so 72 px (a 9×9 latent) is fine for SD 1.5 adapters.
    assert _ours(ns, ControlSpec(adapter, _as_image(hint)), steps=1, size=72).shape == (1, 4, 9, 9)
