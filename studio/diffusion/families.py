"""Tell what a model file or folder is (checkpoint, VAE, ControlNet, TAESD) and its family.

Reads only safetensors headers and diffusers ``config.json`` files — never torch — so the graph can
type ports (``MODEL[sdxl]``) and list model folders without loading anything.

Rules (from the state-dict key names and a few shapes):
- checkpoints in the original layout: ``conditioner.embedders.1.model.*`` (CLIP-L + OpenCLIP-G) → sdxl,
  ``conditioner.embedders.0.model.*`` alone (OpenCLIP-G, the refiner) → sdxl_refiner, ``cond_stage_model.model.*``
  (OpenCLIP-H) → sd2, ``cond_stage_model.transformer.*`` (CLIP-L) → sd15;
- ControlNets (``control_model.*``, bare ``input_hint_block``/``zero_convs`` keys, or diffusers'
  ``controlnet_cond_embedding.*``): family from the cross-attention context width, 768 / 1024 / 2048;
- T2I-Adapters (TencentARC's ``conv_in``/``body.K`` or diffusers' ``adapter.*``): config and family inferred
  from the shapes by ``t2i_adapter_detect`` (pixel unshuffle 16 → sdxl, 8 → sd15); they live in the
  ControlNet folders, so ``expect="controlnet"`` accepts them too;
- diffusers folders: ``model_index.json`` or a ``config.json`` naming the model class; an SDXL folder
  without a first text encoder (or with ``requires_aesthetics_score``) is the refiner.
Files that carry their own diffusers configs in the safetensors metadata (``latent_studio.configs``,
written by ``bench.make_models`` for the small test models) also name their family there
(``latent_studio.family``); everything else uses the shipped configs in ``resources/configs``.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field, replace
from functools import lru_cache
from pathlib import Path
from typing import Any

from . import t2i_adapter_detect as t2i
from .errors import ModelError
from .safetensors_header import Header, TensorInfo, open_regular, read_header

FAMILY_NAMES = {"sd15": "Stable Diffusion 1.5", "sd2": "Stable Diffusion 2.x", "sdxl": "SDXL",
                "sdxl_refiner": "SDXL refiner"}
CONTEXT_DIMS = {768: "sd15", 1024: "sd2", 2048: "sdxl", 1280: "sdxl_refiner"}
KIND_NAMES = {"checkpoint": "checkpoint", "vae": "VAE", "controlnet": "ControlNet", "taesd": "TAESD decoder",
              t2i.KIND: "T2I-Adapter"}
META_CONFIGS = "latent_studio.configs"
META_FAMILY = "latent_studio.family"
WEIGHT_SUFFIXES = (".safetensors", ".ckpt", ".pt", ".pth", ".bin")
PICKLE_SUFFIXES = (".ckpt", ".pt", ".pth", ".bin")

UNET = "model.diffusion_model."
SD15_TE = "cond_stage_model.transformer."
SD2_TE = "cond_stage_model.model."
SDXL_TE = "conditioner.embedders."


# The diffusers component names of each family's text encoders, in the order they are encoded.
TEXT_ENCODERS = {"sdxl": ("text_encoder", "text_encoder_2"), "sdxl_refiner": ("text_encoder_2",)}


def text_encoder_names(family: str) -> tuple[str, ...]:
    return TEXT_ENCODERS.get(family, ("text_encoder",))


@dataclass(frozen=True)
class ModelInfo:
    path: Path
    kind: str  # checkpoint | vae | controlnet | taesd | t2i_adapter
    family: str | None  # sd15 | sd2 | sdxl | sdxl_refiner; None where the file does not say (a plain SD VAE)
    layout: str  # original | diffusers | folder
    prediction: str = "epsilon"  # epsilon | v_prediction (checkpoints)
    in_channels: int = 4  # 9 for inpainting checkpoints
    configs: dict[str, Any] = field(default_factory=dict)  # embedded diffusers configs, by component

    @property
    def what(self) -> str:
        fam = FAMILY_NAMES.get(self.family or "", "")
        return f"{fam} {KIND_NAMES[self.kind]}".strip()


def not_sd(name: str, reason: str) -> ModelError:
    return ModelError(f"{name} is not a Stable Diffusion 1.5, 2.x or SDXL checkpoint: {reason}")


def inspect(path: str | Path, expect: str | None = None) -> ModelInfo:
    """Identify a model file or diffusers folder; with ``expect``, refuse any other kind."""
    path = Path(path)
    if path.is_dir():
        info = _inspect_folder(path)
    elif path.suffix.lower() in PICKLE_SUFFIXES:
        info = _inspect_pickle_name(path, expect)
    else:
        info = _inspect_header(read_header(path))
    # T2I-Adapters share the ControlNet folders, loader and wires.
    if expect and info.kind != expect and not (expect == "controlnet" and info.kind == t2i.KIND):
        raise ModelError(f"{path.name} is a {info.what}, not a {KIND_NAMES.get(expect, expect)}")
    return info


def inspect_shapes(path: str | Path, shapes: dict[str, tuple[int, ...]]) -> ModelInfo:
    """Identify already-loaded weights (a pickle checkpoint) from their names and shapes."""
    path = Path(path)
    tensors = {k: TensorInfo("", tuple(v)) for k, v in shapes.items()}
    info = _inspect_header(Header(path, tensors, {}, 0))
    return replace(info, layout="original" if info.layout == "pickle" else info.layout)


def family_of(path: str | Path, expect: str | None = None) -> str | None:
    """The family of a model file, or None when it cannot be told (never raises). Remembered per
    (path, size, mtime): port typing asks often."""
    try:
        st = Path(path).stat()
        return _family_of(str(path), st.st_size, st.st_mtime_ns, expect)
    except OSError:
        return None


@lru_cache(maxsize=256)
def _family_of(path: str, size: int, mtime_ns: int, expect: str | None) -> str | None:
    try:
        return inspect(path, expect).family
    except (ModelError, OSError, ValueError, RecursionError):
        return None


# --- safetensors files ----------------------------------------------------------------------------


def _inspect_header(h: Header) -> ModelInfo:
    keys = h.tensors
    name = h.path.name
    configs = _embedded_configs(h)
    meta_family = h.metadata.get(META_FAMILY) if configs else None

    if any(k.startswith(UNET) for k in keys):
        return _checkpoint(h, configs, meta_family)
    if any(k.startswith(("control_model.", "controlnet_cond_embedding.", "input_hint_block.")) for k in keys):
        return _controlnet(h, configs, meta_family)
    if t2i.is_adapter_keys(keys):
        return _t2i_adapter(h, configs, meta_family)
    vae = _vae_layout(keys)
    if vae:
        family = _taesd_family(h) if vae == "taesd" else (meta_family or _hinted_family(h))
        return ModelInfo(h.path, "taesd" if vae == "taesd" else "vae", family if family != "sd2" else None,
                         vae, configs=configs)
    raise not_sd(name, _guess_other(keys))


def _checkpoint(h: Header, configs: dict[str, Any], meta_family: str | None) -> ModelInfo:
    keys, name = h.tensors, h.path.name
    if any(k.startswith(SDXL_TE + "1.model.") for k in keys):
        family = "sdxl"
    elif any(k.startswith(SDXL_TE + "0.model.") for k in keys):
        family = "sdxl_refiner"  # OpenCLIP-G is its only text encoder
    elif any(k.startswith(SD2_TE) for k in keys):
        family = "sd2"
    elif any(k.startswith(SD15_TE) for k in keys):
        family = "sd15"
    else:
        raise not_sd(name, "it has a UNet but no CLIP text encoder it knows")
    dim = _context_dim(h, UNET)
    if dim in CONTEXT_DIMS and CONTEXT_DIMS[dim] != family and not configs:
        raise not_sd(name, f"its text encoder says {family} but its UNet's context width is {dim}")
    conv_in = h.shape(UNET + "input_blocks.0.0.weight")
    first_stage = any(k.startswith("first_stage_model.") for k in keys)
    if not first_stage:
        raise not_sd(name, "it has no VAE weights (first_stage_model.*)")
    return ModelInfo(h.path, "checkpoint", meta_family or family, "original", _prediction(h, family),
                     conv_in[1] if conv_in and len(conv_in) == 4 else 4, configs)


def _controlnet(h: Header, configs: dict[str, Any], meta_family: str | None) -> ModelInfo:
    keys, name = h.tensors, h.path.name
    diffusers = any(k.startswith("controlnet_cond_embedding.") for k in keys)
    prefix = "" if diffusers or not any(k.startswith("control_model.") for k in keys) else "control_model."
    if not diffusers and not any(k.startswith(prefix + "zero_convs.") for k in keys):
        raise ModelError(f"{name} is not a ControlNet: it has a hint block but no zero convolutions")
    family = meta_family or CONTEXT_DIMS.get(_context_dim(h, prefix) or 0)
    if family is None:
        xl = any(k.startswith(prefix + ("add_embedding." if diffusers else "label_emb.")) for k in keys)
        family = "sdxl" if xl else None
    if family is None:
        raise ModelError(f"{name}: cannot tell which model family this ControlNet is for "
                         f"(context width {_context_dim(h, prefix)})")
    return ModelInfo(h.path, "controlnet", family, "diffusers" if diffusers else "original", configs=configs)


def _t2i_adapter(h: Header, configs: dict[str, Any], meta_family: str | None) -> ModelInfo:
    """Family and diffusers config inferred from the shapes (see ``t2i_adapter_detect``)."""
    cfg = configs.get(t2i.KIND) or t2i.adapter_config(h.path.name, {k: v.shape for k, v in h.tensors.items()})
    return ModelInfo(h.path, t2i.KIND, meta_family or t2i.family_of_config(cfg), t2i.layout_of(h.tensors),
                     configs={**configs, t2i.KIND: cfg})


def _context_dim(h: Header, prefix: str) -> int | None:
    """Width of the text embeddings the cross-attention reads (the second dim of any attn2.to_k)."""
    for key, info in h.tensors.items():
        if key.startswith(prefix) and key.endswith("attn2.to_k.weight") and len(info.shape) == 2:
            return info.shape[1]
    return None


def _vae_layout(keys: dict[str, Any]) -> str | None:
    stripped = {k.removeprefix("first_stage_model.").removeprefix("vae.") for k in keys}
    if "encoder.conv_in.weight" in stripped or "decoder.conv_in.weight" in stripped:
        if any(k.startswith(("encoder.down_blocks.", "decoder.up_blocks.")) for k in stripped):
            return "diffusers"
        if any(k.startswith(("encoder.down.", "decoder.up.")) for k in stripped):
            return "original"
    if any(k.startswith(("decoder.layers.", "encoder.layers.")) for k in stripped):
        return "taesd"
    return None


def _hinted_family(h: Header) -> str | None:
    """A standalone VAE says nothing about its family in its weights; SDXL's differs only in scale.
    Trust the modelspec metadata or an "xl" in the file name."""
    arch = h.metadata.get("modelspec.architecture", "").lower()
    if "xl" in arch or re.search(r"(^|[^a-z])(sd)?xl", h.path.name.lower()):
        return "sdxl"
    return None


def _taesd_family(h: Header) -> str | None:
    return "sdxl" if "xl" in h.path.name.lower() else None


def _prediction(h: Header, family: str) -> str:
    meta = {k: v.lower() for k, v in h.metadata.items() if k.startswith("modelspec.")}
    if meta.get("modelspec.prediction_type") in ("v", "v_prediction"):
        return "v_prediction"
    if meta.get("modelspec.prediction_type") in ("epsilon", "eps"):
        return "epsilon"
    if family == "sd2":
        # SD 2.x 768 models predict v; the 512 "base" ones predict noise. The weights do not tell.
        arch = meta.get("modelspec.architecture", "")
        base = "base" in h.path.name.lower() or arch.endswith("-base") or "512" in arch
        return "epsilon" if base else "v_prediction"
    return "epsilon"


def _embedded_configs(h: Header) -> dict[str, Any]:
    raw = h.metadata.get(META_CONFIGS)
    if not raw:
        return {}
    try:
        cfg = json.loads(raw)
    except (ValueError, RecursionError):
        raise ModelError(f"{h.path.name}: its embedded model configuration is not valid JSON") from None
    if not isinstance(cfg, dict) or not all(isinstance(v, dict) for v in cfg.values()):
        raise ModelError(f"{h.path.name}: its embedded model configuration is malformed")
    return cfg


def _guess_other(keys: dict[str, Any]) -> str:
    from .upscale_models import looks_like_upscale

    ks = list(keys)
    if looks_like_upscale(keys):
        return "it looks like an upscale model (load it with Load Upscale Model)"
    if any("lora_" in k or ".lora_A." in k or ".lora_down." in k for k in ks[:2000]):
        return "it looks like a LoRA"
    if any(k.startswith(("joint_blocks.", "model.diffusion_model.joint_blocks.")) for k in ks):
        return "it looks like a Stable Diffusion 3 model"
    if any(k.startswith(("double_blocks.", "single_blocks.")) for k in ks):
        return "it looks like a Flux model"
    if any(k.startswith(("adapter.", "body.0.")) for k in ks):
        return "it looks like a T2I-Adapter"
    if any(k.startswith(("image_proj.", "ip_adapter.")) for k in ks):
        return "it looks like an IP-Adapter (load it with Load IP-Adapter)"
    if any(k.startswith("vision_model.") for k in ks):
        return "it looks like a CLIP vision encoder (load it with Load CLIP Vision)"
    if len(ks) <= 4 and any(k in ("emb_params", "clip_l", "clip_g", "string_to_param") for k in ks):
        return "it looks like a textual-inversion embedding"
    if not ks:
        return "it holds no tensors"
    return f"no known weights (first key: {ks[0]})"


def _inspect_pickle_name(path: Path, expect: str | None) -> ModelInfo:
    """A pickle cannot be read without unpickling; only its existence is checked here."""
    if not path.is_file():
        raise ModelError(f"model file not found: {path}")
    return ModelInfo(path, expect or "checkpoint", None, "pickle")


# --- diffusers folders ----------------------------------------------------------------------------


MAX_CONFIG_BYTES = 4 * 1024 * 1024  # diffusers configs are a few KB


def _read_json(path: Path) -> dict[str, Any]:
    """A small JSON config of a model folder; a FIFO, device, huge or deeply nested file is refused."""
    if not path.exists():
        raise ModelError(f"{path.parent.name}: {path.name} is missing")
    fd, st = open_regular(path)
    try:
        with os.fdopen(fd, "rb") as f:
            if st.st_size > MAX_CONFIG_BYTES:
                raise ModelError(f"{path}: too large for a model configuration ({st.st_size} bytes)")
            raw = f.read(MAX_CONFIG_BYTES + 1)
        data = json.loads(raw.decode("utf-8"))
    except (OSError, ValueError, RecursionError) as exc:
        raise ModelError(f"{path}: not a readable JSON file ({type(exc).__name__})") from None
    if not isinstance(data, dict):
        raise ModelError(f"{path}: not a JSON object")
    return data


def family_from_unet_config(cfg: dict[str, Any]) -> str | None:
    if cfg.get("addition_embed_type") == "text_time":
        # The refiner reads OpenCLIP-G alone (1280 wide), the base CLIP-L + G (2048).
        return "sdxl_refiner" if cfg.get("cross_attention_dim") == 1280 else "sdxl"
    dim = cfg.get("cross_attention_dim")
    return CONTEXT_DIMS.get(dim) if isinstance(dim, int) else None


def _refiner_index(index: dict[str, Any]) -> bool:
    """The refiner's pipeline has no first text encoder (``[null, null]``) and wants aesthetic scores."""
    te = index.get("text_encoder")
    no_first = te is None or (isinstance(te, list) and not any(te))
    return bool(index.get("requires_aesthetics_score")) or (no_first and "text_encoder_2" in index)


def _inspect_folder(path: Path) -> ModelInfo:
    name = path.name
    if (path / "model_index.json").is_file():
        index = _read_json(path / "model_index.json")
        unet = _read_json(path / "unet" / "config.json")
        family = family_from_unet_config(unet)
        if family is None and "XL" in str(index.get("_class_name", "")):
            family = "sdxl"
        if family == "sdxl" and _refiner_index(index):
            family = "sdxl_refiner"
        if family is None:
            raise not_sd(name, f"its UNet has context width {unet.get('cross_attention_dim')}")
        sched = path / "scheduler" / "scheduler_config.json"
        pred = _read_json(sched).get("prediction_type", "epsilon") if sched.is_file() else "epsilon"
        return ModelInfo(path, "checkpoint", family, "folder", str(pred), int(unet.get("in_channels", 4)))
    if (path / "config.json").is_file():
        cfg = _read_json(path / "config.json")
        cls = cfg.get("_class_name")
        if cls == "ControlNetModel":
            family = family_from_unet_config(cfg)
            if family is None:
                raise ModelError(f"{name}: cannot tell which model family this ControlNet is for")
            return ModelInfo(path, "controlnet", family, "folder")
        if cls == "T2IAdapter":
            return ModelInfo(path, t2i.KIND, t2i.family_of_config(cfg), "folder", configs={t2i.KIND: cfg})
        if cls == "AutoencoderKL":
            return ModelInfo(path, "vae", "sdxl" if "xl" in name.lower() else None, "folder")
        if cls == "AutoencoderTiny":
            return ModelInfo(path, "taesd", "sdxl" if "xl" in name.lower() else None, "folder")
        raise not_sd(name, f"its config.json describes a {cls or 'model of unknown class'}")
    raise not_sd(name, "the folder has neither model_index.json nor config.json")
