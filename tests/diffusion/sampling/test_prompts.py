"""Prompt parsing, chunking, emphasis, CLIP skip, and parity with diffusers' encode_prompt."""

from __future__ import annotations

import diffusers
import pytest
import torch

from studio.diffusion import prompts
from studio.diffusion.prompts import parse_prompt
from studio.diffusion.values import TextEncoder


@pytest.mark.parametrize(("text", "expected"), [
    ("a cat", [("a cat", 1.0)]),
    ("a (cat) dog", [("a ", 1.0), ("cat", 1.1), (" dog", 1.0)]),
    ("a [cat]", [("a ", 1.0), ("cat", 1 / 1.1)]),
    ("(cat:1.3), dog", [("cat", 1.3), (", dog", 1.0)]),
    ("((cat:1.2))", [("cat", 1.2 * 1.1)]),
    (r"\(cat\) \[x\] \\", [(r"(cat) [x] \ ".rstrip(), 1.0)]),
    ("(open cat", [("open cat", 1.1)]),
    ("x) y]", [("x) y]", 1.0)]),
    ("ratio: 2 (cat:0.5)", [("ratio: 2 ", 1.0), ("cat", 0.5)]),
    ("a BREAK b", [("a", 1.0), (None, 1.0), ("b", 1.0)]),
    ("", [("", 1.0)]),
])
def test_parse(text, expected):
    got = parse_prompt(text)
    assert [t for t, _ in got] == [t for t, _ in expected]
    assert [w for _, w in got] == pytest.approx([w for _, w in expected])


def _sd_pipe(ns):
    return diffusers.StableDiffusionPipeline(
        vae=ns.vae, text_encoder=ns.encoder, tokenizer=ns.tokenizer, unet=ns.unet,
        scheduler=diffusers.EulerDiscreteScheduler(), safety_checker=None, feature_extractor=None,
        requires_safety_checker=False,
    )


@pytest.mark.parametrize("text", ["a photo of a cat", "", "cat dog " * 37])
def test_plain_prompt_is_identical_to_diffusers(sd15, text):
    ref, _ = _sd_pipe(sd15).encode_prompt(text, "cpu", 1, False)
    ours = prompts.encode_prompt(sd15.clip, text).embeds
    assert ours.shape == ref.shape == (1, 77, 32)
    assert torch.equal(ours, ref)


def test_clip_skip_matches_diffusers_rule(sd15):
    # diffusers 0.42's encode_prompt(clip_skip=...) reaches for ``text_encoder.text_model``, which
    # transformers 5 removed; this is its computation: hidden state -(skip+1), then the final norm.
    enc = sd15.encoder
    ids = sd15.tokenizer("a red house", padding="max_length", max_length=77, return_tensors="pt").input_ids
    with torch.no_grad():
        out = enc(ids, output_hidden_states=True)
        ref = getattr(enc, "text_model", enc).final_layer_norm(out.hidden_states[-2])
    clip = TextEncoder("sd15", sd15.clip.tokenizers, sd15.clip.encoders, skip=1)
    ours = prompts.encode_prompt(clip, "a red house").embeds
    assert torch.equal(ours, ref)
    assert not torch.equal(ours, prompts.encode_prompt(sd15.clip, "a red house").embeds)


def test_sdxl_matches_diffusers(sdxl):
    pipe = diffusers.StableDiffusionXLPipeline(
        vae=sdxl.vae, text_encoder=sdxl.encoder, text_encoder_2=sdxl.encoder_2, tokenizer=sdxl.tokenizer,
        tokenizer_2=sdxl.tokenizer, unet=sdxl.unet, scheduler=diffusers.EulerDiscreteScheduler(), add_watermarker=False,
    )
    emb, neg, pooled, neg_pooled = pipe.encode_prompt("a blue sky", device="cpu", negative_prompt="blurry")
    pos, nn = prompts.encode_prompt(sdxl.clip, "a blue sky"), prompts.encode_prompt(sdxl.clip, "blurry")
    assert pos.embeds.shape == (1, 77, 64) and pos.pooled.shape == (1, 32)
    assert torch.equal(pos.embeds, emb) and torch.equal(pos.pooled, pooled)
    assert torch.equal(nn.embeds, neg) and torch.equal(nn.pooled, neg_pooled)
    assert pos.extras["crop_top_left"] == (0, 0) and "original_size" not in pos.extras


def test_long_prompt_is_chunked_not_cut(sd15):
    text = "cat dog " * 50  # 100 tokens
    chunks = prompts.chunk_tokens(sd15.tokenizer, parse_prompt(text))
    assert [len(ids) for ids, _ in chunks] == [77, 77]
    tok = sd15.tokenizer
    first, second = chunks[0][0], chunks[1][0]
    assert first[0] == second[0] == tok.bos_token_id and first[76] == tok.eos_token_id
    assert second[26] == tok.eos_token_id and second[27:] == [tok.pad_token_id] * 50
    body = tok(text, add_special_tokens=False).input_ids
    assert first[1:76] + second[1:26] == body
    cond = prompts.encode_prompt(sd15.clip, text)
    assert cond.embeds.shape == (1, 154, 32)
    # The first chunk is the plain encoding of the first 75 tokens.
    head = prompts.encode_prompt(sd15.clip, "cat dog " * 37 + "cat").embeds
    assert torch.allclose(cond.embeds[:, :77], head, atol=1e-6)


def test_break_starts_a_new_chunk(sd15):
    cond = prompts.encode_prompt(sd15.clip, "a cat BREAK a dog")
    assert cond.embeds.shape == (1, 154, 32)


def test_emphasis_changes_embeddings_and_keeps_the_mean(sd15):
    plain = prompts.encode_prompt(sd15.clip, "a red cat, blue sky").embeds
    strong = prompts.encode_prompt(sd15.clip, "a (red cat:1.5), blue sky").embeds
    weak = prompts.encode_prompt(sd15.clip, "a [red cat], blue sky").embeds
    assert not torch.allclose(plain, strong) and not torch.allclose(plain, weak)
    assert float(strong.mean()) == pytest.approx(float(plain.mean()), rel=1e-4, abs=1e-6)
    # Weight 1 is the plain prompt, exactly.
    assert torch.equal(prompts.encode_prompt(sd15.clip, "a (red cat:1.0), blue sky").embeds, plain)
