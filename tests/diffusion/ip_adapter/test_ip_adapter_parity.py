"""Our sampler with IP-Adapters against diffusers' pipelines with ``load_ip_adapter``: same weights (the
tiny files, read by both), seed, steps and cfg."""

from __future__ import annotations

from dataclasses import replace

import diffusers
import numpy as np
import pytest
import torch
from PIL import Image

from nodes.ip_adapter import image_features
from studio.diffusion import prompts, sampling, schedulers
from studio.diffusion.ip_adapter_patch import IPAdapterPatch
from studio.diffusion.values import Latent

from .conftest import make_unet

TOL = 1e-4  # as the ControlNet parity tests
SEED = 1234
PROMPT, NEGATIVE = "a photo of a red cat", "blurry"
STEPS, CFG = 3, 6.0


def _images(n: int) -> list[np.ndarray]:
    rng = np.random.default_rng(7)
    # Not square and not the encoder's size: both sides resize and crop the same way.
    return [rng.integers(0, 256, (40, 56, 3), dtype=np.uint8) for _ in range(n)]


def _frames(images: list[np.ndarray]) -> np.ndarray:
    return np.stack(images).astype(np.float32) / 255.0


def _scheduler(ns):
    return schedulers.make_scheduler("euler", "normal", ns.model.scheduler_config)


def _ours(ns, patches=(), *, batch: int = 2):
    model = replace(ns.model, patches=tuple(patches))
    return sampling.sample(model, prompts.encode_prompt(ns.clip, PROMPT), prompts.encode_prompt(ns.clip, NEGATIVE),
                           Latent(ns.family, torch.zeros(batch, 4, 8, 8)), seed=SEED, steps=STEPS, cfg=CFG,
                           sampler="euler", scheduler="normal").samples


def _patch(adapter, clip_vision, images, weight):
    embeds, uncond = image_features(adapter, clip_vision, _frames(images))
    return IPAdapterPatch(adapter, embeds, uncond, weight)


def _reference(ns, tiny, names, scales, images, *, batch: int = 2):
    kw = dict(vae=ns.vae, unet=make_unet(tiny, ns.family), scheduler=_scheduler(ns), feature_extractor=None,
              image_encoder=None)
    if ns.family == "sdxl":
        pipe = diffusers.StableDiffusionXLPipeline(text_encoder=ns.encoders[0], text_encoder_2=ns.encoders[1],
                                                   tokenizer=ns.tokenizers[0], tokenizer_2=ns.tokenizers[1], **kw)
    else:
        pipe = diffusers.StableDiffusionPipeline(text_encoder=ns.encoders[0], tokenizer=ns.tokenizers[0],
                                                 safety_checker=None, requires_safety_checker=False, **kw)
    pipe.set_progress_bar_config(disable=True)
    root = tiny.paths["clip_vision"].parents[1]
    pipe.load_ip_adapter(str(root), subfolder="ipadapter", weight_name=[tiny.paths[n].name for n in names],
                         image_encoder_folder="clip_vision/tiny-clip-vision")
    pipe.set_ip_adapter_scale(scales)
    ip_images = [[Image.fromarray(a) for a in group] for group in images]
    return pipe(PROMPT, negative_prompt=NEGATIVE, ip_adapter_image=ip_images, height=64, width=64,
                num_inference_steps=STEPS, guidance_scale=CFG, num_images_per_prompt=batch,
                generator=torch.Generator("cpu").manual_seed(SEED), output_type="latent").images


def _diff(a, b) -> float:
    assert a.shape == b.shape
    return float((a - b).abs().max())


@pytest.mark.parametrize(("kind", "n_images"), [("base", 1), ("plus", 2)])
def test_one_ip_adapter_matches_the_sd_pipeline(sd15, tiny, clip_vision, kind, n_images):
    images = _images(n_images)
    adapter = getattr(sd15, kind)
    ours = _ours(sd15, [_patch(adapter, clip_vision, images, 0.8)])
    ref = _reference(sd15, tiny, [f"ipadapter-sd15-{kind}"], 0.8, [images])
    assert _diff(ours, ref) <= TOL
    # The image prompt must matter, or this comparison proves nothing.
    assert _diff(ours, _ours(sd15)) > 1e-3


def test_two_chained_ip_adapters_match_a_pipeline_with_both(sd15, tiny, clip_vision):
    a, b = _images(2)
    patches = [_patch(sd15.base, clip_vision, [a], 0.7), _patch(sd15.plus, clip_vision, [b], 1.3)]
    ours = _ours(sd15, patches, batch=1)
    ref = _reference(sd15, tiny, ["ipadapter-sd15-base", "ipadapter-sd15-plus"], [0.7, 1.3], [[a], [b]], batch=1)
    assert _diff(ours, ref) <= TOL
    assert _diff(ours, _ours(sd15, patches[:1], batch=1)) > 1e-3


@pytest.mark.parametrize("kind", ["base", "plus"])
def test_sdxl_ip_adapter_matches_the_sdxl_pipeline(sdxl, tiny, clip_vision, kind):
    images = _images(1)
    ours = _ours(sdxl, [_patch(getattr(sdxl, kind), clip_vision, images, 1.0)], batch=1)
    ref = _reference(sdxl, tiny, [f"ipadapter-sdxl-{kind}"], 1.0, [images], batch=1)
    assert _diff(ours, ref) <= TOL
    assert _diff(ours, _ours(sdxl, batch=1)) > 1e-3
