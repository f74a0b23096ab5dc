"""ComfyUI's core nodes (loaders, prompts, samplers, images, ControlNet, scaling) → ours.

Translators take the importer's builder (``studio.compat.comfyui._Builder``) and one ComfyUI node.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .comfyui_schema import CONTROL_AFTER_GENERATE
from .names import COMFY_SAMPLERS, COMFY_SCHEDULERS, sampler_pair

if TYPE_CHECKING:
    from .comfyui import _Builder
    from .comfyui_parse import CNode


def checkpoint(b: _Builder, c: CNode) -> None:
    b.add(c, "model.checkpoint", {"checkpoint": b.file_name(c, "ckpt_name")}, {}, ["model", "clip", "vae"])


def vae_loader(b: _Builder, c: CNode) -> None:
    b.add(c, "model.vae", {"vae": b.file_name(c, "vae_name")}, {}, ["vae"])


def controlnet_loader(b: _Builder, c: CNode) -> None:
    b.add(c, "model.controlnet", {"controlnet": b.file_name(c, "control_net_name")}, {}, ["control_net"])


def clip_text(b: _Builder, c: CNode) -> None:
    b.add(c, "text.encode", {"text": b.text(c, "text")}, {"clip": "clip"}, ["conditioning"])


def empty_latent(b: _Builder, c: CNode) -> None:
    params = {"width": b.whole(c, "width"), "height": b.whole(c, "height"), "batch": b.whole(c, "batch_size")}
    b.add(c, "latent.empty", params, {}, ["latent"])


def _strength(run: int, total: int) -> float:
    """A denoise d (4 decimals) with int(total × d) == run: our sampler runs that many steps."""
    d = round(run / total, 4)
    while int(total * d) < run:
        d = round(d + 0.0001, 4)
    while int(total * d) > run:
        d = round(d - 0.0001, 4)
    return d


def _sampler_common(b: _Builder, c: CNode, seed_name: str) -> dict[str, Any]:
    sampler, scheduler = sampler_pair(b.text(c, "sampler_name"), b.text(c, "scheduler"), b.report, c.label,
                                      samplers=COMFY_SAMPLERS, schedulers=COMFY_SCHEDULERS)
    params = {"seed": b.whole(c, seed_name), "cfg": b.num(c, "cfg"), "sampler": sampler, "scheduler": scheduler}
    control = c.seed_controls.get(seed_name, c.values.get("control_after_generate"))
    sampler_type = b.registry.get("sample.sampler")
    known = sampler_type is not None and sampler_type.input("seed_control") is not None
    if known and isinstance(control, str) and control in CONTROL_AFTER_GENERATE:
        params["seed_control"] = control  # the same policy: applied after each queued run
    return params


_MOST_STEPS = 1000  # our sampler's most steps
_TO_THE_END = 10000  # ComfyUI's end_at_step default and most, and ours: run to the last step
_SAMPLER_PORTS = {"model": "model", "positive": "positive", "negative": "negative", "latent_image": "latent"}


def ksampler(b: _Builder, c: CNode) -> None:
    params = _sampler_common(b, c, "seed")
    steps, denoise = b.whole(c, "steps"), b.num(c, "denoise")
    if steps < 1:
        raise b.r.fail(c.value_paths.get("steps", c.path), f"steps must be at least 1, found {steps}")
    if denoise >= 1.0:
        params.update(steps=steps, denoise=1.0)
    elif denoise <= 0.0:
        params.update(steps=steps, denoise=0.0)
        b.report.info(f"{c.label}: denoise 0 returns the latent unchanged, as in ComfyUI")
    else:
        # ComfyUI runs `steps` steps at the end of a steps/denoise schedule; ours runs steps × denoise of `steps`.
        total = 1000 if steps / denoise > 1000 else max(steps, round(steps / denoise))
        run = min(steps, total)
        params.update(steps=total, denoise=_strength(run, total))
        b.report.approximated(
            f"{c.label}: denoise {denoise:g} with {steps} steps → steps {total}, denoise {params['denoise']:g} "
            f"(ComfyUI runs the last {steps} steps of a {total}-step schedule; ours runs steps × denoise)")
    b.add(c, "sample.sampler", params, _SAMPLER_PORTS, ["latent"])


def ksampler_advanced(b: _Builder, c: CNode) -> None:
    """Stop and resume carry over as they are: our sampler counts start and end steps as ComfyUI's
    advanced sampler does, adds noise or not, and returns the leftover noise or not."""
    params = _sampler_common(b, c, "noise_seed")
    steps = b.whole(c, "steps")
    if steps < 1:
        raise b.r.fail(c.value_paths.get("steps", c.path), f"steps must be at least 1, found {steps}")
    start, end = max(b.whole(c, "start_at_step"), 0), max(b.whole(c, "end_at_step"), 0)
    if steps > _MOST_STEPS:
        # The same fractions of a shorter schedule: a split run's halves still meet.
        ours = (round(start * _MOST_STEPS / steps), _TO_THE_END if end >= steps else round(end * _MOST_STEPS / steps))
        b.report.approximated(f"{c.label}: {steps} steps → {_MOST_STEPS}, our most; steps {start}–{end} → "
                              f"{ours[0]}–{ours[1]}")
        steps, (start, end) = _MOST_STEPS, ours
    if min(end, steps) <= start:
        b.report.info(f"{c.label}: steps {start}–{end} of {steps} run nothing; the latent passes unchanged")
    params.update(steps=steps, denoise=1.0, start_step=start, end_step=end,
                  add_noise=b.text(c, "add_noise") != "disable",
                  return_leftover_noise=b.text(c, "return_with_leftover_noise") == "enable")
    b.add(c, "sample.sampler", params, _SAMPLER_PORTS, ["latent"])


def vae_decode(b: _Builder, c: CNode) -> None:
    b.add(c, "latent.vae_decode", {}, {"samples": "latent", "vae": "vae"}, ["image"])


def vae_encode(b: _Builder, c: CNode) -> None:
    b.add(c, "latent.vae_encode", {}, {"pixels": "image", "vae": "vae"}, ["latent"])


def load_image(b: _Builder, c: CNode) -> None:
    name = b.file_name(c, "image")
    b.add(c, "image.load", {"image": name}, {}, ["image", "mask"])
    b.report.info(f"{c.label}: {name!r} is looked up next to the workflow, then in the input folder")


def split_prefix(b: _Builder, c: CNode) -> tuple[str, str]:
    """ComfyUI's ``filename_prefix`` as (subfolder, file prefix) under our output folder: no climbing out,
    no characters a file name cannot hold; %…% placeholders are dropped with a report line."""
    prefix = b.text(c, "filename_prefix").replace("\\", "/")
    folder, _, name = prefix.rpartition("/")
    clean = "".join("_" if ch in ':*?"<>|%' else ch for ch in name).strip() or "ComfyUI"
    folder = "/".join(p for p in folder.split("/") if p not in ("", ".", "..") and "%" not in p)
    if clean != name or "%" in prefix:
        b.report.approximated(f"{c.label}: file name prefix {prefix!r} → {clean!r} (ComfyUI's %…% "
                              "placeholders are not expanded)")
    return folder, clean


def save_image(b: _Builder, c: CNode) -> None:
    folder, clean = split_prefix(b, c)
    b.add(c, "image.save", {"folder": folder, "prefix": clean, "embed_workflow": True}, {"images": "images"}, [])


def preview_image(b: _Builder, c: CNode) -> None:
    b.add(c, "image.preview", {}, {"images": "images"}, [])


def controlnet_apply(b: _Builder, c: CNode) -> None:
    # ComfyUI's old node steers one conditioning: feed it to both of our inputs and pass on the
    # first output, so the control rides on that conditioning only, as there.
    inputs = {"conditioning": ("positive", "negative"), "control_net": "control_net", "image": "image"}
    b.add(c, "control.apply", {"strength": b.num(c, "strength"), "start": 0.0, "end": 1.0}, inputs, ["positive"])
    _hint_note(b)


def controlnet_apply_advanced(b: _Builder, c: CNode) -> None:
    start, end = b.num(c, "start_percent"), b.num(c, "end_percent")
    start, end = min(max(start, 0.0), 1.0), min(max(end, 0.0), 1.0)
    inputs = {"positive": "positive", "negative": "negative", "control_net": "control_net", "image": "image"}
    node_id = b.add(c, "control.apply", {"strength": b.num(c, "strength"), "start": start, "end": end}, inputs,
                    ["positive", "negative"])
    if b.graph.nodes[node_id].type_id == "control.apply":
        b.controls.append((node_id, c, start, end))
    if "vae" in c.links:
        b.report.dropped(f"{c.label}: the optional VAE input is not needed here; its wire is dropped")
        del c.links["vae"]
    _hint_note(b)


def _hint_note(b: _Builder) -> None:
    b.report.approximated("ControlNet hints are stretched to the output size (ComfyUI centre-crops them to the "
                          "output's aspect ratio first): crop hint images to the output's shape for the same result")


def canny(b: _Builder, c: CNode) -> None:
    low, high = b.num(c, "low_threshold"), b.num(c, "high_threshold")
    # Clamp the fraction before scaling: a threshold of 1e308 would overflow to infinity.
    params = {"low": round(min(max(low, 0.0), 1.0) * 255), "high": round(min(max(high, 0.0), 1.0) * 255),
              "blur": 1.0}
    b.add(c, "preprocess.canny", params, {"image": "image"}, ["image"])
    b.report.approximated(f"{c.label}: thresholds {low:g}/{high:g} (fractions) → {params['low']}/{params['high']} "
                          "on OpenCV's 0–255 scale with a σ 1 blur like ComfyUI's; edge maps are similar, not equal")


_SCALE_METHODS = {"nearest-exact": "nearest", "bilinear": "bilinear", "area": "area", "bicubic": "bicubic",
                  "lanczos": "lanczos", "bislerp": "bicubic"}


def _method(b: _Builder, c: CNode, allowed: dict[str, str]) -> str:
    method = b.text(c, "upscale_method")
    ours = allowed.get(method)
    if ours is None:
        ours = "bicubic" if "bicubic" in allowed.values() else next(iter(allowed.values()))
    if ours != allowed.get(method, "") or method == "bislerp":
        b.report.approximated(f"{c.label}: scaling method {method!r} → {ours!r}")
    return ours


def image_scale(b: _Builder, c: CNode) -> None:
    params = {"mode": "size", "width": b.whole(c, "width"), "height": b.whole(c, "height"),
              "method": _method(b, c, _SCALE_METHODS), "multiple_of_8": False}
    if b.text(c, "crop") != "disabled":
        b.report.approximated(f"{c.label}: centre crop is not available; the image is stretched to the size")
    b.add(c, "image.scale", params, {"image": "image"}, ["image"])


def image_scale_by(b: _Builder, c: CNode) -> None:
    params = {"mode": "factor", "factor": b.num(c, "scale_by"), "method": _method(b, c, _SCALE_METHODS)}
    b.add(c, "image.scale", params, {"image": "image"}, ["image"])


_LATENT_METHODS = {"nearest-exact": "nearest-exact", "bilinear": "bilinear", "area": "area", "bicubic": "bicubic",
                   "bislerp": "bicubic"}


def latent_upscale(b: _Builder, c: CNode) -> None:
    params = {"mode": "size", "width": b.whole(c, "width"), "height": b.whole(c, "height"),
              "method": _method(b, c, _LATENT_METHODS), "crop": b.text(c, "crop") == "center"}
    b.add(c, "latent.upscale", params, {"samples": "latent"}, ["latent"])


def latent_upscale_by(b: _Builder, c: CNode) -> None:
    params = {"mode": "factor", "factor": b.num(c, "scale_by"), "method": _method(b, c, _LATENT_METHODS)}
    b.add(c, "latent.upscale", params, {"samples": "latent"}, ["latent"])


def clip_set_last_layer(b: _Builder, c: CNode) -> None:
    layer = b.whole(c, "stop_at_clip_layer")
    skip = max(0, -layer - 1)
    b.add(c, "model.clip_skip", {"skip": skip}, {"clip": "clip"}, ["clip"])
    if skip:
        b.report.approximated(f"{c.label}: last layer {layer} → CLIP skip {skip}, as for SD 1.x; SD 2.x and SDXL "
                              "already use the penultimate layer, where ComfyUI's -2 means skip 0")


def image_invert(b: _Builder, c: CNode) -> None:
    b.add(c, "preprocess.invert", {}, {"image": "image"}, ["image"])
