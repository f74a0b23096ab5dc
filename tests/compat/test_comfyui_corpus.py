"""The ComfyUI corpus, node by node, in both formats: types, translated values and wires."""

from __future__ import annotations

import json

import pytest

from studio.compat import import_comfyui, load_any
from studio.compat.comfyui import TRANSLATORS
from studio.core.plan import plan_run
from studio.core.registry import default_registry
from studio.core.workflow import dumps, loads

from .helpers import CORPUS, FLOWS, comfy_view
from .test_comfyui_core_more import EXPECTED_CORPUS as CORE_MORE_CORPUS
from .test_comfyui_core_ops import EXPECTED_CORPUS as CORE_OPS_CORPUS
from .test_comfyui_custom_sampling import EXPECTED_CORPUS as CUSTOM_SAMPLING_CORPUS
from .test_comfyui_gligen import EXPECTED_CORPUS as GLIGEN_CORPUS
from .test_comfyui_model_merge import EXPECTED_CORPUS as MODEL_MERGE_CORPUS
from .test_comfyui_model_patches import EXPECTED_CORPUS as MODEL_PATCHES_CORPUS
from .test_comfyui_preprocessors import EXPECTED_CORPUS as PREPROCESSOR_CORPUS
from .test_comfyui_regions import EXPECTED_CORPUS as REGIONS_CORPUS
from .test_comfyui_sdxl import EXPECTED_CORPUS as SDXL_CORPUS

CK = "v1-5-pruned-emaonly.safetensors"
POS = "a red brick cottage in a green valley, (mountains:1.2), sunny day"
NEG = "blurry, low quality"
CANNY = "control_v11p_sd15_canny.safetensors"


def _prompts(ck: str, pos: str = "2", neg: str = "3") -> set[tuple[str, str, str, str]]:
    return {(ck, "clip", pos, "clip"), (ck, "clip", neg, "clip")}


EXPECTED: dict[str, dict] = {
    "txt2img": {
        "nodes": {
            "4": ("model.checkpoint", {"checkpoint": CK}),
            "6": ("text.encode", {"text": POS}),
            "7": ("text.encode", {"text": NEG}),
            "5": ("latent.empty", {"width": 512, "height": 768, "batch": 1}),
            "3": ("sample.sampler", {"seed": 156680208700286, "steps": 20, "cfg": 8.0, "sampler": "dpmpp_2m",
                                     "scheduler": "karras", "denoise": 1.0}),
            "8": ("latent.vae_decode", {}),
            "9": ("image.save", {"folder": "", "prefix": "ComfyUI"}),
        },
        "links": _prompts("4", "6", "7") | {
            ("4", "model", "3", "model"), ("6", "conditioning", "3", "positive"),
            ("7", "conditioning", "3", "negative"), ("5", "latent", "3", "latent"), ("3", "latent", "8", "latent"),
            ("4", "vae", "8", "vae"), ("8", "image", "9", "images")},
    },
    "controlnet_canny": {
        "nodes": {
            "1": ("model.checkpoint", {"checkpoint": CK}),
            "2": ("text.encode", {"text": POS}),
            "3": ("text.encode", {"text": NEG}),
            "4": ("image.load", {"image": "sample.png"}),
            "5": ("image.scale", {"mode": "size", "width": 512, "height": 512, "method": "bilinear"}),
            "6": ("preprocess.canny", {"low": 102, "high": 204, "blur": 1.0}),
            "7": ("image.preview", {}),
            "8": ("model.controlnet", {"controlnet": CANNY}),
            "9": ("control.apply", {"strength": 0.9, "start": 0.0, "end": 0.8}),
            "10": ("latent.empty", {"width": 512, "height": 512, "batch": 1}),
            "11": ("sample.sampler", {"seed": 42, "steps": 25, "cfg": 7.5, "sampler": "euler_ancestral",
                                      "scheduler": "normal", "denoise": 1.0}),
            "12": ("latent.vae_decode", {}),
            "13": ("image.save", {"folder": "canny", "prefix": "ComfyUI"}),
        },
        "links": _prompts("1") | {
            ("4", "image", "5", "image"), ("5", "image", "6", "image"), ("6", "image", "7", "images"),
            ("2", "conditioning", "9", "positive"), ("3", "conditioning", "9", "negative"),
            ("8", "control_net", "9", "control_net"), ("6", "image", "9", "image"), ("1", "model", "11", "model"),
            ("9", "positive", "11", "positive"), ("9", "negative", "11", "negative"),
            ("10", "latent", "11", "latent"), ("11", "latent", "12", "latent"), ("1", "vae", "12", "vae"),
            ("12", "image", "13", "images")},
    },
    "two_controlnets": {
        "nodes": {
            "1": ("model.checkpoint", {"checkpoint": CK}),
            "2": ("text.encode", {"text": POS}),
            "3": ("text.encode", {"text": NEG}),
            "4": ("image.load", {"image": "sample.png"}),
            "5": ("preprocess.canny", {"low": 51, "high": 153}),
            "6": ("preprocess.invert", {}),
            "7": ("model.controlnet", {"controlnet": CANNY}),
            "8": ("model.controlnet", {"controlnet": "control_v11p_sd15_scribble.safetensors"}),
            "9": ("control.apply", {"strength": 0.8, "start": 0.0, "end": 1.0}),
            # percents 0.2 / 0.9 are noise levels; under Karras spacing the loop reaches them later / earlier
            "10": ("control.apply", {"strength": 0.5, "start": 0.238, "end": 0.705}),
            "11": ("latent.empty", {"width": 512, "height": 512, "batch": 2}),
            "12": ("sample.sampler", {"seed": 7, "steps": 30, "cfg": 6.0, "sampler": "dpmpp_2m_sde",
                                      "scheduler": "karras", "denoise": 1.0}),
            "13": ("latent.vae_decode", {}),
            "14": ("image.save", {"prefix": "two"}),
        },
        "links": _prompts("1") | {
            ("4", "image", "5", "image"), ("5", "image", "6", "image"),
            # the old apply node steers the one conditioning it is given: fed to both inputs
            ("2", "conditioning", "9", "positive"), ("2", "conditioning", "9", "negative"),
            ("7", "control_net", "9", "control_net"), ("5", "image", "9", "image"),
            ("9", "positive", "10", "positive"), ("3", "conditioning", "10", "negative"),
            ("8", "control_net", "10", "control_net"), ("6", "image", "10", "image"),
            ("1", "model", "12", "model"), ("10", "positive", "12", "positive"),
            ("10", "negative", "12", "negative"), ("11", "latent", "12", "latent"),
            ("12", "latent", "13", "latent"), ("1", "vae", "13", "vae"), ("13", "image", "14", "images")},
    },
    "img2img": {
        "nodes": {
            "1": ("model.checkpoint", {"checkpoint": CK}),
            "2": ("model.vae", {"vae": "vae-ft-mse-840000-ema-pruned.safetensors"}),
            "3": ("text.encode", {"text": POS}),
            "4": ("text.encode", {"text": NEG}),
            "5": ("image.load", {"image": "sample.png"}),
            "6": ("image.scale", {"mode": "factor", "factor": 0.5, "method": "area"}),
            "7": ("latent.vae_encode", {}),
            # ComfyUI: 20 steps at the end of a 20/0.6 = 33-step schedule; ours: 33 × 0.6061 = 20 steps
            "8": ("sample.sampler", {"seed": 3, "steps": 33, "denoise": 0.6061, "sampler": "euler",
                                     "scheduler": "simple", "cfg": 7.0}),
            "9": ("latent.upscale", {"mode": "size", "width": 768, "height": 768, "method": "nearest-exact",
                                     "crop": False}),
            "10": ("sample.sampler", {"seed": 4, "steps": 20, "denoise": 0.5, "sampler": "uni_pc_bh2"}),
            "11": ("latent.vae_decode", {}),
            "12": ("image.save", {"prefix": "img2img"}),
        },
        "links": _prompts("1", "3", "4") | {
            ("5", "image", "6", "image"), ("6", "image", "7", "image"), ("2", "vae", "7", "vae"),
            ("1", "model", "8", "model"), ("3", "conditioning", "8", "positive"),
            ("4", "conditioning", "8", "negative"), ("7", "latent", "8", "latent"), ("8", "latent", "9", "latent"),
            ("1", "model", "10", "model"), ("3", "conditioning", "10", "positive"),
            ("4", "conditioning", "10", "negative"), ("9", "latent", "10", "latent"),
            ("10", "latent", "11", "latent"), ("2", "vae", "11", "vae"), ("11", "image", "12", "images")},
    },
    "lora": {
        "nodes": {
            "1": ("model.checkpoint", {"checkpoint": "SD1.5/dreamshaper_8.safetensors"}),
            "2": ("model.lora", {"lora": "add_detail.safetensors", "strength_model": 0.7, "strength_clip": 0.6}),
            "3": ("model.clip_skip", {"skip": 1}),
            "4": ("text.encode", {"text": "portrait of an old sailor, <detailed>"}),
            "5": ("text.encode", {"text": NEG}),
            "6": ("latent.empty", {"width": 512, "height": 512}),
            "7": ("latent.upscale", {"mode": "factor", "factor": 1.5, "method": "bicubic"}),
            "8": ("sample.sampler", {"seed": 1234, "steps": 28, "cfg": 5.5, "sampler": "dpmpp_3m_sde",
                                     "scheduler": "exponential"}),
            "9": ("latent.vae_decode", {}),
            "10": ("image.preview", {}),
            "11": ("model.lora_model_only", {"lora": "style/ink.safetensors", "strength_model": 0.5}),
        },
        "links": {
            ("1", "model", "2", "model"), ("1", "clip", "2", "clip"), ("2", "clip", "3", "clip"),
            ("3", "clip", "4", "clip"), ("3", "clip", "5", "clip"), ("6", "latent", "7", "latent"),
            ("2", "model", "11", "model"), ("11", "model", "8", "model"), ("4", "conditioning", "8", "positive"),
            ("5", "conditioning", "8", "negative"), ("7", "latent", "8", "latent"), ("8", "latent", "9", "latent"),
            ("1", "vae", "9", "vae"), ("9", "image", "10", "images")},
    },
    "inpaint": {
        "nodes": {
            "1": ("model.checkpoint", {"checkpoint": "512-inpainting-ema.safetensors"}),
            "2": ("text.encode", {"text": "a wooden bench"}),
            "3": ("text.encode", {"text": NEG}),
            "4": ("image.load", {"image": "clipspace/clipspace-mask-123.png"}),
            "5": ("latent.vae_encode_inpaint", {"grow_mask_by": 8}),
            "6": ("latent.set_noise_mask", {}),
            "7": ("sample.sampler", {"seed": 9, "steps": 20, "cfg": 8.0, "sampler": "euler", "denoise": 1.0}),
            "8": ("latent.vae_decode", {}),
            "9": ("image.save", {"folder": "inpaint", "prefix": "ComfyUI"}),
        },
        "links": _prompts("1") | {
            ("4", "image", "5", "pixels"), ("1", "vae", "5", "vae"), ("4", "mask", "5", "mask"),
            ("5", "latent", "6", "latent"), ("4", "mask", "6", "mask"), ("1", "model", "7", "model"),
            ("2", "conditioning", "7", "positive"), ("3", "conditioning", "7", "negative"),
            ("6", "latent", "7", "latent"), ("7", "latent", "8", "latent"), ("1", "vae", "8", "vae"),
            ("8", "image", "9", "images")},
    },
    "inpaint_encode": {
        "nodes": {
            "1": ("model.checkpoint", {"checkpoint": "sd-v1-5-inpainting.ckpt"}),
            "2": ("text.encode", {"text": "a tabby cat sleeping on the window sill"}),
            "3": ("text.encode", {"text": NEG}),
            "4": ("image.load", {"image": "clipspace/clipspace-mask-4711.png"}),
            "5": ("latent.vae_encode_inpaint", {"grow_mask_by": 6}),
            "6": ("sample.sampler", {"seed": 8675309, "steps": 30, "cfg": 7.5,
                                     "sampler": "dpmpp_2m", "scheduler": "karras", "denoise": 1.0}),
            "7": ("latent.vae_decode", {}),
            "8": ("image.save", {"folder": "inpaint", "prefix": "cat"}),
        },
        "links": _prompts("1") | {
            ("4", "image", "5", "pixels"), ("1", "vae", "5", "vae"), ("4", "mask", "5", "mask"),
            ("1", "model", "6", "model"), ("2", "conditioning", "6", "positive"),
            ("3", "conditioning", "6", "negative"), ("5", "latent", "6", "latent"), ("6", "latent", "7", "latent"),
            ("1", "vae", "7", "vae"), ("7", "image", "8", "images")},
    },
    "outpaint": {
        "nodes": {
            "1": ("model.checkpoint", {"checkpoint": "sd-v1-5-inpainting.ckpt"}),
            "2": ("text.encode", {"text": "a wide mountain valley, pine forest, morning fog"}),
            "3": ("text.encode", {"text": NEG}),
            "4": ("image.load", {"image": "mountain.png"}),
            "5": ("image.pad_outpaint", {"left": 128, "top": 0, "right": 128, "bottom": 64, "feathering": 40}),
            "6": ("conditioning.inpaint", {"noise_mask": True}),
            "7": ("sample.sampler", {"seed": 152, "steps": 30, "cfg": 7.0, "sampler": "euler_ancestral",
                                     "scheduler": "normal", "denoise": 1.0}),
            "8": ("latent.vae_decode", {}),
            "9": ("image.save", {"folder": "", "prefix": "outpaint"}),
        },
        "links": _prompts("1") | {
            ("4", "image", "5", "image"), ("2", "conditioning", "6", "positive"),
            ("3", "conditioning", "6", "negative"), ("1", "vae", "6", "vae"), ("5", "image", "6", "pixels"),
            ("5", "mask", "6", "mask"), ("1", "model", "7", "model"), ("6", "positive", "7", "positive"),
            ("6", "negative", "7", "negative"), ("6", "latent", "7", "latent"), ("7", "latent", "8", "latent"),
            ("1", "vae", "8", "vae"), ("8", "image", "9", "images")},
    },
    "sdxl_refiner": {
        "nodes": {
            "1": ("model.checkpoint", {"checkpoint": "sd_xl_base_1.0.safetensors"}),
            "2": ("model.checkpoint", {"checkpoint": "sd_xl_refiner_1.0.safetensors"}),
            "3": ("text.encode", {"text": "a lighthouse on a rocky coast at golden hour, highly detailed"}),
            "4": ("text.encode", {"text": "text, watermark"}),
            "5": ("text.encode", {"text": "a lighthouse on a rocky coast at golden hour, highly detailed"}),
            "6": ("text.encode", {"text": "text, watermark"}),
            "7": ("latent.empty", {"width": 1024, "height": 1024, "batch": 1}),
            # ComfyUI's split: the base runs steps 0–20 of 25 and hands on its leftover noise; the refiner
            # continues from step 20 without adding noise
            "8": ("sample.sampler", {"seed": 721897303308196, "steps": 25, "cfg": 8.0,
                                     "denoise": 1.0, "start_step": 0, "end_step": 20, "add_noise": True,
                                     "return_leftover_noise": True}),
            "9": ("sample.sampler", {"seed": 0, "steps": 25, "denoise": 1.0,
                                     "start_step": 20, "end_step": 10000, "add_noise": False,
                                     "return_leftover_noise": False}),
            "10": ("latent.vae_decode", {}),
            "11": ("image.save", {"prefix": "sdxl_refined"}),
        },
        "links": _prompts("1", "3", "4") | _prompts("2", "5", "6") | {
            ("1", "model", "8", "model"), ("3", "conditioning", "8", "positive"),
            ("4", "conditioning", "8", "negative"), ("7", "latent", "8", "latent"), ("2", "model", "9", "model"),
            ("5", "conditioning", "9", "positive"), ("6", "conditioning", "9", "negative"),
            ("8", "latent", "9", "latent"), ("9", "latent", "10", "latent"), ("2", "vae", "10", "vae"),
            ("10", "image", "11", "images")},
    },
    "masks": {
        "nodes": {
            "1": ("model.checkpoint", {"checkpoint": "dreamshaper_8.safetensors"}),
            "2": ("text.encode", {"text": "dramatic sunset sky, orange clouds"}),
            "3": ("text.encode", {"text": NEG}),
            "4": ("image.load", {"image": "street.png"}),
            "5": ("image.load", {"image": "street_sky_mask.png"}),
            "6": ("mask.from_image", {"channel": "red"}),
            "7": ("mask.from_color", {"red": 0x87, "green": 0xCE, "blue": 0xEB, "tolerance": 0}),
            "8": ("mask.combine", {"operation": "union"}),
            "9": ("mask.grow", {"pixels": 16}),
            "10": ("mask.threshold", {"value": 0.5}),
            "11": ("mask.solid", {"value": 0.0, "width": 512, "height": 512}),
            "12": ("mask.combine", {"operation": "add"}),
            # ComfyUI's FeatherMask (a fade towards the image's sides) has no counterpart
            "13": ("comfyui.FeatherMask", {"left": 0, "top": 32, "right": 0, "bottom": 0}),
            "14": ("mask.invert", {}),
            "15": ("mask.to_image", {}),
            "16": ("image.preview", {}),
            "17": ("latent.vae_encode", {}),
            "18": ("latent.set_noise_mask", {}),
            "19": ("sample.sampler", {"seed": 31337, "steps": 28, "denoise": 0.8572, "sampler": "dpmpp_2m",
                                      "scheduler": "karras"}),
            "20": ("latent.vae_decode", {}),
            "21": ("image.save", {"prefix": "sky"}),
        },
        "links": _prompts("1") | {
            ("5", "image", "6", "image"), ("4", "image", "7", "image"), ("6", "mask", "8", "mask"),
            ("7", "mask", "8", "other"), ("8", "mask", "9", "mask"), ("9", "mask", "10", "mask"),
            ("11", "mask", "12", "mask"), ("10", "mask", "12", "other"), ("12", "mask", "13", "mask"),
            ("12", "mask", "14", "mask"), ("14", "mask", "15", "mask"), ("15", "image", "16", "images"),
            ("4", "image", "17", "image"), ("1", "vae", "17", "vae"), ("17", "latent", "18", "latent"),
            ("13", "MASK", "18", "mask"), ("1", "model", "19", "model"), ("2", "conditioning", "19", "positive"),
            ("3", "conditioning", "19", "negative"), ("18", "latent", "19", "latent"),
            ("19", "latent", "20", "latent"), ("1", "vae", "20", "vae"), ("20", "image", "21", "images")},
    },
    "latent_ops": {
        "nodes": {
            "1": ("model.checkpoint", {"checkpoint": CK}),
            "2": ("text.encode", {"text": "a small red fox, studio photo"}),
            "3": ("text.encode", {"text": NEG}),
            "4": ("text.encode", {"text": "an autumn forest clearing, soft light"}),
            "5": ("latent.empty", {"width": 512, "height": 512, "batch": 4}),
            "6": ("sample.sampler", {"seed": 77, "steps": 20, "denoise": 1.0}),
            "7": ("latent.from_batch", {"batch_index": 2, "length": 1}),
            "8": ("latent.empty", {"width": 768, "height": 768, "batch": 1}),
            "9": ("sample.sampler", {"seed": 78, "steps": 20, "denoise": 1.0}),
            "10": ("latent.composite", {"x": 128, "y": 192, "feather": 32}),
            "11": ("sample.sampler", {"seed": 79, "steps": 40, "denoise": 0.5}),
            "12": ("latent.vae_decode", {}),
            "13": ("image.save", {"prefix": "composite"}),
        },
        "links": {("1", "clip", cid, "clip") for cid in ("2", "3", "4")} | {
            ("1", "model", "6", "model"), ("2", "conditioning", "6", "positive"),
            ("3", "conditioning", "6", "negative"), ("5", "latent", "6", "latent"), ("6", "latent", "7", "latent"),
            ("1", "model", "9", "model"), ("4", "conditioning", "9", "positive"),
            ("3", "conditioning", "9", "negative"), ("8", "latent", "9", "latent"),
            ("9", "latent", "10", "destination"), ("7", "latent", "10", "source"), ("1", "model", "11", "model"),
            ("4", "conditioning", "11", "positive"), ("3", "conditioning", "11", "negative"),
            ("10", "latent", "11", "latent"), ("11", "latent", "12", "latent"), ("1", "vae", "12", "vae"),
            ("12", "image", "13", "images")},
    },
    "lora_chain": {
        "nodes": {
            "1": ("model.checkpoint", {"checkpoint": CK}),
            "2": ("model.lora", {"lora": "add_detail.safetensors", "strength_model": 0.8, "strength_clip": 0.7}),
            "3": ("model.lora", {"lora": "styles/ink_wash.safetensors", "strength_model": 0.5, "strength_clip": 1.0}),
            "20": ("text.encode", {"text": "a lighthouse on a cliff at dusk, (embedding:detail_style:1.1), oil painting"}),
            "21": ("text.encode", {"text": "embedding:EasyNegative, lowres, blurry"}),
            "22": ("latent.empty", {"width": 512, "height": 512, "batch": 1}),
            "23": ("sample.sampler", {"seed": 424242, "steps": 20, "cfg": 6.5, "sampler": "dpmpp_2m",
                                      "scheduler": "karras"}),
            "24": ("latent.vae_decode", {}),
            "25": ("image.save", {"prefix": "ComfyUI"}),
        },
        "links": {
            ("1", "model", "2", "model"), ("1", "clip", "2", "clip"), ("2", "model", "3", "model"),
            ("2", "clip", "3", "clip"), ("3", "clip", "20", "clip"), ("3", "clip", "21", "clip"),
            ("3", "model", "23", "model"), ("20", "conditioning", "23", "positive"),
            ("21", "conditioning", "23", "negative"), ("22", "latent", "23", "latent"), ("23", "latent", "24", "latent"),
            ("1", "vae", "24", "vae"), ("24", "image", "25", "images")},
    },
    "ip_adapter": {
        "nodes": {
            "1": ("model.checkpoint", {"checkpoint": CK}),
            "2": ("util.reroute", {}),
            "2/ipadapter": ("model.ip_adapter", {"ipadapter": "ip-adapter-plus_sd15.safetensors"}),
            "2/clip_vision": ("model.clip_vision", {"clip_name": "CLIP-ViT-H-14-laion2B-s32B-b79K.safetensors"}),
            "3": ("image.load", {"image": "reference.png"}),
            "4": ("ip_adapter.apply", {"weight": 0.8, "start": 0.0, "end": 0.9}),
            "5": ("model.ip_adapter", {"ipadapter": "ip-adapter_sd15.safetensors"}),
            "6": ("model.clip_vision", {"clip_name": "CLIP-ViT-H-14-laion2B-s32B-b79K.safetensors"}),
            "7": ("ip_adapter.apply", {"weight": 0.5, "start": 0.0, "end": 1.0}),
            "8": ("ip_adapter.apply", {"weight": 0.6, "start": 0.1, "end": 1.0}),
            "9": ("conditioning.clip_vision_encode", {"crop": "center"}),
            "10": ("comfyui.HypernetworkLoader", {"hypernetwork_name": "anime_v2.pt", "strength": 0.6}),
            "20": ("text.encode", {"text": "a portrait of a knight, detailed armour"}),
            "21": ("text.encode", {"text": "lowres, blurry"}),
            "22": ("latent.empty", {"width": 512, "height": 512, "batch": 1}),
            "23": ("sample.sampler", {"seed": 424242, "steps": 20, "cfg": 6.5}),
            "24": ("latent.vae_decode", {}),
            "25": ("image.save", {"prefix": "ComfyUI"}),
        },
        "links": {
            ("1", "model", "2", "value"), ("2", "value", "4", "model"), ("2/ipadapter", "ipadapter", "4", "ipadapter"),
            ("2/clip_vision", "clip_vision", "4", "clip_vision"), ("3", "image", "4", "image"),
            ("5", "ipadapter", "7", "ipadapter"), ("6", "clip_vision", "7", "clip_vision"), ("3", "image", "7", "image"),
            ("4", "model", "7", "model"), ("7", "model", "8", "model"), ("2/ipadapter", "ipadapter", "8", "ipadapter"),
            ("2/clip_vision", "clip_vision", "8", "clip_vision"), ("3", "image", "8", "image"),
            ("6", "clip_vision", "9", "clip_vision"), ("3", "image", "9", "image"), ("8", "model", "10", "model"),
            ("1", "clip", "20", "clip"), ("1", "clip", "21", "clip"), ("10", "MODEL", "23", "model"),
            ("20", "conditioning", "23", "positive"), ("21", "conditioning", "23", "negative"),
            ("22", "latent", "23", "latent"), ("23", "latent", "24", "latent"), ("1", "vae", "24", "vae"),
            ("24", "image", "25", "images")},
    },
    "hires_esrgan": {
        "nodes": {
            "1": ("model.checkpoint", {"checkpoint": CK}),
            "2": ("text.encode", {"text": "a mountain village in winter, detailed, sharp focus"}),
            "3": ("text.encode", {"text": NEG}),
            "4": ("latent.empty", {"width": 512, "height": 512, "batch": 1}),
            "5": ("sample.sampler", {"seed": 8, "steps": 20, "sampler": "euler_ancestral", "denoise": 1.0}),
            "6": ("latent.vae_decode", {}),
            "7": ("model.upscale", {"model_name": "RealESRGAN_x4plus.pth"}),
            "8": ("image.upscale_model", {}),
            "9": ("image.scale", {"mode": "factor", "factor": 0.5, "method": "bicubic"}),
            "10": ("latent.vae_encode_tiled", {"tile_size": 512, "overlap": 64}),
            "11": ("sample.sampler", {"seed": 8, "sampler": "dpmpp_2m", "scheduler": "karras"}),
            "12": ("latent.vae_decode_tiled", {"tile_size": 512, "overlap": 64}),
            "13": ("image.save", {"prefix": "hires"}),
        },
        "links": _prompts("1") | {
            ("1", "model", "5", "model"), ("2", "conditioning", "5", "positive"), ("3", "conditioning", "5", "negative"),
            ("4", "latent", "5", "latent"), ("5", "latent", "6", "latent"), ("1", "vae", "6", "vae"),
            ("7", "upscale_model", "8", "upscale_model"), ("6", "image", "8", "image"), ("8", "image", "9", "image"),
            ("9", "image", "10", "image"), ("1", "vae", "10", "vae"), ("1", "model", "11", "model"),
            ("2", "conditioning", "11", "positive"), ("3", "conditioning", "11", "negative"),
            ("10", "latent", "11", "latent"), ("11", "latent", "12", "latent"), ("1", "vae", "12", "vae"),
            ("12", "image", "13", "images")},
    },
    "tile_upscale": {
        "nodes": {
            "1": ("model.checkpoint", {"checkpoint": CK}),
            "2": ("text.encode", {"text": "a detailed photo of an old town square"}),
            "3": ("text.encode", {"text": NEG}),
            "4": ("image.load", {"image": "photo.png"}),
            "5": ("model.upscale", {"model_name": "4x-UltraSharp.pth"}),
            "6": ("image.upscale_model", {}),
            "7": ("image.scale", {"mode": "factor", "factor": 0.5, "method": "lanczos"}),
            "8": ("model.controlnet", {"controlnet": "control_v11f1e_sd15_tile.safetensors"}),
            "9": ("control.apply", {"strength": 1.0, "start": 0.0, "end": 1.0}),
            "10": ("model.tiled_diffusion", {"mode": "mixture", "tile_width": 768, "tile_height": 768,
                                             "tile_overlap": 64, "tile_batch_size": 4}),
            "11": ("latent.vae_encode_tiled", {"tile_size": 1024, "overlap": 64}),
            "12": ("sample.sampler", {"seed": 77, "cfg": 6.0, "sampler": "dpmpp_2m", "scheduler": "karras"}),
            "13": ("latent.vae_decode_tiled", {"tile_size": 1024, "overlap": 64}),
            "14": ("image.save", {"prefix": "tile_upscale"}),
            "15": ("comfyui.UltimateSDUpscale", {"upscale_by": 2.0, "denoise": 0.3, "tile_width": 512}),
            "16": ("image.save", {"prefix": "usdu"}),
        },
        "links": _prompts("1") | {
            ("5", "upscale_model", "6", "upscale_model"), ("4", "image", "6", "image"), ("6", "image", "7", "image"),
            ("2", "conditioning", "9", "positive"), ("3", "conditioning", "9", "negative"),
            ("8", "control_net", "9", "control_net"), ("7", "image", "9", "image"), ("1", "model", "10", "model"),
            ("7", "image", "11", "image"), ("1", "vae", "11", "vae"), ("10", "model", "12", "model"),
            ("9", "positive", "12", "positive"), ("9", "negative", "12", "negative"), ("11", "latent", "12", "latent"),
            ("12", "latent", "13", "latent"), ("1", "vae", "13", "vae"), ("13", "image", "14", "images"),
            ("4", "image", "15", "image"), ("1", "model", "15", "model"), ("2", "conditioning", "15", "positive"),
            ("3", "conditioning", "15", "negative"), ("1", "vae", "15", "vae"),
            ("5", "upscale_model", "15", "upscale_model"), ("15", "IMAGE", "16", "images")},
    },
    "preprocessors": PREPROCESSOR_CORPUS,
    "core_more": CORE_MORE_CORPUS,
    **CORE_OPS_CORPUS,
    **REGIONS_CORPUS,
    "gligen_boxes": GLIGEN_CORPUS,
    "sdxl_prompts": SDXL_CORPUS,
    "model_merge": MODEL_MERGE_CORPUS,
    "custom_sampling": CUSTOM_SAMPLING_CORPUS,
    "model_patches": MODEL_PATCHES_CORPUS,
}
# Present only in the UI files, and kept as there: editor matter (reroutes, notes), muted and bypassed
# nodes, each with its mode; the API prompt's direct wires they stand in; the wires that replace them.
# (txt2img's Primitive #12 on the seed is no node here: its value is the sampler's seed.)
UI_ONLY: dict[str, dict] = {
    "txt2img": {
        "nodes": {"10": ("util.reroute", {}, "normal"),
                  "11": ("util.note", {"text": "Default workflow, lightly edited."}, "normal")},
        "replaces": {("4", "vae", "8", "vae")},
        "links": {("4", "vae", "10", "value"), ("10", "value", "8", "vae")},
    },
    "two_controlnets": {
        "nodes": {"15": ("image.scale", {"mode": "size", "width": 768, "height": 768, "method": "lanczos"}, "bypass"),
                  "16": ("image.preview", {}, "mute")},
        "replaces": {("4", "image", "5", "image")},
        "links": {("4", "image", "15", "image"), ("15", "image", "5", "image"), ("5", "image", "16", "images")},
    },
}
ALL_IDS = [str(i) for i in range(1, 26)]


def _import(flow: str, fmt: str):
    data = json.loads((CORPUS / f"{flow}.{fmt}.json").read_text())
    return import_comfyui(data, default_registry())


@pytest.mark.parametrize("fmt", ["api", "ui"])
@pytest.mark.parametrize("flow", FLOWS)
def test_corpus_node_by_node(flow, fmt):
    graph, report = _import(flow, fmt)
    expected = {cid: (*spec, "normal") for cid, spec in EXPECTED[flow]["nodes"].items()}
    expected_links = EXPECTED[flow]["links"]
    extra = UI_ONLY.get(flow) if fmt == "ui" else None
    if extra is not None:
        expected.update(extra["nodes"])
        assert extra["replaces"] <= expected_links
        expected_links = (expected_links - extra["replaces"]) | extra["links"]
    nodes, links = comfy_view(graph, list(expected))
    assert set(nodes) == set(expected)
    for cid, (type_id, params, mode) in expected.items():
        node = nodes[cid]
        assert (node.type_id, node.mode) == (type_id, mode), cid
        for key, value in params.items():
            assert node.params[key] == pytest.approx(value) if isinstance(value, float) else node.params[key] == value, \
                f"{flow}.{fmt} #{cid} {key}: {node.params[key]!r} != {value!r}"
    assert links == expected_links
    assert report.source.startswith("ComfyUI")


def test_every_mapped_class_is_in_the_corpus_in_both_formats():
    for fmt in ("api", "ui"):
        seen = set()
        for flow in FLOWS:
            data = json.loads((CORPUS / f"{flow}.{fmt}.json").read_text())
            if fmt == "api":
                seen |= {n["class_type"] for n in data.values()}
            else:
                seen |= {n["type"] for n in data["nodes"]}
        assert set(TRANSLATORS) <= seen, set(TRANSLATORS) - seen


def test_ui_positions_titles_and_groups_are_kept():
    graph, _ = _import("txt2img", "ui")
    nodes, _ = comfy_view(graph, ALL_IDS)
    assert nodes["4"].pos == (26.0, 474.0) and nodes["3"].pos == (863.0, 186.0)
    assert nodes["10"].pos == (1000.0, 500.0) and nodes["11"].pos == (20.0, 40.0)
    assert nodes["7"].title == "Negative" and nodes["6"].title is None
    assert [(g.title, g.rect, g.color) for g in graph.groups] == [("Prompts", (400.0, 100.0, 420.0, 400.0), "#3f789e")]


def test_api_imports_are_laid_out_in_columns():
    graph, _ = _import("txt2img", "api")
    nodes, _ = comfy_view(graph, ["3", "4", "5", "6", "7", "8", "9"])
    xs = [nodes[c].pos[0] for c in ("4", "6", "3", "8", "9")]
    assert xs == sorted(xs) and len(set(xs)) == 5


def test_ui_editor_matter_is_kept_and_planned_around():
    graph, report = _import("txt2img", "ui")  # Reroute on the VAE, Primitive on the seed, a Note
    assert report.of_kind("dropped") == [] and report.of_kind("unmapped") == []
    nodes, _ = comfy_view(graph, ALL_IDS)
    plan = plan_run(graph)
    assert plan.inputs[nodes["8"].id]["vae"] == (nodes["4"].id, "vae")  # through the reroute
    assert plan.skipped == {nodes["10"].id: "a reroute", nodes["11"].id: "a note"}
    assert not [p for p in graph.validate() if p.severity == "error"]

    graph, report = _import("two_controlnets", "ui")  # ImageScale #15 bypassed, PreviewImage #16 muted
    assert not [line for line in report.lines if "#15" in line or "#16" in line]
    nodes, _ = comfy_view(graph, ALL_IDS)
    plan = plan_run(graph)
    assert plan.inputs[nodes["5"].id]["image"] == (nodes["4"].id, "image")  # around the bypassed scale
    assert plan.skipped == {nodes["15"].id: "bypassed", nodes["16"].id: "muted"}
    assert not [p for p in graph.validate() if p.severity == "error"]


def test_reports_name_every_approximation():
    _, report = _import("img2img", "api")
    text = "\n".join(report.lines)
    assert "steps 33, denoise 0.6061" in text
    # uni_pc_bh2 and the simple scheduler are ours too: no note for them.
    assert "uni_pc_bh2" not in text and "'simple'" not in text
    _, report = _import("lora", "ui")
    assert not report.of_kind("unmapped")
    assert any("CLIP skip 1" in a for a in report.of_kind("approximated"))
    assert report.source == "ComfyUI (UI workflow, schema 1)"
    _, report = _import("two_controlnets", "api")
    assert any("converted for the karras scheduler to 0.238–0.705" in a for a in report.of_kind("approximated"))


def test_placeholders_keep_class_values_and_ports():
    graph, report = _import("ip_adapter", "ui")
    nodes, _ = comfy_view(graph, ALL_IDS)
    ph = nodes["10"]
    assert ph.extra == {"comfyui": {"id": "10", "class_type": "HypernetworkLoader"}}
    assert ph.placeholder_inputs == ("model",) and ph.placeholder_outputs == ("MODEL",)
    assert any("HypernetworkLoader #10: hypernetworks are not supported" in u for u in report.of_kind("unmapped"))
    problems = [p for p in graph.validate() if p.severity == "error"]
    assert {p.node_id for p in problems} == {nodes["10"].id}
    graph, _ = _import("masks", "ui")
    nodes, _ = comfy_view(graph, [str(i) for i in range(1, 22)])
    ph = nodes["13"]
    assert ph.extra == {"comfyui": {"id": "13", "class_type": "FeatherMask"}}
    assert ph.placeholder_inputs == ("mask",) and ph.placeholder_outputs == ("MASK",)
    assert {p.node_id for p in graph.validate() if p.severity == "error"} == {ph.id}


@pytest.mark.parametrize("fmt", ["api", "ui"])
@pytest.mark.parametrize("flow", FLOWS)
def test_round_trip_import_save_load(flow, fmt):
    graph, _ = _import(flow, fmt)
    text = dumps(graph, environment={})
    again = loads(text, default_registry())
    assert dumps(again, environment={}) == text
    assert {(lk.src, lk.src_port, lk.dst, lk.dst_port) for lk in again.links.values()} == \
           {(lk.src, lk.src_port, lk.dst, lk.dst_port) for lk in graph.links.values()}
    for nid, node in graph.nodes.items():
        assert (again.nodes[nid].type_id, again.nodes[nid].params, again.nodes[nid].pos) == \
               (node.type_id, node.params, node.pos)


def test_imports_are_deterministic():
    a, _ = _import("controlnet_canny", "ui")
    b, _ = _import("controlnet_canny", "ui")
    assert dumps(a, environment={}) == dumps(b, environment={})


def test_png_workflow_chunk_wins_over_prompt(tmp_path):
    graph, report = load_any(CORPUS / "controlnet_canny.comfyui.png", default_registry())
    assert report is not None and report.source == "ComfyUI (UI workflow, schema 0.4)"
    nodes, links = comfy_view(graph, list(EXPECTED["controlnet_canny"]["nodes"]))
    assert links == EXPECTED["controlnet_canny"]["links"]
    assert nodes["1"].pos == (0.0, 0.0) and nodes["9"].pos == (1020.0, 0.0)


def _png(tmp_path, **chunks: str):
    from PIL import Image
    from PIL.PngImagePlugin import PngInfo

    info = PngInfo()
    for key, text in chunks.items():
        info.add_text(key, text)
    path = tmp_path / "made.png"
    Image.new("RGB", (4, 4)).save(path, pnginfo=info)
    return path


def test_png_with_only_a_prompt_or_a_broken_workflow_uses_the_prompt(tmp_path):
    prompt = (CORPUS / "txt2img.api.json").read_text()
    _, report = load_any(_png(tmp_path, prompt=prompt), default_registry())
    assert report.source == "ComfyUI (API prompt)"
    _, report = load_any(_png(tmp_path, prompt=prompt, workflow="{not json"), default_registry())
    assert report.source == "ComfyUI (API prompt)"
    assert any("could not be read" in line for line in report.of_kind("info"))


def test_json_files_of_every_kind_load(tmp_path):
    reg = default_registry()
    graph, report = load_any(CORPUS / "lora.ui.json", reg)
    assert report is not None and len(graph.nodes) == 11
    ours = tmp_path / "ours.json"
    ours.write_text(dumps(graph, environment={}))
    again, report = load_any(ours, reg)
    assert report is None and set(again.nodes) == set(graph.nodes)
    wrapped = tmp_path / "request.json"  # the body of a POST to ComfyUI's /prompt
    wrapped.write_text(json.dumps({"prompt": json.loads((CORPUS / "txt2img.api.json").read_text()),
                                   "client_id": "x"}))
    graph, report = load_any(wrapped, reg)
    assert report.source == "ComfyUI (API prompt)" and len(graph.nodes) == 7
