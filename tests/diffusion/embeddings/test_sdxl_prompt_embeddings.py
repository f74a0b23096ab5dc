"""The SDXL size-and-crop prompt node with embeddings: each encoder's prompt names its own, and the cache
signature watches the embedding files when either prompt may name one."""

from __future__ import annotations

import torch

from nodes.conditioning_sdxl import encode_sdxl
from studio.core.settings import Settings
from studio.diffusion.prompts import encode_prompt
from tests.helpers import services

from .conftest import WIDTH_L
from .test_embedding_nodes import context, logs


def _encode(ctx, clip, text_g: str, text_l: str):
    return encode_sdxl(ctx, clip=clip, width=1024, height=1024, crop_w=0, crop_h=0, target_width=1024,
                       target_height=1024, text_g=text_g, text_l=text_l)


def test_an_embedding_in_one_prompt_reaches_only_that_encoder(encoders, root):
    ctx, events = context(root)
    cond = _encode(ctx, encoders.sdxl, text_g="a photo", text_l="a photo, embedding:xl")
    assert logs(events, "info") == ["embeddings: xl (2 vectors)"] and not logs(events, "warning")
    plain = encode_prompt(encoders.sdxl, "a photo")
    # OpenCLIP-G read "a photo" alone; CLIP-L read the embedding's vectors as well
    assert torch.equal(cond.embeds[..., WIDTH_L:], plain.embeds[..., WIDTH_L:])
    assert torch.equal(cond.pooled, plain.pooled)
    assert not torch.allclose(cond.embeds[..., :WIDTH_L], plain.embeds[..., :WIDTH_L])


def test_the_signature_watches_embeddings_named_in_either_prompt(root):
    svc = services(settings=Settings(models_root=str(root), bare_embedding_names=False))
    fp = encode_sdxl.fingerprint
    assert fp({"text_g": "a cat", "text_l": "a cat"}, svc) is None
    assert fp({"text_g": "a cat", "text_l": "embedding:xl"}, svc) is not None
    assert fp({"text_g": "embedding:xl", "text_l": ""}, svc) is not None
