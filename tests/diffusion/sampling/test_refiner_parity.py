"""The SDXL refiner hand-off against diffusers' refiner pipeline (``StableDiffusionXLImg2ImgPipeline`` with
``requires_aesthetics_score=True`` and no first text encoder): same components, seed, steps and cfg."""

from __future__ import annotations

from types import SimpleNamespace

import diffusers
import pytest
import torch

from studio.core.context import CancelToken, NodeContext, NodeFailure
from studio.diffusion import prompts, sampling
from studio.diffusion.values import Latent, TextEncoder, UNetModel, VAEModel

from ...helpers import services as run_services
from .conftest import SDXL_SCHEDULER, _text_config, _vae, make_tokenizer

TOL = 1e-4
SEED = 4321
REFINER = "sdxl_refiner"
PROMPT, NEGATIVE = "a photo of a red cat", "blurry"


@pytest.fixture(scope="module")
def refiner(tmp_path_factory):
    """Tiny, but shaped as the refiner: OpenCLIP-G alone as context and pooled embedding, and 5 time ids."""
    from transformers import CLIPTextModelWithProjection

    torch.manual_seed(7)
    tok = make_tokenizer(tmp_path_factory.mktemp("tokref"))
    encoder = CLIPTextModelWithProjection(_text_config(tok, hidden_act="gelu")).eval()
    unet = diffusers.UNet2DConditionModel(
        block_out_channels=(8, 16), layers_per_block=1, sample_size=8, in_channels=4, out_channels=4,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"), up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        attention_head_dim=(2, 4), use_linear_projection=True, addition_embed_type="text_time",
        addition_time_embed_dim=8, transformer_layers_per_block=(1, 1),
        projection_class_embeddings_input_dim=32 + 5 * 8, cross_attention_dim=32, norm_num_groups=4,
    ).eval()
    vae = _vae()
    return SimpleNamespace(
        tokenizer=tok, encoder=encoder, unet=unet, vae=vae,
        model=UNetModel(REFINER, unet, dict(SDXL_SCHEDULER)),
        clip=TextEncoder(REFINER, (tok,), (encoder,)),
        vae_model=VAEModel(REFINER, vae),
    )


def _pipe(ns):
    pipe = diffusers.StableDiffusionXLImg2ImgPipeline(
        vae=ns.vae, text_encoder=None, text_encoder_2=ns.encoder, tokenizer=None, tokenizer_2=ns.tokenizer,
        unet=ns.unet, scheduler=diffusers.EulerDiscreteScheduler.from_config(ns.model.scheduler_config),
        requires_aesthetics_score=True, add_watermarker=False,
    )
    pipe.set_progress_bar_config(disable=True)
    return pipe


def _init():
    return torch.randn((1, 4, 8, 8), generator=torch.Generator().manual_seed(9))


def _reference(ns, init, **kw):
    return _pipe(ns)(PROMPT, image=init, strength=0.3, negative_prompt=NEGATIVE, num_inference_steps=10,
                     guidance_scale=6.0, generator=torch.Generator("cpu").manual_seed(SEED), output_type="latent",
                     **kw).images


def _ours(ns, positive, negative, init):
    # The base's output: an SDXL latent, handed to the refiner as it is.
    return sampling.sample(ns.model, positive, negative, Latent("sdxl", init), seed=SEED, steps=10, cfg=6.0,
                           sampler="euler", scheduler="normal", denoise=0.3)


def _diff(a, b) -> float:
    assert a.shape == b.shape
    return float((a - b).abs().max())


def test_refiner_prompts_are_openclip_g_alone(refiner) -> None:
    pos = prompts.encode_prompt(refiner.clip, PROMPT)
    pe, _, pooled, _ = _pipe(refiner).encode_prompt(PROMPT, do_classifier_free_guidance=False)
    assert pos.family == REFINER and pos.embeds.shape[-1] == 32
    assert torch.equal(pos.embeds, pe) and torch.equal(pos.pooled, pooled)
    assert pos.extras["aesthetic_score"] == 6.0 and "target_size" not in pos.extras


def test_refiner_hand_off_matches_the_refiner_pipeline(refiner) -> None:
    init = _init()
    ref = _reference(refiner, init)
    pos = prompts.encode_prompt(refiner.clip, PROMPT)
    neg = prompts.encode_prompt(refiner.clip, NEGATIVE, aesthetic_score=2.5)
    out = _ours(refiner, pos, neg, init)
    assert out.family == REFINER
    assert _diff(out.samples, ref) <= TOL
    # The aesthetic scores are really conditioning it: the plain encode (6.0 on both halves) differs.
    plain = _ours(refiner, pos, prompts.encode_prompt(refiner.clip, NEGATIVE), init)
    assert _diff(plain.samples, ref) > 1e-3


def test_the_refiner_node_matches_the_pipeline_with_size_and_scores(refiner) -> None:
    from nodes.conditioning_refiner import encode_refiner

    init = _init()
    ref = _reference(refiner, init, aesthetic_score=7.5, negative_aesthetic_score=2.0, original_size=(96, 80),
                     negative_original_size=(96, 80))
    ctx = NodeContext(node_id="n1", title="t", run_id=1, cancel=CancelToken(), emit=lambda kind, data: None,
                      services=run_services())
    pos = encode_refiner(ctx, clip=refiner.clip, ascore=7.5, width=80, height=96, text=PROMPT)
    neg = encode_refiner(ctx, clip=refiner.clip, ascore=2.0, width=80, height=96, text=NEGATIVE)
    assert pos.extras["original_size"] == (96, 80)
    assert _diff(_ours(refiner, pos, neg, init).samples, ref) <= TOL


def test_a_base_prompt_never_reaches_the_refiner(refiner, sdxl) -> None:
    base = prompts.encode_prompt(sdxl.clip, PROMPT)
    ours = prompts.encode_prompt(refiner.clip, PROMPT)
    with pytest.raises(NodeFailure, match=r"CONDITIONING\[sdxl\] does not fit MODEL\[sdxl_refiner\]"):
        _ours(refiner, base, ours, _init())
    # and a base SDXL conditioning keeps its target-size time ids
    assert "aesthetic_score" not in base.extras


def test_refiner_time_ids_are_size_crop_and_aesthetic_score() -> None:
    from studio.diffusion.denoiser import _time_ids
    from studio.diffusion.values import Conditioning

    assert _time_ids(Conditioning(REFINER, None), 64, 48) == [64, 48, 0, 0, 6.0]
    cond = Conditioning(REFINER, None, extras={"original_size": (96, 80), "crop_top_left": (4, 8),
                                               "aesthetic_score": 2.5})
    assert _time_ids(cond, 64, 48) == [96, 80, 4, 8, 2.5]
    assert _time_ids(Conditioning("sdxl", None), 64, 48) == [64, 48, 0, 0, 64, 48]
