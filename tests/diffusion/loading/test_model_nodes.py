"""The model loader nodes: port families from headers, loading through the ``models`` service."""

from __future__ import annotations

from pathlib import Path

import pytest

from studio.core.context import CancelToken, NodeContext

from ...helpers import services as run_services


def _ctx(services: dict) -> NodeContext:
    events: list = []
    return NodeContext(node_id="n1", title="t", run_id=1, cancel=CancelToken(),
                       emit=lambda kind, data: events.append((kind, data)), services=run_services(**services))


def test_family_hooks_read_headers(tiny_root: Path, monkeypatch) -> None:
    from nodes.models import load_checkpoint, load_controlnet, load_vae
    from studio.core.settings import Settings

    svc = run_services(settings=Settings(models_root=str(tiny_root)))
    assert load_checkpoint.family({"checkpoint": "tiny-sdxl.safetensors"}, svc) == "sdxl"
    assert load_checkpoint.family({"checkpoint": "tiny-sd2.safetensors"}, svc) == "sd2"
    assert load_controlnet.family({"controlnet": "tiny-sd15-canny.safetensors"}, svc) == "sd15"
    assert load_vae.family({"vae": "tiny-vae.safetensors"}, svc) is None
    assert load_checkpoint.family({"checkpoint": ""}, svc) is None


def test_nodes_load_through_the_service(manager, tiny) -> None:
    from nodes.models import load_checkpoint, load_controlnet

    ctx = _ctx({"models": manager})
    unet, clip, vae = load_checkpoint(ctx, checkpoint="tiny-sd15.safetensors")
    assert unet is manager.load_checkpoint(tiny.paths["checkpoint-sd15"])[0]
    assert load_controlnet(ctx, controlnet="tiny-sdxl-canny.safetensors").family == "sdxl"
    fp = load_checkpoint.fingerprint({"checkpoint": "tiny-sd15.safetensors"}, run_services(settings=manager.settings))
    assert fp[0].endswith("tiny-sd15.safetensors")


def test_node_errors_are_node_failures(manager) -> None:
    from nodes.models import load_checkpoint
    from studio.core.context import NodeFailure

    with pytest.raises(NodeFailure, match="not found: missing.safetensors"):
        load_checkpoint(_ctx({"models": manager}), checkpoint="missing.safetensors")
    with pytest.raises(NodeFailure, match="leaves the model folder"):
        load_checkpoint(_ctx({"models": manager}), checkpoint="../controlnet/tiny-sd15-canny.safetensors")


def test_a_run_without_a_model_manager_says_so() -> None:
    from nodes.models import load_checkpoint
    from studio.core.context import NodeFailure

    with pytest.raises(NodeFailure, match="no model manager"):
        load_checkpoint(_ctx({}), checkpoint="tiny-sd15.safetensors")
