"""Our in-place LoRA patch against diffusers' own loader (``load_lora_weights`` + ``fuse_lora``) on the
tiny SD 1.5 and SDXL checkpoints, in float32: UNet and text-encoder outputs, and a short sampler run."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch

from studio.diffusion import prompts, sampling
from studio.diffusion.families import text_encoder_names
from studio.diffusion.lora import LoraPatch, lora_targets
from studio.diffusion.model_patches import applied
from studio.diffusion.values import Latent

from .conftest import reference_pipe, same, snapshot

TOL = 1e-4


def with_lora(ns, mm, path, strength_model: float, strength_clip: float):
    """The MODEL and CLIP values the Load LoRA node returns (without the node's context)."""
    file = mm.load_lora(path)
    roots = {"unet": ns.unet.unet, **dict(zip(text_encoder_names(ns.clip.family), ns.clip.encoders, strict=True))}
    targets = lora_targets(file, roots)
    assert targets.unmatched == ()
    unet_patch = LoraPatch(path.name, strength_model, {"unet": targets.parts["unet"]})
    text = {p: v for p, v in targets.parts.items() if p != "unet"}
    index = {n: i for i, n in enumerate(text_encoder_names(ns.clip.family))}
    model = replace(ns.unet, patches=(unet_patch,))
    clip = replace(ns.clip, patches=(LoraPatch(path.name, strength_clip, text, index),)) if text else ns.clip
    return model, clip


def _unet_inputs(family: str, width: int):
    g = torch.Generator().manual_seed(3)
    x, ctx = torch.randn(2, 4, 8, 8, generator=g), torch.randn(2, 9, width, generator=g)
    kw = {}
    if family == "sdxl":
        kw["added_cond_kwargs"] = {"text_embeds": torch.randn(2, 32, generator=g), "time_ids": torch.randn(2, 6, generator=g)}
    return x, ctx, kw


def _compare(ns, mm, path, family: str, scale: float, text: bool = True) -> None:
    pipe = reference_pipe(ns, family)
    pipe.load_lora_weights(str(path))
    pipe.fuse_lora(lora_scale=scale)
    model, clip = with_lora(ns, mm, path, scale, scale)
    base = snapshot(ns.unet.unet, *ns.clip.encoders)
    x, ctx, kw = _unet_inputs(family, ns.unet.unet.config.cross_attention_dim)
    ids = torch.tensor([[49406, 320, 1125, 539, 320, 736, 2368, 49407] + [49407] * 4])
    with torch.no_grad():
        plain = ns.unet.unet(x, 500, ctx, **kw).sample
        with applied(model.unet, model.patches):
            ours = ns.unet.unet(x, 500, ctx, **kw).sample
        ref = pipe.unet(x, 500, ctx, **kw).sample
        refs_te = [e(ids).last_hidden_state for e in (pipe.text_encoder, getattr(pipe, "text_encoder_2", None)) if e]
        plain_te = [e(ids).last_hidden_state for e in ns.clip.encoders]
        with applied(clip, clip.patches):
            ours_te = [e(ids).last_hidden_state for e in ns.clip.encoders]
    assert float((ours - ref).abs().max()) <= TOL
    assert float((ours - plain).abs().max()) > 1e-2  # the LoRA matters, or this proves nothing
    for o, r, p in zip(ours_te, refs_te, plain_te, strict=True):
        assert float((o - r).abs().max()) <= TOL
        assert (float((o - p).abs().max()) > 1e-2) == text
    assert same(base, snapshot(ns.unet.unet, *ns.clip.encoders))  # the shared weights are back, bit for bit


@pytest.mark.parametrize("family", ["sd15", "sdxl"])
def test_kohya_lora_matches_diffusers_fused(fp32_models, family):
    _compare(getattr(fp32_models, family), fp32_models.mm, fp32_models.paths[f"lora-{family}"], family, 0.8)


@pytest.mark.parametrize("key", ["lora-sd15-peft", "lora-sd15-locon"])
def test_peft_and_locon_files_match_diffusers_fused(fp32_models, key):
    _compare(fp32_models.sd15, fp32_models.mm, fp32_models.paths[key], "sd15", 1.3, text=key.endswith("peft"))


def test_a_sampler_run_with_a_lora_matches_the_pipeline_with_the_fused_lora(fp32_models):
    from studio.diffusion.schedulers import make_scheduler

    ns, path = fp32_models.sd15, fp32_models.paths["lora-sd15"]
    pipe = reference_pipe(ns, "sd15", make_scheduler("euler", "normal", ns.unet.scheduler_config))
    pipe.load_lora_weights(str(path))
    pipe.fuse_lora(lora_scale=0.9)
    ref = pipe(prompt="a red house", negative_prompt="blurry", num_inference_steps=3, guidance_scale=6.5, height=64,
               width=64, output_type="latent", generator=torch.Generator("cpu").manual_seed(5)).images
    model, clip = with_lora(ns, fp32_models.mm, path, 0.9, 0.9)
    pos, neg = prompts.encode_prompt(clip, "a red house"), prompts.encode_prompt(clip, "blurry")
    ours = sampling.sample(model, pos, neg, Latent("sd15", torch.zeros(1, 4, 8, 8)), seed=5, steps=3, cfg=6.5,
                           sampler="euler", scheduler="normal").samples
    assert float((ours - ref).abs().max()) <= TOL
