"""Save Checkpoint: the written single file loads back through our loader to the same weights, with the
run's merges applied, its metadata and its sampling settings; the base models stay unchanged."""

from __future__ import annotations

import copy
import json
from dataclasses import replace
from pathlib import Path

import pytest
import torch
from safetensors import safe_open

from nodes.checkpoint_save import save_checkpoint
from studio.core.context import NodeContext, NodeFailure
from studio.core.services import RunServices
from studio.diffusion.model_merge import merge
from studio.diffusion.model_patches import applied
from studio.diffusion.values import UNetModel

from .conftest import make_manager


class _Token:
    cancelled = False

    def raise_if_cancelled(self) -> None:
        pass


def _ctx(out: Path) -> NodeContext:
    return NodeContext(node_id="s", title="Save Checkpoint", run_id=1, cancel=_Token(),  # type: ignore[arg-type]
                       emit=lambda *_: None, services=RunServices(output_dir=out))


def _equal(a: torch.nn.Module, b: torch.nn.Module, what: str) -> None:
    sa, sb = a.state_dict(), b.state_dict()
    keys = {k for k in sa if not k.endswith("position_ids")}
    assert keys == {k for k in sb if not k.endswith("position_ids")}, what
    for k in keys:
        assert torch.equal(sa[k], sb[k]), f"{what}: {k}"


@pytest.mark.parametrize("family", ["sd15", "sd2", "sdxl"])
def test_saved_checkpoint_loads_back(tiny, tiny_root, tmp_path, family):
    manager = make_manager(tiny_root, None)
    unet, clip, vae = manager.load_checkpoint(tiny.paths[f"checkpoint-{family}"])
    ctx = _ctx(tmp_path)
    save_checkpoint.fn(ctx, model=unet, clip=clip, vae=vae, folder="checkpoints", prefix="saved")
    (path,) = ctx.output_files
    assert Path(path) == tmp_path / "checkpoints" / "saved_00001.safetensors"
    u2, c2, v2 = make_manager(tiny_root, None).load_checkpoint(path)
    assert u2.family == family and u2.scheduler_config["prediction_type"] == unet.scheduler_config["prediction_type"]
    _equal(u2.unet, unet.unet, "unet")
    _equal(v2.vae, vae.vae, "vae")
    for a, b in zip(c2.encoders, clip.encoders, strict=True):
        _equal(a, b, "text encoder")
    # A second save takes the next number.
    save_checkpoint.fn(ctx, model=unet, clip=clip, vae=vae, folder="checkpoints", prefix="saved")
    assert ctx.output_files[-1].endswith("saved_00002.safetensors")


def test_merge_is_saved_and_base_kept(tiny, tiny_root, tmp_path):
    manager = make_manager(tiny_root, None)
    unet, clip, vae = manager.load_checkpoint(tiny.paths["checkpoint-sd15"])
    base = {k: v.clone() for k, v in unet.unet.state_dict().items()}
    other_unet = copy.deepcopy(unet.unet)
    with torch.no_grad():
        for p in other_unet.parameters():
            p.add_(0.05)
    other = UNetModel("sd15", other_unet, unet.scheduler_config, "other.safetensors")
    merged = merge(replace(unet, scheduler_config={**unet.scheduler_config, "prediction_type": "v_prediction",
                                                   "rescale_betas_zero_snr": True, "timestep_spacing": "trailing"}),
                   other, {"input": 0.5, "middle": 0.5, "out": 0.5})
    ctx = _ctx(tmp_path)
    save_checkpoint.fn(ctx, model=merged, clip=clip, vae=vae, folder="", prefix="merged")
    (path,) = ctx.output_files
    assert all(torch.equal(v, base[k]) for k, v in unet.unet.state_dict().items())
    u2, _, _ = make_manager(tiny_root, None).load_checkpoint(path)
    with applied(merged.unet, merged.patches):
        _equal(u2.unet, merged.unet, "merged unet")
    assert u2.scheduler_config["prediction_type"] == "v_prediction"
    assert u2.scheduler_config["rescale_betas_zero_snr"] is True
    with safe_open(path, "pt") as f:
        meta = f.metadata()
    assert meta["latent_studio.family"] == "sd15" and meta["ztsnr"] == "true"
    assert json.loads(meta["latent_studio.merges"])[0]["model2"] == "other.safetensors"
    assert json.loads(meta["latent_studio.sources"])["model"] == unet.source


def test_folder_must_stay_inside_the_output_folder(tmp_path):
    with pytest.raises(NodeFailure, match="subfolder"):
        save_checkpoint.fn(_ctx(tmp_path), model=None, clip=None, vae=None, folder="../x", prefix="p")
