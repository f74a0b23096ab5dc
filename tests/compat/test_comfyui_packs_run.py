"""Workflows built with custom node packs (rgthree, KJNodes, efficiency nodes, Comfyroll, pysssss, WAS)
import without placeholders and run end to end on tiny random models, the LoRAs named as the files
name them."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

pytest.importorskip("torch")

from studio.app.run_services import ModelManagers, build_run_services  # noqa: E402
from studio.compat import load_any  # noqa: E402
from studio.core.executor import Executor  # noqa: E402
from studio.core.registry import default_registry  # noqa: E402
from studio.core.settings import Settings  # noqa: E402

from .helpers import CORPUS  # noqa: E402
from .test_import_runs import _small  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]


def _services(tiny, tmp_path: Path, monkeypatch):
    root = tmp_path / "models"
    files = {"checkpoints/v1-5-pruned-emaonly.safetensors": tiny.paths["checkpoint-sd15"],
             "loras/add_detail.safetensors": tiny.paths["lora-sd15"],
             "loras/film_grain.safetensors": tiny.paths["lora-sd15"],
             "loras/styles/ink_wash.safetensors": tiny.paths["lora-sd15-peft"]}
    for name, target in files.items():
        link = root / name
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(Path(target).resolve())
    monkeypatch.setenv("LATENT_STUDIO_MODELS", str(root))
    shutil.copy(ROOT / "resources" / "images" / "sample.png", tmp_path / "sample.png")
    return build_run_services(Settings(dtype="fp32", device="cpu"), ModelManagers(), output_dir=tmp_path / "out",
                              workflow_path=tmp_path / "flow.json")


def _run(flow: str, tiny, tmp_path: Path, monkeypatch):
    graph, report = load_any(CORPUS / flow, default_registry())
    assert report is not None and not report.of_kind("unmapped") and not [n for n in graph.nodes.values() if n.type_id.startswith("comfyui.")]
    _small(graph)
    assert not [p for p in graph.validate() if p.severity == "error"]
    summary = Executor().run(graph.snapshot(), services=_services(tiny, tmp_path, monkeypatch))
    assert summary.ok, summary.failed
    return graph, summary


@pytest.mark.slow
def test_efficiency_workflow_with_a_lora_stack_runs(tiny, tmp_path, monkeypatch):
    graph, summary = _run("packs/efficiency.ui.json", tiny, tmp_path, monkeypatch)
    ran = [graph.nodes[n].type_id for n in summary.executed]
    assert ran.count("model.lora") == 3 and ran.count("sample.sampler") == 2 and ran.count("model.clip_skip") == 1
    assert len(summary.outputs) == 2  # both Save Image nodes


@pytest.mark.slow
def test_rgthree_and_kjnodes_workflow_runs(tiny, tmp_path, monkeypatch):
    graph, summary = _run("packs/rgthree_kj.api.json", tiny, tmp_path, monkeypatch)
    ran = [graph.nodes[n].type_id for n in summary.executed]
    assert ran.count("model.lora") == 2 and len(summary.outputs) == 1
