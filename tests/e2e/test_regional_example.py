"""The regional-prompts example: up to date with its builder, boxes inside the canvas, and it runs on
the tiny models (sizes and steps made small)."""

from __future__ import annotations

import importlib.util
import uuid
from pathlib import Path

import pytest

pytest.importorskip("torch")

from PIL import Image  # noqa: E402

from studio.app.run_services import ModelManagers, build_run_services  # noqa: E402
from studio.core.executor import Executor  # noqa: E402
from studio.core.graph import Graph  # noqa: E402
from studio.core.registry import default_registry  # noqa: E402
from studio.core.settings import Settings  # noqa: E402
from studio.core.workflow import load_file, save  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
FLOWS = ROOT / "resources" / "workflows"
NS = uuid.UUID("5b0c8f55-3c4e-4a43-9d0a-6a5f8f3f9e10")
FLOW = "regional_prompts"


def _id(name: str) -> str:
    return str(uuid.uuid5(NS, f"{FLOW}/{name}"))


def _builder():
    spec = importlib.util.spec_from_file_location("example_regional_prompts",
                                                  ROOT / "scripts" / "example_regional_prompts.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_example_file_is_what_its_builder_writes(tmp_path):
    module = _builder()
    g = Graph(default_registry())
    module.build(g)
    save(g, tmp_path / "flow.json")
    assert (tmp_path / "flow.json").read_text() == (FLOWS / f"{FLOW}.json").read_text()


def test_its_area_boxes_lie_on_the_canvas_and_reach_the_sampler():
    reg = default_registry()
    g = load_file(FLOWS / f"{FLOW}.json", reg)
    latent = g.nodes[_id("latent")].params
    areas = [n for n in g.nodes.values() if n.type_id == "conditioning.set_area"]
    assert len(areas) == 3 and reg["conditioning.set_area"].box is not None
    for node in areas:
        p = node.params
        assert p["x"] >= 0 and p["x"] + p["width"] <= latent["width"]
        assert p["y"] >= 0 and p["y"] + p["height"] <= latent["height"]
    assert not [p for p in g.validate() if p.severity == "error"]


def test_the_regional_example_runs_on_the_tiny_models(tiny_root, tmp_path, monkeypatch):
    monkeypatch.setenv("LATENT_STUDIO_MODELS", str(tiny_root))
    services = build_run_services(Settings(dtype="fp32", device="cpu"), ModelManagers(),
                                  output_dir=tmp_path).with_workflow_dir(FLOWS)
    g = load_file(FLOWS / f"{FLOW}.json", default_registry())
    # A 96×64 canvas (1/8 of the example's 768×512), the areas scaled alike; one step (three UNet calls:
    # the whole frame for both halves, the two side areas together, the sky).
    for node in g.nodes.values():
        if node.type_id in ("latent.empty", "conditioning.set_area"):
            for key in ("x", "y", "width", "height"):
                if key in node.params:
                    g.set_param(node.id, key, node.params[key] // 8)
    g.set_param(_id("sampler"), "steps", 1)
    summary = Executor().run(g.snapshot(), services=services)
    assert summary.ok, summary.failed
    (out,) = summary.outputs
    assert Image.open(out).size == (96, 64)

