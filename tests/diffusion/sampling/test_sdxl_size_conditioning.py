"""SDXL's size and crop conditioning and its prompt per text encoder, against diffusers'
``StableDiffusionXLPipeline`` (``prompt``/``prompt_2``, ``original_size``, ``crops_coords_top_left``,
``target_size`` and their negative counterparts) on the tiny SDXL components."""

from __future__ import annotations

import diffusers
import pytest
import torch

from nodes.conditioning_sdxl import encode_sdxl
from studio.core.context import CancelToken, NodeContext
from studio.diffusion import prompts, sampling
from studio.diffusion.values import Latent

from ...helpers import services as run_services

TOL = 1e-4
SEED = 2024


def _pipe(ns):
    pipe = diffusers.StableDiffusionXLPipeline(
        vae=ns.vae, text_encoder=ns.encoder, text_encoder_2=ns.encoder_2, tokenizer=ns.tokenizer,
        tokenizer_2=ns.tokenizer, unet=ns.unet, scheduler=diffusers.EulerDiscreteScheduler.from_config(
            ns.model.scheduler_config), add_watermarker=False,
    )
    pipe.set_progress_bar_config(disable=True)
    return pipe


def _ctx():
    return NodeContext(node_id="n1", title="t", run_id=1, cancel=CancelToken(), emit=lambda kind, data: None,
                       services=run_services())


def _node(ns, *, text_g, text_l, width=1024, height=1024, crop_w=0, crop_h=0, target_width=1024,
          target_height=1024):
    return encode_sdxl(_ctx(), clip=ns.clip, width=width, height=height, crop_w=crop_w, crop_h=crop_h,
                       target_width=target_width, target_height=target_height, text_g=text_g, text_l=text_l)


def _ours(ns, pos, neg):
    return sampling.sample(ns.model, pos, neg, Latent("sdxl", torch.zeros(1, 4, 8, 8)), seed=SEED, steps=3,
                           cfg=6.0, sampler="euler", scheduler="normal").samples


def _sizes(cond) -> dict:
    """The SDXL micro-conditioning among a conditioning's extras."""
    keys = ("original_size", "crop_top_left", "target_size", "aesthetic_score")
    return {k: v for k, v in cond.extras.items() if k in keys}


def _diff(a, b) -> float:
    assert a.shape == b.shape
    return float((a - b).abs().max())


def test_a_prompt_per_encoder_matches_prompt_and_prompt_2(sdxl) -> None:
    # diffusers: ``prompt`` goes to CLIP-L (text_encoder), ``prompt_2`` to OpenCLIP-G (text_encoder_2).
    emb, neg, pooled, neg_pooled = _pipe(sdxl).encode_prompt(
        "a red cat", prompt_2="a blue house", device="cpu", negative_prompt="blurry", negative_prompt_2="dog")
    pos = prompts.encode_prompt(sdxl.clip, "ignored", texts=("a red cat", "a blue house"))
    nn = _node(sdxl, text_g="dog", text_l="blurry")
    assert torch.equal(pos.embeds, emb) and torch.equal(pos.pooled, pooled)
    assert torch.equal(nn.embeds, neg) and torch.equal(nn.pooled, neg_pooled)
    # The split matters: the same text on both encoders is another conditioning.
    same = prompts.encode_prompt(sdxl.clip, "a blue house")
    assert torch.equal(same.pooled, pooled) and not torch.equal(same.embeds, emb)


def test_the_shorter_prompt_is_padded_with_empty_chunks(sdxl) -> None:
    long_g = "cat dog " * 50  # 100 tokens: two chunks
    cond = _node(sdxl, text_g=long_g, text_l="a red cat")
    assert cond.embeds.shape == (1, 154, 64)
    l_alone = prompts.encode_prompt(sdxl.clip, "", texts=("a red cat", "a red cat")).embeds[..., :32]
    empty = prompts.encode_prompt(sdxl.clip, "").embeds[..., :32]
    g_alone = prompts.encode_prompt(sdxl.clip, long_g).embeds[..., 32:]
    assert torch.equal(cond.embeds[:, :77, :32], l_alone) and torch.equal(cond.embeds[:, 77:, :32], empty)
    assert torch.equal(cond.embeds[..., 32:], g_alone)
    # and the other way round, BREAK making the CLIP-L prompt the longer one
    other = _node(sdxl, text_g="a red cat", text_l="a cat BREAK a dog BREAK sky")
    assert other.embeds.shape == (1, 231, 64)
    assert torch.equal(other.embeds[:, 77:154, 32:], prompts.encode_prompt(sdxl.clip, "").embeds[..., 32:])
    with pytest.raises(ValueError, match="3 prompts for 2 text encoders"):
        prompts.encode_prompt(sdxl.clip, "", texts=("a", "b", "c"))


def test_size_crop_and_target_match_the_pipeline(sdxl) -> None:
    ref = _pipe(sdxl)(
        "a red cat", prompt_2="a photo of a house", negative_prompt="blurry", negative_prompt_2="dog sky",
        height=64, width=64, num_inference_steps=3, guidance_scale=6.0,
        original_size=(512, 384), crops_coords_top_left=(16, 48), target_size=(96, 80),
        negative_original_size=(256, 256), negative_crops_coords_top_left=(0, 8), negative_target_size=(64, 64),
        generator=torch.Generator("cpu").manual_seed(SEED), output_type="latent").images
    pos = _node(sdxl, text_g="a photo of a house", text_l="a red cat", width=384, height=512, crop_w=48, crop_h=16,
                target_width=80, target_height=96)
    neg = _node(sdxl, text_g="dog sky", text_l="blurry", width=256, height=256, crop_w=8, crop_h=0,
                target_width=64, target_height=64)
    assert _sizes(pos) == {"original_size": (512, 384), "crop_top_left": (16, 48), "target_size": (96, 80)}
    assert _diff(_ours(sdxl, pos, neg), ref) <= TOL
    # The sizes really condition it: the defaults (the generated size) give another result.
    plain_pos = prompts.encode_prompt(sdxl.clip, "", texts=("a red cat", "a photo of a house"))
    plain_neg = prompts.encode_prompt(sdxl.clip, "", texts=("blurry", "dog sky"))
    assert _diff(_ours(sdxl, plain_pos, plain_neg), ref) > 1e-3


def test_zero_sizes_mean_the_size_being_generated(sdxl) -> None:
    from studio.diffusion.denoiser import _time_ids

    cond = _node(sdxl, text_g="a cat", text_l="a cat", width=0, height=0, crop_w=8, crop_h=4, target_width=0,
                 target_height=1024)
    assert _sizes(cond) == {"crop_top_left": (4, 8)}
    assert _time_ids(cond, 64, 48) == [64, 48, 4, 8, 64, 48]
    assert _time_ids(_node(sdxl, text_g="a", text_l="a"), 64, 48) == [1024, 1024, 0, 0, 1024, 1024]
