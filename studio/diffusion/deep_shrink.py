"""Deep Shrink (kohya's "Deep Shrink" hires fix): run the deeper UNet levels on a smaller feature map
while the noise is high, so that a large image gets the composition of the size the model was trained on.

Numbering as ComfyUI's PatchModelAddDownscale node: input block 0 is the first convolution, then each
down-block ResNet (with its attention, if any) and each downsampler in order — for SD 1.5/SDXL block 3
is the first downsampler. While the step's timestep lies in the range given by ``start_percent`` and
``end_percent`` (fractions of the model's training schedule, 0 = pure noise: timestep (1 − p)·999), the
feature map after input block ``block_number`` is resized by 1/``downscale_factor``: after its skip
connection is taken (``downscale_after_skip``, the skip keeps the full size) or before. On the way up,
wherever the feature map does not have the size of the skip it is joined with, it is resized to it
(``upscale_method``); outside the range nothing is resized and the UNet's output is exactly the plain one.

``DeepShrinkPatch`` is a ``ModelPatch``: its hooks exist only during a run.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

METHODS = ("bicubic", "nearest-exact", "bilinear", "area")


def input_blocks(unet: Any) -> list[tuple[Any, Any]]:
    """ComfyUI's input blocks 1… as (first module, module whose output is the block's output)."""
    out = []
    for block in unet.down_blocks:
        attentions = getattr(block, "attentions", None)
        for j, resnet in enumerate(block.resnets):
            out.append((resnet, attentions[j] if attentions else resnet))
        for down in block.downsamplers or ():
            out.append((down, down))
    return out


@dataclass(frozen=True)
class DeepShrinkPatch:
    block_number: int
    downscale_factor: float
    start_percent: float
    end_percent: float
    downscale_after_skip: bool = True
    downscale_method: str = "bicubic"
    upscale_method: str = "bicubic"

    @property
    def key(self) -> str:
        return (f"deep_shrink(block={self.block_number}, factor={self.downscale_factor}, "
                f"{self.start_percent}–{self.end_percent})")

    def timestep_range(self) -> tuple[float, float]:
        """(highest, lowest) timestep at which the feature map is shrunk."""
        high = float("inf") if self.start_percent <= 0 else (1.0 - self.start_percent) * 999.0
        low = float("-inf") if self.end_percent >= 1 else (1.0 - self.end_percent) * 999.0
        return high, low

    @contextmanager
    def applied(self, unet: Any) -> Iterator[None]:
        blocks = input_blocks(unet)
        if not 1 <= self.block_number <= len(blocks):
            raise ValueError(f"this model has input blocks 1–{len(blocks)}; block {self.block_number} does not exist")
        state = _State(self)
        handles = [unet.register_forward_pre_hook(state.on_unet, with_kwargs=True)]
        if self.downscale_after_skip:
            nxt = blocks[self.block_number][0] if self.block_number < len(blocks) else unet.mid_block
            handles.append(nxt.register_forward_pre_hook(state.shrink_input, with_kwargs=True))
        else:
            handles.append(blocks[self.block_number - 1][1].register_forward_hook(state.shrink_output))
        for block in unet.up_blocks:
            handles.append(block.register_forward_pre_hook(state.on_up_block, with_kwargs=True))
            attentions = getattr(block, "attentions", None)
            for j in range(len(block.resnets) - 1):
                producer = attentions[j] if attentions else block.resnets[j]
                handles.append(producer.register_forward_hook(_Fit(state, block, j + 1)))
        try:
            yield
        finally:
            for h in handles:
                h.remove()


@dataclass
class _State:
    patch: DeepShrinkPatch
    active: bool = False
    skips: dict[int, Any] = field(default_factory=dict)  # id(up block) → the skips it is given

    def on_unet(self, module: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        import torch

        t = args[1] if len(args) > 1 else kwargs["timestep"]
        t = float(torch.as_tensor(t).flatten()[0])
        high, low = self.patch.timestep_range()
        self.active = low <= t <= high

    def _shrink(self, h: Any) -> Any:
        import torch.nn.functional as F

        f = self.patch.downscale_factor
        size = (max(1, round(h.shape[-2] / f)), max(1, round(h.shape[-1] / f)))
        return F.interpolate(h, size=size, mode=self.patch.downscale_method)

    def shrink_input(self, module: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        if not self.active:
            return None
        if args:
            return (self._shrink(args[0]), *args[1:]), kwargs
        return args, {**kwargs, "hidden_states": self._shrink(kwargs["hidden_states"])}

    def shrink_output(self, module: Any, args: Any, output: Any) -> Any:
        if not self.active:
            return None
        return _map_first(output, self._shrink)

    def fit(self, h: Any, skip: Any) -> Any:
        import torch.nn.functional as F

        if h.shape[-2:] == skip.shape[-2:]:
            return h
        return F.interpolate(h, size=tuple(skip.shape[-2:]), mode=self.patch.upscale_method)

    def on_up_block(self, module: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        skips: Any = kwargs["res_hidden_states_tuple"] if "res_hidden_states_tuple" in kwargs else args[1]
        self.skips[id(module)] = skips
        if args:
            return (self.fit(args[0], skips[-1]), *args[1:]), kwargs
        return args, {**kwargs, "hidden_states": self.fit(kwargs["hidden_states"], skips[-1])}


@dataclass
class _Fit:
    """After the module that feeds up-block ResNet ``j``: resize to the skip that ResNet joins."""

    state: _State
    block: Any
    j: int

    def __call__(self, module: Any, args: Any, output: Any) -> Any:
        skip = self.state.skips[id(self.block)][-1 - self.j]
        return _map_first(output, lambda h: self.state.fit(h, skip))


def _map_first(output: Any, fn: Any) -> Any:
    """``output`` with ``fn`` applied to its tensor (a module may return a tuple or an output object)."""
    if isinstance(output, tuple):
        return (fn(output[0]), *output[1:])
    if hasattr(output, "sample"):
        output.sample = fn(output.sample)
        return output
    return fn(output)
