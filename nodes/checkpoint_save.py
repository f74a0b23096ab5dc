"""Save Checkpoint: write a model, its text encoder and VAE as one .safetensors file in the output folder."""

from __future__ import annotations

from typing import Any

from nodes.image import _next_number, _safe_prefix, _save_folder, _save_problems
from studio.core.atomic import atomic_write_bytes
from studio.core.context import NodeContext, NodeFailure
from studio.core.nodetype import String, Wire, node

SUFFIX = ".safetensors"


@node(
    "model.save_checkpoint", title="Save Checkpoint", category="Models", side_effect=True,
    inputs=[Wire("model", "MODEL[$F]"), Wire("clip", "CLIP[$F]"), Wire("vae", "VAE[$F]"),
            String("folder", "checkpoints", tooltip="a subfolder of the output folder (empty: the output folder)"),
            String("prefix", "latent-studio", label="file name prefix")],
    outputs=[],
    summary=["prefix"],
    check=lambda params, services: _save_problems(params, services.output_dir),
    aliases=("CheckpointSave",),
)
def save_checkpoint(ctx: NodeContext, model: Any, clip: Any, vae: Any, folder: str, prefix: str) -> None:
    """Write PREFIX_NNNNN.safetensors (never overwriting) in the original single-file layout, with the
    model's LoRAs and merges applied, and metadata naming its family, sources and merge recipe."""
    from studio.diffusion.checkpoint_save import checkpoint_bytes

    target = _save_folder(ctx.output_dir, folder)
    prefix = _safe_prefix(prefix)
    ctx.progress(0.1, "collecting weights")
    try:
        data = checkpoint_bytes(model, clip, vae)
    except ValueError as exc:
        raise NodeFailure(str(exc)) from None
    try:
        target.mkdir(parents=True, exist_ok=True)
        n = _next_number(target, prefix, SUFFIX)
        while True:
            path = target / f"{prefix}_{n:05d}{SUFFIX}"
            try:
                atomic_write_bytes(path, data, exclusive=True)
                break
            except FileExistsError:
                n += 1
    except OSError as exc:
        raise NodeFailure(f"cannot write into {target}: {exc.strerror or exc}") from None
    ctx.add_output_file(path)
    ctx.progress(1.0, path.name)
