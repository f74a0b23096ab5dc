"""Build diffusers / transformers models from weights files, with configs passed explicitly.

Key conversion from the original (LDM / OpenCLIP) layout is diffusers' own
(``diffusers.loaders.single_file_utils``). The glue is ours rather than ``from_single_file``
because (1) that leaves weights a file lacks on the meta device without a word, while we name the
file and the missing part; (2) configs here are dicts — shipped, embedded in a test model, or
adjusted from the file (inpainting in_channels, an SDXL ControlNet's depth) — not only folders.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable
from contextlib import ExitStack, suppress
from functools import lru_cache
from pathlib import Path
from typing import Any

import torch

from studio.core.settings import resources_dir

from .errors import ModelError
from .families import ModelInfo, text_encoder_names
from .model_sampling import checkpoint_sampling

Progress = Callable[[float, str], None]
CONFIGS = resources_dir() / "configs"


# --- configs ----------------------------------------------------------------------------------------


def _json(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8"))


def checkpoint_configs(info: ModelInfo) -> dict[str, dict[str, Any]]:
    """unet, vae, scheduler and text encoder configs for a checkpoint: text_encoder (SD 1/2),
    text_encoder + text_encoder_2 (SDXL) or text_encoder_2 alone (the SDXL refiner's OpenCLIP-G)."""
    encoders = text_encoder_names(str(info.family))
    if info.configs:
        cfg = {k: dict(v) for k, v in info.configs.items()}
    else:
        base = CONFIGS / str(info.family)
        cfg = {"unet": _json(base / "unet/config.json"), "vae": _json(base / "vae/config.json"),
               "scheduler": _json(base / "scheduler/scheduler_config.json")}
        cfg.update({sub: _json(base / sub / "config.json") for sub in encoders})
    missing = {"unet", "vae", "scheduler", *encoders} - cfg.keys()
    if missing:
        raise ModelError(f"{info.path.name}: its embedded configuration lacks {', '.join(sorted(missing))}")
    cfg["unet"]["in_channels"] = info.in_channels
    cfg["scheduler"]["prediction_type"] = info.prediction
    # v-prediction / zero-terminal-SNR markers in the file's metadata, tensors or name.
    cfg["scheduler"].update(checkpoint_sampling(info.path))
    return cfg


def vae_config(info: ModelInfo) -> dict[str, Any]:
    if "vae" in info.configs:
        return dict(info.configs["vae"])
    xl = info.family in ("sdxl", "sdxl_refiner")  # one VAE for both
    return _json(CONFIGS / ("sdxl" if xl else "sd15") / "vae/config.json")


def controlnet_config(info: ModelInfo) -> dict[str, Any]:
    if "controlnet" in info.configs:
        return dict(info.configs["controlnet"])
    return _json(CONFIGS / "controlnet" / str(info.family) / "config.json")


def fit_controlnet_config(cfg: dict[str, Any], weights: dict[str, Any]) -> dict[str, Any]:
    """Read the cross-attention depth of each level from diffusers-layout keys: smaller SDXL
    ControlNets drop or thin out transformer blocks."""
    n = len(cfg["down_block_types"])
    depth = [0] * n
    for k in weights:
        m = re.match(r"down_blocks\.(\d+)\.attentions\.0\.transformer_blocks\.(\d+)\.", k)
        if m and int(m.group(1)) < n:
            depth[int(m.group(1))] = max(depth[int(m.group(1))], int(m.group(2)) + 1)
    cfg = dict(cfg)
    cfg["down_block_types"] = ["CrossAttnDownBlock2D" if d else "DownBlock2D" for d in depth]
    cfg["transformer_layers_per_block"] = [d or 1 for d in depth]
    if not any(k.startswith("mid_block.attentions.") for k in weights):
        cfg["mid_block_type"] = "UNetMidBlock2D"
    return cfg


# --- building models --------------------------------------------------------------------------------


# Both contexts below patch process-wide state (``torch.nn.Module.register_parameter``, ``torch.nn.init``)
# and restore what they found on exit: two threads building at once could restore each other's patch
# and leave initialisation switched off for the rest of the process. One build at a time.
_BUILD_LOCK = threading.RLock()


def _empty_weights() -> Any:
    """Build without allocating or initialising weights: every one is replaced right after. Skipping
    the initialisers (on meta tensors too) saves about half of a warm checkpoint load."""
    stack = ExitStack()
    stack.enter_context(_BUILD_LOCK)
    with suppress(ImportError):  # accelerate is optional: then the model is built with real (discarded) weights
        from accelerate import init_empty_weights

        stack.enter_context(init_empty_weights())
    with suppress(ImportError):
        from transformers.initialization import no_init_weights

        stack.enter_context(no_init_weights())
    return stack


def build(make: Callable[[], Any], weights: dict[str, Any], *, dtype: torch.dtype, device: torch.device,
          what: str) -> Any:
    """Instantiate a model without allocating its weights, then adopt ``weights`` (tensors are
    assigned, not copied, so memory-mapped ones stay mapped until the dtype/device move)."""
    with _empty_weights():
        model = make()
    expected = model.state_dict()
    missing = [k for k in expected if k not in weights]
    if missing:
        raise ModelError(f"{what}: {len(missing)} of {len(expected)} weights are missing (e.g. {missing[0]})")
    for k, v in expected.items():
        if tuple(weights[k].shape) != tuple(v.shape):
            raise ModelError(f"{what}: weight {k} has shape {tuple(weights[k].shape)}, "
                             f"the model expects {tuple(v.shape)}")
    model.load_state_dict({k: weights[k] for k in expected}, strict=True, assign=True)
    # torch's own ``to``: diffusers' override warns about fp32-kept modules even when there are none
    torch.nn.Module.to(model, device=device, dtype=dtype)
    if device.type == "cpu" and dtype == torch.bfloat16 and _has_convolutions(model):
        # oneDNN's bf16 convolutions often prefer NHWC; for the UNet and ControlNets a probe on the
        # machine at hand decides afterwards (``studio.diffusion.speed``).
        model.to(memory_format=torch.channels_last)
    model.eval()
    model.requires_grad_(False)
    return model


def _has_convolutions(model: Any) -> bool:
    return any(isinstance(m, torch.nn.Conv2d) for m in model.modules())


def cast(weights: dict[str, Any], dtype: torch.dtype) -> dict[str, Any]:
    return {k: v.to(dtype) if v.is_floating_point() else v for k, v in weights.items()}


# --- key conversion (original layout → diffusers), all diffusers' own code --------------------------


def convert_unet(ckpt: dict[str, Any], config: dict[str, Any]) -> dict[str, Any]:
    from diffusers.loaders.single_file_utils import convert_ldm_unet_checkpoint

    return convert_ldm_unet_checkpoint(ckpt, config)


def convert_vae(ckpt: dict[str, Any], config: dict[str, Any]) -> dict[str, Any]:
    from diffusers.loaders.single_file_utils import convert_ldm_vae_checkpoint

    if not any(k.startswith(("first_stage_model.", "vae.")) for k in ckpt):
        # a standalone VAE file: bare keys, which the converter finds with an empty prefix
        ckpt = {"first_stage_model." + k: v for k, v in ckpt.items()}
    return convert_ldm_vae_checkpoint(ckpt, config)


def convert_controlnet(ckpt: dict[str, Any], config: dict[str, Any]) -> dict[str, Any]:
    from diffusers.loaders.single_file_utils import convert_controlnet_checkpoint

    out = convert_controlnet_checkpoint(ckpt, config)
    # SDXL's added time/text embedding is not in diffusers' ControlNet table (only in its UNet one)
    prefix = "control_model." if any(k.startswith("control_model.") for k in ckpt) else ""
    for i, j in ((1, 0), (2, 2)):
        for p in ("weight", "bias"):
            src = f"{prefix}label_emb.0.{j}.{p}"
            if src in ckpt:
                out[f"add_embedding.linear_{i}.{p}"] = ckpt[src]
    return {k: v for k, v in out.items() if v is not None}


def convert_clip(ckpt: dict[str, Any], prefix: str, *, wrapped: bool) -> dict[str, Any]:
    """HF-layout CLIP weights under ``prefix``. ``text_model.`` is added or dropped to suit the model:
    transformers 5 saves ``CLIPTextModel`` without it, older files and ``...WithProjection`` have it."""
    out = {}
    for k, v in ckpt.items():
        if k.startswith(prefix) and not k.endswith("position_ids"):
            out[k[len(prefix):]] = v
    return fix_text_model_prefix(out, wrapped=wrapped)


def convert_open_clip(ckpt: dict[str, Any], prefix: str, hidden: int, *, wrapped: bool) -> dict[str, Any]:
    from diffusers.loaders.single_file_utils import convert_open_clip_checkpoint

    class _Cfg:  # the converter only reads config.hidden_size, and only without a text_projection
        config = type("C", (), {"hidden_size": hidden})()

    out = convert_open_clip_checkpoint(_Cfg(), ckpt, prefix=prefix)
    return fix_text_model_prefix(out, wrapped=wrapped)


def fix_text_model_prefix(weights: dict[str, Any], *, wrapped: bool) -> dict[str, Any]:
    out = {}
    for k, v in weights.items():
        bare = k.removeprefix("text_model.")
        if bare == "text_projection.weight":
            out[bare] = v
        else:
            out["text_model." + bare if wrapped else bare] = v
    return out


def clip_class(config: dict[str, Any]) -> type:
    from transformers import CLIPTextModel, CLIPTextModelWithProjection

    archs = config.get("architectures") or ["CLIPTextModel"]
    return CLIPTextModelWithProjection if "CLIPTextModelWithProjection" in archs else CLIPTextModel


def make_clip(config: dict[str, Any]) -> tuple[Callable[[], Any], bool]:
    """A constructor for the text encoder described by ``config`` and whether it wraps ``text_model``."""
    from transformers import CLIPTextConfig

    cls = clip_class(config)
    cfg = CLIPTextConfig.from_dict({k: v for k, v in config.items() if not k.startswith("_")})
    return (lambda: cls(cfg)), clip_layout_probe(cls)


@lru_cache(maxsize=4)
def clip_layout_probe(cls: type) -> bool:
    """transformers 5.6+ flattened ``CLIPTextModel`` (no ``text_model.``); ``...WithProjection`` kept it."""
    from transformers import CLIPTextConfig

    with _empty_weights():
        probe = cls(CLIPTextConfig(hidden_size=8, intermediate_size=8, num_hidden_layers=1, num_attention_heads=1,
                                   max_position_embeddings=4))
    return hasattr(probe, "text_model")
