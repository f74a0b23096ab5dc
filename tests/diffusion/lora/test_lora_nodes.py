"""The Load LoRA nodes in real graphs: caching when a strength changes, the shared base untouched, stacking,
family typing, and warnings."""

from __future__ import annotations

import pytest
import torch

from studio.app.run_services import ModelManagers, build_run_services
from studio.core import events as ev
from studio.core.executor import Executor
from studio.core.graph import Graph
from studio.core.registry import default_registry
from studio.core.settings import Settings

from .conftest import same, snapshot


@pytest.fixture
def services(tiny_root, tmp_path, monkeypatch):
    monkeypatch.setenv("LATENT_STUDIO_MODELS", str(tiny_root))
    return build_run_services(Settings(dtype="fp32", device="cpu"), ModelManagers(), output_dir=tmp_path)


def _graph(loras: list[tuple[str, float]], *, model_only: bool = False, ckpt: str = "tiny-sd15.safetensors"):
    g = Graph(default_registry())
    ck = g.add_node("model.checkpoint", params={"checkpoint": ckpt})
    model, clip = (ck.id, "model"), (ck.id, "clip")
    ids = {"ckpt": ck.id, "loras": []}
    for name, strength in loras:
        if model_only:
            lo = g.add_node("model.lora_model_only", params={"lora": name, "strength_model": strength})
        else:
            lo = g.add_node("model.lora", params={"lora": name, "strength_model": strength, "strength_clip": strength})
            g.connect(*clip, lo.id, "clip")
            clip = (lo.id, "clip")
        g.connect(*model, lo.id, "model")
        model = (lo.id, "model")
        ids["loras"].append(lo.id)
    pos = g.add_node("text.encode", params={"text": "a red house"})
    neg = g.add_node("text.encode", params={"text": "blurry"})
    lat = g.add_node("latent.empty", params={"width": 64, "height": 64})
    smp = g.add_node("sample.sampler", params={"seed": 7, "steps": 2, "cfg": 6.0, "sampler": "euler"})
    for a, b, port in [(clip, pos.id, "clip"), (clip, neg.id, "clip"), (model, smp.id, "model")]:
        g.connect(*a, b, port)
    g.connect(pos.id, "conditioning", smp.id, "positive")
    g.connect(neg.id, "conditioning", smp.id, "negative")
    g.connect(lat.id, "latent", smp.id, "latent")
    ids.update(sampler=smp.id, pos=pos.id)
    return g, ids


def _samples(ex, ids):
    return ex.outputs_of(ids["sampler"])[0].samples


def test_changing_a_strength_reruns_the_lora_and_what_follows_and_leaves_the_base_as_loaded(services):
    g, ids = _graph([("tiny-sd15-lora.safetensors", 1.0)])
    ex = Executor()
    first = ex.run(g.snapshot(), services=services)
    assert first.ok, first.failed
    unet, clip, _vae = ex.outputs_of(ids["ckpt"])
    base = snapshot(unet.unet, *clip.encoders)
    a = _samples(ex, ids)
    g.set_param(ids["loras"][0], "strength_model", 0.5)
    second = ex.run(g.snapshot(), services=services)
    assert second.ok, second.failed
    assert ids["ckpt"] in second.cached
    assert ids["loras"][0] in second.executed and ids["sampler"] in second.executed
    assert float((_samples(ex, ids) - a).abs().max()) > 1e-3
    assert same(base, snapshot(unet.unet, *clip.encoders))  # the cached checkpoint other graphs use
    # Without the LoRA (strength 0 on both parts) the graph gives what the plain checkpoint gives.
    g.set_param(ids["loras"][0], "strength_model", 0.0)
    g.set_param(ids["loras"][0], "strength_clip", 0.0)
    assert ex.run(g.snapshot(), services=services).ok
    plain, plain_ids = _graph([])
    ex2 = Executor()
    assert ex2.run(plain.snapshot(), services=services).ok
    assert torch.equal(_samples(ex, ids), _samples(ex2, plain_ids))


def test_two_chained_loras_stack_and_switching_back_reuses_the_read_file(services):
    one, ids1 = _graph([("tiny-sd15-lora.safetensors", 1.0)])
    two, ids2 = _graph([("tiny-sd15-lora.safetensors", 1.0), ("tiny-sd15-locon.safetensors", 0.8)])
    ex = Executor()
    assert ex.run(one.snapshot(), services=services).ok
    a = _samples(ex, ids1)
    assert ex.run(two.snapshot(), services=services).ok
    b = _samples(ex, ids2)
    assert float((a - b).abs().max()) > 1e-3
    model = ex.outputs_of(ids2["loras"][1])[0]
    assert [p.name for p in model.patches] == ["tiny-sd15-lora.safetensors", "tiny-sd15-locon.safetensors"]
    mm = services.models()
    read = mm.load_lora(mm.resolve("loras", "tiny-sd15-lora.safetensors"))
    assert any(layer is read.layers[name] for name in read.layers for _m, layer in model.patches[0].layers["unet"])
    assert sum(1 for kind, _path, _n in mm.resident() if kind == "lora") == 2


def test_model_only_leaves_the_text_encoder_alone(services):
    g, ids = _graph([("tiny-sd15-lora.safetensors", 1.0)], model_only=True)
    ex = Executor()
    assert ex.run(g.snapshot(), services=services).ok
    assert len(ex.outputs_of(ids["loras"][0])[0].patches) == 1
    assert ex.outputs_of(ids["pos"])[0].embeds.shape[-1] == 32


def test_an_sdxl_lora_is_refused_on_an_sd15_model_before_running(services):
    g = Graph(default_registry())
    ck = g.add_node("model.checkpoint", params={"checkpoint": "tiny-sd15.safetensors"})
    lo = g.add_node("model.lora", params={"lora": "tiny-sdxl-lora.safetensors"})
    verdict = g.check_connection(ck.id, "model", lo.id, "model")
    assert not verdict and verdict.reason == "MODEL[sd15] does not fit MODEL[sdxl]"
    assert g.check_connection(ck.id, "model", g.add_node("model.lora", params={
        "lora": "tiny-sd15-lora.safetensors"}).id, "model")


def test_layers_that_match_no_module_are_a_warning(services, tiny_root):
    from safetensors.torch import load_file, save_file

    sd = load_file(str(tiny_root / "loras" / "tiny-sd15-lora.safetensors"))
    for suffix, shape in (("lora_down.weight", (4, 32)), ("lora_up.weight", (32, 4))):
        sd[f"lora_unet_down_blocks_9_attentions_0_proj_in.{suffix}"] = torch.zeros(shape, dtype=torch.float16)
    save_file(sd, str(tiny_root / "loras" / "tiny-sd15-extra.safetensors"), metadata={"latent_studio.family": "sd15"})
    g, ids = _graph([("tiny-sd15-extra.safetensors", 1.0)])
    events = []
    assert Executor().run(g.snapshot(), events.append, services=services).ok
    warnings = [e.message for e in events if isinstance(e, ev.NodeLog) and e.level == "warning"]
    assert any("1 of its 41 layers name no module" in w and "lora_unet_down_blocks_9_attentions_0_proj_in" in w
               for w in warnings), warnings


def test_a_lora_for_another_model_shape_fails_with_a_reason(services, tiny_root):
    from safetensors.torch import save_file

    name = "lora_unet_down_blocks_1_attentions_0_proj_in"
    save_file({f"{name}.lora_down.weight": torch.zeros(4, 48), f"{name}.lora_up.weight": torch.zeros(64, 4)},
              str(tiny_root / "loras" / "tiny-other-shape.safetensors"))
    g, ids = _graph([("tiny-other-shape.safetensors", 1.0)])
    summary = Executor().run(g.snapshot(), services=services)
    message = summary.failed[ids["loras"][0]]
    assert "tiny-other-shape.safetensors: 1 of its layers do not have the size" in message
    assert "made for another model" in message
