"""FreeU / FreeU V2 as a model patch: the patched UNet equals an up path computed by hand with the
formula applied to the hidden states by their width, and the shared UNet is plain again after."""

from __future__ import annotations

import pytest
import torch
from diffusers.utils.torch_utils import fourier_filter

from nodes.model_freeu import freeu, freeu_v2
from studio.diffusion.freeu import FreeUPatch
from studio.diffusion.model_patches import applied

B1, B2, S1, S2 = 1.4, 0.7, 0.6, 1.5


def _inputs():
    g = torch.Generator().manual_seed(0)
    return torch.randn(2, 4, 8, 8, generator=g), torch.tensor(500.0), torch.randn(2, 5, 32, generator=g)


def _joined(h, skip, width_factors, version):
    """The reference join: FreeU on ``h`` and ``skip`` where h's width is a FreeU stage's."""
    if h.shape[1] not in width_factors:
        return torch.cat([h, skip], 1)
    b, s = width_factors[h.shape[1]]
    half = h.shape[1] // 2
    h = h.clone()
    if version == 1:
        h[:, :half] = h[:, :half] * b
    else:
        mean = h.mean(1, keepdim=True)
        flat = mean.flatten(1)
        lo, hi = flat.min(1).values.view(-1, 1, 1, 1), flat.max(1).values.view(-1, 1, 1, 1)
        h[:, :half] = h[:, :half] * ((b - 1) * (mean - lo) / (hi - lo) + 1)
    return torch.cat([h, fourier_filter(skip, threshold=1, scale=s)], 1)


def _reference(unet, x, t, ehs, factors, version):
    """The UNet's forward written out block by block, with the FreeU join in the up path."""
    emb = unet.time_embedding(unet.time_proj(t.expand(x.shape[0])).to(x.dtype))
    h = unet.conv_in(x)
    skips = [h]
    for blk in unet.down_blocks:
        kw = {"encoder_hidden_states": ehs} if getattr(blk, "has_cross_attention", False) else {}
        h, res = blk(h, emb, **kw)
        skips += list(res)
    h = unet.mid_block(h, emb, encoder_hidden_states=ehs)
    for blk in unet.up_blocks:
        for i, resnet in enumerate(blk.resnets):
            h = resnet(_joined(h, skips.pop(), factors, version), emb)
            if getattr(blk, "attentions", None):
                h = blk.attentions[i](h, encoder_hidden_states=ehs, return_dict=False)[0]
        if blk.upsamplers:
            h = blk.upsamplers[0](h)
    return unet.conv_out(unet.conv_act(unet.conv_norm_out(h)))


@torch.no_grad()
def test_reference_forward_is_the_unet(tiny):
    x, t, ehs = _inputs()
    plain = tiny.unet(x, t, encoder_hidden_states=ehs).sample
    assert torch.allclose(_reference(tiny.unet, x, t, ehs, {}, 1), plain, atol=1e-5)


@pytest.mark.parametrize("version", [1, 2])
@torch.no_grad()
def test_patched_unet_equals_formula_and_is_undone(tiny, version):
    unet = tiny.unet
    x, t, ehs = _inputs()
    plain = unet(x, t, encoder_hidden_states=ehs).sample
    # Base width 8: b1/s1 where h has 32 channels, b2/s2 where it has 16.
    expected = _reference(unet, x, t, ehs, {32: (B1, S1), 16: (B2, S2)}, version)
    with applied(unet, [FreeUPatch(B1, B2, S1, S2, version)]):
        got = unet(x, t, encoder_hidden_states=ehs).sample
    assert torch.allclose(got, expected, atol=1e-5)
    assert float((got - plain).abs().max()) > 1e-3
    assert torch.equal(unet(x, t, encoder_hidden_states=ehs).sample, plain)  # hooks removed


@torch.no_grad()
def test_diffusers_enable_freeu_picks_other_joins(tiny):
    """diffusers scales by up-block index, not by width: on this UNet its result is not ComfyUI's."""
    unet = tiny.unet
    x, t, ehs = _inputs()
    with applied(unet, [FreeUPatch(B1, B2, S1, S2, 1)]):
        ours = unet(x, t, encoder_hidden_states=ehs).sample
    unet.enable_freeu(s1=S1, s2=S2, b1=B1, b2=B2)
    try:
        theirs = unet(x, t, encoder_hidden_states=ehs).sample
    finally:
        unet.disable_freeu()
    assert float((ours - theirs).abs().max()) > 1e-3


def test_nodes_add_a_patch_and_keep_the_shared_unet(tiny):
    a = freeu(None, model=tiny.model, b1=1.1, b2=1.2, s1=0.9, s2=0.2)
    b = freeu_v2(None, model=a, b1=1.3, b2=1.4, s1=0.9, s2=0.2)
    assert b.unet is tiny.unet and tiny.model.patches == ()
    assert [(p.version, p.b1) for p in b.patches] == [(1, 1.1), (2, 1.3)]
