"""Draw the application icon (a small node graph) into ``resources/icons/``.

Writes ``latent-studio-<N>.png`` for every size the platforms ask for, ``latent-studio.ico``
(Windows) and ``latent-studio.icns`` (macOS). Run again after changing the drawing:

    .venv/bin/python scripts/make_icons.py [--out resources/icons]
"""

from __future__ import annotations

import argparse
from pathlib import Path

from PIL import Image, ImageDraw

ROOT = Path(__file__).resolve().parents[1]
PNG_SIZES = (16, 24, 32, 48, 64, 128, 256, 512, 1024)
ICO_SIZES = (16, 24, 32, 48, 64, 128, 256)
ICNS_SIZES = (16, 32, 64, 128, 256, 512, 1024)
NAME = "latent-studio"

BACKGROUND = (30, 34, 42)
BORDER = (62, 70, 86)
NODE = (52, 60, 76)
# Port colours of the canvas: image (blue), conditioning (orange), latent (pink).
WIRES = ((100, 181, 246), (255, 183, 77), (240, 98, 146))


def _bezier(p0: tuple[float, float], p1: tuple[float, float], steps: int = 48) -> list[tuple[float, float]]:
    """A wire as the canvas draws it: horizontal tangents at both ends."""
    (x0, y0), (x1, y1) = p0, p1
    dx = max(abs(x1 - x0) * 0.5, 1.0)
    c0, c1 = (x0 + dx, y0), (x1 - dx, y1)
    pts = []
    for i in range(steps + 1):
        t = i / steps
        u = 1 - t
        x = u**3 * x0 + 3 * u * u * t * c0[0] + 3 * u * t * t * c1[0] + t**3 * x1
        y = u**3 * y0 + 3 * u * u * t * c0[1] + 3 * u * t * t * c1[1] + t**3 * y1
        pts.append((x, y))
    return pts


def _draw(side: int, simple: bool) -> Image.Image:
    """The icon on a ``side`` x ``side`` canvas (drawn large, scaled down by the caller).
    ``simple`` drops detail that turns to mush at 16-32 px: two nodes, one thick wire."""
    img = Image.new("RGBA", (side, side), (0, 0, 0, 0))
    d = ImageDraw.Draw(img)
    s = side / 100.0  # drawing units: 100 per side
    d.rounded_rectangle((4 * s, 4 * s, 96 * s, 96 * s), radius=20 * s, fill=BACKGROUND,
                        outline=BORDER, width=max(1, round(2 * s)))

    def node(x: float, y: float, w: float, h: float, header: tuple[int, int, int]) -> None:
        d.rounded_rectangle((x * s, y * s, (x + w) * s, (y + h) * s), radius=5 * s, fill=NODE)
        d.rounded_rectangle((x * s, y * s, (x + w) * s, (y + 8) * s), radius=5 * s, fill=header)
        d.rectangle((x * s, (y + 4) * s, (x + w) * s, (y + 8) * s), fill=header)

    def wire(a: tuple[float, float], b: tuple[float, float], colour: tuple[int, int, int], width: float) -> None:
        pts = [(x * s, y * s) for x, y in _bezier(a, b)]
        d.line(pts, fill=colour, width=max(1, round(width * s)), joint="curve")
        r = width * 0.9 * s
        for x, y in (pts[0], pts[-1]):
            d.ellipse((x - r, y - r, x + r, y + r), fill=colour)

    if simple:
        node(12, 18, 30, 30, WIRES[0])
        node(58, 52, 30, 30, WIRES[2])
        wire((42, 36), (58, 70), WIRES[1], 7)
        return img
    node(12, 14, 28, 24, WIRES[0])
    node(12, 60, 28, 24, WIRES[1])
    node(60, 34, 28, 34, WIRES[2])
    wire((40, 28), (60, 46), WIRES[0], 3.5)
    wire((40, 74), (60, 58), WIRES[1], 3.5)
    return img


def render(size: int) -> Image.Image:
    """The icon at ``size`` pixels (drawn at 4x and downsampled for smooth edges)."""
    big = _draw(size * 4, simple=size <= 32)
    return big.resize((size, size), Image.Resampling.LANCZOS)


def write_icons(out: Path) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    images = {n: render(n) for n in PNG_SIZES}
    written = []
    for n, im in images.items():
        path = out / f"{NAME}-{n}.png"
        im.save(path, optimize=True)
        written.append(path)
    ico = out / f"{NAME}.ico"
    images[256].save(ico, sizes=[(n, n) for n in ICO_SIZES],
                     append_images=[images[n] for n in ICO_SIZES if n != 256])
    icns = out / f"{NAME}.icns"
    images[1024].save(icns, append_images=[images[n] for n in ICNS_SIZES if n != 1024])
    return [*written, ico, icns]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "resources" / "icons")
    args = parser.parse_args()
    for path in write_icons(args.out):
        print(path)


if __name__ == "__main__":
    main()
