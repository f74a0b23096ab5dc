"""The tiled VAE nodes in a real graph: registered with ComfyUI's names, same results as the plain VAE
nodes when one tile covers the image, close to them in tiles, and warnings for adjusted overlaps."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from studio.app.run_services import ModelManagers, build_run_services
from studio.core import events as ev
from studio.core.executor import Executor
from studio.core.graph import Graph
from studio.core.registry import default_registry
from studio.core.settings import Settings


@pytest.fixture
def services(tiny_root, tmp_path, monkeypatch):
    monkeypatch.setenv("LATENT_STUDIO_MODELS", str(tiny_root))
    return build_run_services(Settings(dtype="fp32", device="cpu"), ModelManagers(), output_dir=tmp_path)


def test_registered_with_comfyui_names_and_widgets():
    reg = default_registry()
    dec, enc = reg["latent.vae_decode_tiled"], reg["latent.vae_encode_tiled"]
    assert "VAEDecodeTiled" in dec.aliases and "VAEEncodeTiled" in enc.aliases
    for t in (dec, enc):
        params = {i.name: i.default for i in t.inputs if i.default is not None}
        assert params == {"tile_size": 512, "overlap": 64}


def _graph(tile: int, overlap: int):
    g = Graph(default_registry())
    vae = g.add_node("model.vae", params={"vae": "tiny-vae.safetensors"})
    ck = g.add_node("model.checkpoint", params={"checkpoint": "tiny-sd15.safetensors"})
    pos = g.add_node("text.encode", params={"text": "a red house"})
    neg = g.add_node("text.encode", params={"text": ""})
    lat = g.add_node("latent.empty", params={"width": 192, "height": 128})
    smp = g.add_node("sample.sampler", params={"seed": 3, "steps": 1, "cfg": 5.0, "sampler": "euler"})
    g.connect(ck.id, "model", smp.id, "model")
    for node in (pos, neg):
        g.connect(ck.id, "clip", node.id, "clip")
    g.connect(pos.id, "conditioning", smp.id, "positive")
    g.connect(neg.id, "conditioning", smp.id, "negative")
    g.connect(lat.id, "latent", smp.id, "latent")
    plain = g.add_node("latent.vae_decode")
    tiled = g.add_node("latent.vae_decode_tiled", params={"tile_size": tile, "overlap": overlap})
    back = g.add_node("latent.vae_encode_tiled", params={"tile_size": tile, "overlap": overlap})
    plain_back = g.add_node("latent.vae_encode")
    for node in (plain, tiled, back, plain_back):
        g.connect(vae.id, "vae", node.id, "vae")
    for node in (plain, tiled):
        g.connect(smp.id, "latent", node.id, "latent")
    g.connect(tiled.id, "image", back.id, "image")
    g.connect(tiled.id, "image", plain_back.id, "image")
    return g, {"plain": plain.id, "tiled": tiled.id, "back": back.id, "plain_back": plain_back.id}


def _run(services, tile: int, overlap: int):
    g, ids = _graph(tile, overlap)
    events: list = []
    ex = Executor()
    summary = ex.run(g.snapshot(), services=services, on_event=events.append)
    assert summary.ok, summary.failed
    return {k: ex.outputs_of(v)[0] for k, v in ids.items()}, events


def test_nodes_in_a_graph_match_the_plain_nodes(services):
    out, events = _run(services, 512, 64)  # one tile covers 192 × 128
    assert np.array_equal(out["tiled"], out["plain"])
    assert torch.equal(out["back"].samples, out["plain_back"].samples) and out["back"].family == "sd15"
    out, events = _run(services, 64, 20)
    assert out["tiled"].shape == (1, 128, 192, 3)
    assert np.abs(out["tiled"] - out["plain"]).mean() < 0.06
    assert out["back"].samples.shape == (1, 4, 16, 24)
    warnings = [e.message for e in events if isinstance(e, ev.NodeLog) and e.level == "warning"]
    assert any("overlap 20 px → 16 px" in w for w in warnings), warnings
    assert any(isinstance(e, ev.Progress) and "tile" in e.text for e in events)
