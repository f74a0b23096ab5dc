"""Generation end to end on tiny random models: the shipped example workflows through the headless
runner, seeds and sweeps, and the graph's latents against diffusers' own pipeline."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import numpy as np
import pytest
import torch

from studio.app.run_services import ModelManagers, build_run_services
from studio.core.executor import Executor
from studio.core.graph import Graph
from studio.core.registry import default_registry
from studio.core.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
FLOWS = ROOT / "resources" / "workflows"
NS = uuid.UUID("5b0c8f55-3c4e-4a43-9d0a-6a5f8f3f9e10")
SMALL = ["--set", "Empty Latent.width=64", "--set", "Empty Latent.height=64", "--set", "Sampler.steps=3"]


def _id(flow: str, name: str) -> str:
    return str(uuid.uuid5(NS, f"{flow}/{name}"))


def cli(*args: object, models: Path, home: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, LATENT_STUDIO_MODELS=str(models), LATENT_STUDIO_HOME=str(home))
    (home / "settings.json").write_text(json.dumps({"dtype": "fp32"}))
    return subprocess.run([sys.executable, "-m", "studio", *map(str, args)], capture_output=True, text=True, env=env,
                          cwd=home, timeout=600)


def test_controlnet_canny_example_runs_and_a_seed_sweep_reruns_only_the_sampler(tiny_root, tmp_path):
    res = cli("run", FLOWS / "controlnet_canny.json", "--json", "--output-dir", tmp_path / "out", *SMALL,
              "--sweep", "Sampler.seed=11,12", models=tiny_root, home=tmp_path)
    assert res.returncode == 0, res.stderr
    first, second = (json.loads(line) for line in res.stdout.splitlines())
    assert len(first["executed"]) == 11 and len(first["outputs"]) == 1
    flow = "controlnet_canny"
    assert second["executed"] == [_id(flow, "sampler"), _id(flow, "decode"), _id(flow, "save")]
    pngs = sorted((tmp_path / "out").glob("*.png"))
    assert len(pngs) == 2 and pngs[0].read_bytes() != pngs[1].read_bytes()
    from PIL import Image

    assert Image.open(pngs[0]).size == (64, 64)


@pytest.mark.parametrize("flow", ["txt2img", "img2img"])
def test_other_examples_run(services, flow):
    from studio.core.workflow import load_file

    g = load_file(FLOWS / f"{flow}.json", default_registry())
    g.set_param(_id(flow, "sampler"), "steps", 3)
    if flow == "txt2img":
        g.set_param(_id(flow, "latent"), "width", 64)
        g.set_param(_id(flow, "latent"), "height", 64)
    services = services.with_workflow_dir(FLOWS)
    summary = Executor().run(g.snapshot(), services=services)
    assert summary.ok, summary.failed
    assert len(summary.outputs) == 1


def _txt2img_graph(reg, seed: int, steps: int = 3, size: int = 64) -> tuple[Graph, dict[str, str]]:
    g = Graph(reg)
    ck = g.add_node("model.checkpoint", params={"checkpoint": "tiny-sd15.safetensors"})
    pos = g.add_node("text.encode", params={"text": "a red house"})
    neg = g.add_node("text.encode", params={"text": "blurry"})
    lat = g.add_node("latent.empty", params={"width": size, "height": size})
    smp = g.add_node("sample.sampler", params={"seed": seed, "steps": steps, "cfg": 6.5, "sampler": "euler"})
    dec = g.add_node("latent.vae_decode")
    save = g.add_node("image.save", params={"prefix": "same"})
    for a, ap, b, bp in [(ck, "clip", pos, "clip"), (ck, "clip", neg, "clip"), (ck, "model", smp, "model"),
                         (pos, "conditioning", smp, "positive"), (neg, "conditioning", smp, "negative"),
                         (lat, "latent", smp, "latent"), (ck, "vae", dec, "vae"), (smp, "latent", dec, "latent"),
                         (dec, "image", save, "images")]:
        g.connect(a.id, ap, b.id, bp)
    return g, {"sampler": smp.id, "ckpt": ck.id, "pos": pos.id, "neg": neg.id}


@pytest.fixture
def services(tiny_root, tmp_path, monkeypatch):
    monkeypatch.setenv("LATENT_STUDIO_MODELS", str(tiny_root))
    return build_run_services(Settings(dtype="fp32", device="cpu"), ModelManagers(), output_dir=tmp_path)


def test_same_seed_twice_gives_identical_png_bytes(services, tmp_path):
    reg = default_registry()
    outputs = []
    g, _ids = _txt2img_graph(reg, seed=99)
    for _ in range(2):  # two executors: no cached result is shared
        summary = Executor().run(g.snapshot(), services=services)
        assert summary.ok, summary.failed
        outputs.append(Path(summary.outputs[0]).read_bytes())
    assert outputs[0] == outputs[1]


def test_graph_latents_match_the_diffusers_pipeline(services):
    from diffusers import StableDiffusionPipeline

    from studio.diffusion.schedulers import make_scheduler

    reg = default_registry()
    g, ids = _txt2img_graph(reg, seed=5, steps=4)
    ex = Executor()
    summary = ex.run(g.snapshot(), services=services)
    assert summary.ok, summary.failed
    ours = ex.outputs_of(ids["sampler"])[0].samples
    unet, clip, vae = ex.outputs_of(ids["ckpt"])
    pipe = StableDiffusionPipeline(vae=vae.vae, text_encoder=clip.encoders[0], tokenizer=clip.tokenizers[0],
                                   unet=unet.unet, scheduler=make_scheduler("euler", "normal", unet.scheduler_config),
                                   safety_checker=None, feature_extractor=None, requires_safety_checker=False)
    pipe.set_progress_bar_config(disable=True)
    ref = pipe(prompt="a red house", negative_prompt="blurry", num_inference_steps=4, guidance_scale=6.5,
               height=64, width=64, output_type="latent", generator=torch.Generator("cpu").manual_seed(5)).images
    assert ours.shape == ref.shape
    assert float((ours - ref.float()).abs().max()) <= 1e-4


def test_an_sdxl_controlnet_is_refused_on_an_sd15_graph_before_running(tiny_root, tmp_path, monkeypatch):
    monkeypatch.setenv("LATENT_STUDIO_MODELS", str(tiny_root))
    reg = default_registry()
    g = Graph(reg)
    ck = g.add_node("model.checkpoint", params={"checkpoint": "tiny-sd15.safetensors"})
    pos = g.add_node("text.encode", params={"text": "x"})
    cn = g.add_node("model.controlnet", params={"controlnet": "tiny-sdxl-canny.safetensors"})
    apply = g.add_node("control.apply")
    g.connect(ck.id, "clip", pos.id, "clip")
    g.connect(pos.id, "conditioning", apply.id, "positive")
    verdict = g.check_connection(cn.id, "control_net", apply.id, "control_net")
    assert not verdict and verdict.reason == "CONTROL_NET[sdxl] does not fit CONDITIONING[sd15]"


def test_the_preview_stream_has_one_frame_per_step(services):
    from studio.core import events as ev

    reg = default_registry()
    g, ids = _txt2img_graph(reg, seed=1, steps=5)
    frames = []
    summary = Executor().run(g.snapshot(), services=services, on_event=lambda e: frames.append(e) if isinstance(
        e, ev.Preview) and e.node == ids["sampler"] else None)
    assert summary.ok
    assert [f.step for f in frames] == [1, 2, 3, 4, 5]
    assert all(f.image.dtype == np.uint8 and f.image.shape[-1] == 3 for f in frames)


def test_out_of_memory_is_a_node_error_that_frees_the_cache_and_the_next_run_works(services, monkeypatch):
    reg = default_registry()
    g, ids = _txt2img_graph(reg, seed=3, steps=2)
    ex = Executor()
    assert ex.run(g.snapshot(), services=services).ok
    unet = ex.outputs_of(ids["ckpt"])[0].unet
    real_forward = unet.forward

    def exhausted(*args, **kwargs):
        raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")

    monkeypatch.setattr(unet, "forward", exhausted)
    g.set_param(ids["sampler"], "seed", 4)
    summary = ex.run(g.snapshot(), services=services)
    message = summary.failed[ids["sampler"]]
    assert "out of memory" in message and "smaller size" in message
    assert len(ex.cache) == 0  # cached results were dropped to give memory back
    monkeypatch.setattr(unet, "forward", real_forward)
    again = ex.run(g.snapshot(), services=services)
    assert again.ok and ids["sampler"] in again.executed


def test_models_command_lists_kind_family_and_size(tiny_root, tmp_path):
    res = cli("models", "--json", models=tiny_root, home=tmp_path)
    assert res.returncode == 0, res.stderr
    found = {Path(m["path"]).name: m for m in json.loads(res.stdout)}
    assert found["tiny-sd15.safetensors"]["kind"] == "checkpoints"
    assert found["tiny-sd15.safetensors"]["family"] == "sd15"
    assert found["tiny-sdxl-canny.safetensors"]["family"] == "sdxl"
    assert found["tiny-sd15.safetensors"]["size"] == (tiny_root / "checkpoints" / "tiny-sd15.safetensors").stat().st_size
    text = cli("models", models=tiny_root, home=tmp_path).stdout
    assert "sdxl" in text and "tiny-sd2.safetensors" in text


def test_a_size_that_is_not_a_multiple_of_8_is_rounded_with_a_warning():
    from studio.core import events as ev

    reg = default_registry()
    g = Graph(reg)
    lat = g.add_node("latent.empty", params={"width": 100, "height": 70})
    events = []
    ex = Executor()
    assert ex.run(g.snapshot(), events.append).ok
    samples = ex.outputs_of(lat.id)[0].samples
    assert tuple(samples.shape) == (1, 4, 72 // 8, 96 // 8)  # 100×70 → 96×72
    warnings = [e.message for e in events if isinstance(e, ev.NodeLog) and e.level == "warning"]
    assert len(warnings) == 1 and "100×70 is not a multiple of 8" in warnings[0]


def test_repeat_follows_the_seed_policy_and_each_png_runs_again_to_the_same_bytes(tiny_root, tmp_path):
    res = cli("run", FLOWS / "txt2img.json", "--output-dir", tmp_path / "out", *SMALL, "--set", "Sampler.seed=100",
              "--set", "Sampler.seed_control=increment", "--repeat", "3", "--json", models=tiny_root, home=tmp_path)
    assert res.returncode == 0, res.stderr
    pngs = sorted((tmp_path / "out").glob("*.png"))
    assert len(pngs) == 3
    from studio.core.pngmeta import PARAMETERS_KEY, WORKFLOW_KEY, read_text_chunks

    seeds = []
    for png in pngs:
        texts = read_text_chunks(png)
        [sampler] = [n for n in json.loads(texts[WORKFLOW_KEY])["nodes"] if n["type"] == "sample.sampler"]
        seeds.append(sampler["params"]["seed"])
        assert f"Seed: {sampler['params']['seed']}," in texts[PARAMETERS_KEY]
    assert seeds == [100, 101, 102]
    # One PNG run again is enough: the three carry the same workflow but for the seed checked above.
    png = pngs[-1]
    again = cli("run", png, "--output-dir", tmp_path / "again", models=tiny_root, home=tmp_path)
    assert again.returncode == 0, again.stderr
    [copy] = (tmp_path / "again").glob("*.png")
    assert copy.read_bytes() == png.read_bytes()


def _of_type(g, type_id):
    return next(n.id for n in g.nodes.values() if n.type_id == type_id)


@pytest.mark.parametrize("flow", ["inpaint", "outpaint"])
def test_the_editing_examples_run_and_inpainting_keeps_the_unmasked_area(services, flow):
    from nodes.image import read_image
    from studio.core.workflow import load_file

    g = load_file(FLOWS / f"{flow}.json", default_registry())
    g.set_param(_of_type(g, "sample.sampler"), "steps", 3)
    ex = Executor()
    summary = ex.run(g.snapshot(), services=services.with_workflow_dir(FLOWS))
    assert summary.ok, summary.failed
    assert len(summary.outputs) == 1
    result = read_image(summary.outputs[0])[0][None]
    source = read_image(FLOWS.parent / "images" / "sample.png")[0][None]
    if flow == "inpaint":
        mask = ex.outputs_of(_of_type(g, "image.load"))[1][0]
        keep = mask == 0
        assert keep.mean() > 0.9 and (mask == 1).any()
        assert np.abs(result[0][keep] - source[0][keep]).max() <= 2 / 255  # outside the mask: the original
        assert np.abs(result[0][mask == 1] - source[0][mask == 1]).mean() > 0.02  # inside: repainted
    else:
        assert result.shape[1:3] == (512, 640)  # padded 128 px on the right


def test_the_sdxl_refiner_example_hands_off_to_the_refiner(tmp_path, monkeypatch):
    """Base steps 0-4 of 6 with leftover noise, refiner steps 4-6 adding none, on tiny random models."""
    from bench.make_models import link_example_names, write_models
    from studio.core.workflow import load_file

    made = write_models(tmp_path / "models", "tiny", dtype="fp32", families=("sdxl", "sdxl_refiner"))
    link_example_names(tmp_path / "models", made)
    monkeypatch.setenv("LATENT_STUDIO_MODELS", str(tmp_path / "models"))
    services = build_run_services(Settings(dtype="fp32", device="cpu"), ModelManagers(), output_dir=tmp_path)
    g = load_file(FLOWS / "sdxl_refiner.json", default_registry())
    assert not [p for p in g.validate() if p.severity == "error"]
    latent = _of_type(g, "latent.empty")
    g.set_param(latent, "width", 64)
    g.set_param(latent, "height", 64)
    samplers = [n for n in g.nodes.values() if n.type_id == "sample.sampler"]
    base = next(n for n in samplers if n.params["return_leftover_noise"])
    refiner = next(n for n in samplers if not n.params["add_noise"])
    for node, start, end in ((base, 0, 4), (refiner, 4, 10000)):
        g.set_param(node.id, "steps", 6)
        g.set_param(node.id, "start_step", start)
        g.set_param(node.id, "end_step", end)
    summary = Executor().run(g.snapshot(), services=services.with_workflow_dir(FLOWS))
    assert summary.ok, summary.failed
    assert len(summary.outputs) == 1
