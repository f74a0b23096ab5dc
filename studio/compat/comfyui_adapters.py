"""ComfyUI's LoRA, CLIP-vision and IP-Adapter nodes (core and the IPAdapter_plus pack) → ours.

Translators take the importer's builder (``studio.compat.comfyui._Builder``) and one ComfyUI node.
IPAdapter_plus's unified loader picks files by a preset and hands its IP-Adapter nodes a bundle
that carries the CLIP-vision encoder too: here it becomes a Load IP-Adapter and a Load CLIP Vision
node with the preset's usual file names, and every Apply IP-Adapter fed by it gets that encoder
wired in once all wires are made.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from studio.core.graph import Link

if TYPE_CHECKING:
    from .comfyui import _Builder
    from .comfyui_parse import CNode

# The CLIP-vision encoders IP-Adapter models are trained with, under the names IPAdapter_plus uses.
VIT_H = "CLIP-ViT-H-14-laion2B-s32B-b79K.safetensors"
VIT_BIGG = "CLIP-ViT-bigG-14-laion2B-39B-b160k.safetensors"


@dataclass(frozen=True)
class Preset:
    sd15: str | None  # IP-Adapter file for SD 1.5 (None: the preset has none)
    sdxl: str | None
    encoder_sd15: str = VIT_H
    encoder_sdxl: str = VIT_H


# IPAdapter_plus's unified-loader presets and the files its documentation names for them.
PRESETS: dict[str, Preset] = {
    "LIGHT - SD1.5 only (low strength)": Preset("ip-adapter_sd15_light_v11.bin", None),
    "STANDARD (medium strength)": Preset("ip-adapter_sd15.safetensors", "ip-adapter_sdxl_vit-h.safetensors"),
    "VIT-G (medium strength)": Preset("ip-adapter_sd15_vit-G.safetensors", "ip-adapter_sdxl.safetensors",
                                      VIT_BIGG, VIT_BIGG),
    "PLUS (high strength)": Preset("ip-adapter-plus_sd15.safetensors", "ip-adapter-plus_sdxl_vit-h.safetensors"),
    "PLUS FACE (portraits)": Preset("ip-adapter-plus-face_sd15.safetensors",
                                    "ip-adapter-plus-face_sdxl_vit-h.safetensors"),
    "FULL FACE - SD1.5 only (portraits stronger)": Preset("ip-adapter-full-face_sd15.safetensors", None),
}
_PLAIN_WEIGHT_TYPES = frozenset({"standard", "linear", "original"})


def lora(b: _Builder, c: CNode) -> None:
    params = {"lora": b.file_name(c, "lora_name"), "strength_model": b.num(c, "strength_model"),
              "strength_clip": b.num(c, "strength_clip")}
    b.add(c, "model.lora", params, {"model": "model", "clip": "clip"}, ["model", "clip"])


def lora_model_only(b: _Builder, c: CNode) -> None:
    params = {"lora": b.file_name(c, "lora_name"), "strength_model": b.num(c, "strength_model")}
    b.add(c, "model.lora_model_only", params, {"model": "model"}, ["model"])


def clip_vision_loader(b: _Builder, c: CNode) -> None:
    b.add(c, "model.clip_vision", {"clip_name": b.file_name(c, "clip_name")}, {}, ["clip_vision"])


def clip_vision_encode(b: _Builder, c: CNode) -> None:
    crop = b.text(c, "crop")
    if crop not in ("center", "none"):
        b.report.approximated(f"{c.label}: crop {crop!r} is not known; using 'center'")
        crop = "center"
    b.add(c, "conditioning.clip_vision_encode", {"crop": crop}, {"clip_vision": "clip_vision", "image": "image"},
          ["clip_vision_output"])


def ip_adapter_loader(b: _Builder, c: CNode) -> None:
    b.add(c, "model.ip_adapter", {"ipadapter": b.file_name(c, "ipadapter_file")}, {}, ["ipadapter"])


def ip_adapter_unified_loader(b: _Builder, c: CNode) -> None:
    preset_name = b.text(c, "preset")
    preset = PRESETS.get(preset_name)
    xl = _probably_sdxl(b, c)
    if preset is None:
        b.report.approximated(f"{c.label}: preset {preset_name!r} is not known; using the STANDARD preset's files")
        preset = PRESETS["STANDARD (medium strength)"]
    file = preset.sdxl if xl else preset.sd15
    if file is None:
        b.report.unmapped(f"{c.label}: preset {preset_name!r} has no SDXL model; choose an IP-Adapter file in "
                          "Load IP-Adapter")
        file = ""
    encoder = preset.encoder_sdxl if xl else preset.encoder_sd15
    # The loader's MODEL output is its model input, unchanged: a reroute keeps that wire.
    b.add(c, "util.reroute", {}, {"model": "value"}, ["value"])
    loader = b.add_extra(c, "ipadapter", "model.ip_adapter", {"ipadapter": file}, (0.0, 120.0))
    encoder_node = b.add_extra(c, "clip_vision", "model.clip_vision", {"clip_name": encoder}, (0.0, 240.0))
    b.outs[(c.id, 1)] = (loader, "ipadapter")
    b.slots.setdefault((loader, "ipadapter"), 1)
    b.finishers.append(lambda: _wire_encoder(b, loader, encoder_node))
    b.report.approximated(f"{c.label}: preset {preset_name!r} → {file or '(none)'} with {encoder} "
                          f"({'SDXL' if xl else 'SD 1.5'} files, guessed from the checkpoint's name); check both "
                          "files in Load IP-Adapter and Load CLIP Vision")
    if "ipadapter" in c.links:
        b.report.dropped(f"{c.label}: its ipadapter input (a chained unified loader) is not needed here; its wire "
                         "is dropped")
        del c.links["ipadapter"]


def _probably_sdxl(b: _Builder, c: CNode) -> bool:
    """Whether the checkpoint feeding ``c`` is SDXL, judged by the file name (no model is read here)."""
    seen: set[str] = set()
    node = c
    while "model" in node.links and node.id not in seen:
        seen.add(node.id)
        node = b.doc.nodes[node.links["model"][0]]
    name = str(node.values.get("ckpt_name", "")).lower()
    return any(tag in name for tag in ("xl", "pony", "illustrious"))


def _wire_encoder(b: _Builder, loader: str, encoder: str) -> None:
    """Feed ``encoder`` to every Apply IP-Adapter that gets its IP-Adapter from ``loader`` and has no
    encoder wired (IPAdapter_plus's bundle carries it along the IPADAPTER wire)."""
    for node_id, node in b.graph.nodes.items():
        if node.type_id != "ip_adapter.apply":
            continue
        links = [lk for lk in b.graph.links.values() if lk.dst == node_id]
        if any(lk.dst_port == "clip_vision" for lk in links):
            continue
        if any(lk.dst_port == "ipadapter" and lk.src == loader for lk in links):
            b.graph.insert_link(Link(encoder, "clip_vision", node_id, "clip_vision"))


def _apply(b: _Builder, c: CNode, *, weight_type_key: str = "weight_type") -> None:
    start, end = b.num(c, "start_at"), b.num(c, "end_at")
    params = {"weight": b.num(c, "weight"), "start": min(max(start, 0.0), 1.0), "end": min(max(end, 0.0), 1.0)}
    inputs = {"model": "model", "ipadapter": "ipadapter", "image": "image", "clip_vision": "clip_vision"}
    b.add(c, "ip_adapter.apply", params, inputs, ["model"])
    weight_type = str(c.values.get(weight_type_key, "linear"))
    if weight_type not in _PLAIN_WEIGHT_TYPES:
        b.report.approximated(f"{c.label}: weight type {weight_type!r} is applied as 'linear' (the same weight in "
                              "every attention layer)")
    for name in ("attn_mask", "image_negative"):
        if name in c.links:
            b.report.dropped(f"{c.label}: its {name} input is not supported; its wire is dropped")
            del c.links[name]


def ip_adapter(b: _Builder, c: CNode) -> None:
    _apply(b, c)


def ip_adapter_advanced(b: _Builder, c: CNode) -> None:
    _apply(b, c)
    combine = str(c.values.get("combine_embeds", "concat"))
    if combine != "concat":
        b.report.approximated(f"{c.label}: several images are combined by concatenating their tokens, not by "
                              f"{combine!r}")
    scaling = str(c.values.get("embeds_scaling", "V only"))
    if scaling != "V only":
        b.report.approximated(f"{c.label}: embeds scaling {scaling!r} is applied as 'V only'")


def ip_adapter_apply_legacy(b: _Builder, c: CNode) -> None:
    _apply(b, c)
    noise = c.values.get("noise", 0.0)
    if isinstance(noise, int | float) and noise:
        b.report.approximated(f"{c.label}: noise {noise:g} is not applied (the negative image is the plain one)")
    if c.values.get("unfold_batch"):
        b.report.approximated(f"{c.label}: unfold batch is off here: every image conditions every latent")


TRANSLATORS: dict[str, Callable[[_Builder, CNode], Any]] = {
    "LoraLoader": lora,
    "LoraLoaderModelOnly": lora_model_only,
    "CLIPVisionLoader": clip_vision_loader,
    "CLIPVisionEncode": clip_vision_encode,
    "IPAdapterModelLoader": ip_adapter_loader,
    "IPAdapterUnifiedLoader": ip_adapter_unified_loader,
    "IPAdapter": ip_adapter,
    "IPAdapterAdvanced": ip_adapter_advanced,
    "IPAdapterApply": ip_adapter_apply_legacy,
}
