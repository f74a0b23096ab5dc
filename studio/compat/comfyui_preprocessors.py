"""The comfyui_controlnet_aux node pack's preprocessors → ours (``nodes/preprocess/``).

Each class takes the image and its own widgets, then a detect ``resolution`` (short side, default 512),
which our preprocessors call ``detect_resolution``. The pack has moved ``resolution`` between versions
(last in older files, after the pose toggles in newer DWPose ones), so UI files, which store widgets by
position, are read with the layout whose value types fit. ``AIO_Preprocessor`` runs the class its
``preprocessor`` widget names, with that class's defaults and its own resolution.

Importing this module adds the classes' ports and widget orders to ``comfyui_schema.SPECS``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from studio.core.graph import Link

from .comfyui_parse import BYPASSED, MUTED
from .comfyui_schema import SPECS, ComfySpec

if TYPE_CHECKING:
    from .comfyui import _Builder
    from .comfyui_parse import CNode

_IMAGE_IN = (("image", "IMAGE"),)
_IMAGE_OUT = (("IMAGE", "IMAGE"),)
_POSE_OUT = (("IMAGE", "IMAGE"), ("POSE_KEYPOINT", "POSE_KEYPOINT"))
_RES = ("resolution", 512)
_TOGGLES = (("detect_hand", "enable"), ("detect_body", "enable"), ("detect_face", "enable"))
_SAFE = (("safe", "enable"), _RES)
_MIDAS = (("a", 6.283185307179586), ("bg_threshold", 0.1), _RES)


def _spec(title: str, *widgets: tuple[str, Any], outputs: tuple[tuple[str, str], ...] = _IMAGE_OUT) -> ComfySpec:
    return ComfySpec(title, inputs=_IMAGE_IN, widgets=tuple(widgets), outputs=outputs)


# The newest widget order of each class (titles: the pack's display names).
PREPROCESSOR_SPECS: dict[str, ComfySpec] = {
    "CannyEdgePreprocessor": _spec("Canny Edge", ("low_threshold", 100), ("high_threshold", 200), _RES),
    "DWPreprocessor": _spec("DWPose Estimator", *_TOGGLES, _RES, ("bbox_detector", "yolox_l.onnx"),
                            ("pose_estimator", "dw-ll_ucoco_384_bs5.torchscript.pt"),
                            ("scale_stick_for_xinsr_cn", "disable"), outputs=_POSE_OUT),
    "OpenposePreprocessor": _spec("OpenPose Pose", *_TOGGLES, _RES, ("scale_stick_for_xinsr_cn", "disable"),
                                  outputs=_POSE_OUT),
    "Zoe-DepthMapPreprocessor": _spec("Zoe Depth Map", _RES),
    "MiDaS-DepthMapPreprocessor": _spec("MiDaS Depth Map", *_MIDAS),
    "MiDaS-NormalMapPreprocessor": _spec("MiDaS Normal Map", *_MIDAS),
    "LeReS-DepthMapPreprocessor": _spec("LeReS Depth Map (enable boost for leres++)", ("rm_nearest", 0.0),
                                        ("rm_background", 0.0), ("boost", "disable"), _RES),
    "DepthAnythingV2Preprocessor": _spec("Depth Anything V2 - Relative", ("ckpt_name", "depth_anything_v2_vitl.pth"),
                                         _RES),
    "DepthAnythingPreprocessor": _spec("Depth Anything", ("ckpt_name", "depth_anything_vitl14.pth"), _RES),
    "LineArtPreprocessor": _spec("Realistic Lineart", ("coarse", "disable"), _RES),
    "LineartStandardPreprocessor": _spec("Standard Lineart", ("guassian_sigma", 6.0), ("intensity_threshold", 8),
                                         _RES),
    "AnimeLineArtPreprocessor": _spec("Anime Lineart", _RES),
    "Manga2Anime_LineArt_Preprocessor": _spec("Manga Lineart (aka lineart_anime_denoise)", _RES),
    "BAE-NormalMapPreprocessor": _spec("BAE Normal Map", _RES),
    "Zoe_DepthAnythingPreprocessor": _spec("Zoe Depth Anything", ("environment", "indoor"), _RES),
    "Scribble_XDoG_Preprocessor": _spec("Scribble XDoG Lines", ("threshold", 32), _RES),
    "Scribble_PiDiNet_Preprocessor": _spec("Scribble PiDiNet Lines", *_SAFE),
    "HEDPreprocessor": _spec("HED Soft-Edge Lines", *_SAFE),
    "PiDiNetPreprocessor": _spec("PiDiNet Soft-Edge Lines", *_SAFE),
    "FakeScribblePreprocessor": _spec("Fake Scribble Lines (aka scribble_hed)", *_SAFE),
    "ScribblePreprocessor": _spec("Scribble Lines", _RES),
    "M-LSDPreprocessor": _spec("M-LSD Lines", ("score_threshold", 0.1), ("dist_threshold", 0.1), _RES),
    "TilePreprocessor": _spec("Tile", ("pyrUp_iters", 3), _RES),
    "BinaryPreprocessor": _spec("Binary Lines", ("bin_threshold", 100), _RES),
    "OneFormer-ADE20K-SemSegPreprocessor": _spec("OneFormer ADE20K Segmentor", _RES),
    "UniFormer-SemSegPreprocessor": _spec("UniFormer Segmentor", _RES),
    "SemSegPreprocessor": _spec("Semantic Segmentor (legacy, alias for UniFormer)", _RES),
    "AIO_Preprocessor": _spec("AIO Aux Preprocessor", ("preprocessor", "none"), _RES),
}

# Older layouts of the pack, as UI files saved by those versions hold them.
_OLD_LAYOUTS: dict[str, tuple[tuple[str, ...], ...]] = {
    "DWPreprocessor": (("detect_hand", "detect_body", "detect_face", "bbox_detector", "pose_estimator", "resolution"),
                       ("detect_hand", "detect_body", "detect_face", "resolution")),
    "LeReS-DepthMapPreprocessor": (("rm_nearest", "rm_background", "resolution"),),
}


def _fits(default: Any, value: Any) -> bool:
    """Whether ``value`` has the type of a widget whose default is ``default``."""
    if isinstance(value, bool):
        return isinstance(default, bool)
    if isinstance(default, int):
        return isinstance(value, int)
    if isinstance(default, float):
        return isinstance(value, int | float)
    return isinstance(value, str)


def relayout(b: _Builder, c: CNode) -> None:
    """Rename a UI node's positional widget values by the first layout their types fit (same length
    first, then a layout they begin): the parser named them by the newest order. Values that fit no
    layout (a pack version we do not know) fall back to the defaults, with a report line."""
    spec = PREPROCESSOR_SPECS[c.class_type]
    named = [n for n, _ in spec.widgets if "widgets_values[" in c.value_paths.get(n, "")]
    if not named:
        return
    values = [c.values[n] for n in named]
    defaults = dict(spec.widgets)
    layouts = [tuple(n for n, _ in spec.widgets), *_OLD_LAYOUTS.get(c.class_type, ())]
    ranked = [x for x in layouts if len(x) == len(values)] + [x for x in layouts if len(x) > len(values)]
    for layout in ranked:
        if all(_fits(defaults[n], v) for n, v in zip(layout, values, strict=False)):
            paths = [c.value_paths[n].rsplit(" (", 1)[0] for n in named]
            for n in named:
                del c.values[n], c.value_paths[n]
            for n, v, p in zip(layout, values, paths, strict=False):
                c.values[n], c.value_paths[n] = v, f"{p} ({n})"
            return
    misfits = [n for n in named if not _fits(defaults[n], c.values[n])]
    for n in misfits:
        del c.values[n], c.value_paths[n]
    b.report.dropped(f"{c.label}: its widget values are in a layout this importer does not know; defaults "
                     f"are used for {', '.join(misfits)}")


def _res(b: _Builder, c: CNode) -> int:
    return b.whole(c, "resolution")


def _simple(b: _Builder, c: CNode, type_id: str, params: dict[str, Any], outputs: list[str] | None = None) -> str:
    return b.add(c, type_id, params, {"image": "image"}, outputs or ["image"])


def _weight_free(b: _Builder, c: CNode, what: str) -> None:
    b.report.approximated(f"{c.label}: {what} → our weight-free extractor: a hint of the same kind, not the same "
                          "pixels")


def canny(b: _Builder, c: CNode) -> None:
    low, high = b.whole(c, "low_threshold"), b.whole(c, "high_threshold")
    _simple(b, c, "preprocess.canny", {"low": low, "high": high, "blur": 0.0})
    b.report.approximated(f"{c.label}: edges are found at the image's own size, not resized to {_res(b, c)} "
                          "pixels on the short side first: fine edges may differ")


def _pose(b: _Builder, c: CNode, name: str) -> None:
    _simple(b, c, "preprocess.pose", {"detect_resolution": _res(b, c)}, ["image", "pose"])
    parts = [p for p in ("hand", "face") if b.text(c, f"detect_{p}") == "enable"]
    extra = f"; {' and '.join(parts)} keypoints are not drawn" if parts else ""
    b.report.approximated(f"{c.label}: {name} → our body-pose detector (RT-DETR + ViTPose), drawn as the OpenPose "
                          f"body hint{extra}")
    if b.text(c, "detect_body") == "disable":
        b.report.approximated(f"{c.label}: body detection is off there; our detector always draws bodies")


def dwpose(b: _Builder, c: CNode) -> None:
    _pose(b, c, "DWPose")


def openpose(b: _Builder, c: CNode) -> None:
    _pose(b, c, "OpenPose")


def _depth(b: _Builder, c: CNode, model: str, why: str | None = None) -> str:
    node_id = _simple(b, c, "preprocess.depth", {"model": model, "detect_resolution": _res(b, c)})
    if why:
        b.report.approximated(f"{c.label}: {why}; using our depth node with {model}")
    return node_id


def zoe(b: _Builder, c: CNode) -> None:
    _depth(b, c, "zoedepth-nyu-kitti", "ZoeDepth's NYU model (ZoeD_M12_N) → its NYU+KITTI sibling")


def midas_depth(b: _Builder, c: CNode) -> None:
    # The same DPT-Hybrid MiDaS weights; a and bg_threshold only shape the pack's normal map.
    _depth(b, c, "dpt-hybrid-midas")


def leres(b: _Builder, c: CNode) -> None:
    _depth(b, c, "depth-anything-v2-small", "LeReS has no counterpart here (rm_nearest, rm_background and boost "
                                            "are dropped)")


_DA2 = {"vits": "depth-anything-v2-small", "vitb": "depth-anything-v2-base", "vitl": "depth-anything-v2-large"}


def depth_anything_v2(b: _Builder, c: CNode) -> None:
    ckpt = b.text(c, "ckpt_name")
    size = next((k for k in _DA2 if f"_{k}" in ckpt), None)
    if size is None:
        _depth(b, c, "depth-anything-v2-large", f"{ckpt!r} (the giant model) has no counterpart here")
    else:
        _depth(b, c, _DA2[size])


def zoe_depth_anything(b: _Builder, c: CNode) -> None:
    _depth(b, c, "depth-anything-v2-small", f"ZoeDepth on Depth Anything ({b.text(c, 'environment')} metric "
                                            "model) has no counterpart here")


def depth_anything(b: _Builder, c: CNode) -> None:
    ckpt = b.text(c, "ckpt_name")
    if "vits" in ckpt:
        _depth(b, c, "depth-anything-small")
    else:
        size = "vitb" if "vitb" in ckpt else "vitl"
        _depth(b, c, _DA2[size], f"Depth Anything {ckpt!r} → its version 2 model of the same size")


def _normals(b: _Builder, c: CNode, background: float, why: str) -> None:
    """Depth (MiDaS weights), then our normal map from depth: two nodes for one. Muted or bypassed,
    the depth node alone does what ComfyUI does (nothing, or the image passed on)."""
    depth_id = _depth(b, c, "dpt-hybrid-midas")
    if b.graph.nodes[depth_id].type_id != "preprocess.depth" or c.mode in (MUTED, BYPASSED):
        return
    params = {"detect_resolution": 0, "relief": 0.5, "background": min(max(background, 0.0), 1.0)}
    normal_id = b.add_extra(c, "normal", "preprocess.normal_from_depth", params, (0.0, 160.0))
    b.graph.insert_link(Link(depth_id, "image", normal_id, "depth"))
    b.outs[(c.id, 0)] = (normal_id, "image")
    b.slots[(normal_id, "image")] = 0
    b.report.approximated(f"{c.label}: → Depth Map (MiDaS) then Normal Map from Depth; {why}")


def midas_normal(b: _Builder, c: CNode) -> None:
    _normals(b, c, b.num(c, "bg_threshold"), f"the slope scale a {b.num(c, 'a'):g} has no exact counterpart "
                                             "(relief 0.5), bg_threshold becomes background")


def bae_normal(b: _Builder, c: CNode) -> None:
    _normals(b, c, 0.0, "normals from depth slopes, not the BAE model's own estimate (the same colour convention)")


def lineart(b: _Builder, c: CNode) -> None:
    _simple(b, c, "preprocess.lineart", {"detect_resolution": _res(b, c)})
    coarse = " (coarse)" if b.text(c, "coarse") == "enable" else ""
    _weight_free(b, c, f"the realistic line-art model{coarse}")


def other_lineart(b: _Builder, c: CNode) -> None:
    names = {"LineartStandardPreprocessor": "the standard line-art filter",
             "AnimeLineArtPreprocessor": "the anime line-art model",
             "Manga2Anime_LineArt_Preprocessor": "the manga line-art model"}
    _simple(b, c, "preprocess.lineart", {"detect_resolution": _res(b, c)})
    _weight_free(b, c, names.get(c.class_type, "line art"))


def hed(b: _Builder, c: CNode) -> None:
    _simple(b, c, "preprocess.softedge", {"detect_resolution": _res(b, c)})
    _weight_free(b, c, "the HED soft-edge model")


def pidinet(b: _Builder, c: CNode) -> None:
    _simple(b, c, "preprocess.softedge", {"detect_resolution": _res(b, c)})
    _weight_free(b, c, "the PiDiNet soft-edge model")


def fake_scribble(b: _Builder, c: CNode) -> None:
    _simple(b, c, "preprocess.scribble", {"detect_resolution": _res(b, c)})
    _weight_free(b, c, "HED edges thinned to scribbles")


def other_scribble(b: _Builder, c: CNode) -> None:
    _simple(b, c, "preprocess.scribble", {"detect_resolution": _res(b, c)})
    kind = "XDoG" if c.class_type == "Scribble_XDoG_Preprocessor" else "PiDiNet"
    _weight_free(b, c, f"{kind} scribbles")


# The pack's scribble keeps pixels whose darkest channel is at least 127 (of 255) white.
_SCRIBBLE_LEVEL = 126.5 / 255


def scribble(b: _Builder, c: CNode) -> None:
    _simple(b, c, "preprocess.threshold", {"threshold": round(_SCRIBBLE_LEVEL, 4), "invert": False})
    b.report.approximated(f"{c.label}: a threshold at 127 of 255 on brightness (theirs on the darkest channel: the "
                          "same for grey drawings)")


def mlsd(b: _Builder, c: CNode) -> None:
    _simple(b, c, "preprocess.mlsd", {"detect_resolution": _res(b, c)})
    b.report.approximated(f"{c.label}: the M-LSD model → our weight-free straight-line detector; score_threshold "
                          f"{b.num(c, 'score_threshold'):g} and dist_threshold {b.num(c, 'dist_threshold'):g} have no "
                          "counterpart (our min length and min score keep their defaults)")


def tile(b: _Builder, c: CNode) -> None:
    iters = max(0, b.whole(c, "pyrUp_iters"))
    factor = float(min(2 ** min(iters, 4), 16))
    _simple(b, c, "preprocess.tile", {"downsample": factor, "blur": 2.0})
    b.report.approximated(f"{c.label}: shrink by 2^{iters} and pyramid-upscale at {_res(b, c)} pixels → shrink by "
                          f"{factor:g} at the image's size, bicubic upscale and a σ 2 blur")


def binary(b: _Builder, c: CNode) -> None:
    level = b.whole(c, "bin_threshold")
    if level in (0, 255):
        b.report.approximated(f"{c.label}: bin_threshold {level} asks for Otsu's automatic level; using half "
                              "brightness")
        threshold = 0.5
    else:
        threshold = round(min(max(level, 0), 255) / 255, 4)
    _simple(b, c, "preprocess.threshold", {"threshold": threshold, "invert": True})


def _segment(b: _Builder, c: CNode, model: str, why: str) -> None:
    _simple(b, c, "preprocess.segmentation", {"model": model, "detect_resolution": _res(b, c)})
    b.report.approximated(f"{c.label}: {why} → {model} (ADE20K labels and colours as there)")


def oneformer_ade20k(b: _Builder, c: CNode) -> None:
    _segment(b, c, "oneformer-ade20k-swin-tiny", "OneFormer Swin-L")


def uniformer(b: _Builder, c: CNode) -> None:
    _segment(b, c, "upernet-convnext-small", "UniFormer (UperNet)")


def aio(b: _Builder, c: CNode) -> None:
    """Run the chosen class with its defaults and this node's resolution."""
    chosen = b.text(c, "preprocessor")
    if chosen == "none":
        b.add(c, "util.reroute", {}, {"image": "value"}, ["value"])
        b.report.info(f"{c.label}: preprocessor 'none' passes the image on unchanged")
        return
    translate = _BY_CLASS.get(chosen)
    if translate is None or chosen == "AIO_Preprocessor":
        b.unsupported(c, f"its preprocessor {chosen!r} has no counterpart here")
        return
    b.report.info(f"{c.label}: runs {chosen} with that node's default settings and this node's resolution")
    resolution = c.values.get("resolution", 512)
    path = c.value_paths.get("resolution", f"{c.path} (resolution)")
    inner = replace(c, class_type=chosen, values={"resolution": resolution}, value_paths={"resolution": path})
    translate(b, inner)


def _read(translate: Callable[[_Builder, CNode], Any]) -> Callable[[_Builder, CNode], Any]:
    """``translate`` after naming a UI node's widgets by the layout they fit."""
    def run(b: _Builder, c: CNode) -> Any:
        relayout(b, c)
        return translate(b, c)

    run.__doc__ = translate.__doc__
    return run


_BY_CLASS: dict[str, Callable[[_Builder, CNode], Any]] = {
    "CannyEdgePreprocessor": canny,
    "DWPreprocessor": dwpose,
    "OpenposePreprocessor": openpose,
    "Zoe-DepthMapPreprocessor": zoe,
    "MiDaS-DepthMapPreprocessor": midas_depth,
    "MiDaS-NormalMapPreprocessor": midas_normal,
    "LeReS-DepthMapPreprocessor": leres,
    "DepthAnythingV2Preprocessor": depth_anything_v2,
    "DepthAnythingPreprocessor": depth_anything,
    "LineArtPreprocessor": lineart,
    "LineartStandardPreprocessor": other_lineart,
    "AnimeLineArtPreprocessor": other_lineart,
    "Manga2Anime_LineArt_Preprocessor": other_lineart,
    "BAE-NormalMapPreprocessor": bae_normal,
    "Zoe_DepthAnythingPreprocessor": zoe_depth_anything,
    "Scribble_XDoG_Preprocessor": other_scribble,
    "Scribble_PiDiNet_Preprocessor": other_scribble,
    "HEDPreprocessor": hed,
    "PiDiNetPreprocessor": pidinet,
    "FakeScribblePreprocessor": fake_scribble,
    "ScribblePreprocessor": scribble,
    "M-LSDPreprocessor": mlsd,
    "TilePreprocessor": tile,
    "BinaryPreprocessor": binary,
    "OneFormer-ADE20K-SemSegPreprocessor": oneformer_ade20k,
    "UniFormer-SemSegPreprocessor": uniformer,
    "SemSegPreprocessor": uniformer,
    "AIO_Preprocessor": aio,
}
TRANSLATORS: dict[str, Callable[[_Builder, CNode], Any]] = {name: _read(fn) for name, fn in _BY_CLASS.items()}

SPECS.update(PREPROCESSOR_SPECS)
