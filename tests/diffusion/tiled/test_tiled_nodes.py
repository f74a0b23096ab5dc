"""The Tiled Sampler and Tiled Diffusion nodes share one engine: the model patch route and the
sampler route give the same latent."""

from __future__ import annotations

import torch

from studio.core.context import CancelToken, NodeContext
from studio.core.registry import default_registry
from studio.core.settings import Settings
from studio.diffusion import prompts
from studio.diffusion.tiled import TileSpec
from studio.diffusion.values import Latent

from ...helpers import services


def _ctx():
    return NodeContext(node_id="n", title="Node", run_id=1, cancel=CancelToken(), emit=lambda kind, data: None,
                       services=services(settings=Settings(preview="none")))


def test_tiled_sampler_and_tiled_diffusion_model_give_the_same_latent(sd15):
    reg = default_registry()
    tiled, patch, plain = reg["sample.tiled"], reg["model.tiled_diffusion"], reg["sample.sampler"]
    assert "TiledDiffusion" in patch.aliases
    assert {i.name for i in plain.inputs} < {i.name for i in tiled.inputs}
    p, n = prompts.encode_prompt(sd15.clip, "a photo of a cat"), prompts.encode_prompt(sd15.clip, "blurry")
    latent = Latent("sd15", torch.zeros(1, 4, 8, 16))
    common = dict(positive=p, negative=n, latent=latent, seed=3, steps=2, cfg=5.0, sampler="euler",
                  scheduler="normal", denoise=1.0)
    a = tiled.fn(_ctx(), model=sd15.model, mode="multidiffusion", tile_width=64, tile_height=64, overlap=32,
                 tile_batch=2, **common).samples
    model = patch.fn(_ctx(), model=sd15.model, mode="multidiffusion", tile_width=64, tile_height=64, tile_overlap=32,
                     tile_batch_size=2)
    assert model.tiling == TileSpec("multidiffusion", 64, 64, 32, 2) and sd15.model.tiling is None
    b = plain.fn(_ctx(), model=model, **common).samples
    assert torch.equal(a, b)
    assert not torch.equal(a, plain.fn(_ctx(), model=sd15.model, **common).samples)
