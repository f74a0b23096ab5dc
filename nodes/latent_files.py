"""Saving and loading latents as ``.latent`` files (safetensors, as ComfyUI writes them), so that a
latent can be resumed later or handed between tools.

The file holds the VAE's raw latent (not scaled for the UNet) under ``latent_tensor``, and an empty
``latent_format_version_0`` tensor that marks this convention; files without the marker hold SD 1.x
UNet-space latents (raw × 0.18215)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from studio.core.atomic import atomic_write_bytes
from studio.core.context import NodeContext, NodeFailure
from studio.core.nodetype import Choice, File, Out, String, Wire, node

from .image import _next_number, _safe_prefix, _save_folder, _save_problems
from .latent_ops import _latent

SUFFIX = ".latent"
VERSION_KEY = "latent_format_version_0"
TENSOR_KEY = "latent_tensor"
OLD_SCALE = 0.18215  # what files without the version key were scaled by
# The UNet-space scale of each latent space (SD 1.x/2.x and SDXL VAEs have no shift).
SCALES = {"sd15": 0.18215, "sd2": 0.18215, "sdxl": 0.13025, "sdxl_refiner": 0.13025}
SPACES = ("sd", "sdxl")
SPACE_FAMILY = {"sd": "sd15", "sdxl": "sdxl"}
MAX_LATENT_BYTES = 1 << 30


def _scale(ctx: NodeContext, family: str) -> float:
    if family not in SCALES:
        ctx.warn("the latent's model family is open; it is saved as an SD 1.x/2.x latent")
        return SCALES["sd15"]
    return SCALES[family]


@node(
    "latent.save", title="Save Latent", category="Latent", side_effect=True,
    inputs=[Wire("samples", "LATENT", label="latent"),
            String("folder", "latents", tooltip="empty: the output folder from Preferences; otherwise a subfolder of it"),
            String("prefix", "latent-studio", label="file name prefix")],
    outputs=[],
    summary=["prefix"],
    check=lambda params, services: _save_problems(params, services.output_dir),
    aliases=("SaveLatent",),
)
def save_latent(ctx: NodeContext, samples: Any, folder: str, prefix: str) -> None:
    """Write the latent as a numbered .latent file (never overwriting) that ComfyUI's Load Latent reads
    too; the noise mask is not saved."""
    import torch
    from safetensors.torch import save

    latent = _latent(samples, "samples")
    raw = (latent.samples.float() / _scale(ctx, latent.family)).contiguous().cpu()
    data = save({TENSOR_KEY: raw, VERSION_KEY: torch.tensor([])})
    target = _save_folder(ctx.output_dir, folder)
    prefix = _safe_prefix(prefix)
    try:
        target.mkdir(parents=True, exist_ok=True)
        n = _next_number(target, prefix, "_" + SUFFIX)
    except OSError as exc:
        raise NodeFailure(f"cannot create output folder {target}: {exc.strerror or exc}") from None
    while True:
        path = target / f"{prefix}_{n:05d}_{SUFFIX}"
        try:
            atomic_write_bytes(path, data, exclusive=True)
        except FileExistsError:
            n += 1
            continue
        except OSError as exc:
            raise NodeFailure(f"cannot write into {target}: {exc.strerror or exc}") from None
        break
    ctx.add_output_file(path)


def read_latent(path: Path) -> tuple[Any, bool]:
    """(the stored tensor as float32, whether the file carries the version marker)."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    if path.stat().st_size > MAX_LATENT_BYTES:
        raise NodeFailure(f"{path.name} is larger than a latent can be")
    try:
        tensors = load_file(str(path), device="cpu")
    except (SafetensorError, OSError, ValueError) as exc:
        raise NodeFailure(f"{path.name} is not a readable latent file: {exc}") from None
    t = tensors.get(TENSOR_KEY)
    if t is None or t.dim() != 4:
        raise NodeFailure(f"{path.name} holds no latent (a 4-dimensional {TENSOR_KEY!r})")
    return t.float(), VERSION_KEY in tensors


def _fingerprint(params: Mapping[str, Any], services: Any) -> Any:
    from studio.core.context import resolve_file

    path = resolve_file(params.get("latent", ""), services.search_dirs, "latent")
    st = path.stat()
    return [str(path), st.st_size, st.st_mtime_ns, params.get("space")]


@node(
    "latent.load", title="Load Latent", category="Latent",
    inputs=[File("latent", "", file_kind="latent",
                 tooltip="a .latent file; relative names are looked up next to the workflow, then in the input folder"),
            Choice("space", SPACES, "sd", label="model",
                   tooltip="the model family the latent was made with: SD 1.x/2.x or SDXL")],
    outputs=[Out("latent", "LATENT")],
    fingerprint=_fingerprint,
    aliases=("LoadLatent",),
)
def load_latent(ctx: NodeContext, latent: str, space: str) -> Any:
    """Read a .latent file saved here or by ComfyUI. The file does not say which model made it: choose
    SDXL for SDXL latents (their scale differs)."""
    from studio.diffusion.values import Latent

    if space not in SPACES:
        raise NodeFailure(f"unknown model {space!r}")
    family = SPACE_FAMILY[space]
    raw, versioned = read_latent(ctx.resolve_file(latent, "latent"))
    if not versioned:
        raw = raw / OLD_SCALE
    return Latent(family=family, samples=raw * SCALES[family])
