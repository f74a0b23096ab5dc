"""A1111 parameters texts of the shapes found in the wild → graphs."""

from __future__ import annotations

import pytest

from studio.compat import import_a1111
from studio.compat.a1111_text import parse_parameters, split_pairs
from studio.core.registry import default_registry
from studio.core.workflow import WorkflowError

TXT2IMG = """masterpiece, best quality, a castle on a hill, (sunset:1.2), <lora:add_detail:0.8>
Negative prompt: lowres, bad anatomy, worst quality
Steps: 20, Sampler: DPM++ 2M Karras, CFG scale: 7, Seed: 1, Size: 512x768, Model hash: abcd1234, Model: dreamshaper_8, Clip skip: 2, Version: v1.6.0"""

IMG2IMG = """a portrait of a cat wearing a hat
Negative prompt: blurry
Steps: 30, Sampler: Euler a, CFG scale: 6.5, Seed: 4242, Size: 640x640, Model hash: 6ce0161689, Model: v1-5-pruned-emaonly, Denoising strength: 0.45, Version: v1.7.0"""

CONTROLNET_NEW = """a modern house, glass walls
Negative prompt: cartoon
Steps: 25, Sampler: DPM++ 2M, Schedule type: Karras, CFG scale: 7, Seed: 99, Size: 512x512, Model hash: 6ce0161689, Model: v1-5-pruned-emaonly, ControlNet 0: "Module: canny, Model: control_v11p_sd15_canny [d14c016b], Weight: 0.85, Resize Mode: Crop and Resize, Processor Res: 512, Threshold A: 80, Threshold B: 160, Guidance Start: 0.1, Guidance End: 0.9, Pixel Perfect: False, Control Mode: Balanced", ControlNet 1: "Module: depth_midas, Model: control_v11f1p_sd15_depth [cfd03158], Weight: 0.5, Resize Mode: Just Resize, Processor Res: 384, Guidance Start: 0, Guidance End: 1, Control Mode: My prompt is more important", Version: v1.9.4"""

CONTROLNET_MIDDLE = """city street at night
Steps: 20, Sampler: Euler, CFG scale: 7, Seed: 5, Size: 512x512, Model: v1-5-pruned-emaonly, ControlNet 0: "preprocessor: canny, model: control_v11p_sd15_canny [d14c016b], weight: 1, starting/ending: (0, 0.75), resize mode: Just Resize, pixel perfect: False, control mode: Balanced, preprocessor params: (512, 100, 200)\""""

CONTROLNET_OLD = """a robot
Steps: 20, Sampler: DDIM, CFG scale: 7, Seed: 11, Size: 512x512, Model hash: 81761151, Model: v1-5-pruned-emaonly, ControlNet-0 Enabled: True, ControlNet-0 Module: openpose, ControlNet-0 Model: control_sd15_openpose [fef5e48e], ControlNet-0 Weight: 1, ControlNet-0 Guidance Start: 0, ControlNet-0 Guidance End: 1, ControlNet-1 Enabled: False, ControlNet-1 Module: canny, ControlNet-1 Model: control_sd15_canny [fef5e48e]"""

HIRES = """a dragon, "quoted words", detailed scales
Negative prompt: blurry
Steps: 24, Sampler: DPM++ SDE, Schedule type: Automatic, CFG scale: 5, Seed: 123456789, Size: 512x512, Model hash: e6bb9ea85b, Model: sd_xl_base_1.0, Denoising strength: 0.4, Hires upscale: 2, Hires steps: 10, Hires upscaler: Latent (bicubic antialiased), Lora hashes: "add_detail: 7c6bad76eb54, more: 123", Version: v1.10.1"""

HIRES_ESRGAN = """a forest
Steps: 20, Sampler: Euler a, CFG scale: 7, Seed: 3, Size: 512x512, Model: v1-5-pruned-emaonly, Denoising strength: 0.5, Hires resize: 1024x1024, Hires upscaler: R-ESRGAN 4x+, Face restoration: CodeFormer"""


def _imp(text: str):
    graph, report = import_a1111(text, default_registry())
    by_type: dict[str, list] = {}
    for node in graph.nodes.values():
        by_type.setdefault(node.type_id, []).append(node)
    return graph, report, by_type


def _fed(graph, node, port):
    lk = graph.links.get((node.id, port))
    return graph.nodes[lk.src] if lk else None


def test_split_pairs_keeps_quoted_commas_and_parentheses():
    pairs = split_pairs('Steps: 20, Lora hashes: "a: 1, b: 2", Size: 512x512, X: (1, 2), Note: say \\"hi\\"')
    assert pairs == {"Steps": "20", "Lora hashes": "a: 1, b: 2", "Size": "512x512", "X": "(1, 2)",
                     "Note": 'say \\"hi\\"'}


def test_multi_line_prompt_and_negative():
    p = parse_parameters("line one\nline two\nNegative prompt: bad\nworse\nSteps: 5, Sampler: Euler, Seed: 1")
    assert (p.prompt, p.negative, p.values["Steps"]) == ("line one\nline two", "bad\nworse", "5")


def test_txt2img():
    graph, report, t = _imp(TXT2IMG)
    (smp,) = t["sample.sampler"]
    assert {k: smp.params[k] for k in ("seed", "steps", "cfg", "sampler", "scheduler", "denoise")} == \
           {"seed": 1, "steps": 20, "cfg": 7.0, "sampler": "dpmpp_2m", "scheduler": "karras", "denoise": 1.0}
    (lat,) = t["latent.empty"]
    assert (lat.params["width"], lat.params["height"]) == (512, 768)
    assert t["model.checkpoint"][0].params["checkpoint"] == "dreamshaper_8.safetensors"
    assert t["model.clip_skip"][0].params["skip"] == 1
    prompts = {n.title: n.params["text"] for n in t["text.encode"]}
    assert prompts == {"Prompt": "masterpiece, best quality, a castle on a hill, (sunset:1.2)",
                       "Negative prompt": "lowres, bad anatomy, worst quality"}
    assert _fed(graph, t["text.encode"][0], "clip").type_id == "model.clip_skip"
    (lora,) = t["model.lora"]
    assert lora.params == {"lora": "add_detail.safetensors", "strength_model": 0.8, "strength_clip": 0.8}
    assert _fed(graph, t["model.clip_skip"][0], "clip") is lora and _fed(graph, smp, "model") is lora
    assert _fed(graph, lora, "model").type_id == "model.checkpoint"
    assert any("<lora:add_detail:0.8> → Load LoRA add_detail.safetensors" in a
               for a in report.of_kind("approximated"))
    assert not [p for p in graph.validate() if p.severity == "error"]


def test_lora_tags_chain_with_their_multipliers_and_hypernetworks_are_reported():
    text = ("a cat <lora:first:0.5> <lyco:second:0.7:0.3>, <lora:third:te=0.2:unet=0.9> <hypernet:old:1> "
            "<lora:first:1> <lora:bad:x>\nNegative prompt: ugly <lora:neg:1>\nSteps: 4, Seed: 1, Size: 64x64")
    graph, report, t = _imp(text)
    loras = t["model.lora"]
    chain = []
    node = t["sample.sampler"][0]
    while (node := _fed(graph, node, "model")).type_id == "model.lora":
        chain.append(node)
    assert len(chain) == len(loras) == 3
    assert [(n.params["lora"], n.params["strength_model"], n.params["strength_clip"]) for n in chain[::-1]] == [
        ("first.safetensors", 0.5, 0.5), ("second.safetensors", 0.3, 0.7), ("third.safetensors", 0.9, 0.2)]
    assert {n.params["text"] for n in t["text.encode"]} == {"a cat", "ugly"}
    assert any("<hypernet:old:1>: hypernetworks are not supported" in u for u in report.of_kind("unmapped"))
    dropped = "\n".join(report.of_kind("dropped"))
    assert "<lora:first:1>: first is already applied" in dropped and "<lora:bad:x>: its multipliers" in dropped
    assert "negative prompt tag <lora:neg:1>" in dropped


def test_embeddings_recorded_by_a1111_are_named_in_the_report():
    text = ('a cat\nNegative prompt: EasyNegativeV2, lowres\nSteps: 4, Seed: 1, Size: 64x64, '
            'TI hashes: "EasyNegativeV2: 339cc9210f70, bad-hands-5: aa7651be154c"')
    graph, report, t = _imp(text)
    assert {n.params["text"] for n in t["text.encode"]} == {"a cat", "EasyNegativeV2, lowres"}
    info = "\n".join(report.of_kind("info"))
    assert "embedding EasyNegativeV2 (hash 339cc9210f70)" in info and "embedding bad-hands-5" in info


def test_img2img_leaves_a_load_image_to_fill():
    graph, report, t = _imp(IMG2IMG)
    (smp,) = t["sample.sampler"]
    assert (smp.params["sampler"], smp.params["scheduler"], smp.params["denoise"], smp.params["steps"]) == \
           ("euler_ancestral", "normal", 0.45, 30)
    enc = _fed(graph, smp, "latent")
    scale = _fed(graph, enc, "image")
    assert enc.type_id == "latent.vae_encode" and scale.type_id == "image.scale"
    assert (scale.params["width"], scale.params["height"]) == (640, 640)
    load = _fed(graph, scale, "image")
    assert load.type_id == "image.load" and load.params["image"] == "" and load.title == "Input image"
    assert "latent.empty" not in t and "latent.set_noise_mask" not in t and "mask.from_image" not in t
    assert not [line for line in report.lines if "mask" in line.lower()]  # no mask: plain image-to-image
    (save,) = t["image.save"]
    assert _fed(graph, save, "images").type_id == "latent.vae_decode"  # nothing pasted back


def test_controlnet_units_new_format():
    graph, report, t = _imp(CONTROLNET_NEW)
    (smp,) = t["sample.sampler"]
    assert (smp.params["sampler"], smp.params["scheduler"]) == ("dpmpp_2m", "karras")
    second = _fed(graph, smp, "positive")
    first = _fed(graph, second, "positive")
    assert second.type_id == first.type_id == "control.apply"
    assert _fed(graph, smp, "negative") is second
    assert (first.params["strength"], first.params["start"], first.params["end"]) == (0.85, 0.1, 0.9)
    assert (second.params["strength"], second.params["start"], second.params["end"]) == (0.5, 0.0, 1.0)
    canny = _fed(graph, first, "image")
    assert canny.type_id == "preprocess.canny" and (canny.params["low"], canny.params["high"]) == (80, 160)
    assert _fed(graph, canny, "image").type_id == "image.load"
    depth = _fed(graph, second, "image")
    assert depth.type_id == "preprocess.depth" and depth.params["detect_resolution"] == 384
    assert _fed(graph, first, "control_net").params["controlnet"] == "control_v11p_sd15_canny.safetensors"
    assert _fed(graph, second, "control_net").params["controlnet"] == "control_v11f1p_sd15_depth.safetensors"
    assert any("control mode 'My prompt is more important'" in a for a in report.of_kind("approximated"))
    assert len(t["image.load"]) == 2


def test_controlnet_units_middle_format():
    graph, _, t = _imp(CONTROLNET_MIDDLE)
    (apply,) = t["control.apply"]
    assert (apply.params["strength"], apply.params["start"], apply.params["end"]) == (1.0, 0.0, 0.75)
    canny = _fed(graph, apply, "image")
    assert (canny.params["low"], canny.params["high"]) == (100, 200)


def test_controlnet_units_old_format_skips_disabled_units():
    graph, report, t = _imp(CONTROLNET_OLD)
    (apply,) = t["control.apply"]
    pose = _fed(graph, apply, "image")
    assert pose.type_id == "preprocess.pose"
    assert _fed(graph, apply, "control_net").params["controlnet"] == "control_sd15_openpose.safetensors"
    assert t["sample.sampler"][0].params["sampler"] == "ddim"


def test_hires_fix_becomes_a_second_pass_not_img2img():
    graph, report, t = _imp(HIRES)
    assert "latent.vae_encode" not in t
    first, second = sorted(t["sample.sampler"], key=lambda n: n.title != "Sampler")
    assert (first.params["denoise"], first.params["steps"], first.params["sampler"], first.params["scheduler"]) == \
           (1.0, 24, "dpmpp_sde", "karras")  # "Automatic" means Karras for DPM++ SDE in A1111 ≥ 1.9
    up = _fed(graph, second, "latent")
    assert up.type_id == "latent.upscale" and (up.params["mode"], up.params["factor"], up.params["method"]) == \
           ("factor", 2.0, "bicubic")
    assert _fed(graph, up, "latent") is first
    assert (second.params["denoise"], second.params["steps"], second.params["seed"]) == (0.4, 10, 123456789)
    assert t["text.encode"][0].params["text"] == 'a dragon, "quoted words", detailed scales'


def test_hires_with_an_image_upscaler():
    graph, report, t = _imp(HIRES_ESRGAN)
    (scale,) = t["image.scale"]
    assert (scale.params["width"], scale.params["height"]) == (1024, 1024)
    assert any("R-ESRGAN 4x+" in a for a in report.of_kind("approximated"))
    assert any("Face restoration" in u for u in report.of_kind("unmapped"))


def test_prompt_only_text():
    graph, report, t = _imp("just a prompt, nothing else")
    assert t["text.encode"][0].params["text"] == "just a prompt, nothing else"
    assert t["sample.sampler"][0].params["steps"] == 20
    assert report.of_kind("unmapped")  # no model named


@pytest.mark.parametrize("text, where", [
    ("p\nSteps: many, Sampler: Euler, Seed: 1", "Steps"),
    ("p\nSteps: 20, Sampler: Euler, Seed: 1, Size: big", "Size"),
    ("p\nSteps: 20, Sampler: Euler, Seed: 1.5", "Seed"),
    ("p\nSteps: 20, Sampler: Euler, Seed: nan", "Seed"),
    ("   ", "$"),
])
def test_bad_values_are_clean_errors(text, where):
    with pytest.raises(WorkflowError) as info:
        import_a1111(text, default_registry())
    assert where in str(info.value)


def test_samplers_translate():
    for label, pair in [("Euler a", ("euler_ancestral", "normal")), ("DPM++ 2M Karras", ("dpmpp_2m", "karras")),
                        ("DPM++ 2M SDE Karras", ("dpmpp_2m_sde", "karras")), ("UniPC", ("uni_pc", "normal")),
                        ("LMS Karras", ("lms", "karras")), ("Euler a Karras", ("euler_ancestral", "normal"))]:
        _, _, t = _imp(f"p\nSteps: 4, Sampler: {label}, Seed: 1, Size: 64x64")
        (smp,) = t["sample.sampler"]
        assert (smp.params["sampler"], smp.params["scheduler"]) == pair, label


def test_a_parameters_text_file_loads(tmp_path):
    from studio.compat import load_any

    path = tmp_path / "params.txt"
    path.write_text(TXT2IMG, encoding="utf-8")
    graph, report = load_any(path, default_registry())
    assert report.source == "A1111 parameters" and len(graph.nodes) == 9  # with the prompt's LoRA


HIRES_TEMPLATE = ("a castle\nSteps: 4, Sampler: Euler a, CFG scale: 7, Seed: 3, Size: 64x64, Model: v1-5-pruned-emaonly, "
                "Denoising strength: 0.5, Hires upscale: 2, Hires steps: 2, Hires upscaler: {}")


def test_hires_upscaler_uses_the_upscale_model_only_where_the_file_is_installed():
    asked: list[tuple[str, tuple[str, ...]]] = []

    def have(kind, names):
        asked.append((kind, tuple(names)))
        return "RealESRGAN_x4plus.pth" if "RealESRGAN_x4plus.pth" in names else None

    graph, report = import_a1111(HIRES_TEMPLATE.format("R-ESRGAN 4x+"), default_registry(), find_model=have)
    t = {n.type_id: n for n in graph.nodes.values()}
    assert t["model.upscale"].params["model_name"] == "RealESRGAN_x4plus.pth"
    assert _fed(graph, t["image.scale"], "image") is t["image.upscale_model"]
    assert _fed(graph, t["image.upscale_model"], "image").type_id == "latent.vae_decode"
    assert asked[0][0] == "upscale_models" and "RealESRGAN_x4plus.safetensors" in asked[0][1]
    assert any("→ upscale model RealESRGAN_x4plus.pth" in i for i in report.of_kind("info"))

    graph, report = import_a1111(HIRES_TEMPLATE.format("4x-UltraSharp"), default_registry(), find_model=have)
    types = {n.type_id for n in graph.nodes.values()}
    assert "image.upscale_model" not in types and "image.scale" in types
    assert any("no 4x-UltraSharp file in upscale_models/" in a for a in report.of_kind("approximated"))
    graph, report = import_a1111(HIRES_TEMPLATE.format("LDSR"), default_registry(), find_model=have)
    assert any("'LDSR' is not available (it is not an upscale model)" in a for a in report.of_kind("approximated"))
