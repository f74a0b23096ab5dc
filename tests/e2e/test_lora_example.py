"""The LoRA example workflow runs as shipped on the tiny models, and its LoRA changes the image."""

from __future__ import annotations

from pathlib import Path

import torch

from studio.app.run_services import ModelManagers, build_run_services
from studio.core.executor import Executor
from studio.core.registry import default_registry
from studio.core.settings import Settings
from studio.core.workflow import load_file

FLOWS = Path(__file__).resolve().parents[2] / "resources" / "workflows"


def _of_type(g, type_id: str) -> str:
    return next(n.id for n in g.nodes.values() if n.type_id == type_id)


def test_the_lora_example_runs_and_its_lora_changes_the_result(tiny_root, tmp_path, monkeypatch):
    monkeypatch.setenv("LATENT_STUDIO_MODELS", str(tiny_root))
    services = build_run_services(Settings(dtype="fp32", device="cpu"), ModelManagers(), output_dir=tmp_path)
    g = load_file(FLOWS / "lora.json", default_registry())
    lora, sampler = _of_type(g, "model.lora"), _of_type(g, "sample.sampler")
    g.set_param(sampler, "steps", 3)
    latent = _of_type(g, "latent.empty")
    g.set_param(latent, "width", 64)
    g.set_param(latent, "height", 64)
    ex = Executor()
    summary = ex.run(g.snapshot(), services=services.with_workflow_dir(FLOWS))
    assert summary.ok, summary.failed
    assert len(summary.outputs) == 1 and Path(summary.outputs[0]).is_file()
    with_lora = ex.outputs_of(sampler)[0].samples
    g.set_param(lora, "strength_model", 0.0)
    g.set_param(lora, "strength_clip", 0.0)
    again = ex.run(g.snapshot(), services=services.with_workflow_dir(FLOWS))
    assert again.ok and _of_type(g, "model.checkpoint") in again.cached
    assert float((ex.outputs_of(sampler)[0].samples - with_lora).abs().max()) > 1e-3
    assert torch.isfinite(with_lora).all()
