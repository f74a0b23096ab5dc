"""The values that travel along MODEL, CLIP, VAE, CONTROL_NET, CONDITIONING and LATENT wires.

Plain containers over diffusers/transformers objects and torch tensors. Model objects are owned by
the model manager, so the executor's byte-bounded cache counts them as (almost) free.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any


class _Owned:
    """Held by the model manager: the output cache does not count its weights."""

    def __cache_size__(self) -> int:
        return 64


@dataclass(frozen=True, eq=False)
class UNetModel(_Owned):
    """MODEL: the denoising UNet of one family, with the scheduler config it was trained with."""

    family: str
    unet: Any  # diffusers.UNet2DConditionModel
    scheduler_config: Mapping[str, Any]
    source: str = ""
    # Applied around each run that uses this model and undone after (LoRA, IP-Adapter); the shared
    # ``unet`` itself is never modified. See ``studio.diffusion.model_patches``.
    patches: tuple[Any, ...] = ()
    # Tiled denoising for every run of this model (a ``studio.diffusion.tiled.TileSpec``; None: untiled).
    tiling: Any = None


@dataclass(frozen=True, eq=False)
class TextEncoder(_Owned):
    """CLIP: tokenizer(s) and text encoder(s); SDXL has two of each. ``skip`` is CLIP-skip (0 = off)."""

    family: str
    tokenizers: tuple[Any, ...]
    encoders: tuple[Any, ...]
    source: str = ""
    skip: int = 0
    # Applied to the text encoders around each encoding (LoRA); see ``studio.diffusion.model_patches``.
    patches: tuple[Any, ...] = ()


@dataclass(frozen=True, eq=False)
class VAEModel(_Owned):
    family: str
    vae: Any  # diffusers.AutoencoderKL
    source: str = ""


@dataclass(frozen=True, eq=False)
class ControlNet(_Owned):
    family: str
    model: Any  # diffusers.ControlNetModel
    source: str = ""


@dataclass(frozen=True, eq=False)
class T2IAdapterModel(_Owned):
    """A T2I-Adapter, carried on CONTROL_NET wires: ``model`` is diffusers' ``T2IAdapter``. Its hint is
    reduced to ``in_channels`` (1: grayscale, for sketch/canny adapters) and the output size must be a
    multiple of ``multiple`` pixels (its pixel-unshuffle factor: 8 for SD 1.5, 16 for SDXL)."""

    family: str
    model: Any
    source: str = ""
    in_channels: int = 3
    multiple: int = 8


@dataclass(frozen=True, eq=False)
class ControlSpec:
    """One ControlNet (or T2I-Adapter) applied to a conditioning: hint is an IMAGE array (B, H, W, 3) in
    [0, 1]; start and end are fractions of the sampling steps (as diffusers' control_guidance_start/end)."""

    controlnet: ControlNet | T2IAdapterModel
    hint: Any
    strength: float = 1.0
    start: float = 0.0
    end: float = 1.0


@dataclass(frozen=True)
class Area:
    """A rectangle of the output: x, y, width, height in image pixels, or in fractions (0–1) of the
    output's size when ``relative`` (ComfyUI's ConditioningSetAreaPercentage)."""

    x: float
    y: float
    width: float
    height: float
    relative: bool = False

    def pixels(self, height: int, width: int) -> tuple[int, int, int, int]:
        """(x, y, width, height) in image pixels for an output of ``height``×``width``."""
        if not self.relative:
            return int(self.x), int(self.y), int(self.width), int(self.height)
        return (round(self.x * width), round(self.y * height), round(self.width * width),
                round(self.height * height))


@dataclass(frozen=True, eq=False)
class Conditioning:
    """CONDITIONING: prompt embeddings (1, 77·k, D), SDXL's pooled embedding and size/crop
    conditioning, and the ControlNets attached to it.

    ``concat`` (optional) is what a UNet with extra input channels gets concatenated after the latent
    channels: for inpainting UNets a torch tensor (B or 1, 5, h, w) in latent space = cat([mask at
    latent size, masked-image latents]), as diffusers' inpainting pipelines build it (Paint-by-Example's
    UNet takes cat([masked-image latents, mask]) instead, as its pipeline does). See
    ``studio.diffusion.denoiser.ConcatChannels``.

    **Regions.** A conditioning is one *entry* or several (``combined``: the other entries of a
    Conditioning Combine, each itself without ``combined``); ``entries()`` lists them all. An entry may
    be limited to an ``area`` and/or a ``mask`` (floats in [0, 1], (H, W) or (1, H, W) at any size:
    resized to the latent) and weighted by ``strength`` (``mask_strength`` scales the mask); with
    ``set_area_to_bounds`` the entry is evaluated on the mask's bounding box only. The sampler
    evaluates every entry on its region and averages the predictions with these weights (ComfyUI's
    semantics for area and mask conditioning): see ``studio.diffusion.regional``. ``gligen`` holds
    GLIGEN grounding (phrase + box) for this entry (``studio.diffusion.gligen``).
    """

    family: str
    embeds: Any
    pooled: Any = None
    controls: tuple[ControlSpec, ...] = ()
    extras: Mapping[str, Any] = field(default_factory=dict)
    concat: Any = None
    area: Area | None = None
    mask: Any = None
    mask_strength: float = 1.0
    set_area_to_bounds: bool = False
    strength: float = 1.0
    gligen: tuple[Any, ...] = ()
    combined: tuple[Conditioning, ...] = ()

    def entries(self) -> tuple[Conditioning, ...]:
        """Every entry, this one first, each without ``combined``."""
        if not self.combined:
            return (self,)
        return (replace(self, combined=()), *self.combined)

    @property
    def regional(self) -> bool:
        """True when sampling needs the regional evaluation: several entries, or an area or a mask."""
        return any(e.area is not None or e.mask is not None for e in self.entries()) or bool(self.combined)

    def map_entries(self, fn: Callable[[Conditioning], Conditioning]) -> Conditioning:
        """``fn`` applied to every entry (as ComfyUI's conditioning nodes apply to each entry of a list)."""
        return combine(*(fn(e) for e in self.entries()))

    def with_control(self, spec: ControlSpec) -> Conditioning:
        return self.map_entries(lambda e: replace(e, controls=(*e.controls, spec)))

    def __cache_size__(self) -> int:
        size = 0
        for entry in self.entries():
            for t in (entry.embeds, entry.pooled, entry.concat, entry.mask):
                if t is not None and hasattr(t, "element_size"):
                    size += t.numel() * t.element_size()
                elif t is not None:
                    size += int(getattr(t, "nbytes", 0))
            size += sum(int(getattr(c.hint, "nbytes", 0)) for c in entry.controls)
        return size


def combine(*conds: Conditioning) -> Conditioning:
    """One conditioning with every entry of ``conds``, in order (Conditioning Combine)."""
    entries = [e for c in conds for e in c.entries()]
    if not entries:
        raise ValueError("nothing to combine")
    first, rest = entries[0], entries[1:]
    return replace(first, combined=tuple(rest)) if rest else first


@dataclass(frozen=True, eq=False)
class KeptArea:
    """How a sampler held the area outside a noise mask: the clean latent and the noise it was noised
    with (both (B, 4, h, w)); the kept area at noise level t is the scheduler's ``add_noise(clean, noise, t)``."""

    clean: Any
    noise: Any


@dataclass(frozen=True, eq=False)
class Latent:
    """LATENT: samples (B, 4, H/8, W/8) in the VAE's scaled latent space (as the UNet sees it).

    ``noise_mask`` (optional) limits sampling to part of the image: floats in [0, 1], 1 = repaint,
    0 = keep the latent as it is, values between blend. A torch tensor or numpy array of shape (H, W),
    (B, H, W) or (B, 1, H, W) at any size, pixel size (a MASK) or latent size: the sampler resizes it to
    the latent's (h, w) with ``torch.nn.functional.interpolate`` (nearest), as diffusers' inpainting
    pipeline does. A batch of one applies to every latent; a shorter batch repeats over them.

    ``kept`` is set only on a latent that a sampler returned with leftover noise while a noise mask was
    on, so that a sampler continuing it without adding noise holds the kept area exactly as one
    uninterrupted run would.
    """

    family: str
    samples: Any
    noise_mask: Any = None
    kept: KeptArea | None = None

    def __cache_size__(self) -> int:
        size = self.samples.numel() * self.samples.element_size()
        if self.kept is not None:
            size *= 3
        return size + int(getattr(self.noise_mask, "nbytes", 0))
