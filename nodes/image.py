"""Loading, saving, previewing and scaling images."""

from __future__ import annotations

import io
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from studio.core.context import NodeContext, NodeFailure, resolve_file
from studio.core.imaging import check_image, thumbnail, to_uint8
from studio.core.nodetype import Bool, Choice, File, Float, Int, Out, String, Wire, node
from studio.core.parameters_text import parameters_text
from studio.core.pngmeta import embed_workflow as embed_workflow_bytes

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff")


def _image_fingerprint(params: Mapping[str, Any], services: Mapping[str, Any]) -> Any:
    # The result depends on the file's bytes, not just its name: re-run when it changes on disk.
    path = resolve_file(params.get("image", ""), services.get("search_dirs", ()), "image")
    st = path.stat()
    return [str(path), st.st_size, st.st_mtime_ns]


@node(
    "image.load", title="Load Image", category="Image",
    inputs=[File("image", "", file_kind="image", tooltip="PNG, JPEG or WebP; relative names are looked up "
                                                          "next to the workflow, then in the input folder")],
    outputs=[Out("image", "IMAGE"), Out("mask", "MASK")],
    fingerprint=_image_fingerprint,
)
def load_image(ctx: NodeContext, image: str) -> tuple[np.ndarray, np.ndarray]:
    """Load an image file, turned upright by its EXIF orientation. Transparent areas become the mask
    (1 where the image is transparent)."""
    from PIL import Image, ImageOps, UnidentifiedImageError

    path = ctx.resolve_file(image, "image")
    try:
        with Image.open(path) as im:
            im = ImageOps.exif_transpose(im)
            has_alpha = im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info)
            if im.mode in ("I;16", "I;16B", "I;16L", "I"):
                gray = np.asarray(im, dtype=np.float32) / 65535.0
                rgb = np.repeat(np.clip(gray, 0, 1)[..., None], 3, axis=-1)
                alpha = None
            else:
                rgba = np.asarray(im.convert("RGBA") if has_alpha else im.convert("RGB"))
                rgb = rgba[..., :3].astype(np.float32) / 255.0
                alpha = rgba[..., 3].astype(np.float32) / 255.0 if has_alpha else None
    except (UnidentifiedImageError, Image.DecompressionBombError, OSError, SyntaxError, ValueError) as exc:
        raise NodeFailure(f"cannot read image {path}: {exc}") from None
    mask = (1.0 - alpha) if alpha is not None else np.zeros(rgb.shape[:2], np.float32)
    return rgb[None].astype(np.float32), mask[None].astype(np.float32)


def _safe_prefix(prefix: str) -> str:
    name = prefix.strip() or "latent-studio"
    if any(c in name for c in '/\\:*?"<>|') or name in (".", ".."):
        raise NodeFailure(f"file name prefix {prefix!r} may not contain / \\ : * ? \" < > |")
    return name


def _exclusive_file(folder: Path, prefix: str) -> tuple[Path, Any]:
    """The next free ``prefix_NNNNN.png``, opened exclusively so a file is never overwritten."""
    taken = [p.name for p in folder.glob(f"{prefix}_*.png")]
    numbers = [int(n[len(prefix) + 1:-4]) for n in taken if n[len(prefix) + 1:-4].isdigit()]
    n = max(numbers, default=0) + 1
    while True:
        path = folder / f"{prefix}_{n:05d}.png"
        try:
            return path, open(path, "xb")  # noqa: SIM115 - closed by the caller
        except FileExistsError:
            n += 1


@node(
    "image.save", title="Save Image", category="Image", side_effect=True, version="1.1.0",
    inputs=[
        Wire("images", "IMAGE"),
        String("folder", "", tooltip="empty: the output folder from Preferences; relative: inside it"),
        String("prefix", "latent-studio", label="file name prefix"),
        Bool("embed_workflow", True, tooltip="store the workflow in the PNG so it can be opened again"),
        Bool("strip_metadata", False, tooltip="write a bare PNG: no workflow and no parameters text"),
        Bool("sidecar_json", False, label="sidecar workflow JSON",
             tooltip="also write the workflow next to each image as NAME.json"),
    ],
    outputs=[],
    summary=["prefix"],
)
def save_image(ctx: NodeContext, images: np.ndarray, folder: str, prefix: str, embed_workflow: bool,
               strip_metadata: bool = False, sidecar_json: bool = False) -> None:
    """Save images as numbered PNGs (never overwriting), carrying the workflow and an A1111-style
    parameters text that other tools read."""
    from PIL import Image

    batch = check_image(images, "images")
    out_root = Path(ctx.services.get("output_dir") or ".")
    target = Path(folder).expanduser() if folder else out_root
    if not target.is_absolute():
        target = out_root / target
    prefix = _safe_prefix(prefix)
    try:
        target.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise NodeFailure(f"cannot create output folder {target}: {exc.strerror or exc}") from None
    workflow = ctx.workflow_text if (embed_workflow or sidecar_json) else ""
    params = "" if strip_metadata or not ctx.snapshot else parameters_text(ctx.snapshot, ctx.node_id)
    for i, frame in enumerate(batch):
        ctx.check_cancel()
        buf = io.BytesIO()
        Image.fromarray(to_uint8(frame)).save(buf, format="PNG", compress_level=4)
        data = buf.getvalue()
        if not strip_metadata and (embed_workflow or params):
            data = embed_workflow_bytes(data, workflow if embed_workflow else None, params or None)
        path, f = _exclusive_file(target, prefix)
        with f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        if sidecar_json and workflow:
            path.with_suffix(".json").write_text(workflow, encoding="utf-8")
        ctx.add_output_file(path)
        ctx.progress((i + 1) / len(batch), path.name)
    ctx.preview(thumbnail(batch))



@node(
    "image.preview", title="Preview Image", category="Image",
    inputs=[Wire("images", "IMAGE")],
    outputs=[],
)
def preview_image(ctx: NodeContext, images: np.ndarray) -> None:
    """Show the image in the preview pane without saving it."""
    ctx.preview(thumbnail(check_image(images, "images"), 512))


_INTERPOLATION = {"nearest": 0, "bilinear": 1, "bicubic": 2, "area": 3, "lanczos": 4}  # cv2.INTER_* values


@node(
    "image.scale", title="Scale Image", category="Image",
    inputs=[
        Wire("image", "IMAGE"),
        Choice("mode", ["size", "factor"], "size"),
        Int("width", 512, min=0, max=16384, step=8, tooltip="0 keeps the aspect ratio from the height"),
        Int("height", 512, min=0, max=16384, step=8, tooltip="0 keeps the aspect ratio from the width"),
        Float("factor", 1.0, min=0.01, max=16.0, step=0.05),
        Choice("method", list(_INTERPOLATION), "lanczos"),
        Bool("multiple_of_8", False, label="round to multiple of 8"),
    ],
    outputs=[Out("image", "IMAGE")],
    summary=["mode", "width", "height"],
)
def scale_image(ctx: NodeContext, image: np.ndarray, mode: str, width: int, height: int, factor: float,
                method: str, multiple_of_8: bool) -> np.ndarray:
    """Resize to a size (0 on one side keeps the aspect ratio) or by a factor."""
    import cv2

    batch = check_image(image)
    h, w = batch.shape[1:3]
    if mode == "factor":
        tw, th = w * factor, h * factor
    else:
        if width == 0 and height == 0:
            raise NodeFailure("width and height cannot both be 0")
        tw = width or w * height / h
        th = height or h * width / w
    tw, th = max(1, round(tw)), max(1, round(th))
    if multiple_of_8:
        tw, th = max(8, round(tw / 8) * 8), max(8, round(th / 8) * 8)
    if tw * th > 16384 * 16384:
        raise NodeFailure(f"{tw}×{th} is too large")
    interp = _INTERPOLATION[method]
    return np.stack([cv2.resize(f, (tw, th), interpolation=interp) for f in batch]).clip(0, 1).astype(np.float32)
