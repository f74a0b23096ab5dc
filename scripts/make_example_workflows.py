"""Write the example workflows in resources/workflows/ through the graph API (so they are always
valid files of the current format). Node ids are stable UUIDs derived from readable names."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from pathlib import Path

from studio.core.graph import Graph
from studio.core.registry import default_registry
from studio.core.workflow import save

OUT = Path(__file__).resolve().parents[1] / "resources" / "workflows"
NS = uuid.UUID("5b0c8f55-3c4e-4a43-9d0a-6a5f8f3f9e10")


def _id(flow: str, name: str) -> str:
    return str(uuid.uuid5(NS, f"{flow}/{name}"))


def canny(g: Graph) -> None:
    load = g.add_node("image.load", (0, 0), {"image": "images/sample.png"}, node_id=_id("canny", "load"))
    edges = g.add_node("preprocess.canny", (320, 0), node_id=_id("canny", "canny"))
    out = g.add_node("image.save", (640, 0), {"prefix": "canny"}, node_id=_id("canny", "save"))
    g.connect(load.id, "image", edges.id, "image")
    g.connect(edges.id, "image", out.id, "images")


def first_run(g: Graph) -> None:
    """Opened on a first launch: runs with no model at all."""
    load = g.add_node("image.load", (0, 0), {"image": "images/sample.png"}, node_id=_id("first", "load"))
    edges = g.add_node("preprocess.canny", (320, 0), node_id=_id("first", "canny"))
    show = g.add_node("image.preview", (640, 0), node_id=_id("first", "preview"))
    g.connect(load.id, "image", edges.id, "image")
    g.connect(edges.id, "image", show.id, "images")


CHECKPOINT = "v1-5-pruned-emaonly.safetensors"
CANNY_CONTROLNET = "control_v11p_sd15_canny.safetensors"
PROMPT = "a red brick cottage in a green valley, mountains, sunny day, detailed, high quality"
NEGATIVE = "blurry, low quality, deformed"


def _wire(g: Graph, *pairs: tuple[str, str, str, str]) -> None:
    for src, sp, dst, dp in pairs:
        g.connect(src, sp, dst, dp)


def _prompts(g: Graph, flow: str, ck: str, y: float = 0) -> tuple[str, str]:
    pos = g.add_node("text.encode", (340, y), {"text": PROMPT}, node_id=_id(flow, "positive"), title="Prompt")
    neg = g.add_node("text.encode", (340, y + 220), {"text": NEGATIVE}, node_id=_id(flow, "negative"),
                     title="Negative prompt")
    _wire(g, (ck, "clip", pos.id, "clip"), (ck, "clip", neg.id, "clip"))
    return pos.id, neg.id


def _finish(g: Graph, flow: str, ck: str, sampler: str, prefix: str, x: float = 1040) -> None:
    dec = g.add_node("latent.vae_decode", (x, 0), node_id=_id(flow, "decode"))
    out = g.add_node("image.save", (x + 300, 0), {"prefix": prefix}, node_id=_id(flow, "save"))
    _wire(g, (ck, "vae", dec.id, "vae"), (sampler, "latent", dec.id, "latent"), (dec.id, "image", out.id, "images"))


def txt2img(g: Graph) -> None:
    ck = g.add_node("model.checkpoint", (0, 0), {"checkpoint": CHECKPOINT}, node_id=_id("txt2img", "ckpt")).id
    pos, neg = _prompts(g, "txt2img", ck)
    lat = g.add_node("latent.empty", (340, 460), {"width": 512, "height": 512}, node_id=_id("txt2img", "latent"))
    smp = g.add_node("sample.sampler", (700, 0), {"seed": 42, "steps": 25, "cfg": 7.0, "sampler": "dpmpp_2m",
                                                  "scheduler": "karras"}, node_id=_id("txt2img", "sampler"))
    _wire(g, (ck, "model", smp.id, "model"), (pos, "conditioning", smp.id, "positive"),
          (neg, "conditioning", smp.id, "negative"), (lat.id, "latent", smp.id, "latent"))
    _finish(g, "txt2img", ck, smp.id, "txt2img")


DEPTH_CONTROLNET = "control_v11f1p_sd15_depth.safetensors"
POSE_CONTROLNET = "control_v11p_sd15_openpose.safetensors"
SEG_CONTROLNET = "control_v11p_sd15_seg.safetensors"


def _controlnet_flow(g: Graph, f: str, preprocess: str, params: dict, controlnet: str) -> None:
    """Checkpoint + prompts, an image through ``preprocess`` into one ControlNet, sample, decode, save."""
    ck = g.add_node("model.checkpoint", (0, 0), {"checkpoint": CHECKPOINT}, node_id=_id(f, "ckpt")).id
    pos, neg = _prompts(g, f, ck)
    img = g.add_node("image.load", (0, 460), {"image": "images/sample.png"}, node_id=_id(f, "image"))
    hint = g.add_node(preprocess, (340, 460), params, node_id=_id(f, "preprocess"))
    cn = g.add_node("model.controlnet", (340, 760), {"controlnet": controlnet}, node_id=_id(f, "cn"))
    apply = g.add_node("control.apply", (700, 300), {"strength": 1.0}, node_id=_id(f, "apply"))
    lat = g.add_node("latent.empty", (700, 620), {"width": 512, "height": 512}, node_id=_id(f, "latent"))
    smp = g.add_node("sample.sampler", (1040, 0), {"seed": 7, "steps": 20, "cfg": 7.5}, node_id=_id(f, "sampler"))
    _wire(g, (img.id, "image", hint.id, "image"), (pos, "conditioning", apply.id, "positive"),
          (neg, "conditioning", apply.id, "negative"), (cn.id, "control_net", apply.id, "control_net"),
          (hint.id, "image", apply.id, "image"), (ck, "model", smp.id, "model"),
          (apply.id, "positive", smp.id, "positive"), (apply.id, "negative", smp.id, "negative"),
          (lat.id, "latent", smp.id, "latent"))
    _finish(g, f, ck, smp.id, f, x=1380)
    g.add_group("Control", (-20, 420, 680, 480), "#2e6b6b", group_id=_id(f, "group"))


def controlnet_canny(g: Graph) -> None:
    _controlnet_flow(g, "controlnet_canny", "preprocess.canny", {}, CANNY_CONTROLNET)


def controlnet_depth(g: Graph) -> None:
    """Needs annotators/depth-anything-v2-small (depth-anything/Depth-Anything-V2-Small-hf)."""
    _controlnet_flow(g, "controlnet_depth", "preprocess.depth", {"model": "depth-anything-v2-small"},
                     DEPTH_CONTROLNET)


def controlnet_pose(g: Graph) -> None:
    """Needs annotators/rtdetr-r50vd and annotators/vitpose-base-simple."""
    _controlnet_flow(g, "controlnet_pose", "preprocess.pose", {"model": "vitpose-base-simple"}, POSE_CONTROLNET)


def controlnet_segmentation(g: Graph) -> None:
    """Needs annotators/upernet-convnext-small (openmmlab/upernet-convnext-small)."""
    _controlnet_flow(g, "controlnet_segmentation", "preprocess.segmentation", {"model": "upernet-convnext-small"},
                     SEG_CONTROLNET)


def img2img(g: Graph) -> None:
    f = "img2img"
    ck = g.add_node("model.checkpoint", (0, 0), {"checkpoint": CHECKPOINT}, node_id=_id(f, "ckpt")).id
    pos, neg = _prompts(g, f, ck)
    img = g.add_node("image.load", (0, 460), {"image": "images/sample.png"}, node_id=_id(f, "image"))
    enc = g.add_node("latent.vae_encode", (340, 460), node_id=_id(f, "encode"))
    smp = g.add_node("sample.sampler", (700, 0), {"seed": 3, "steps": 30, "denoise": 0.6},
                     node_id=_id(f, "sampler"))
    _wire(g, (img.id, "image", enc.id, "image"), (ck, "vae", enc.id, "vae"), (ck, "model", smp.id, "model"),
          (pos, "conditioning", smp.id, "positive"), (neg, "conditioning", smp.id, "negative"),
          (enc.id, "latent", smp.id, "latent"))
    _finish(g, f, ck, smp.id, "img2img")



TILE_CONTROLNET = "control_v11f1e_sd15_tile.safetensors"


def _sampler(g: Graph, f: str, name: str, pos: tuple[float, float], params: dict, ck: str, prompts: tuple[str, str],
             latent: tuple[str, str], type_id: str = "sample.sampler") -> str:
    smp = g.add_node(type_id, pos, params, node_id=_id(f, name))
    _wire(g, (ck, "model", smp.id, "model"), (prompts[0], "conditioning", smp.id, "positive"),
          (prompts[1], "conditioning", smp.id, "negative"), (*latent, smp.id, "latent"))
    return smp.id


def any_size(g: Graph) -> None:
    """A 3072×1024 panorama: generate at the trained size nearest 3:1, enlarge, refine with FSTD tiles."""
    f = "any_size"
    ck = g.add_node("model.checkpoint", (0, 0), {"checkpoint": CHECKPOINT}, node_id=_id(f, "ckpt")).id
    prompts = _prompts(g, f, ck)
    size = {"target_width": 3072, "target_height": 1024}
    lat = g.add_node("latent.empty_trained_size", (340, 460), size, node_id=_id(f, "latent"))
    g.connect(ck, "model", lat.id, "model")
    first = _sampler(g, f, "sampler", (700, 0), {"seed": 7, "steps": 25, "cfg": 7.0, "sampler": "dpmpp_2m",
                                                  "scheduler": "karras"}, ck, prompts, (lat.id, "latent"))
    dec = g.add_node("latent.vae_decode", (1040, 0), node_id=_id(f, "decode"))
    up = g.add_node("image.scale", (1040, 220), {"mode": "size", "width": 3072, "height": 1024, "method": "lanczos"},
                    node_id=_id(f, "enlarge"), title="Enlarge to the target")
    enc = g.add_node("latent.vae_encode_tiled", (1040, 480), node_id=_id(f, "encode"))
    refine = _sampler(g, f, "refine", (1380, 0), {"seed": 7, "steps": 25, "cfg": 7.0, "denoise": 0.45, "mode": "fstd"},
                      ck, prompts, (enc.id, "latent"), "sample.tiled")
    out_dec = g.add_node("latent.vae_decode_tiled", (1720, 0), node_id=_id(f, "decode_tiled"))
    out = g.add_node("image.save", (2020, 0), {"prefix": f}, node_id=_id(f, "save"))
    _wire(g, (ck, "vae", dec.id, "vae"), (first, "latent", dec.id, "latent"), (dec.id, "image", up.id, "image"),
          (up.id, "image", enc.id, "image"), (ck, "vae", enc.id, "vae"), (ck, "vae", out_dec.id, "vae"),
          (refine, "latent", out_dec.id, "latent"), (out_dec.id, "image", out.id, "images"))
    g.add_group("Enlarge and refine in tiles", (1020, -60, 1000, 720), "#2e5d6b", group_id=_id(f, "group"))


def hires_fix(g: Graph) -> None:
    """Generate at 512², enlarge the latent 1.5×, repaint the detail at half strength."""
    f = "hires_fix"
    ck = g.add_node("model.checkpoint", (0, 0), {"checkpoint": CHECKPOINT}, node_id=_id(f, "ckpt")).id
    prompts = _prompts(g, f, ck)
    lat = g.add_node("latent.empty", (340, 460), {"width": 512, "height": 512}, node_id=_id(f, "latent"))
    first = _sampler(g, f, "sampler", (700, 0), {"seed": 11, "steps": 25, "cfg": 7.0, "sampler": "dpmpp_2m",
                                                  "scheduler": "karras"}, ck, prompts, (lat.id, "latent"))
    up = g.add_node("latent.upscale", (700, 380), {"mode": "factor", "factor": 1.5, "method": "bicubic"},
                    node_id=_id(f, "upscale"))
    g.connect(first, "latent", up.id, "latent")
    second = _sampler(g, f, "hires", (1040, 0), {"seed": 11, "steps": 20, "cfg": 7.0, "sampler": "dpmpp_2m",
                                                  "scheduler": "karras", "denoise": 0.5}, ck, prompts, (up.id, "latent"))
    dec = g.add_node("latent.vae_decode_tiled", (1380, 0), node_id=_id(f, "decode"))
    out = g.add_node("image.save", (1680, 0), {"prefix": f}, node_id=_id(f, "save"))
    _wire(g, (ck, "vae", dec.id, "vae"), (second, "latent", dec.id, "latent"), (dec.id, "image", out.id, "images"))


def tile_upscale(g: Graph) -> None:
    """Enlarge a picture 2× and repaint its detail tile by tile, the Tile ControlNet holding each tile to
    its crop of the enlarged picture."""
    f = "tile_upscale"
    ck = g.add_node("model.checkpoint", (0, 0), {"checkpoint": CHECKPOINT}, node_id=_id(f, "ckpt")).id
    pos, neg = _prompts(g, f, ck)
    img = g.add_node("image.load", (0, 460), {"image": "images/sample.png"}, node_id=_id(f, "image"))
    up = g.add_node("image.scale", (340, 460), {"mode": "factor", "factor": 2.0, "method": "lanczos"},
                    node_id=_id(f, "enlarge"))
    cn = g.add_node("model.controlnet", (340, 700), {"controlnet": TILE_CONTROLNET}, node_id=_id(f, "cn"))
    apply = g.add_node("control.apply", (700, 300), {"strength": 0.8}, node_id=_id(f, "apply"))
    enc = g.add_node("latent.vae_encode_tiled", (700, 620), node_id=_id(f, "encode"))
    smp = g.add_node("sample.tiled", (1040, 0), {"seed": 5, "steps": 20, "cfg": 6.0, "denoise": 0.4, "mode": "mixture",
                                                 "overlap": 128}, node_id=_id(f, "sampler"))
    dec = g.add_node("latent.vae_decode_tiled", (1380, 0), node_id=_id(f, "decode"))
    out = g.add_node("image.save", (1680, 0), {"prefix": f}, node_id=_id(f, "save"))
    _wire(g, (img.id, "image", up.id, "image"), (pos, "conditioning", apply.id, "positive"),
          (neg, "conditioning", apply.id, "negative"), (cn.id, "control_net", apply.id, "control_net"),
          (up.id, "image", apply.id, "image"), (up.id, "image", enc.id, "image"), (ck, "vae", enc.id, "vae"),
          (ck, "model", smp.id, "model"), (apply.id, "positive", smp.id, "positive"),
          (apply.id, "negative", smp.id, "negative"), (enc.id, "latent", smp.id, "latent"),
          (ck, "vae", dec.id, "vae"), (smp.id, "latent", dec.id, "latent"), (dec.id, "image", out.id, "images"))

EXAMPLES: dict[str, Callable[[Graph], None]] = {
    "canny": canny, "first_run": first_run, "txt2img": txt2img, "controlnet_canny": controlnet_canny,
    "img2img": img2img, "controlnet_depth": controlnet_depth, "controlnet_pose": controlnet_pose,
    "controlnet_segmentation": controlnet_segmentation, "any_size": any_size, "hires_fix": hires_fix,
    "tile_upscale": tile_upscale,
}


# Examples whose builders live in their own scripts (they use the helpers above).
EXAMPLE_SCRIPTS = ("example_regional_prompts", "example_gligen_boxes", "example_layout_guidance")


def all_examples() -> dict[str, Callable[[Graph], None]]:
    import importlib
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    found = dict(EXAMPLES)
    for module_name in EXAMPLE_SCRIPTS:
        module = importlib.import_module(module_name)
        found[module.FLOW] = module.build
    return found


def main() -> None:
    reg = default_registry()
    for name, build in all_examples().items():
        g = Graph(reg)
        build(g)
        save(g, OUT / f"{name}.json")
        print(OUT / f"{name}.json")


if __name__ == "__main__":
    main()
