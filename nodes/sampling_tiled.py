"""Tiled sampling: the Tiled Sampler node, and a model patch that makes any sampler tile.

Both use one engine (``studio.diffusion.tiled``): the Tiled Diffusion node returns the MODEL with a
tiling attached, which every sampler honours; the Tiled Sampler attaches it and runs the ordinary
sampler node.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from studio.core.context import NodeContext
from studio.core.nodetype import Choice, Int, Out, Wire, node

from .sampling import sampler as _sampler

MODES = ("fstd", "mixture", "multidiffusion")
_MODE_TIP = ("fstd: Fast Seamless Tiled Diffusion, a non-overlapping grid moved at random each step (fewest "
             "model evaluations); mixture: Mixture of Diffusers, overlapping tiles with Gaussian weights; "
             "multidiffusion: overlapping tiles averaged")


def _tiling_inputs(overlap_name: str, batch_name: str) -> list[Any]:
    size_tip = "image pixels, a multiple of 8; 0: the model's trained size (512 SD 1.5, 768 SD 2, 1024 SDXL)"
    return [
        Choice("mode", MODES, "fstd", tooltip=_MODE_TIP),
        Int("tile_width", 0, min=0, max=8192, step=8, label="tile width", tooltip=size_tip),
        Int("tile_height", 0, min=0, max=8192, step=8, label="tile height", tooltip=size_tip),
        Int(overlap_name, 128, min=0, max=4096, step=8, label="overlap",
            tooltip="image pixels that neighbouring tiles share (multidiffusion and mixture; fstd ignores it)"),
        Int(batch_name, 1, min=1, max=64, label="tile batch",
            tooltip="tiles evaluated together in one model call (faster on a GPU, more memory)"),
    ]


def tile_spec(mode: str, tile_width: int, tile_height: int, overlap: int, tile_batch: int) -> Any:
    from studio.diffusion.tiled import TileSpec

    return TileSpec(mode, int(tile_width), int(tile_height), int(overlap), int(tile_batch))


@node(
    "model.tiled_diffusion", title="Tiled Diffusion", category="Sampling",
    inputs=[Wire("model", "MODEL[$F]"), *_tiling_inputs("tile_overlap", "tile_batch_size")],
    outputs=[Out("model", "MODEL[$F]")],
    summary=["mode", "tile_width", "tile_height"],
    aliases=("TiledDiffusion",),
)
def tiled_diffusion(ctx: NodeContext, model: Any, mode: str, tile_width: int, tile_height: int, tile_overlap: int,
                    tile_batch_size: int) -> Any:
    """The model, set to denoise tile by tile in every sampler it feeds: large images with the memory of
    one tile, each tile at the size the model composes well. The sampler still steps the whole latent
    once per step, so every sampler, ControlNets (their hints cropped per tile), image-to-image and
    inpainting masks work as without tiles."""
    return replace(model, tiling=tile_spec(mode, tile_width, tile_height, tile_overlap, tile_batch_size))


@node(
    "sample.tiled", title="Tiled Sampler", category="Sampling", version="1.0.0",
    inputs=[*_sampler.inputs, *_tiling_inputs("overlap", "tile_batch")],
    outputs=[Out("latent", "LATENT[$F]")],
    summary=["mode", "seed", "steps", "cfg"],
)
def tiled_sampler(ctx: NodeContext, model: Any, positive: Any, negative: Any, latent: Any, mode: str = "fstd",
                  tile_width: int = 0, tile_height: int = 0, overlap: int = 128, tile_batch: int = 1,
                  **sampler_params: Any) -> Any:
    """The Sampler, denoising tile by tile: enlarge an image (upscale it, encode it) and refine it with
    denoise below 1 at any size, or generate panoramas. fstd is the fastest (about half the model
    evaluations of multidiffusion) and shifts its tiles every step so no seam stays; mixture and
    multidiffusion blend overlapping tiles. With a Tile ControlNet fed the enlarged image, each tile
    gets its own crop of the hint."""
    tiled = replace(model, tiling=tile_spec(mode, tile_width, tile_height, overlap, tile_batch))
    return _sampler.fn(ctx, model=tiled, positive=positive, negative=negative, latent=latent, **sampler_params)
