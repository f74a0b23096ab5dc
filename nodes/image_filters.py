"""Image filters and batches: Gaussian blur and sharpening, colour quantizing, morphology, joining
and splitting image batches."""

from __future__ import annotations

import numpy as np

from studio.core.context import NodeContext, NodeFailure
from studio.core.imaging import check_image
from studio.core.nodetype import Choice, Float, Int, Out, Wire, node


def _image(value: object, what: str = "image") -> np.ndarray:
    try:
        return check_image(value, what)
    except (TypeError, ValueError) as exc:
        raise NodeFailure(str(exc)) from None


def kernel_1d(radius: int, sigma: float) -> np.ndarray:
    """The 1-D factor of the blur kernel: 2·radius + 1 taps at positions spread evenly over [-1, 1]
    (so sigma is relative to the radius, not in pixels), Gaussian weights summing to 1."""
    t = np.linspace(-1.0, 1.0, 2 * radius + 1, dtype=np.float64)
    g = np.exp(-(t * t) / (2.0 * sigma * sigma))
    return g / g.sum()


def gaussian_blur(images: np.ndarray, radius: int, sigma: float) -> np.ndarray:
    """(B, H, W, C) blurred with ``kernel_1d`` along both axes, the edges mirrored (without repeating
    the edge pixel)."""
    import cv2

    if radius <= 0:
        return images
    k = kernel_1d(radius, sigma)
    if min(images.shape[1:3]) > radius:
        # OpenCV's separable filter with the same mirrored border, in double precision.
        return np.stack([cv2.sepFilter2D(frame.astype(np.float64), cv2.CV_64F, k, k,
                                         borderType=cv2.BORDER_REFLECT_101).reshape(frame.shape)
                         for frame in images]).astype(np.float32)
    padded = np.pad(images.astype(np.float64), ((0, 0), (radius, radius), (radius, radius), (0, 0)),
                    mode="reflect")
    h, w = images.shape[1:3]
    rows = sum(k[i] * padded[:, i:i + h] for i in range(len(k)))
    out = sum(k[i] * rows[:, :, i:i + w] for i in range(len(k)))
    return np.asarray(out, np.float32)


@node(
    "image.blur", title="Blur Image", category="Image",
    inputs=[Wire("image", "IMAGE"),
            Int("blur_radius", 1, min=1, max=31, label="radius", tooltip="the kernel reaches this many pixels"),
            Float("sigma", 1.0, min=0.1, max=10.0, step=0.1,
                  tooltip="the Gaussian's width relative to the radius: 1 = the radius")],
    outputs=[Out("image", "IMAGE")],
    summary=["blur_radius", "sigma"],
    aliases=("ImageBlur",),
)
def blur(ctx: NodeContext, image: np.ndarray, blur_radius: int, sigma: float) -> np.ndarray:
    """Gaussian blur over (2·radius + 1)² pixels; the image is mirrored at its borders."""
    return gaussian_blur(_image(image), int(blur_radius), float(sigma))


@node(
    "image.sharpen", title="Sharpen Image", category="Image",
    inputs=[Wire("image", "IMAGE"),
            Int("sharpen_radius", 1, min=1, max=31, label="radius"),
            Float("sigma", 1.0, min=0.1, max=10.0, step=0.1, tooltip="the blur's width relative to the radius"),
            Float("alpha", 1.0, min=0.0, max=5.0, step=0.01, tooltip="strength: 1 adds ten times the detail")],
    outputs=[Out("image", "IMAGE")],
    summary=["sharpen_radius", "alpha"],
    aliases=("ImageSharpen",),
)
def sharpen(ctx: NodeContext, image: np.ndarray, sharpen_radius: int, sigma: float, alpha: float) -> np.ndarray:
    """Unsharp mask: the image plus 10·alpha times its difference from a Gaussian blur (as Blur Image
    makes it), clipped to [0, 1]."""
    img = _image(image)
    soft = gaussian_blur(img, int(sharpen_radius), float(sigma))
    out = img.astype(np.float64) + 10.0 * float(alpha) * (img.astype(np.float64) - soft)
    return np.clip(out, 0.0, 1.0).astype(np.float32)


DITHERS = ("none", "floyd-steinberg")


@node(
    "image.quantize", title="Quantize Image", category="Image",
    inputs=[Wire("image", "IMAGE"), Int("colors", 256, min=1, max=256),
            Choice("dither", DITHERS, "floyd-steinberg")],
    outputs=[Out("image", "IMAGE")],
    summary=["colors", "dither"],
    aliases=("ImageQuantize",),
)
def quantize(ctx: NodeContext, image: np.ndarray, colors: int, dither: str) -> np.ndarray:
    """Reduce each picture to a palette of at most this many colours (Pillow's median-cut palette), each
    pixel taking its nearest palette colour or, with Floyd–Steinberg, dithered. Values are truncated to
    8 bits first."""
    from PIL import Image

    img = _image(image)
    if img.shape[-1] != 3:
        raise NodeFailure(f"quantizing needs RGB images, not {img.shape[-1]} channels")
    mode = Image.Dither.FLOYDSTEINBERG if dither == "floyd-steinberg" else Image.Dither.NONE
    frames = []
    for frame in img:
        ctx.check_cancel()
        pil = Image.fromarray((np.clip(frame, 0.0, 1.0) * 255).astype(np.uint8), mode="RGB")
        # Pillow dithers only when mapping onto a given palette: find the palette first, then map.
        palette = pil.quantize(colors=int(colors))
        frames.append(np.asarray(pil.quantize(palette=palette, dither=mode).convert("RGB"), np.float32) / 255.0)
    return np.stack(frames).astype(np.float32)


MORPHOLOGY = ("erode", "dilate", "open", "close", "gradient", "bottom_hat", "top_hat")


def morphology_op(images: np.ndarray, operation: str, size: int) -> np.ndarray:
    """(B, H, W, C) under a square ``size``² structuring element; pixels outside the image are ignored."""
    import cv2

    ops = {"erode": cv2.MORPH_ERODE, "dilate": cv2.MORPH_DILATE, "open": cv2.MORPH_OPEN, "close": cv2.MORPH_CLOSE,
           "gradient": cv2.MORPH_GRADIENT, "top_hat": cv2.MORPH_TOPHAT, "bottom_hat": cv2.MORPH_BLACKHAT}
    if operation not in ops:
        raise NodeFailure(f"unknown operation {operation!r}")
    kernel = np.ones((size, size), np.uint8)
    out = []
    for frame in images:
        planes = [cv2.morphologyEx(np.ascontiguousarray(frame[..., c]), ops[operation], kernel)
                  for c in range(frame.shape[-1])]
        out.append(np.stack(planes, axis=-1))
    return np.stack(out).astype(np.float32)


@node(
    "image.morphology", title="Image Morphology", category="Image",
    inputs=[Wire("image", "IMAGE"), Choice("operation", MORPHOLOGY, "erode"),
            Int("kernel_size", 3, min=3, max=999, label="kernel size")],
    outputs=[Out("image", "IMAGE")],
    summary=["operation", "kernel_size"],
    aliases=("Morphology",),
)
def morphology(ctx: NodeContext, image: np.ndarray, operation: str, kernel_size: int) -> np.ndarray:
    """Shrink (erode) or grow (dilate) bright areas with a square kernel, or combine both: open removes
    small bright specks, close fills small dark holes, gradient shows outlines, top hat keeps what open
    removes, bottom hat what close fills."""
    img = _image(image)
    if kernel_size > max(img.shape[1:3]) * 2 + 1:
        ctx.warn(f"a kernel of {kernel_size} is larger than the image")
    return morphology_op(img, operation, int(kernel_size))


def resize_bilinear(images: np.ndarray, height: int, width: int) -> np.ndarray:
    """(B, H, W, C) stretched to (height, width), bilinear without antialiasing (pixel centres aligned)."""
    import torch

    if images.shape[1:3] == (height, width):
        return images
    t = torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2)
    out = torch.nn.functional.interpolate(t, size=(height, width), mode="bilinear")
    return out.permute(0, 2, 3, 1).numpy().astype(np.float32)


def fit_center(images: np.ndarray, height: int, width: int) -> np.ndarray:
    """The middle of ``images`` with the target's aspect ratio, stretched (bilinear) to its size."""
    h, w = images.shape[1:3]
    if (h, w) == (height, width):
        return images
    old, new = w / h, width / height
    x = round((w - w * new / old) / 2) if old > new else 0
    y = round((h - h * old / new) / 2) if old < new else 0
    return resize_bilinear(images[:, y:h - y, x:w - x], height, width)


@node(
    "image.batch", title="Batch Images", category="Image",
    inputs=[Wire("image1", "IMAGE", label="image 1"),
            Wire("image2", "IMAGE", label="image 2",
                 tooltip="centre-cropped to image 1's shape and resized to its size if they differ")],
    outputs=[Out("image", "IMAGE")],
    aliases=("ImageBatch",),
)
def batch(ctx: NodeContext, image1: np.ndarray, image2: np.ndarray) -> np.ndarray:
    """One batch: the pictures of image 1, then those of image 2 fitted to image 1's size."""
    a, b = _image(image1, "image1"), _image(image2, "image2")
    if a.shape[-1] != b.shape[-1]:
        raise NodeFailure(f"image 1 has {a.shape[-1]} channels, image 2 {b.shape[-1]}")
    if a.shape[1:3] != b.shape[1:3]:
        ctx.warn(f"image 2 ({b.shape[2]}×{b.shape[1]}) is fitted to image 1's {a.shape[2]}×{a.shape[1]}")
    return np.concatenate([a, fit_center(b, a.shape[1], a.shape[2])]).astype(np.float32)


@node(
    "image.from_batch", title="Image from Batch", category="Image",
    inputs=[Wire("image", "IMAGE"),
            Int("batch_index", 0, min=0, max=4095, label="index", tooltip="the first picture to take (0 is the first)"),
            Int("length", 1, min=1, max=4096, tooltip="how many pictures to take")],
    outputs=[Out("image", "IMAGE")],
    summary=["batch_index", "length"],
    aliases=("ImageFromBatch",),
)
def from_batch(ctx: NodeContext, image: np.ndarray, batch_index: int, length: int) -> np.ndarray:
    """Take some pictures out of a batch. An index past the end takes the last one; the length stops at
    the end of the batch."""
    img = _image(image)
    start = min(batch_index, len(img) - 1)
    count = min(length, len(img) - start)
    if (start, count) != (batch_index, length):
        ctx.warn(f"the batch holds {len(img)}; taking {count} from index {start}")
    return img[start:start + count].copy()


@node(
    "image.match_size", title="Resize Image to Match", category="Image",
    inputs=[Wire("image", "IMAGE"), Wire("reference", "IMAGE", tooltip="only its size is used")],
    outputs=[Out("image", "IMAGE")],
)
def match_size(ctx: NodeContext, image: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Stretch the image to the reference's width and height (bilinear), whatever its aspect ratio."""
    img, ref = _image(image), _image(reference, "reference")
    return resize_bilinear(img, ref.shape[1], ref.shape[2])
