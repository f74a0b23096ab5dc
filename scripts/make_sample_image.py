"""Draw resources/images/sample.png: a small scene with clear edges, made entirely by code."""

from __future__ import annotations

import math
import sys
from pathlib import Path

from PIL import Image, ImageDraw, ImageFilter


def draw(size: int = 512) -> Image.Image:
    img = Image.new("RGB", (size, size))
    d = ImageDraw.Draw(img)
    for y in range(size):  # sky gradient
        t = y / size
        d.line([(0, y), (size, y)], fill=(int(90 + 100 * t), int(150 + 70 * t), int(230 - 30 * t)))
    d.ellipse([380, 50, 460, 130], fill=(255, 220, 90))  # sun
    d.polygon([(0, 330), (120, 220), (230, 310), (340, 200), (512, 330), (512, 512), (0, 512)],
              fill=(90, 120, 100))  # hills
    d.rectangle([0, 380, size, size], fill=(70, 150, 70))  # meadow
    d.rectangle([150, 280, 330, 420], fill=(200, 80, 60), outline=(60, 30, 20), width=3)  # house
    d.polygon([(130, 285), (240, 195), (350, 285)], fill=(110, 60, 50), outline=(50, 25, 20))  # roof
    d.rectangle([220, 345, 260, 420], fill=(90, 50, 30))  # door
    for x in (170, 280):
        d.rectangle([x, 300, x + 32, 332], fill=(230, 240, 255), outline=(40, 40, 40), width=2)
    for cx in (60, 420, 470):  # trees
        d.rectangle([cx - 6, 360, cx + 6, 410], fill=(90, 60, 30))
        d.ellipse([cx - 35, 290, cx + 35, 370], fill=(40, 110, 50))
    for i in range(12):  # a path of stones
        a = i / 11
        x, y = 240 + math.sin(a * 3) * 30, 425 + a * 80
        d.ellipse([x - 8 - a * 6, y - 4, x + 8 + a * 6, y + 4], fill=(170, 170, 160))
    return img.filter(ImageFilter.SMOOTH)


if __name__ == "__main__":
    out = Path(sys.argv[1] if len(sys.argv) > 1 else Path(__file__).parents[1] / "resources/images/sample.png")
    draw().save(out, optimize=True)
    print(out)
