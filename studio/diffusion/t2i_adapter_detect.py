"""Recognise a T2I-Adapter from its tensor names and shapes (no torch) and infer its diffusers config.

Layouts understood:

- **diffusers** (``adapter.conv_in.weight``, ``adapter.body.I.resnets.J.block1.weight``; ``adapter.body.I.in_conv``
  / ``out_conv`` without ``conv_in`` for the light adapter), as a single file or a folder's weights.
  SDXL adapters converted for ComfyUI keep these names.
- **original** (TencentARC): the full adapter ``conv_in.weight`` + ``body.K.block1.weight`` with ``K`` running
  over every residual block (``K = I·num_res_blocks + J``), and the light adapter ``body.I.in_conv``,
  ``body.I.body.J.block1``, ``body.I.out_conv``.

The config follows from the shapes: the pixel-unshuffle factor and hint channels from the first
convolution's input width (``in_channels · factor²``: 192 = 3·8², 64 = 1·8² for sketch/canny, 768 = 3·16²,
256 = 1·16²), the channels from each block's convolutions, the residual blocks per stage from where the
channel count first changes. An unshuffle of 16 is the SDXL adapter (diffusers' ``full_adapter_xl``),
8 the SD 1.5 ones (``full_adapter``, ``light_adapter``). The variants diffusers cannot run (the original
code's ``sk=False`` skip convolutions, convolutional downsampling, 3×3 second convolutions) and the
style adapter are refused by name.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from .errors import ModelError

KIND = "t2i_adapter"
XL_TYPES = ("full_adapter_xl",)
_ORIG_FULL = re.compile(r"^body\.(\d+)\.(block1|block2|in_conv)\.(weight|bias)$")
_ORIG_LIGHT = re.compile(r"^body\.(\d+)\.(?:body\.(\d+)\.(block1|block2)|(in_conv|out_conv))\.(weight|bias)$")
_DIFF = re.compile(r"^adapter\.body\.(\d+)\.(?:resnets\.(\d+)\.(block1|block2)|(in_conv|out_conv))\.(weight|bias)$")


def is_adapter_keys(keys: Mapping[str, Any]) -> bool:
    """Whether the names are a T2I-Adapter's (either layout); cheap enough for any header."""
    if "style_embedding" in keys:
        return True
    if any(k.startswith("adapter.body.") for k in keys):
        return True
    if "conv_in.weight" in keys and "body.0.block1.weight" in keys:
        return True
    return "body.0.in_conv.weight" in keys and "body.0.body.0.block1.weight" in keys


def layout_of(keys: Mapping[str, Any]) -> str:
    return "diffusers" if any(k.startswith("adapter.") for k in keys) else "original"


def adapter_config(name: str, shapes: Mapping[str, tuple[int, ...]]) -> dict[str, Any]:
    """The diffusers ``T2IAdapter`` config of these weights (``shapes``: name → shape, either layout)."""
    if "style_embedding" in shapes:
        raise ModelError(f"{name} is a T2I style adapter, which is not supported (only spatial T2I-Adapters are)")
    if any(".skep." in k or ".down_opt.op." in k for k in shapes):
        raise ModelError(f"{name} is a T2I-Adapter variant with skip or strided convolutions, which is not supported")
    if layout_of(shapes) == "diffusers":
        return _diffusers_config(name, shapes)
    if "conv_in.weight" in shapes:
        return _original_full_config(name, shapes)
    return _original_light_config(name, shapes)


def family_of_config(cfg: Mapping[str, Any]) -> str:
    return "sdxl" if cfg.get("adapter_type") in XL_TYPES else "sd15"


def original_to_diffusers_key(key: str, cfg: Mapping[str, Any]) -> str | None:
    """The diffusers name of an original-layout key (None for a name that is not the adapter's)."""
    if key.startswith("conv_in."):
        return "adapter." + key
    if cfg["adapter_type"] == "light_adapter":
        m = _ORIG_LIGHT.match(key)
        if not m:
            return None
        block, res, conv, edge, param = m.groups()
        if edge:
            return f"adapter.body.{block}.{edge}.{param}"
        return f"adapter.body.{block}.resnets.{res}.{conv}.{param}"
    m = _ORIG_FULL.match(key)
    if not m:
        return None
    k, conv, param = int(m[1]), m[2], m[3]
    nrb = int(cfg["num_res_blocks"])
    stage, res = divmod(k, nrb)
    if conv == "in_conv":
        return f"adapter.body.{stage}.in_conv.{param}"
    return f"adapter.body.{stage}.resnets.{res}.{conv}.{param}"


# --- config inference -----------------------------------------------------------------------------


def _unshuffle(name: str, width: int) -> tuple[int, int]:
    """(hint channels, pixel-unshuffle factor) of a first convolution reading ``width`` channels."""
    for factor in (8, 16):
        for channels in (3, 1):
            if width == channels * factor * factor:
                return channels, factor
    raise ModelError(f"{name}: a T2I-Adapter whose first convolution reads {width} channels is not one "
                     "known (expected 64 or 192 for SD 1.5, 256 or 768 for SDXL)")


def _shape(name: str, shapes: Mapping[str, tuple[int, ...]], key: str) -> tuple[int, ...]:
    s = shapes.get(key)
    if s is None or len(s) != 4:
        raise ModelError(f"{name}: this T2I-Adapter lacks {key} (or it is not a convolution)")
    return tuple(s)


def _full(name: str, in_channels: int, factor: int, channels: list[int], nrb: int) -> dict[str, Any]:
    kind = "full_adapter_xl" if factor == 16 else "full_adapter"
    if nrb < 1 or not channels:
        raise ModelError(f"{name}: this T2I-Adapter has no residual blocks")
    return {"_class_name": "T2IAdapter", "adapter_type": kind, "in_channels": in_channels, "channels": channels,
            "num_res_blocks": nrb, "downscale_factor": factor}


def _diffusers_config(name: str, shapes: Mapping[str, tuple[int, ...]]) -> dict[str, Any]:
    blocks: dict[int, set[int]] = {}
    for k in shapes:
        m = _DIFF.match(k)
        if m:
            res = blocks.setdefault(int(m[1]), set())
            if m[2] is not None:
                res.add(int(m[2]))
    if not blocks or sorted(blocks) != list(range(len(blocks))):
        raise ModelError(f"{name}: the T2I-Adapter's blocks are not numbered 0, 1, 2, …")
    nrb = len(blocks[0])
    if "adapter.conv_in.weight" in shapes:
        conv_in = _shape(name, shapes, "adapter.conv_in.weight")
        in_channels, factor = _unshuffle(name, conv_in[1])
        channels = [_shape(name, shapes, f"adapter.body.{i}.resnets.0.block1.weight")[0] for i in range(len(blocks))]
        return _full(name, in_channels, factor, channels, nrb)
    first = _shape(name, shapes, "adapter.body.0.in_conv.weight")
    in_channels, factor = _unshuffle(name, first[1])
    outs = [_shape(name, shapes, f"adapter.body.{i}.out_conv.weight")[0] for i in range(len(blocks))]
    return _light(name, in_channels, factor, outs, nrb)


def _light(name: str, in_channels: int, factor: int, outs: list[int], nrb: int) -> dict[str, Any]:
    # diffusers' light adapter has one block per channel plus a last one that keeps the width.
    if len(outs) < 2 or outs[-1] != outs[-2] or factor != 8:
        raise ModelError(f"{name}: a light T2I-Adapter of a shape diffusers does not build")
    return {"_class_name": "T2IAdapter", "adapter_type": "light_adapter", "in_channels": in_channels,
            "channels": outs[:-1], "num_res_blocks": nrb, "downscale_factor": factor}


def _original_full_config(name: str, shapes: Mapping[str, tuple[int, ...]]) -> dict[str, Any]:
    conv_in = _shape(name, shapes, "conv_in.weight")
    in_channels, factor = _unshuffle(name, conv_in[1])
    ks = sorted({int(m[1]) for k in shapes if (m := _ORIG_FULL.match(k))})
    if not ks or ks != list(range(len(ks))):
        raise ModelError(f"{name}: the T2I-Adapter's blocks are not numbered 0, 1, 2, …")
    if any(_shape(name, shapes, f"body.{k}.block2.weight")[-1] != 1 for k in ks):
        raise ModelError(f"{name} is a T2I-Adapter variant with 3×3 second convolutions, which is not supported")
    # A stage's first residual block changes the width with a 1×1 ``in_conv``: the first one found
    # marks where stage 1 starts, so it is the number of residual blocks per stage.
    changes = [k for k in ks if f"body.{k}.in_conv.weight" in shapes]
    nrb = changes[0] if changes else len(ks)
    if nrb == 0 or len(ks) % nrb:
        raise ModelError(f"{name}: cannot tell how this T2I-Adapter's {len(ks)} residual blocks form stages")
    channels = [_shape(name, shapes, f"body.{i * nrb}.block1.weight")[0] for i in range(len(ks) // nrb)]
    return _full(name, in_channels, factor, channels, nrb)


def _original_light_config(name: str, shapes: Mapping[str, tuple[int, ...]]) -> dict[str, Any]:
    blocks: dict[int, set[int]] = {}
    for k in shapes:
        m = _ORIG_LIGHT.match(k)
        if m:
            res = blocks.setdefault(int(m[1]), set())
            if m[2] is not None:
                res.add(int(m[2]))
    if not blocks or sorted(blocks) != list(range(len(blocks))):
        raise ModelError(f"{name}: the T2I-Adapter's blocks are not numbered 0, 1, 2, …")
    first = _shape(name, shapes, "body.0.in_conv.weight")
    in_channels, factor = _unshuffle(name, first[1])
    outs = [_shape(name, shapes, f"body.{i}.out_conv.weight")[0] for i in range(len(blocks))]
    return _light(name, in_channels, factor, outs, len(blocks[0]))
