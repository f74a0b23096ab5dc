"""The regional-conditioning nodes: areas, masks, combine, concat, average and zero-out."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from nodes.conditioning_regions import (
    average,
    combine,
    concat,
    set_area,
    set_area_percent,
    set_mask,
    zero_out,
)
from studio.core.context import NodeFailure
from studio.core.nodetype import BoxParams
from studio.core.registry import default_registry
from studio.diffusion.values import Area, Conditioning, ControlSpec


def _cond(value: float, tokens: int = 77, pooled: float | None = None, **kw) -> Conditioning:
    p = torch.full((1, 16), pooled) if pooled is not None else None
    return Conditioning("sd15", torch.full((1, tokens, 8), float(value)), pooled=p, **kw)


def _warnings(ctx):
    return [d["message"] for k, d in ctx.recorder.events if k == "log" and d["level"] == "warning"]


def test_nodes_are_registered_with_comfyui_names_family_typed_wires_and_boxes():
    reg = default_registry()
    expected = {"conditioning.set_area": "ConditioningSetArea",
                "conditioning.set_area_percent": "ConditioningSetAreaPercentage",
                "conditioning.set_mask": "ConditioningSetMask", "conditioning.combine": "ConditioningCombine",
                "conditioning.concat": "ConditioningConcat", "conditioning.average": "ConditioningAverage",
                "conditioning.zero_out": "ConditioningZeroOut"}
    for type_id, alias in expected.items():
        nt = reg[type_id]
        assert alias in nt.aliases and len(nt.description) > 20
        assert [(o.type.kind.name, o.type.family) for o in nt.outputs] == [("CONDITIONING", "$F")]
        assert all((i.type.kind.name, i.type.family) == ("CONDITIONING", "$F")
                   for i in nt.inputs if i.wire and i.name != "mask")
    assert reg["conditioning.set_area"].box == BoxParams()
    assert reg["conditioning.set_area_percent"].box == BoxParams(relative=True)
    mask_input = next(i for i in reg["conditioning.set_mask"].inputs if i.name == "mask")
    assert mask_input.wire and mask_input.type.kind.name == "MASK"
    widths = {i.name: i.default for i in reg["conditioning.set_area"].inputs if not i.wire}
    assert widths == {"width": 64, "height": 64, "x": 0, "y": 0, "strength": 1.0}


def test_set_area_and_percent_apply_to_every_entry(make_ctx):
    both = combine(make_ctx(), conditioning_1=_cond(1), conditioning_2=_cond(2))
    out = set_area(make_ctx(), conditioning=both, width=128, height=64, x=32, y=16, strength=1.5)
    assert [(e.area, e.strength, float(e.embeds[0, 0, 0])) for e in out.entries()] == [
        (Area(32, 16, 128, 64), 1.5, 1.0), (Area(32, 16, 128, 64), 1.5, 2.0)]
    rel = set_area_percent(make_ctx(), conditioning=_cond(1), width=0.5, height=1.0, x=0.25, y=0.0, strength=0.7)
    assert rel.area == Area(0.25, 0.0, 0.5, 1.0, relative=True) and rel.strength == 0.7
    assert rel.area.pixels(512, 768) == (192, 0, 384, 512)


def test_set_mask_keeps_the_mask_its_strength_and_the_bounds_choice(make_ctx):
    mask = np.zeros((1, 64, 64), np.float32)
    mask[0, 8:24, 8:40] = 1.0
    out = set_mask(make_ctx(), conditioning=_cond(1, area=Area(0, 0, 64, 64)), mask=mask, strength=0.6,
                   set_cond_area="mask bounds")
    assert out.mask is not None and np.array_equal(out.mask, mask)
    assert (out.mask_strength, out.set_area_to_bounds, out.strength, out.area) == (0.6, True, 1.0, Area(0, 0, 64, 64))
    assert set_mask(make_ctx(), conditioning=_cond(1), mask=mask[0], strength=1.0,
                    set_cond_area="default").set_area_to_bounds is False
    with pytest.raises(NodeFailure, match="mask"):
        set_mask(make_ctx(), conditioning=_cond(1), mask="not a mask", strength=1.0, set_cond_area="default")


def test_combine_keeps_the_order_of_its_inputs_and_controls_reach_every_entry(make_ctx):
    ab = combine(make_ctx(), conditioning_1=_cond(1), conditioning_2=_cond(2))
    abc = combine(make_ctx(), conditioning_1=_cond(0), conditioning_2=ab)
    assert [float(e.embeds[0, 0, 0]) for e in abc.entries()] == [0.0, 1.0, 2.0]
    assert abc.regional and not _cond(0).regional
    spec = ControlSpec(controlnet=object(), hint=np.zeros((1, 8, 8, 3), np.float32))  # type: ignore[arg-type]
    assert all(e.controls == (spec,) for e in abc.with_control(spec).entries())


def test_concat_appends_the_first_entry_of_from_to_every_entry_of_to(make_ctx):
    ctx = make_ctx()
    to = combine(make_ctx(), conditioning_1=_cond(1, pooled=0.5), conditioning_2=_cond(2, tokens=154))
    source = combine(make_ctx(), conditioning_1=_cond(7), conditioning_2=_cond(8))
    out = concat(ctx, conditioning_to=to, conditioning_from=source)
    first, second = out.entries()
    assert first.embeds.shape == (1, 154, 8) and second.embeds.shape == (1, 231, 8)
    assert torch.equal(first.embeds[:, :77], torch.full((1, 77, 8), 1.0))
    assert torch.equal(first.embeds[:, 77:], torch.full((1, 77, 8), 7.0))
    assert torch.equal(first.pooled, torch.full((1, 16), 0.5))  # to's pooled embedding
    assert any("only the first" in w for w in _warnings(ctx))
    with pytest.raises(NodeFailure, match="wide"):
        concat(make_ctx(), conditioning_to=_cond(1),
               conditioning_from=Conditioning("sd15", torch.zeros(1, 77, 4)))


def test_average_blends_tokens_and_pooled_cutting_or_zero_padding_from(make_ctx):
    to = _cond(1.0, tokens=154, pooled=2.0, area=Area(0, 0, 64, 64))
    out = average(make_ctx(), conditioning_to=to, conditioning_from=_cond(3.0, pooled=6.0), conditioning_to_strength=0.25)
    assert out.embeds.shape == (1, 154, 8) and out.area == Area(0, 0, 64, 64)
    assert torch.allclose(out.embeds[:, :77], torch.full((1, 77, 8), 0.25 * 1 + 0.75 * 3))
    assert torch.allclose(out.embeds[:, 77:], torch.full((1, 77, 8), 0.25 * 1))  # from padded with zeros
    assert torch.allclose(out.pooled, torch.full((1, 16), 0.25 * 2 + 0.75 * 6))
    cut = average(make_ctx(), conditioning_to=_cond(1.0), conditioning_from=_cond(3.0, tokens=154),
                  conditioning_to_strength=0.5)
    assert cut.embeds.shape == (1, 77, 8) and torch.allclose(cut.embeds, torch.full((1, 77, 8), 2.0))
    borrowed = average(make_ctx(), conditioning_to=_cond(1.0), conditioning_from=_cond(3.0, pooled=6.0),
                       conditioning_to_strength=0.5)
    assert torch.equal(borrowed.pooled, torch.full((1, 16), 6.0))  # to had none: from's, as ComfyUI does


def test_zero_out_zeroes_embeddings_and_pooled_of_every_entry(make_ctx):
    both = combine(make_ctx(), conditioning_1=_cond(1, pooled=3.0, strength=2.0), conditioning_2=_cond(2))
    out = zero_out(make_ctx(), conditioning=both)
    first, second = out.entries()
    assert not first.embeds.any() and not first.pooled.any() and first.strength == 2.0
    assert not second.embeds.any() and second.pooled is None
    assert first.embeds.shape == (1, 77, 8)
