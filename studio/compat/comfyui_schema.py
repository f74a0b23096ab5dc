"""The ComfyUI node classes the importer understands: ports and widget order, as ComfyUI defines them.

UI files store widget values by position, so the order here must be ComfyUI's. Seed widgets are
followed in UI files by a front-end-only "control after generate" value.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class ComfySpec:
    title: str  # ComfyUI's display name (the default title)
    inputs: tuple[tuple[str, str], ...] = ()  # wire inputs (name, type), in slot order
    widgets: tuple[tuple[str, Any], ...] = ()  # (name, ComfyUI default), in widgets_values order
    outputs: tuple[tuple[str, str], ...] = ()  # (name, type), in slot order
    seeds: tuple[str, ...] = ()  # widgets followed by "control after generate"

    def default(self, name: str) -> Any:
        return dict(self.widgets).get(name)


CONTROL_AFTER_GENERATE = frozenset({"fixed", "increment", "decrement", "randomize"})
# Notes exist only in the ComfyUI editor (never in an API prompt); their text is their one widget.
_NOTE_TEXT = (("text", ""),)

_SAMPLER_INPUTS = (("model", "MODEL"), ("positive", "CONDITIONING"), ("negative", "CONDITIONING"),
                   ("latent_image", "LATENT"))

SPECS: dict[str, ComfySpec] = {
    "Note": ComfySpec("Note", widgets=_NOTE_TEXT),
    "MarkdownNote": ComfySpec("Markdown Note", widgets=_NOTE_TEXT),
    "CheckpointLoaderSimple": ComfySpec(
        "Load Checkpoint", widgets=(("ckpt_name", ""),),
        outputs=(("MODEL", "MODEL"), ("CLIP", "CLIP"), ("VAE", "VAE"))),
    "CLIPTextEncode": ComfySpec(
        "CLIP Text Encode (Prompt)", inputs=(("clip", "CLIP"),), widgets=(("text", ""),),
        outputs=(("CONDITIONING", "CONDITIONING"),)),
    "CLIPTextEncodeSDXL": ComfySpec(
        "CLIPTextEncodeSDXL", inputs=(("clip", "CLIP"),),
        widgets=(("width", 1024), ("height", 1024), ("crop_w", 0), ("crop_h", 0), ("target_width", 1024),
                 ("target_height", 1024), ("text_g", ""), ("text_l", "")),
        outputs=(("CONDITIONING", "CONDITIONING"),)),
    "CLIPTextEncodeSDXLRefiner": ComfySpec(
        "CLIPTextEncodeSDXLRefiner", inputs=(("clip", "CLIP"),),
        widgets=(("ascore", 6.0), ("width", 1024), ("height", 1024), ("text", "")),
        outputs=(("CONDITIONING", "CONDITIONING"),)),
    # Regional conditioning and conditioning arithmetic (titles: ComfyUI's display names; ConditioningAverage's
    # display name is registered under a misspelt key there, so it shows its class name).
    "ConditioningSetArea": ComfySpec(
        "Conditioning (Set Area)", inputs=(("conditioning", "CONDITIONING"),),
        widgets=(("width", 64), ("height", 64), ("x", 0), ("y", 0), ("strength", 1.0)),
        outputs=(("CONDITIONING", "CONDITIONING"),)),
    "ConditioningSetAreaPercentage": ComfySpec(
        "Conditioning (Set Area with Percentage)", inputs=(("conditioning", "CONDITIONING"),),
        widgets=(("width", 1.0), ("height", 1.0), ("x", 0.0), ("y", 0.0), ("strength", 1.0)),
        outputs=(("CONDITIONING", "CONDITIONING"),)),
    "ConditioningSetMask": ComfySpec(
        "Conditioning (Set Mask)", inputs=(("conditioning", "CONDITIONING"), ("mask", "MASK")),
        widgets=(("strength", 1.0), ("set_cond_area", "default")), outputs=(("CONDITIONING", "CONDITIONING"),)),
    "ConditioningCombine": ComfySpec(
        "Conditioning (Combine)", inputs=(("conditioning_1", "CONDITIONING"), ("conditioning_2", "CONDITIONING")),
        outputs=(("CONDITIONING", "CONDITIONING"),)),
    "ConditioningConcat": ComfySpec(
        "Conditioning (Concat)", inputs=(("conditioning_to", "CONDITIONING"), ("conditioning_from", "CONDITIONING")),
        outputs=(("CONDITIONING", "CONDITIONING"),)),
    "ConditioningAverage": ComfySpec(
        "ConditioningAverage", inputs=(("conditioning_to", "CONDITIONING"), ("conditioning_from", "CONDITIONING")),
        widgets=(("conditioning_to_strength", 1.0),), outputs=(("CONDITIONING", "CONDITIONING"),)),
    "ConditioningZeroOut": ComfySpec(
        "ConditioningZeroOut", inputs=(("conditioning", "CONDITIONING"),), outputs=(("CONDITIONING", "CONDITIONING"),)),
    "EmptyLatentImage": ComfySpec(
        "Empty Latent Image", widgets=(("width", 512), ("height", 512), ("batch_size", 1)),
        outputs=(("LATENT", "LATENT"),)),
    "KSampler": ComfySpec(
        "KSampler", inputs=_SAMPLER_INPUTS,
        widgets=(("seed", 0), ("steps", 20), ("cfg", 8.0), ("sampler_name", "euler"), ("scheduler", "normal"),
                 ("denoise", 1.0)),
        outputs=(("LATENT", "LATENT"),), seeds=("seed",)),
    "KSamplerAdvanced": ComfySpec(
        "KSampler (Advanced)", inputs=_SAMPLER_INPUTS,
        widgets=(("add_noise", "enable"), ("noise_seed", 0), ("steps", 20), ("cfg", 8.0),
                 ("sampler_name", "euler"), ("scheduler", "normal"), ("start_at_step", 0),
                 ("end_at_step", 10000), ("return_with_leftover_noise", "disable")),
        outputs=(("LATENT", "LATENT"),), seeds=("noise_seed",)),
    "VAEDecode": ComfySpec("VAE Decode", inputs=(("samples", "LATENT"), ("vae", "VAE")),
                           outputs=(("IMAGE", "IMAGE"),)),
    "VAEEncode": ComfySpec("VAE Encode", inputs=(("pixels", "IMAGE"), ("vae", "VAE")),
                           outputs=(("LATENT", "LATENT"),)),
    "VAELoader": ComfySpec("Load VAE", widgets=(("vae_name", ""),), outputs=(("VAE", "VAE"),)),
    "LoadImage": ComfySpec("Load Image", widgets=(("image", ""), ("upload", "image")),
                           outputs=(("IMAGE", "IMAGE"), ("MASK", "MASK"))),
    "SaveImage": ComfySpec("Save Image", inputs=(("images", "IMAGE"),), widgets=(("filename_prefix", "ComfyUI"),)),
    "PreviewImage": ComfySpec("Preview Image", inputs=(("images", "IMAGE"),)),
    "ControlNetLoader": ComfySpec("Load ControlNet Model", widgets=(("control_net_name", ""),),
                                  outputs=(("CONTROL_NET", "CONTROL_NET"),)),
    "ControlNetApply": ComfySpec(
        "Apply ControlNet (OLD)",
        inputs=(("conditioning", "CONDITIONING"), ("control_net", "CONTROL_NET"), ("image", "IMAGE")),
        widgets=(("strength", 1.0),), outputs=(("CONDITIONING", "CONDITIONING"),)),
    "ControlNetApplyAdvanced": ComfySpec(
        "Apply ControlNet",
        inputs=(("positive", "CONDITIONING"), ("negative", "CONDITIONING"), ("control_net", "CONTROL_NET"),
                ("image", "IMAGE"), ("vae", "VAE")),
        widgets=(("strength", 1.0), ("start_percent", 0.0), ("end_percent", 1.0)),
        outputs=(("positive", "CONDITIONING"), ("negative", "CONDITIONING"))),
    "Canny": ComfySpec("Canny", inputs=(("image", "IMAGE"),),
                       widgets=(("low_threshold", 0.4), ("high_threshold", 0.8)), outputs=(("IMAGE", "IMAGE"),)),
    "ImageScale": ComfySpec(
        "Upscale Image", inputs=(("image", "IMAGE"),),
        widgets=(("upscale_method", "nearest-exact"), ("width", 512), ("height", 512), ("crop", "disabled")),
        outputs=(("IMAGE", "IMAGE"),)),
    "ImageScaleBy": ComfySpec(
        "Upscale Image By", inputs=(("image", "IMAGE"),),
        widgets=(("upscale_method", "nearest-exact"), ("scale_by", 1.0)), outputs=(("IMAGE", "IMAGE"),)),
    "ImageInvert": ComfySpec("Invert Image", inputs=(("image", "IMAGE"),), outputs=(("IMAGE", "IMAGE"),)),
    "LatentUpscale": ComfySpec(
        "Upscale Latent", inputs=(("samples", "LATENT"),),
        widgets=(("upscale_method", "nearest-exact"), ("width", 512), ("height", 512), ("crop", "disabled")),
        outputs=(("LATENT", "LATENT"),)),
    "LatentUpscaleBy": ComfySpec(
        "Upscale Latent By", inputs=(("samples", "LATENT"),),
        widgets=(("upscale_method", "nearest-exact"), ("scale_by", 1.5)), outputs=(("LATENT", "LATENT"),)),
    "LoraLoader": ComfySpec(
        "Load LoRA", inputs=(("model", "MODEL"), ("clip", "CLIP")),
        widgets=(("lora_name", ""), ("strength_model", 1.0), ("strength_clip", 1.0)),
        outputs=(("MODEL", "MODEL"), ("CLIP", "CLIP"))),
    "LoraLoaderModelOnly": ComfySpec(
        "LoraLoaderModelOnly", inputs=(("model", "MODEL"),),
        widgets=(("lora_name", ""), ("strength_model", 1.0)), outputs=(("MODEL", "MODEL"),)),
    # Tiled VAE: newer ComfyUI adds temporal tiling (for video models) after tile size and overlap.
    "VAEDecodeTiled": ComfySpec(
        "VAE Decode (Tiled)", inputs=(("samples", "LATENT"), ("vae", "VAE")),
        widgets=(("tile_size", 512), ("overlap", 64), ("temporal_size", 64), ("temporal_overlap", 8)),
        outputs=(("IMAGE", "IMAGE"),)),
    "VAEEncodeTiled": ComfySpec(
        "VAE Encode (Tiled)", inputs=(("pixels", "IMAGE"), ("vae", "VAE")),
        widgets=(("tile_size", 512), ("overlap", 64), ("temporal_size", 64), ("temporal_overlap", 8)),
        outputs=(("LATENT", "LATENT"),)),
    "UpscaleModelLoader": ComfySpec("Load Upscale Model", widgets=(("model_name", ""),),
                                    outputs=(("UPSCALE_MODEL", "UPSCALE_MODEL"),)),
    "ImageUpscaleWithModel": ComfySpec(
        "Upscale Image (using Model)", inputs=(("upscale_model", "UPSCALE_MODEL"), ("image", "IMAGE")),
        outputs=(("IMAGE", "IMAGE"),)),
    "GLIGENLoader": ComfySpec("GLIGENLoader", widgets=(("gligen_name", ""),), outputs=(("GLIGEN", "GLIGEN"),)),
    "GLIGENTextBoxApply": ComfySpec(
        "GLIGENTextBoxApply", inputs=(("conditioning_to", "CONDITIONING"), ("clip", "CLIP"),
                                      ("gligen_textbox_model", "GLIGEN")),
        widgets=(("text", ""), ("width", 64), ("height", 64), ("x", 0), ("y", 0)),
        outputs=(("CONDITIONING", "CONDITIONING"),)),
    # The ComfyUI-TiledDiffusion node pack.
    "TiledDiffusion": ComfySpec(
        "Tiled Diffusion", inputs=(("model", "MODEL"),),
        widgets=(("method", "Mixture of Diffusers"), ("tile_width", 768), ("tile_height", 768), ("tile_overlap", 64),
                 ("tile_batch_size", 4)),
        outputs=(("MODEL", "MODEL"),)),
    "UltimateSDUpscale": ComfySpec(
        "Ultimate SD Upscale",
        inputs=(("image", "IMAGE"), ("model", "MODEL"), ("positive", "CONDITIONING"), ("negative", "CONDITIONING"),
                ("vae", "VAE"), ("upscale_model", "UPSCALE_MODEL")),
        widgets=(("upscale_by", 2.0), ("seed", 0), ("steps", 20), ("cfg", 8.0), ("sampler_name", "euler"),
                 ("scheduler", "normal"), ("denoise", 0.2), ("mode_type", "Linear"), ("tile_width", 512),
                 ("tile_height", 512), ("mask_blur", 8), ("tile_padding", 32), ("seam_fix_mode", "None"),
                 ("seam_fix_denoise", 1.0), ("seam_fix_width", 64), ("seam_fix_mask_blur", 8),
                 ("seam_fix_padding", 16), ("force_uniform_tiles", True), ("tiled_decode", False)),
        outputs=(("IMAGE", "IMAGE"),), seeds=("seed",)),
    "HypernetworkLoader": ComfySpec(
        "Load Hypernetwork", inputs=(("model", "MODEL"),),
        widgets=(("hypernetwork_name", ""), ("strength", 1.0)), outputs=(("MODEL", "MODEL"),)),
    "CLIPVisionLoader": ComfySpec("Load CLIP Vision", widgets=(("clip_name", ""),),
                                  outputs=(("CLIP_VISION", "CLIP_VISION"),)),
    "CLIPVisionEncode": ComfySpec(
        "CLIP Vision Encode", inputs=(("clip_vision", "CLIP_VISION"), ("image", "IMAGE")),
        widgets=(("crop", "center"),), outputs=(("CLIP_VISION_OUTPUT", "CLIP_VISION_OUTPUT"),)),
    # The IPAdapter_plus node pack (version 2, and its first version's IPAdapterApply).
    "IPAdapterModelLoader": ComfySpec("IPAdapter Model Loader", widgets=(("ipadapter_file", ""),),
                                      outputs=(("IPADAPTER", "IPADAPTER"),)),
    "IPAdapterUnifiedLoader": ComfySpec(
        "IPAdapter Unified Loader", inputs=(("model", "MODEL"), ("ipadapter", "IPADAPTER")),
        widgets=(("preset", "STANDARD (medium strength)"),),
        outputs=(("model", "MODEL"), ("ipadapter", "IPADAPTER"))),
    "IPAdapter": ComfySpec(
        "IPAdapter", inputs=(("model", "MODEL"), ("ipadapter", "IPADAPTER"), ("image", "IMAGE"),
                             ("attn_mask", "MASK")),
        widgets=(("weight", 1.0), ("start_at", 0.0), ("end_at", 1.0), ("weight_type", "standard")),
        outputs=(("MODEL", "MODEL"),)),
    "IPAdapterAdvanced": ComfySpec(
        "IPAdapter Advanced", inputs=(("model", "MODEL"), ("ipadapter", "IPADAPTER"), ("image", "IMAGE"),
                                      ("image_negative", "IMAGE"), ("attn_mask", "MASK"),
                                      ("clip_vision", "CLIP_VISION")),
        widgets=(("weight", 1.0), ("weight_type", "linear"), ("combine_embeds", "concat"), ("start_at", 0.0),
                 ("end_at", 1.0), ("embeds_scaling", "V only")),
        outputs=(("MODEL", "MODEL"),)),
    "IPAdapterApply": ComfySpec(
        "Apply IPAdapter", inputs=(("ipadapter", "IPADAPTER"), ("clip_vision", "CLIP_VISION"), ("image", "IMAGE"),
                                   ("model", "MODEL"), ("attn_mask", "MASK")),
        widgets=(("weight", 1.0), ("noise", 0.0), ("weight_type", "original"), ("start_at", 0.0), ("end_at", 1.0),
                 ("unfold_batch", False)),
        outputs=(("MODEL", "MODEL"),)),
    "CLIPSetLastLayer": ComfySpec("CLIP Set Last Layer", inputs=(("clip", "CLIP"),),
                                  widgets=(("stop_at_clip_layer", -1),), outputs=(("CLIP", "CLIP"),)),
    "SetLatentNoiseMask": ComfySpec("Set Latent Noise Mask", inputs=(("samples", "LATENT"), ("mask", "MASK")),
                                    outputs=(("LATENT", "LATENT"),)),
    "VAEEncodeForInpaint": ComfySpec(
        "VAE Encode (for Inpainting)", inputs=(("pixels", "IMAGE"), ("vae", "VAE"), ("mask", "MASK")),
        widgets=(("grow_mask_by", 6),), outputs=(("LATENT", "LATENT"),)),
    "InpaintModelConditioning": ComfySpec(
        "InpaintModelConditioning",
        inputs=(("positive", "CONDITIONING"), ("negative", "CONDITIONING"), ("vae", "VAE"), ("pixels", "IMAGE"),
                ("mask", "MASK")),
        widgets=(("noise_mask", True),),
        outputs=(("positive", "CONDITIONING"), ("negative", "CONDITIONING"), ("latent", "LATENT"))),
    "ImagePadForOutpaint": ComfySpec(
        "Pad Image for Outpainting", inputs=(("image", "IMAGE"),),
        widgets=(("left", 0), ("top", 0), ("right", 0), ("bottom", 0), ("feathering", 40)),
        outputs=(("IMAGE", "IMAGE"), ("MASK", "MASK"))),
    "LatentComposite": ComfySpec(
        "Latent Composite", inputs=(("samples_to", "LATENT"), ("samples_from", "LATENT")),
        widgets=(("x", 0), ("y", 0), ("feather", 0)), outputs=(("LATENT", "LATENT"),)),
    "LatentFromBatch": ComfySpec(
        "Latent From Batch", inputs=(("samples", "LATENT"),), widgets=(("batch_index", 0), ("length", 1)),
        outputs=(("LATENT", "LATENT"),)),
    # Mask nodes: ComfyUI shows most of them under their class names.
    "ImageToMask": ComfySpec("Convert Image to Mask", inputs=(("image", "IMAGE"),), widgets=(("channel", "red"),),
                             outputs=(("MASK", "MASK"),)),
    "MaskToImage": ComfySpec("Convert Mask to Image", inputs=(("mask", "MASK"),), outputs=(("IMAGE", "IMAGE"),)),
    "InvertMask": ComfySpec("InvertMask", inputs=(("mask", "MASK"),), outputs=(("MASK", "MASK"),)),
    "GrowMask": ComfySpec("GrowMask", inputs=(("mask", "MASK"),), widgets=(("expand", 0), ("tapered_corners", True)),
                          outputs=(("MASK", "MASK"),)),
    "FeatherMask": ComfySpec("FeatherMask", inputs=(("mask", "MASK"),),
                             widgets=(("left", 0), ("top", 0), ("right", 0), ("bottom", 0)),
                             outputs=(("MASK", "MASK"),)),
    "ThresholdMask": ComfySpec("ThresholdMask", inputs=(("mask", "MASK"),), widgets=(("value", 0.5),),
                               outputs=(("MASK", "MASK"),)),
    "MaskComposite": ComfySpec("MaskComposite", inputs=(("destination", "MASK"), ("source", "MASK")),
                               widgets=(("x", 0), ("y", 0), ("operation", "multiply")), outputs=(("MASK", "MASK"),)),
    "SolidMask": ComfySpec("SolidMask", widgets=(("value", 1.0), ("width", 512), ("height", 512)),
                           outputs=(("MASK", "MASK"),)),
    "ImageColorToMask": ComfySpec("ImageColorToMask", inputs=(("image", "IMAGE"),), widgets=(("color", 0),),
                                  outputs=(("MASK", "MASK"),)),
}
