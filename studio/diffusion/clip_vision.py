"""CLIP vision encoders (image → embeddings), for image prompts (IP-Adapter).

Two on-disk forms are read, both in the transformers ``CLIPVisionModelWithProjection`` key layout
(``vision_model.…`` and ``visual_projection.weight``):

- a model folder: ``config.json`` (a ``CLIPVisionConfig``, or a full ``CLIPConfig`` whose
  ``vision_config`` is used) and ``model.safetensors`` (``pytorch_model.bin`` only where pickles are
  allowed);
- a single ``.safetensors`` file, as ComfyUI keeps them in ``models/clip_vision`` (for example
  ``CLIP-ViT-H-14-laion2B-s32B-b79K.safetensors``). Its configuration is read from the shapes:
  width, depth, MLP width, patch size, image size and projection width; the head count and activation
  are those of the known encoders (ViT-H/14: 16 heads of 80, GELU; ViT-bigG/14: 16 heads of 104,
  GELU; ViT-L/14 from OpenAI: 16 heads of 64, quick-GELU; ViT-B: 12 heads of 64, quick-GELU), else
  heads of 64 channels. A file may also carry its configuration in its metadata
  (``latent_studio.configs`` → ``{"clip_vision": {...}}``, as the small test models do).

Preprocessing is transformers' ``CLIPImageProcessor`` built here with the encoder's image size (what
diffusers' ``load_ip_adapter`` builds): shortest side resized to the image size (bicubic), centre crop,
CLIP mean/std normalisation; with ``crop="none"`` the whole image is first stretched to a square.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .errors import ModelError

Progress = Callable[[float, str], None]
PREFIX = "vision_model."
PROJECTION = "visual_projection.weight"
META_CONFIGS = "latent_studio.configs"
CROPS = ("center", "none")
# Heads and activation of the released encoders, by width (the weights do not say).
_KNOWN = {768: (12, "quick_gelu"), 1024: (16, "quick_gelu"), 1280: (16, "gelu"), 1664: (16, "gelu")}


@dataclass(frozen=True, eq=False)
class ClipVisionModel:
    """CLIP_VISION: a ``CLIPVisionModelWithProjection`` and the size its images are preprocessed to."""

    model: Any
    image_size: int
    source: str = ""

    @property
    def hidden_size(self) -> int:
        return int(self.model.config.hidden_size)

    @property
    def projection_dim(self) -> int:
        return int(self.model.config.projection_dim)

    def processor(self) -> Any:
        return make_processor(self.image_size)

    def __cache_size__(self) -> int:
        return 64  # owned by the model manager


@dataclass(frozen=True, eq=False)
class ClipVisionOutput:
    """CLIP_VISION_OUTPUT of a batch of n images (float32, CPU): ``image_embeds`` (n, projection dim),
    ``penultimate_hidden_states`` (n, tokens, width) — the second-to-last layer's hidden states, which
    IP-Adapter Plus reads — and ``last_hidden_state`` (n, tokens, width)."""

    image_embeds: Any
    penultimate_hidden_states: Any
    last_hidden_state: Any

    def __cache_size__(self) -> int:
        return sum(t.numel() * t.element_size()
                   for t in (self.image_embeds, self.penultimate_hidden_states, self.last_hidden_state))


# --- configuration ------------------------------------------------------------------------------


def config_from_shapes(shapes: dict[str, tuple[int, ...]], name: str = "") -> dict[str, Any]:
    """A ``CLIPVisionConfig`` dict for weights of these shapes (transformers key layout)."""
    what = name or "this file"
    patch = shapes.get(PREFIX + "embeddings.patch_embedding.weight")
    positions = shapes.get(PREFIX + "embeddings.position_embedding.weight")
    projection = shapes.get(PROJECTION)
    fc1 = shapes.get(PREFIX + "encoder.layers.0.mlp.fc1.weight")
    if patch is None or positions is None or fc1 is None:
        if any(k.startswith(("visual.", "model.visual.")) for k in shapes):
            raise ModelError(f"{what} is an OpenCLIP-layout image encoder; use its transformers version "
                             "(keys vision_model.… and visual_projection.weight)")
        raise ModelError(f"{what} is not a CLIP vision encoder (no vision_model.embeddings / encoder weights)")
    if projection is None:
        raise ModelError(f"{what} is a CLIP vision encoder without its projection (visual_projection.weight); "
                         "IP-Adapters need CLIPVisionModelWithProjection weights")
    hidden, patch_size = patch[0], patch[-1]
    side = round((positions[0] - 1) ** 0.5)
    if side * side != positions[0] - 1:
        raise ModelError(f"{what}: {positions[0]} position embeddings do not make a square grid of patches")
    layers = 1 + max(int(m.group(1)) for k in shapes if (m := re.match(re.escape(PREFIX) + r"encoder\.layers\.(\d+)\.", k)))
    heads, act = _KNOWN.get(hidden, (max(1, hidden // 64), "gelu"))
    if hidden == 1024 and patch_size != 14:
        act = "gelu"  # only OpenAI's ViT-L/14 uses quick-GELU at this width
    return {"hidden_size": hidden, "intermediate_size": fc1[0], "num_hidden_layers": layers,
            "num_attention_heads": heads, "image_size": side * patch_size, "patch_size": patch_size,
            "projection_dim": projection[0], "hidden_act": act, "layer_norm_eps": 1e-5, "num_channels": patch[1]}


def _folder_config(path: Path) -> dict[str, Any]:
    from .families import _read_json

    cfg = _read_json(path / "config.json")
    if isinstance(cfg.get("vision_config"), dict):  # a full CLIPConfig
        vision = dict(cfg["vision_config"])
        vision.setdefault("projection_dim", cfg.get("projection_dim", 512))
        cfg = vision
    return {k: v for k, v in cfg.items() if not k.startswith("_") and k not in ("architectures", "transformers_version")}


def _embedded_config(path: Path) -> dict[str, Any] | None:
    from .safetensors_header import read_header

    raw = read_header(path).metadata.get(META_CONFIGS)
    if not raw:
        return None
    try:
        cfg = json.loads(raw).get("clip_vision")
    except (ValueError, AttributeError, RecursionError):
        return None
    return dict(cfg) if isinstance(cfg, dict) else None


# --- loading -----------------------------------------------------------------------------------------


def load_clip_vision(path: Path, *, device: Any, dtype: Any, allow_ckpt: bool = False,
                     progress: Progress | None = None) -> ClipVisionModel:
    """Build the encoder from a model folder or a single file (see the module docstring)."""
    from transformers import CLIPVisionConfig, CLIPVisionModelWithProjection

    from . import loaders as L
    from .weights import read_weights, shapes_of

    report = progress or (lambda fraction, text: None)
    if path.is_dir():
        cfg = _folder_config(path)
        weights = read_weights(_folder_weights(path, allow_ckpt), allow_ckpt=allow_ckpt)
    else:
        weights = read_weights(path, allow_ckpt=allow_ckpt)
        cfg = (_embedded_config(path) if path.suffix.lower() == ".safetensors" else None) or config_from_shapes(
            shapes_of(weights), path.name)
    # Full CLIP files (text and vision) hold more than the vision tower: keep what the model has.
    weights = {k: v for k, v in weights.items() if k.startswith(PREFIX) or k == PROJECTION}
    report(0.5, f"{path.name}: building CLIP vision encoder")
    try:
        config = CLIPVisionConfig(**cfg)
    except (TypeError, ValueError) as exc:
        raise ModelError(f"{path.name}: not a usable CLIP vision configuration ({exc})") from None
    model = L.build(lambda: CLIPVisionModelWithProjection(config), weights, dtype=dtype, device=device,
                    what=f"{path.name} (CLIP vision)")
    return ClipVisionModel(model, int(cfg.get("image_size", 224)), str(path))


def _folder_weights(path: Path, allow_ckpt: bool) -> Path:
    for name in ("model.safetensors", "pytorch_model.bin"):
        if (path / name).is_file():
            return path / name
    raise ModelError(f"{path.name}: no model.safetensors in this CLIP vision folder")


# --- preprocessing and encoding --------------------------------------------------------------------


def make_processor(image_size: int) -> Any:
    """transformers' CLIP image processor for ``image_size`` (built locally, never from the hub). The
    PIL implementation where transformers has both (it is the one used without torchvision)."""
    import transformers

    cls = getattr(transformers, "CLIPImageProcessorPil", None) or transformers.CLIPImageProcessor
    return cls(size=image_size, crop_size=image_size)


def pixel_values(model: ClipVisionModel, images: np.ndarray, crop: str = "center") -> Any:
    """IMAGE (B, H, W, 3) in [0, 1] → normalised pixels (B, 3, S, S), as 8-bit RGB images through the
    CLIP image processor (what a pipeline does with PIL images)."""
    from PIL import Image

    from studio.core.imaging import to_uint8

    if crop not in CROPS:
        raise ValueError(f"crop must be one of {', '.join(CROPS)}, not {crop!r}")
    arr = np.asarray(images, np.float32)
    if arr.shape[-1] == 1:  # grayscale: CLIP reads RGB
        arr = np.repeat(arr, 3, axis=-1)
    frames = [Image.fromarray(f) for f in to_uint8(arr[..., :3])]
    if crop == "none":  # the whole image, stretched to a square
        s = model.image_size
        frames = [f.resize((s, s), Image.Resampling.BICUBIC) for f in frames]
    return model.processor()(images=frames, return_tensors="pt").pixel_values


def encode_pixels(model: ClipVisionModel, pixels: Any) -> ClipVisionOutput:
    import torch

    encoder = model.model
    param = next(encoder.parameters())
    with torch.no_grad():
        out = encoder(pixels.to(device=param.device, dtype=param.dtype), output_hidden_states=True)
    return ClipVisionOutput(out.image_embeds.float().cpu(), out.hidden_states[-2].float().cpu(),
                            out.last_hidden_state.float().cpu())


def encode(model: ClipVisionModel, images: np.ndarray, crop: str = "center") -> ClipVisionOutput:
    """Embeddings of an IMAGE batch."""
    return encode_pixels(model, pixel_values(model, images, crop))


def encode_blank(model: ClipVisionModel, n: int = 1) -> ClipVisionOutput:
    """Embeddings of ``n`` all-zero *normalised* pixel inputs: what diffusers' ``encode_image`` uses as
    the unconditional image for hidden-state IP-Adapters (Plus)."""
    import torch

    s = model.image_size
    channels = int(model.model.config.num_channels)
    return encode_pixels(model, torch.zeros((n, channels, s, s)))
