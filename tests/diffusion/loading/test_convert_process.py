"""Converting a large checkpoint in a child process (``convert_process``), so the GUI's process never
maps or converts the source file: same weights as converting in-process, and a fallback when the
child cannot cache them."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
import torch

from studio.diffusion import component_loading, convert_process
from studio.diffusion.errors import ModelError

from .conftest import make_manager


def _same_models(a, b) -> None:
    for x, y in zip(a, b, strict=True):
        for m, n in zip(_modules(x), _modules(y), strict=True):
            sa, sb = m.state_dict(), n.state_dict()
            assert sa.keys() == sb.keys()
            for k in sa:
                assert torch.equal(sa[k], sb[k]), k


def _modules(value) -> list[torch.nn.Module]:
    return [m for m in (getattr(value, "unet", None), getattr(value, "vae", None), *getattr(value, "encoders", ()))
            if m is not None]


@pytest.fixture
def child_for_every_size(monkeypatch):
    monkeypatch.setattr(convert_process, "MIN_BYTES", 0)


def test_checkpoint_is_converted_in_a_child(tiny, tiny_root: Path, tmp_path: Path, monkeypatch,
                                            child_for_every_size) -> None:
    reference = make_manager(tiny_root, None).load_checkpoint(tiny.paths["checkpoint-sdxl"])

    def no_reading(*a, **k):
        raise AssertionError("the source file was read in this process")

    monkeypatch.setattr(component_loading, "read_weights", no_reading)  # the child has its own module
    progress: list[str] = []
    got = make_manager(tiny_root, tmp_path / "cache", convert_in_child=True).load_checkpoint(
        tiny.paths["checkpoint-sdxl"], progress=lambda f, t: progress.append(t))
    _same_models(reference, got)
    assert len(list((tmp_path / "cache").glob("*.safetensors"))) == 4  # unet, vae, two text encoders
    assert not list((tmp_path / "cache").glob("*.tmp"))
    assert any("converting unet, vae, text_encoder, text_encoder_2" in t for t in progress)


@pytest.mark.slow  # the checkpoint case covers the child process; this adds two more kinds
def test_controlnet_and_vae_in_a_child(tiny, tiny_root: Path, tmp_path: Path, child_for_every_size) -> None:
    mm = make_manager(tiny_root, tmp_path, convert_in_child=True)
    plain = make_manager(tiny_root, None)
    for name in ("controlnet-sd15",):
        _same_models([mm.load_controlnet(tiny.paths[name]).model], [plain.load_controlnet(tiny.paths[name]).model])
    _same_models([mm.load_vae(tiny.paths["vae"])], [plain.load_vae(tiny.paths["vae"])])
    assert len(list(tmp_path.glob("*.safetensors"))) == 2


def test_uncachable_conversion_falls_back_to_this_process(tiny, tiny_root: Path, tmp_path: Path,
                                                          child_for_every_size) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    got = make_manager(tiny_root, blocker / "cache", convert_in_child=True).load_checkpoint(
        tiny.paths["checkpoint-sd15"])
    _same_models(make_manager(tiny_root, None).load_checkpoint(tiny.paths["checkpoint-sd15"]), got)


def test_a_headless_manager_converts_here_and_writes_the_cache_afterwards(
        tiny, tiny_root: Path, tmp_path: Path, monkeypatch, child_for_every_size) -> None:
    from studio.diffusion import conversion_cache

    def no_child(job):
        raise AssertionError("a headless load started a conversion process")

    monkeypatch.setattr(convert_process, "run", no_child)
    release = threading.Event()
    real_put = conversion_cache.ConversionCache.put

    def slow_put(self, key, weights):
        release.wait(30)
        real_put(self, key, weights)

    monkeypatch.setattr(conversion_cache.ConversionCache, "put", slow_put)
    cache = tmp_path / "cache"
    got = make_manager(tiny_root, cache).load_checkpoint(tiny.paths["checkpoint-sd15"])
    # the load returned while its entries are still queued
    assert conversion_cache.writes_pending()
    assert not list(cache.glob("*.safetensors"))
    assert not conversion_cache.wait_for_writes(timeout=0.2)
    release.set()
    assert conversion_cache.wait_for_writes(timeout=60)
    assert len(list(cache.glob("*.safetensors"))) == 3  # unet, vae, text encoder
    assert not list(cache.glob("*.tmp"))

    def no_reading(*a, **k):
        raise AssertionError("the warm load read the source file")

    monkeypatch.setattr(component_loading, "read_weights", no_reading)
    _same_models(got, make_manager(tiny_root, cache).load_checkpoint(tiny.paths["checkpoint-sd15"]))


def test_weight_patches_wait_for_the_cache_writer(monkeypatch) -> None:
    """LoRA and model merging change the loaded tensors in place, which a first load's queued cache
    entries still point at: both wait for the writer before they touch a weight."""
    from studio.diffusion import conversion_cache, lora, model_merge

    calls: list[str] = []
    monkeypatch.setattr(conversion_cache, "wait_for_writes", lambda timeout=None: calls.append("wait") or True)
    module = torch.nn.Linear(2, 2)
    with lora.LoraPatch("x", 1.0, {}).applied(module):
        pass
    with model_merge.MergePatch(module, {"input": 1.0}).applied(module):
        pass
    assert calls == ["wait", "wait"]


def test_model_errors_from_the_child_name_the_file(tmp_path: Path, child_for_every_size) -> None:
    from studio.diffusion.families import ModelInfo

    missing = tmp_path / "gone.safetensors"
    job = convert_process.ConvertJob("vae", ModelInfo(missing, "vae", "sd15", "original"), torch.float32, False,
                                     tmp_path, 1 << 30, {"vae": "k"})
    with pytest.raises(ModelError, match="model file not found: .*gone.safetensors"):
        convert_process.run(job)
