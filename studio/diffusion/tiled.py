"""Tiled denoising: a wrapper on the denoiser that evaluates the model tile by tile.

At every model evaluation the (scheduler-scaled) latent is cut into tiles (``tiled_layout``: the
multidiffusion, mixture and fstd modes); each batch of up to ``tile_batch`` tiles goes through the
ordinary ``Denoiser`` machinery in one UNet call, on the cropped latent with everything spatial cropped
to the tile as well: ControlNet hints (prepared at the output size, cropped in image pixels), the
``concat`` channels of inpainting UNets and T2I-Adapter features (cropped at their own scale). The
tile outputs are blended with their normalised weights into one model output for the whole latent,
and the scheduler steps once on the whole latent, so multistep and second-order samplers stay exact
and step hooks (inpaint noise-mask blending, previews) still see the whole latent.

SDXL's micro-conditioning: the original and target sizes stay the whole output's (or what the
conditioning says), and each tile's crop top-left is the conditioning's plus the tile's position in
image pixels: a tile is the crop of the large image at that place, which is what it is told (as
MultiDiffusion implementations for SDXL do).

One tile covering the whole latent gives exactly the untiled output, in every mode.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from studio.core.context import NodeFailure

from .denoiser import ConcatChannels, ControlJob, ControlNetResiduals, Denoiser, Step, UNetInputs
from .tiled_layout import MODES, Box, Layout, boxes_for, fstd_offsets, make_layout
from .vae import SCALE

# The size a family's tiles default to (its training resolution), image pixels.
TRAINED_SIZE = {"sd15": 512, "sd2": 768, "sdxl": 1024, "sdxl_refiner": 1024}


@dataclass(frozen=True)
class TileSpec:
    """How to tile: ``mode`` (fstd, mixture, multidiffusion), tile size and overlap in image pixels
    (multiples of 8; a size of 0 is the family's trained size; fstd ignores the overlap) and how many
    tiles one UNet call evaluates."""

    mode: str = "fstd"
    tile_width: int = 0
    tile_height: int = 0
    overlap: int = 128
    tile_batch: int = 1

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise NodeFailure(f"unknown tiling mode {self.mode!r}; expected one of {', '.join(MODES)}")

    def tile_size(self, family: str) -> tuple[int, int]:
        """(height, width) of a tile in latent pixels."""
        default = TRAINED_SIZE.get(family, 512)
        return (max(1, (self.tile_height or default) // SCALE), max(1, (self.tile_width or default) // SCALE))


@dataclass
class TiledDenoiser:
    """``denoiser(latents, t, step_index, total)`` as ``Denoiser``, evaluated tile by tile (see the
    module docstring). ``tiles_evaluated`` and ``unet_calls`` count the work done so far."""

    base: Denoiser
    spec: TileSpec
    batch: int
    size: tuple[int, int]  # latent (height, width)
    tile: tuple[int, int]  # latent (height, width) of a tile
    seed: int
    align: int = 1
    tiles_evaluated: int = 0
    unet_calls: int = 0
    _previous: Any = None
    _fixed: Layout | None = field(default=None, repr=False)

    def layout(self, index: int) -> Layout:
        """The tiles at evaluation ``index`` (fstd moves them each time; the others never do)."""
        spec = self.spec
        if spec.mode != "fstd":
            if self._fixed is None:
                boxes = boxes_for(spec.mode, self.size, self.tile, spec.overlap // SCALE)
                self._fixed = make_layout(spec.mode, boxes, *self.size, self.base.inputs.encoder_hidden_states.device)
            return self._fixed
        first = self._previous is None
        offset = (0, 0) if first else fstd_offsets(self.seed, index, self.tile, self.size, self.align)
        boxes = boxes_for("fstd", self.size, self.tile, 0, offset=offset, has_previous=not first)
        return make_layout("fstd", boxes, *self.size, self.base.inputs.encoder_hidden_states.device)

    def __call__(self, latents: Any, t: Any, step_index: int, total: int) -> Any:
        import torch

        layout = self.layout(step_index)
        acc: Any = None
        boxes, weights = layout.boxes, layout.weights
        for start in range(0, len(boxes), max(1, self.spec.tile_batch)):
            group = boxes[start:start + max(1, self.spec.tile_batch)]
            out = self._evaluate(latents, t, step_index, total, group)
            if acc is None:
                acc = torch.zeros((latents.shape[0], out.shape[1], *latents.shape[2:]), dtype=torch.float32,
                                  device=out.device)
            b = self.batch
            for j, (y, x, h, w) in enumerate(group):
                acc[:, :, y:y + h, x:x + w] += weights[start + j] * out[j * b:(j + 1) * b].float()
        result = acc.to(latents.dtype)
        if layout.covered is not None and self._previous is not None:
            result = torch.where(layout.covered, result, self._previous)
        self._previous = result
        return result

    def _evaluate(self, latents: Any, t: Any, step_index: int, total: int, boxes: tuple[Box, ...]) -> Any:
        """The model output of a batch of tiles, rows tile-major: tile j is rows [j·B, (j+1)·B)."""
        base, rows = self.base, TileRows(self.batch, 2 if self.base.guided else 1, boxes)
        crops = rows.crop(latents, halves=1)
        denoiser = Denoiser(
            base.unet, base.inputs, base.cfg, base.guided,
            conditioning_patches=[TilePatch(list(base.conditioning_patches), rows)],
            residual_providers=[crop_residuals(p, rows) for p in base.residual_providers],
            input_extensions=[crop_extension(e, rows) for e in base.input_extensions],
            intrablock_providers=[crop_intrablock(p, rows, self.size) for p in base.intrablock_providers],
            cfg_function=base.cfg_function, post_cfg=list(base.post_cfg),
        )
        self.unet_calls += 1
        self.tiles_evaluated += len(boxes)
        return denoiser(crops, t, step_index, total)


@dataclass(frozen=True)
class TileRows:
    """How a batch of k tiles is laid out in the model batch: for each CFG half (``halves`` of them),
    for each tile, the B rows of the latent batch — base row ``h·B + b`` becomes ``h·k·B + j·B + b``."""

    batch: int
    halves: int
    boxes: tuple[Box, ...]

    @property
    def index(self) -> list[int]:
        b, k = self.batch, len(self.boxes)
        return [h * b + i for h in range(self.halves) for _ in range(k) for i in range(b)]

    def expand(self, x: Any) -> Any:
        """Rows of the base model batch → rows of the tile batch (no spatial crop)."""
        return x[self.index]

    def crop(self, x: Any, *, halves: int, scale: float = 1.0) -> Any:
        """``x`` with ``halves`` blocks of B rows, each block repeated per tile and cropped to it;
        ``scale`` is x's pixels per latent pixel (8 for hints, 1/2ⁿ for deeper features)."""
        import torch

        b, parts = self.batch, []
        for h in range(halves):
            block = x[h * b:(h + 1) * b]
            for box in self.boxes:
                y, x0, hh, ww = (_scaled(v, scale) for v in box)
                parts.append(block[..., y:y + hh, x0:x0 + ww])
        return torch.cat(parts)


def _scaled(v: int, scale: float) -> int:
    s = v * scale
    if abs(s - round(s)) > 1e-6:
        raise NodeFailure("a T2I-Adapter with tiled sampling needs tile sizes, positions and the image size in "
                          f"multiples of {round(SCALE / scale)} latent pixels ({round(SCALE * SCALE / scale)} px): "
                          "choose such tile sizes and overlap, or sample without tiles")
    return round(s)


@dataclass
class TilePatch:
    """The conditioning patch of a tile batch: the run's own patches on the base batch, then every
    per-row tensor repeated per tile, and SDXL's crop coordinates moved to each tile's position."""

    patches: list[Any]
    rows: TileRows

    def __call__(self, inputs: UNetInputs, step: Step) -> UNetInputs:
        for patch in self.patches:
            inputs = patch(inputs, step)
        n = inputs.encoder_hidden_states.shape[0]
        added = None
        if inputs.added_cond_kwargs is not None:
            added = {k: _expand_any(v, n, self.rows) for k, v in inputs.added_cond_kwargs.items()}
            if "time_ids" in added:
                added["time_ids"] = self._shift_crops(added["time_ids"])
        return UNetInputs(self.rows.expand(inputs.encoder_hidden_states), added,
                          _expand_any(inputs.timestep_cond, n, self.rows),
                          _expand_any(inputs.cross_attention_kwargs, n, self.rows))

    def _shift_crops(self, time_ids: Any) -> Any:
        import torch

        rows = self.rows
        shift = torch.zeros_like(time_ids)
        per_tile = [(y * SCALE, x * SCALE) for y, x, _, _ in rows.boxes]
        for r in range(time_ids.shape[0]):
            j = (r // rows.batch) % len(rows.boxes)
            shift[r, 2], shift[r, 3] = per_tile[j]
        return time_ids + shift


def _expand_any(value: Any, rows: int, tile_rows: TileRows) -> Any:
    """Per-row tensors (first dimension = the model batch) anywhere in ``value``, repeated per tile."""
    if value is None:
        return None
    if hasattr(value, "shape") and value.ndim > 0 and value.shape[0] == rows:
        return tile_rows.expand(value)
    if isinstance(value, dict):
        return {k: _expand_any(v, rows, tile_rows) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_expand_any(v, rows, tile_rows) for v in value)
    return value


def crop_residuals(provider: Any, rows: TileRows) -> Any:
    """A residual provider for a tile batch: ControlNet hints cropped to each tile."""
    if isinstance(provider, ControlNetResiduals):
        k, b = len(rows.boxes), rows.batch
        jobs = [ControlJob(job.spec, slice(job.rows.start * k, job.rows.stop * k),
                           rows.crop(job.hint, halves=job.hint.shape[0] // b, scale=SCALE))
                for job in provider.jobs]
        return ControlNetResiduals(jobs)
    return _custom(provider, rows, "residual provider")


def crop_extension(ext: Any, rows: TileRows) -> Any:
    """An input extension for a tile batch: the inpainting ``concat`` cropped to each tile."""
    if isinstance(ext, ConcatChannels):
        return ConcatChannels(rows.crop(ext.rows, halves=rows.halves))
    return _custom(ext, rows, "input extension")


def crop_intrablock(provider: Any, rows: TileRows, size: tuple[int, int]) -> Any:
    """An intrablock provider for a tile batch: T2I-Adapter features cropped at their own scale."""
    from .t2i_adapter import AdapterJob, T2IAdapterResiduals

    if isinstance(provider, T2IAdapterResiduals):
        jobs = [AdapterJob([rows.crop(f, halves=rows.halves, scale=f.shape[-1] / size[1]) for f in job.features],
                           job.start, job.end) for job in provider.jobs]
        return T2IAdapterResiduals(jobs)
    return _custom(provider, rows, "intrablock provider")


def _custom(part: Any, rows: TileRows, what: str) -> Any:
    """Another extension works tiled when it offers ``for_tiles(rows)``."""
    make = getattr(part, "for_tiles", None)
    if make is None:
        raise NodeFailure(f"tiled sampling cannot crop this {what} ({type(part).__name__}); sample without tiles")
    return make(rows)


def feature_alignment(base: Denoiser, size: tuple[int, int]) -> int:
    """The step, in latent pixels, that tile positions must keep so that T2I-Adapter features (at
    1/2ⁿ of the latent) crop exactly: the largest such 2ⁿ; 1 without adapters."""
    from .t2i_adapter import T2IAdapterResiduals

    align = 1
    for p in base.intrablock_providers:
        if isinstance(p, T2IAdapterResiduals):
            for job in p.jobs:
                for f in job.features:
                    align = max(align, round(size[1] / f.shape[-1]))
    return align


def tile_denoiser(base: Any, spec: Any, *, family: str, batch: int, height: int, width: int,
                  seed: int) -> TiledDenoiser:
    """Wrap the run's denoiser (built for the whole latent of ``height``×``width`` latent pixels) to
    evaluate it tile by tile as ``spec`` says; ``seed`` seeds fstd's offsets."""
    if not isinstance(base, Denoiser):
        raise NodeFailure("tiled sampling needs the run's own denoiser")
    if not isinstance(spec, TileSpec):
        raise NodeFailure(f"the model's tiling settings are not understood ({type(spec).__name__})")
    th, tw = spec.tile_size(family)
    align = feature_alignment(base, (height, width))
    return TiledDenoiser(base, spec, batch, (height, width), (min(th, height), min(tw, width)), int(seed), align)
