"""Loading through the model manager: round trips, identity, residency, caching and refusals."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from studio.diffusion.errors import ModelError

from .conftest import make_manager


def _same(loaded: torch.nn.Module, reference: dict[str, torch.Tensor], what: str) -> None:
    """Every weight equals the source's (written as fp16, loaded as fp32)."""
    got = {k.removeprefix("text_model."): v for k, v in loaded.state_dict().items() if not k.endswith("position_ids")}
    ref = {k.removeprefix("text_model."): v for k, v in reference.items()}
    assert got.keys() == ref.keys(), what
    for k, v in ref.items():
        assert torch.equal(got[k], v.to(torch.float16).to(torch.float32)), f"{what}: {k}"


@pytest.mark.parametrize("family", ["sd15", "sd2", "sdxl"])
def test_checkpoint_round_trip(manager, tiny, family: str) -> None:
    unet, clip, vae = manager.load_checkpoint(tiny.paths[f"checkpoint-{family}"])
    ref = tiny.reference[f"checkpoint-{family}"]
    assert unet.family == clip.family == vae.family == family
    _same(unet.unet, ref["unet"], "unet")
    _same(vae.vae, ref["vae"], "vae")
    subs = ["text_encoder", "text_encoder_2"][: len(clip.encoders)]
    assert len(subs) == (2 if family == "sdxl" else 1) == len(clip.tokenizers)
    for enc, sub in zip(clip.encoders, subs, strict=True):
        _same(enc, ref[sub], sub)
    assert unet.scheduler_config["prediction_type"] == ("v_prediction" if family == "sd2" else "epsilon")


@pytest.mark.parametrize("name", ["controlnet-sd15", "controlnet-sd15-diffusers", "controlnet-sdxl",
                                  "controlnet-sdxl-diffusers"])
def test_controlnet_round_trip(manager, tiny, name: str) -> None:
    cn = manager.load_controlnet(tiny.paths[name])
    assert cn.family == name.split("-")[1]
    _same(cn.model, tiny.reference[name]["controlnet"], name)


def test_vae_round_trip(manager, tiny) -> None:
    vae = manager.load_vae(tiny.paths["vae"])
    _same(vae.vae, tiny.reference["vae"]["vae"], "vae")


def test_loaded_models_run(manager, tiny) -> None:
    unet, clip, vae = manager.load_checkpoint(tiny.paths["checkpoint-sd15"])
    ids = clip.tokenizers[0]("a photo of a cat", padding="max_length", max_length=77, return_tensors="pt").input_ids
    with torch.no_grad():
        emb = clip.encoders[0](ids).last_hidden_state
        out = unet.unet(torch.randn(1, 4, 8, 8), 10, encoder_hidden_states=emb).sample
        img = vae.vae.decode(out).sample
    assert img.shape == (1, 3, 64, 64) and torch.isfinite(img).all()


def test_same_file_twice_is_the_same_object(manager, tiny, tiny_root: Path) -> None:
    a = manager.load_checkpoint(tiny.paths["checkpoint-sdxl"])
    b = manager.load_checkpoint(tiny_root / "checkpoints" / ".." / "checkpoints" / "tiny-sdxl.safetensors")
    assert all(x is y for x, y in zip(a, b, strict=True))
    other = make_manager(tiny_root, None, dtype="bf16")
    c = other.load_checkpoint(tiny.paths["checkpoint-sdxl"])
    assert c[0] is not a[0] and next(c[0].unet.parameters()).dtype == torch.bfloat16


def test_lru_eviction_under_budget(tiny, tiny_root: Path) -> None:
    mm = make_manager(tiny_root, None)
    first = mm.load_vae(tiny.paths["vae"])
    mm._budget = mm.resident_bytes + 5_000_000  # room for the VAE and a ControlNet, not a checkpoint
    cn = mm.load_controlnet(tiny.paths["controlnet-sd15"])
    assert [k for k, _, _ in mm.resident()] == ["vae", "controlnet"]
    assert mm.load_vae(tiny.paths["vae"]) is first  # now the most recently used
    mm.load_checkpoint(tiny.paths["checkpoint-sd15"])
    assert [k for k, _, _ in mm.resident()] == ["checkpoint"]  # the newest stays even over budget
    assert mm.load_controlnet(tiny.paths["controlnet-sd15"]) is not cn


def test_converted_weights_are_cached(tiny, tiny_root: Path, tmp_path: Path, monkeypatch) -> None:
    from studio.diffusion import component_loading

    progress: list[tuple[float, str]] = []
    a = make_manager(tiny_root, tmp_path).load_checkpoint(tiny.paths["checkpoint-sdxl"],
                                                          progress=lambda f, t: progress.append((f, t)))
    assert len(list(tmp_path.glob("*.safetensors"))) == 4  # unet, vae, two text encoders
    assert progress[0][0] == 0.0 and progress[-1][0] == 1.0 and "tiny-sdxl" in progress[-1][1]

    def no_reading(*a, **k):
        raise AssertionError("the source file was converted again")

    monkeypatch.setattr(component_loading, "read_weights", no_reading)
    b = make_manager(tiny_root, tmp_path).load_checkpoint(tiny.paths["checkpoint-sdxl"])
    for x, y in zip(a[0].unet.state_dict().values(), b[0].unet.state_dict().values(), strict=True):
        assert torch.equal(x, y)


def test_wrong_kinds_are_refused(manager, tiny) -> None:
    with pytest.raises(ModelError, match="tiny-sd15-canny.safetensors is a Stable Diffusion 1.5 ControlNet, not a checkpoint"):
        manager.load_checkpoint(tiny.paths["controlnet-sd15"])
    with pytest.raises(ModelError, match="is a VAE, not a ControlNet"):
        manager.load_controlnet(tiny.paths["vae"])
    with pytest.raises(ModelError, match="not found"):
        manager.load_vae("/no/such/vae.safetensors")


def test_missing_weights_are_named(tiny, tiny_root: Path, tmp_path: Path) -> None:
    sd = load_file(str(tiny.paths["checkpoint-sd15"]))
    meta = {"latent_studio.family": "sd15",
            "latent_studio.configs": json.dumps(json.loads(_metadata(tiny.paths["checkpoint-sd15"])))}
    del sd["model.diffusion_model.out.2.weight"]
    save_file(sd, str(tmp_path / "pruned.safetensors"), metadata=meta)
    with pytest.raises(ModelError, match=r"pruned.safetensors \(UNet\): 1 of .* weights are missing"):
        make_manager(tiny_root, None).load_checkpoint(tmp_path / "pruned.safetensors")


def _metadata(path: Path) -> str:
    from studio.diffusion.safetensors_header import read_header

    return read_header(path).metadata["latent_studio.configs"]


def test_clip_keys_without_text_model_prefix(tiny, tiny_root: Path, tmp_path: Path) -> None:
    src = tiny.paths["checkpoint-sd15"]
    sd = load_file(str(src))
    bare = {k.replace("cond_stage_model.transformer.text_model.", "cond_stage_model.transformer."): v
            for k, v in sd.items()}
    from studio.diffusion.safetensors_header import read_header

    save_file(bare, str(tmp_path / "bare.safetensors"), metadata=read_header(src).metadata)
    _, clip, _ = make_manager(tiny_root, None).load_checkpoint(tmp_path / "bare.safetensors")
    _same(clip.encoders[0], tiny.reference["checkpoint-sd15"]["text_encoder"], "text encoder")


@pytest.mark.parametrize("prefixed", [True, False])
def test_diffusers_folder_with_either_text_encoder_layout(tiny, tiny_root: Path, tmp_path: Path,
                                                          prefixed: bool) -> None:
    from bench.make_models import TINY

    ref, cfg = tiny.reference["checkpoint-sdxl"], TINY["sdxl"]
    folder = tmp_path / "tiny-sdxl-diffusers"
    (folder / "scheduler").mkdir(parents=True)
    (folder / "model_index.json").write_text(json.dumps({"_class_name": "StableDiffusionXLPipeline"}))
    (folder / "scheduler/scheduler_config.json").write_text(json.dumps(cfg["scheduler"]))
    for sub in ("unet", "vae", "text_encoder", "text_encoder_2"):
        (folder / sub).mkdir()
        (folder / sub / "config.json").write_text(json.dumps(cfg[sub]))
        w = ref[sub]
        if sub.startswith("text_encoder"):
            w = {("text_model." if prefixed and not k.startswith("text_projection") else "")
                 + k.removeprefix("text_model."): v for k, v in w.items()}
        name = "model.safetensors" if sub.startswith("text") else "diffusion_pytorch_model.safetensors"
        save_file({k: v.half().contiguous() for k, v in w.items()}, str(folder / sub / name))
    unet, clip, vae = make_manager(tiny_root, None).load_checkpoint(folder)
    assert unet.family == "sdxl"
    _same(unet.unet, ref["unet"], "unet")
    for enc, sub in zip(clip.encoders, ("text_encoder", "text_encoder_2"), strict=True):
        _same(enc, ref[sub], sub)


class _Evil:
    def __reduce__(self):
        return (print, ("owned",))


def test_pickles_refused_unless_allowed(tiny, tiny_root: Path, tmp_path: Path, monkeypatch) -> None:
    from bench.make_models import TINY
    from studio.diffusion.ldm_layout import vae_to_ldm

    ckpt = tmp_path / "vae.ckpt"
    torch.save({"state_dict": {k: v.half() for k, v in vae_to_ldm(tiny.reference["vae"]["vae"], TINY["sd15"]["vae"]).items()}}, ckpt)
    with pytest.raises(ModelError, match=r"vae.ckpt is a pickle \(.ckpt\) file"):
        make_manager(tiny_root, None).load_vae(ckpt)
    allowed = make_manager(tiny_root, None, settings={"allow_ckpt": True})
    with pytest.raises(ModelError, match="is a VAE, not a checkpoint"):
        allowed.load_checkpoint(ckpt)
    # A pickle carries no embedded config: give the tiny one in place of the shipped SD VAE config.
    from studio.diffusion import loaders

    monkeypatch.setattr(loaders, "vae_config", lambda info: dict(TINY["sd15"]["vae"]))
    _same(allowed.load_vae(ckpt).vae, tiny.reference["vae"]["vae"], "vae from .ckpt")
    evil = tmp_path / "evil.ckpt"
    evil.write_bytes(pickle.dumps({"state_dict": _Evil()}, protocol=2))
    with pytest.raises(ModelError, match="evil.ckpt"):
        allowed.load_checkpoint(evil)


def test_device_and_dtype_choice() -> None:
    from studio.diffusion.model_manager import cpu_has_bf16, pick_device, pick_dtype

    cpu = torch.device("cpu")
    assert pick_dtype("fp16", cpu) == torch.float16
    assert pick_dtype("auto", cpu) == (torch.bfloat16 if cpu_has_bf16() else torch.float32)
    assert pick_dtype("auto", torch.device("cuda")) == torch.float16
    assert pick_device("cpu") == cpu
    if not torch.cuda.is_available():
        with pytest.raises(ModelError, match="CUDA"):
            pick_device("cuda")


def test_tokenizers() -> None:
    from studio.diffusion.clip_tokenizer import clip_tokenizer, tokenizers_for

    tok = clip_tokenizer()
    assert len(tok) == 49408 and tok.model_max_length == 77
    assert tok("a photo of a cat").input_ids == [49406, 320, 1125, 539, 320, 2368, 49407]
    first, second = tokenizers_for("sdxl")
    assert first.pad_token_id == 49407 and second.pad_token == "!" and second.pad_token_id == 0
    assert second("a cat", padding="max_length", max_length=6).input_ids == [49406, 320, 2368, 49407, 0, 0]


def test_taesd_from_original_files(tiny_root: Path, tmp_path: Path) -> None:
    from diffusers import AutoencoderTiny

    from studio.diffusion.loaders import CONFIGS, _json

    ref = AutoencoderTiny.from_config(_json(CONFIGS / "taesd/config.json")).state_dict()
    (tmp_path / "taesd").mkdir()
    for part in ("encoder", "decoder"):
        save_file({k.removeprefix(f"{part}.layers."): v for k, v in ref.items() if k.startswith(part)},
                  str(tmp_path / "taesd" / f"taesd_{part}.safetensors"))
    mm = make_manager(tmp_path, None)
    assert mm.load_taesd("sdxl") is None
    taesd = mm.load_taesd("sd15")
    assert taesd is mm.load_taesd("sd15")
    for k, v in taesd.vae.state_dict().items():
        assert torch.equal(v, ref[k]), k
