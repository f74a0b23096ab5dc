"""Model folders: our layout, ComfyUI and A1111 trees, listing, resolving and scanning."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from studio.core.settings import Settings
from studio.diffusion.errors import ModelError
from studio.diffusion.model_folders import kind_dirs, list_models, models_report, resolve, scan


@pytest.fixture
def trees(tiny_root: Path, tmp_path: Path) -> tuple[Path, Path, Path]:
    comfy, a1111 = tmp_path / "ComfyUI", tmp_path / "webui"
    copies = {
        comfy / "models/checkpoints/xl/tiny-sdxl.safetensors": "checkpoints/tiny-sdxl.safetensors",
        comfy / "models/controlnet/cn-xl.safetensors": "controlnet/tiny-sdxl-canny.safetensors",
        comfy / "models/vae/v.safetensors": "vae/tiny-vae.safetensors",
        a1111 / "models/Stable-diffusion/one.safetensors": "checkpoints/tiny-sd15.safetensors",
        a1111 / "models/ControlNet/cn15.safetensors": "controlnet/tiny-sd15-canny-diffusers.safetensors",
        a1111 / "models/VAE/sdxl_vae.safetensors": "vae/tiny-vae.safetensors",
    }
    for dst, src in copies.items():
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(tiny_root / src, dst)
    for f in (comfy / "models/loras/style.safetensors", comfy / "models/embeddings/neg.pt",
              a1111 / "models/Lora/l.safetensors", a1111 / "embeddings/e.safetensors",
              a1111 / "models/Stable-diffusion/old.ckpt", a1111 / "models/Stable-diffusion/notes.txt"):
        f.parent.mkdir(parents=True, exist_ok=True)
        f.write_bytes(b"x" * 16)
    pipe = comfy / "models/diffusers/pipe"
    (pipe / "unet").mkdir(parents=True)
    (pipe / "model_index.json").write_text("{}")
    (pipe / "unet/config.json").write_text(json.dumps({"cross_attention_dim": 1024}))
    return tiny_root, comfy, a1111


def test_listing_across_roots(trees) -> None:
    own, comfy, a1111 = trees
    roots = [own, comfy, a1111]
    assert list_models(roots, "checkpoints") == ["old.ckpt", "one.safetensors", "pipe", "sd_xl_base_1.0.safetensors",
                                                 "tiny-sd15.safetensors", "tiny-sd2.safetensors",
                                                 "tiny-sdxl.safetensors", "v1-5-pruned-emaonly.safetensors",
                                                 "xl/tiny-sdxl.safetensors"]
    assert "cn15.safetensors" in list_models(roots, "controlnet")
    assert list_models([comfy, a1111], "loras") == ["l.safetensors", "style.safetensors"]
    assert list_models([comfy, a1111], "embeddings") == ["e.safetensors", "neg.pt"]
    assert list_models([a1111 / "models"], "embeddings") == ["e.safetensors"]  # A1111's models folder given directly
    assert kind_dirs([comfy / "models"], "vae") == [comfy / "models/vae"]


def test_resolve(trees) -> None:
    own, comfy, a1111 = trees
    roots = [own, comfy, a1111]
    assert resolve(roots, "checkpoints", "xl/tiny-sdxl.safetensors") == comfy / "models/checkpoints/xl/tiny-sdxl.safetensors"
    assert resolve(roots, "checkpoints", "tiny-sd15.safetensors") == own / "checkpoints/tiny-sd15.safetensors"
    with pytest.raises(ModelError, match="checkpoints model not found: nope.safetensors"):
        resolve(roots, "checkpoints", "nope.safetensors")


def test_scan_and_report(trees, monkeypatch) -> None:
    own, comfy, a1111 = trees
    by_name = {(e.kind, e.name): e for e in scan([comfy, a1111])}
    assert by_name[("checkpoints", "xl/tiny-sdxl.safetensors")].family == "sdxl"
    assert by_name[("checkpoints", "one.safetensors")].family == "sd15"
    assert by_name[("checkpoints", "pipe")].format == "folder" and by_name[("checkpoints", "pipe")].family == "sd2"
    assert by_name[("checkpoints", "old.ckpt")].format == "pickle"
    assert by_name[("controlnet", "cn15.safetensors")].family == "sd15"
    assert by_name[("vae", "sdxl_vae.safetensors")].family == "sdxl"
    assert by_name[("vae", "v.safetensors")].family is None
    assert by_name[("loras", "style.safetensors")].size == 16
    monkeypatch.delenv("LATENT_STUDIO_MODELS", raising=False)
    report = models_report(Settings(models_root=str(own), extra_model_roots=[str(comfy)]))
    json.dumps(report)
    assert {r["name"] for r in report if r["kind"] == "controlnet"} >= {"tiny-sd15-canny.safetensors", "cn-xl.safetensors"}
    assert all({"kind", "name", "path", "size", "family", "format", "problem"} <= r.keys() for r in report)


def test_broken_files_are_reported_not_raised(tmp_path: Path) -> None:
    (tmp_path / "checkpoints").mkdir()
    (tmp_path / "checkpoints/broken.safetensors").write_bytes(b"\x00" * 4)
    (entry,) = scan([tmp_path])
    assert entry.family is None and "not a safetensors file" in entry.problem


def test_tree_detection_and_invokeai_layout(tmp_path) -> None:
    from studio.diffusion.model_folders import detect_tree

    comfy, a1111, invoke, own = (tmp_path / n for n in ("comfy", "a1111", "invoke", "own"))
    (comfy / "models" / "checkpoints").mkdir(parents=True)
    (a1111 / "models" / "Stable-diffusion").mkdir(parents=True)
    (invoke / "models" / "sdxl" / "main").mkdir(parents=True)
    (invoke / "models" / "sd-1" / "controlnet").mkdir(parents=True)
    (own / "checkpoints").mkdir(parents=True)
    assert [detect_tree(p) for p in (comfy, a1111, invoke, own, tmp_path / "none")] == [
        "ComfyUI", "A1111", "InvokeAI", "Latent Studio", None]
    (invoke / "models" / "sdxl" / "main" / "xl.safetensors").write_bytes(b"x")
    (invoke / "models" / "sd-1" / "controlnet" / "cn.safetensors").write_bytes(b"x")
    assert list_models([invoke], "checkpoints") == ["xl.safetensors"]
    assert list_models([invoke], "controlnet") == ["cn.safetensors"]
