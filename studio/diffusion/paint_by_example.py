"""Paint-by-Example: inpaint a masked area with the content of an example image.

The model is an SD 1.x UNet with 9 input channels conditioned on an *image* embedding instead of a
prompt: the example image goes through a CLIP vision model, a small mapper and a projection
(diffusers' ``PaintByExampleImageEncoder``); the unconditional half of CFG is the encoder's learned
``uncond_vector``. It lives in a diffusers folder under ``checkpoints/`` whose ``model_index.json``
names ``PaintByExamplePipeline``, with ``unet/``, ``vae/``, ``image_encoder/``, ``scheduler/`` and
``feature_extractor/``.

Sampling is our own loop (``studio.diffusion.sampling.sample``) with the masked image handed to the
UNet through ``Conditioning.concat``; it reproduces diffusers' ``PaintByExamplePipeline`` for the same
weights, seed and settings:

- **Mask** (a MASK, 1 = repaint): the pipeline's ``prepare_mask_and_masked_image`` inverts it into a
  *keep* mask, binarised at 0.5 (``1 - mask >= 0.5`` keeps), and blanks the repainted area of the image
  to 0 (mid grey in [-1, 1]) before VAE-encoding it.
- **Channels**: the UNet input is [latents, masked-image latents, keep mask] — Paint-by-Example's own
  order, unlike the inpainting pipelines' [latents, mask, masked-image latents] — so ``concat`` is
  cat([masked-image latents, keep mask]), always built at the latent's size (the denoiser resizes
  a concat of another size as if its first channel were the mask).
- **Noise**: one CPU generator seeded with ``seed`` draws the starting noise first, then the VAE's
  latent sample of the masked image, as the pipeline does with ``torch.Generator("cpu")``. The sampler
  draws the same starting noise from its own generator; samplers that draw again during the steps
  (ancestral, SDE) continue from a generator that has not drawn the VAE sample, so for them the result
  is deterministic per seed but not the pipeline's.
- **Example**: through the folder's ``CLIPImageProcessor`` as 8-bit RGB images (what the pipeline
  does with a PIL image): resized, centre-cropped (224² for the released model) and normalised.
- The whole image is regenerated, as by the pipeline: the area outside the mask is not pasted back.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from studio.core.context import NodeFailure

from .errors import ModelError
from .safetensors_header import open_regular
from .values import Conditioning, Latent, UNetModel, VAEModel

Progress = Callable[[float, str], None]
FAMILY = "sd15"  # Paint-by-Example was fine-tuned from SD 1.4
PIPELINE_CLASS = "PaintByExamplePipeline"
COMPONENTS = ("unet", "vae", "image_encoder", "scheduler", "feature_extractor")
NAME = "Paint-by-Example"  # the name the model manager reports while loading
MAX_CONFIG_BYTES = 4 * 1024 * 1024


@dataclass(frozen=True, eq=False)
class PaintByExampleModel:
    """A loaded Paint-by-Example folder: its 9-channel UNet (with the scheduler config it was saved
    with), VAE, image encoder (``PaintByExampleImageEncoder``) and CLIP image processor."""

    unet: UNetModel
    vae: VAEModel
    image_encoder: Any
    feature_extractor: Any
    source: str = ""

    @property
    def family(self) -> str:
        return self.unet.family

    @property
    def model(self) -> Any:
        """Every module, so that the model manager counts all the weights against its budget."""
        import torch

        return torch.nn.ModuleDict({"unet": self.unet.unet, "vae": self.vae.vae, "image_encoder": self.image_encoder})

    def __cache_size__(self) -> int:
        return 64  # owned by the model manager


# --- finding and loading ------------------------------------------------------------------------


def _read_json(path: Path) -> dict[str, Any]:
    """A small JSON config; a FIFO, device or huge file is refused (``open_regular``)."""
    fd, st = open_regular(path)
    with os.fdopen(fd, "rb") as f:
        if st.st_size > MAX_CONFIG_BYTES:
            raise ModelError(f"{path}: too large for a model configuration ({st.st_size} bytes)")
        raw = f.read(MAX_CONFIG_BYTES + 1)
    try:
        data = json.loads(raw.decode("utf-8"))
    except (ValueError, RecursionError):
        raise ModelError(f"{path}: not a readable JSON file") from None
    if not isinstance(data, dict):
        raise ModelError(f"{path}: not a JSON object")
    return data


def check_folder(path: Path) -> None:
    """Refuse, with a message naming it, anything that is not a Paint-by-Example diffusers folder."""
    if not path.is_dir():
        raise ModelError(f"{path.name} is a single file; Paint-by-Example needs its diffusers folder "
                         f"(with model_index.json naming {PIPELINE_CLASS})")
    index_file = path / "model_index.json"
    if not index_file.is_file():
        raise ModelError(f"{path.name} is not a Paint-by-Example model: the folder has no model_index.json")
    cls = _read_json(index_file).get("_class_name")
    if cls != PIPELINE_CLASS:
        raise ModelError(f"{path.name} is not a Paint-by-Example model: its model_index.json names "
                         f"{cls or 'no pipeline class'}, not {PIPELINE_CLASS}")
    missing = [c for c in COMPONENTS if not (path / c).is_dir()]
    if missing:
        raise ModelError(f"{path.name}: this Paint-by-Example folder lacks {', '.join(m + '/' for m in missing)}")


def load(manager: Any, name: str, progress: Progress | None = None) -> PaintByExampleModel:
    """The Paint-by-Example folder called ``name`` among the checkpoint folders, loaded once and kept
    by the model manager under its memory budget (its generic cache for model folders that are
    built by a function of their own: ``load_annotator``)."""
    path = manager.resolve("checkpoints", name)  # confined to the model folders
    check_folder(path)
    allow_ckpt = bool(manager.settings.allow_ckpt)

    def build(folder: Path, device: Any, dtype: Any, report: Progress) -> PaintByExampleModel:
        return load_folder(folder, device=device, dtype=dtype, allow_ckpt=allow_ckpt, progress=report)

    value: PaintByExampleModel = manager.load_annotator(NAME, path, build, progress)
    return value


def load_folder(path: Path, *, device: Any, dtype: Any, allow_ckpt: bool = False,
                progress: Progress | None = None) -> PaintByExampleModel:
    """Build every component from the folder, offline, on ``device`` in ``dtype``. Weights come from
    ``.safetensors`` files; pickled ``.bin`` weights only with ``allow_ckpt``."""
    from diffusers import AutoencoderKL, UNet2DConditionModel
    from transformers import CLIPVisionConfig

    report = progress or (lambda fraction, text: None)
    check_folder(path)
    # None lets the libraries fall back to .bin files (pickles); True accepts safetensors only.
    safetensors: bool | None = None if allow_ckpt else True

    def component(sub: str, make: Callable[[str], Any]) -> Any:
        if sub in WEIGHTED:
            _check_weights(path, sub, allow_ckpt)
        try:
            return make(str(path / sub))
        except (OSError, ValueError, KeyError, TypeError, RuntimeError) as exc:
            raise ModelError(f"{path.name}: cannot load {sub}/ ({_first_line(exc)})") from None

    report(0.1, f"{path.name}: building UNet")
    unet = component("unet", lambda p: UNet2DConditionModel.from_pretrained(
        p, local_files_only=True, use_safetensors=safetensors))
    if int(unet.config.in_channels) != 9:
        raise ModelError(f"{path.name}: its UNet takes {unet.config.in_channels} input channels; "
                         "Paint-by-Example's takes 9")
    report(0.5, f"{path.name}: building VAE")
    vae = component("vae", lambda p: AutoencoderKL.from_pretrained(p, local_files_only=True,
                                                                   use_safetensors=safetensors))
    report(0.7, f"{path.name}: building image encoder")
    encoder_class = _encoder_class()
    # The saved config is a CLIP vision config; read it as one (the encoder class expects a full
    # CLIPConfig by default and would warn about the mismatch).
    encoder = component("image_encoder", lambda p: encoder_class.from_pretrained(
        p, config=CLIPVisionConfig.from_pretrained(p, local_files_only=True), local_files_only=True,
        use_safetensors=safetensors))
    processor = component("feature_extractor", lambda p: _processor_class().from_pretrained(p, local_files_only=True))
    scheduler_config = _read_json(path / "scheduler" / "scheduler_config.json")
    for module in (unet, vae, encoder):
        module.to(device=device, dtype=dtype).eval().requires_grad_(False)
    source = str(path)
    return PaintByExampleModel(UNetModel(FAMILY, unet, scheduler_config, source), VAEModel(FAMILY, vae, source),
                               encoder, processor, source)


WEIGHTED = ("unet", "vae", "image_encoder")


def _check_weights(path: Path, sub: str, allow_ckpt: bool) -> None:
    """A clear refusal before the libraries give theirs: no weights at all, or only pickles."""
    names = [p.name for p in (path / sub).iterdir() if p.is_file()]
    if any(n.endswith(".safetensors") for n in names):
        return
    pickles = [n for n in names if n.endswith(".bin")]
    if not pickles:
        raise ModelError(f"{path.name}: no weights file in {sub}/")
    if not allow_ckpt:
        raise ModelError(f"{path.name}: {sub}/ has only pickled weights ({pickles[0]}), which can run code when "
                         "opened. Use a .safetensors version, or allow .ckpt files in the settings.")


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:300] if text else type(exc).__name__


def _encoder_class() -> Any:
    try:  # diffusers moved the pipeline to its deprecated package
        from diffusers.pipelines.deprecated.paint_by_example import PaintByExampleImageEncoder
    except ImportError:
        from diffusers.pipelines.paint_by_example import PaintByExampleImageEncoder  # type: ignore[no-redef,import-not-found,unused-ignore]
    return PaintByExampleImageEncoder


def _processor_class() -> Any:
    """The PIL-based CLIP image processor: the one the model was released with. Transformers 5 names
    it ``CLIPImageProcessorPil`` (its ``CLIPImageProcessor`` is the torchvision one when installed)."""
    import transformers

    return getattr(transformers, "CLIPImageProcessorPil", None) or transformers.CLIPImageProcessor


# --- preprocessing -------------------------------------------------------------------------------


def mask_and_masked_image(image: np.ndarray, mask: np.ndarray) -> tuple[Any, Any]:
    """diffusers' ``prepare_mask_and_masked_image`` for Paint-by-Example: IMAGE (B, H, W, 3) in [0, 1]
    and MASK (B, H, W) with 1 = repaint → (keep mask (B, 1, H, W) in {0, 1}, masked image (B, 3, H, W)
    in [-1, 1] with the repainted area 0), float32 CPU tensors."""
    import torch

    keep = ((1.0 - np.asarray(mask, np.float32)) >= 0.5).astype(np.float32)[:, None]
    pixels = np.asarray(image, np.float32).transpose(0, 3, 1, 2) * 2.0 - 1.0
    keep_t = torch.from_numpy(np.ascontiguousarray(keep))
    return keep_t, torch.from_numpy(np.ascontiguousarray(pixels)) * keep_t


def encode_example(model: PaintByExampleModel, example: np.ndarray) -> tuple[Any, Any]:
    """(image embeddings (B, 1, D), unconditional embedding (1, 1, D)) of an IMAGE batch."""
    import torch
    from PIL import Image

    from studio.core.imaging import to_uint8

    frames = [Image.fromarray(f) for f in to_uint8(np.asarray(example, np.float32)[..., :3])]
    encoder = model.image_encoder
    param = next(encoder.parameters())
    pixels = model.feature_extractor(images=frames, return_tensors="pt").pixel_values
    with torch.no_grad():
        embeds, uncond = encoder(pixels.to(device=param.device, dtype=param.dtype), return_uncond_vector=True)
    return embeds, uncond


def conditioning(model: PaintByExampleModel, image: np.ndarray, mask: np.ndarray, example: np.ndarray, *,
                 seed: int) -> tuple[Conditioning, Conditioning, Latent]:
    """(positive, negative, latent) for ``sample``: the example's embedding and the encoder's
    unconditional one, both with the masked image as ``concat``; the latent is the empty one of the
    image's size. ``image``, ``mask`` and ``example`` have one batch size (or 1 for the example);
    the image's sides are multiples of 8 and the mask has its size."""
    import torch
    import torch.nn.functional as F
    from diffusers.utils.torch_utils import randn_tensor

    from .vae import SCALE

    b, h, w = image.shape[:3]
    if h % SCALE or w % SCALE or h < SCALE or w < SCALE:
        raise NodeFailure(f"the image ({w}×{h}) must have sides that are multiples of {SCALE}")
    if mask.shape != (b, h, w):
        raise NodeFailure(f"the mask {tuple(mask.shape)} does not fit the image {tuple(image.shape[:3])}")
    keep, masked = mask_and_masked_image(image, mask)
    unet, vae = model.unet.unet, model.vae.vae
    shape = (b, int(unet.config.out_channels), h // SCALE, w // SCALE)
    generator = torch.Generator("cpu").manual_seed(int(seed))
    # The pipeline draws the starting noise before the VAE sample; draw it here too (``sample`` draws
    # the same noise again from its own generator).
    randn_tensor(shape, generator=generator, device=unet.device, dtype=unet.dtype)
    with torch.no_grad():
        dist = vae.encode(masked.to(device=vae.device, dtype=vae.dtype)).latent_dist
        latents = dist.sample(generator) * vae.config.scaling_factor
    keep_small = F.interpolate(keep, size=shape[2:]).to(device=latents.device, dtype=latents.dtype)
    concat = torch.cat([latents, keep_small], dim=1).float().cpu()  # Paint-by-Example's channel order
    embeds, uncond = encode_example(model, example)
    positive = Conditioning(FAMILY, embeds.float().cpu(), concat=concat)
    negative = Conditioning(FAMILY, uncond.float().cpu(), concat=concat)
    return positive, negative, Latent(FAMILY, torch.zeros(shape))


def paint(model: PaintByExampleModel, image: np.ndarray, mask: np.ndarray, example: np.ndarray, *, seed: int,
          steps: int, cfg: float, sampler: str, scheduler: str,
          on_step: Callable[[int, int, Any], None] | None = None,
          check_cancel: Callable[[], None] | None = None) -> np.ndarray:
    """Repaint the masked area of ``image`` with the example's content; returns IMAGE (B, H, W, 3)."""
    from .sampling import sample
    from .vae import decode

    positive, negative, latent = conditioning(model, image, mask, example, seed=seed)
    out = sample(model.unet, positive, negative, latent, seed=seed, steps=steps, cfg=cfg, sampler=sampler,
                 scheduler=scheduler, on_step=on_step, check_cancel=check_cancel)
    return decode(model.vae, out)
