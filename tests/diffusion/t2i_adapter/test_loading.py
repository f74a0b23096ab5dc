"""T2I-Adapter files: detection without torch, both layouts to the same weights, the loader nodes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from bench.make_t2i_adapter import make_adapter, to_original
from studio.core.context import CancelToken, NodeContext
from studio.core.graph import Graph
from studio.core.registry import default_registry
from studio.core.settings import Settings
from studio.diffusion.errors import ModelError
from studio.diffusion.families import family_of, inspect
from studio.diffusion.model_manager import ModelManager
from studio.diffusion.values import ControlNet, T2IAdapterModel

from ...helpers import services as run_services


def _mm() -> ModelManager:
    return ModelManager(device="cpu", dtype="fp32", cache_dir=False)


def _cfg(kind: str, channels: list[int], in_channels: int = 3, factor: int = 8, nrb: int = 2) -> dict:
    return {"_class_name": "T2IAdapter", "adapter_type": kind, "in_channels": in_channels, "channels": channels,
            "num_res_blocks": nrb, "downscale_factor": factor}


def _to_original_light(weights: dict) -> dict:
    out = {}
    for key, value in weights.items():
        parts = key.removeprefix("adapter.").split(".")
        if parts[2] == "resnets":
            parts = ["body", parts[1], "body", *parts[3:]]
        out[".".join(parts)] = value
    return out


def _same(a: torch.nn.Module, b: dict) -> bool:
    sd = a.state_dict()
    return sd.keys() == b.keys() and all(torch.equal(sd[k], b[k].float()) for k in sd)


def test_tiny_files_are_adapters_of_their_family(tiny):
    for key, fam, layout in [("t2i_adapter-sd15", "sd15", "original"),
                             ("t2i_adapter-sd15-diffusers", "sd15", "diffusers"),
                             ("t2i_adapter-sdxl-diffusers", "sdxl", "diffusers")]:
        info = inspect(tiny.paths[key])
        assert (info.kind, info.family, info.layout) == ("t2i_adapter", fam, layout)
        # In the ControlNet folders they type CONTROL_NET ports like ControlNets.
        assert family_of(tiny.paths[key], "controlnet") == fam
    with pytest.raises(ModelError, match="is a Stable Diffusion 1.5 T2I-Adapter, not a VAE"):
        inspect(tiny.paths["t2i_adapter-sd15"], "vae")


def test_both_layouts_load_to_identical_weights(tiny):
    mm = _mm()
    orig = mm.load_controlnet(tiny.paths["t2i_adapter-sd15"])
    diff = mm.load_t2i_adapter(tiny.paths["t2i_adapter-sd15-diffusers"])
    assert isinstance(orig, T2IAdapterModel) and orig.family == "sd15" and orig.multiple == 16
    ref = {k: v.half() for k, v in tiny.reference["t2i_adapter-sd15"]["t2i_adapter"].items()}  # files are fp16
    assert _same(orig.model, ref) and _same(diff.model, ref)
    assert mm.load_controlnet(tiny.paths["t2i_adapter-sd15"]) is orig  # cached like a ControlNet


@pytest.mark.parametrize(("kind", "channels", "in_channels", "factor", "family"), [
    ("full_adapter", [8, 16, 32, 32], 3, 8, "sd15"),  # SD 1.5 (canny/sketch: 1 channel)
    ("full_adapter", [8, 16, 32, 32], 1, 8, "sd15"),
    ("full_adapter_xl", [8, 16, 32, 32], 3, 16, "sdxl"),
    ("full_adapter_xl", [8, 16, 32, 32], 1, 16, "sdxl"),
    ("light_adapter", [8, 16, 32], 3, 8, "sd15"),
])
def test_config_is_inferred_from_the_weights_in_both_layouts(tmp_path, kind, channels, in_channels, factor, family):
    from diffusers import T2IAdapter

    cfg = _cfg(kind, channels, in_channels, factor, nrb=4 if kind == "light_adapter" else 2)
    w = make_adapter(cfg, 3)
    original = _to_original_light(w) if kind == "light_adapter" else to_original(w, cfg)
    assert not any(k.startswith("adapter.") for k in original)
    save_file({k: v.contiguous() for k, v in original.items()}, str(tmp_path / "orig.safetensors"))
    save_file({k: v.contiguous() for k, v in w.items()}, str(tmp_path / "diff.safetensors"))
    folder = tmp_path / "folder"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps(cfg))
    save_file({k: v.contiguous() for k, v in w.items()}, str(folder / "diffusion_pytorch_model.safetensors"))
    reference = T2IAdapter.from_config(cfg).eval()
    reference.load_state_dict(w)
    x = torch.rand(1, in_channels, 2 * factor * 4, factor * 4)
    mm = _mm()
    for name in ("orig.safetensors", "diff.safetensors", "folder"):
        info = inspect(tmp_path / name)
        assert (info.kind, info.family) == ("t2i_adapter", family)
        assert {k: info.configs["t2i_adapter"][k] for k in cfg if k != "_class_name"} == \
            {k: v for k, v in cfg.items() if k != "_class_name"}
        loaded = mm.load_controlnet(tmp_path / name)
        assert isinstance(loaded, T2IAdapterModel) and loaded.in_channels == in_channels
        assert _same(loaded.model, w)
        with torch.no_grad():  # same weights; the kernels may differ in the last bits
            assert all(torch.allclose(a, b, atol=1e-5, rtol=0)
                       for a, b in zip(loaded.model(x), reference(x), strict=True))


def test_unsupported_adapters_are_refused_by_name(tmp_path):
    style = tmp_path / "t2iadapter_style_sd14v1.safetensors"
    save_file({"style_embedding": torch.zeros(1, 8, 4), "transformer_layes.0.attn.in_proj_weight": torch.zeros(12, 4)},
              str(style))
    with pytest.raises(ModelError, match="style adapter"):
        inspect(style)
    w = to_original(make_adapter(_cfg("full_adapter", [8, 16]), 1), _cfg("full_adapter", [8, 16]))
    w["body.0.skep.weight"] = torch.zeros(8, 8, 1, 1)
    skip = tmp_path / "skip.safetensors"
    save_file({k: v.contiguous() for k, v in w.items()}, str(skip))
    with pytest.raises(ModelError, match="skip or strided convolutions"):
        inspect(skip)
    assert family_of(skip, "controlnet") is None


def _ctx(manager) -> NodeContext:
    return NodeContext(node_id="n1", title="t", run_id=1, cancel=CancelToken(), emit=lambda kind, data: None,
                       services=run_services(models=manager))


def test_loader_nodes(tiny_root: Path):
    from nodes.models import load_controlnet, load_t2i_adapter

    svc = run_services(settings=Settings(models_root=str(tiny_root)))
    assert load_controlnet.family({"controlnet": "t2iadapter_depth_sd15v2.safetensors"}, svc) == "sd15"
    assert load_t2i_adapter.family({"t2i_adapter": "tiny-sdxl-t2i-depth-diffusers.safetensors"}, svc) == "sdxl"
    mm = ModelManager(Settings(models_root=str(tiny_root)), device="cpu", dtype="fp32", cache_dir=False)
    ctx = _ctx(mm)
    by_cn = load_controlnet(ctx, controlnet="t2iadapter_depth_sd15v2.safetensors")
    assert isinstance(by_cn, T2IAdapterModel)
    assert load_t2i_adapter(ctx, t2i_adapter="t2iadapter_depth_sd15v2.safetensors") is by_cn
    assert isinstance(load_controlnet(ctx, controlnet="tiny-sd15-canny.safetensors"), ControlNet)
    with pytest.raises(ModelError, match="ControlNet, not a T2I-Adapter"):
        load_t2i_adapter(ctx, t2i_adapter="tiny-sd15-canny.safetensors")


def test_pickled_adapter_loads_through_the_controlnet_loader_when_allowed(tmp_path):
    cfg = _cfg("full_adapter", [8, 16, 32, 32], in_channels=1)
    w = make_adapter(cfg, 4)
    path = tmp_path / "coadapter-canny-sd15v1.pth"
    torch.save(to_original(w, cfg), path)
    with pytest.raises(ModelError, match="pickle"):
        _mm().load_controlnet(path)
    mm = ModelManager(Settings(allow_ckpt=True), device="cpu", dtype="fp32", cache_dir=False)
    loaded = mm.load_controlnet(path)
    assert isinstance(loaded, T2IAdapterModel) and loaded.family == "sd15" and loaded.in_channels == 1
    assert _same(loaded.model, w)


def test_an_adapter_of_the_wrong_family_is_refused_when_wired(tiny_root, monkeypatch):
    monkeypatch.setenv("LATENT_STUDIO_MODELS", str(tiny_root))
    g = Graph(default_registry())
    ck = g.add_node("model.checkpoint", params={"checkpoint": "tiny-sd15.safetensors"})
    pos = g.add_node("text.encode", params={"text": "x"})
    apply = g.add_node("control.apply")
    g.connect(ck.id, "clip", pos.id, "clip")
    g.connect(pos.id, "conditioning", apply.id, "positive")
    for node_type, param in (("model.t2i_adapter", "t2i_adapter"), ("model.controlnet", "controlnet")):
        xl = g.add_node(node_type, params={param: "tiny-sdxl-t2i-depth-diffusers.safetensors"})
        verdict = g.check_connection(xl.id, "control_net", apply.id, "control_net")
        assert not verdict and verdict.reason == "CONTROL_NET[sdxl] does not fit CONDITIONING[sd15]"
        ok = g.add_node(node_type, params={param: "t2iadapter_depth_sd15v2.safetensors"})
        assert g.check_connection(ok.id, "control_net", apply.id, "control_net")


def test_sampling_refuses_an_adapter_of_another_family(sd15, sdxl):
    from studio.core.context import NodeFailure
    from studio.diffusion import prompts, sampling
    from studio.diffusion.values import ControlSpec, Latent

    spec = ControlSpec(sdxl.adapter, torch.zeros(1, 64, 64, 3))
    pos = prompts.encode_prompt(sd15.clip, "x").with_control(spec)
    neg = prompts.encode_prompt(sd15.clip, "").with_control(spec)
    with pytest.raises(NodeFailure, match=r"CONTROL_NET\[sdxl\] does not fit MODEL\[sd15\]"):
        sampling.sample(sd15.model, pos, neg, Latent("sd15", torch.zeros(1, 4, 8, 8)), seed=1, steps=2, cfg=5.0,
                        sampler="euler", scheduler="normal")
