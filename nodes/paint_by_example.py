"""Paint by Example: repaint a masked area of an image with the content of an example image."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from studio.core.context import NodeContext, NodeFailure
from studio.core.imaging import check_image, check_mask, match_batches, resize_mask
from studio.core.nodetype import Choice, File, Float, Int, Out, Seed, SeedControl, Wire, node
from studio.core.services import RunServices
from studio.diffusion.errors import ModelError
from studio.diffusion.model_folders import name_problem, resolve
from studio.diffusion.paint_by_example import COMPONENTS, check_folder
from studio.diffusion.schedulers import SAMPLERS, SCHEDULERS

CELL = 8  # pixels per latent cell


def _check(params: Mapping[str, Any], services: RunServices) -> list[tuple[str | None, str]]:
    # A name that leaves the model folders, or what is there but is no Paint-by-Example folder, is a
    # problem before anything runs (a missing one is left to the run's pre-flight, studio.app.preflight).
    roots, name = list(services.model_roots), str(params.get("model") or "")
    problem = name_problem(roots, "checkpoints", name)
    if problem or not name:
        return [("model", problem)] if problem else []
    try:
        path = resolve(roots, "checkpoints", name)
    except (ModelError, OSError):
        return []
    try:
        check_folder(path)
    except ModelError as exc:
        return [("model", str(exc))]
    return []


def _fingerprint(params: Mapping[str, Any], services: RunServices) -> Any:
    """Run again when the folder's files change, not only its name: the configs and weights of
    each component (a few stats)."""
    folder = resolve(list(services.model_roots), "checkpoints", params.get("model") or "")
    stats: list[Any] = [str(folder)]
    for sub in ("", *COMPONENTS):
        d = folder / sub if sub else folder
        try:
            files = sorted(p for p in d.iterdir() if p.is_file()) if d.is_dir() else []
        except OSError:
            continue
        stats += [[str(Path(sub) / p.name), p.stat().st_size, p.stat().st_mtime_ns] for p in files]
    return stats


def _inputs(ctx: NodeContext, image: Any, mask: Any, example: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Image, mask and example as batches of one size; the mask stretched to the image and both
    centre-cropped to multiples of 8 (with a warning)."""
    try:
        img, m, ex = check_image(image), check_mask(mask), check_image(example, "example")
        h, w = img.shape[1:3]
        if m.shape[1:] != (h, w):
            ctx.warn(f"the mask ({m.shape[2]}×{m.shape[1]}) is stretched to the image's {w}×{h}")
            m = resize_mask(m, h, w)
        img, m, ex = match_batches(img, m, ex)
    except (TypeError, ValueError) as exc:
        raise NodeFailure(str(exc)) from None
    if h < CELL or w < CELL:
        raise NodeFailure(f"the image ({w}×{h}) is smaller than {CELL} pixels")
    if h % CELL or w % CELL:
        nh, nw = h - h % CELL, w - w % CELL
        ctx.warn(f"{w}×{h} is not a multiple of 8; the image is centre-cropped to {nw}×{nh}")
        top, left = (h - nh) // 2, (w - nw) // 2
        img, m = img[:, top:top + nh, left:left + nw], m[:, top:top + nh, left:left + nw]
    return img, m, ex


@node(
    "edit.paint_by_example", title="Paint by Example", category="Inpaint",
    inputs=[
        File("model", file_kind="checkpoints",
             tooltip="a Paint-by-Example diffusers folder (model_index.json naming PaintByExamplePipeline)"),
        Wire("image", "IMAGE"),
        Wire("mask", "MASK", tooltip="1 (white) where the example is painted in"),
        Wire("example", "IMAGE", tooltip="what to paint into the masked area"),
        Seed("seed", 0),
        SeedControl("seed"),
        Int("steps", 50, min=1, max=1000),
        Float("cfg", 5.0, min=0.0, max=30.0, step=0.1, tooltip="guidance by the example; 1 = off"),
        Choice("sampler", SAMPLERS, "ddim"),
        Choice("scheduler", SCHEDULERS, "normal", tooltip="noise spacing; karras where the sampler supports it"),
    ],
    outputs=[Out("image", "IMAGE")],
    summary=["seed", "steps", "cfg", "sampler"],
    fingerprint=_fingerprint,
    check=_check,
    aliases=("PaintByExample", "exemplar inpainting", "reference inpaint"),
)
def paint_by_example(ctx: NodeContext, model: str, image: Any, mask: Any, example: Any, seed: int, steps: int,
                     cfg: float, sampler: str, scheduler: str, seed_control: str = "fixed") -> np.ndarray:
    """Repaint the masked area (mask above 0.5) of the image with the content of the example image,
    blended into its surroundings, with a Paint-by-Example model. Gives the decoded image, as the
    diffusers pipeline does: the whole image passes through the model, so the area outside the mask
    may change slightly. Sides that are not multiples of 8 are centre-cropped."""
    from studio.diffusion import paint_by_example as pbe
    from studio.diffusion.previews import preview

    img, m, ex = _inputs(ctx, image, mask, example)
    ctx.check_cancel()
    loaded = pbe.load(ctx.models, model, progress=ctx.progress)
    show = ctx.settings.preview != "none"
    taesd = ctx.preview_decoder(loaded.family) if show else None

    def on_step(step: int, total: int, x0: Any) -> None:
        ctx.progress(step / total, f"step {step}/{total}")
        if show:
            ctx.preview(preview(x0, loaded.family, taesd), step)

    return pbe.paint(loaded, img, m, ex, seed=seed, steps=steps, cfg=cfg, sampler=sampler, scheduler=scheduler,
                     on_step=on_step, check_cancel=ctx.check_cancel)
