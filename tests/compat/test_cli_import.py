"""The command line with imported files: import, validate and run accept ComfyUI and A1111 files."""

from __future__ import annotations

import json

from studio.cli import main
from studio.core.registry import default_registry
from studio.core.workflow import load

from .helpers import CORPUS


def test_import_writes_a_workflow_and_prints_the_report(tmp_path, capsys):
    out = tmp_path / "flow.json"
    assert main(["import", str(CORPUS / "ip_adapter.ui.json"), "-o", str(out)]) == 0
    captured = capsys.readouterr()
    assert "imported from ComfyUI (UI workflow, schema 0.4)" in captured.err
    assert "unmapped: HypernetworkLoader #10" in captured.err
    assert "problem(s) to fix" in captured.err and f"wrote {out}" in captured.out
    graph = load(out, default_registry())
    assert len(graph.nodes) == 18  # the unified loader became a reroute and two loaders


def test_import_of_an_a1111_png(tmp_path, capsys):
    from PIL import Image
    from PIL.PngImagePlugin import PngInfo

    info = PngInfo()
    info.add_text("parameters", "a cat\nSteps: 4, Sampler: Euler a, CFG scale: 7, Seed: 1, Size: 64x64, "
                                "Model: v1-5-pruned-emaonly")
    png = tmp_path / "a1111.png"
    Image.new("RGB", (4, 4)).save(png, pnginfo=info)
    out = tmp_path / "flow.json"
    assert main(["import", str(png), "-o", str(out)]) == 0
    assert "A1111 parameters" in capsys.readouterr().err
    assert json.loads(out.read_text())["format"] == "latent-studio.workflow"


def test_import_of_broken_input_exits_2_and_writes_nothing(tmp_path, capsys):
    bad = tmp_path / "bad.json"
    doc = json.loads((CORPUS / "txt2img.api.json").read_text())
    doc["3"]["inputs"]["model"] = ["404", 0]
    bad.write_text(json.dumps(doc))
    out = tmp_path / "out.json"
    assert main(["import", str(bad), "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "404" in err and "Traceback" not in err
    assert not out.exists() and list(tmp_path.iterdir()) == [bad]


def test_validate_accepts_comfyui_files(capsys, tiny_root, monkeypatch):
    monkeypatch.setenv("LATENT_STUDIO_MODELS", str(tiny_root))  # validate checks the files exist
    assert main(["validate", str(CORPUS / "txt2img.ui.json")]) == 0
    captured = capsys.readouterr()
    # seven nodes that run, a reroute on the VAE wire and a note (the seed's Primitive is not a node here)
    assert "ok (9 nodes, 10 links)" in captured.out and "imported from ComfyUI" in captured.err
    # It names an inpainting checkpoint and a ComfyUI clipspace mask that are not here: those files,
    # and nothing else, are what validate refuses.
    assert main(["validate", str(CORPUS / "inpaint.api.json")]) == 2
    errors = [line for line in capsys.readouterr().out.splitlines() if line.startswith("error:")]
    assert errors and all("missing model" in e or "image not found" in e for e in errors), errors
    assert main(["validate", str(CORPUS / "ip_adapter.api.json")]) == 2  # hypernetworks are placeholders
    assert "comfyui.HypernetworkLoader" in capsys.readouterr().out
