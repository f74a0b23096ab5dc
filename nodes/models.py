"""Model loaders: checkpoints (UNet + CLIP + VAE), standalone VAEs and ControlNets.

Ports are typed with the model family read from the file header (no torch), so a wrong
connection is refused before anything loads. Loading goes through the run's model manager.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any

from studio.core.context import NodeContext
from studio.core.nodetype import File, Out, node
from studio.core.services import RunServices
from studio.diffusion.errors import ModelError
from studio.diffusion.families import PICKLE_SUFFIXES, family_of, inspect
from studio.diffusion.model_folders import name_problem, resolve
from studio.diffusion.values import ControlNet, T2IAdapterModel, TextEncoder, UNetModel, VAEModel


def _family(param: str, folder: str, kind: str) -> Callable[[Mapping[str, Any], RunServices], str | None]:
    def family(params: Mapping[str, Any], services: RunServices) -> str | None:
        name = params.get(param) or ""
        return family_of(resolve(list(services.model_roots), folder, name), kind) if name else None

    return family


def _fingerprint(param: str, folder: str) -> Callable[[Mapping[str, Any], RunServices], Any]:
    # Re-load when the file changes on disk, not only when its name does.
    def fingerprint(params: Mapping[str, Any], services: RunServices) -> Any:
        path = resolve(list(services.model_roots), folder, params.get(param) or "")
        st = path.stat()
        return [str(path), st.st_size, st.st_mtime_ns]

    return fingerprint


FileCheck = Callable[[Path], None]  # raises ModelError saying why loading the file would be refused


def header_kind(kind: str) -> FileCheck:
    """What the model manager refuses before building a ``kind`` model, read from the header alone
    (a VAE chosen as a checkpoint, say); a pickle is told only once loaded (the user's opt-in to
    pickles is a setting: the run's pre-flight, studio.app.preflight, checks that)."""
    def check(path: Path) -> None:
        from studio.diffusion.model_manager import _kind_name

        if path.suffix.lower() in PICKLE_SUFFIXES:
            return
        info = inspect(path)
        if info.kind == "t2i_adapter" and kind == "controlnet":
            return  # Load ControlNet loads the T2I-Adapter a file is
        if info.kind != kind:
            raise ModelError(f"{path.name} is a {info.what}, not a {_kind_name(kind)}")

    return check


@lru_cache(maxsize=512)
def _file_problem(check: FileCheck, path: str, size: int, mtime_ns: int) -> str | None:
    try:
        check(Path(path))
    except ModelError as exc:
        return str(exc)
    except (OSError, ValueError, RecursionError) as exc:  # a hostile file must not break validation
        return f"{Path(path).name} cannot be read: {type(exc).__name__}"
    return None


def _check(param: str, folder: str, file_check: FileCheck | None = None
           ) -> Callable[[Mapping[str, Any], RunServices], list[tuple[str | None, str]]]:
    # A name that can never be a model (it leaves the model folders), or a file that is there but that
    # loading would refuse (``file_check``: a file of another kind), is a problem before running. A
    # missing file is left to the run's pre-flight (studio.app.preflight), which says where it looked.
    def check(params: Mapping[str, Any], services: RunServices) -> list[tuple[str | None, str]]:
        roots, name = list(services.model_roots), str(params.get(param) or "")
        problem = name_problem(roots, folder, name)
        if problem or not name or file_check is None:
            return [(param, problem)] if problem else []
        try:
            path = resolve(roots, folder, name)
            st = path.stat()
        except (ModelError, OSError):
            return []
        found = _file_problem(file_check, str(path), st.st_size, st.st_mtime_ns)
        return [(param, found)] if found else []

    return check


@node(
    "model.checkpoint", title="Load Checkpoint", category="Models",
    inputs=[File("checkpoint", file_kind="checkpoints",
                 tooltip="A Stable Diffusion 1.5, 2.x or SDXL .safetensors file or diffusers folder")],
    outputs=[Out("model", "MODEL[$F]"), Out("clip", "CLIP[$F]"), Out("vae", "VAE[$F]")],
    family=_family("checkpoint", "checkpoints", "checkpoint"),
    fingerprint=_fingerprint("checkpoint", "checkpoints"),
    check=_check("checkpoint", "checkpoints", header_kind("checkpoint")),
    aliases=("CheckpointLoaderSimple", "CheckpointLoader"),
)
def load_checkpoint(ctx: NodeContext, checkpoint: str) -> tuple[UNetModel, TextEncoder, VAEModel]:
    """Load a checkpoint's denoising UNet, text encoder(s) and VAE."""
    mm = ctx.models
    ctx.check_cancel()
    return mm.load_checkpoint(mm.resolve("checkpoints", checkpoint), progress=ctx.progress)


@node(
    "model.vae", title="Load VAE", category="Models",
    inputs=[File("vae", file_kind="vae", tooltip="A standalone VAE (.safetensors or diffusers folder)")],
    outputs=[Out("vae", "VAE[$F]")],
    family=_family("vae", "vae", "vae"),
    fingerprint=_fingerprint("vae", "vae"),
    check=_check("vae", "vae", header_kind("vae")),
    aliases=("VAELoader",),
)
def load_vae(ctx: NodeContext, vae: str) -> VAEModel:
    """Load a VAE to decode (and encode) images in place of a checkpoint's own."""
    mm = ctx.models
    ctx.check_cancel()
    return mm.load_vae(mm.resolve("vae", vae), progress=ctx.progress)


@node(
    "model.controlnet", title="Load ControlNet", category="Models",
    inputs=[File("controlnet", file_kind="controlnet",
                 tooltip="A ControlNet (original or diffusers layout) or a T2I-Adapter")],
    outputs=[Out("control_net", "CONTROL_NET[$F]")],
    family=_family("controlnet", "controlnet", "controlnet"),
    fingerprint=_fingerprint("controlnet", "controlnet"),
    check=_check("controlnet", "controlnet", header_kind("controlnet")),
    aliases=("ControlNetLoader",),
)
def load_controlnet(ctx: NodeContext, controlnet: str) -> ControlNet | T2IAdapterModel:
    """Load a ControlNet; its family (SD 1.5, 2.x, SDXL) decides which models it can steer. A
    T2I-Adapter file loads as the adapter, which Apply ControlNet uses the same way."""
    mm = ctx.models
    ctx.check_cancel()
    return mm.load_controlnet(mm.resolve("controlnet", controlnet), progress=ctx.progress)


@node(
    "model.t2i_adapter", title="Load T2I-Adapter", category="Models",
    inputs=[File("t2i_adapter", file_kind="controlnet",
                 tooltip="A T2I-Adapter (TencentARC original or diffusers layout) from the ControlNet folders")],
    outputs=[Out("control_net", "CONTROL_NET[$F]")],
    family=_family("t2i_adapter", "controlnet", "t2i_adapter"),
    fingerprint=_fingerprint("t2i_adapter", "controlnet"),
    check=_check("t2i_adapter", "controlnet", header_kind("t2i_adapter")),
    aliases=("T2IAdapterLoader",),
)
def load_t2i_adapter(ctx: NodeContext, t2i_adapter: str) -> T2IAdapterModel:
    """Load a T2I-Adapter: a light model that turns a hint image into features the UNet adds inside its
    down blocks. Wire it to Apply ControlNet (strength, start and end work as for a ControlNet)."""
    mm = ctx.models
    ctx.check_cancel()
    return mm.load_t2i_adapter(mm.resolve("controlnet", t2i_adapter), progress=ctx.progress)
