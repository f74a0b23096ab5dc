"""Layout guidance on tiny models: the phrase's attention moves into its box, nothing changes without
boxes, the shared UNet is left as it was, and clear errors."""

from __future__ import annotations

from dataclasses import replace
from types import SimpleNamespace

import pytest
import torch

from bench.make_models import TINY
from nodes.layout_guidance import layout_guidance
from studio.core.context import CancelledError, CancelToken, NodeContext, NodeFailure
from studio.diffusion import prompts, sampling
from studio.diffusion.clip_tokenizer import tokenizers_for
from studio.diffusion.families import text_encoder_names
from studio.diffusion.layout_guidance import (
    LayoutBox,
    LayoutGuidance,
    LayoutStep,
    Target,
    captured,
    guidance_layers,
    inside_fractions,
)
from studio.diffusion.schedulers import make_scheduler
from studio.diffusion.values import Latent, TextEncoder, UNetModel

PROMPT = "a cat and a dog on a sofa"
LEFT = LayoutBox("cat", 0, 0, 32, 64)


def _components(made, family: str) -> SimpleNamespace:
    from diffusers import UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

    torch.set_num_threads(1)
    cfg, ref = TINY[family], made.reference[f"checkpoint-{family}"]
    unet = UNet2DConditionModel.from_config(cfg["unet"]).eval().requires_grad_(False)
    unet.load_state_dict(ref["unet"])
    encoders = []
    for sub in text_encoder_names(family):
        c = {k: v for k, v in cfg[sub].items() if not k.startswith("_")}
        cls = CLIPTextModelWithProjection if "CLIPTextModelWithProjection" in c["architectures"] else CLIPTextModel
        enc = cls(CLIPTextConfig.from_dict(c)).eval()
        enc.load_state_dict(ref[sub], strict=False)
        encoders.append(enc)
    clip = TextEncoder(family, tokenizers_for(family), tuple(encoders))
    return SimpleNamespace(model=UNetModel(family, unet, dict(cfg["scheduler"])), unet=unet, clip=clip,
                           positive=prompts.encode_prompt(clip, PROMPT), negative=prompts.encode_prompt(clip, ""))


@pytest.fixture(scope="module")
def sd15(tiny):
    return _components(tiny, "sd15")


@pytest.fixture(scope="module")
def sdxl(tiny):
    return _components(tiny, "sdxl")


def _sample(ns, patches=(), *, check_cancel=None, steps=3):
    return sampling.sample(replace(ns.model, patches=tuple(patches)), ns.positive, ns.negative,
                           Latent(ns.model.family, torch.zeros(1, 4, 8, 8)), seed=5, steps=steps, cfg=5.0,
                           sampler="euler", scheduler="normal", check_cancel=check_cancel).samples


def _hook(ns, guidance: LayoutGuidance) -> tuple[LayoutStep, object]:
    sched = make_scheduler("euler", "normal", ns.model.scheduler_config)
    sched.set_timesteps(3)
    plan = sampling.plan_steps(sched, 3, 1.0)
    with torch.no_grad():
        hook = guidance.step_hook(model=ns.model, positive=ns.positive, negative=ns.negative, scheduler=sched,
                                  plan=plan, batch=2, height=64, width=64)
    return hook, sched


def _inside(ns, latents, t, sched, box: LayoutBox) -> torch.Tensor:
    """The share of the phrase's attention inside its box, read by a capture of its own on the
    positive prompt (the plain UNet call, no guidance code on the path)."""
    positions = tuple(i for i, tok in enumerate(ns.positive.extras["token_ids"]) if tok == _cat_id())
    enc = ns.positive.embeds.repeat(latents.shape[0], 1, 1)
    kwargs = {}
    if ns.positive.pooled is not None:
        from studio.diffusion.denoiser import _time_ids

        kwargs["added_cond_kwargs"] = {"text_embeds": ns.positive.pooled.repeat(latents.shape[0], 1),
                                       "time_ids": torch.tensor([_time_ids(ns.positive, 64, 64)] * latents.shape[0])}
    with torch.enable_grad(), captured(guidance_layers(ns.unet)) as maps:
        ns.unet(sched.scale_model_input(latents, t), t, encoder_hidden_states=enc, **kwargs)
    with torch.no_grad():
        return inside_fractions(maps, [Target(box, positions)], 64, 64).mean(dim=(0, 1))


def _cat_id() -> int:
    (tok,) = tokenizers_for("sd15")[0]("cat", add_special_tokens=False).input_ids
    return tok


@pytest.mark.parametrize("family", ["sd15", "sdxl"])
def test_guidance_moves_the_phrases_attention_into_its_box(family, request):
    ns = request.getfixturevalue(family)
    hook, sched = _hook(ns, LayoutGuidance((LEFT,), loss_scale=300.0, iterations=5, steps=10))
    assert hook.targets[0].positions == (2,)  # "a cat ...": BOS, a, cat
    z = torch.randn(2, 4, 8, 8, generator=torch.Generator().manual_seed(0)) * sched.init_noise_sigma
    t = sched.timesteps[0]
    state = sampling.StepState(0, t, 1, 3, z)
    with torch.no_grad():
        hook(state)
    before, after = _inside(ns, z, t, sched, LEFT), _inside(ns, state.latents, t, sched, LEFT)
    assert (after > before + 0.01).all(), (before, after)  # each image of the batch
    assert hook.energies[-1] < hook.energies[0]
    assert not torch.equal(state.latents, z)


def test_without_boxes_sampling_is_bit_identical_and_the_node_passes_through(sd15):
    plain = _sample(sd15)
    assert torch.equal(_sample(sd15, [LayoutGuidance()]), plain)
    assert torch.equal(_sample(sd15, [LayoutGuidance((LEFT,), steps=0)]), plain)
    assert layout_guidance(_ctx(), model=sd15.model, phrase="  ", x=0, y=0, width=32, height=64, loss_scale=30.0,
                           iterations=5, steps=10) is sd15.model


def _state(unet):
    return ({k: id(v) for k, v in unet.attn_processors.items()},
            [(len(m._forward_pre_hooks), len(m._forward_hooks)) for m in unet.modules()])


def test_guided_sampling_differs_and_leaves_the_unet_as_it_was(sd15):
    before = _state(sd15.unet)
    calls = []

    def look():
        calls.append(sum(len(m._forward_pre_hooks) for m in sd15.unet.modules()))

    guided = _sample(sd15, [LayoutGuidance((LEFT,), iterations=2, steps=2)], check_cancel=look)
    assert _state(sd15.unet) == before
    # The cancel check runs before each step and before each guidance iteration (3 + 2 × 2), never
    # while the capture hooks are on.
    assert calls == [0] * 7
    assert float((guided - _sample(sd15)).abs().max()) > 1e-4

    # A cancel inside the guidance iterations: the error comes through, the UNet is untouched.
    count = iter(range(100))

    def cancel_late():
        if next(count) == 3:
            raise CancelledError()

    with pytest.raises(CancelledError):
        _sample(sd15, [LayoutGuidance((LEFT,), iterations=3, steps=2)], check_cancel=cancel_late)
    assert _state(sd15.unet) == before


def test_the_capture_hooks_are_removed_after_an_error(sd15):
    layers = guidance_layers(sd15.unet)
    assert [n.split(".")[0] for n, _ in layers] == ["up_blocks", "up_blocks", "mid_block"]
    with pytest.raises(RuntimeError), captured(layers):
        assert all(len(m._forward_pre_hooks) == 1 for _, m in layers)
        raise RuntimeError("boom")
    assert all(len(m._forward_pre_hooks) == 0 for _, m in layers)


def test_sdxl_guided_sampling_runs(sdxl):
    out = _sample(sdxl, [LayoutGuidance((LEFT, LayoutBox("dog", 32, 0, 32, 64)), iterations=1, steps=1)], steps=2)
    assert torch.isfinite(out).all()
    assert float((out - _sample(sdxl, steps=2)).abs().max()) > 1e-5


def _ctx(title: str = "Layout Guidance") -> NodeContext:
    return NodeContext(node_id="n", title=title, run_id=0, cancel=CancelToken(), emit=lambda kind, data: None)


def test_chained_nodes_share_one_patch_and_the_last_settings_win(sd15):
    first = layout_guidance(_ctx(), model=sd15.model, phrase="cat", x=0, y=0, width=32, height=64,
                            loss_scale=10.0, iterations=2, steps=3)
    second = layout_guidance(_ctx(), model=first, phrase=" dog ", x=32, y=0, width=32, height=64,
                             loss_scale=20.0, iterations=4, steps=6)
    (patch,) = second.patches
    assert [b.phrase for b in patch.boxes] == ["cat", "dog"]
    assert (patch.loss_scale, patch.iterations, patch.steps) == (20.0, 4, 6)
    assert sd15.model.patches == () and first.patches[0].boxes == (patch.boxes[0],)


def test_a_phrase_missing_from_the_prompt_is_named_with_its_node(sd15):
    model = layout_guidance(_ctx("Where the bird goes"), model=sd15.model, phrase="bird", x=0, y=0, width=32,
                            height=64, loss_scale=30.0, iterations=1, steps=1)
    with pytest.raises(NodeFailure, match=r"Where the bird goes: the phrase 'bird' is not in the positive prompt"):
        sampling.sample(model, sd15.positive, sd15.negative, Latent("sd15", torch.zeros(1, 4, 8, 8)), seed=1,
                        steps=2, cfg=5.0, sampler="euler", scheduler="normal")


def test_other_families_are_refused(sd15):
    with pytest.raises(NodeFailure, match="SD 1.x and SDXL"):
        layout_guidance(_ctx(), model=replace(sd15.model, family="sd2"), phrase="cat", x=0, y=0, width=32,
                        height=64, loss_scale=30.0, iterations=1, steps=1)


def test_phrases_are_found_in_any_chunk_of_a_long_prompt(sd15):
    from studio.diffusion.layout_guidance import phrase_positions

    clip_ids = sd15.positive.extras["token_ids"]
    assert len(clip_ids) == sd15.positive.embeds.shape[1] == 77
    filler = ", ".join(["a red house"] * 30)  # 30 × 4 tokens: the dogs land in the second chunk
    cond = prompts.encode_prompt(sd15.clip, f"{filler}, a sleepy dog, a sleepy dog")
    ids = cond.extras["token_ids"]
    assert len(ids) == cond.embeds.shape[1] == 154
    got = phrase_positions(cond, LayoutBox("sleepy dog", 0, 0, 8, 8))
    assert len(got) == 4 and all(77 < p < 154 for p in got)
    assert [ids[p] for p in got] == list(sd15.clip.tokenizers[0]("sleepy dog sleepy dog",
                                                                 add_special_tokens=False).input_ids)


def test_a_box_off_the_image_fails_before_the_first_step(sd15):
    guidance = LayoutGuidance((LayoutBox("cat", 64, 0, 32, 32, node="Cat box"),))
    with pytest.raises(NodeFailure, match=r"Cat box: the box of 'cat' \(64, 0, 32×32\) lies outside the 64×64 image"):
        _sample(sd15, [guidance])


def test_the_node_declares_its_box_for_the_box_editor():
    from studio.core.registry import default_registry

    nt = default_registry()["guidance.layout"]
    assert nt.box is not None and nt.box.label == "phrase" and not nt.box.relative
    assert {i.name: i.step for i in nt.params if i.name in nt.box.names} == dict.fromkeys(nt.box.names, 8)
    assert {i.name: i.default for i in nt.params if i.name in ("loss_scale", "iterations", "steps")} == {
        "loss_scale": 30.0, "iterations": 5, "steps": 10}


def test_with_a_prompt_per_sdxl_encoder_a_phrase_in_either_is_found(sdxl):
    from studio.diffusion.layout_guidance import phrase_positions

    cond = prompts.encode_prompt(sdxl.clip, "", texts=("a photo, soft light", "a red fox on a rock"))
    got = phrase_positions(cond, LayoutBox("red fox", 0, 0, 8, 8))
    ids, tok = cond.extras["other_token_ids"][0]
    assert got and [ids[p] for p in got] == list(tok("red fox", add_special_tokens=False).input_ids)
    assert phrase_positions(cond, LayoutBox("soft light", 0, 0, 8, 8))  # the CLIP-L prompt comes first
    with pytest.raises(NodeFailure, match="'owl' is not in the positive prompt"):
        phrase_positions(cond, LayoutBox("owl", 0, 0, 8, 8))
