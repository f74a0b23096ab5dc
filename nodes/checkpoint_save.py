"""Save Checkpoint: write a model, its text encoder and VAE as one .safetensors file in the output folder."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from nodes.image import _safe_prefix, _save_folder
from studio.core.atomic import atomic_write_bytes
from studio.core.context import NodeContext, NodeFailure
from studio.core.nodetype import String, Wire, node

SUFFIX = ".safetensors"


def _save_problems(params: Any, out_root: Path | None) -> list[tuple[str | None, str]]:
    found: list[tuple[str | None, str]] = []
    for name, check in (("prefix", lambda: _safe_prefix(str(params.get("prefix") or ""))),
                        ("folder", lambda: _save_folder(out_root or Path("output"), str(params.get("folder") or "")))):
        try:
            check()
        except NodeFailure as exc:
            found.append((name, str(exc)))
    return found


def _next_free(folder: Path, prefix: str) -> int:
    start = len(prefix) + 1
    numbers = [n[start:-len(SUFFIX)] for n in os.listdir(folder) if n.startswith(prefix + "_") and n.endswith(SUFFIX)]
    return max((int(n) for n in numbers if n.isdigit()), default=0) + 1


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
        n = _next_free(target, prefix)
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
