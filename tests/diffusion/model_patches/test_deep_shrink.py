"""Deep Shrink: inside its timestep range the features after the chosen input block are smaller and the
output has the latent's size; outside it the output is exactly the plain UNet's; hooks go after a run."""

from __future__ import annotations

import pytest
import torch

from nodes.model_deep_shrink import deep_shrink
from studio.core.context import NodeFailure
from studio.diffusion.deep_shrink import DeepShrinkPatch, input_blocks
from studio.diffusion.model_patches import applied


def _inputs():
    g = torch.Generator().manual_seed(1)
    return torch.randn(1, 4, 8, 8, generator=g), torch.randn(1, 5, 32, generator=g)


def _run(unet, x, t, ehs, patches=()):
    with applied(unet, list(patches)):
        return unet(x, torch.tensor(float(t)), encoder_hidden_states=ehs).sample


@pytest.mark.parametrize("after_skip", [True, False], ids=["after-skip", "before-skip"])
@torch.no_grad()
def test_shrinks_inside_the_range_only(tiny, after_skip):
    unet = tiny.unet
    x, ehs = _inputs()
    # Block 2 is the first downsampler of this UNet (DownBlock2D: resnet, downsampler).
    assert input_blocks(unet)[1][0] is unet.down_blocks[0].downsamplers[0]
    patch = DeepShrinkPatch(2, 2.0, 0.0, 0.35, after_skip, "bicubic", "bilinear")
    seen: list[tuple[int, ...]] = []
    probe = unet.down_blocks[1].resnets[0].register_forward_hook(lambda m, a, out: seen.append(tuple(a[0].shape)))
    try:
        early = _run(unet, x, 900, ehs, [patch])  # (1 − 0.35)·999 ≈ 649 ≤ 900: shrunk
        late = _run(unet, x, 300, ehs, [patch])  # outside: plain
    finally:
        probe.remove()
    assert seen == [(1, 8, 2, 2), (1, 8, 4, 4)]
    assert early.shape == x.shape
    assert float((early - _run(unet, x, 900, ehs)).abs().max()) > 1e-3
    assert torch.equal(late, _run(unet, x, 300, ehs))
    assert len(unet.up_blocks[1]._forward_pre_hooks) == 0 and len(unet._forward_pre_hooks) == 0


@torch.no_grad()
def test_before_and_after_skip_differ_and_the_last_block_works(tiny):
    unet = tiny.unet
    x, ehs = _inputs()
    a = _run(unet, x, 999, ehs, [DeepShrinkPatch(2, 2.0, 0.0, 1.0, True)])
    b = _run(unet, x, 999, ehs, [DeepShrinkPatch(2, 2.0, 0.0, 1.0, False)])
    assert float((a - b).abs().max()) > 1e-4
    last = len(input_blocks(unet))
    assert _run(unet, x, 999, ehs, [DeepShrinkPatch(last, 2.0, 0.0, 1.0, True)]).shape == x.shape


def test_node_checks_the_block_number(tiny):
    m = deep_shrink(None, model=tiny.model, block_number=3, downscale_factor=2.0, start_percent=0.0,
                    end_percent=0.35, downscale_after_skip=True, downscale_method="bicubic", upscale_method="bicubic")
    assert m.unet is tiny.unet and m.patches[-1].block_number == 3
    with pytest.raises(NodeFailure, match="input blocks 1–5"):
        deep_shrink(None, model=tiny.model, block_number=9, downscale_factor=2.0, start_percent=0.0,
                    end_percent=0.35, downscale_after_skip=True, downscale_method="bicubic", upscale_method="bicubic")
