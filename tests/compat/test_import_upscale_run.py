"""Imported hires-fix and tile-upscale workflows (upscale models, tiled VAE, Tiled Diffusion) run end to
end on tiny random models when their upscale-model files are present."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("torch")

from studio.app.run_services import ModelManagers, build_run_services  # noqa: E402
from studio.compat import load_any  # noqa: E402
from studio.core.executor import Executor  # noqa: E402
from studio.core.registry import default_registry  # noqa: E402
from studio.core.settings import Settings  # noqa: E402

from .helpers import CORPUS  # noqa: E402
from .test_import_adapters_run import _root  # noqa: E402
from .test_import_runs import _small  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]


def _pth(tmp_path: Path, safetensors: Path, name: str) -> Path:
    """The tiny model saved as the pickle real ESRGAN releases are (tensors only)."""
    import torch
    from safetensors.torch import load_file

    path = tmp_path / name
    torch.save(load_file(str(safetensors)), str(path))
    return path


def _run(graph, tmp_path: Path, root: Path, monkeypatch):
    from PIL import Image

    monkeypatch.setenv("LATENT_STUDIO_MODELS", str(root))
    # a small input keeps the ×4 model and the refine after it quick
    Image.open(ROOT / "resources" / "images" / "sample.png").convert("RGB").resize((32, 32)).save(tmp_path / "photo.png")
    services = build_run_services(Settings(dtype="fp32", device="cpu", allow_ckpt=True), ModelManagers(),
                                  output_dir=tmp_path / "out", workflow_path=tmp_path / "flow.json")
    assert not [p for p in graph.validate() if p.severity == "error"]
    summary = Executor().run(graph.snapshot(), services=services)
    assert summary.ok, summary.failed
    return summary


def test_hires_fix_with_esrgan_imports_without_placeholders_and_runs(tiny, tmp_path, monkeypatch):
    root = _root(tmp_path, {
        "checkpoints/v1-5-pruned-emaonly.safetensors": tiny.paths["checkpoint-sd15"],
        "upscale_models/RealESRGAN_x4plus.pth": _pth(tmp_path, tiny.paths["upscale-RRDBNet_x4"], "x4.pth"),
    })
    graph, report = load_any(CORPUS / "hires_esrgan.api.json", default_registry())
    assert not report.of_kind("unmapped") and not [n for n in graph.nodes.values() if n.type_id.startswith("comfyui.")]
    _small(graph)
    for node in graph.nodes.values():
        if node.type_id == "image.scale":
            graph.set_param(node.id, "factor", 0.5)
        if node.type_id in ("latent.vae_decode_tiled", "latent.vae_encode_tiled"):  # tiles of the 128 px image
            graph.set_param(node.id, "tile_size", 64)
            graph.set_param(node.id, "overlap", 16)
    summary = _run(graph, tmp_path, root, monkeypatch)
    from PIL import Image

    # 64 px, ×4 by the model, ×0.5: a 128 px refine, encoded and decoded in tiles
    assert Image.open(summary.outputs[0]).size == (128, 128)


def test_tile_upscale_with_tiled_diffusion_and_a_tile_controlnet_runs(tiny, tmp_path, monkeypatch):
    root = _root(tmp_path, {
        "checkpoints/v1-5-pruned-emaonly.safetensors": tiny.paths["checkpoint-sd15"],
        "controlnet/control_v11f1e_sd15_tile.safetensors": tiny.paths["controlnet-sd15"],
        "upscale_models/4x-UltraSharp.pth": _pth(tmp_path, tiny.paths["upscale-ESRGAN_x4_old"], "ultra.pth"),
    })
    graph, _ = load_any(CORPUS / "tile_upscale.ui.json", default_registry())
    usdu = next(n for n in graph.nodes.values() if n.type_id == "comfyui.UltimateSDUpscale")
    graph.set_mode(usdu.id, "mute")  # not supported: its branch is left out
    _small(graph)
    for node in graph.nodes.values():
        if node.type_id == "model.tiled_diffusion":  # two by two tiles of the 64 px refine
            for name, value in (("tile_width", 40), ("tile_height", 40), ("tile_overlap", 16)):
                graph.set_param(node.id, name, value)
    summary = _run(graph, tmp_path, root, monkeypatch)
    from PIL import Image

    assert Image.open(summary.outputs[0]).size == (64, 64)  # 32 px, ×4 by the model, ×0.5
