"""Nodes of popular custom node packs that are thin wrappers over what our nodes do → ours.

- rgthree-comfy: Power Lora Loader (a chain of Load LoRA nodes), its reroute, and its editor-only
  panels and displays (left out, or shown as previews and notes).
- efficiency-nodes-comfyui: Efficient Loader (checkpoint, VAE, LoRAs, CLIP skip, prompts and an empty
  latent in one node) and KSampler (Efficient) (a sampler, with its decode and preview).
- ComfyUI-Custom-Scripts (pysssss): the checkpoint and LoRA loaders with previews.
- Comfyroll: Apply LoRA Stack (the stack itself is worked out before, see ``comfyui_packs_wires``) and
  the SDXL aspect ratio's empty latent.
- WAS Node Suite: Image Resize, Image Blend and the noodle-soup prompt encoder without noodles.
- ComfyUI-Advanced-ControlNet: its loader and apply node at their plain settings.

Importing this module adds the classes' ports and widget orders to ``comfyui_schema.SPECS``.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from studio.core.graph import BYPASS, MUTE, Link

from . import comfyui_core_nodes as core
from .comfyui_packs_wires import VALUE_NODES, sdxl_aspect_size
from .comfyui_parse import BYPASSED, MUTED
from .comfyui_schema import SPECS, ComfySpec
from .node_packs import pack_note

if TYPE_CHECKING:
    from .comfyui import _Builder
    from .comfyui_parse import CNode

_MODEL, _CLIP, _VAE, _COND, _LATENT, _IMAGE = "MODEL", "CLIP", "VAE", "CONDITIONING", "LATENT", "IMAGE"
_STEP = 110.0  # vertical spacing of the extra nodes one pack node becomes

PACK_SPECS: dict[str, ComfySpec] = {
    "Power Lora Loader (rgthree)": ComfySpec(
        "Power Lora Loader (rgthree)", inputs=(("model", _MODEL), ("clip", _CLIP)),
        outputs=((_MODEL, _MODEL), (_CLIP, _CLIP), ("LORAS", "STRING"))),
    "CheckpointLoader|pysssss": ComfySpec(
        "Checkpoint Loader 🐍", widgets=(("ckpt_name", ""),), outputs=((_MODEL, _MODEL), (_CLIP, _CLIP), (_VAE, _VAE))),
    "LoraLoader|pysssss": ComfySpec(
        "Lora Loader 🐍", inputs=(("model", _MODEL), ("clip", _CLIP)),
        widgets=(("lora_name", ""), ("strength_model", 1.0), ("strength_clip", 1.0)),
        outputs=((_MODEL, _MODEL), (_CLIP, _CLIP))),
    "CR Load LoRA": ComfySpec(
        "💊 CR Load LoRA", inputs=(("model", _MODEL), ("clip", _CLIP)),
        widgets=(("switch", "On"), ("lora_name", "None"), ("strength_model", 1.0), ("strength_clip", 1.0)),
        outputs=((_MODEL, _MODEL), (_CLIP, _CLIP), ("show_help", "STRING"))),
    "CR Apply LoRA Stack": ComfySpec(
        "💊 CR Apply LoRA Stack", inputs=(("model", _MODEL), ("clip", _CLIP), ("lora_stack", "LORA_STACK")),
        outputs=((_MODEL, _MODEL), (_CLIP, _CLIP), ("show_help", "STRING"))),
    "Efficient Loader": ComfySpec(
        "Efficient Loader", inputs=(("lora_stack", "LORA_STACK"), ("cnet_stack", "CONTROL_NET_STACK")),
        widgets=(("ckpt_name", ""), ("vae_name", "Baked VAE"), ("clip_skip", -1), ("lora_name", "None"),
                 ("lora_model_strength", 1.0), ("lora_clip_strength", 1.0), ("positive", "CLIP_POSITIVE"),
                 ("negative", "CLIP_NEGATIVE"), ("token_normalization", "none"), ("weight_interpretation", "comfy"),
                 ("empty_latent_width", 512), ("empty_latent_height", 512), ("batch_size", 1)),
        outputs=((_MODEL, _MODEL), ("CONDITIONING+", _COND), ("CONDITIONING-", _COND), (_LATENT, _LATENT),
                 (_VAE, _VAE), (_CLIP, _CLIP), ("DEPENDENCIES", "DEPENDENCIES"))),
    # Version 2's order; version 1 files (a sampler state first) are renamed in comfyui_packs_wires.
    "KSampler (Efficient)": ComfySpec(
        "KSampler (Efficient)",
        inputs=(("model", _MODEL), ("positive", _COND), ("negative", _COND), ("latent_image", _LATENT),
                ("optional_vae", _VAE), ("script", "SCRIPT")),
        widgets=(("seed", 0), ("steps", 20), ("cfg", 7.0), ("sampler_name", "euler"), ("scheduler", "normal"),
                 ("denoise", 1.0), ("preview_method", "auto"), ("vae_decode", "true")),
        outputs=((_MODEL, _MODEL), ("CONDITIONING+", _COND), ("CONDITIONING-", _COND), (_LATENT, _LATENT),
                 (_VAE, _VAE), (_IMAGE, _IMAGE)),
        seeds=("seed",)),
    "ControlNetLoaderAdvanced": ComfySpec(
        "Load Advanced ControlNet Model 🛂🅐🅒🅝", inputs=(("timestep_keyframe", "TIMESTEP_KEYFRAME"),),
        widgets=(("control_net_name", ""),), outputs=(("CONTROL_NET", "CONTROL_NET"),)),
    "ACN_AdvancedControlNetApply": ComfySpec(
        "Apply Advanced ControlNet 🛂🅐🅒🅝",
        inputs=(("positive", _COND), ("negative", _COND), ("control_net", "CONTROL_NET"), ("image", _IMAGE),
                ("mask_optional", "MASK"), ("timestep_kf", "TIMESTEP_KEYFRAME"),
                ("latent_kf_override", "LATENT_KEYFRAME"), ("weights_override", "CONTROL_NET_WEIGHTS"),
                ("model_optional", _MODEL), ("vae_optional", _VAE)),
        widgets=(("strength", 1.0), ("start_percent", 0.0), ("end_percent", 1.0)),
        outputs=(("positive", _COND), ("negative", _COND))),
    "Image Resize": ComfySpec(
        "Image Resize", inputs=(("image", _IMAGE),),
        widgets=(("mode", "rescale"), ("supersample", "true"), ("resampling", "lanczos"), ("rescale_factor", 2.0),
                 ("resize_width", 1024), ("resize_height", 1536)),
        outputs=((_IMAGE, _IMAGE),)),
    "Image Blend": ComfySpec(
        "Image Blend", inputs=(("image_a", _IMAGE), ("image_b", _IMAGE)), widgets=(("blend_percentage", 0.5),),
        outputs=((_IMAGE, _IMAGE),)),
    "CLIPTextEncode (NSP)": ComfySpec(
        "CLIPTextEncode (NSP)", inputs=(("clip", _CLIP),),
        widgets=(("mode", "Noodle Soup Prompts"), ("noodle_key", "__"), ("seed", 0), ("text", "")),
        outputs=((_COND, _COND), ("parsed_text", "STRING"), ("raw_text", "STRING")), seeds=("seed",)),
}
SPECS.update(PACK_SPECS)
_NO_SPEC = ComfySpec("")


# --- helpers ---------------------------------------------------------------------------------------


def _set_outputs(b: _Builder, c: CNode, outputs: dict[int, tuple[str, str]]) -> None:
    """ComfyUI output slot → our (node, port), for a node that became several of ours."""
    for slot in range(max(len(c.output_names), len(PACK_SPECS.get(c.class_type, _NO_SPEC).outputs))):
        b.outs.pop((c.id, slot), None)
    for slot, port in outputs.items():
        b.outs[(c.id, slot)] = port
        b.slots[port] = slot


def _link(b: _Builder, src: tuple[str, str], dst: str, port: str) -> None:
    b.graph.insert_link(Link(src[0], src[1], dst, port))


_USED: weakref.WeakKeyDictionary[Any, dict[str, set[int]]] = weakref.WeakKeyDictionary()


def _used_slots(b: _Builder, c: CNode) -> set[int]:
    """The output slots of ``c`` that something reads (indexed once per import)."""
    used = _USED.get(b)
    if used is None:
        used = {}
        for n in b.nodes.values():
            for src, slot in (*n.links.values(), *n.wired_params.values()):
                used.setdefault(src, set()).add(slot)
        _USED[b] = used
    return used.get(c.id, set())


def _follow_mode(b: _Builder, c: CNode, extras: Iterable[str], *, bypass_passes: bool) -> None:
    """Extra nodes share the pack node's mode: muted, all are muted; bypassed, all are bypassed where
    each passes its inputs on as the pack node would (a chain of LoRAs), else muted."""
    if c.mode not in (MUTED, BYPASSED):
        return
    mode = BYPASS if c.mode == BYPASSED and bypass_passes else MUTE
    for node_id in extras:
        b.graph.nodes[node_id].mode = mode


def _num(b: _Builder, value: Any, path: str) -> float:
    return b.r.num(value, path)


def _lora_chain(b: _Builder, c: CNode, loras: list[tuple[str, float, float]]) -> None:
    """``c``'s model (input "model", output 0) and CLIP (input "clip", output 1) through one Load LoRA
    node per entry, in order; two reroutes where there is none."""
    has_clip = "clip" in c.links
    if not loras:
        first = b.add(c, "util.reroute", {}, {"model": "value"}, ["value"])
        outputs = {0: (first, "value")}
        if has_clip:
            clip = b.add_extra(c, "clip", "util.reroute", {}, (0.0, 60.0))
            b.ins[(c.id, "clip")] = [(clip, "value")]
            outputs[1] = (clip, "value")
        _set_outputs(b, c, outputs)
        return
    extras: list[str] = []
    last = ""
    for i, (name, sm, sc) in enumerate(loras, start=1):
        if has_clip:
            type_id, params = "model.lora", {"lora": name, "strength_model": sm, "strength_clip": sc}
            inputs, ports = {"model": "model", "clip": "clip"}, ["model", "clip"]
        else:
            type_id, params = "model.lora_model_only", {"lora": name, "strength_model": sm}
            inputs, ports = {"model": "model"}, ["model"]
        if i == 1:
            node_id = b.add(c, type_id, params, inputs, ports)
        else:
            node_id = b.add_extra(c, f"lora{i}", type_id, params, (0.0, _STEP * (i - 1)))
            extras.append(node_id)
            for port in ports:
                _link(b, (last, port), node_id, port)
        last = node_id
    _set_outputs(b, c, {0: (last, "model"), **({1: (last, "clip")} if has_clip else {})})
    b.finishers.append(lambda: _follow_mode(b, c, extras, bypass_passes=True))


def _file(value: Any) -> str:
    return value.replace("\\", "/") if isinstance(value, str) else ""


# --- LoRAs -----------------------------------------------------------------------------------------


def power_lora_loader(b: _Builder, c: CNode) -> None:
    """rgthree: every row switched on with a LoRA and a strength, in order; a second strength (shown
    with "Separate Model & Clip") is the CLIP's, else the CLIP takes the model's."""
    loras: list[tuple[str, float, float]] = []
    off = 0
    rows = sorted((k for k in c.values if k.upper().startswith("LORA_")),
                  key=lambda k: (len(k), k))  # lora_2 before lora_10
    for key in rows:
        row, path = c.values[key], c.value_paths.get(key, f"{c.path} ({key})")
        if not isinstance(row, dict) or not {"on", "lora", "strength"} <= set(row):
            continue
        name = _file(row.get("lora"))
        strength = _num(b, row["strength"], f"{path}.strength")
        two = row.get("strengthTwo")
        clip = _num(b, two, f"{path}.strengthTwo") if two is not None else strength
        if row.get("on") is not True or name in ("", "None") or (strength == 0 and clip == 0):
            off += 1
            continue
        loras.append((name, strength, clip))
    _lora_chain(b, c, loras)
    b.report.info(f"{c.label}: {len(loras)} LoRA{'s' if len(loras) != 1 else ''} → "
                  f"{'Load LoRA nodes in a chain' if loras else 'nothing to apply'}"
                  + (f" ({off} switched off or empty, left out)" if off else ""))


def lora_loader_pysssss(b: _Builder, c: CNode) -> None:
    params = {"lora": b.file_name(c, "lora_name"), "strength_model": b.num(c, "strength_model"),
              "strength_clip": b.num(c, "strength_clip")}
    b.add(c, "model.lora", params, {"model": "model", "clip": "clip"}, ["model", "clip"])


def checkpoint_pysssss(b: _Builder, c: CNode) -> None:
    core.checkpoint(b, c)


def _stack(b: _Builder, c: CNode) -> list[tuple[str, float, float]] | None:
    """The LoRA stack worked out before the build (None: it comes from a node that could not be)."""
    if "lora_stack" in c.links:
        return None
    rows = c.values.get("lora_stack") or []
    out: list[tuple[str, float, float]] = []
    path = c.value_paths.get("lora_stack", c.path)
    for i, row in enumerate(rows if isinstance(rows, list) else []):
        if isinstance(row, list | tuple) and len(row) >= 3 and isinstance(row[0], str):
            out.append((_file(row[0]), _num(b, row[1], f"{path}[{i}]"), _num(b, row[2], f"{path}[{i}]")))
    return out


def cr_load_lora(b: _Builder, c: CNode) -> None:
    """Comfyroll's switchable LoRA loader: switched off, without a file or at no strength, it passes its
    model and CLIP on."""
    name, sm, sc = b.file_name(c, "lora_name"), b.num(c, "strength_model"), b.num(c, "strength_clip")
    on = b.text(c, "switch") == "On" and name != "None" and (sm != 0 or sc != 0)
    _lora_chain(b, c, [(name, sm, sc)] if on else [])
    if not on:
        b.report.info(f"{c.label}: switched off (or no LoRA); its model and CLIP pass on through reroutes")


def any_switch(b: _Builder, c: CNode) -> None:
    """rgthree's Any Switch passes on its first input that has a value: the first wired input whose
    node is not muted (a muted branch gives nothing). A reroute from that input."""
    wired = sorted(c.links, key=lambda name: (len(name), name))  # any_01 … any_05
    live = [name for name in wired if b.doc.nodes[c.links[name][0]].mode != MUTED]
    if not live:
        b.unsupported(c, "none of its inputs has a value (each is unwired or muted)")
        return
    chosen = live[0]
    for name in wired:
        if name != chosen:
            del c.links[name]
    b.add(c, "util.reroute", {}, {chosen: "value"}, ["value"])
    b.report.info(f"{c.label}: passes on {chosen} (its first input with a value) → a reroute"
                  + (f"; {', '.join(n for n in wired if n != chosen)} left unconnected" if len(wired) > 1 else ""))


def apply_lora_stack(b: _Builder, c: CNode) -> None:
    stack = _stack(b, c)
    if stack is None:
        b.unsupported(c, "its LoRA stack comes from a node that is not a LoRA stack known here")
        return
    _lora_chain(b, c, stack)
    if stack:
        b.report.info(f"{c.label}: its stack of {len(stack)} LoRA{'s' if len(stack) != 1 else ''} → Load LoRA "
                      "nodes in a chain")


# --- efficiency nodes ------------------------------------------------------------------------------


def efficient_loader(b: _Builder, c: CNode) -> None:
    """Checkpoint → LoRAs (its own, then the stack's) → CLIP skip → the two prompts; an empty latent;
    the checkpoint's VAE or the one named."""
    if "cnet_stack" in c.links:
        b.unsupported(c, "its ControlNet stack is not applied here (use Apply ControlNet nodes after it)")
        return
    stack = _stack(b, c)
    if stack is None:
        b.unsupported(c, "its LoRA stack comes from a node that is not a LoRA stack known here")
        return
    lora = b.file_name(c, "lora_name")
    loras = ([(lora, b.num(c, "lora_model_strength"), b.num(c, "lora_clip_strength"))] if lora != "None" else [])
    loras += stack
    ckpt = b.add(c, "model.checkpoint", {"checkpoint": b.file_name(c, "ckpt_name")}, {}, ["model", "clip", "vae"])
    if b.graph.nodes[ckpt].type_id != "model.checkpoint":
        return
    extras: list[str] = []
    model, clip = (ckpt, "model"), (ckpt, "clip")
    y = _STEP
    for i, (name, sm, sc) in enumerate(loras, start=1):
        node_id = b.add_extra(c, f"lora{i}", "model.lora", {"lora": name, "strength_model": sm, "strength_clip": sc},
                              (0.0, y))
        _link(b, model, node_id, "model")
        _link(b, clip, node_id, "clip")
        model, clip, y = (node_id, "model"), (node_id, "clip"), y + _STEP
        extras.append(node_id)
    layer = b.whole(c, "clip_skip")
    skip = max(0, -layer - 1)
    if skip:
        node_id = b.add_extra(c, "clip_skip", "model.clip_skip", {"skip": skip}, (0.0, y))
        _link(b, clip, node_id, "clip")
        clip, y = (node_id, "clip"), y + _STEP
        extras.append(node_id)
        b.report.approximated(f"{c.label}: CLIP skip {layer} → skip {skip}, as for SD 1.x (SD 2.x and SDXL already "
                              "use the penultimate layer)")
    prompts = []
    for name in ("positive", "negative"):
        node_id = b.add_extra(c, name, "text.encode", {"text": b.text(c, name)}, (300.0, y))
        _link(b, clip, node_id, "clip")
        prompts.append(node_id)
        y += _STEP
    latent = b.add_extra(c, "latent", "latent.empty", {"width": b.whole(c, "empty_latent_width"),
                                                       "height": b.whole(c, "empty_latent_height"),
                                                       "batch": b.whole(c, "batch_size")}, (300.0, y))
    extras += [*prompts, latent]
    vae = (ckpt, "vae")
    vae_name = b.file_name(c, "vae_name")
    if vae_name != "Baked VAE":
        vae_id = b.add_extra(c, "vae", "model.vae", {"vae": vae_name}, (0.0, y))
        vae = (vae_id, "vae")
        extras.append(vae_id)
    _set_outputs(b, c, {0: model, 1: (prompts[0], "conditioning"), 2: (prompts[1], "conditioning"),
                        3: (latent, "latent"), 4: vae, 5: clip})
    _prompt_weights(b, c)
    b.report.info(f"{c.label}: → Load Checkpoint, {len(loras)} Load LoRA, {'CLIP Skip, ' if skip else ''}two "
                  f"Encode Prompt, Empty Latent{', Load VAE' if vae_name != 'Baked VAE' else ''}")
    b.finishers.append(lambda: _follow_mode(b, c, extras, bypass_passes=False))


def _prompt_weights(b: _Builder, c: CNode) -> None:
    norm, weights = b.text(c, "token_normalization"), b.text(c, "weight_interpretation")
    if (norm, weights) != ("none", "comfy"):
        b.report.approximated(f"{c.label}: prompt weights are read as ComfyUI reads them (token normalization "
                              f"{norm!r} and weight interpretation {weights!r} are not applied)")


_PASSED_ON = {0: ("model", "model"), 1: ("positive", "positive"), 2: ("negative", "negative"), 4: ("optional_vae", "vae")}


def efficient_sampler(b: _Builder, c: CNode) -> None:
    """A sampler; with a VAE and decoding on, a decode and the preview the node shows. Its model,
    prompts and VAE outputs pass its inputs on (through reroutes)."""
    state = c.values.get("sampler_state", "Sample")
    if state == "Script" or "script" in c.links:
        b.unsupported(c, "its script (hires fix, XY plot, tiled upscale, …) changes what it does, which no node "
                         "here does in one piece")
        return
    core.ksampler(b, c)
    sampler = b.made[c.id]
    if b.graph.nodes[sampler].type_id != "sample.sampler":
        return
    if state == "Hold":
        b.report.approximated(f"{c.label}: its state 'Hold' (keep the last result) → it samples on every run")
    used, extras = _used_slots(b, c), []
    outputs: dict[int, tuple[str, str]] = {3: (sampler, "latent")}
    for slot, (comfy_input, name) in _PASSED_ON.items():
        if slot in used and comfy_input in c.links:
            node_id = b.add_extra(c, name, "util.reroute", {}, (0.0, -60.0 * (slot + 1)))
            b.ins.setdefault((c.id, comfy_input), []).append((node_id, "value"))
            outputs[slot] = (node_id, "value")
    decode = b.text(c, "vae_decode")
    if decode != "false" and "optional_vae" in c.links:
        tiled = decode.startswith("true (tiled)")
        node_id = b.add_extra(c, "decode", "latent.vae_decode_tiled" if tiled else "latent.vae_decode", {},
                              (280.0, 0.0))
        _link(b, (sampler, "latent"), node_id, "latent")
        b.ins.setdefault((c.id, "optional_vae"), []).append((node_id, "vae"))
        preview = b.add_extra(c, "preview", "image.preview", {}, (520.0, 0.0))
        _link(b, (node_id, "image"), preview, "images")
        outputs[5] = (node_id, "image")
        extras += [node_id, preview]
    elif 5 in used:
        b.report.dropped(f"{c.label}: its IMAGE output is empty here (decoding is off or no VAE is wired)")
    if "optional_vae" in c.links and (c.id, "optional_vae") not in b.ins:
        del c.links["optional_vae"]  # not decoding and not passed on: ComfyUI ignores it too
    _set_outputs(b, c, outputs)
    b.finishers.append(lambda: _follow_mode(b, c, extras, bypass_passes=False))


# --- images, prompts, ControlNet -------------------------------------------------------------------


_RESAMPLING = {"lanczos": "lanczos", "nearest": "nearest", "bilinear": "bilinear", "bicubic": "bicubic"}


def was_image_resize(b: _Builder, c: CNode) -> None:
    method = _RESAMPLING.get(b.text(c, "resampling"), "lanczos")
    if b.text(c, "mode") == "rescale":
        params: dict[str, Any] = {"mode": "factor", "factor": b.num(c, "rescale_factor"), "method": method}
    else:
        params = {"mode": "size", "width": b.whole(c, "resize_width"), "height": b.whole(c, "resize_height"),
                  "method": method, "multiple_of_8": False}
    if b.text(c, "supersample") == "true":
        b.report.approximated(f"{c.label}: supersampling (scaling up eightfold first) is left out; edges may be a "
                              "little less smooth")
    b.add(c, "image.scale", params, {"image": "image"}, ["image"])


def was_image_blend(b: _Builder, c: CNode) -> None:
    """WAS keeps image A at the blend percentage: Blend Images with A as the second image."""
    b.add(c, "image.blend", {"blend_factor": b.num(c, "blend_percentage"), "blend_mode": "normal"},
          {"image_a": "image2", "image_b": "image1"}, ["image"])
    b.report.approximated(f"{c.label}: → Blend Images (image B first); images of different sizes are matched to "
                          "image B here, to image A in WAS")


def clip_text_nsp(b: _Builder, c: CNode) -> None:
    text, key = b.text(c, "text"), b.text(c, "noodle_key")
    if (key and key in text) or "[" in text:
        b.unsupported(c, "its prompt draws random words (noodle soup prompts or wildcards), which no node here does")
        return
    b.add(c, "text.encode", {"text": text}, {"clip": "clip"}, ["conditioning"])


def acn_loader(b: _Builder, c: CNode) -> None:
    if "timestep_keyframe" in c.links:
        b.unsupported(c, "timestep keyframes are not supported")
        return
    core.controlnet_loader(b, c)


_ACN_UNSUPPORTED = ("mask_optional", "timestep_kf", "latent_kf_override", "weights_override")


def acn_apply(b: _Builder, c: CNode) -> None:
    wired = [name for name in _ACN_UNSUPPORTED if name in c.links]
    if wired:
        b.unsupported(c, f"its {', '.join(wired)} input{'s are' if len(wired) > 1 else ' is'} not supported")
        return
    for name in ("model_optional", "vae_optional"):
        if name in c.links:
            del c.links[name]
            b.report.dropped(f"{c.label}: its {name} input is not needed here; its wire is dropped")
    core.controlnet_apply_advanced(b, c)


# --- editor matter and displays ----------------------------------------------------------------------


def rgthree_reroute(b: _Builder, c: CNode) -> None:
    names = [*c.input_names, *c.links]
    b.add(c, "util.reroute", {}, {names[0]: "value"} if names else {}, ["value"])


def _leave_out(why: str) -> Callable[[_Builder, CNode], None]:
    def translate(b: _Builder, c: CNode) -> None:
        c.links.clear()
        b.report.info(f"{c.label}: {why}; left out")

    return translate


def rgthree_label(b: _Builder, c: CNode) -> None:
    b.add(c, "util.note", {"text": c.title or ""}, {}, [])


def image_comparer(b: _Builder, c: CNode) -> None:
    """rgthree shows two images one over the other: a preview of each here."""
    b.add(c, "image.preview", {}, {"image_a": "images"}, [])
    if "image_b" in c.links:
        node_id = b.add_extra(c, "image_b", "image.preview", {}, (0.0, 260.0))
        b.ins[(c.id, "image_b")] = [(node_id, "images")]
    b.report.info(f"{c.label}: → a Preview Image for each image it compares")


def value_node(b: _Builder, c: CNode) -> None:
    """A value node whose value could not be written into what it feeds (see comfyui_packs_wires)."""
    b.unsupported(c, "its value feeds a node that takes no value here, or depends on what runs"
                     f"{pack_note(c.class_type)}")


def sdxl_aspect_ratio(b: _Builder, c: CNode) -> None:
    """Comfyroll's aspect ratio node, where its empty latent is used (its numbers were written into
    the widgets they feed before the build)."""
    width, height = sdxl_aspect_size(c)
    params = {"width": b.r.whole(width, f"{c.path} (width)"), "height": b.r.whole(height, f"{c.path} (height)"),
              "batch": b.whole(c, "batch_size")}
    node_id = b.add(c, "latent.empty", params, {}, [])
    _set_outputs(b, c, {4: (node_id, "latent")})


PACK_TRANSLATORS: dict[str, Callable[[_Builder, CNode], Any]] = {
    **{name: value_node for name in VALUE_NODES},
    "CR SDXL Aspect Ratio": sdxl_aspect_ratio,
    "Power Lora Loader (rgthree)": power_lora_loader,
    "LoraLoader|pysssss": lora_loader_pysssss,
    "CheckpointLoader|pysssss": checkpoint_pysssss,
    "CR Apply LoRA Stack": apply_lora_stack,
    "CR Load LoRA": cr_load_lora,
    "Any Switch (rgthree)": any_switch,
    "Efficient Loader": efficient_loader,
    "KSampler (Efficient)": efficient_sampler,
    "Image Resize": was_image_resize,
    "Image Blend": was_image_blend,
    "CLIPTextEncode (NSP)": clip_text_nsp,
    "ControlNetLoaderAdvanced": acn_loader,
    "ACN_AdvancedControlNetApply": acn_apply,
    "Reroute (rgthree)": rgthree_reroute,
    "Label (rgthree)": rgthree_label,
    "Image Comparer (rgthree)": image_comparer,
    "Fast Groups Muter (rgthree)": _leave_out("a panel of group switches in the ComfyUI editor (the nodes keep "
                                              "the modes it set)"),
    "Fast Groups Bypasser (rgthree)": _leave_out("a panel of group switches in the ComfyUI editor (the nodes keep "
                                                 "the modes it set)"),
    "Fast Muter (rgthree)": _leave_out("a panel of node switches in the ComfyUI editor (the nodes keep the modes "
                                       "it set)"),
    "Fast Bypasser (rgthree)": _leave_out("a panel of node switches in the ComfyUI editor (the nodes keep the "
                                          "modes it set)"),
    "Fast Actions Button (rgthree)": _leave_out("a button of the ComfyUI editor"),
    "Bookmark (rgthree)": _leave_out("a bookmark of the ComfyUI editor"),
    "Display Any (rgthree)": _leave_out("it only shows a value in the ComfyUI editor"),
    "Display Int (rgthree)": _leave_out("it only shows a value in the ComfyUI editor"),
}
