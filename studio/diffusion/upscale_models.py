"""Upscale (super-resolution) models: tell the architecture and its settings from the weights' names
and shapes, build our implementation (``upscale_arch``), and enlarge images with it tile by tile.

Known: RRDBNet (ESRGAN, Real-ESRGAN x4plus / x2plus, most community "4x-…" models) in BasicSR's
layout and in ESRGAN's original ``model.N`` layout; SRVGGNetCompact (realesr-general-x4v3,
realesr-animevideov3); SwinIR (classical, lightweight and real-world SR). Detection reads only
names and shapes, so it works on a safetensors header as well as on loaded tensors.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .errors import ModelError
from .families import PICKLE_SUFFIXES
from .upscale_tiling import Progress, upscale_tiled

ARCHS = "ESRGAN / Real-ESRGAN (RRDBNet), Real-ESRGAN compact (SRVGG) or SwinIR"
# Where training code keeps the weights inside a .pth, best first.
NESTED = ("params_ema", "params", "state_dict", "model_state_dict", "generator")
_SRVGG_KEY = re.compile(r"body\.(\d+)\.(weight|bias)")
_SWIN_BUFFERS = ("relative_position_index", "attn_mask")


@dataclass(frozen=True)
class UpscaleInfo:
    arch: str  # RRDBNet | SRVGGNetCompact | SwinIR
    scale: int
    config: dict[str, Any] = field(default_factory=dict)  # the constructor's arguments
    layout: str = "basicsr"  # RRDBNet only: "basicsr" or ESRGAN's original "esrgan"

    @property
    def what(self) -> str:
        return f"{self.arch} ×{self.scale}"


# --- detection (names and shapes only; no torch) ------------------------------------------------------


def _shapes(weights: Any) -> dict[str, tuple[int, ...]]:
    tensors = getattr(weights, "tensors", weights)  # a safetensors Header, or a state dict
    return {k: tuple(getattr(v, "shape", v)) for k, v in tensors.items()}


def inspect_upscale(weights: Any, name: str = "the file") -> UpscaleInfo:
    """The architecture and configuration of an upscale model's state dict (or safetensors header).
    Raises ``ModelError`` naming ``name`` and its first keys when the layout is unknown."""
    shapes = _shapes(weights)
    try:
        if "model.0.weight" in shapes and any(".RDB1." in k for k in shapes):
            from .upscale_arch.esrgan_keys import old_to_new_keys

            new = old_to_new_keys(shapes)
            info = _rrdbnet(new)
            return UpscaleInfo(info.arch, info.scale, info.config, "esrgan")
        if "conv_first.weight" in shapes and "body.0.rdb1.conv1.weight" in shapes:
            return _rrdbnet(shapes)
        if "conv_first.weight" in shapes and any(".attn.relative_position_bias_table" in k for k in shapes):
            return _swinir(shapes)
        if "body.0.weight" in shapes and all(_SRVGG_KEY.fullmatch(k) for k in shapes):
            return _srvgg(shapes)
    except (KeyError, IndexError, ValueError, ZeroDivisionError) as exc:
        raise ModelError(f"{name} looks like an upscale model but its weights do not fit together "
                         f"({type(exc).__name__}: {exc})") from None
    first = ", ".join(list(shapes)[:5]) or "none"
    raise ModelError(f"{name} is not an upscale model known here ({ARCHS}); its first keys: {first}")


def _rrdbnet(s: dict[str, tuple[int, ...]]) -> UpscaleInfo:
    num_feat, in_total = s["conv_first.weight"][:2]
    out_ch = s["conv_last.weight"][0]
    fold = math.isqrt(in_total // out_ch)
    if fold * fold * out_ch != in_total or fold not in (1, 2, 4):
        raise ValueError(f"conv_first takes {in_total} channels for {out_ch} out")
    steps = sum(1 for k in s if re.fullmatch(r"conv_up\d+\.weight", k))
    if 2**steps < fold:
        raise ValueError(f"{steps} upsampling steps after a {fold}× pixel unshuffle")
    config = {"num_in_ch": out_ch, "num_out_ch": out_ch, "scale": 2**steps // fold, "num_feat": num_feat,
              "num_block": 1 + max(int(k.split(".")[1]) for k in s if k.startswith("body.")),
              "num_grow_ch": s["body.0.rdb1.conv1.weight"][0], "unshuffle": fold}
    return UpscaleInfo("RRDBNet", config["scale"], config)


def _srvgg(s: dict[str, tuple[int, ...]]) -> UpscaleInfo:
    last = max(int(m.group(1)) for k in s if (m := _SRVGG_KEY.fullmatch(k)))
    if len(s.get("body.1.weight", ())) != 1:
        raise ValueError("only the PReLU variant (body.1.weight, one slope per channel) is supported")
    num_feat, in_ch = s["body.0.weight"][:2]
    scale = math.isqrt(s[f"body.{last}.weight"][0] // in_ch)
    if scale * scale * in_ch != s[f"body.{last}.weight"][0] or last % 2:
        raise ValueError(f"the last convolution body.{last} gives {s[f'body.{last}.weight'][0]} channels")
    config = {"num_in_ch": in_ch, "num_out_ch": in_ch, "num_feat": num_feat, "num_conv": (last - 2) // 2,
              "upscale": scale}
    return UpscaleInfo("SRVGGNetCompact", scale, config)


def _swinir(s: dict[str, tuple[int, ...]]) -> UpscaleInfo:
    embed_dim, in_chans = s["conv_first.weight"][:2]
    layers = 1 + max(int(k.split(".")[1]) for k in s if k.startswith("layers."))
    depths, heads = [], []
    for i in range(layers):
        prefix = f"layers.{i}.residual_group.blocks."
        depths.append(1 + max(int(k[len(prefix):].split(".")[0]) for k in s if k.startswith(prefix)))
        heads.append(s[f"{prefix}0.attn.relative_position_bias_table"][1])
    table = s["layers.0.residual_group.blocks.0.attn.relative_position_bias_table"][0]
    window = (math.isqrt(table) + 1) // 2
    if (2 * window - 1) ** 2 != table:
        raise ValueError(f"a relative position table of {table} rows fits no window size")
    mask = s.get("layers.0.residual_group.blocks.1.attn_mask")
    img_size = window * math.isqrt(mask[0]) if mask else 64  # masks are stored for the training size
    mlp_ratio = s["layers.0.residual_group.blocks.0.mlp.fc1.weight"][0] / embed_dim
    resi = "1conv" if "conv_after_body.weight" in s else "3conv"
    num_feat = s["conv_before_upsample.0.weight"][0] if "conv_before_upsample.0.weight" in s else 64
    if "conv_up1.weight" in s:
        upsampler, scale = "nearest+conv", 4 if "conv_up2.weight" in s else 2
    elif "conv_before_upsample.0.weight" in s:
        upsampler, scale = "pixelshuffle", 1
        for k in sorted(k for k in s if re.fullmatch(r"upsample\.\d+\.weight", k)):
            scale *= math.isqrt(s[k][0] // num_feat)
    elif "upsample.0.weight" in s:
        upsampler, scale = "pixelshuffledirect", math.isqrt(s["upsample.0.weight"][0] // in_chans)
    else:
        upsampler, scale = "", 1
    config = {"img_size": img_size, "in_chans": in_chans, "embed_dim": embed_dim, "depths": tuple(depths),
              "num_heads": tuple(heads), "window_size": window, "mlp_ratio": mlp_ratio, "upscale": scale,
              "upsampler": upsampler, "resi_connection": resi, "num_feat": num_feat,
              "patch_norm": "patch_embed.norm.weight" in s}
    return UpscaleInfo("SwinIR", scale, config)


def looks_like_upscale(keys: Any) -> bool:
    """Whether a state dict's names are those of an upscale model known here (for hints)."""
    try:
        inspect_upscale(keys)
    except ModelError:
        return False
    return True


# --- reading and building --------------------------------------------------------------------------


def unwrap(obj: Any) -> dict[str, Any]:
    """The state dict inside what a .pth holds (``params_ema``, ``params``, ``state_dict``, …), with a
    ``module.`` prefix (saved from a DataParallel wrapper) dropped."""
    import torch

    while isinstance(obj, dict):
        inner = next((obj[k] for k in NESTED if isinstance(obj.get(k), dict)), None)
        if inner is None:
            break
        obj = inner
    if not isinstance(obj, dict):
        return {}
    state = {k: v for k, v in obj.items() if isinstance(k, str) and isinstance(v, torch.Tensor)}
    if state and all(k.startswith("module.") for k in state):
        state = {k[len("module."):]: v for k, v in state.items()}
    return state


def read_upscale_weights(path: Path, allow_ckpt: bool) -> dict[str, Any]:
    """Tensors of an upscale model file: safetensors, or a .pth / .pt pickle where the user allows them."""
    if path.suffix.lower() not in PICKLE_SUFFIXES:
        from .weights import read_weights

        return unwrap(read_weights(path))
    from .weights import load_pickle

    return unwrap(load_pickle(path, allow_ckpt=allow_ckpt))


def build(info: UpscaleInfo) -> Any:
    """Our module for ``info`` (random weights)."""
    from .upscale_arch.rrdbnet import RRDBNet
    from .upscale_arch.srvgg import SRVGGNetCompact
    from .upscale_arch.swinir import SwinIR

    cls = {"RRDBNet": RRDBNet, "SRVGGNetCompact": SRVGGNetCompact, "SwinIR": SwinIR}[info.arch]
    return cls(**info.config)


def to_basicsr(state: dict[str, Any], info: UpscaleInfo) -> dict[str, Any]:
    """The state dict in our modules' names (ESRGAN's original layout renamed; SwinIR's stored
    attention masks and index tables dropped: they are recomputed)."""
    if info.layout == "esrgan":
        from .upscale_arch.esrgan_keys import old_to_new_keys

        return old_to_new_keys(state)
    if info.arch == "SwinIR":
        return {k: v for k, v in state.items() if not k.endswith(_SWIN_BUFFERS)}
    return state


@dataclass
class UpscaleModel:
    """A loaded upscale model (the UPSCALE_MODEL wire value)."""

    model: Any  # torch.nn.Module in eval mode, on ``device`` in ``dtype``
    info: UpscaleInfo
    name: str

    @property
    def scale(self) -> int:
        return self.info.scale

    @property
    def channels(self) -> int:
        """Colour channels the network takes: 3 (RGB), or 1 for the greyscale models."""
        c = self.info.config
        return int(c.get("num_in_ch", c.get("in_chans", 3)))

    @property
    def multiple(self) -> int:
        """Input sizes the network itself needs (a pixel unshuffle folds ``unshuffle``² pixels)."""
        return int(self.info.config.get("unshuffle", 1)) if self.info.arch == "RRDBNet" else 1

    @property
    def tile_multiple(self) -> int:
        """Tile sizes that need no padding inside the network (SwinIR pads to its window)."""
        return int(self.info.config["window_size"]) if self.info.arch == "SwinIR" else self.multiple

    def __call__(self, x: Any) -> Any:
        """(B, C, H, W) in [0, 1] on any device → (B, C, H·s, W·s) float32 on the same device, unclamped."""
        import torch
        import torch.nn.functional as F

        p = next(self.model.parameters())
        h, w = x.shape[-2:]
        m = self.multiple
        y = x.to(p.device, p.dtype)
        if (-h) % m or (-w) % m:
            pad_h, pad_w = (-h) % m, (-w) % m
            y = F.pad(y, (0, pad_w, 0, pad_h), mode="reflect" if pad_h < h and pad_w < w else "replicate")
        with torch.inference_mode():
            out = self.model(y)
        return out[..., : h * self.scale, : w * self.scale].float().to(x.device)


def load_upscale_model(path: str | Path, device: Any = None, dtype: Any = None, allow_ckpt: bool = False,
                       progress: Progress | None = None) -> UpscaleModel:
    """Read, detect, build and fill an upscale model; the arguments are those of the model manager's builders."""
    import torch

    path = Path(path)
    state = read_upscale_weights(path, allow_ckpt)
    info = inspect_upscale(state, path.name)
    if progress is not None:
        progress(0.3, f"{path.name}: {info.what}")
    model = build(info)
    result = model.load_state_dict(to_basicsr(state, info), strict=False)
    buffers = {n for n, _ in model.named_buffers()}
    missing = [k for k in result.missing_keys if k not in buffers]
    if missing or result.unexpected_keys:
        raise ModelError(f"{path.name} does not fit a {info.what}: missing {missing[:4]}, "
                         f"unexpected {list(result.unexpected_keys)[:4]}")
    floating = dtype if dtype is not None else torch.float32
    model = model.to(device=device or "cpu", dtype=floating).eval().requires_grad_(False)
    return UpscaleModel(model, info, path.name)


# --- images ----------------------------------------------------------------------------------------


def upscale_image(model: UpscaleModel, image: np.ndarray, *, tile: int = 512, overlap: int = 32,
                  check_cancel: Callable[[], None] | None = None, progress: Progress | None = None,
                  on_retry: Callable[[str], None] | None = None) -> np.ndarray:
    """IMAGE (B, H, W, C) in [0, 1] → (B, H·s, W·s, C), enlarged tile by tile (``tile`` input pixels,
    ``overlap`` between neighbours, feathered). RGB goes through the network; an alpha channel is
    resized bicubically; one grey channel goes through as RGB and back (a greyscale network gets the
    mean of the colour channels)."""
    import torch
    import torch.nn.functional as F

    arr = np.asarray(image, dtype=np.float32)
    if arr.ndim == 3:
        arr = arr[None]
    if arr.ndim != 4 or arr.shape[-1] not in (1, 3, 4) or 0 in arr.shape:
        raise ValueError(f"expected an IMAGE of shape (B, H, W, 3), got {arr.shape}")
    x = torch.from_numpy(np.ascontiguousarray(arr)).permute(0, 3, 1, 2)
    if model.channels not in (1, 3):
        raise ModelError(f"{model.name} works on {model.channels}-channel images, not RGB")
    colour = x[:, :3] if x.shape[1] >= 3 else x.expand(-1, 3, -1, -1)
    if model.channels == 1:  # a greyscale network: its luminance-like mean, back as grey RGB
        colour = colour.mean(1, keepdim=True)
    out = upscale_tiled(model, colour, model.scale, tile=tile, overlap=overlap, multiple=model.tile_multiple,
                        check_cancel=check_cancel, progress=progress, on_retry=on_retry)
    out = out.expand(-1, 3, -1, -1) if out.shape[1] == 1 else out
    if x.shape[1] == 1:
        out = out.mean(1, keepdim=True)
    elif x.shape[1] == 4:
        alpha = F.interpolate(x[:, 3:], scale_factor=model.scale, mode="bicubic", align_corners=False)
        out = torch.cat([out, alpha], 1)
    return out.clamp(0.0, 1.0).permute(0, 2, 3, 1).contiguous().numpy()
