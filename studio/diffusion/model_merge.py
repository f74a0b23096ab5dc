"""Merging two UNets of one family: ``ratio · model1 + (1 − ratio) · model2``, weight by weight.

``MergePatch`` is a ``ModelPatch`` (``studio.diffusion.model_patches``) carried by model1's MODEL value:
while a run uses it, each parameter of model1's shared UNet is replaced in place by the blend with the
same parameter of model2's UNet (computed in float32, rounded once to the weight's dtype), and on exit
the saved originals are copied back, so the cached base weights are bit-identical afterwards (as for
LoRA in ``studio.diffusion.lora``). Patches model2 carries (a LoRA) are applied to it while it is read.

Block ratios (ModelMergeBlocks) are by the original (LDM) layout's prefixes, read off diffusers names:
``input`` = input_blocks (conv_in, down_blocks), ``middle`` = middle_block (mid_block), ``out`` =
output_blocks and out (up_blocks, conv_norm_out, conv_out); everything else (the time and class
embeddings) takes the ``input`` ratio, as ComfyUI's first argument is its default.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import Any

from studio.core.context import NodeFailure

from .model_patches import applied

_BLOCKS = (("input", ("conv_in.", "down_blocks.")), ("middle", ("mid_block.",)),
           ("out", ("up_blocks.", "conv_norm_out.", "conv_out.")))


def block_of(name: str) -> str:
    """The ModelMergeBlocks group (input, middle or out) of a diffusers UNet parameter name."""
    for block, prefixes in _BLOCKS:
        if name.startswith(prefixes):
            return block
    return "input"


@dataclass(frozen=True, eq=False)
class MergePatch:
    """Blend the UNet it is applied to with ``other`` (model2's UNet): ``ratios`` by block (input, middle,
    out), each the share of the patched model's own weights."""

    other: Any  # diffusers.UNet2DConditionModel
    ratios: Mapping[str, float]
    other_patches: tuple[Any, ...] = ()
    label: str = ""
    recipe: Mapping[str, Any] = field(default_factory=dict)  # for a saved checkpoint's metadata

    @property
    def key(self) -> str:
        r = ",".join(f"{k}={v:g}" for k, v in sorted(self.ratios.items()))
        return f"merge:{self.label}@{r}"

    def ratio(self, name: str) -> float:
        return float(self.ratios.get(block_of(name), self.ratios.get("input", 1.0)))

    @contextmanager
    def applied(self, module: Any) -> Iterator[None]:
        import torch

        from .conversion_cache import wait_for_writes

        wait_for_writes()  # a first load's cache entries are these very tensors: written before they change
        backups: list[tuple[Any, Any]] = []
        try:
            with torch.no_grad(), self._other_weights(module) as theirs:
                for name, w in module.named_parameters():
                    r = self.ratio(name)
                    if r == 1.0:
                        continue
                    o = theirs.get(name)
                    if o is None or o.shape != w.shape:
                        raise NodeFailure(f"cannot merge: model 2 has no weight {name} of shape {tuple(w.shape)} "
                                          "(the two models are not the same architecture)")
                    backups.append((w, w.detach().clone()))
                    blend = w.float().mul_(r).add_(o.to(w.device, torch.float32), alpha=1.0 - r)
                    w.copy_(blend)
            yield
        finally:
            with torch.no_grad():
                for w, saved in reversed(backups):
                    w.copy_(saved)

    @contextmanager
    def _other_weights(self, module: Any) -> Iterator[dict[str, Any]]:
        if self.other is module:
            # Merging a model with (a patched version of) itself: read model2's weights before ours change.
            with applied(self.other, self.other_patches):
                snapshot = {n: p.detach().clone() for n, p in self.other.named_parameters()}
            yield snapshot
            return
        with applied(self.other, self.other_patches):
            yield dict(self.other.named_parameters())


def merge(model1: Any, model2: Any, ratios: Mapping[str, float], recipe: Mapping[str, Any] | None = None) -> Any:
    """model1's MODEL value carrying a ``MergePatch`` with model2; refuses two families."""
    if model1.family != model2.family:
        raise NodeFailure(f"cannot merge a {model1.family} model ({_name(model1)}) with a {model2.family} model "
                          f"({_name(model2)}): both must be of one family")
    patch = MergePatch(model2.unet, dict(ratios), tuple(model2.patches), _name(model2),
                       dict(recipe or {"model2": model2.source, **ratios}))
    return replace(model1, patches=(*model1.patches, patch))


def _name(model: Any) -> str:
    src = str(getattr(model, "source", "") or "")
    return src.replace("\\", "/").rsplit("/", 1)[-1] or "unnamed"
