"""FreeU (Si et al. 2023, "FreeU: Free Lunch in Diffusion U-Net"): re-weighting the UNet's decoder.

In every decoder (up-block) ResNet the backbone features ``h`` (coming up from below) are concatenated
with the skip features of the matching encoder level. FreeU changes both just before that join:

- the first half of ``h``'s channels is multiplied by a backbone factor ``b``: by ``b`` itself
  (version 1), or (version 2) by ``1 + (b − 1)·m``, where ``m`` is the channel mean of ``h`` normalised
  per sample to [0, 1] over the image (so the boost follows where the features are strong);
- the skip features are low-pass scaled: their 2-D Fourier spectrum, centred, has its middle 2×2
  frequencies multiplied by ``s``.

Which factors apply is decided by the width of ``h``, as ComfyUI's FreeU / FreeU_V2 nodes and the
authors' code do: ``b1``/``s1`` where ``h`` has 4× the UNet's base channels (1280 for SD 1.5/SDXL),
``b2``/``s2`` where it has 2× (640); other joins are left alone. diffusers' ``enable_freeu`` picks by
up-block index instead (``b1`` on the first up block, ``b2`` on the second), which scales other joins
for SD 1.5 and SDXL, so it is not used here.

``FreeUPatch`` is a ``ModelPatch``: it hooks the up-block ResNets for one run and removes the hooks
after, so the cached UNet stays plain for every other graph.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class FreeUPatch:
    b1: float
    b2: float
    s1: float
    s2: float
    version: int = 1  # 1: FreeU, 2: FreeU_V2

    @property
    def key(self) -> str:
        return f"freeu{'_v2' if self.version == 2 else ''}(b1={self.b1}, b2={self.b2}, s1={self.s1}, s2={self.s2})"

    @contextmanager
    def applied(self, unet: Any) -> Iterator[None]:
        handles = []
        try:
            for resnet, width in up_joins(unet):
                factors = self.factors(unet, width)
                if factors is not None:
                    handles.append(resnet.register_forward_pre_hook(_JoinHook(width, *factors, self.version),
                                                                    with_kwargs=True))
            yield
        finally:
            for h in handles:
                h.remove()

    def factors(self, unet: Any, width: int) -> tuple[float, float] | None:
        base = int(unet.config.block_out_channels[0])
        return {4 * base: (self.b1, self.s1), 2 * base: (self.b2, self.s2)}.get(width)


def up_joins(unet: Any) -> list[tuple[Any, int]]:
    """Each up-block ResNet with the width of the backbone features ``h`` in the input it gets
    (``cat([h, skip])``): the previous ResNet's output, the mid block's for the very first."""
    out = []
    width = int(unet.config.block_out_channels[-1])
    for block in unet.up_blocks:
        for resnet in block.resnets:
            out.append((resnet, width))
            width = int(resnet.out_channels)
    return out


@dataclass
class _JoinHook:
    width: int
    b: float
    s: float
    version: int

    def __call__(self, module: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
        import torch

        x = args[0] if args else kwargs["input_tensor"]
        h, skip = x[:, :self.width], x[:, self.width:]
        x = torch.cat([scale_backbone(h, self.b, self.version), fourier_scale(skip, self.s)], dim=1)
        if args:
            return (x, *args[1:]), kwargs
        return args, {**kwargs, "input_tensor": x}


def scale_backbone(h: Any, b: float, version: int) -> Any:
    """``h`` with its first half of channels scaled by ``b`` (version 1) or by ``1 + (b − 1)·m`` with ``m``
    the channel mean normalised per sample to [0, 1] (version 2)."""
    import torch

    half = h.shape[1] // 2
    if version == 2:
        m = h.mean(dim=1, keepdim=True)
        lo = m.amin(dim=(2, 3), keepdim=True)
        hi = m.amax(dim=(2, 3), keepdim=True)
        factor = (b - 1.0) * (m - lo) / (hi - lo) + 1.0
    else:
        factor = torch.tensor(b, dtype=h.dtype, device=h.device)
    return torch.cat([h[:, :half] * factor, h[:, half:]], dim=1)


def fourier_scale(x: Any, s: float, radius: int = 1) -> Any:
    """``x`` with the centred 2·radius × 2·radius lowest frequencies of its 2-D spectrum scaled by ``s``
    (in float32: half-precision FFTs need power-of-two sizes)."""
    import torch

    if s == 1.0:
        return x
    spec = torch.fft.fftshift(torch.fft.fft2(x.float()), dim=(-2, -1))
    h, w = x.shape[-2:]
    cy, cx = h // 2, w // 2
    gain = torch.ones(spec.shape[-2:], device=x.device)
    gain[max(cy - radius, 0):cy + radius, max(cx - radius, 0):cx + radius] = s
    out = torch.fft.ifft2(torch.fft.ifftshift(spec * gain, dim=(-2, -1))).real
    return out.to(x.dtype)
