"""LoRA loaders: add a LoRA (or LyCORIS LoCon / LoHa / LoKr) file to a model and its text encoder.

The shared models are never changed: the nodes return MODEL / CLIP values carrying a ``LoraPatch``
that the sampler and the prompt encoder apply around their work and undo after. Chained loaders
stack. The ports are typed with the LoRA's family read from the file header, so an SDXL LoRA
cannot be wired to an SD 1.5 model.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from nodes.models import _check, _fingerprint
from studio.core.context import NodeContext, NodeFailure
from studio.core.nodetype import File, Float, Out, Wire, node
from studio.core.services import RunServices
from studio.diffusion.families import FAMILY_NAMES, text_encoder_names
from studio.diffusion.lora import LoraFile, LoraPatch, Targets, lora_targets
from studio.diffusion.lora_keys import inspect_lora, lora_family
from studio.diffusion.model_folders import resolve
from studio.diffusion.values import TextEncoder, UNetModel

TEXT_PARTS = ("text_encoder", "text_encoder_2")
LORA_TIP = "A LoRA, LoCon, LoHa or LoKr .safetensors file (kohya/A1111 or diffusers/PEFT layout)"


def _lora_file(path: Path) -> None:
    """What reading the LoRA refuses from its header alone (another kind of file, an unknown layout)."""
    inspect_lora(path)


def _lora_family(params: Mapping[str, Any], services: RunServices) -> str | None:
    name = params.get("lora") or ""
    return lora_family(resolve(list(services.model_roots), "loras", name)) if name else None


def _strength(name: str, what: str) -> Any:
    return Float(name, 1.0, min=-10.0, max=10.0, step=0.05,
                 tooltip=f"how strongly the LoRA changes the {what} (0 = not at all, negative = the opposite)")


@node(
    "model.lora", title="Load LoRA", category="Models",
    inputs=[Wire("model", "MODEL[$F]"), Wire("clip", "CLIP[$F]"), File("lora", file_kind="loras", tooltip=LORA_TIP),
            _strength("strength_model", "denoising model"), _strength("strength_clip", "text encoder")],
    outputs=[Out("model", "MODEL[$F]"), Out("clip", "CLIP[$F]")],
    family=_lora_family,
    fingerprint=_fingerprint("lora", "loras"),
    check=_check("lora", "loras", _lora_file),
    summary=["lora", "strength_model", "strength_clip"],
    aliases=("LoraLoader",),
)
def load_lora(ctx: NodeContext, model: UNetModel, clip: TextEncoder, lora: str, strength_model: float,
              strength_clip: float) -> tuple[UNetModel, TextEncoder]:
    """The model and text encoder with a LoRA applied at the given strengths."""
    if strength_model == 0 and strength_clip == 0:
        return model, clip
    file, path = _read(ctx, lora, model.family)
    roots = {"unet": model.unet, **dict(zip(text_encoder_names(clip.family), clip.encoders, strict=False))}
    targets = _targets(ctx, file, path, roots, ())
    return _with_unet(model, targets, path, strength_model), _with_text(clip, targets, path, strength_clip)


@node(
    "model.lora_model_only", title="Load LoRA (model only)", category="Models",
    inputs=[Wire("model", "MODEL[$F]"), File("lora", file_kind="loras", tooltip=LORA_TIP),
            _strength("strength_model", "denoising model")],
    outputs=[Out("model", "MODEL[$F]")],
    family=_lora_family,
    fingerprint=_fingerprint("lora", "loras"),
    check=_check("lora", "loras", _lora_file),
    summary=["lora", "strength_model"],
    aliases=("LoraLoaderModelOnly",),
)
def load_lora_model_only(ctx: NodeContext, model: UNetModel, lora: str, strength_model: float) -> UNetModel:
    """The model with a LoRA's denoising-model part applied; its text-encoder part is left out."""
    if strength_model == 0:
        return model
    file, path = _read(ctx, lora, model.family)
    targets = _targets(ctx, file, path, {"unet": model.unet}, TEXT_PARTS)
    return _with_unet(model, targets, path, strength_model)


def _read(ctx: NodeContext, name: str, family: str) -> tuple[LoraFile, Path]:
    mm = ctx.models
    ctx.check_cancel()
    path = mm.resolve("loras", name)
    file = mm.load_lora(path, progress=ctx.progress)
    if file.family and file.family != family:
        raise NodeFailure(f"{path.name} is a {FAMILY_NAMES.get(file.family, file.family)} LoRA; it does not fit a "
                          f"{FAMILY_NAMES.get(family, family)} model")
    return file, path


def _targets(ctx: NodeContext, file: LoraFile, path: Path, roots: Mapping[str, Any], ignore: tuple[str, ...]) -> Targets:
    targets = lora_targets(file, roots, ignore)
    if targets.misfits:
        raise NodeFailure(f"{path.name}: {len(targets.misfits)} of its layers do not have the size of the model's "
                          f"weights they name (e.g. {targets.misfits[0]}); it was made for another model")
    if not targets.parts:
        raise NodeFailure(f"{path.name}: none of its {len(file.layers)} layers ({file.layout} layout) names a module of "
                          f"this model, e.g. {', '.join(list(file.layers)[:3])}")
    if targets.unmatched:
        ctx.warn(f"{path.name}: {len(targets.unmatched)} of its {len(file.layers)} layers name no module of this model "
                 f"and are left out, e.g. {', '.join(targets.unmatched[:3])}")
    return targets


def _with_unet(model: UNetModel, targets: Targets, path: Path, strength: float) -> UNetModel:
    if strength == 0 or "unet" not in targets.parts:
        return model
    patch = LoraPatch(path.name, float(strength), {"unet": targets.parts["unet"]})
    return replace(model, patches=(*model.patches, patch))


def _with_text(clip: TextEncoder, targets: Targets, path: Path, strength: float) -> TextEncoder:
    layers = {p: v for p, v in targets.parts.items() if p in TEXT_PARTS}
    if strength == 0 or not layers:
        return clip
    index = {name: i for i, name in enumerate(text_encoder_names(clip.family))}
    patch = LoraPatch(path.name, float(strength), layers, index)
    return replace(clip, patches=(*clip.patches, patch))
