"""GLIGEN: our sampler with boxes against diffusers' StableDiffusionGLIGENPipeline on the tiny SD 1.5 model
(same weights, the GLIGEN ones read from the tiny file by us and put into the pipeline's gated UNet), and
the patch's promises: off without boxes, the shared UNet unchanged, foreign files refused."""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from bench.make_models import TINY
from studio.core.context import NodeFailure
from studio.diffusion import prompts, sampling, schedulers
from studio.diffusion.errors import ModelError
from studio.diffusion.gligen import GligenBox, add_box, inspect_gligen, load_gligen, phrase_embedding
from studio.diffusion.gligen_keys import check_family, info_from_shapes
from studio.diffusion.model_manager import ModelManager
from studio.diffusion.values import Area, Latent, TextEncoder, UNetModel

torch.set_num_threads(1)
TOL = 1e-4  # as the other parity tests
SEED = 4321
PROMPT, NEGATIVE = "a photo of a red cat", "blurry"
STEPS, CFG = 3, 6.0
PHRASES = ["a red cat", "blue house in the sky"]
BOXES = [[0.1, 0.1, 0.6, 0.5], [0.4, 0.45, 0.95, 0.9]]


@pytest.fixture(scope="module")
def sd15(tiny):
    from diffusers import AutoencoderKL, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel

    from studio.diffusion.clip_tokenizer import tokenizers_for

    cfg, ref = TINY["sd15"], tiny.reference["checkpoint-sd15"]
    unet = UNet2DConditionModel.from_config(cfg["unet"]).eval()
    unet.load_state_dict(ref["unet"])
    vae = AutoencoderKL.from_config(cfg["vae"]).eval()
    vae.load_state_dict(ref["vae"])
    enc = CLIPTextModel(CLIPTextConfig.from_dict({k: v for k, v in cfg["text_encoder"].items()
                                                   if not k.startswith("_")})).eval()
    enc.load_state_dict(ref["text_encoder"], strict=False)
    tok = tokenizers_for("sd15")[0]
    manager = ModelManager(device="cpu", dtype="fp32", cache_dir=False)
    return SimpleNamespace(unet=unet, vae=vae, encoder=enc, tokenizer=tok, manager=manager,
                           model=UNetModel("sd15", unet, dict(cfg["scheduler"])), clip=TextEncoder("sd15", (tok,), (enc,)),
                           gligen=manager.load_gligen(tiny.paths["gligen-sd15"]))


def _grounded(ns, cond, beta, phrases=PHRASES, boxes=BOXES):
    for text, (x0, y0, x1, y1) in zip(phrases, boxes, strict=True):
        box = GligenBox(ns.gligen, phrase_embedding(ns.clip, text), Area(x0, y0, x1 - x0, y1 - y0, relative=True),
                        phrase=text, beta=beta)
        cond = add_box(cond, box)
    return cond


def _ours(ns, *, beta=None, cfg=CFG, batch=1, **kw):
    pos = prompts.encode_prompt(ns.clip, PROMPT)
    if beta is not None:
        pos = _grounded(ns, pos, beta)
    return sampling.sample(ns.model, pos, prompts.encode_prompt(ns.clip, NEGATIVE),
                           Latent("sd15", torch.zeros(batch, 4, 8, 8)), seed=SEED, steps=STEPS, cfg=cfg,
                           sampler="euler", scheduler="normal", **kw).samples


def _reference(ns, tiny, *, beta, cfg=CFG, batch=1):
    from diffusers import StableDiffusionGLIGENPipeline, UNet2DConditionModel

    gated = UNet2DConditionModel.from_config({**TINY["sd15"]["unet"], "attention_type": "gated"}).eval()
    gated.load_state_dict({**tiny.reference["checkpoint-sd15"]["unet"], **tiny.reference["gligen-sd15"]}, strict=True)
    pipe = StableDiffusionGLIGENPipeline(
        vae=ns.vae, text_encoder=ns.encoder, tokenizer=ns.tokenizer, unet=gated,
        scheduler=schedulers.make_scheduler("euler", "normal", ns.model.scheduler_config),
        safety_checker=None, feature_extractor=None, requires_safety_checker=False)
    pipe.set_progress_bar_config(disable=True)
    return pipe(PROMPT, negative_prompt=NEGATIVE, gligen_phrases=PHRASES, gligen_boxes=BOXES,
                gligen_scheduled_sampling_beta=beta, height=64, width=64, num_inference_steps=STEPS,
                guidance_scale=cfg, num_images_per_prompt=batch, generator=torch.Generator("cpu").manual_seed(SEED),
                output_type="latent").images


def _diff(a, b) -> float:
    assert a.shape == b.shape
    return float((a - b).abs().max())


@pytest.mark.parametrize(("beta", "cfg", "batch"), [(0.7, CFG, 2), (1.0, 1.0, 1)])
def test_boxes_match_the_gligen_pipeline(sd15, tiny, beta, cfg, batch):
    ours = _ours(sd15, beta=beta, cfg=cfg, batch=batch)
    ref = _reference(sd15, tiny, beta=beta, cfg=cfg, batch=batch)
    assert _diff(ours, ref) <= TOL
    # The boxes must matter, or this comparison proves nothing.
    assert _diff(ours, _ours(sd15, cfg=cfg, batch=batch)) > 1e-3


def test_grounding_runs_only_for_the_first_beta_of_the_steps(sd15):
    calls = []
    hook = sd15.gligen.position_net.register_forward_hook(lambda m, a, kw_out=None: calls.append(1))
    try:
        _ours(sd15, beta=0.7)  # int(0.7 · 3) = 2 grounded evaluations, the third a plain one
        assert len(calls) == 2
        calls.clear()
        _ours(sd15, beta=0.3)  # int(0.9) = 0, as in the pipeline: no grounding at all
        assert calls == []
    finally:
        hook.remove()


def test_without_grounding_sampling_is_plain(sd15):
    from studio.diffusion.denoiser import build_denoiser

    pos, neg = prompts.encode_prompt(sd15.clip, PROMPT), prompts.encode_prompt(sd15.clip, NEGATIVE)
    plain_denoiser = build_denoiser(sd15.model, pos, neg, batch=1, cfg=CFG, height=64, width=64)
    assert plain_denoiser.unet is sd15.unet and plain_denoiser.conditioning_patches == []
    plain = _ours(sd15)
    assert torch.equal(_ours(sd15, beta=0.0), plain)  # boxes that never ground change nothing
    assert torch.equal(_ours(sd15, beta=0.3), plain)


def _module_state(unet):
    return [(name, type(m).__name__) for name, m in unet.named_modules()], {k: v.clone() for k, v in
                                                                           unet.state_dict().items()}


def test_the_shared_unet_is_unchanged_after_a_run_and_after_an_error(sd15):
    names, weights = _module_state(sd15.unet)
    before = _ours(sd15)
    _ours(sd15, beta=1.0)
    after_names, after_weights = _module_state(sd15.unet)
    assert after_names == names
    assert after_weights.keys() == weights.keys() and all(torch.equal(weights[k], after_weights[k]) for k in weights)
    assert not hasattr(sd15.unet, "position_net")
    assert not any(hasattr(m, "fuser") for m in sd15.unet.modules())

    def boom(*_):
        raise RuntimeError("stop inside the UNet")

    hook = sd15.gligen.fusers[0].register_forward_hook(boom)
    try:
        with pytest.raises(RuntimeError, match="stop inside"):
            _ours(sd15, beta=1.0)
    finally:
        hook.remove()
    assert [(n, type(m).__name__) for n, m in sd15.unet.named_modules()] == names
    assert torch.equal(_ours(sd15), before)


def test_diffusers_layout_loads_the_same_weights(sd15, tiny):
    other = load_gligen(tiny.paths["gligen-sd15-diffusers"], device=torch.device("cpu"), dtype=torch.float32)
    assert other.info.layout == "diffusers" and sd15.gligen.info.layout == "original"
    a, b = sd15.gligen.model.state_dict(), other.model.state_dict()
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert sd15.manager.load_gligen(tiny.paths["gligen-sd15"]) is sd15.gligen  # cached
    # the UNet's weights file alone (what the gligen/ folder lists) is read the same way
    single = inspect_gligen(tiny.paths["gligen-sd15-diffusers"] / "unet" / "diffusion_pytorch_model.safetensors")
    assert single.layout == "diffusers" and single.family == "sd15" and len(single.blocks) == 4


def test_files_for_other_families_and_kinds_are_refused(tiny, tmp_path):
    from safetensors.torch import load_file, save_file

    foreign = tmp_path / "gligen_sdxl.safetensors"
    save_file(load_file(str(tiny.paths["gligen-sd15"])), str(foreign), metadata={"latent_studio.family": "sdxl"})
    with pytest.raises(ModelError, match="for SDXL.*only SD 1.x"):
        load_gligen(foreign, device=torch.device("cpu"), dtype=torch.float32)
    shapes = {k: tuple(t.shape) for k, t in inspect_shapes(tiny.paths["gligen-sd15"]).items()}
    wide = {k: (1024,) if k.endswith("null_positive_feature") else s for k, s in shapes.items()}
    with pytest.raises(ModelError, match="SD 2.x"):
        check_family(info_from_shapes(Path("x.safetensors"), wide))
    with pytest.raises(ModelError, match="text-image"):
        info_from_shapes(Path("x.safetensors"), {**shapes, "position_net.linears_text.0.weight": (512, 96)})
    with pytest.raises(ModelError, match="not a GLIGEN"):
        inspect_gligen(tiny.paths["checkpoint-sd15"])
    gated = tmp_path / "image-gligen"
    shutil.copytree(tiny.paths["gligen-sd15-diffusers"], gated)
    (gated / "unet" / "config.json").write_text('{"attention_type": "gated-text-image"}')
    with pytest.raises(ModelError, match="text-image"):
        inspect_gligen(gated)


def inspect_shapes(path):
    from safetensors.torch import load_file

    return load_file(str(path))


def test_a_gligen_for_another_unet_shape_is_refused(sd15):
    from diffusers import UNet2DConditionModel

    other = UNet2DConditionModel.from_config({**TINY["sd15"]["unet"], "layers_per_block": 2}).eval()
    model = replace(sd15.model, unet=other)
    pos = _grounded(sd15, prompts.encode_prompt(sd15.clip, PROMPT), 1.0)
    with pytest.raises(NodeFailure, match="made for another model"):
        sampling.sample(model, pos, pos, Latent("sd15", torch.zeros(1, 4, 8, 8)), seed=1, steps=1, cfg=1.0,
                        sampler="euler", scheduler="normal")


def test_boxes_on_one_entry_of_a_regional_prompt(sd15):
    from studio.diffusion.values import combine

    other = replace(prompts.encode_prompt(sd15.clip, "a dog"), area=Area(0, 0, 32, 64))
    negative = prompts.encode_prompt(sd15.clip, NEGATIVE)

    def run(pos):
        return sampling.sample(sd15.model, combine(pos, other), negative, Latent("sd15", torch.zeros(1, 4, 8, 8)),
                               seed=SEED, steps=2, cfg=CFG, sampler="euler", scheduler="normal").samples

    plain = run(prompts.encode_prompt(sd15.clip, PROMPT))
    boxed = run(_grounded(sd15, prompts.encode_prompt(sd15.clip, PROMPT), 1.0))
    assert _diff(boxed, plain) > 1e-3
    assert not hasattr(sd15.unet, "position_net")
