"""The comfyui_controlnet_aux preprocessors import as ours, from API prompts (named values) and UI files
(widget values by position, in the layouts the pack's node_wrappers/*.py have had: ``resolution`` last
in older versions, after the pose toggles in newer DWPose ones), and wire into ControlNet as there."""

from __future__ import annotations

from typing import Any

import pytest

from studio.compat import import_comfyui
from studio.compat.comfyui_preprocessors import PREPROCESSOR_SPECS
from studio.core.registry import default_registry

from .helpers import comfy_view

REG = default_registry()

_ALL = [str(i) for i in (*range(2, 23), *range(28, 35))]  # corpus ids of the preprocessors, fed by LoadImage #1
# For the corpus tests (``tests/compat/test_comfyui_corpus.py`` EXPECTED): corpus/preprocessors.*.json, every
# class of the pack that we translate, the normal map (two nodes) feeding a ControlNet.
EXPECTED_CORPUS = {
    "nodes": {
        "1": ("image.load", {"image": "sample.png"}),
        "2": ("preprocess.canny", {"low": 90, "high": 180, "blur": 0.0}),
        "3": ("preprocess.pose", {"model": "vitpose-base-simple", "detect_resolution": 768}),
        "4": ("preprocess.pose", {"model": "vitpose-base-simple", "detect_resolution": 640}),
        "5": ("preprocess.depth", {"model": "zoedepth-nyu-kitti", "detect_resolution": 576}),
        "6": ("preprocess.depth", {"model": "dpt-hybrid-midas", "detect_resolution": 512}),
        "7": ("preprocess.depth", {"model": "dpt-hybrid-midas", "detect_resolution": 512}),
        "7/normal": ("preprocess.normal_from_depth", {"detect_resolution": 0, "relief": 0.5, "background": 0.2}),
        "8": ("preprocess.depth", {"model": "depth-anything-v2-small", "detect_resolution": 512}),
        "9": ("preprocess.depth", {"model": "depth-anything-v2-small", "detect_resolution": 512}),
        "10": ("preprocess.lineart", {"detect_resolution": 1024}),
        "11": ("preprocess.softedge", {"detect_resolution": 512}),
        "12": ("preprocess.softedge", {"detect_resolution": 448}),
        "13": ("preprocess.mlsd", {"detect_resolution": 512}),
        "14": ("preprocess.tile", {"downsample": 8.0}),
        "15": ("preprocess.threshold", {"threshold": 0.3922, "invert": True}),
        "16": ("preprocess.segmentation", {"model": "oneformer-ade20k-swin-tiny", "detect_resolution": 640}),
        "17": ("preprocess.threshold", {"threshold": 0.4961, "invert": False}),
        "18": ("preprocess.scribble", {"detect_resolution": 512}),
        "19": ("preprocess.depth", {"model": "depth-anything-v2-large", "detect_resolution": 768}),
        "20": ("preprocess.segmentation", {"model": "upernet-convnext-small", "detect_resolution": 512}),
        "21": ("preprocess.segmentation", {"model": "upernet-convnext-small", "detect_resolution": 512}),
        "22": ("preprocess.depth", {"model": "depth-anything-small", "detect_resolution": 512}),
        "23": ("model.controlnet", {"controlnet": "control_v11p_sd15_normalbae.safetensors"}),
        "24": ("model.checkpoint", {"checkpoint": "v1-5-pruned-emaonly.safetensors"}),
        "25": ("text.encode", {"text": "a stone bridge over a river"}),
        "26": ("control.apply", {"strength": 0.8, "start": 0.0, "end": 1.0}),
        "27": ("image.preview", {}),
        "28": ("preprocess.lineart", {"detect_resolution": 768}),
        "29": ("preprocess.lineart", {"detect_resolution": 512}),
        "30": ("preprocess.lineart", {"detect_resolution": 640}),
        "31": ("preprocess.depth", {"model": "dpt-hybrid-midas", "detect_resolution": 512}),
        "31/normal": ("preprocess.normal_from_depth", {"detect_resolution": 0, "background": 0.0}),
        "32": ("preprocess.depth", {"model": "depth-anything-v2-small", "detect_resolution": 512}),
        "33": ("preprocess.scribble", {"detect_resolution": 512}),
        "34": ("preprocess.scribble", {"detect_resolution": 384}),
    },
    "links": {("1", "image", cid, "image") for cid in _ALL} | {
        ("7", "image", "7/normal", "depth"), ("7/normal", "image", "26", "image"), ("31", "image", "31/normal", "depth"),
        ("23", "control_net", "26", "control_net"), ("24", "clip", "25", "clip"),
        ("25", "conditioning", "26", "positive"), ("25", "conditioning", "26", "negative"),
        ("3", "image", "27", "images")},
}


def _api(cls: str, values: dict[str, Any]) -> dict[str, Any]:
    """LoadImage → the preprocessor → Apply ControlNet's hint, as an API prompt."""
    return {
        "1": {"class_type": "LoadImage", "inputs": {"image": "photo.png", "upload": "image"}},
        "2": {"class_type": cls, "inputs": {"image": ["1", 0], **values}},
        "3": {"class_type": "ControlNetLoader", "inputs": {"control_net_name": "control_sd15.safetensors"}},
        "4": {"class_type": "CLIPTextEncode", "inputs": {"text": "a house", "clip": ["5", 1]}},
        "5": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "v1-5.safetensors"}},
        "6": {"class_type": "ControlNetApplyAdvanced",
              "inputs": {"positive": ["4", 0], "negative": ["4", 0], "control_net": ["3", 0], "image": ["2", 0],
                         "strength": 1.0, "start_percent": 0.0, "end_percent": 1.0}},
    }


def _ui(cls: str, widgets: list[Any], *, mode: int = 0) -> dict[str, Any]:
    """The same flow as a UI file, the preprocessor's widgets given by position."""
    def node(nid: int, typ: str, widgets_values: list[Any], inputs: list[dict[str, Any]], outputs: list[str],
             node_mode: int = 0) -> dict[str, Any]:
        return {"id": nid, "type": typ, "pos": [nid * 300, 0], "size": [300, 100], "flags": {}, "order": nid,
                "mode": node_mode, "inputs": inputs, "outputs": [{"name": o, "type": o, "links": []} for o in outputs],
                "properties": {}, "widgets_values": widgets_values}

    nodes = [
        node(1, "LoadImage", ["photo.png", "image"], [], ["IMAGE", "MASK"]),
        node(2, cls, widgets, [{"name": "image", "type": "IMAGE", "link": 1}], ["IMAGE"], mode),
        node(3, "ControlNetLoader", ["control_sd15.safetensors"], [], ["CONTROL_NET"]),
        node(5, "CheckpointLoaderSimple", ["v1-5.safetensors"], [], ["MODEL", "CLIP", "VAE"]),
        node(4, "CLIPTextEncode", ["a house"], [{"name": "clip", "type": "CLIP", "link": 2}], ["CONDITIONING"]),
        node(6, "ControlNetApplyAdvanced", [1.0, 0.0, 1.0],
             [{"name": "positive", "type": "CONDITIONING", "link": 3},
              {"name": "negative", "type": "CONDITIONING", "link": 4},
              {"name": "control_net", "type": "CONTROL_NET", "link": 5},
              {"name": "image", "type": "IMAGE", "link": 6}], ["positive", "negative"]),
    ]
    links = [[1, 1, 0, 2, 0, "IMAGE"], [2, 5, 1, 4, 0, "CLIP"], [3, 4, 0, 6, 0, "CONDITIONING"],
             [4, 4, 0, 6, 1, "CONDITIONING"], [5, 3, 0, 6, 2, "CONTROL_NET"], [6, 2, 0, 6, 3, "IMAGE"]]
    return {"last_node_id": 6, "last_link_id": 6, "nodes": nodes, "links": links, "groups": [], "config": {},
            "extra": {}, "version": 0.4}


def _imported(doc: dict[str, Any]) -> tuple[dict[str, Any], set[tuple[str, str, str, str]], list[str]]:
    graph, report = import_comfyui(doc, REG)
    nodes, links = comfy_view(graph, ["1", "2", "3", "4", "5", "6", "2/normal"])
    return nodes, links, report.lines


# ComfyUI class, its values (distinct, so that a value read from the wrong place shows) → our type and params.
CASES: list[tuple[str, dict[str, Any], str, dict[str, Any]]] = [
    ("CannyEdgePreprocessor", {"low_threshold": 80, "high_threshold": 170, "resolution": 640},
     "preprocess.canny", {"low": 80, "high": 170, "blur": 0.0}),
    ("DWPreprocessor", {"detect_hand": "disable", "detect_body": "enable", "detect_face": "disable",
                        "resolution": 768, "bbox_detector": "yolox_l.onnx",
                        "pose_estimator": "dw-ll_ucoco_384_bs5.torchscript.pt", "scale_stick_for_xinsr_cn": "disable"},
     "preprocess.pose", {"detect_resolution": 768}),
    ("OpenposePreprocessor", {"detect_hand": "enable", "detect_body": "enable", "detect_face": "enable",
                              "resolution": 704}, "preprocess.pose", {"detect_resolution": 704}),
    ("Zoe-DepthMapPreprocessor", {"resolution": 576}, "preprocess.depth",
     {"model": "zoedepth-nyu-kitti", "detect_resolution": 576}),
    ("MiDaS-DepthMapPreprocessor", {"a": 6.28, "bg_threshold": 0.1, "resolution": 640}, "preprocess.depth",
     {"model": "dpt-hybrid-midas", "detect_resolution": 640}),
    ("LeReS-DepthMapPreprocessor", {"rm_nearest": 0.0, "rm_background": 0.0, "boost": "disable", "resolution": 512},
     "preprocess.depth", {"model": "depth-anything-v2-small", "detect_resolution": 512}),
    ("DepthAnythingV2Preprocessor", {"ckpt_name": "depth_anything_v2_vitb.pth", "resolution": 1024},
     "preprocess.depth", {"model": "depth-anything-v2-base", "detect_resolution": 1024}),
    ("LineArtPreprocessor", {"coarse": "enable", "resolution": 832}, "preprocess.lineart", {"detect_resolution": 832}),
    ("HEDPreprocessor", {"safe": "enable", "resolution": 448}, "preprocess.softedge", {"detect_resolution": 448}),
    ("PiDiNetPreprocessor", {"safe": "disable", "resolution": 384}, "preprocess.softedge", {"detect_resolution": 384}),
    ("FakeScribblePreprocessor", {"safe": "enable", "resolution": 320}, "preprocess.scribble",
     {"detect_resolution": 320}),
    ("ScribblePreprocessor", {"resolution": 512}, "preprocess.threshold", {"threshold": 0.4961, "invert": False}),
    ("M-LSDPreprocessor", {"score_threshold": 0.2, "dist_threshold": 3.5, "resolution": 896}, "preprocess.mlsd",
     {"detect_resolution": 896}),
    ("TilePreprocessor", {"pyrUp_iters": 2, "resolution": 512}, "preprocess.tile", {"downsample": 4.0}),
    ("BinaryPreprocessor", {"bin_threshold": 51, "resolution": 512}, "preprocess.threshold",
     {"threshold": 0.2, "invert": True}),
    ("OneFormer-ADE20K-SemSegPreprocessor", {"resolution": 960}, "preprocess.segmentation",
     {"model": "oneformer-ade20k-swin-tiny", "detect_resolution": 960}),    ("LineartStandardPreprocessor", {"guassian_sigma": 2.0, "intensity_threshold": 4, "resolution": 768},
     "preprocess.lineart", {"detect_resolution": 768}),
    ("AnimeLineArtPreprocessor", {"resolution": 576}, "preprocess.lineart", {"detect_resolution": 576}),
    ("Manga2Anime_LineArt_Preprocessor", {"resolution": 640}, "preprocess.lineart", {"detect_resolution": 640}),
    ("Zoe_DepthAnythingPreprocessor", {"environment": "outdoor", "resolution": 704}, "preprocess.depth",
     {"model": "depth-anything-v2-small", "detect_resolution": 704}),
    ("Scribble_XDoG_Preprocessor", {"threshold": 20, "resolution": 448}, "preprocess.scribble",
     {"detect_resolution": 448}),
    ("Scribble_PiDiNet_Preprocessor", {"safe": "disable", "resolution": 320}, "preprocess.scribble",
     {"detect_resolution": 320}),
]


@pytest.mark.parametrize(("cls", "values", "ours", "params"), CASES, ids=[c[0] for c in CASES])
def test_each_class_becomes_our_preprocessor_from_both_file_forms(cls, values, ours, params):
    widgets = [values[name] for name, _ in PREPROCESSOR_SPECS[cls].widgets if name in values]
    for doc in (_api(cls, values), _ui(cls, widgets)):
        nodes, links, _ = _imported(doc)
        assert nodes["2"].type_id == ours
        assert {k: nodes["2"].params[k] for k in params} == params
        assert ("1", "image", "2", "image") in links
        assert ("2", "image", "6", "image") in links  # the hint reaches the ControlNet


def test_the_bae_normal_map_is_depth_then_normals_from_depth_too():
    nodes, links, lines = _imported(_ui("BAE-NormalMapPreprocessor", [768]))
    assert (nodes["2"].params["detect_resolution"], nodes["2/normal"].params["background"]) == (768, 0.0)
    assert {("2", "image", "2/normal", "depth"), ("2/normal", "image", "6", "image")} <= links
    assert any("not the BAE model's own estimate" in line for line in lines)


def test_the_midas_normal_map_is_depth_then_normals_from_depth():
    values = {"a": 6.28, "bg_threshold": 0.25, "resolution": 640}
    for doc in (_api("MiDaS-NormalMapPreprocessor", values), _ui("MiDaS-NormalMapPreprocessor", [6.28, 0.25, 640])):
        nodes, links, lines = _imported(doc)
        assert nodes["2"].type_id == "preprocess.depth" and nodes["2"].params["model"] == "dpt-hybrid-midas"
        assert nodes["2/normal"].type_id == "preprocess.normal_from_depth"
        assert nodes["2/normal"].params["background"] == 0.25
        assert {("1", "image", "2", "image"), ("2", "image", "2/normal", "depth"),
                ("2/normal", "image", "6", "image")} <= links
        assert any("Normal Map from Depth" in line for line in lines)
    # Bypassed, ComfyUI passes the image on: our depth node, bypassed, does the same on its own.
    nodes, links, _ = _imported(_ui("MiDaS-NormalMapPreprocessor", [6.28, 0.25, 640], mode=4))
    assert "2/normal" not in nodes and ("2", "image", "6", "image") in links


@pytest.mark.parametrize(("widgets", "resolution", "hands"), [
    (["enable", "enable", "disable", 640, "yolox_l.onnx", "dw-ll_ucoco_384.onnx", "disable"], 640, True),  # newest
    (["disable", "enable", "disable", "yolo_nas_s_fp16.onnx", "dw-ll_ucoco_384.onnx", 832], 832, False),  # resolution last
    (["enable", "enable", "enable", 448], 448, True),  # before the detector choices existed
])
def test_dwpose_widgets_are_read_in_the_layout_of_the_pack_version_that_saved_them(widgets, resolution, hands):
    nodes, _, lines = _imported(_ui("DWPreprocessor", widgets))
    assert nodes["2"].params["detect_resolution"] == resolution
    assert any("keypoints are not drawn" in line for line in lines) == hands


def test_widgets_in_a_layout_we_do_not_know_fall_back_to_defaults_with_a_report():
    # The pack's first OpenPose node had a version choice where resolution now is.
    nodes, _, lines = _imported(_ui("OpenposePreprocessor", ["enable", "enable", "disable", "v1.1"]))
    assert nodes["2"].type_id == "preprocess.pose" and nodes["2"].params["detect_resolution"] == 512
    assert any(line.startswith("dropped:") and "defaults are used for resolution" in line for line in lines)


def test_an_older_leres_layout_without_boost_still_finds_its_resolution():
    nodes, _, _ = _imported(_ui("LeReS-DepthMapPreprocessor", [0.0, 0.0, 768]))
    assert nodes["2"].params["detect_resolution"] == 768


def test_aio_runs_the_class_it_names_with_its_own_resolution():
    for doc in (_api("AIO_Preprocessor", {"preprocessor": "CannyEdgePreprocessor", "resolution": 768}),
                _ui("AIO_Preprocessor", ["CannyEdgePreprocessor", 768])):
        nodes, links, lines = _imported(doc)
        assert nodes["2"].type_id == "preprocess.canny"
        assert (nodes["2"].params["low"], nodes["2"].params["high"]) == (100, 200)  # Canny's defaults
        assert ("2", "image", "6", "image") in links
        assert any("runs CannyEdgePreprocessor" in line and "768" not in line for line in lines)
        assert any("not resized to 768" in line for line in lines)
    nodes, _, _ = _imported(_api("AIO_Preprocessor", {"preprocessor": "DepthAnythingV2Preprocessor",
                                                      "resolution": 640}))
    assert nodes["2"].params == {"model": "depth-anything-v2-large", "detect_resolution": 640}


def test_aio_none_passes_the_image_on_and_an_unknown_choice_is_a_placeholder():
    nodes, links, _ = _imported(_api("AIO_Preprocessor", {"preprocessor": "none", "resolution": 512}))
    assert nodes["2"].type_id == "util.reroute"
    assert {("1", "image", "2", "value"), ("2", "value", "6", "image")} <= links
    nodes, _, lines = _imported(_api("AIO_Preprocessor", {"preprocessor": "Unimatch_OptFlowPreprocessor",
                                                          "resolution": 512}))
    assert nodes["2"].type_id == "comfyui.AIO_Preprocessor"
    assert any("'Unimatch_OptFlowPreprocessor' has no counterpart" in line for line in lines)


def test_what_differs_is_reported():
    _, _, lines = _imported(_api("LeReS-DepthMapPreprocessor", {"resolution": 512}))
    assert any(line.startswith("approximated:") and "LeReS has no counterpart" in line for line in lines)
    _, _, lines = _imported(_api("BinaryPreprocessor", {"bin_threshold": 0, "resolution": 512}))
    assert any("Otsu" in line for line in lines)
    _, _, lines = _imported(_api("DWPreprocessor", {"detect_hand": "disable", "detect_face": "disable",
                                                    "detect_body": "disable", "resolution": 512}))
    assert any("always draws bodies" in line for line in lines)
    assert not any("keypoints are not drawn" in line for line in lines)
    # The same weights: nothing to report for MiDaS depth.
    _, _, lines = _imported(_api("MiDaS-DepthMapPreprocessor", {"resolution": 512}))
    assert not any("MiDaS-DepthMapPreprocessor" in line for line in lines)


def test_display_names_are_not_kept_as_titles():
    doc = _ui("HEDPreprocessor", ["enable", 512])
    doc["nodes"][1]["title"] = "HED Soft-Edge Lines"
    graph, _ = import_comfyui(doc, REG)
    nodes, _ = comfy_view(graph, ["1", "2", "3", "4", "5", "6"])
    assert nodes["2"].title is None
