"""The SDXL refiner: told apart from the base, loaded with OpenCLIP-G alone, its own family for models,
prompts and text encoders but SDXL's latent space."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.numpy import save_file

from studio.core.types import PortType, can_connect, families_fit, latents_compatible
from studio.diffusion.families import inspect, text_encoder_names

from .conftest import make_manager

REFINER = "sdxl_refiner"


@pytest.fixture(scope="module")
def refiner(tmp_path_factory: pytest.TempPathFactory):
    """A tiny base and a tiny refiner-shaped single file (fp32, so loaded weights equal the source exactly)."""
    from bench.make_models import link_example_names, write_models

    root = tmp_path_factory.mktemp("refiner-models")
    made = write_models(root, "tiny", seed=3, dtype="fp32", families=("sdxl", REFINER))
    made.root = root  # type: ignore[attr-defined]
    made.links = link_example_names(root, made)  # type: ignore[attr-defined]
    return made


def _same(loaded: torch.nn.Module, reference: dict[str, torch.Tensor]) -> None:
    got = {k.removeprefix("text_model."): v for k, v in loaded.state_dict().items() if not k.endswith("position_ids")}
    ref = {k.removeprefix("text_model."): v for k, v in reference.items()}
    assert got.keys() == ref.keys()
    for k, v in ref.items():
        assert torch.equal(got[k], v), k


def test_the_tiny_refiner_is_an_sdxl_refiner_checkpoint(refiner) -> None:
    path = refiner.paths[f"checkpoint-{REFINER}"]
    info = inspect(path)
    assert (info.kind, info.family, info.layout) == ("checkpoint", REFINER, "original")
    assert info.what == "SDXL refiner checkpoint"
    from safetensors import safe_open

    with safe_open(str(path), "np") as f:
        keys = list(f.keys())
    # Its one text encoder sits where the base keeps CLIP-L: embedder 0, in the OpenCLIP layout.
    assert any(k.startswith("conditioner.embedders.0.model.") for k in keys)
    assert not any(k.startswith("conditioner.embedders.1.") for k in keys)
    link = refiner.root / "checkpoints" / "sd_xl_refiner_1.0.safetensors"
    assert link in refiner.links and link.resolve() == path.resolve()


def test_loading_the_refiner_gives_openclip_g_alone(refiner, tmp_path: Path) -> None:
    from transformers import CLIPTextModelWithProjection

    mm = make_manager(refiner.root, tmp_path / "cache")
    unet, clip, vae = mm.load_checkpoint(refiner.paths[f"checkpoint-{REFINER}"])
    ref = refiner.reference[f"checkpoint-{REFINER}"]
    assert unet.family == clip.family == vae.family == REFINER
    _same(unet.unet, ref["unet"])
    _same(vae.vae, ref["vae"])
    (enc,) = clip.encoders
    assert isinstance(enc, CLIPTextModelWithProjection)
    _same(enc, ref["text_encoder_2"])
    (tok,) = clip.tokenizers
    assert tok.pad_token == "!"  # the base's second tokenizer
    assert unet.unet.config.cross_attention_dim == enc.config.hidden_size
    assert vae.vae.config.scaling_factor == pytest.approx(0.13025)


def _header_only_refiner(path: Path) -> Path:
    """The real refiner's tell-tale keys and shapes (no embedded configs), as zeros."""
    shapes = {
        "model.diffusion_model.input_blocks.0.0.weight": (384, 4, 3, 3),
        "model.diffusion_model.input_blocks.4.1.transformer_blocks.0.attn2.to_k.weight": (768, 1280),
        "model.diffusion_model.label_emb.0.0.weight": (1536, 2560),
        "conditioner.embedders.0.model.text_projection": (1280, 1280),
        "conditioner.embedders.0.model.ln_final.weight": (1280,),
        "first_stage_model.encoder.conv_in.weight": (128, 3, 3, 3),
    }
    save_file({k: np.zeros(s, np.float16) for k, s in shapes.items()}, str(path))
    return path


def test_a_real_layout_refiner_uses_the_shipped_refiner_configs(tmp_path: Path) -> None:
    from studio.diffusion.loaders import checkpoint_configs, vae_config

    info = inspect(_header_only_refiner(tmp_path / "sd_xl_refiner_1.0.safetensors"))
    assert info.family == REFINER and not info.configs
    cfg = checkpoint_configs(info)
    assert set(cfg) == {"unet", "vae", "scheduler", "text_encoder_2"}
    unet = cfg["unet"]
    assert unet["cross_attention_dim"] == cfg["text_encoder_2"]["hidden_size"] == 1280
    # time ids of 5 numbers (size, crop, aesthetic score) × 256 plus the pooled G embedding
    assert unet["projection_class_embeddings_input_dim"] == 5 * unet["addition_time_embed_dim"] + 1280 == 2560
    assert cfg["text_encoder_2"]["architectures"] == ["CLIPTextModelWithProjection"]
    assert vae_config(info)["scaling_factor"] == pytest.approx(0.13025)
    assert text_encoder_names(REFINER) == ("text_encoder_2",)


def test_the_shipped_refiner_unet_config_is_the_original_architecture() -> None:
    """diffusers' own translation of the refiner's original (sgm) UNet settings gives our config."""
    from diffusers.loaders.single_file_utils import create_unet_diffusers_config_from_ldm

    from studio.diffusion.loaders import CONFIGS

    sgm = {"model": {"params": {
        "network_config": {"params": {
            "adm_in_channels": 2560, "num_classes": "sequential", "in_channels": 4, "out_channels": 4,
            "model_channels": 384, "attention_resolutions": [4, 2], "num_res_blocks": 2, "channel_mult": [1, 2, 4, 4],
            "num_head_channels": 64, "use_linear_in_transformer": True, "transformer_depth": 4,
            "context_dim": [1280, 1280, 1280, 1280]}},
        "first_stage_config": {"params": {"ddconfig": {"ch_mult": [1, 2, 4, 4]}}}}}}
    expected = create_unet_diffusers_config_from_ldm(sgm, {}, image_size=1024)
    ours = json.loads((CONFIGS / REFINER / "unet/config.json").read_text())
    for key, value in expected.items():
        if key in ours:
            mine = ours[key]
            assert (list(mine) if isinstance(mine, list | tuple) else mine) == (
                list(value) if isinstance(value, list | tuple) else value), key
    for key in ("block_out_channels", "down_block_types", "up_block_types", "attention_head_dim",
                "transformer_layers_per_block", "cross_attention_dim", "projection_class_embeddings_input_dim",
                "addition_time_embed_dim", "use_linear_projection"):
        assert key in ours and key in expected, key


def test_a_refiner_folder_is_told_from_a_base_folder(tmp_path: Path) -> None:
    from studio.diffusion.loaders import CONFIGS

    for name, family in ((REFINER, REFINER), ("sdxl", "sdxl")):
        folder = tmp_path / name
        (folder / "unet").mkdir(parents=True)
        (folder / "model_index.json").write_text((CONFIGS / name / "model_index.json").read_text())
        (folder / "unet" / "config.json").write_text((CONFIGS / name / "unet/config.json").read_text())
        assert inspect(folder).family == family
    # A small refiner-shaped UNet (any context width) in a refiner pipeline folder is still the refiner.
    small = tmp_path / "small"
    (small / "unet").mkdir(parents=True)
    (small / "model_index.json").write_text(json.dumps({"_class_name": "StableDiffusionXLImg2ImgPipeline",
                                                        "text_encoder": [None, None],
                                                        "text_encoder_2": ["transformers", "X"]}))
    (small / "unet" / "config.json").write_text(json.dumps({"addition_embed_type": "text_time",
                                                            "cross_attention_dim": 32}))
    assert inspect(small).family == REFINER


def test_refiner_latents_are_sdxl_latents_but_nothing_else_mixes() -> None:
    assert latents_compatible("sdxl", REFINER) and latents_compatible(REFINER, "sdxl")
    assert not latents_compatible("sd15", REFINER) and not latents_compatible(REFINER, "sd2")
    assert can_connect(f"LATENT[{REFINER}]", "LATENT[sdxl]")
    assert can_connect("LATENT[sdxl]", f"LATENT[{REFINER}]")
    for kind in ("MODEL", "CLIP", "CONDITIONING"):
        assert not can_connect(f"{kind}[sdxl]", f"{kind}[{REFINER}]")
        assert not can_connect(f"{kind}[{REFINER}]", f"{kind}[sdxl]")
    # at one node's family variable: a refiner VAE may decode a base latent, a base prompt cannot meet it
    assert families_fit(PortType.parse(f"VAE[{REFINER}]"), PortType.parse("LATENT[sdxl]"))
    assert not families_fit(PortType.parse(f"MODEL[{REFINER}]"), PortType.parse("CONDITIONING[sdxl]"))


def test_a_base_to_refiner_graph_types_and_runs(refiner, tmp_path: Path, monkeypatch) -> None:
    """Base SDXL samples, the refiner takes its latent at denoise 0.4 with its own prompts (one through the
    refiner node with a low aesthetic score) and decodes with its own VAE; a base prompt cannot reach it."""
    from studio.app.run_services import ModelManagers, build_run_services
    from studio.core.executor import Executor
    from studio.core.graph import Graph, GraphError
    from studio.core.registry import default_registry
    from studio.core.settings import Settings

    monkeypatch.setenv("LATENT_STUDIO_MODELS", str(refiner.root))
    services = build_run_services(Settings(dtype="fp32", device="cpu"), ModelManagers(), output_dir=tmp_path / "out")
    g = Graph(default_registry())
    g.services = services  # port families come from the files' headers
    base = g.add_node("model.checkpoint", params={"checkpoint": "sd_xl_base_1.0.safetensors"})
    ref = g.add_node("model.checkpoint", params={"checkpoint": "sd_xl_refiner_1.0.safetensors"})
    bpos = g.add_node("text.encode", params={"text": "a red house"})
    bneg = g.add_node("text.encode", params={"text": "blurry"})
    rpos = g.add_node("text.encode", params={"text": "a red house"})
    rneg = g.add_node("text.encode_refiner", params={"text": "blurry", "ascore": 2.5, "width": 0, "height": 0})
    lat = g.add_node("latent.empty", params={"width": 64, "height": 64})
    s1 = g.add_node("sample.sampler", params={"seed": 1, "steps": 2, "cfg": 5.0})
    s2 = g.add_node("sample.sampler", params={"seed": 2, "steps": 5, "cfg": 5.0, "denoise": 0.4})
    dec = g.add_node("latent.vae_decode")
    save = g.add_node("image.save", params={"prefix": "refined"})
    for a, ap, b, bp in [(base, "clip", bpos, "clip"), (base, "clip", bneg, "clip"), (base, "model", s1, "model"),
                         (bpos, "conditioning", s1, "positive"), (bneg, "conditioning", s1, "negative"),
                         (lat, "latent", s1, "latent"), (ref, "clip", rpos, "clip"), (ref, "clip", rneg, "clip"),
                         (ref, "model", s2, "model"), (rpos, "conditioning", s2, "positive"),
                         (rneg, "conditioning", s2, "negative"), (s1, "latent", s2, "latent"),
                         (ref, "vae", dec, "vae"), (s2, "latent", dec, "latent"), (dec, "image", save, "images")]:
        g.connect(a.id, ap, b.id, bp)
    summary = Executor().run(g.snapshot(), services=services)
    assert summary.ok, summary.failed
    assert len(summary.outputs) == 1
    assert str(g.output_type(s2.id, "latent")) == f"LATENT[{REFINER}]"
    with pytest.raises(GraphError, match=r"CONDITIONING\[sdxl\]"):
        g.connect(bpos.id, "conditioning", s2.id, "positive", replace=True)
    with pytest.raises(GraphError, match=r"CLIP\[sdxl\]"):
        g.connect(base.id, "clip", rneg.id, "clip", replace=True)
