"""Loading, saving, previewing and scaling images."""

from __future__ import annotations

import io
import os
import warnings
from collections.abc import Callable, Mapping
from functools import lru_cache
from pathlib import Path, PurePath
from typing import Any, TypeVar

import numpy as np

from studio.core.atomic import atomic_write_bytes, atomic_write_text
from studio.core.context import NodeContext, NodeFailure, resolve_file
from studio.core.imaging import check_image, thumbnail, to_uint8
from studio.core.nodetype import Bool, Choice, File, Float, Int, Out, String, Wire, node
from studio.core.parameters_text import parameters_text
from studio.core.pngmeta import PngTextTooLarge, metadata_texts, png_info

_T = TypeVar("_T")

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff")


def _file_stamp(name: str, services: Any, what: str) -> list[Any]:
    path = resolve_file(name, services.search_dirs, what)
    st = path.stat()
    return [str(path), st.st_size, st.st_mtime_ns]


def _image_fingerprint(params: Mapping[str, Any], services: Any) -> Any:
    # The result depends on the files' bytes, not just their names: re-run when one changes on disk.
    stamp = _file_stamp(params.get("image", ""), services, "image")
    mask = params.get("mask") or ""
    return [*stamp, _file_stamp(mask, services, "mask")] if mask else stamp


# The most pixels a loaded image may have: 8192 x 8192. Decoded as float32 RGB plus a mask, that is
# about 1 GB; a small compressed file can otherwise claim many gigabytes.
MAX_IMAGE_PIXELS = 8192 * 8192


def _check_pixel_budget(path: Path, size: tuple[int, int]) -> None:
    w, h = size
    if w * h > MAX_IMAGE_PIXELS:
        raise NodeFailure(f"image {path} is {w}×{h} pixels ({w * h / 1e6:.0f} megapixels); "
                          f"images of at most {MAX_IMAGE_PIXELS / 1e6:.0f} megapixels can be loaded")


_GRAY_MODES = ("1", "L", "LA", "I;16", "I;16B", "I;16L", "I")
# Rec. 601 luma: what PIL's convert("L") weighs colours by.
_LUMA = np.array([0.299, 0.587, 0.114], np.float32)


def _decode(path: Path, what: str, convert: Callable[[Any], _T]) -> _T:
    """Open an image file, check its size from the header, turn it upright by its EXIF orientation and
    hand it to ``convert``; every way a file can be unreadable becomes a ``NodeFailure``."""
    from PIL import Image, ImageOps, UnidentifiedImageError

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # the budget below decides
            src = Image.open(path)
        with src:
            _check_pixel_budget(path, src.size)  # from the header, before any pixel is decoded
            return convert(ImageOps.exif_transpose(src))
    except (UnidentifiedImageError, Image.DecompressionBombError, OSError, SyntaxError, ValueError) as exc:
        raise NodeFailure(f"cannot read {what} {path}: {exc}") from None


@lru_cache(maxsize=256)
def _header_problem(path: str, size: int, mtime_ns: int, what: str) -> str | None:
    """What loading would refuse, read from the file's header only: not an image, or too many pixels."""
    from PIL import Image, UnidentifiedImageError

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            src = Image.open(path)
        with src:
            _check_pixel_budget(Path(path), src.size)
    except NodeFailure as exc:
        return str(exc)
    except (UnidentifiedImageError, Image.DecompressionBombError, OSError, SyntaxError, ValueError) as exc:
        return f"cannot read {what} {Path(path)}: {exc}"
    return None


def _image_check(params: Mapping[str, Any], services: Any) -> list[tuple[str | None, str]]:
    # A file that is there but is no image is a problem before running; a missing one is left to the
    # run's pre-flight (studio.app.preflight), which says where it looked.
    found: list[tuple[str | None, str]] = []
    for what in ("image", "mask"):
        value = params.get(what)
        if not isinstance(value, str) or not value:
            continue
        try:
            path = resolve_file(value, services.search_dirs, what)
            st = path.stat()
        except (NodeFailure, OSError):
            continue
        problem = _header_problem(str(path), st.st_size, st.st_mtime_ns, what)
        if problem:
            found.append((what, problem))
    return found


def _has_alpha(im: Any) -> bool:
    return im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info)


def _rgb_and_alpha(im: Any) -> tuple[np.ndarray, np.ndarray | None]:
    """RGB float32 (H, W, 3) and alpha (H, W) or None, both in [0, 1]."""
    if im.mode in ("I;16", "I;16B", "I;16L", "I"):
        gray = np.asarray(im, dtype=np.float32) / 65535.0
        return np.repeat(np.clip(gray, 0, 1)[..., None], 3, axis=-1), None
    has_alpha = _has_alpha(im)
    rgba = np.asarray(im.convert("RGBA") if has_alpha else im.convert("RGB"))
    rgb = rgba[..., :3].astype(np.float32) / 255.0
    return rgb, (rgba[..., 3].astype(np.float32) / 255.0 if has_alpha else None)


def read_image(path: str | os.PathLike[str]) -> tuple[np.ndarray, np.ndarray | None]:
    """An image file's RGB (H, W, 3) and alpha (H, W) or None, float32 in [0, 1], upright."""
    return _decode(Path(path), "image", _rgb_and_alpha)


def _mask_of(im: Any) -> np.ndarray:
    """1 where the picture marks the area to repaint: its transparent parts when it has an alpha channel
    that is not fully opaque (as the image's own mask), else its brightness (white = repaint)."""
    rgb, alpha = _rgb_and_alpha(im)
    if alpha is not None and alpha.min() < 1.0:
        return 1.0 - alpha
    if im.mode in _GRAY_MODES:
        return rgb[..., 0]  # exact grey levels: a saved mask reads back unchanged
    return np.clip(rgb @ _LUMA, 0.0, 1.0)


def load_mask(path: str | os.PathLike[str], size: tuple[int, int], *,
              note: Callable[[str], None] | None = None) -> np.ndarray:
    """A mask (H, W) float32 in [0, 1] read from any image file (see ``_mask_of``), stretched to
    ``size`` = (width, height) when it has another size; ``note`` is told when that happens."""
    import cv2

    path = Path(path)
    mask = _decode(path, "mask", _mask_of).astype(np.float32)
    width, height = size
    if mask.shape != (height, width):
        if note is not None:
            note(f"mask {path.name} is {mask.shape[1]}×{mask.shape[0]}; stretched to the image's {width}×{height}")
        mask = np.asarray(cv2.resize(mask, (width, height), interpolation=cv2.INTER_LINEAR), np.float32)
    return np.ascontiguousarray(np.clip(mask, 0.0, 1.0), dtype=np.float32)


def mask_png(mask: np.ndarray) -> bytes:
    """A mask as a single-channel 8-bit PNG: 0 keeps, 255 repaints, soft edges in between."""
    from PIL import Image

    m = np.asarray(mask, dtype=np.float32)
    if m.ndim == 3 and m.shape[0] == 1:
        m = m[0]
    if m.ndim != 2 or 0 in m.shape:
        raise ValueError(f"expected a mask of shape (H, W), got {m.shape}")
    buf = io.BytesIO()
    Image.fromarray(to_uint8(m)).save(buf, format="PNG", compress_level=4)  # 2-D uint8: mode L
    return buf.getvalue()


def save_mask(mask: np.ndarray, path: str | os.PathLike[str], *, exclusive: bool = False) -> Path:
    """Write ``mask`` (H, W) in [0, 1] to ``path`` as a grey PNG, atomically (a reader never sees half a
    file). ``exclusive``: raise ``FileExistsError`` rather than replace an existing file."""
    return atomic_write_bytes(path, mask_png(mask), exclusive=exclusive)


@node(
    "image.load", title="Load Image", category="Image", version="1.1.0",
    inputs=[File("image", "", file_kind="image", tooltip="PNG, JPEG or WebP; relative names are looked up "
                                                          "next to the workflow, then in the input folder"),
            File("mask", "", file_kind="image", optional=True,
                 tooltip="a mask picture (white = repaint; or the transparent parts of a picture with "
                         "alpha), looked up like the image; empty: the image's own transparent parts")],
    outputs=[Out("image", "IMAGE"), Out("mask", "MASK")],
    fingerprint=_image_fingerprint,
    check=_image_check,
    aliases=("LoadImage",),
)
def load_image(ctx: NodeContext, image: str, mask: str = "") -> tuple[np.ndarray, np.ndarray]:
    """Load an image file, turned upright by its EXIF orientation. The mask comes from the mask file
    when one is chosen (stretched to the image if its size differs), else from the image's
    transparent areas (1 where the image is transparent)."""
    rgb, alpha = read_image(ctx.resolve_file(image, "image"))
    h, w = rgb.shape[:2]
    if mask:
        m = load_mask(ctx.resolve_file(mask, "mask"), (w, h), note=ctx.warn)
    else:
        m = (1.0 - alpha) if alpha is not None else np.zeros((h, w), np.float32)
    return rgb[None].astype(np.float32), m[None].astype(np.float32)


# Longest prefix in bytes: "_NNNNNN.json" must still fit a 255-byte file name.
MAX_PREFIX_BYTES = 240


def _has_control(text: str) -> bool:
    """Tabs, newlines, escapes (a name printed to a terminal must not command it)."""
    return any(ord(c) < 32 or 127 <= ord(c) < 160 for c in text)


def _safe_prefix(prefix: str) -> str:
    name = prefix.strip() or "latent-studio"
    if any(c in name for c in '/\\:*?"<>|\0') or name in (".", ".."):
        raise NodeFailure(f"file name prefix {prefix!r} may not contain / \\ : * ? \" < > |")
    if _has_control(name):
        raise NodeFailure(f"file name prefix {prefix!r} may not contain control characters")
    try:
        size = len(name.encode("utf-8"))
    except UnicodeEncodeError:
        raise NodeFailure(f"file name prefix {prefix!r} holds characters no file name can have") from None
    if size > MAX_PREFIX_BYTES:
        raise NodeFailure(f"file name prefix is {size} bytes long; at most {MAX_PREFIX_BYTES} fit in a file name")
    return name


def _save_folder(out_root: Path, folder: str) -> Path:
    """``folder`` inside the output folder. The value comes from a workflow file that may be a
    stranger's, so it may only name a subfolder: no absolute path, no ``..``, no ``~``."""
    if not folder.strip():
        return out_root
    rel = PurePath(folder)
    try:
        folder.encode("utf-8")
    except UnicodeEncodeError:
        raise NodeFailure(f"folder {folder!r} holds characters no folder name can have") from None
    if _has_control(folder):
        raise NodeFailure(f"folder {folder!r} may not contain control characters")
    if "\0" in folder or rel.is_absolute() or rel.drive or rel.root or ".." in rel.parts \
            or (rel.parts and rel.parts[0].startswith("~")):
        raise NodeFailure(f"folder {folder!r} must be a subfolder of the output folder {out_root} "
                          "(no absolute path, '..' or '~'); choose another output folder in Preferences "
                          "or with --output-dir")
    return out_root / rel


def _save_problems(params: Mapping[str, Any], out_root: Path | None) -> list[tuple[str | None, str]]:
    """What ``image.save`` would refuse, found without running (for ``validate``)."""
    found: list[tuple[str | None, str]] = []
    for name, check in (("prefix", lambda: _safe_prefix(str(params.get("prefix") or ""))),
                        ("folder", lambda: _save_folder(out_root or Path("output"), str(params.get("folder") or "")))):
        try:
            check()
        except NodeFailure as exc:
            found.append((name, str(exc)))
    return found


def _next_number(folder: Path, prefix: str, suffix: str = ".png") -> int:
    """One past the highest ``prefix_NNNNN`` number of the ``suffix`` files in ``folder``."""
    start = len(prefix) + 1
    numbers = [n[start:-len(suffix)] for n in os.listdir(folder) if n.startswith(prefix + "_") and n.endswith(suffix)]
    return max((int(n) for n in numbers if n.isdigit()), default=0) + 1


def _write_new(folder: Path, prefix: str, n: int, png: bytes, sidecar: str | None) -> tuple[Path, int]:
    """Write ``prefix_NNNNN.png`` (and its ``.json``) under the first number from ``n`` whose names
    are both free. Each file is written in full under a temporary name and only then gets its name,
    without ever replacing a file: a file someone else created meanwhile pushes the number on."""
    while True:
        path = folder / f"{prefix}_{n:05d}.png"
        side = path.with_suffix(".json")
        if path.exists() or path.is_symlink() or side.exists() or side.is_symlink():
            n += 1
            continue
        try:
            if sidecar is not None:  # the sidecar first: whoever sees the PNG finds its JSON
                atomic_write_text(side, sidecar, exclusive=True)
            try:
                atomic_write_bytes(path, png, exclusive=True)
            except FileExistsError:
                if sidecar is not None:
                    side.unlink(missing_ok=True)
                raise
        except FileExistsError:
            n += 1
            continue
        return path, n + 1


@node(
    "image.save", title="Save Image", category="Image", side_effect=True, version="1.1.0",
    inputs=[
        Wire("images", "IMAGE"),
        String("folder", "", tooltip="empty: the output folder from Preferences; otherwise a subfolder of it"),
        String("prefix", "latent-studio", label="file name prefix"),
        Bool("embed_workflow", True, tooltip="store the workflow in the PNG so it can be opened again"),
        Bool("strip_metadata", False, tooltip="write a bare PNG: no workflow and no parameters text"),
        Bool("sidecar_json", False, label="sidecar workflow JSON",
             tooltip="also write the workflow next to each image as NAME.json"),
    ],
    outputs=[],
    summary=["prefix"],
    check=lambda params, services: _save_problems(params, services.output_dir),
    aliases=("SaveImage",),
)
def save_image(ctx: NodeContext, images: np.ndarray, folder: str, prefix: str, embed_workflow: bool,
               strip_metadata: bool = False, sidecar_json: bool = False) -> None:
    """Save images as numbered PNGs (never overwriting), carrying the workflow and an A1111-style
    parameters text that other tools read."""
    from PIL import Image

    batch = check_image(images, "images")
    target = _save_folder(ctx.output_dir, folder)
    prefix = _safe_prefix(prefix)
    try:
        target.mkdir(parents=True, exist_ok=True)
        n = _next_number(target, prefix)
    except OSError as exc:
        raise NodeFailure(f"cannot create output folder {target}: {exc.strerror or exc}") from None
    workflow = ctx.workflow_text if (embed_workflow or sidecar_json) else ""
    params = "" if strip_metadata or not ctx.snapshot else parameters_text(ctx.snapshot, ctx.node_id)
    texts = [] if strip_metadata else metadata_texts(workflow if embed_workflow else None, params or None)
    try:
        info = png_info(texts)
    except PngTextTooLarge:
        # A workflow too large for a PNG to carry (and be opened again): the picture still saves.
        ctx.warn("the workflow is too large to embed in the PNG; saved the image without it")
        info = png_info(metadata_texts(None, params or None) if not strip_metadata else [])
    for i, frame in enumerate(batch):
        ctx.check_cancel()
        buf = io.BytesIO()
        Image.fromarray(to_uint8(frame)).save(buf, format="PNG", compress_level=4, pnginfo=info)
        data = buf.getvalue()
        try:
            path, n = _write_new(target, prefix, n, data, workflow if sidecar_json and workflow else None)
        except OSError as exc:
            raise NodeFailure(f"cannot write into {target}: {exc.strerror or exc}") from None
        ctx.add_output_file(path)
        ctx.progress((i + 1) / len(batch), path.name)
    ctx.preview(thumbnail(batch))


@node(
    "image.preview", title="Preview Image", category="Image",
    inputs=[Wire("images", "IMAGE")],
    outputs=[],
    aliases=("PreviewImage",),
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
    aliases=("ImageScale", "ImageScaleBy"),
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
