"""LoRA files: tell their layout and family from the safetensors header (no torch), and map their layer
names onto the modules of a diffusers UNet / CLIP text encoder with diffusers' own key conversion.

Layouts:
- ``kohya`` (sd-scripts, A1111, LyCORIS): ``lora_unet_<module>`` / ``lora_te_<module>`` (SDXL:
  ``lora_te1_``/``lora_te2_``), the module path with ``_`` for ``.``. SD 1.x/2.x files name the
  diffusers UNet's modules; SDXL files the original (SGM) UNet's (``input_blocks_4_1_…``). Each layer
  holds ``lora_down``/``lora_up`` (+ ``lora_mid``, ``alpha``), LoHa ``hada_*`` or LoKr ``lokr_*`` tensors.
- ``diffusers`` (PEFT and older diffusers): ``unet.<module>.lora_A/lora_B``, ``text_encoder.…``,
  ``text_encoder_2.…``, or ``….lora.down/up`` and attention-processor names (``processor.to_q_lora.down``).

Family rules: SDXL from ``lora_te1_``/``lora_te2_``/``text_encoder_2.`` keys or SGM block names; else
from the cross-attention ``to_k`` input width (768 sd15, 1024 sd2, 2048 sdxl) or the text encoder's
width (768 sd15, 1024 sd2); else from kohya's / modelspec metadata. Our small test files name their
family in ``latent_studio.family`` metadata.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from .errors import ModelError
from .families import CONTEXT_DIMS, META_FAMILY
from .safetensors_header import Header, read_header

KOHYA_PREFIXES = ("lora_unet_", "lora_te_", "lora_te1_", "lora_te2_")
# diffusers component prefixes → our part names
PARTS = {"unet": "unet", "text_encoder": "text_encoder", "text_encoder_2": "text_encoder_2"}
# The down/up pair of one diffusers-layout layer, by naming generation.
PEFT_PAIRS = ((".lora_A.weight", ".lora_B.weight"), (".lora.down.weight", ".lora.up.weight"),
              ("_lora.down.weight", "_lora.up.weight"), (".lora_linear_layer.down.weight", ".lora_linear_layer.up.weight"))
TE_WIDTHS = {768: "sd15", 1024: "sd2"}
SGM_BLOCKS = ("input_blocks", "middle_block", "output_blocks")


@dataclass(frozen=True)
class LoraInfo:
    path: Path
    layout: str  # kohya | diffusers
    family: str | None
    parts: tuple[str, ...]  # unet, text_encoder, text_encoder_2 (those with keys)


def lora_layout(keys: Iterable[str]) -> str | None:
    ks = list(keys)
    if not ks:
        return None
    if all(k.startswith(KOHYA_PREFIXES) for k in ks):
        return "kohya"
    if any(k.endswith(tuple(p for pair in PEFT_PAIRS for p in pair)) for k in ks):
        return "diffusers"
    return None


def inspect_lora(path: str | Path) -> LoraInfo:
    """The layout, family and parts of a LoRA file; ``ModelError`` if it is no LoRA we can read."""
    h = read_header(path)
    layout = lora_layout(h.tensors)
    if layout is None:
        first = ", ".join(list(h.tensors)[:3]) or "no tensors"
        raise ModelError(f"{h.path.name} is not a LoRA in a layout this app reads (kohya/A1111 lora_unet_…/lora_te_… "
                         f"or diffusers/PEFT unet.….lora_A); it has {len(h.tensors)} tensors, e.g. {first}")
    return LoraInfo(h.path, layout, _family(h, layout), _parts(h.tensors, layout))


def lora_family(path: str | Path) -> str | None:
    """The family a LoRA file is for, or None when it cannot be told (never raises)."""
    try:
        st = Path(path).stat()
        return _lora_family(str(path), st.st_size, st.st_mtime_ns)
    except OSError:
        return None


@lru_cache(maxsize=256)
def _lora_family(path: str, size: int, mtime_ns: int) -> str | None:
    try:
        return inspect_lora(path).family
    except (ModelError, OSError, ValueError, RecursionError):
        return None


def _parts(keys: Iterable[str], layout: str) -> tuple[str, ...]:
    found = set()
    for k in keys:
        if layout == "kohya":
            found.add("unet" if k.startswith("lora_unet_") else
                      "text_encoder_2" if k.startswith("lora_te2_") else "text_encoder")
        else:
            head = k.split(".", 1)[0]
            found.add(PARTS.get(head, "unet"))
    return tuple(p for p in PARTS.values() if p in found)


def _family(h: Header, layout: str) -> str | None:
    keys = h.tensors
    if h.metadata.get(META_FAMILY):
        return h.metadata[META_FAMILY]
    xl_te = ("lora_te1_", "lora_te2_", "text_encoder_2.")
    if any(k.startswith(xl_te) for k in keys) or any(
            k.startswith("lora_unet_") and any(b in k for b in SGM_BLOCKS) for k in keys):
        return "sdxl"
    for key, info in keys.items():
        is_down = key.endswith((".lora_down.weight", ".lora_A.weight", ".lora.down.weight", "to_k_lora.down.weight"))
        if is_down and re.search(r"attn2[._](processor[._])?to_k", key) and len(info.shape) == 2 \
                and info.shape[1] in CONTEXT_DIMS:
            return CONTEXT_DIMS[info.shape[1]]
    for key, info in keys.items():
        is_down = key.endswith((".lora_down.weight", ".lora_A.weight", ".lora.down.weight", "_lora.down.weight"))
        if is_down and re.search(r"(q_proj|to_q_lora)", key) and "unet" not in key and len(info.shape) == 2 \
                and info.shape[1] in TE_WIDTHS:
            return TE_WIDTHS[info.shape[1]]
    return _family_from_metadata(h.metadata)


def _family_from_metadata(meta: Mapping[str, str]) -> str | None:
    base = (meta.get("ss_base_model_version", "") + " " + meta.get("modelspec.architecture", "")).lower()
    if "xl" in base:
        return "sdxl"
    if re.search(r"(sd_v2|v2-|stable-diffusion-v2)", base) or meta.get("ss_v2", "").lower() == "true":
        return "sd2"
    if re.search(r"(sd_v1|stable-diffusion-v1)", base):
        return "sd15"
    return None


# --- names → modules (torch) ----------------------------------------------------------------------


def kohya_modules(names: Iterable[str], unet_config: Any = None) -> dict[str, tuple[str, str]]:
    """kohya layer name (``lora_unet_down_blocks_0_…``) → (part, module path), by diffusers' own
    conversion. Each name travels through it as a marker tensor, so any kind of layer (LoRA, LoCon,
    LoHa, LoKr) is named the same way. Names the conversion cannot place are left out."""
    import torch
    from diffusers.loaders.lora_pipeline import (
        StableDiffusionLoraLoaderMixin,
        StableDiffusionXLLoraLoaderMixin,
    )

    names = list(names)
    markers: dict[str, Any] = {}
    for i, name in enumerate(names):
        markers[name + ".lora_down.weight"] = markers[name + ".lora_up.weight"] = torch.tensor([float(i)])
    if unet_config is not None:
        converted, _ = StableDiffusionXLLoraLoaderMixin.lora_state_dict(markers, unet_config=unet_config)
    else:
        converted, _ = StableDiffusionLoraLoaderMixin.lora_state_dict(markers)
    return {names[i]: target for i, target in _read_markers(converted).items()}


def diffusers_modules(downs: Iterable[str]) -> dict[str, tuple[str, str]]:
    """Down-weight key of a diffusers/PEFT-layout layer → (part, module path)."""
    import torch

    downs = list(downs)
    markers: dict[str, Any] = {}
    for i, key in enumerate(downs):
        up = next(u for d, u in PEFT_PAIRS if key.endswith(d))
        markers[key] = markers[key[: -len(next(d for d, _ in PEFT_PAIRS if key.endswith(d)))] + up] = \
            torch.tensor([float(i)])
    if not any(k.split(".", 1)[0] in PARTS for k in markers):  # attention processors saved from a bare UNet
        markers = {"unet." + k: v for k, v in markers.items()}
    return {downs[i]: target for i, target in _read_markers(markers).items()}


def _read_markers(converted: Mapping[str, Any]) -> dict[int, tuple[str, str]]:
    from diffusers.utils.state_dict_utils import (
        convert_state_dict_to_diffusers,
        convert_state_dict_to_peft,
        convert_unet_state_dict_to_peft,
    )

    found: dict[int, tuple[str, str]] = {}
    for part in PARTS.values():
        sub = {k[len(part) + 1:]: v for k, v in converted.items() if k.startswith(part + ".")}
        if not sub:
            continue
        if part == "unet":
            peft = sub if any(".lora_A." in k for k in sub) else convert_unet_state_dict_to_peft(sub)
        else:
            peft = convert_state_dict_to_peft(convert_state_dict_to_diffusers(sub))
        for key, marker in peft.items():
            if key.endswith(".lora_A.weight"):
                found[int(marker.reshape(-1)[0])] = (part, key[: -len(".lora_A.weight")])
    return found
