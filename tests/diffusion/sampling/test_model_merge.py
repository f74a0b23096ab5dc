"""Model merging: the blended weights follow ratio · model1 + (1 − ratio) · model2 (per block for
Merge Models (Blocks)) while a run uses them, and the shared UNets are bit-identical after."""

from __future__ import annotations

import copy

import pytest
import torch

from nodes.model_merge import merge_blocks, merge_simple
from studio.compat import import_comfyui
from studio.core.context import NodeFailure
from studio.core.registry import default_registry
from studio.diffusion import prompts, sampling
from studio.diffusion.model_merge import block_of
from studio.diffusion.model_patches import applied
from studio.diffusion.values import Latent, UNetModel


@pytest.fixture
def two(sd15):
    a, b = copy.deepcopy(sd15.unet), copy.deepcopy(sd15.unet)
    g = torch.Generator().manual_seed(3)
    with torch.no_grad():
        for p in b.parameters():
            p.add_(torch.randn(p.shape, generator=g) * 0.1)
    cfg = dict(sd15.model.scheduler_config)
    return UNetModel("sd15", a, cfg, "one.safetensors"), UNetModel("sd15", b, cfg, "two.safetensors")


def _state(unet) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in unet.state_dict().items()}


def test_merge_simple_follows_the_formula_and_restores(two):
    m1, m2 = two
    base1, base2 = _state(m1.unet), _state(m2.unet)
    merged = merge_simple(None, model1=m1, model2=m2, ratio=0.3)
    assert merged.unet is m1.unet and m1.patches == ()
    with applied(merged.unet, merged.patches):
        for k, v in merged.unet.state_dict().items():
            assert torch.allclose(v, base1[k] * 0.3 + base2[k] * 0.7, atol=1e-6), k
    for k, v in m1.unet.state_dict().items():
        assert torch.equal(v, base1[k]), k
    for k, v in m2.unet.state_dict().items():
        assert torch.equal(v, base2[k]), k


def test_merge_blocks_by_prefix(two):
    m1, m2 = two
    base1, base2 = _state(m1.unet), _state(m2.unet)
    merged = merge_blocks(None, model1=m1, model2=m2, input=0.2, middle=0.5, out=0.9)
    want = {"input": 0.2, "middle": 0.5, "out": 0.9}
    assert block_of("down_blocks.1.resnets.0.conv1.weight") == "input"
    assert block_of("mid_block.attentions.0.proj_in.weight") == "middle"
    assert block_of("conv_out.weight") == "out" and block_of("time_embedding.linear_1.weight") == "input"
    with applied(merged.unet, merged.patches):
        for k, v in merged.unet.state_dict().items():
            r = want[block_of(k)]
            assert torch.allclose(v, base1[k] * r + base2[k] * (1 - r), atol=1e-6), k
    assert all(torch.equal(v, base1[k]) for k, v in m1.unet.state_dict().items())


def test_a_run_of_the_merge_leaves_the_base_unchanged(sd15, two):
    m1, m2 = two
    base1 = _state(m1.unet)
    pos, neg = prompts.encode_prompt(sd15.clip, "a red cat"), prompts.encode_prompt(sd15.clip, "blurry")

    def run(model):
        return sampling.sample(model, pos, neg, Latent("any", torch.zeros(1, 4, 8, 8)), seed=5, steps=2, cfg=5.0,
                               sampler="euler", scheduler="normal", denoise=1.0).samples

    plain = run(m1)
    merged = run(merge_simple(None, model1=m1, model2=m2, ratio=0.5))
    assert float((plain - merged).abs().max()) > 1e-4
    assert all(torch.equal(v, base1[k]) for k, v in m1.unet.state_dict().items())
    assert torch.equal(run(m1), plain)
    # ratio 1 is model 1 alone.
    assert torch.allclose(run(merge_simple(None, model1=m1, model2=m2, ratio=1.0)), plain)


def test_two_families_are_refused(two):
    m1, m2 = two
    other = UNetModel("sdxl", m2.unet, m2.scheduler_config, "xl.safetensors")
    with pytest.raises(NodeFailure, match=r"sd15 model \(one.safetensors\).*sdxl model \(xl.safetensors\)"):
        merge_simple(None, model1=m1, model2=other, ratio=0.5)


def test_comfyui_import():
    api = {"1": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "a.safetensors"}},
           "2": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "b.safetensors"}},
           "3": {"class_type": "ModelMergeSimple", "inputs": {"model1": ["1", 0], "model2": ["2", 0], "ratio": 0.25}},
           "4": {"class_type": "ModelMergeBlocks",
                 "inputs": {"model1": ["3", 0], "model2": ["2", 0], "input": 0.1, "middle": 0.2, "out": 0.3}}}
    graph, report = import_comfyui(api, default_registry())
    by_type = {n.type_id: n for n in graph.nodes.values()}
    assert by_type["model.merge_simple"].params == {"ratio": 0.25}
    assert by_type["model.merge_blocks"].params == {"input": 0.1, "middle": 0.2, "out": 0.3}
    ports = {(graph.nodes[k.src].type_id, k.dst_port) for k in graph.links.values()
             if graph.nodes[k.dst].type_id == "model.merge_blocks"}
    assert ports == {("model.merge_simple", "model1"), ("model.checkpoint", "model2")}
    assert report.of_kind("unmapped") == []
