"""A1111 inpainting texts → graphs: the mask picture the user must choose, how the masked area starts,
the noise mask, and the result pasted onto the original through the blurred mask, as A1111 does."""

from __future__ import annotations

import pytest

from studio.compat import import_a1111
from studio.compat.a1111_text import parse_parameters
from studio.core.registry import Registry, default_registry

REG = default_registry()
HEAD = """a red velvet armchair by the window
Negative prompt: blurry, lowres
Steps: 28, Sampler: DPM++ 2M, Schedule type: Karras, CFG scale: 7, Seed: 1234, Size: 512x768, Model hash: 6ce0161689, \
Model: v1-5-pruned-emaonly, Denoising strength: 0.75"""
WHOLE = HEAD + ", Mask blur: 4, Version: v1.10.1"


def _imp(text: str, registry: Registry = REG):
    graph, report = import_a1111(text, registry)
    by_title = {n.title: n for n in graph.nodes.values() if n.title}
    by_type: dict[str, list] = {}
    for node in graph.nodes.values():
        by_type.setdefault(node.type_id, []).append(node)
    return graph, report, by_title, by_type


def _fed(graph, node, port):
    lk = graph.links.get((node.id, port))
    return graph.nodes[lk.src] if lk else None


def test_whole_picture_original_content_samples_through_a_noise_mask():
    graph, report, named, t = _imp(WHOLE)
    assert [p.message for p in graph.validate() if p.severity == "error"] == []
    (smp,) = t["sample.sampler"]
    assert (smp.params["denoise"], smp.params["steps"], smp.params["sampler"], smp.params["scheduler"]) == \
           (0.75, 28, "dpmpp_2m", "karras")
    noise_mask = _fed(graph, smp, "latent")
    assert noise_mask.type_id == "latent.set_noise_mask"
    encode = _fed(graph, noise_mask, "latent")
    assert encode.type_id == "latent.vae_encode"  # masked content "original": the picture itself
    scale = _fed(graph, encode, "image")
    assert scale.type_id == "image.scale" and (scale.params["width"], scale.params["height"]) == (512, 768)
    assert _fed(graph, scale, "image") is named["Input image"]
    # the mask picture: a Load Image left empty for the user, read as brightness, made hard as A1111 does
    hard = _fed(graph, noise_mask, "mask")
    assert hard is named["Hard mask"] and hard.params["value"] == pytest.approx(0.502)
    assert 128 / 255 <= hard.params["value"] < 129 / 255  # A1111 keeps values above 128 of 255
    grey = _fed(graph, hard, "mask")
    assert grey.type_id == "mask.from_image" and grey.params["channel"] == "luminance"
    load = _fed(graph, grey, "image")
    assert load is named["Inpaint mask"] and load.type_id == "image.load" and load.params["image"] == ""
    assert any("'Inpaint mask' node" in line and "white = repaint" in line for line in report.of_kind("info"))
    assert report.of_kind("unmapped") == []


def test_mask_blur_feathers_the_mask_the_result_is_pasted_back_through():
    graph, report, named, t = _imp(WHOLE)
    (save,) = t["image.save"]
    paste = _fed(graph, save, "images")
    assert paste.type_id == "image.composite_masked" and (paste.params["x"], paste.params["y"]) == (0, 0)
    assert _fed(graph, paste, "destination").type_id == "image.scale"  # the original, at the recorded size
    assert _fed(graph, paste, "source").type_id == "latent.vae_decode"
    doubled = _fed(graph, paste, "mask")  # A1111 doubles the blurred mask (clipped) for its overlay
    assert doubled.type_id == "mask.combine" and doubled.params["operation"] == "add"
    feather = _fed(graph, doubled, "mask")
    assert _fed(graph, doubled, "other") is feather
    assert feather.type_id == "mask.feather" and feather.params["radius"] == 12  # σ 4 = radius / 3
    assert _fed(graph, feather, "mask") is named["Hard mask"]
    assert any("mask blur 4 → Feather Mask radius 12" in a for a in report.of_kind("approximated"))


def test_without_mask_blur_the_hard_mask_pastes_back():
    graph, report, named, t = _imp(HEAD + ", Mask blur: 0")
    (paste,) = t["image.composite_masked"]
    assert _fed(graph, paste, "mask") is named["Hard mask"]
    assert "mask.feather" not in t and "mask.combine" not in t
    assert not [a for a in report.of_kind("approximated") if "blur" in a]


@pytest.mark.parametrize(("key", "value", "fill"), [
    ("Masked content", "fill", "fill"), ("Masked content", "latent noise", "latent noise"),
    ("Masked content", "latent nothing", "latent nothing"), ("Inpainting fill", "2", "latent noise"),
])
def test_masked_content_other_than_original_starts_from_grey(key, value, fill):
    graph, report, named, t = _imp(HEAD + f", Mask blur: 4, {key}: {value}")
    (smp,) = t["sample.sampler"]
    encode = _fed(graph, smp, "latent")
    assert encode.type_id == "latent.vae_encode_inpaint" and encode.params["grow_mask_by"] == 0
    assert _fed(graph, encode, "pixels").type_id == "image.scale"
    assert _fed(graph, encode, "mask") is named["Hard mask"]
    assert "latent.set_noise_mask" not in t  # the encoder's latent carries the hard mask already
    assert any(f"masked content {fill!r}: the masked area starts from neutral grey" in a
               for a in report.of_kind("approximated"))
    assert smp.params["denoise"] == 0.75
    assert [p.message for p in graph.validate() if p.severity == "error"] == []


@pytest.mark.parametrize("value", ["original", "Original", "1"])
def test_masked_content_original_is_the_noise_mask_path(value):
    graph, report, _, t = _imp(HEAD + f", Masked content: {value}")
    (smp,) = t["sample.sampler"]
    assert _fed(graph, smp, "latent").type_id == "latent.set_noise_mask"
    assert not [a for a in report.of_kind("approximated") if "masked content" in a]


def test_unknown_masked_content_falls_back_to_original():
    graph, report, _, t = _imp(HEAD + ", Masked content: smudge")
    assert _fed(graph, t["sample.sampler"][0], "latent").type_id == "latent.set_noise_mask"
    assert any("masked content 'smudge' is unknown" in a for a in report.of_kind("approximated"))


def test_inpaint_not_masked_inverts_the_mask_before_the_blur():
    graph, _, named, t = _imp(HEAD + ", Mask blur: 2, Mask mode: Inpaint not masked")
    (invert,) = t["mask.invert"]
    assert _fed(graph, invert, "mask") is named["Hard mask"]
    assert _fed(graph, t["latent.set_noise_mask"][0], "mask") is invert
    assert _fed(graph, t["mask.feather"][0], "mask") is invert


@pytest.mark.parametrize("padding", ["Masked area padding: 48", "Only masked padding, pixels: 48"])
def test_only_masked_is_reported_not_carried_over(padding):
    graph, report, _, t = _imp(HEAD + f", Mask blur: 4, Inpaint area: Only masked, {padding}")
    (line,) = [u for u in report.of_kind("unmapped") if "inpaint area" in u]
    assert "'Only masked' (padding 48 pixels) is not carried over" in line
    assert "latent.set_noise_mask" in t  # the whole picture is still inpainted
    assert not [u for u in report.of_kind("unmapped") if "pixels" in u and "setting" in u]


def test_the_old_padding_key_keeps_its_comma():
    p = parse_parameters("x\nSteps: 5, Inpaint area: Only masked, Only masked padding, pixels: 32, Seed: 1, Size: 8x8")
    assert p.values["Masked area padding"] == "32" and p.values["Inpaint area"] == "Only masked"


def test_inpaint_settings_without_img2img_are_reported():
    text = ("a cat\nSteps: 20, Sampler: Euler, CFG scale: 7, Seed: 1, Size: 512x512, Model: v1-5-pruned-emaonly, "
            "Mask blur: 4, Inpaint area: Only masked")
    graph, report, _, t = _imp(text)
    assert "image.load" not in t and "latent.empty" in t
    assert any("inpainting settings without an image-to-image run" in u for u in report.of_kind("unmapped"))


def test_without_a_composite_node_the_paste_back_is_reported_dropped():
    registry = Registry([nt for nt in REG if nt.id != "image.composite_masked"])
    graph, report, _, t = _imp(WHOLE, registry)
    assert "image.composite_masked" not in t and "mask.feather" not in t
    (save,) = t["image.save"]
    assert _fed(graph, save, "images").type_id == "latent.vae_decode"
    assert any("not pasted onto the original" in d and "mask blur 4 is not used" in d
               for d in report.of_kind("dropped"))


def test_imported_inpainting_runs_and_keeps_the_original_outside_the_mask(tiny_root, tmp_path, monkeypatch):
    """On the tiny models: everything farther from the mask than the blur reaches is the original."""
    pytest.importorskip("torch")
    import numpy as np
    from PIL import Image

    from studio.app.run_services import ModelManagers, build_run_services
    from studio.core.executor import Executor
    from studio.core.settings import Settings

    from .helpers import CORPUS

    images = CORPUS.parents[2] / "resources" / "images"
    Image.open(images / "sample.png").convert("RGB").resize((64, 64)).save(tmp_path / "room.png")
    mask = np.zeros((64, 64), np.uint8)
    mask[24:40, 16:48] = 255
    Image.fromarray(mask).save(tmp_path / "room_mask.png")
    text = ("a chair\nSteps: 2, Sampler: Euler, CFG scale: 7, Seed: 3, Size: 64x64, Model: v1-5-pruned-emaonly, "
            "Denoising strength: 0.9, Mask blur: 2")
    graph, _, named, _ = _imp(text)
    graph.set_param(named["Input image"].id, "image", "room.png")
    graph.set_param(named["Inpaint mask"].id, "image", "room_mask.png")
    monkeypatch.setenv("LATENT_STUDIO_MODELS", str(tiny_root))
    services = build_run_services(Settings(dtype="fp32", device="cpu"), ModelManagers(),
                                  output_dir=tmp_path / "out", workflow_path=tmp_path / "flow.json")
    summary = Executor().run(graph.snapshot(), services=services)
    assert summary.ok, summary.failed
    out = np.asarray(Image.open(summary.outputs[0]).convert("RGB"), dtype=np.int16)
    original = np.asarray(Image.open(tmp_path / "room.png"), dtype=np.int16)
    far = np.ones((64, 64), bool)
    far[24 - 7:40 + 7, 16 - 7:48 + 7] = False  # the blur (radius 6) reaches 6 pixels past the mask
    assert np.abs(out - original)[far].max() <= 1
    assert np.abs(out - original)[24:40, 16:48].mean() > 5  # the masked area was repainted
