"""Imported workflows with LoRAs, embeddings and IP-Adapters run end to end on tiny random models,
with the files named as the workflows name them."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

pytest.importorskip("torch")

from studio.app.run_services import ModelManagers, build_run_services  # noqa: E402
from studio.compat import load_any  # noqa: E402
from studio.core import events as ev  # noqa: E402
from studio.core.executor import Executor  # noqa: E402
from studio.core.registry import default_registry  # noqa: E402
from studio.core.settings import Settings  # noqa: E402

from .helpers import CORPUS  # noqa: E402
from .test_import_runs import _small  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]


def _root(tmp_path: Path, files: dict[str, Path]) -> Path:
    """A models root holding ``files`` (name under the root → tiny model) as links."""
    root = tmp_path / "models"
    for name, target in files.items():
        link = root / name
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(target.resolve())
    return root


def _services(tmp_path: Path, root: Path, monkeypatch):
    monkeypatch.setenv("LATENT_STUDIO_MODELS", str(root))
    shutil.copy(ROOT / "resources" / "images" / "sample.png", tmp_path / "reference.png")
    return build_run_services(Settings(dtype="fp32", device="cpu"), ModelManagers(), output_dir=tmp_path / "out",
                              workflow_path=tmp_path / "flow.json")


def _run(graph, services):
    assert not [p for p in graph.validate() if p.severity == "error"]
    logs: list[str] = []
    summary = Executor().run(graph.snapshot(), services=services,
                             on_event=lambda e: logs.append(e.message) if isinstance(e, ev.NodeLog) else None)
    assert summary.ok, summary.failed
    return summary, logs


@pytest.mark.parametrize("fmt", ["api", "ui"])
def test_two_chained_loras_and_embeddings_import_without_placeholders_and_run(tiny, tmp_path, monkeypatch, fmt):
    root = _root(tmp_path, {
        "checkpoints/v1-5-pruned-emaonly.safetensors": tiny.paths["checkpoint-sd15"],
        "loras/add_detail.safetensors": tiny.paths["lora-sd15"],
        "loras/styles/ink_wash.safetensors": tiny.paths["lora-sd15-peft"],
        "embeddings/detail_style.safetensors": tiny.paths["embedding-sd15"],
        "embeddings/EasyNegative.pt": tiny.paths["embedding-sd15-pt"],
    })
    graph, report = load_any(CORPUS / f"lora_chain.{fmt}.json", default_registry())
    assert not report.of_kind("unmapped") and not [n for n in graph.nodes.values() if n.type_id.startswith("comfyui.")]
    _small(graph)
    summary, logs = _run(graph, _services(tmp_path, root, monkeypatch))
    ran = [graph.nodes[n].type_id for n in summary.executed]
    assert ran.count("model.lora") == 2 and len(summary.outputs) == 1
    text = "\n".join(logs)
    assert "detail_style" in text and "EasyNegative" in text  # the prompts say which embeddings they used
    assert "unknown" not in text.lower()


def test_ip_adapter_workflow_imports_and_runs_with_the_hypernetwork_bypassed(tiny, tmp_path, monkeypatch):
    root = _root(tmp_path, {
        "checkpoints/v1-5-pruned-emaonly.safetensors": tiny.paths["checkpoint-sd15"],
        "ipadapter/ip-adapter-plus_sd15.safetensors": tiny.paths["ipadapter-sd15-plus"],
        "ipadapter/ip-adapter_sd15.safetensors": tiny.paths["ipadapter-sd15-base"],
        "clip_vision/CLIP-ViT-H-14-laion2B-s32B-b79K.safetensors": tiny.paths["clip_vision-file"],
    })
    graph, report = load_any(CORPUS / "ip_adapter.ui.json", default_registry())
    (hyper,) = [n for n in graph.nodes.values() if n.type_id.startswith("comfyui.")]
    assert hyper.type_id == "comfyui.HypernetworkLoader"
    graph.set_mode(hyper.id, "bypass")
    _small(graph)
    summary, _ = _run(graph, _services(tmp_path, root, monkeypatch))
    ran = [graph.nodes[n].type_id for n in summary.executed]
    assert ran.count("ip_adapter.apply") == 3 and ran.count("model.clip_vision") == 2
    assert len(summary.outputs) == 1
