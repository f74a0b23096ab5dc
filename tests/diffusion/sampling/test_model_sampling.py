"""v-prediction and zero-terminal-SNR sampling: our loop against diffusers' pipeline with the same
scheduler config; the Model Sampling node, checkpoint detection and the ComfyUI import set it."""

from __future__ import annotations

import shutil

import diffusers
import pytest
import torch

from nodes.model_sampling import sampling_discrete
from studio.compat import import_comfyui
from studio.core.registry import default_registry
from studio.diffusion import model_sampling as ms
from studio.diffusion import prompts, sampling, schedulers
from studio.diffusion.values import Latent

SEED = 77
PROMPT, NEGATIVE = "a photo of a red cat", "blurry"


def _run_both(ns, model, sampler: str) -> tuple[torch.Tensor, torch.Tensor]:
    sched = schedulers.make_scheduler(sampler, "normal", model.scheduler_config)
    pipe = diffusers.StableDiffusionPipeline(
        vae=ns.vae, text_encoder=ns.encoder, tokenizer=ns.tokenizer, unet=ns.unet, scheduler=sched,
        safety_checker=None, feature_extractor=None, requires_safety_checker=False)
    pipe.set_progress_bar_config(disable=True)
    ref = pipe(PROMPT, negative_prompt=NEGATIVE, height=64, width=64, num_inference_steps=3, guidance_scale=5.0,
               generator=torch.Generator("cpu").manual_seed(SEED), output_type="latent").images
    ours = sampling.sample(model, prompts.encode_prompt(ns.clip, PROMPT), prompts.encode_prompt(ns.clip, NEGATIVE),
                           Latent("any", torch.zeros(1, 4, 8, 8)), seed=SEED, steps=3, cfg=5.0, sampler=sampler,
                           scheduler="normal", denoise=1.0).samples
    return ours, ref


@pytest.mark.parametrize("zsnr", [False, True], ids=["v", "v-zsnr"])
@pytest.mark.parametrize("sampler", ["euler", "ddim", "dpmpp_2m"])
def test_v_prediction_matches_pipeline(sd15, sampler, zsnr):
    model = sampling_discrete(None, model=sd15.model, sampling="v_prediction", zsnr=zsnr)
    assert model.unet is sd15.unet and sd15.model.scheduler_config["prediction_type"] == "epsilon"
    ours, ref = _run_both(sd15, model, sampler)
    assert float((ours - ref).abs().max()) <= 1e-4
    # And it is not the epsilon run: the setting reaches the sampler.
    eps, _ = _run_both(sd15, sd15.model, sampler) if sampler == "euler" else (None, None)
    if eps is not None:
        assert float((ours - eps).abs().max()) > 1e-3


def test_zsnr_config_ends_in_pure_noise():
    cfg = ms.sampling_config({"prediction_type": "epsilon", "timestep_spacing": "leading", "beta_schedule":
                              "scaled_linear", "beta_start": 0.00085, "beta_end": 0.012}, "v_prediction", True)
    assert cfg["prediction_type"] == "v_prediction" and cfg["rescale_betas_zero_snr"] is True
    assert cfg["timestep_spacing"] == "trailing"
    sched = diffusers.DDIMScheduler.from_config(cfg)
    assert float(sched.alphas_cumprod[-1]) < 1e-6  # terminal SNR (almost) zero
    back = ms.sampling_config(cfg, "eps", False)
    assert back["prediction_type"] == "epsilon" and "rescale_betas_zero_snr" not in back
    assert back["timestep_spacing"] == "leading"
    assert ms.sampling_config({}, "x0", False)["prediction_type"] == "sample"
    with pytest.raises(ValueError, match="unknown sampling"):
        ms.sampling_config({}, "flow", False)


@pytest.mark.parametrize(("name", "meta", "tensors", "want"), [
    ("model.safetensors", {}, (), {}),
    ("noobai-vpred-1.0.safetensors", {}, (), {"prediction_type": "v_prediction"}),
    ("x_v-pred.safetensors", {}, (), {"prediction_type": "v_prediction"}),
    ("plain.safetensors", {}, ("v_pred", "ztsnr"), {"prediction_type": "v_prediction", **ms.zsnr_config({})}),
    ("plain.safetensors", {"modelspec.prediction_type": "v"}, (), {"prediction_type": "v_prediction"}),
    # Stated metadata wins over a name that says otherwise.
    ("vpred.safetensors", {"modelspec.prediction_type": "epsilon"}, (), {"prediction_type": "epsilon"}),
    ("m-ztsnr.safetensors", {}, (), ms.zsnr_config({})),
])
def test_detect(name, meta, tensors, want):
    assert ms.detect(name, meta, tensors) == want


def test_loader_reads_the_file_name(tiny_root, tmp_path):
    from studio.diffusion.families import inspect
    from studio.diffusion.loaders import checkpoint_configs

    src = tiny_root / "checkpoints/tiny-sd15.safetensors"
    plain = checkpoint_configs(inspect(src))["scheduler"]
    assert plain["prediction_type"] == "epsilon" and not plain.get("rescale_betas_zero_snr")
    vpred = tmp_path / "tiny-sd15-vpred-ztsnr.safetensors"
    shutil.copy(src, vpred)
    got = checkpoint_configs(inspect(vpred))["scheduler"]
    assert got["prediction_type"] == "v_prediction" and got["rescale_betas_zero_snr"] is True
    assert got["timestep_spacing"] == "trailing"


def test_comfyui_import():
    api = {"1": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "a.safetensors"}},
           "2": {"class_type": "ModelSamplingDiscrete",
                 "inputs": {"model": ["1", 0], "sampling": "v_prediction", "zsnr": True}}}
    graph, report = import_comfyui(api, default_registry())
    (node,) = [n for n in graph.nodes.values() if n.type_id == "model.sampling_discrete"]
    assert node.params == {"sampling": "v_prediction", "zsnr": True}
    assert report.of_kind("unmapped") == [] and report.of_kind("approximated") == []


def test_loader_reads_marker_tensors_and_metadata(tiny_root, tmp_path):
    from safetensors.torch import load_file, save_file

    from studio.diffusion.families import inspect
    from studio.diffusion.loaders import checkpoint_configs
    from studio.diffusion.safetensors_header import read_header

    src = tiny_root / "checkpoints/tiny-sd15.safetensors"
    meta = read_header(src).metadata
    weights = load_file(src)
    marked = tmp_path / "marked.safetensors"
    save_file({**weights, "v_pred": torch.zeros(0), "ztsnr": torch.zeros(0)}, str(marked), metadata=meta)
    got = checkpoint_configs(inspect(marked))["scheduler"]
    assert got["prediction_type"] == "v_prediction" and got["rescale_betas_zero_snr"] is True
    stated = tmp_path / "stated.safetensors"
    save_file(weights, str(stated), metadata={**meta, "modelspec.prediction_type": "v"})
    got = checkpoint_configs(inspect(stated))["scheduler"]
    assert got["prediction_type"] == "v_prediction" and not got.get("rescale_betas_zero_snr")


def test_samplers_without_zero_terminal_snr_refuse_a_zsnr_model():
    from studio.core.context import NodeFailure
    from studio.diffusion.schedulers import make_scheduler

    config = {"num_train_timesteps": 1000, "beta_schedule": "scaled_linear", "beta_start": 0.00085,
              "beta_end": 0.012, "prediction_type": "v_prediction", "rescale_betas_zero_snr": True,
              "timestep_spacing": "trailing"}
    assert make_scheduler("euler", "normal", config).config.rescale_betas_zero_snr
    with pytest.raises(NodeFailure, match="zero-terminal-SNR.*heun|heun.*zero-terminal-SNR"):
        make_scheduler("heun", "normal", config)
