"""The node-pack table: unknown classes of common custom node packs name their pack in the import report."""

from __future__ import annotations

import pytest

from studio.compat import import_comfyui
from studio.compat.comfyui_schema import SPECS
from studio.compat.node_packs import known_class_count, pack_for, pack_note
from studio.core.registry import default_registry

REG = default_registry()


@pytest.mark.parametrize(("class_type", "pack"), [
    ("FaceDetailer", "ComfyUI-Impact-Pack"),
    ("ImpactWildcardEncode", "ComfyUI-Impact-Pack"),
    ("UltralyticsDetectorProvider", "ComfyUI-Impact-Subpack"),
    ("IPAdapterFaceID", "ComfyUI_IPAdapter_plus"),
    ("Power Lora Loader (rgthree)", "rgthree-comfy"),
    ("Image Comparer (rgthree)", "rgthree-comfy"),
    ("Text Concatenate", "was-node-suite-comfyui"),
    ("WASAnyIndexSwitch", "was-node-suite-comfyui"),
    ("ShowText|pysssss", "ComfyUI-Custom-Scripts"),
    ("KSampler (Efficient)", "efficiency-nodes-comfyui"),
    ("CR Aspect Ratio", "ComfyUI_Comfyroll_CustomNodes"),
    ("SetNode", "ComfyUI-KJNodes"),
    ("ACN_AdvancedControlNetApply", "ComfyUI-Advanced-ControlNet"),
    ("ADE_AnimateDiffLoaderWithContext", "ComfyUI-AnimateDiff-Evolved"),
    ("UltimateSDUpscaleNoUpscale", "ComfyUI_UltimateSDUpscale"),
    ("VHS_VideoCombine", "ComfyUI-VideoHelperSuite"),
    ("Anything Everywhere3", "cg-use-everywhere"),
    ("ImageResize+", "ComfyUI_essentials"),
    ("KSampler //Inspire", "ComfyUI-Inspire-Pack"),
    ("ttN pipeLoader", "ComfyUI_tinyterraNodes"),
    ("BatchPromptSchedule", "ComfyUI_FizzNodes"),
    ("Get image size", "Derfuu_ComfyUI_ModdedNodes"),
    ("Get Image Size", "masquerade-nodes-comfyui"),
    ("Mask By Text", "masquerade-nodes-comfyui"),
    ("CM_FloatBinaryOperation", "ComfyMath"),
    ("Show any [Crystools]", "ComfyUI-Crystools"),
    ("Zoe_DepthAnythingPreprocessor", "comfyui_controlnet_aux"),
    ("BNK_CLIPTextEncodeAdvanced", "ComfyUI_ADV_CLIP_emb"),
    ("BNK_TiledKSampler", "ComfyUI_TiledKSampler"),
    ("faceDETAILER", "ComfyUI-Impact-Pack"),  # case-insensitive
])
def test_classes_map_to_their_packs(class_type, pack):
    found = pack_for(class_type)
    assert found is not None and found.name == pack
    assert found.description and "http" not in found.description


def test_core_and_made_up_classes_name_no_pack():
    for name in ("KSampler", "CLIPTextEncode", "ImageScale", "VAEDecode", "MyPrivateNode", "+", "", "wash_image"):
        assert pack_for(name) is None, name
    assert pack_note("MyPrivateNode") == ""
    assert known_class_count() > 300


def test_no_class_we_translate_is_listed_under_a_pack_by_mistake_of_a_core_name():
    # Our SPECS hold ComfyUI core classes and packs' classes we translate; core ones must not name a pack.
    core = {"KSampler", "KSamplerAdvanced", "CheckpointLoaderSimple", "CheckpointLoader", "LoadImage", "SaveImage",
            "ImageBlend", "ImageCrop", "EmptyImage", "RepeatLatentBatch", "ImageScaleToTotalPixels", "LatentUpscaleBy"}
    assert core <= set(SPECS)
    assert all(pack_for(name) is None for name in core)


def _ui_with_unknown(class_type: str) -> dict:
    node = {"id": 1, "type": class_type, "pos": [0, 0], "size": [200, 80], "flags": {}, "order": 0, "mode": 0,
            "inputs": [], "outputs": [{"name": "IMAGE", "type": "IMAGE", "links": []}], "properties": {},
            "widgets_values": [512, "x"]}
    return {"last_node_id": 1, "last_link_id": 0, "nodes": [node], "links": [], "groups": [], "config": {},
            "extra": {}, "version": 0.4}


def test_the_import_report_names_the_pack_an_unknown_class_needs():
    _, report = import_comfyui(_ui_with_unknown("Context Big (rgthree)"), REG)
    line = next(text for text in report.of_kind("unmapped") if "Context Big (rgthree) #1" in text)
    assert line.startswith("Context Big (rgthree) #1: unknown node type; kept as a placeholder")
    assert "needs the custom node pack 'rgthree-comfy'" in line
    _, report = import_comfyui({"1": {"class_type": "ImpactSimpleDetectorSEGS", "inputs": {"threshold": 0.5}}}, REG)
    assert any("'ComfyUI-Impact-Pack'" in text for text in report.of_kind("unmapped"))
    _, report = import_comfyui(_ui_with_unknown("MyPrivateNode"), REG)
    line = next(text for text in report.of_kind("unmapped") if "MyPrivateNode" in text)
    assert "custom node pack" not in line
